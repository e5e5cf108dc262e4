"""The audit stage: the one place that decides findings, verdict, coverage and checklist.

Stages, in order: sources produce records; :class:`auditor.analysis.Analysis`
classifies them and runs the detectors; :func:`run_audit` turns the finished
analysis into a frozen :class:`Audit`; the report model only renders an audit.
``auditor analyze``, the live session, the Python API and the benchmarks all
call :func:`run_audit` (through :func:`auditor.report.build_report` when they
hand it an analysis), so what a finding is never depends on who renders it.

What "read" means: a request or connection whose content the tool could
search (plain HTTP, intercepted or decrypted TLS). DNS lookups, TLS or QUIC
known only by their SNI, and connections known only by their address are
*seen*, never read. Coverage, the verdict and the checklist count what was read.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from auditor.classify import HostClassification, Party
from auditor.findings import DestinationFacts, Finding, RuleSet, Severity, destination_findings, sort_key
from auditor.policy import checklist
from auditor.trail import persona_trail

if TYPE_CHECKING:
    from auditor.analysis import Analysis, Destination
    from auditor.compare import Comparison
    from auditor.records import InputSummary

OUTSIDE_PARTIES = frozenset({Party.THIRD, Party.UNKNOWN})
"""Parties whose traffic coverage is measured on (plus every tracker, whoever owns it)."""
CONCERN_SEVERITIES = frozenset({Severity.HIGH, Severity.MEDIUM})
"""Findings of these severities make the verdict "concerns" (unless they only say content was hidden)."""


class Verdict(StrEnum):
    """The report's one-word answer (``summary.verdict``)."""

    CONCERNS = "concerns"
    """At least one high- or medium-severity finding about what was sent or to whom."""
    NO_CONCERNS_SEEN = "no_concerns_seen"
    """No such finding, and enough third-party traffic was read for that to mean something."""
    INCONCLUSIVE = "inconclusive"
    """No such finding, but too little third-party traffic was read to say so."""


@dataclass(frozen=True, slots=True)
class HiddenTraffic:
    """A destination some of whose requests were seen but not read."""

    host: str
    company: str | None
    is_tracker: bool
    requests: int
    """Requests and connections not read."""
    requests_total: int
    reason: str
    """The most frequent reason, in words (e.g. ``encrypted; no TLS key log given``)."""
    outside: bool
    """True for a third party, an address-only destination or a tracker (counts against coverage)."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the traffic could be read."""

    requests: int
    """Requests and connections seen (DNS lookups excluded), the tool's own traffic excluded."""
    requests_read: int
    bytes: int
    bytes_read: int
    outside_requests: int
    """Requests to third parties, address-only destinations and trackers."""
    outside_read: int
    hidden: tuple[HiddenTraffic, ...]
    how_to_see: tuple[str, ...]
    """What would make the hidden traffic readable, in words."""
    detector_errors: int

    @property
    def share_read(self) -> float | None:
        """Share of all requests read; ``None`` with no requests."""
        return self.requests_read / self.requests if self.requests else None

    @property
    def share(self) -> float | None:
        """``summary.coverage``: share of third-party requests read; ``None`` when there were none."""
        return self.outside_read / self.outside_requests if self.outside_requests else None

    @property
    def evidence_share(self) -> float | None:
        """The share a verdict rests on: third-party coverage, or all traffic when no third party was contacted."""
        return self.share if self.outside_requests else self.share_read


@dataclass(frozen=True)
class Audit:
    """The decided result of one analysis: what :func:`auditor.report.build_report` renders."""

    analysis: Analysis
    """The analysed traffic; read-only from here on."""
    rules: RuleSet
    app_domains: tuple[str, ...]
    app_domains_inferred: bool
    destinations: tuple[tuple[Destination, HostClassification], ...]
    """Every destination (a copy taken when the audit ran) with its classification, busiest first."""
    inputs: tuple[InputSummary, ...]
    """The inputs' provenance, as it was when the audit ran."""
    records_seen: int
    findings: tuple[Finding, ...]
    """Detection and destination findings, most severe first (copies: later records do not change them)."""
    coverage: Coverage
    verdict: Verdict
    verdict_reason: str
    """One sentence a reviewer reads under the verdict."""
    checklist: tuple[Mapping[str, Any], ...]
    app_inference: Mapping[str, Any] | None = None
    """How the app was inferred (domain, confidence, evidence) when no --app-domain was given."""
    cross_request_caps: tuple[str, ...] = ()
    """Bounds the cross-request detectors reached (what they stopped tracking), in words."""
    persona_trail: tuple[Mapping[str, Any], ...] = ()
    """Where each planted value of the profile went (masked), as :func:`auditor.trail.persona_trail` builds it."""
    comparison: Comparison | None = None
    """What a second capture of the same app told about its values (``analyze --compare``)."""

    @property
    def concerns(self) -> tuple[Finding, ...]:
        """The findings that make the verdict "concerns"."""
        return tuple(f for f in self.findings if is_concern(f, self.rules))


