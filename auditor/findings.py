"""Findings: rules that turn detections at classified destinations into reviewable statements.

A rule looks at one detection in its setting (the destination's
classification and whether the traffic was encrypted) and says whether it
applies and how severe it is. Findings with the same rule, destination,
place and value are merged and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from auditor.classify import HostClassification, Party
from auditor.detect import Detection


class Severity(str, Enum):
    """How much a finding should weigh in a vetting decision."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return {"high": 3, "medium": 2, "low": 1, "info": 0}[self.value]


BIOMETRIC_TYPES = frozenset({"voice", "face_image", "video", "biometric_other", "attention_tracking"})
IDENTIFIER_TYPES = frozenset({"advertising_id", "device_id", "hardware_id", "network_id", "other_identifier"})
LOCATION_TYPES = frozenset({"precise_location", "coarse_location"})
AD_ANALYTICS_CATEGORIES = frozenset(
    {"advertising", "analytics", "attribution", "session_replay", "data_broker", "social", "fingerprinting"}
)


@dataclass(frozen=True, slots=True)
class Setting:
    """What a rule may look at besides the detection."""

    destination: HostClassification
    encrypted: bool


@dataclass(frozen=True)
class Rule:
    """One finding rule."""

    id: str
    """Stable identifier used in reports, e.g. ``location-to-third-party``."""
    title: str
    """One-line statement of the problem, for people."""
    severity: Severity
    applies: Callable[[Detection, Setting], bool]
    policy_refs: tuple[str, ...] = ()
    """Policy catalogue entries this rule relates to."""


def _third(setting: Setting) -> bool:
    return setting.destination.party in (Party.THIRD, Party.UNKNOWN)


RULES: tuple[Rule, ...] = (
    Rule(
        "biometric-data-leaves-device",
        "Voice, image, video or other biometric data leaves the device",
        Severity.HIGH,
        lambda d, s: d.data_type in BIOMETRIC_TYPES,
    ),
    Rule(
        "personal-data-over-http",
        "Personal data is sent without encryption",
        Severity.HIGH,
        lambda d, s: not s.encrypted and s.destination.party is not Party.LOCAL,
    ),
    Rule(
        "precise-location-to-third-party",
        "Precise location goes to a third party",
        Severity.HIGH,
        lambda d, s: d.data_type == "precise_location" and _third(s),
    ),
    Rule(
        "personal-data-to-ad-or-analytics",
        "Personal data goes to an advertising or analytics company",
        Severity.HIGH,
        lambda d, s: _third(s) and s.destination.category in AD_ANALYTICS_CATEGORIES,
    ),
    Rule(
        "location-to-third-party",
        "Location goes to a third party",
        Severity.MEDIUM,
        lambda d, s: d.data_type in LOCATION_TYPES and _third(s),
    ),
    Rule(
        "identifier-to-third-party",
        "A persistent identifier goes to a third party",
        Severity.MEDIUM,
        lambda d, s: d.data_type in IDENTIFIER_TYPES and _third(s),
    ),
    Rule(
        "personal-data-to-third-party",
        "Personal data goes to a third party",
        Severity.MEDIUM,
        lambda d, s: _third(s),
    ),
    Rule(
        "personal-data-to-first-party",
        "Personal data goes to the app's own service",
        Severity.INFO,
        lambda d, s: s.destination.party is Party.FIRST,
    ),
)


@dataclass
class Finding:
    """A rule that applied, with its evidence merged over all records."""

    rule: str
    title: str
    severity: Severity
    data_type: str | None
    host: str
    company: str | None
    party: str
    where: str | None
    key: str | None
    encoding: str | None
    masked_value: str | None
    fingerprint: str | None
    count: int
    first_seen: float
    policy_refs: list[str] = field(default_factory=list)
    confidence: float = 1.0

    def to_json(self) -> dict[str, object]:
        """The report contract's ``findings[]`` item."""
        return {
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity.value,
            "data_type": self.data_type,
            "host": self.host,
            "company": self.company,
            "party": self.party,
            "where": self.where,
            "key": self.key,
            "encoding": self.encoding,
            "masked_value": self.masked_value,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "first_seen": self.first_seen,
            "policy_refs": list(self.policy_refs),
            "confidence": round(self.confidence, 3),
        }


class FindingBuilder:
    """Applies the rules to detections as they arrive and merges repeats."""

    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        self.rules = rules
        self._findings: dict[tuple[object, ...], Finding] = {}

    def add(self, detection: Detection, setting: Setting, time: float) -> list[Finding]:
        """Apply the first matching rule; return the finding if it is new."""
        for rule in self.rules:
            if not rule.applies(detection, setting):
                continue
            dest = setting.destination
            key = (rule.id, detection.data_type, dest.host, detection.where, detection.key, detection.fingerprint)
            existing = self._findings.get(key)
            if existing is not None:
                existing.count += 1
                existing.first_seen = min(existing.first_seen, time)
                return []
            finding = Finding(
                rule=rule.id,
                title=rule.title,
                severity=rule.severity,
                data_type=detection.data_type,
                host=dest.host,
                company=dest.company,
                party=dest.party.value,
                where=detection.where.value,
                key=detection.key,
                encoding=detection.encoding,
                masked_value=detection.masked_value,
                fingerprint=detection.fingerprint,
                count=1,
                first_seen=time,
                policy_refs=list(rule.policy_refs),
                confidence=detection.confidence,
            )
            self._findings[key] = finding
            return [finding]
        return []

    def findings(self) -> list[Finding]:
        """All findings, most severe first."""
        return sorted(self._findings.values(), key=lambda f: (-f.severity.rank, f.host, f.rule, f.key or ""))
