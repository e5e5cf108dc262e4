"""Throughput and latency through mitmdump, with and without the auditor's addon, on loopback.

    .venv/bin/python benchmarks/bench_proxy.py [--requests 2000] [--concurrency 8] [--time-cap 60]
        [--rounds 3] [--variants mitmdump addon] [--tls]

Starts a local HTTP server and a real ``mitmdump`` on 127.0.0.1, then sends
the same bounded request mix through it from ``--concurrency`` keep-alive
clients: small analytics-style GETs with a location in the query and JSON
POSTs with an advertising id. Requests go to the local server's address with
a tracker's name in the ``Host`` header, so the auditor classifies them as
that tracker and no name is ever resolved. With ``--tls`` the clients open
HTTPS tunnels (``CONNECT``) trusting the run's mitmproxy CA, and the local
server answers over TLS: the flows then hold certificates, as real ones do.
Prints requests per second, p50/p95 latency, CPU per request of the proxy
and of the addon's worker, how long the worker took to catch up, and the
ratio. Target: the addon costs at most 15% of plain mitmdump's throughput.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "auditor" / "live" / "mitmproxy_script.py"
TARGET_COST = 0.15
"""Issue 3: the addon may cost at most this share of plain mitmdump's throughput."""
HOSTS = ("app-measurement.com", "api.mixpanel.com", "graph.facebook.com", "api.classroom.example")
AD_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, delayed ACKs add 40 ms

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@dataclass
class Result:
    """One measured run."""

    label: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    proxy_cpu: float = 0.0
    """CPU seconds the mitmdump process used during the run (its event loop: what traffic waits for)."""
    worker_cpu: float = 0.0
    """CPU seconds the auditor's analysis worker (mitmdump's child process) used during the run."""
    worker_lag: float | None = None
    """Seconds after the last response until every record was in records.jsonl (``None``: no addon)."""

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    def line(self) -> str:
        """Format the run as one line."""
        return (
            f"{self.label:<22} {self.requests:>6} requests in {self.seconds:6.2f} s = {self.rate:8.1f} req/s   "
            f"p50 {self.percentile(0.5):6.2f} ms   p95 {self.percentile(0.95):6.2f} ms   errors {self.errors}   "
            f"CPU/request: proxy {self.cpu_per_request(self.proxy_cpu):.3f} ms, "
            f"worker {self.cpu_per_request(self.worker_cpu):.3f} ms"
            + (f", worker lag {self.worker_lag:.2f} s" if self.worker_lag is not None else "")
        )

    def cpu_per_request(self, seconds: float) -> float:
        """CPU milliseconds per request."""
        return 1000 * seconds / self.requests if self.requests else 0.0


