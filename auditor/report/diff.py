"""What changed between two reports: two sessions, or two versions of one app.

Works on the JSON contract only, so any two saved reports can be compared.
Values stay masked: findings are matched by rule, place and salted
fingerprint, never by raw value.
"""

from __future__ import annotations

from html import escape
from typing import Any

from auditor.findings import Severity
from auditor.report.wording import answer_label, data_type_label, words
from auditor.text import printable

DIFF_SCHEMA = "classroom-auditor.diff/1"


def _companies(report: dict[str, Any]) -> set[str]:
    return {d["company"] for d in report["destinations"] if d["company"] and d["party"] != "first"}


def _flows(report: dict[str, Any]) -> set[tuple[str, str]]:
    """(recipient, data type) pairs; the recipient is the company, else the registrable domain."""
    return {
        (d["company"] or d["registrable_domain"], data_type)
        for d in report["destinations"]
        for data_type in d["data_types"]
    }


def _finding_key(f: dict[str, Any]) -> tuple[Any, ...]:
    return (f["rule"], f["host"], f["data_type"], f["where"], f["key"], f.get("fingerprint"))


def _worst(report: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    """Worst severity per (host, data type)."""
    worst: dict[tuple[str, str | None], str] = {}
    for f in report["findings"]:
        key = (f["host"], f["data_type"])
        if key not in worst or Severity(f["severity"]).rank > Severity(worst[key]).rank:
            worst[key] = f["severity"]
    return worst


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The differences from ``old`` to ``new`` as a JSON-ready dict."""
    old_hosts = {d["host"]: d for d in old["destinations"]}
    new_hosts = {d["host"]: d for d in new["destinations"]}
    old_types = {t for d in old["destinations"] for t in d["data_types"]}
    new_types = {t for d in new["destinations"] for t in d["data_types"]}
    old_findings = {_finding_key(f): f for f in old["findings"]}
    new_findings = {_finding_key(f): f for f in new["findings"]}
    old_worst, new_worst = _worst(old), _worst(new)
    severity_changes = [
        {"host": host, "data_type": data_type, "old": old_worst[(host, data_type)], "new": new_worst[(host, data_type)]}
        for host, data_type in sorted(set(old_worst) & set(new_worst), key=lambda k: (k[0], k[1] or ""))
        if old_worst[(host, data_type)] != new_worst[(host, data_type)]
    ]
    old_checks = {c["id"]: c for c in old.get("checklist", [])}
    checklist_changes = [
        {"id": c["id"], "title": c["title"], "old": old_checks[c["id"]]["answer"], "new": c["answer"]}
        for c in new.get("checklist", [])
        if c["id"] in old_checks and old_checks[c["id"]]["answer"] != c["answer"]
    ]

    def slim(d: dict[str, Any]) -> dict[str, Any]:
        return {k: d.get(k) for k in ("host", "party", "company", "category", "is_tracker", "requests", "data_types")}

    def brief(f: dict[str, Any]) -> dict[str, Any]:
        keys = ("severity", "rule", "title", "host", "company", "data_type", "where", "key", "masked_value", "detail")
        return {k: f.get(k) for k in keys}

    by_rank = lambda f: (-Severity(f["severity"]).rank, f["host"], f["rule"])  # noqa: E731
    return {
        "schema": DIFF_SCHEMA,
        "old": {"generated_at": old.get("generated_at"), "app": old.get("app"), "inputs": old.get("inputs")},
        "new": {"generated_at": new.get("generated_at"), "app": new.get("app"), "inputs": new.get("inputs")},
        "destinations": {
            "new": [slim(new_hosts[h]) for h in sorted(set(new_hosts) - set(old_hosts))],
            "gone": [slim(old_hosts[h]) for h in sorted(set(old_hosts) - set(new_hosts))],
        },
        "companies": {
            "new": sorted(_companies(new) - _companies(old)),
            "gone": sorted(_companies(old) - _companies(new)),
        },
        "data_types": {"new": sorted(new_types - old_types), "gone": sorted(old_types - new_types)},
        "flows": {
            "new": [list(p) for p in sorted(_flows(new) - _flows(old))],
            "gone": [list(p) for p in sorted(_flows(old) - _flows(new))],
        },
        "findings": {
            "new": sorted((brief(f) for k, f in new_findings.items() if k not in old_findings), key=by_rank),
            "gone": sorted((brief(f) for k, f in old_findings.items() if k not in new_findings), key=by_rank),
        },
        "severity_changes": severity_changes,
        "checklist_changes": checklist_changes,
        "summary": {key: {"old": old["summary"].get(key), "new": new["summary"].get(key)}
                    for key in ("destinations", "third_parties", "trackers", "findings", "verdict", "coverage")},
    }


def has_changes(diff: dict[str, Any]) -> bool:
    """True when anything listed changed."""
    sections = ("destinations", "companies", "data_types", "flows", "findings")
    return any(diff[s]["new"] or diff[s]["gone"] for s in sections) or bool(
        diff["severity_changes"] or diff["checklist_changes"]
    )


def _finding_line(f: dict[str, Any]) -> str:
    what = data_type_label(f["data_type"]) if f["data_type"] else f.get("detail") or ""
    title = f.get("title") or words(f["rule"])
    return f"[{f['severity']}] {title} at {f['host']} ({f['company'] or 'unknown company'}): {what}"


def _sections(diff: dict[str, Any], arrow: str = "->") -> list[tuple[str, list[str], list[str]]]:
    """(title, added or changed lines, gone lines) for each part of the diff."""
    return [
        ("Destinations", [d["host"] for d in diff["destinations"]["new"]],
         [d["host"] for d in diff["destinations"]["gone"]]),
        ("Companies", diff["companies"]["new"], diff["companies"]["gone"]),
        ("Data types", [data_type_label(t) for t in diff["data_types"]["new"]],
         [data_type_label(t) for t in diff["data_types"]["gone"]]),
        ("Data flows (recipient: data type)", [f"{a}: {data_type_label(b)}" for a, b in diff["flows"]["new"]],
         [f"{a}: {data_type_label(b)}" for a, b in diff["flows"]["gone"]]),
        ("Findings", [_finding_line(f) for f in diff["findings"]["new"]],
         [_finding_line(f) for f in diff["findings"]["gone"]]),
        ("Severity changes", [f"{c['host']} {data_type_label(c['data_type']) if c['data_type'] else ''}: "
                              f"{c['old']} {arrow} {c['new']}"
                              for c in diff["severity_changes"]], []),
        ("Policy checklist changes",
         [f"{c.get('title') or words(c['id'])}: {answer_label(c['old'])} {arrow} {answer_label(c['new'])}"
          for c in diff["checklist_changes"]], []),
    ]


def render_text(diff: dict[str, Any]) -> str:
    """The terminal view: one line per change, ``+`` new, ``-`` gone, ``~`` changed."""
    lines: list[str] = []
    for key, counts in diff["summary"].items():
        lines.append(f"{key.replace('_', ' ')}: {counts['old']} -> {counts['new']}")
    sections = _sections(diff)
    for title, added, gone in sections:
        if added or gone:
            lines.append("")
            lines.append(f"{title}:")
            sign = "~" if "change" in title else "+"
            lines += [f"  {sign} {item}" for item in added] + [f"  - {item}" for item in gone]
    if not has_changes(diff):
        lines += ["", "No change in destinations, companies, data types or findings."]
    return "\n".join(printable(line) for line in lines) + "\n"


def render_html(diff: dict[str, Any]) -> str:
    """The diff as one self-contained HTML page (no script at all); every string escaped."""
    from auditor.report.html import CSS

    def items(values: list[str], sign: str) -> str:
        cls = "added" if sign == "+" else "gone"
        return "".join(f"<li class='{cls}'>{sign} {escape(v)}</li>" for v in values)

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        # No script and no network: the page is plain markup and inline styles.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Classroom traffic audit: changes</title><style>{CSS}"
        ".added{color:#8a1c14}.gone{color:#1e6b2e}ul.diff{list-style:none;padding-left:.5rem}</style></head><body>",
        "<h1>What changed between two audits</h1>",
        f"<p>Old: {escape(str(diff['old']['generated_at']))} — New: {escape(str(diff['new']['generated_at']))}</p>",
        "<table><tr><th></th><th>Old</th><th>New</th></tr>",
    ]
    for key, counts in diff["summary"].items():
        parts.append(
            f"<tr><td>{escape(key.replace('_', ' '))}</td><td class='num'>{escape(str(counts['old']))}</td>"
            f"<td class='num'>{escape(str(counts['new']))}</td></tr>"
        )
    parts.append("</table>")
    text_sections = _sections(diff, arrow="→")
    for title, added, gone in text_sections:
        parts.append(f"<h2>{escape(title)}</h2>")
        if added or gone:
            sign = "~" if "change" in title else "+"
            parts.append(f"<ul class='diff'>{items(added, sign)}{items(gone, '-')}</ul>")
        else:
            parts.append("<p>No change.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