def run_audit(analysis: Analysis, comparison: Comparison | None = None) -> Audit:
    """Decide findings, coverage, verdict and checklist for an analysis whose records are all in.

    Calls :meth:`Analysis.finalize` (app-domain inference, cross-request
    conclusions) and nothing else that changes the analysis. ``comparison`` is
    the result of comparing these captures with a second run of the app, when
    there was one; the audit keeps it for the report.
    """
    analysis.finalize()
    rules = analysis.findings.rules
    # Copies: a live session keeps adding records, and an audit must render the same every time.
    destinations = tuple((_snapshot(d), c) for d, c in analysis.classified_destinations())
    detected = [_copy_finding(f) for f in analysis.findings.findings()]
    decided = detected + destination_findings(rules, _destination_facts(analysis, destinations))
    findings = tuple(sorted(decided, key=sort_key))
    coverage = measure_coverage(destinations, analysis.detector_errors)
    verdict, reason = decide_verdict(findings, coverage, rules)
    app_domains = analysis.config.app_domains or analysis.inferred_app_domains()
    answers = checklist(
        # Only what the checklist reads (a full to_json per finding costs twice as much on big sessions).
        [{"rule": f.rule, "severity": f.severity.value, "host": f.host, "policy_refs": f.policy_refs}
         for f in findings],
        rules.to_json()["rules"],
        coverage.evidence_share,
        rules.thresholds.checklist_min_visible,
        coverage_rules=coverage_rule_ids(rules),
        read_requests=coverage.outside_read if coverage.outside_requests else coverage.requests_read,
    )
    return Audit(
        analysis=analysis,
        rules=rules,
        app_domains=tuple(app_domains),
        app_domains_inferred=not analysis.config.app_domains and bool(app_domains),
        destinations=destinations,
        inputs=tuple(copy.deepcopy(analysis.inputs)),
        records_seen=analysis.records_seen,
        findings=findings,
        coverage=coverage,
        verdict=verdict,
        verdict_reason=reason,
        checklist=tuple(answers),
        app_inference=None if analysis.config.app_domains else analysis.app_guess().to_json(),
        cross_request_caps=tuple(analysis.cap_notes()),
        persona_trail=tuple(persona_trail(analysis)),
        comparison=comparison,
    )


def _copy_finding(finding: Finding) -> Finding:
    """A copy later sightings cannot change (the builder merges repeats into its own findings)."""
    copied = copy.copy(finding)
    copied.policy_refs = list(finding.policy_refs)
    return copied


def _snapshot(destination: Destination) -> Destination:
    """A copy whose counters and lists later records cannot change (shallow per field: fast for long lists)."""
    fields = {f.name: copy.copy(getattr(destination, f.name)) for f in dataclasses.fields(destination)}
    return dataclasses.replace(destination, **fields)


def coverage_rule_ids(rules: RuleSet) -> frozenset[str]:
    """Rules whose findings say content was hidden (``content_visible = false``), not that something was sent."""
    return frozenset(r.id for r in rules.destination_rules if r.when.content_visible is False)


def is_concern(finding: Finding, rules: RuleSet) -> bool:
    """True for a high or medium finding about what was sent or to whom (not one about hidden content)."""
    return finding.severity in CONCERN_SEVERITIES and finding.rule not in coverage_rule_ids(rules)


def is_outside(c: HostClassification) -> bool:
    """True when a destination's traffic counts towards third-party coverage."""
    return not c.tool_traffic and (c.party in OUTSIDE_PARTIES or c.is_tracker)


def measure_coverage(
    destinations: Sequence[tuple[Destination, HostClassification]], detector_errors: int = 0
) -> Coverage:
    """Seen versus read, over all destinations and over the third parties."""
    requests = read = total_bytes = read_bytes = outside = outside_read = 0
    hidden: list[HiddenTraffic] = []
    outside_reasons: Counter[str] = Counter()
    other_reasons: Counter[str] = Counter()
    for destination, c in destinations:
        if c.tool_traffic:
            continue
        requests += destination.requests
        read += destination.requests_read
        total_bytes += destination.bytes_seen
        read_bytes += destination.bytes_read
        counts = is_outside(c)
        if counts:
            outside += destination.requests
            outside_read += destination.requests_read
        not_read = destination.requests - destination.requests_read
        if not_read > 0:
            reason = destination.hidden_notes.most_common(1)[0][0] if destination.hidden_notes else "not visible"
            hidden.append(
                HiddenTraffic(c.host, c.company, c.is_tracker, not_read, destination.requests, reason, counts)
            )
            (outside_reasons if counts else other_reasons).update(destination.hidden_notes)
    return Coverage(
        requests=requests,
        requests_read=read,
        bytes=total_bytes,
        bytes_read=read_bytes,
        outside_requests=outside,
        outside_read=outside_read,
        hidden=tuple(hidden),
        # Advice for the third-party traffic the verdict rests on; for the rest only when no third party was seen.
        how_to_see=how_to_see(outside_reasons if outside else other_reasons),
        detector_errors=detector_errors,
    )