def free_port() -> int:
    """Find an unused TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request_mix(number: int, host: str, server_port: int) -> tuple[str, str, bytes, dict[str, str]]:
    """Build the ``number``-th request to ``host``: method, absolute URL (the local server), body, headers."""
    origin = f"http://127.0.0.1:{server_port}"
    if number % 2:
        body = json.dumps({"event": "lesson_step", "n": number, "advertising_id": AD_ID, "screen": "fractions"})
        return "POST", f"{origin}/collect", body.encode(), {"Host": host, "Content-Type": "application/json"}
    return "GET", f"{origin}/g?en=page_view&n={number}&lat=52.370216&lon=4.895168", b"", {"Host": host}


def connect(proxy_port: int, server_port: int, tls: ssl.SSLContext | None) -> http.client.HTTPConnection:
    """A keep-alive connection to the proxy: plain HTTP, or an HTTPS tunnel to the local server."""
    if tls is None:
        return http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy_port, timeout=10, context=tls)
    conn.set_tunnel("127.0.0.1", server_port)
    return conn


def tls_server_context(folder: Path) -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 from a throw-away CA (mitmproxy's own certificate code)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from mitmproxy import certs

    store = certs.CertStore.from_store(folder, "bench-server", 2048)
    entry = store.get_cert("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pem = folder / "server.pem"
    key = entry.privatekey.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    pem.write_bytes(entry.cert.to_pem() + key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


def load(
    proxy_port: int, server_port: int, total: int, concurrency: int, time_cap: float, label: str,
    tls: ssl.SSLContext | None = None,
) -> Result:
    """Send ``total`` requests through the proxy from ``concurrency`` keep-alive clients (bounded by time_cap).

    With ``tls`` (a context trusting mitmproxy's CA) each client opens an HTTPS tunnel (``CONNECT``) instead.
    """
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + time_cap

    def worker(host: str) -> None:
        # One host per keep-alive connection, as an SDK does.
        conn = connect(proxy_port, server_port, tls)
        while time.monotonic() < deadline:
            with lock:
                number = next(counter, None)
            if number is None:
                break
            method, url, body, headers = request_mix(number, host, server_port)
            if tls is not None:  # inside the tunnel: origin-form, "/path?query"
                parts = urlsplit(url)
                url = f"{parts.path}?{parts.query}" if parts.query else parts.path
            started = time.perf_counter()
            try:
                conn.request(method, url, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = connect(proxy_port, server_port, tls)
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(HOSTS[i % len(HOSTS)],)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(label, len(latencies), time.perf_counter() - started, latencies, errors[0])


VARIANTS: dict[str, tuple[bool, bool]] = {
    # label: (auditor addon loaded, raw flows saved)
    "mitmdump": (False, False),
    "mitmdump -w": (False, True),
    "addon, no flows.mitm": (True, False),
    "addon": (True, True),
}
"""What is measured: plain mitmdump, mitmdump saving flows (what a mitmproxy user runs to keep a session), and the
addon without and with its raw-flow file."""


def start_mitmdump(temp: Path, label: str, tls: bool = False) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start a real mitmdump on 127.0.0.1 in one of the :data:`VARIANTS`; return it, its port and session folder."""
    with_addon, save_flows = VARIANTS[label]
    port = free_port()
    run = temp / f"run-{time.monotonic_ns()}"
    command = [
        str(Path(sys.executable).parent / "mitmdump"),
        "--listen-host", "127.0.0.1", "--listen-port", str(port),
        "--set", f"confdir={temp / 'conf'}",
        "--set", "flow_detail=0", "--set", "termlog_verbosity=warn",
    ]
    if tls:
        command += ["--set", "ssl_insecure=true"]  # the local server's certificate comes from a throw-away CA
    if with_addon:
        command += ["-s", str(ADDON), "--set", f"auditor_session={run}", "--set", "auditor_report_interval=0",
                    "--set", f"auditor_save_flows={str(save_flows).lower()}"]
    elif save_flows:
        command += ["-w", str(run.with_suffix(".mitm"))]
    process = subprocess.Popen(command, env=proxy_env(temp), stdin=subprocess.DEVNULL)
    wait_until_listening(process, port, 30)
    return process, port, run


def proxy_env(temp: Path) -> dict[str, str]:
    """The environment of a benchmarked mitmdump: no upstream proxy, the auditor's data under ``temp``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.setdefault("CLASSROOM_AUDITOR_DATA", str(temp / "data"))
    env.setdefault("CLASSROOM_AUDITOR_SALT", "benchmark-salt")
    return env


def wait_until_listening(process: subprocess.Popen[bytes], port: int, seconds: float) -> None:
    """Return once mitmdump accepts connections on ``port``; exit the benchmark if it dies or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"mitmdump exited with code {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"mitmdump did not start within {seconds:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop mitmdump as Ctrl-C would (the addon writes its reports), bounded."""
    process.send_signal(2)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's direct children (the analysis worker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return sum(cpu_seconds(int(child)) for child in children)


def wait_for_records(session: Path, expected: int, time_cap: float) -> float:
    """Seconds until ``records.jsonl`` holds ``expected`` lines (the worker caught up), at most ``time_cap``."""
    started = time.monotonic()
    while time.monotonic() - started < time_cap:
        try:
            if (session / "records.jsonl").read_bytes().count(b"\n") >= expected:
                break
        except OSError:
            pass
        time.sleep(0.01)
    return time.monotonic() - started


def measure(temp: Path, server_port: int, label: str, args: argparse.Namespace) -> Result:
    """One run: start mitmdump, warm up, measure (throughput, latency, CPU), stop."""
    process, port, session = start_mitmdump(temp, label, args.tls)
    client_tls = ssl.create_default_context(cafile=temp / "conf" / "mitmproxy-ca-cert.pem") if args.tls else None
    try:
        warm_up = load(port, server_port, min(200, args.requests), args.concurrency, args.time_cap, "warm-up",
                       client_tls)
        proxy_before, worker_before = cpu_seconds(process.pid), children_cpu_seconds(process.pid)
        result = load(port, server_port, args.requests, args.concurrency, args.time_cap, label, client_tls)
        if VARIANTS[label][0]:
            # The worker may still be catching up: wait for every record, so all its CPU time counts.
            result.worker_lag = wait_for_records(session, warm_up.requests + result.requests, args.time_cap)
        else:
            time.sleep(0.5)
        result.proxy_cpu = cpu_seconds(process.pid) - proxy_before
        result.worker_cpu = children_cpu_seconds(process.pid) - worker_before
        return result
    finally:
        stop(process)


def main() -> int:
    """Run every variant ``--rounds`` times, interleaved, and print the best and median of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measured run (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive clients (default 8)")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds a run may take at most (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="LABEL",
                        help="measure only these variants (more rounds in the same time); default all four")
    parser.add_argument("--tls", action="store_true",
                        help="HTTPS through the proxy (CONNECT tunnels, TLS on both sides) instead of plain HTTP")
    args = parser.parse_args()

    results: dict[str, list[Result]] = {label: [] for label in args.variants}
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as temp:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        if args.tls:
            server.socket = tls_server_context(Path(temp)).wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for _ in range(args.rounds):
                for label in args.variants:
                    result = measure(Path(temp), server.server_address[1], label, args)
                    results[label].append(result)
                    print(result.line(), flush=True)
        finally:
            server.shutdown()
            server.server_close()
    print("\nbest of each:")
    best = {label: max(runs, key=lambda r: r.rate) for label, runs in results.items()}
    median = {label: statistics.median(r.rate for r in runs) for label, runs in results.items()}
    for result in best.values():
        print(result.line())
    print()
    for label, baseline in (("addon", "mitmdump"), ("addon, no flows.mitm", "mitmdump"), ("addon", "mitmdump -w")):
        if label not in best or baseline not in best:
            continue
        ratio = best[label].rate / best[baseline].rate
        print(f"{label!r} / {baseline!r}: best {ratio:.3f} (costs {100 * (1 - ratio):.1f}%), "
              f"median {median[label] / median[baseline]:.3f}")
    if "addon" not in results or "mitmdump" not in results:
        return 0
    plain_cpu = statistics.median(r.cpu_per_request(r.proxy_cpu) for r in results["mitmdump"])
    addon_cpu = statistics.median(r.cpu_per_request(r.proxy_cpu) for r in results["addon"])
    worker_cpu = statistics.median(r.cpu_per_request(r.worker_cpu) for r in results["addon"])
    worker_lag = statistics.median(r.worker_lag or 0.0 for r in results["addon"])
    print(f"proxy CPU per request (median): plain {plain_cpu:.3f} ms, with addon {addon_cpu:.3f} ms "
          f"(+{100 * (addon_cpu / plain_cpu - 1):.1f}%); analysis worker {worker_cpu:.3f} ms in its own process, "
          f"caught up {worker_lag:.2f} s after the last response")
    ratio = median["addon"] / median["mitmdump"]
    print(f"{'PASS' if ratio >= 1 - TARGET_COST else 'MISS'}: the addon costs {100 * (1 - ratio):.1f}% of plain "
          f"mitmdump's throughput (median of rounds); target at most {100 * TARGET_COST:.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
