"""The report as data: the versioned JSON contract rendered from an audit.

Every output format (JSON, CSV, HTML, the terminal summary) renders this one
dictionary, so they can never disagree. ``schema/report-1.json`` is its JSON
Schema; later versions may add keys but never remove or retype one.

This module decides nothing: findings, coverage, verdict and checklist come
from :func:`auditor.audit.run_audit`, and rendering never changes the analysis.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from auditor.analysis import Analysis
from auditor.audit import Audit, Coverage, run_audit
from auditor.endpoints import endpoints_json
from auditor.policy import load_catalogue
from trackers_db.version import __version__

SCHEMA_ID = "classroom-auditor.report/1"
TOOL_NAME = "classroom-auditor"
TIMELINE_BUCKETS = 120


def _iso(timestamp: float | None) -> str | None:
    if not timestamp or timestamp == float("inf"):
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(source: Audit | Analysis, generated_at: str | None = None) -> dict[str, Any]:
    """The JSON report of an audit; given an analysis (all records added), its audit is run first."""
    audit = source if isinstance(source, Audit) else run_audit(source)
    analysis = audit.analysis
    destinations: list[dict[str, Any]] = []
    for destination, c in audit.destinations:
        destinations.append(
            {
                "host": c.host,
                "registrable_domain": c.registrable_domain,
                "party": c.party.value,
                "party_basis": c.party_basis,
                "same_company_as_app": c.same_company_as_app,
                "company": c.company,
                "parent_company": c.parent,
                "service": c.service,
                "category": c.category,
                "is_tracker": c.is_tracker,
                "tool_traffic": c.tool_traffic,
                "countries": analysis.country_of(destination.ips),
                "hq_country": c.hq_country,
                "ips": sorted(destination.ips),
                "requests": destination.requests,
                "bytes_up": destination.bytes_up,
                "bytes_down": destination.bytes_down,
                "content_visible": destination.content_visible,
                "requests_visible": destination.requests_read,
                "requests_read": destination.requests_read,
                "bytes_seen": destination.bytes_seen,
                "bytes_read": destination.bytes_read,
                "matched_by": [{"source": m.source, "rule": m.rule} for m in c.matched_by],
                "data_types": sorted(destination.data_types),
                "cloaked_tracker": c.cloaked_tracker,
                "seen_as": sorted(destination.kinds),
                "first_seen": _iso(destination.first_seen),
                "unencrypted": destination.unencrypted_any,
                "notes": [note for note, _ in destination.notes.most_common(5)],
                "endpoints": endpoints_json(destination.endpoints),
            }
        )
    findings = [f.to_json() for f in audit.findings]
    for item in findings:
        item["first_seen"] = _iso(item["first_seen"])  # type: ignore[arg-type]
    by_type: Counter[str] = Counter(str(f["data_type"]) for f in findings if f["data_type"])
    third = [d for d in destinations if d["party"] in ("third", "unknown") and not d["tool_traffic"]]
    firsts = [d.first_seen for d, _ in audit.destinations if d.first_seen != float("inf")]
    lasts = [d.last_seen for d, _ in audit.destinations if d.last_seen]
    coverage = audit.coverage
    return {
        "schema": SCHEMA_ID,
        "generated_at": generated_at or _iso(dt.datetime.now(dt.UTC).timestamp()),
        "tool": {"name": TOOL_NAME, "version": __version__},
        "inputs": [
            {
                "path": s.path,
                "format": s.format,
                "sha256": s.sha256,
                "records": s.records,
                "problems": [p.message for p in s.problems],
            }
            for s in audit.inputs
        ],
        "trackers_db": [
            {"source": s.source, "version": s.version, "license": s.license, "entries": s.entries}
            for s in analysis.database.sources
        ],
        "profile": analysis.config.profile.summary(analysis.context.masker) if analysis.config.profile else None,
        "app": {
            "name": analysis.config.app_name,
            "domains": list(audit.app_domains),
            "domains_inferred": audit.app_domains_inferred,
            "inference": dict(audit.app_inference) if audit.app_inference is not None else None,
        },
        "summary": {
            "destinations": len(destinations),
            "third_parties": len(third),
            "trackers": sum(1 for d in destinations if d["is_tracker"]),
            "companies": len({d["company"] for d in third if d["company"]}),
            "findings": len(findings),
            "by_severity": dict(Counter(f["severity"] for f in findings)),
            "by_data_type": dict(sorted(by_type.items())),
            "records": audit.records_seen,
            "verdict": audit.verdict.value,
            "verdict_reason": audit.verdict_reason,
            "coverage": _share(coverage.share),
            "coverage_threshold": audit.rules.thresholds.checklist_min_visible,
        },
        "destinations": destinations,
        "findings": findings,
        "coverage": _coverage(coverage, audit.cross_request_caps),
        "timeline": _timeline(audit),
        "rules": audit.rules.to_json(),
        "policy": [entry.to_json() for entry in load_catalogue()],
        "checklist": [dict(answer) for answer in audit.checklist],
        "method": {
            "session_start": _iso(min(firsts)) if firsts else None,
            "session_end": _iso(max(lasts)) if lasts else None,
            "analysis_started": _iso(analysis.started),
            "profile_fingerprint": _profile_fingerprint(analysis.config.profile),
            "geo_source": getattr(analysis.countries, "name", type(analysis.countries).__name__),
        },
        "persona_trail": [dict(entry) for entry in audit.persona_trail],
        **({"comparison": audit.comparison.to_json()} if audit.comparison is not None else {}),
    }


def _share(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _profile_fingerprint(profile: Any) -> str | None:
    """The device profile's fingerprint (never its values), when a profile was used."""
    if profile is None:
        return None
    value = getattr(profile, "fingerprint", None)
    value = value() if callable(value) else value
    return str(value) if value else None


