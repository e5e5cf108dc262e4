"""The HTML report's two-capture comparison section (``auditor analyze A --compare B``)."""

from __future__ import annotations

from html import escape
from typing import Any

MAX_ROWS = 500
"""Rows per table; the JSON keeps every row."""


def comparison_section(report: dict[str, Any]) -> list[str]:
    """Identifiers (differ between the two captures) and app constants (equal in both), values masked."""
    comparison = report.get("comparison")
    if not comparison:
        return []
    identifiers = comparison.get("identifiers") or []
    constants = comparison.get("app_constants") or []
    parts = [
        "<h2 id='comparison'>Two captures compared</h2>",
        "<p class='note'>The same app was captured twice (two devices or two test personas). A value that "
        "differs between the captures at the same address and key, but stays the same within each, identifies "
        "the device or the user. A value that is the same in both is the same for every installation: an app "
        "constant, not personal data.</p>",
        f"<p><b>{len(identifiers)}</b> identifier(s), <b>{len(constants)}</b> app constant(s), from "
        f"{int(comparison.get('shared_slots') or 0)} keys seen in both captures.</p>",
    ]
    for title, rows, both in (("Identifiers", identifiers, True), ("App constants", constants, False)):
        if not rows:
            continue
        header = "<th>Capture A</th><th>Capture B</th>" if both else "<th>Value (both)</th>"
        parts.append(f"<h3>{title}</h3><table><tr><th>Host and path</th><th>Where</th><th>Key</th>{header}</tr>")
        for row in rows[:MAX_ROWS]:
            values = f"<td>{escape(row['masked_a'])}</td>" + (f"<td>{escape(row['masked_b'])}</td>" if both else "")
            parts.append(
                f"<tr><td>{escape(row['host'] + row['path'])}</td><td>{escape(row['where'])}</td>"
                f"<td>{escape(row['key'])}</td>{values}</tr>"
            )
        parts.append("</table>")
        if len(rows) > MAX_ROWS:
            parts.append(f"<p class='note'>{len(rows) - MAX_ROWS} more are in the JSON report.</p>")
    for note in comparison.get("notes") or ():
        parts.append(f"<p class='note'>{escape(note)}</p>")
    return parts
