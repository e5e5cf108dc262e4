"""The verdict and coverage in words, the same for the terminal summary and the HTML page.

Works on the report contract only (``summary.verdict``, ``summary.coverage``,
``coverage.how_to_see``), so a saved report re-rendered later says the same.
"""

from __future__ import annotations

from typing import Any

VERDICT_WORDS = {
    "concerns": "Concerns found",
    "no_concerns_seen": "No concerns seen",
    "inconclusive": "Inconclusive",
}
"""Plain words for ``summary.verdict`` (the slug stays in JSON)."""


def coverage_sentence(report: dict[str, Any]) -> str:
    """How much of the traffic was read, in one sentence."""
    summary = report["summary"]
    coverage = summary.get("coverage")
    threshold = summary.get("coverage_threshold")
    inconclusive = summary.get("verdict") == "inconclusive"  # its reason already names the threshold
    needed = ""
    if threshold is not None and not inconclusive:
        needed = f" ({threshold:.0%} needed to say no concerns were seen)"
    if coverage is not None:
        return f"Coverage: {coverage:.0%} of the requests to third parties could be read{needed}."
    overall = report.get("coverage", {}).get("share_visible")
    if overall is None:
        return "Coverage: no traffic was analysed."
    return f"Coverage: no third party was contacted; {overall:.0%} of all requests could be read."


def verdict_lines(report: dict[str, Any]) -> list[str]:
    """The verdict, its reason, the coverage and (when inconclusive) how to see more; empty for older reports."""
    summary = report["summary"]
    verdict = summary.get("verdict")
    if verdict not in VERDICT_WORDS:
        return []
    lines = [f"Verdict: {VERDICT_WORDS[verdict]}. {summary.get('verdict_reason', '')}".rstrip()]
    lines.append(coverage_sentence(report))
    if verdict == "inconclusive":
        lines.extend(f"  To see more: {tip}" for tip in report.get("coverage", {}).get("how_to_see", []))
    return lines
