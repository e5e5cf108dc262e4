"""The pipeline: records in, classified destinations and findings out, incrementally.

The same :class:`Analysis` serves ``auditor analyze`` (records from files) and
the live proxy addon (records as traffic arrives). It keeps aggregates, not
records, so memory grows with the number of destinations, not of requests.
"""

from __future__ import annotations

import logging
import time as time_module
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.appinfer import AppEvidence, AppGuess, HostStanding, app_standing
from auditor.classify import Classifier, HostClassification
from auditor.detect import (
    Conclusion,
    CrossRequestDetector,
    Detection,
    DetectionContext,
    Detector,
    default_cross_request_detectors,
    default_detectors,
)
from auditor.detect.fields import walk_cuts
from auditor.endpoints import endpoint_of, with_endpoints
from auditor.findings import Finding, FindingBuilder, RuleSet, Setting
from auditor.geo import LOCAL, CountryLookup, default_country_lookup
from auditor.privacy import Masker
from auditor.records import InputSummary, Record, RecordKind
from auditor.sources import InputError, ReadOptions, describe_input, read_input
from auditor.text import printable
from trackers_db.database import TrackerDatabase, load_database
from trackers_db.endpoints import Endpoint

log = logging.getLogger(__name__)


@dataclass
class AnalysisConfig:
    """Settings of one audit."""

    app_domains: tuple[str, ...] = ()
    """The app's own domains; empty means infer them (and say so)."""
    app_companies: tuple[str, ...] = ()
    """Companies (from an app profile) whose domains count as first party."""
    app_name: str | None = None
    """Name of the app under audit, for the report."""
    salt: bytes = b"classroom-auditor-default-salt"
    """Fingerprint salt; pass the installation's salt outside tests."""
    profile: Any = None
    """Device profile with known values, if any."""
    device_ips: tuple[str, ...] = ()
    """Addresses of the test device."""
    read_options: ReadOptions = field(default_factory=ReadOptions)
    rules: RuleSet | None = None
    """Finding rules and thresholds; ``None`` means the bundled default rules."""
    geoip_db: Path | None = None
    """A MaxMind/DB-IP ``.mmdb`` file to ask first for server countries (registry data otherwise)."""


@dataclass
class Destination:
    """Everything seen going to one host."""

    host: str
    name_known: bool
    requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    ips: set[str] = field(default_factory=set)
    cnames: list[str] = field(default_factory=list)
    encrypted_any: bool = False
    unencrypted_any: bool = False
    kinds: Counter[str] = field(default_factory=Counter)
    data_types: set[str] = field(default_factory=set)
    first_seen: float = float("inf")
    last_seen: float = 0.0
    times: list[float] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    requests_visible: int = 0
    """Requests and connections whose content could be read."""
    bytes_visible: int = 0
    """Bytes of the requests and connections whose content could be read."""
    hidden_notes: Counter[str] = field(default_factory=Counter)
    """Why content was not visible, for the connections where it was not."""
    endpoints: Counter[Endpoint] = field(default_factory=Counter)
    """Curated host + path endpoints its requests used (e.g. www.google.com/ads/ga-audiences)."""

    # Seen versus read: ``requests``/``bytes_seen`` count everything seen (DNS lookups add bytes, not requests);
    # the "read" counts only requests whose content was searched. DNS, SNI-only and address-only records are
    # seen, never read, so a lookup can never make a destination look inspected.

    @property
    def requests_read(self) -> int:
        """Requests and connections whose content was read."""
        return self.requests_visible

    @property
    def bytes_read(self) -> int:
        """Bytes of the requests and connections whose content was read."""
        return self.bytes_visible

    @property
    def bytes_seen(self) -> int:
        """Every byte seen to and from this destination."""
        return self.bytes_up + self.bytes_down

    @property
    def content_visible(self) -> bool:
        """True when the content of at least one request to it was read."""
        return self.requests_visible > 0