def _coverage(coverage: Coverage, cross_request_caps: tuple[str, ...]) -> dict[str, Any]:
    """What share of the traffic was read, what was only seen, and how to read more."""
    return {
        "connections": coverage.requests,
        "connections_visible": coverage.requests_read,
        "bytes": coverage.bytes,
        "bytes_visible": coverage.bytes_read,
        "share_visible": _share(coverage.share_read),
        "share_bytes_visible": _share(coverage.bytes_read / coverage.bytes if coverage.bytes else None),
        "third_party_requests": coverage.outside_requests,
        "third_party_requests_read": coverage.outside_read,
        "share_third_party_read": _share(coverage.share),
        "hidden": [
            {
                "host": h.host,
                "company": h.company,
                "is_tracker": h.is_tracker,
                "requests": h.requests,
                "requests_total": h.requests_total,
                "reason": h.reason,
                "third_party": h.outside,
            }
            for h in coverage.hidden
        ],
        "how_to_see": list(coverage.how_to_see),
        "detector_errors": coverage.detector_errors,
        "cross_request_caps": list(cross_request_caps),
    }


def _timeline(audit: Audit) -> dict[str, Any]:
    """Requests per destination over time, in at most TIMELINE_BUCKETS buckets (aggregated, not per record)."""
    times = [t for d, _ in audit.destinations for t in d.times]
    if not times:
        return {"start": None, "bucket_seconds": None, "series": []}
    start, end = min(times), max(times)
    width = max((end - start) / TIMELINE_BUCKETS, 1.0)
    series = []
    for destination, c in audit.destinations:
        if not destination.times:
            continue
        buckets: Counter[int] = Counter(min(int((t - start) / width), TIMELINE_BUCKETS) for t in destination.times)
        series.append(
            {"host": c.host, "party": c.party.value, "is_tracker": c.is_tracker, "counts": sorted(buckets.items())}
        )
    return {"start": _iso(start), "bucket_seconds": round(width, 3), "series": series}