_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no tls key log", "no key", "key log's keys"),
     "Record the device's TLS keys (SSLKEYLOGFILE, friTap or PiRogue) and pass them with --keylog."),
    (("pinning", "rejected the certificate", "certificate"),
     "The app refused the proxy's certificate (pinning): unpin it (for example with Frida or objection) "
     "and record again through the proxy."),
    (("quic",),
     "Block UDP port 443 on the test network so the app falls back to TLS over TCP, which the proxy or a key "
     "log can open."),
    (("seen only by address", "handshake not in the capture"),
     "Record through the proxy (auditor proxy) from the start of the session, so every connection is named "
     "and opened."),
)
_DEFAULT_ADVICE = (
    "Record through the proxy (auditor proxy) with its certificate installed on the device, so HTTPS content "
    "can be read."
)


def how_to_see(reasons: Counter[str]) -> tuple[str, ...]:
    """Advice that would make the hidden traffic readable, most relevant first."""
    if not reasons:
        return ()
    advice: list[str] = []
    for reason, _ in reasons.most_common():
        text = reason.lower()
        found = next((tip for words, tip in _ADVICE if any(w in text for w in words)), _DEFAULT_ADVICE)
        if found not in advice:
            advice.append(found)
    return tuple(advice)


def decide_verdict(findings: Sequence[Finding], coverage: Coverage, rules: RuleSet) -> tuple[Verdict, str]:
    """The verdict and the sentence that explains it."""
    hidden_rules = coverage_rule_ids(rules)
    concerns = [f for f in findings if f.severity in CONCERN_SEVERITIES and f.rule not in hidden_rules]
    minimum = rules.thresholds.checklist_min_visible
    share = coverage.evidence_share
    if concerns:
        by_severity = Counter(f.severity.value for f in concerns)
        counted = " and ".join(f"{by_severity[s]} {s}-severity" for s in ("high", "medium") if by_severity[s])
        hosts = sorted({f.host for f in concerns})
        shown = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
        more = ""
        if share is not None and share < minimum:
            read_of = "the third-party traffic" if coverage.outside_requests else "the traffic"
            more = f" Only {share:.0%} of {read_of} could be read, so there may be more."
        return Verdict.CONCERNS, f"{counted} finding(s) need review ({shown}).{more}"
    if share is None:
        return Verdict.INCONCLUSIVE, "No traffic was analysed."
    scope = "third-party traffic" if coverage.outside_requests else "traffic (no third party was contacted)"
    if share >= minimum and (coverage.outside_read or coverage.requests_read):
        return Verdict.NO_CONCERNS_SEEN, (
            f"No high- or medium-severity finding in the {share:.0%} of {scope} that could be read. "
            "Finding nothing does not prove nothing was sent."
        )
    hidden = [h for h in coverage.hidden if h.outside or not coverage.outside_requests]
    trackers = sum(1 for h in hidden if h.is_tracker)
    about = f"{sum(h.requests for h in hidden)} request(s) to {len(hidden)} destination(s)"
    if trackers:
        about += f", {trackers} of them known trackers,"
    return Verdict.INCONCLUSIVE, (
        f"Only {share:.0%} of {scope} could be read (at least {minimum:.0%} needed to say no concerns were seen): "
        f"{about} could not be inspected."
    )


def _destination_facts(
    analysis: Analysis, destinations: Sequence[tuple[Destination, HostClassification]]
) -> list[DestinationFacts]:
    """What destination rules need to know about each destination (the tool's own traffic left out)."""
    facts = []
    for destination, c in destinations:
        if c.tool_traffic:
            continue
        facts.append(
            DestinationFacts(
                destination=c,
                requests=destination.requests,
                data_types=frozenset(destination.data_types),
                content_visible=destination.requests_read > 0,
                first_seen=destination.first_seen if destination.first_seen != float("inf") else None,
                countries=tuple(analysis.country_of(destination.ips)),
                notes=tuple(note for note, _ in destination.hidden_notes.most_common(3))
                or tuple(note for note, _ in destination.notes.most_common(3)),
            )
        )
    return facts