MAX_NOTES_PER_DESTINATION = 32
"""Distinct notes counted per destination; notes are short fixed phrases, so more means noise."""


@dataclass(frozen=True)
class Event:
    """Something new the live view should print."""

    kind: str
    """``destination`` or ``finding``."""
    destination: HostClassification
    finding: Finding | None = None


MAX_TIMES_PER_DESTINATION = 20000
"""Request times kept per destination for the timeline; beyond that the timeline samples."""


class Analysis:
    """Feeds records through classification, detection and findings."""

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        database: TrackerDatabase | None = None,
        detectors: Sequence[Detector] | None = None,
        countries: CountryLookup | None = None,
        cross_request_detectors: Sequence[CrossRequestDetector] | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.database = database if database is not None else load_database()
        self.detectors = list(detectors) if detectors is not None else default_detectors()
        self.cross_request_detectors = (
            list(cross_request_detectors) if cross_request_detectors is not None else default_cross_request_detectors()
        )
        self.countries = countries or default_country_lookup(self.config.geoip_db)
        self.findings = FindingBuilder(self.config.rules)
        self.classifier = self._classifier(self.config.app_domains)
        self.context = DetectionContext(
            masker=Masker(self.config.salt),
            profile=self.config.profile,
            device_ips=frozenset(self.config.device_ips),
            category_of=lambda host: self.classification(host).category,
        )
        self.destinations: dict[str, Destination] = {}
        self.inputs: list[InputSummary] = []
        self.detections_by_host: dict[str, dict[tuple[Detection, bool], list[float]]] = {}
        """Distinct detections per host with [count, first seen], kept so findings can be rebuilt
        when the app's domains are inferred at the end; repeats only count, so memory stays bounded."""
        self.app_evidence = AppEvidence()
        """What points at the app under audit, for inference when no --app-domain is given."""
        self.records_seen = 0
        self.concluded: list[Conclusion] = []
        """What the cross-request detectors concluded when findings were last rebuilt (finalize)."""
        self.detector_errors = 0
        self._dns_names: dict[str, str] = {}
        self._cnames: dict[str, list[str]] = {}
        self._classified: dict[str, HostClassification] = {}
        self.started = time_module.time()

    # -- feeding -----------------------------------------------------------

    def add_input(self, path: Path, on_record: Callable[[Record], None] | None = None) -> InputSummary:
        """Analyse one input file or session folder; problems land in the summary, never raise."""
        summary = describe_input(path)
        self.inputs.append(summary)
        try:
            for record in read_input(path, self.config.read_options, summary):
                self.add(record)
                if on_record is not None:
                    on_record(record)
        except InputError as exc:
            from auditor.records import InputProblem

            summary.problems.append(InputProblem(exc.path, exc.message, fatal=True))
        return summary

    def add(self, record: Record) -> list[Event]:
        """Analyse one record; return what is new (destinations, findings) for live display."""
        self.records_seen += 1
        events: list[Event] = []
        if record.kind is RecordKind.DNS and record.host:
            for ip in record.dns_answers:
                self._dns_names.setdefault(ip, record.host)
            if record.dns_cnames:
                self._cnames[record.host] = list(record.dns_cnames)
                self._classified.pop(record.host, None)
        host = record.host or (self._dns_names.get(record.server_ip or "") if record.server_ip else None)
        if host is not None:
            host = self.context.safe_host(host)  # a planted value in a DNS label must not name the destination
        key = host or record.server_ip or "unknown"
        destination = self.destinations.get(key)
        is_new = destination is None
        if destination is None:
            destination = Destination(host=key, name_known=host is not None)
            self.destinations[key] = destination
        self.app_evidence.observe(record, host)
        endpoint = endpoint_of(record, host)
        if endpoint is not None:
            if endpoint not in destination.endpoints:
                self._classified.pop(key, None)  # a tracking path can change what this host is
            destination.endpoints[endpoint] += 1
        # Count first: an address-only destination is classified by the addresses it just gained.
        self._count(destination, record)
        classification = self.classification(key)
        if is_new:
            events.append(Event("destination", classification))
        setting = Setting(classification, encrypted=record.encrypted)
        for detector in self.detectors:
            try:
                detections = list(detector.detect(record, self.context))
            except Exception as exc:
                self.detector_errors += 1
                # The type only: an exception's text may quote the request; the traceback is for --debug.
                log.error("detector %s failed on a record to %s (%s)", detector.name, printable(key),
                          type(exc).__name__)
                log.debug("detector %s failed", detector.name, exc_info=True)
                continue
            for detection in detections:
                destination.data_types.add(detection.data_type)
                kept = self.detections_by_host.setdefault(key, {})
                seen = kept.setdefault((detection, record.encrypted), [0, record.time])
                seen[0] += 1
                seen[1] = min(seen[1], record.time)
                for finding in self.findings.add(detection, setting, record.time):
                    events.append(Event("finding", classification, finding))
        for cut in walk_cuts(record):  # a bound of the body walk was hit: say so, never cut silently
            _count_note(destination.notes, cut)
        for cross in self.cross_request_detectors:
            try:
                cross.observe(record, key, classification.company, self.context)
            except Exception as exc:
                self.detector_errors += 1
                log.error("detector %s failed on a record to %s (%s)", cross.name, printable(key), type(exc).__name__)
                log.debug("detector %s failed", cross.name, exc_info=True)
        return events

    def _classifier(self, app_domains: Sequence[str]) -> Classifier:
        stay_third = self.findings.rules.same_company_stays_third
        return Classifier(self.database, app_domains, self.config.app_companies, stay_third)

    def conclusions(self) -> list[Conclusion]:
        """What the cross-request detectors conclude from every record so far."""
        found: list[Conclusion] = []
        for cross in self.cross_request_detectors:
            try:
                found.extend(cross.conclude(self.context))
            except Exception as exc:
                self.detector_errors += 1
                log.error("detector %s failed to conclude (%s)", cross.name, type(exc).__name__)
                log.debug("detector %s failed", cross.name, exc_info=True)
        return found

    def _count(self, destination: Destination, record: Record) -> None:
        # Notes may quote a host name or an error text: planted values in them are masked too.
        note = self.context.safe_host(record.note) if record.note else None
        if record.kind is not RecordKind.DNS:
            destination.requests += 1
            if record.content_visible:
                destination.requests_visible += 1
                destination.bytes_visible += record.bytes_up + record.bytes_down
            else:
                _count_note(destination.hidden_notes, note or _hidden_reason(record))
        destination.bytes_up += record.bytes_up
        destination.bytes_down += record.bytes_down
        if record.server_ip:
            destination.ips.add(record.server_ip)
        destination.ips.update(record.dns_answers)
        destination.encrypted_any |= record.encrypted
        if record.kind is RecordKind.HTTP and not record.encrypted:
            destination.unencrypted_any = True
        destination.kinds[record.kind.value] += 1
        if note:
            _count_note(destination.notes, note)
        if record.request_body_truncated and note != BODY_CUT_NOTE:
            _count_note(destination.notes, BODY_CUT_NOTE)
        if record.time:
            destination.first_seen = min(destination.first_seen, record.time)
            destination.last_seen = max(destination.last_seen, record.time)
            if record.kind is not RecordKind.DNS and len(destination.times) < MAX_TIMES_PER_DESTINATION:
                destination.times.append(record.time)

    def classification(self, key: str) -> HostClassification:
        """Classification of a destination key (host name or address), cached."""
        cached = self._classified.get(key)
        if cached is None:
            destination = self.destinations.get(key)
            name_known = destination.name_known if destination else True
            ips = sorted(destination.ips) if destination else []
            cached = self.classifier.classify(key if name_known else None, ips, self._cnames.get(key, ()))
            if destination is not None and destination.endpoints:
                cached = with_endpoints(cached, destination.endpoints)
            self._classified[key] = cached
        return cached

    # -- results -----------------------------------------------------------

    def inferred_app_domains(self) -> tuple[str, ...]:
        """The app's domains: as given, else the inferred one (see :mod:`auditor.appinfer`), else none."""
        if self.config.app_domains:
            return self.config.app_domains
        guess = self.app_guess()
        return (guess.domain,) if guess.domain else ()

    def app_guess(self) -> AppGuess:
        """Which app the capture is of, with evidence and a confidence (made against the database, not the app)."""
        neutral = Classifier(self.database, (), self.config.app_companies)

        def standing(host: str) -> HostStanding:
            c = neutral.classify(host, [], self._cnames.get(host, ()))
            return app_standing(host, c.category, c.is_tracker, c.company)

        return self.app_evidence.infer(standing)

    def finalize(self) -> None:
        """Re-classify with inferred app domains when none were given, and add the cross-request conclusions.

        Safe to call repeatedly (a live session writes interim reports): findings are rebuilt each time.
        """
        if not self.config.app_domains:
            inferred = self.inferred_app_domains()
            if inferred:
                self.classifier = self._classifier(inferred)
                self._classified.clear()
        if not self.config.app_domains or self.cross_request_detectors:
            self._rebuild_findings()

    def _rebuild_findings(self) -> None:
        # Party may have changed for some hosts: re-apply rules to the kept detections.
        self.findings = FindingBuilder(self.findings.rules)
        for key, items in self.detections_by_host.items():
            classification = self.classification(key)
            for (detection, encrypted), (count, first_seen) in items.items():
                self.findings.add(detection, Setting(classification, encrypted=encrypted), first_seen, int(count))
        self.concluded = self.conclusions()
        for conclusion in self.concluded:
            if self._already_detected(conclusion):
                continue
            destination = self.destinations.get(conclusion.destination)
            if destination is not None:
                destination.data_types.add(conclusion.detection.data_type)
            setting = Setting(self.classification(conclusion.destination), encrypted=conclusion.encrypted)
            self.findings.add(conclusion.detection, setting, conclusion.first_seen, conclusion.count)

    def _already_detected(self, conclusion: Conclusion) -> bool:
        """True when a per-record detector already reported this value at this place: one finding is enough.

        ID synchronisation is a statement of its own (several companies got it) and is always kept.
        """
        from auditor.detect.identifiers import DETECTOR

        found = conclusion.detection
        if found.detector != DETECTOR:
            return False
        kept = self.detections_by_host.get(conclusion.destination, {})
        return any(
            d.fingerprint == found.fingerprint and d.where is found.where and d.key == found.key for d, _enc in kept
        )

    def cap_notes(self) -> list[str]:
        """What the cross-request detectors stopped tracking because a memory bound was reached."""
        return [cross.cap_note for cross in self.cross_request_detectors if cross.cap_note]

    def classified_destinations(self) -> Iterable[tuple[Destination, HostClassification]]:
        """Every destination with its classification, busiest first."""
        for key in sorted(self.destinations, key=lambda k: (-self.destinations[k].requests, k)):
            yield self.destinations[key], self.classification(key)

    def country_of(self, ips: Iterable[str]) -> list[str]:
        """Sorted distinct ISO countries of a destination's addresses (local addresses have none)."""
        found = {self.countries.country(ip) for ip in ips}
        return sorted(c for c in found if c and c != LOCAL)


BODY_CUT_NOTE = "request body cut at the capture cap"
"""Note for a body longer than ``--body-cap``: only its start was searched (the pcap reader's phrase too)."""


def _count_note(notes: Counter[str], note: str) -> None:
    if note in notes or len(notes) < MAX_NOTES_PER_DESTINATION:
        notes[note] += 1


def _hidden_reason(record: Record) -> str:
    if record.kind is RecordKind.CONNECTION and not record.host:
        return "seen only by address"
    if record.encrypted:
        return "encrypted, no key"
    return "content not captured"
