"""The report as data: the versioned JSON contract built from an analysis.

Every output format (JSON, CSV, HTML, the terminal summary) renders this one
dictionary, so they can never disagree. ``schema/report-1.json`` is its JSON
Schema; later versions may add keys but never remove or retype one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from auditor import __version__
from auditor.analysis import Analysis
from auditor.endpoints import endpoints_json
from auditor.findings import DestinationFacts, destination_findings, sort_key
from auditor.policy import checklist, load_catalogue

SCHEMA_ID = "classroom-auditor.report/1"
TOOL_NAME = "classroom-auditor"
TIMELINE_BUCKETS = 120


def _iso(timestamp: float | None) -> str | None:
    if not timestamp or timestamp == float("inf"):
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(analysis: Analysis, generated_at: str | None = None) -> dict[str, Any]:
    """The JSON report of an analysis (call after all records were added)."""
    analysis.finalize()
    destinations: list[dict[str, Any]] = []
    for destination, c in analysis.classified_destinations():
        destinations.append(
            {
                "host": c.host,
                "registrable_domain": c.registrable_domain,
                "party": c.party.value,
                "company": c.company,
                "parent_company": c.parent,
                "service": c.service,
                "category": c.category,
                "is_tracker": c.is_tracker,
                "countries": analysis.country_of(destination.ips),
                "hq_country": c.hq_country,
                "ips": sorted(destination.ips),
                "requests": destination.requests,
                "bytes_up": destination.bytes_up,
                "bytes_down": destination.bytes_down,
                "content_visible": destination.content_visible,
                "requests_visible": destination.requests_visible,
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
    rules = analysis.findings.rules
    all_findings = analysis.findings.findings() + destination_findings(rules, _destination_facts(analysis))
    findings = [f.to_json() for f in sorted(all_findings, key=sort_key)]
    for item in findings:
        item["first_seen"] = _iso(item["first_seen"])  # type: ignore[arg-type]
    by_type: Counter[str] = Counter(str(f["data_type"]) for f in findings if f["data_type"])
    third = [d for d in destinations if d["party"] in ("third", "unknown")]
    app_domains = analysis.config.app_domains or analysis.inferred_app_domains()
    coverage = _coverage(analysis)
    rules_json = rules.to_json()
    firsts = [d.first_seen for d in analysis.destinations.values() if d.first_seen != float("inf")]
    lasts = [d.last_seen for d in analysis.destinations.values() if d.last_seen]
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
            for s in analysis.inputs
        ],
        "trackers_db": [
            {"source": s.source, "version": s.version, "license": s.license, "entries": s.entries}
            for s in analysis.database.sources
        ],
        "profile": analysis.config.profile.summary(analysis.context.masker) if analysis.config.profile else None,
        "app": {
            "name": analysis.config.app_name,
            "domains": list(app_domains),
            "domains_inferred": not analysis.config.app_domains and bool(app_domains),
            "inference": None if analysis.config.app_domains else analysis.app_guess().to_json(),
        },
        "summary": {
            "destinations": len(destinations),
            "third_parties": len(third),
            "trackers": sum(1 for d in destinations if d["is_tracker"]),
            "companies": len({d["company"] for d in third if d["company"]}),
            "findings": len(findings),
            "by_severity": dict(Counter(f["severity"] for f in findings)),
            "by_data_type": dict(sorted(by_type.items())),
            "records": analysis.records_seen,
        },
        "destinations": destinations,
        "findings": findings,
        "coverage": coverage,
        "timeline": _timeline(analysis),
        "rules": rules_json,
        "policy": [entry.to_json() for entry in load_catalogue()],
        "checklist": checklist(
            findings, rules_json["rules"], coverage["share_visible"], rules.thresholds.checklist_min_visible
        ),
        "method": {
            "session_start": _iso(min(firsts)) if firsts else None,
            "session_end": _iso(max(lasts)) if lasts else None,
            "analysis_started": _iso(analysis.started),
            "profile_fingerprint": _profile_fingerprint(analysis.config.profile),
            "geo_source": getattr(analysis.countries, "name", type(analysis.countries).__name__),
        },
    }


def _profile_fingerprint(profile: Any) -> str | None:
    """The device profile's fingerprint (never its values), when a profile was used."""
    if profile is None:
        return None
    value = getattr(profile, "fingerprint", None)
    value = value() if callable(value) else value
    return str(value) if value else None


def _destination_facts(analysis: Analysis) -> list[DestinationFacts]:
    """What destination rules need to know about each destination."""
    from auditor.geo import LOCAL

    facts = []
    for destination, c in analysis.classified_destinations():
        countries = tuple(cc for cc in analysis.country_of(destination.ips) if cc != LOCAL)
        facts.append(
            DestinationFacts(
                destination=c,
                requests=destination.requests,
                data_types=frozenset(destination.data_types),
                content_visible=destination.content_visible,
                first_seen=destination.first_seen if destination.first_seen != float("inf") else None,
                countries=countries,
                notes=tuple(note for note, _ in destination.notes.most_common(3)),
            )
        )
    return facts


def _coverage(analysis: Analysis) -> dict[str, Any]:
    """What share of the traffic could be inspected, and what could not."""
    connections = visible = 0
    bytes_total = bytes_visible = 0
    hidden: list[dict[str, Any]] = []
    for destination, c in analysis.classified_destinations():
        connections += destination.requests
        visible += destination.requests_visible
        bytes_total += destination.bytes_up + destination.bytes_down
        bytes_visible += destination.bytes_visible
        not_seen = destination.requests - destination.requests_visible
        if not_seen > 0:
            reason = destination.hidden_notes.most_common(1)[0][0] if destination.hidden_notes else "not visible"
            hidden.append(
                {
                    "host": c.host,
                    "company": c.company,
                    "is_tracker": c.is_tracker,
                    "requests": not_seen,
                    "requests_total": destination.requests,
                    "reason": reason,
                }
            )
    return {
        "connections": connections,
        "connections_visible": visible,
        "bytes": bytes_total,
        "bytes_visible": bytes_visible,
        "share_visible": round(visible / connections, 4) if connections else None,
        "share_bytes_visible": round(bytes_visible / bytes_total, 4) if bytes_total else None,
        "hidden": hidden,
        "detector_errors": analysis.detector_errors,
    }


def _timeline(analysis: Analysis) -> dict[str, Any]:
    """Requests per destination over time, in at most TIMELINE_BUCKETS buckets (aggregated, not per record)."""
    times = [t for d in analysis.destinations.values() for t in d.times]
    if not times:
        return {"start": None, "bucket_seconds": None, "series": []}
    start, end = min(times), max(times)
    width = max((end - start) / TIMELINE_BUCKETS, 1.0)
    series = []
    for destination, c in analysis.classified_destinations():
        if not destination.times:
            continue
        buckets: Counter[int] = Counter(min(int((t - start) / width), TIMELINE_BUCKETS) for t in destination.times)
        series.append(
            {"host": c.host, "party": c.party.value, "is_tracker": c.is_tracker, "counts": sorted(buckets.items())}
        )
    return {"start": _iso(start), "bucket_seconds": round(width, 3), "series": series}
