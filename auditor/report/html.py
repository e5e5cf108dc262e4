"""The self-contained HTML report: plotly.js embedded once, every captured string escaped.

The page makes no network request: plotly.js is inlined once, the world map
is drawn from outlines in :mod:`auditor.report.worldmap` (plotly's own geo
charts would fetch their base map from a CDN), and there are no external
fonts, images or scripts. Capture data reaches the page only through
:func:`html.escape` (markup) or :func:`plot_label` plus plotly's JSON
encoding, which escapes ``<`` inside ``<script>``.

Sections, top to bottom: verdict, who received what, data-flow Sankey, world
map, timeline, findings, destinations, what we could not see, method and
provenance, policy checklist.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from html import escape
from typing import Any

import plotly.graph_objects as go

from auditor.report.comparison_html import comparison_section
from auditor.report.verdict import VERDICT_WORDS, coverage_sentence
from auditor.report.wording import (
    category_label,
    data_type_label,
    is_inferred,
    mask_words,
    party_label,
    plain_text,
    rule_titles,
    where_words,
)
from auditor.report.worldmap import COUNTRIES, country_name, outline_path

MAX_TABLE_ROWS = 2000
"""Rows shown per table; the JSON and CSV exports always have every row."""
MAX_SANKEY_COMPANIES = 25
MAX_TIMELINE_ROWS = 30

PARTY_LABELS = {"first": "First party (the app)", "third": "Third parties", "local": "Local network",
                "unknown": "Unknown (address only)"}
PARTY_COLOURS = {"first": "#2e7d32", "third": "#b3261e", "local": "#607d8b", "unknown": "#8d6e63"}
ANSWER_LABELS = {"met": "Met", "not_met": "Not met", "not_determinable": "Not determinable from traffic"}
SEVERITIES = ("high", "medium", "low", "info")

CSS = """
:root{--ink:#1d2433;--muted:#5b6475;--line:#e4e6eb;--bad:#b3261e;--warn:#f6c343;--ok:#2e7d32}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:1.5rem;color:var(--ink);line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{margin-top:2.2rem;border-bottom:2px solid var(--line);padding-bottom:.3rem}
h3{margin:1.2rem 0 .4rem}
nav{font-size:.85rem;margin:.6rem 0}nav a{margin-right:.8rem;color:#1a56a8}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.4rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f4f7;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-high{color:#fff;background:var(--bad)}.sev-medium{background:var(--warn)}.sev-low{background:#cfe2ff}
.sev-info{background:#e9ecef}.ans-not_met{color:#fff;background:var(--bad)}.ans-met{color:#fff;background:var(--ok)}
.ans-not_determinable{background:#e9ecef}
.badge{display:inline-block;border-radius:.3rem;padding:0 .4rem;font-size:.8rem;white-space:nowrap}
.cards{display:flex;gap:.8rem;flex-wrap:wrap;margin:.8rem 0}
.card{border:1px solid var(--line);border-radius:.5rem;padding:.5rem .9rem;min-width:8.5rem}
.card b{display:block;font-size:1.5rem}
.verdict{padding:.8rem 1rem;border-radius:.5rem;margin:1rem 0}.verdict p{margin:.3rem 0}
.verdict.bad{background:#fde7e6;border:1px solid var(--bad)}.verdict.warn{background:#fff6dc;border:1px solid #c99700}
.verdict.ok{background:#e7f5ec;border:1px solid var(--ok)}
.muted,small{color:var(--muted)}code{word-break:break-all;font-size:.8rem}
.note{font-size:.85rem;color:var(--muted)}details summary{cursor:pointer}
.plot{page-break-inside:avoid;break-inside:avoid}
.findings td:nth-child(2){min-width:14rem}.findings td:nth-child(3){max-width:15rem;overflow-wrap:anywhere}
.findings td:nth-child(7){max-width:13rem}ul.refs{margin:.2rem 0;padding-left:1rem}
@media (max-width:700px){
 body{padding:.8rem}table{display:block;overflow-x:auto}
 table.findings{display:table}.findings tr:first-child{display:none}
 .findings tr{display:block;border-bottom:2px solid var(--line);padding:.4rem 0}
 .findings td{display:block;border:0;padding:.1rem .2rem;max-width:none!important;min-width:0!important}
 .findings td::before{content:attr(data-label);display:block;font-size:.72rem;color:var(--muted);font-weight:600}
 .findings td.num{text-align:left}
}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{max-width:none;padding:0;font-size:10pt}nav,.modebar-container{display:none}
 h2{page-break-after:avoid;break-after:avoid}tr{page-break-inside:avoid;break-inside:avoid}
 th{position:static}a{color:inherit;text-decoration:none}
 details{display:block}details>*{display:block}
 @page{size:A4;margin:14mm}
}
"""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plot_label(text: object, limit: int = 80) -> str:
    """A string safe as a plotly label.

    plotly reads a few HTML-like tags in labels (``<a href>``, ``<br>``), so
    angle brackets become look-alike characters; control characters go and
    very long names are shortened.

    >>> plot_label('<script>x</script>')
    '‹script›x‹/script›'
    """
    value = _CONTROL.sub("", str(text)).replace("<", "‹").replace(">", "›")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _text(value: object) -> str:
    """Any value as escaped HTML text; lists are joined with commas."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def _num(value: object) -> str:
    try:
        return f"{int(value):,}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return ""


def _size(count: object) -> str:
    """Bytes in human units."""
    try:
        value = float(count)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _badge(kind: str, value: str, label: str | None = None) -> str:
    safe = re.sub(r"[^a-z_]", "", value)
    return f"<span class='badge {kind}-{safe}'>{escape(label or value)}</span>"


def _recipient(d: dict[str, Any]) -> str:
    """Who receives a destination's traffic: its company, else a name built from its domain."""
    if d.get("company"):
        return str(d["company"])
    domain = d.get("registrable_domain") or d["host"]
    return f"The app ({domain})" if d.get("party") == "first" else f"Unknown ({domain})"


# -- charts ---------------------------------------------------------------


def _sankey(report: dict[str, Any]) -> go.Figure:
    """Device/app → first and third parties → companies → data types."""
    nodes: dict[str, int] = {}
    colours: list[str] = []

    def node(name: str, colour: str) -> int:
        if name not in nodes:
            nodes[name] = len(nodes)
            colours.append(colour)
        return nodes[name]

    links: dict[tuple[int, int], float] = defaultdict(float)
    device = node("Device / app", "#37474f")
    by_company: dict[tuple[str, str], dict[str, Any]] = {}
    for d in report["destinations"]:
        entry = by_company.setdefault((d["party"], _recipient(d)),
                                      {"requests": 0, "types": set(), "unnamed": not d.get("company")})
        entry["requests"] += max(int(d["requests"]), 1)
        entry["types"].update(d["data_types"])
    # Keep named companies that received personal data, then the busiest; fold the rest into one node per party
    # so the chart stays readable however many hosts a session has.
    ranked = sorted(by_company.items(), key=lambda kv: (not kv[1]["types"], kv[1]["unnamed"], -kv[1]["requests"]))
    folded: dict[str, int] = defaultdict(int)
    for index, ((party, _), _) in enumerate(ranked):
        if index >= MAX_SANKEY_COMPANIES:
            folded[party] += 1
    for index, ((party, company), entry) in enumerate(ranked):
        colour = PARTY_COLOURS.get(party, "#8d6e63")
        party_label = PARTY_LABELS.get(party, party)
        party_node = node(party_label, colour)
        links[(device, party_node)] += entry["requests"]
        if index >= MAX_SANKEY_COMPANIES:
            company = f"Other: {folded[party]} more in {party_label.split(' (')[0].lower()}"
        company_node = node(company, colour)
        links[(party_node, company_node)] += entry["requests"]
        for data_type in sorted(entry["types"]):
            data_node = node(f"data: {data_type_label(data_type)}", "#6a1b9a")
            links[(company_node, data_node)] += max(entry["requests"] ** 0.5, 1)
        if not entry["types"]:
            # A sink of its own keeps the company in its column (plotly pushes link-less nodes to the right).
            links[(company_node, node("no personal data seen", "#b0bec5"))] += max(entry["requests"] ** 0.5, 1)
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": [plot_label(n) for n in nodes], "color": colours, "pad": 10, "thickness": 14},
            link={
                "source": [a for a, _ in links],
                "target": [b for _, b in links],
                "value": list(links.values()),
                "color": "rgba(120,130,150,0.30)",
            },
        )
    )
    figure.update_layout(height=max(420, min(1400, 22 * len(nodes))), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         font={"size": 11})
    return figure


def _country_rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per country: requests to servers there, companies headquartered there."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"server_requests": 0, "hq_companies": set(), "hosts": 0})
    for d in report["destinations"]:
        for cc in d["countries"]:
            if cc != "local":
                rows[cc]["server_requests"] += int(d["requests"])
                rows[cc]["hosts"] += 1
        if d.get("hq_country") and d.get("company"):
            rows[d["hq_country"]]["hq_companies"].add(d["company"])
    return dict(rows)


def _world_map(rows: dict[str, dict[str, Any]], home: str | None = None) -> go.Figure:
    """Schematic world map: server countries (circles) and company headquarters (diamonds)."""
    xs, ys = outline_path()
    figure = go.Figure(
        go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor="#eceff3", line={"color": "#b8bfca", "width": 1},
                   hoverinfo="skip", showlegend=False)
    )
    servers = [(cc, r) for cc, r in sorted(rows.items()) if r["server_requests"] and cc in COUNTRIES]
    hqs = [(cc, r) for cc, r in sorted(rows.items()) if r["hq_companies"] and cc in COUNTRIES]
    if servers:
        figure.add_trace(go.Scatter(
            x=[COUNTRIES[cc][1] for cc, _ in servers], y=[COUNTRIES[cc][2] for cc, _ in servers],
            mode="markers+text", text=[plot_label(cc) for cc, _ in servers], textposition="top center",
            marker={"size": [8 + 4 * math.log10(1 + r["server_requests"]) * 2 for _, r in servers],
                    "color": "rgba(26,86,168,0.65)", "line": {"color": "#1a56a8", "width": 1}},
            hovertext=[plot_label(f"{country_name(cc)}: {r['server_requests']} requests to {r['hosts']} hosts")
                       for cc, r in servers],
            hoverinfo="text", name="Servers (requests)",
        ))
    if hqs:
        figure.add_trace(go.Scatter(
            x=[COUNTRIES[cc][1] for cc, _ in hqs], y=[COUNTRIES[cc][2] - 3 for cc, _ in hqs],
            mode="markers+text", text=[plot_label(cc) for cc, _ in hqs], textposition="bottom center",
            marker={"symbol": "diamond", "size": [9 + 3 * math.sqrt(len(r["hq_companies"])) for _, r in hqs],
                    "color": "rgba(230,120,20,0.8)", "line": {"color": "#9a4d00", "width": 1}},
            hovertext=[plot_label(f"{country_name(cc)}: HQ of " + ", ".join(sorted(r["hq_companies"])[:8]), 200)
                       for cc, r in hqs],
            hoverinfo="text", name="Company headquarters",
        ))
    if home in COUNTRIES:
        figure.add_trace(go.Scatter(
            x=[COUNTRIES[home][1]], y=[COUNTRIES[home][2]], mode="markers", name="School's country",
            marker={"symbol": "star", "size": 16, "color": "#2e7d32", "line": {"color": "#1b4d1f", "width": 1}},
            hovertext=[plot_label(f"School's country: {country_name(home)}")], hoverinfo="text",
        ))
    figure.update_layout(
        # The top margin holds plotly's toolbar, so it covers no country label.
        height=460, margin={"l": 10, "r": 10, "t": 36, "b": 10}, plot_bgcolor="#f9fbfd",
        xaxis={"range": [-180, 180], "visible": False, "fixedrange": False},
        yaxis={"range": [-58, 85], "visible": False, "scaleanchor": "x", "scaleratio": 1},
        legend={"orientation": "h", "y": 0.02, "x": 0.01, "bgcolor": "rgba(255,255,255,0.7)"},
    )
    return figure


def _timeline(report: dict[str, Any]) -> go.Figure | None:
    """Heat map: requests per destination (rows) over time (columns)."""
    timeline = report.get("timeline") or {}
    series = timeline.get("series") or []
    width = timeline.get("bucket_seconds")
    if not series or not width:
        return None
    ranked = sorted(series, key=lambda s: -sum(c for _, c in s["counts"]))[:MAX_TIMELINE_ROWS]
    buckets = 1 + max(b for s in ranked for b, _ in s["counts"])
    span = width * buckets
    scale, unit, units = ((3600.0, "h", "hours") if span > 3 * 3600 else (60.0, "min", "minutes") if span > 300
                          else (1.0, "s", "seconds"))
    x = [round(i * width / scale, 2) for i in range(buckets)]
    z, labels = [], []
    for s in reversed(ranked):
        row = [0] * buckets
        for bucket, count in s["counts"]:
            row[bucket] = count
        z.append(row)
        flag = " ⚑" if s.get("is_tracker") else ""
        labels.append(plot_label(f"{s['host']}{flag}", 48))
    figure = go.Figure(go.Heatmap(
        x=x, y=list(range(len(labels))), z=z, colorscale="Blues", hoverongaps=False,
        customdata=[[label] * buckets for label in labels],
        hovertemplate="%{customdata}<br>%{x} " + unit + ": %{z} request(s)<extra></extra>",
        # Whole requests only: plotly would otherwise label a 1-request scale 0, 0.5, 1.
        zmin=0, colorbar={"title": {"text": "requests"}, "tick0": 0, "dtick": _count_step(z), "tickformat": ",d"},
    ))
    first_seconds = ((report.get("rules") or {}).get("thresholds") or {}).get("first_seconds")
    if first_seconds and float(first_seconds) < width * buckets:
        # The "before any user interaction" window of tracker-before-interaction, when shorter than the session.
        figure.add_vrect(x0=-width / scale / 2, x1=float(first_seconds) / scale, fillcolor="rgba(0,0,0,0)",
                         line={"color": "#c26a00", "width": 2, "dash": "dot"},
                         annotation_text=f"first {float(first_seconds):g} s", annotation_position="outside top right",
                         annotation_font={"color": "#c26a00", "size": 11})
    figure.update_layout(
        height=max(260, 22 * len(labels) + 120), margin={"l": 10, "r": 10, "t": 44, "b": 40},
        # Whole units on the time axis too: a 3-second session reads 0, 1, 2, 3 s, not -0.5, 0, 0.5.
        xaxis={"title": {"text": f"{units} since {timeline.get('start')}"}, "tick0": 0,
               "dtick": max(1, math.ceil(span / scale / 10)),
               "range": [-0.5 * width / scale, (buckets - 0.5) * width / scale]},
        yaxis={"tickvals": list(range(len(labels))), "ticktext": labels, "automargin": True},
    )
    return figure


def _count_step(z: list[list[int]]) -> int:
    """A whole-number tick step for a colour scale of request counts (about five ticks)."""
    top = max((max(row) for row in z if row), default=1)
    return max(1, math.ceil(top / 5))


# -- sections -------------------------------------------------------------


def _recipients(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per company (or unknown domain) outside the app: data types received, hosts, requests, tracker."""
    out: dict[str, dict[str, Any]] = {}
    for d in report["destinations"]:
        if d["party"] in ("first", "local"):
            continue
        entry = out.setdefault(_recipient(d), {"types": set(), "hosts": 0, "requests": 0, "tracker": False,
                                                "category": d.get("category"), "hq": d.get("hq_country")})
        entry["types"].update(d["data_types"])
        entry["hosts"] += 1
        entry["requests"] += int(d["requests"])
        entry["tracker"] |= bool(d["is_tracker"])
    return out


def _verdict(report: dict[str, Any]) -> list[str]:
    summary = report["summary"]
    by_sev = summary.get("by_severity", {})
    high, medium = by_sev.get("high", 0), by_sev.get("medium", 0)
    checklist = report.get("checklist", [])
    not_met = [c for c in checklist if c["answer"] == "not_met"]
    coverage = report.get("coverage", {})
    share = coverage.get("share_visible")
    recipients = _recipients(report)
    with_data = sorted(name for name, r in recipients.items() if r["types"])
    if high:
        headline = f"{high} high-severity finding(s): student data reaches third parties or travels unprotected."
        css = "bad"
    elif medium:
        css, headline = "warn", f"No high-severity finding, but {medium} medium-severity finding(s) need review."
    else:
        css, headline = "ok", "No high- or medium-severity finding in this capture."
    # The audit's verdict (summary.verdict): too little read is never shown as a green "ok".
    inconclusive = summary.get("verdict") == "inconclusive"
    if inconclusive:
        css, headline = "warn", f"{VERDICT_WORDS['inconclusive']}: {summary.get('verdict_reason', '')}"
    lines = [f"<div class='verdict {css}' id='verdict'><p><b>{escape(headline)}</b></p>"]
    if summary.get("verdict") in VERDICT_WORDS:
        lines.append(f"<p>{escape(coverage_sentence(report))}</p>")
    if inconclusive and coverage.get("how_to_see"):
        tips = "".join(f"<li>{escape(tip)}</li>" for tip in coverage["how_to_see"])
        lines.append(f"<p>To see what was hidden:</p><ul>{tips}</ul>")
    if with_data:
        shown = ", ".join(with_data[:8]) + (f" and {len(with_data) - 8} more" if len(with_data) > 8 else "")
        lines.append(f"<p>Companies outside the app that received personal data: {escape(shown)}.</p>")
    else:
        seen_in = " in the traffic that could be read" if inconclusive else ""
        lines.append(f"<p>No personal data was seen going to a company outside the app{seen_in}.</p>")
    if checklist:
        lines.append(f"<p>Guidance points not met: <b>{len(not_met)}</b> of {len(checklist)} "
                     "(<a href='#checklist'>checklist</a>).</p>")
    share_text = "no traffic" if share is None else f"{share:.0%} of requests"
    hidden = len(coverage.get("hidden", []))
    # The coverage sentence above already gives the share read; older reports (no verdict) give it here.
    read = "" if summary.get("verdict") in VERDICT_WORDS else f"Content could be inspected for {share_text}; "
    lines.append(f"<p>{escape(read)}{hidden} destination(s) had connections that could not be inspected "
                 "(<a href='#coverage'>what we could not see</a>). Finding nothing does not prove nothing was sent.</p>"
                 "</div>")
    return lines


def _who_received_what(report: dict[str, Any]) -> list[str]:
    recipients = _recipients(report)
    rows = sorted(recipients.items(), key=lambda kv: (not kv[1]["types"], not kv[1]["tracker"], -kv[1]["requests"]))
    parts = ["<h2 id='recipients'>Who received what</h2>",
             "<p class='note'>Companies other than the app's own, with the kinds of personal data seen going to "
             "each. Unknown companies are named by their domain.</p>",
             "<table><tr><th>Company</th><th>Category</th><th>HQ</th><th>Hosts</th><th>Requests</th>"
             "<th>Personal data seen</th></tr>"]
    for name, r in rows[:MAX_TABLE_ROWS]:
        tracker = " " + _badge("sev", "medium", "tracker") if r["tracker"] else ""
        types = _text(sorted(data_type_label(t) for t in r["types"])) if r["types"] else (
            "<span class='muted'>none seen</span>")
        parts.append(f"<tr><td>{_text(name)}{tracker}</td><td>{_text(category_label(r['category']))}</td>"
                     f"<td>{_text(r['hq'])}</td>"
                     f"<td class='num'>{_num(r['hosts'])}</td><td class='num'>{_num(r['requests'])}</td>"
                     f"<td>{types}</td></tr>")
    parts.append("</table>")
    if not rows:
        parts.append("<p>No third party was contacted.</p>")
    return parts


def _persona_trail(report: dict[str, Any]) -> list[str]:
    """Where each planted value went, one sentence per value (nothing when no profile value was seen)."""
    from auditor.trail import trail_sentence

    trail = report.get("persona_trail") or []
    if not trail:
        return []
    parts = ["<h2 id='trail'>Where the planted values went</h2>",
             "<p class='note'>Values from the device profile (the test device's identifiers, the synthetic student "
             "typed into the app) found in the traffic: who received each one, and in what form. \u201cAs typed\u201d "
             "means it was sent key press by "
             "key press, before anything was submitted.</p><ul class='trail'>"]
    for entry in trail[:MAX_TABLE_ROWS]:
        parts.append(f"<li>{_text(trail_sentence(entry))} <small>(first {_text(entry['first_seen'] or '?')}, "
                     f"{_num(entry['count'])}\u00d7, <code>{_text(entry['masked_value'])}</code>)</small></li>")
    parts.append("</ul>")
    return parts


def _findings(report: dict[str, Any]) -> list[str]:
    """Findings in words: what was seen in the traffic first, then what is only inferred from where it went."""
    findings = report["findings"]
    parts = ["<h2 id='findings'>Findings</h2>",
             "<p class='note'>Evidence is masked: the report says what kind of value it was and how much of it is "
             "shown. The fingerprint is a salted hash that matches the same value across reports made on this "
             "installation, without revealing it.</p>"]
    if not findings:
        parts.append("<p>No finding. No personal data was detected in the visible traffic and no destination rule "
                     "matched.</p>")
        return parts
    shown = findings[:MAX_TABLE_ROWS]
    observed = [f for f in shown if not is_inferred(f)]
    inferred = [f for f in shown if is_inferred(f)]
    if observed:
        parts.append("<h3>Seen in the traffic</h3>")
        parts += _finding_table(report, observed)
    if inferred:
        parts.append("<h3 id='findings-inferred'>Inferred, not seen</h3>"
                     "<p class='note'>These come from where the traffic went (a host name or a kind of service), not "
                     "from content read in the requests: no upload of this data was seen. Check them with the "
                     "vendor.</p>")
        parts += _finding_table(report, inferred)
    if len(findings) > MAX_TABLE_ROWS:
        parts.append(f"<p class='note'>{len(findings) - MAX_TABLE_ROWS} more findings are in the JSON and CSV.</p>")
    return parts


def _finding_table(report: dict[str, Any], findings: list[dict[str, Any]]) -> list[str]:
    titles = {c["id"]: c["title"] for c in report.get("checklist", [])}
    parts = ["<table class='findings'><tr><th>Severity</th><th>Finding</th><th>Destination</th>"
             "<th>Data and where</th><th>Evidence (masked)</th><th>Count</th><th>Guidance</th></tr>"]
    for f in findings:
        if f.get("data_type"):
            inferred = " " + _badge("sev", "info", "inferred") if is_inferred(f) else ""
            place = (f"{_text(data_type_label(f['data_type']))}{inferred}<br>"
                     f"<small>{_text(where_words(f))}</small>")
            described = mask_words(f.get("masked_value"))
            described = "" if described == f.get("masked_value") else described  # already words, e.g. an upload
            evidence = (f"<code>{_text(f['masked_value'])}</code><br><small>{_text(described)}"
                        f"{' · ' if described else ''}fingerprint {_text(f['fingerprint'])}</small>")
        else:
            place = "<span class='muted'>the destination itself</span>"
            evidence = f"<small>{_text(plain_text(f.get('detail')))}</small>"
        links = [f"<li><a href='#policy-{escape(ref)}'>{_text(titles.get(ref, 'guidance point'))}</a></li>"
                 for ref in f.get("policy_refs", [])]
        plural = "s" if len(links) != 1 else ""
        refs = (f"<details><summary>{len(links)} point{plural}</summary><ul class='refs'>{''.join(links)}</ul>"
                "</details>") if links else ""
        why = f"<br><small>{_text(plain_text(f['reason']))}</small>" if f.get("reason") else ""
        # data-label: on a phone each row becomes a card and every cell says what it is.
        parts.append(
            f"<tr><td data-label='Severity'>{_badge('sev', f['severity'], str(f['severity']).capitalize())}</td>"
            f"<td data-label='Finding'>{_text(f.get('title') or 'Finding')}{why}</td>"
            f"<td data-label='Destination'>{_text(f['host'])}<br><small>{_text(f['company'] or 'unknown company')}"
            f" · {_text(party_label(f['party']))}</small></td><td data-label='Data and where'>{place}</td>"
            f"<td data-label='Evidence (masked)'>{evidence}</td>"
            f"<td class='num' data-label='Count'>{_num(f['count'])}</td>"
            f"<td data-label='Guidance'><small>{refs}</small></td></tr>"
        )
    parts.append("</table>")
    return parts


def _destinations(report: dict[str, Any]) -> list[str]:
    destinations = report["destinations"]
    parts = ["<h2 id='destinations'>Destinations</h2>",
             "<table><tr><th>Host</th><th>Party</th><th>Company</th><th>Category</th><th>Server country</th>"
             "<th>HQ</th><th>Requests</th><th>Up</th><th>Down</th><th>Data types</th></tr>"]
    for d in destinations[:MAX_TABLE_ROWS]:
        flags = []
        if d["is_tracker"]:
            flags.append(_badge("sev", "medium", "tracker"))
        if d.get("cloaked_tracker"):
            flags.append(_badge("sev", "high", f"CNAME to {d['cloaked_tracker']}"))
        if not d["content_visible"]:
            flags.append(_badge("sev", "info", "not inspected"))
        parts.append(
            f"<tr><td>{_text(d['host'])} {' '.join(flags)}{_endpoint_note(d)}</td>"
            f"<td>{_text(party_label(d['party']))}</td><td>{_text(d['company'])}</td>"
            f"<td>{_text(category_label(d['category']))}</td><td>{_text(d['countries'])}</td>"
            f"<td>{_text(d.get('hq_country'))}</td>"
            f"<td class='num'>{_num(d['requests'])}</td><td class='num'>{_size(d['bytes_up'])}</td>"
            f"<td class='num'>{_size(d['bytes_down'])}</td>"
            f"<td>{_text([data_type_label(t) for t in d['data_types']])}</td></tr>"
        )
    parts.append("</table>")
    if len(destinations) > MAX_TABLE_ROWS:
        parts.append(f"<p class='note'>{len(destinations) - MAX_TABLE_ROWS} more destinations are in the JSON and "
                     "CSV.</p>")
    return parts


def _endpoint_note(d: dict[str, Any]) -> str:
    """Which tracker paths a site host served (``www.google.com``: ``/ads/ga-audiences``), in small print."""
    used = [e for e in d.get("endpoints") or [] if e.get("is_tracker")]
    if not used:
        return ""
    said = "; ".join(f"{e['path']}… {e['service']} ({_num(e['requests'])})" for e in used[:3])
    return f"<br><small>tracker paths: {_text(said)}</small>"


def _countries(report: dict[str, Any], rows: dict[str, dict[str, Any]]) -> list[str]:
    parts = ["<h2 id='map'>Countries</h2>",
             "<p class='note'>Circles: countries of the servers contacted (from the IP data available, "
             f"source: {_text((report.get('method') or {}).get('geo_source') or 'unknown')}). Diamonds: countries "
             "where the receiving companies have their headquarters. The map is schematic.</p>"]
    home = ((report.get("rules") or {}).get("thresholds") or {}).get("home_country")
    if home:
        parts.append(f"<p>School's country: <b>{_text(country_name(home))} ({_text(home)})</b>.</p>")
    parts.append("<div class='plot'>")
    parts.append(_world_map(rows, home).to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG,
                                                 div_id="map-figure"))
    parts.append("</div>")
    if rows:
        parts.append("<table><tr><th>Country</th><th>Requests to servers there</th><th>Companies headquartered "
                     "there</th></tr>")
        for cc, r in sorted(rows.items(), key=lambda kv: (-kv[1]["server_requests"], kv[0])):
            # No server address located there is "none located", not a count of 0 requests.
            count = (f"{_num(r['server_requests'])} <small>({_num(r['hosts'])} host{'s' if r['hosts'] != 1 else ''})"
                     "</small>" if r["server_requests"] else "<span class='muted'>no server located here</span>")
            parts.append(f"<tr><td>{_text(country_name(cc))} ({_text(cc)})</td>"
                         f"<td class='num'>{count}</td>"
                         f"<td>{_text(sorted(r['hq_companies']))}</td></tr>")
        parts.append("</table>")
        unlocated = sum(int(d["requests"]) for d in report["destinations"] if not d["countries"]
                        and d["party"] != "local")
        if unlocated:
            parts.append(f"<p class='note'>{_num(unlocated)} request(s) went to servers whose country is not known: "
                         "the capture records no address for them (a HAR file often leaves it out), only a local "
                         "one (traffic recorded through a proxy on the same machine), or one no registry lists.</p>")
    else:
        parts.append("<p>No country is known for any destination.</p>")
    return parts


def _coverage(report: dict[str, Any]) -> list[str]:
    coverage = report.get("coverage", {})
    share = coverage.get("share_visible")
    share_bytes = coverage.get("share_bytes_visible")
    parts = [
        "<h2 id='coverage'>What we could not see</h2>",
        f"<p>Content was visible for {_num(coverage.get('connections_visible'))} of "
        f"{_num(coverage.get('connections'))} requests and connections "
        f"({'n/a' if share is None else f'{share:.0%}'}; "
        f"{'n/a' if share_bytes is None else f'{share_bytes:.0%}'} of bytes).</p>",
        "<p class='note'>Traffic that was encrypted and not decrypted (certificate pinning, no TLS keys, QUIC), and "
        "connections known only by address, may carry personal data this audit cannot detect. Ask the vendor what "
        "these connections carry. Personal data inside encrypted or obfuscated payloads is not detected either.</p>",
    ]
    if coverage.get("detector_errors"):
        parts.append(f"<p><b>{_num(coverage['detector_errors'])} detector error(s)</b> occurred; some requests were "
                     "not fully checked.</p>")
    for cap in coverage.get("cross_request_caps") or ():
        parts.append(f"<p class='note'>Memory bound reached: {escape(cap)}.</p>")
    hidden = coverage.get("hidden") or []
    if hidden:
        parts.append("<table><tr><th>Host</th><th>Company</th><th>Connections not seen</th><th>Why hidden</th></tr>")
        for h in hidden[:MAX_TABLE_ROWS]:
            tracker = " " + _badge("sev", "medium", "tracker") if h.get("is_tracker") else ""
            total = h.get("requests_total")
            of_total = f" of {_num(total)}" if isinstance(total, int) else ""
            parts.append(f"<tr><td>{_text(h['host'])}{tracker}</td><td>{_text(h['company'])}</td>"
                         f"<td class='num'>{_num(h['requests'])}{of_total}</td><td>{_text(h['reason'])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>The content of every connection could be inspected.</p>")
    return parts


def _provenance(report: dict[str, Any]) -> list[str]:
    method = report.get("method") or {}
    rules = report.get("rules") or {}
    thresholds = rules.get("thresholds") or {}
    parts = ["<h2 id='provenance'>Method and provenance</h2>",
             "<table><tr><th>Input</th><th>Format</th><th>Records</th><th>SHA-256</th><th>Problems</th></tr>"]
    for item in report["inputs"]:
        parts.append(f"<tr><td>{_text(item['path'])}</td><td>{_text(item['format'])}</td>"
                     f"<td class='num'>{_num(item['records'])}</td><td><code>{_text(item['sha256'])}</code></td>"
                     f"<td>{_text(item.get('problems'))}</td></tr>")
    parts.append("</table><table>")
    facts: list[tuple[str, object]] = [
        ("Tool", f"{report['tool']['name']} {report['tool']['version']}"),
        ("Report generated", report.get("generated_at")),
        ("Traffic from", f"{method.get('session_start') or '?'} to {method.get('session_end') or '?'}"),
        ("Records analysed", report["summary"].get("records")),
        ("Tracker database", [f"{s['source']} {s['version']}" for s in report.get("trackers_db", [])]),
        ("Rules", f"{rules.get('source', 'default')} (sha256 {str(rules.get('sha256', ''))[:16]}…)"),
        ("Thresholds", f"first seconds {thresholds.get('first_seconds')}, home country "
                       f"{thresholds.get('home_country') or 'not given (country rule off)'}, minimum confidence "
                       f"{thresholds.get('min_confidence')}"),
        ("Device profile fingerprint", method.get("profile_fingerprint") or "no profile used"),
        ("Country data", method.get("geo_source")),
        ("App domains", ", ".join(report["app"]["domains"]) + (" (inferred)" if report["app"].get("domains_inferred")
                                                               else "")),
    ]
    for label, value in facts:
        parts.append(f"<tr><th>{escape(label)}</th><td>{_text(value)}</td></tr>")
    parts.append("</table>")
    return parts


def _checklist(report: dict[str, Any]) -> list[str]:
    checklist = report.get("checklist") or []
    policy = {p["id"]: p for p in report.get("policy") or []}
    parts = ["<h2 id='checklist'>Guidance checklist</h2>",
             "<p class='note'>Each point summarises, in this project's words, what public guidance asks of schools. "
             "<b>Not met</b>: a finding cites it. <b>Met</b>: the rules that test it ran over enough inspectable "
             "traffic and found nothing (not proof of compliance). <b>Not determinable</b>: traffic cannot answer it "
             "(contracts, retention, training) or too little could be inspected. Not legal advice.</p>"]
    if not checklist:
        parts.append("<p>No checklist in this report.</p>")
        return parts
    names = rule_titles(report)
    parts.append("<table><tr><th>Answer</th><th>Point</th><th>Evidence</th></tr>")
    for c in checklist:
        entry = policy.get(c["id"], {})
        more = ""
        if entry:
            more = (f"<details><summary>What it asks</summary><p>{_text(entry.get('summary'))}</p>"
                    f"<p><i>What traffic shows:</i> {_text(entry.get('traffic'))}</p>"
                    f"<p><small>Source: {_text(entry.get('url'))}</small></p></details>")
        parts.append(
            f"<tr id='policy-{escape(c['id'], quote=True)}'>"
            f"<td>{_badge('ans', c['answer'], ANSWER_LABELS.get(c['answer']))}</td>"
            f"<td><b>{_text(c['title'])}</b><br><small>{_text(c['source'])}</small>{more}</td>"
            f"<td>{_text(plain_text(c['reason'], names))}</td></tr>"
        )
    parts.append("</table>")
    return parts


_PLOT_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"]}


_STILL_CONFIG = {**_PLOT_CONFIG, "displayModeBar": False}
"""For the Sankey: zooming it helps no one, and plotly's toolbar would sit on its top-right labels."""


def _plots(figures: Iterable[tuple[str, go.Figure | None]]) -> list[str]:
    # A fixed div id (plotly draws a random one) keeps the same report byte-identical on every machine.
    parts = []
    for name, fig in figures:
        if fig is not None:
            config = _STILL_CONFIG if name == "sankey" else _PLOT_CONFIG
            html = fig.to_html(full_html=False, include_plotlyjs=False, config=config, div_id=f"{name}-figure")
            parts.append(f"<div class='plot' id='{name}'>{html}</div>")
    return parts


def render_html(report: dict[str, Any]) -> str:
    """The whole page as one string."""
    from plotly.offline import get_plotlyjs

    from auditor.appinfer import inference_sentences

    summary = report["summary"]
    app = report["app"]
    app_line = ", ".join(app["domains"]) or "not given"
    if app.get("domains_inferred"):
        app_line += " (inferred from the traffic)"
    name = app.get("name") or app_line
    method = report.get("method") or {}
    plotlyjs = get_plotlyjs()
    head = [
        f"<title>Classroom traffic audit: {_text(name)}</title><style>{CSS}</style>",
        # plotly.js, once, inline.
        f"<script>{plotlyjs}</script></head><body>",
    ]
    parts = [
        "<h1>Classroom traffic audit</h1>",
        f"<p>App: <b>{_text(app.get('name') or 'not named')}</b> — app domains: {_text(app_line)}.<br>"
        + "".join(f"<span class='app-inference'>{_text(line)}</span><br>" for line in inference_sentences(app))
        +
        f"<small>Traffic from {_text(method.get('session_start') or '?')} to {_text(method.get('session_end') or '?')}"
        f" · report generated {_text(report['generated_at'])} · values masked, safe to share</small></p>",
        "<nav><a href='#recipients'>Who received what</a>"
        + ("<a href='#trail'>Planted values</a>" if report.get("persona_trail") else "")
        + "<a href='#flows'>Data flows</a><a href='#map'>Countries</a>"
        "<a href='#timeline'>Timeline</a><a href='#findings'>Findings</a><a href='#destinations'>Destinations</a>"
        "<a href='#coverage'>Not seen</a><a href='#provenance'>Method</a><a href='#checklist'>Checklist</a></nav>",
    ]
    parts.append("<section id='sec-summary'>")
    parts += _verdict(report)
    parts.append("<div class='cards'>")
    by_sev = summary.get("by_severity", {})
    for label, value in (
        ("Destinations", summary["destinations"]),
        ("Third parties", summary["third_parties"]),
        ("Trackers", summary["trackers"]),
        ("Findings", summary["findings"]),
        ("High severity", by_sev.get("high", 0)),
        ("Data types", len(summary.get("by_data_type", {}))),
    ):
        parts.append(f"<div class='card'><b>{_num(value)}</b>{escape(label)}</div>")
    parts.append("</div></section>")
    flows = ["<h2 id='flows'>Where the data goes</h2>"
             "<p class='note'>From the device to first and third parties, to companies, to the kinds of personal "
             "data each received. Widths follow request counts.</p>", *_plots([("sankey", _sankey(report))])]
    timeline = _timeline(report)
    timeline_parts = [
        "<h2 id='timeline'>Timeline</h2><p class='note'>Requests per destination over the session "
        f"(busiest {MAX_TIMELINE_ROWS}; ⚑ marks trackers).</p>",
        *(_plots([("timeline-plot", timeline)]) if timeline else ["<p>No timed requests.</p>"]),
    ]
    sections = [
        ("recipients", _who_received_what(report)),
        ("trail", _persona_trail(report)),
        ("flows", flows),
        ("map", _countries(report, _country_rows(report))),
        ("timeline", timeline_parts),
        ("findings", _findings(report)),
        ("destinations", _destinations(report)),
        *([("comparison", comparison_section(report))] if report.get("comparison") else []),
        ("coverage", _coverage(report)),
        ("provenance", _provenance(report)),
        ("checklist", _checklist(report)),
    ]
    for name, section in sections:
        parts += [f"<section id='sec-{name}'>", *section, "</section>"]
    parts.append("</body></html>\n")
    body = "".join(head + parts)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{content_security_policy(body)}\">" + body
    )


_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def content_security_policy(page: str) -> str:
    """A policy that allows exactly the page's own inline scripts (by hash) and no network access.

    Defence in depth: even if some capture string escaped escaping, a script or
    event handler it injected would not run, and nothing can be fetched.
    """
    hashes = sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode("ascii") + "'"
        for m in _SCRIPT.finditer(page)
    })
    return (
        f"default-src 'none'; script-src {' '.join(hashes)}; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
