"""The self-contained HTML report: plotly.js embedded, every captured string escaped.

The page makes no network request: plotly.js is inlined once and there are no
external fonts, images or scripts.
"""

from __future__ import annotations

from html import escape
from typing import Any

import plotly.graph_objects as go

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1.5rem;color:#1d2433}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}th,td{border-bottom:1px solid #e4e6eb;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-high{color:#fff;background:#b3261e}.sev-medium{background:#f6c343}.sev-low{background:#cfe2ff}.sev-info{background:#e9ecef}
.badge{display:inline-block;border-radius:.3rem;padding:0 .4rem;font-size:.8rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:.5rem;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.5rem}.verdict{padding:.8rem 1rem;border-radius:.5rem;margin:1rem 0}
.verdict.bad{background:#fde7e6;border:1px solid #b3261e}.verdict.ok{background:#e7f5ec;border:1px solid #2e7d32}
code{word-break:break-all}@media print{.plot{page-break-inside:avoid}}
"""


def plot_label(text: object) -> str:
    """A string safe as a plotly label: plotly reads some HTML-like tags in labels, so angle brackets go."""
    return str(text).replace("<", "‹").replace(">", "›")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def _sankey(report: dict[str, Any]) -> go.Figure:
    nodes: dict[str, int] = {}

    def node(name: str) -> int:
        return nodes.setdefault(name, len(nodes))

    sources: list[int] = []
    targets: list[int] = []
    values: list[float] = []

    def link(a: str, b: str, value: float) -> None:
        sources.append(node(a))
        targets.append(node(b))
        values.append(value)

    device = "Device / app"
    for d in report["destinations"]:
        party = {"first": "First party", "third": "Third parties", "local": "Local network"}.get(d["party"], "Unknown")
        company = d["company"] or f"Unknown ({d['registrable_domain']})"
        weight = max(d["requests"], 1)
        link(device, party, weight)
        link(party, company, weight)
        for data_type in d["data_types"]:
            link(company, f"data: {data_type}", 1)
    labels = [plot_label(name) for name in nodes]
    figure = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12, "thickness": 14},
            link={"source": sources, "target": targets, "value": values},
        )
    )
    figure.update_layout(height=max(400, 18 * len(nodes)), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def render_html(report: dict[str, Any]) -> str:
    """The whole page."""
    summary = report["summary"]
    severe = summary.get("by_severity", {}).get("high", 0)
    verdict_class = "bad" if severe else "ok"
    verdict_text = (
        f"{severe} high-severity finding(s): student data reaches third parties or leaves unprotected."
        if severe
        else "No high-severity finding in this capture (this does not prove that none exists)."
    )
    app = report["app"]
    app_line = ", ".join(app["domains"]) or "not given"
    if app.get("domains_inferred"):
        app_line += " (inferred from the traffic)"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Classroom traffic audit: {_cell(app.get('name') or app_line)}</title><style>{CSS}</style></head><body>",
        "<h1>Classroom traffic audit</h1>",
        f"<p>App: <b>{_cell(app.get('name') or '')}</b> — app domains: {_cell(app_line)}. Generated {_cell(report['generated_at'])}.</p>",
        f"<div class='verdict {verdict_class}' id='verdict'>{escape(verdict_text)}</div>",
        "<div class='cards'>",
    ]
    for label, value in (
        ("Destinations", summary["destinations"]),
        ("Third parties", summary["third_parties"]),
        ("Trackers", summary["trackers"]),
        ("Findings", summary["findings"]),
    ):
        parts.append(f"<div class='card'><b>{int(value)}</b>{escape(label)}</div>")
    parts.append("</div>")

    parts.append("<h2 id='flows'>Where the data goes</h2><div class='plot'>")
    parts.append(_sankey(report).to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False}))
    parts.append("</div>")

    parts.append("<h2 id='findings'>Findings</h2>")
    if report["findings"]:
        parts.append(
            "<table><tr><th>Severity</th><th>Finding</th><th>Data</th><th>Destination</th><th>Where</th>"
            "<th>Encoding</th><th>Evidence (masked)</th><th>Count</th></tr>"
        )
        for f in report["findings"]:
            parts.append(
                f"<tr><td><span class='badge sev-{escape(f['severity'])}'>{escape(f['severity'])}</span></td>"
                f"<td>{_cell(f.get('title') or f['rule'])}</td><td>{_cell(f['data_type'])}</td>"
                f"<td>{_cell(f['host'])}<br><small>{_cell(f['company'] or 'unknown company')} · {_cell(f['party'])}</small></td>"
                f"<td>{_cell(f['where'])} <code>{_cell(f['key'])}</code></td><td><code>{_cell(f['encoding'])}</code></td>"
                f"<td><code>{_cell(f['masked_value'])}</code><br><small>fp {_cell(f['fingerprint'])}</small></td>"
                f"<td class='num'>{int(f['count'])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No personal data was detected in the visible traffic.</p>")

    parts.append("<h2 id='destinations'>Destinations</h2><table><tr><th>Host</th><th>Party</th><th>Company</th>")
    parts.append("<th>Category</th><th>Country</th><th>Requests</th><th>Bytes up</th><th>Bytes down</th><th>Data types</th></tr>")
    for d in report["destinations"]:
        tracker = " <span class='badge sev-medium'>tracker</span>" if d["is_tracker"] else ""
        parts.append(
            f"<tr><td>{_cell(d['host'])}{tracker}</td><td>{_cell(d['party'])}</td><td>{_cell(d['company'])}</td>"
            f"<td>{_cell(d['category'])}</td><td>{_cell(d['countries'])}</td><td class='num'>{int(d['requests'])}</td>"
            f"<td class='num'>{int(d['bytes_up'])}</td><td class='num'>{int(d['bytes_down'])}</td><td>{_cell(d['data_types'])}</td></tr>"
        )
    parts.append("</table>")

    coverage = report.get("coverage", {})
    parts.append("<h2 id='coverage'>What we could not see</h2>")
    share = coverage.get("share_visible")
    parts.append(
        f"<p>Content was visible for {_cell(coverage.get('connections_visible'))} of {_cell(coverage.get('connections'))} "
        f"requests and connections ({'n/a' if share is None else f'{share:.0%}'}).</p>"
    )
    if coverage.get("hidden"):
        parts.append("<table><tr><th>Host</th><th>Company</th><th>Connections</th><th>Why hidden</th></tr>")
        for h in coverage["hidden"]:
            parts.append(
                f"<tr><td>{_cell(h['host'])}</td><td>{_cell(h['company'])}</td>"
                f"<td class='num'>{int(h['requests'])}</td><td>{_cell(h['reason'])}</td></tr>"
            )
        parts.append("</table>")

    parts.append("<h2 id='provenance'>Method and provenance</h2><table><tr><th>Input</th><th>Format</th><th>Records</th><th>SHA-256</th><th>Problems</th></tr>")
    for item in report["inputs"]:
        parts.append(
            f"<tr><td>{_cell(item['path'])}</td><td>{_cell(item['format'])}</td><td class='num'>{int(item['records'])}</td>"
            f"<td><code>{_cell(item['sha256'])}</code></td><td>{_cell(item.get('problems'))}</td></tr>"
        )
    parts.append("</table><p>Tracker database: ")
    parts.append(_cell([f"{s['source']} {s['version']}" for s in report["trackers_db"]]))
    parts.append(f". Tool: {_cell(report['tool']['name'])} {_cell(report['tool']['version'])}.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
