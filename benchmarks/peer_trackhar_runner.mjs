// Run by benchmarks/peer_trackhar.py: prints one JSON line per TrackHAR transmission of each HAR given.
import { readFileSync } from 'fs';
const { process: processHar } = await import(process.argv[2]);
for (const file of process.argv.slice(3)) {
    const har = JSON.parse(readFileSync(file, 'utf-8'));
    const results = await processHar(har);
    results.forEach((transmissions, index) => {
        if (!transmissions) return;
        const url = har.log.entries[index].request.url;
        for (const t of transmissions) console.log(JSON.stringify({ file, index, url, adapter: t.adapter, property: t.property, context: t.context, path: t.path, value: String(t.value) }));
    });
}
