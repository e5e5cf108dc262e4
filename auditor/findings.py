"""Findings: data-driven rules that turn detections and destinations into reviewable statements.

The rules live in a TOML file (``auditor/rules/default.toml``; a custom one is
passed with ``--rules``). There are two scopes:

* **detection** rules look at one piece of personal data found in one request,
  in its setting (the destination's classification, whether the request was
  encrypted). They run incrementally as records arrive, so the live proxy can
  print findings at once. The first matching rule wins.
* **destination** rules look at a whole destination once the capture is
  complete: a tracker contacted in the first seconds, a tracker whose traffic
  could not be inspected, personal data sent abroad. They need no detection,
  so their ``data_type`` may be ``None``.

Findings with the same rule, destination, place and value are merged and counted.
docs/rules.md documents every rule of the default file.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.classify import STAY_THIRD_PURPOSES, HostClassification
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


class Scope(str, Enum):
    """What a rule looks at."""

    DETECTION = "detection"
    """One piece of personal data in one request."""
    DESTINATION = "destination"
    """A destination as a whole, after the capture is complete."""


class RulesError(ValueError):
    """A rule file is unreadable or invalid; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Setting:
    """What a detection rule may look at besides the detection."""

    destination: HostClassification
    """Classification of the host the request went to."""
    encrypted: bool
    """True when the request crossed the network encrypted."""


@dataclass(frozen=True, slots=True)
class DestinationFacts:
    """What a destination rule may look at: one destination after the capture."""

    destination: HostClassification
    """Its classification."""
    requests: int
    """Requests and connections seen (DNS lookups excluded)."""
    data_types: frozenset[str]
    """Personal data types detected in traffic to it."""
    content_visible: bool
    """True when the content of at least one request to it was read (a DNS lookup or an SNI is not content)."""
    first_seen: float | None
    """When it was first contacted (Unix seconds), if known."""
    countries: tuple[str, ...] = ()
    """Countries of its server addresses (ISO codes, ``local`` excluded)."""
    notes: tuple[str, ...] = ()
    """Why content was missing, most frequent first."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The numbers rules compare against; all configurable."""

    first_seconds: float = 10.0
    """Length of the "before any user interaction" window from the session start."""
    home_country: str | None = None
    """The school's country (ISO 3166-1 alpha-2); ``None`` turns country rules off."""
    min_confidence: float = 0.5
    """Detections below this confidence raise no finding."""
    checklist_min_visible: float = 0.8
    """Share of requests that must be inspectable to answer a policy point "met"."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """A rule's conditions; ``None`` means "any". All given conditions must hold."""

    data_types: frozenset[str] | None = None
    parties: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    is_tracker: bool | None = None
    encrypted: bool | None = None
    has_personal_data: bool | None = None
    content_visible: bool | None = None
    within_first_seconds: bool | None = None
    outside_home_country: bool | None = None
    detectors: frozenset[str] | None = None
    """The detection came from one of these detectors (e.g. ``typed-text``)."""
    confidence_below: float | None = None
    """The detection is less certain than this (an identifier inferred from weak signals only)."""

    def destination_matches(self, c: HostClassification) -> bool:
        """The conditions about the destination's classification."""
        if self.parties is not None and self.parties.isdisjoint(party_names(c)):
            return False
        if self.categories is not None and c.category not in self.categories:
            return False
        return self.is_tracker is None or c.is_tracker == self.is_tracker


def party_names(c: HostClassification) -> frozenset[str]:
    """The names a rule's ``parties`` may use for this destination.

    ``same_company`` also names a destination the app's company owns that is not one of the app's domains
    (a first party by that basis, or a third party kept so by its purpose); its own party still matches.
    """
    return frozenset({c.party.value, "same_company"}) if c.same_company else frozenset({c.party.value})


_SET_CONDITIONS = ("data_types", "parties", "categories", "detectors")
_BOOL_CONDITIONS = (
    "is_tracker", "encrypted", "has_personal_data", "content_visible", "within_first_seconds", "outside_home_country",
)
_DESTINATION_ONLY = frozenset({"has_personal_data", "content_visible", "within_first_seconds", "outside_home_country"})
_NUMBER_CONDITIONS = ("confidence_below",)
_DETECTION_ONLY = frozenset({"data_types", "encrypted", "detectors", "confidence_below"})


@dataclass(frozen=True)
class Rule:
    """One finding rule."""

    id: str
    """Stable identifier used in reports, e.g. ``location-to-third-party``."""
    title: str
    """One-line statement of the problem, for people."""
    severity: Severity
    """Severity of the findings it raises."""
    scope: Scope = Scope.DETECTION
    """Whether it judges single detections or whole destinations."""
    when: Conditions = field(default_factory=Conditions)
    """Conditions that must all hold."""
    policy_refs: tuple[str, ...] = ()
    """Policy catalogue entries this rule relates to."""
    explanation: str = ""
    """What the finding means, for the report and docs/rules.md."""

    def applies(self, detection: Detection, setting: Setting, thresholds: Thresholds) -> bool:
        """True when this detection rule matches the detection in its setting."""
        w = self.when
        if self.scope is not Scope.DETECTION or detection.confidence < thresholds.min_confidence:
            return False
        if w.data_types is not None and detection.data_type not in w.data_types:
            return False
        if w.encrypted is not None and setting.encrypted != w.encrypted:
            return False
        if w.detectors is not None and detection.detector not in w.detectors:
            return False
        if w.confidence_below is not None and detection.confidence >= w.confidence_below:
            return False
        return w.destination_matches(setting.destination)

    def needs_home_country(self) -> bool:
        """True when the rule compares against ``--home-country``."""
        return self.when.outside_home_country is not None


@dataclass(frozen=True)
class RuleSet:
    """The rules of one audit, with their thresholds and where they came from."""

    rules: tuple[Rule, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)
    source: str = "default"
    """``default`` or the path of the custom rule file."""
    sha256: str = ""
    """Hash of the rule file's bytes, for the report's provenance."""
    same_company_stays_third: frozenset[str] = STAY_THIRD_PURPOSES
    """Purposes for which "same company as the app" never makes a destination first party (``[party]``)."""

    @property
    def detection_rules(self) -> tuple[Rule, ...]:
        """Rules applied to each detection, in order."""
        return tuple(r for r in self.rules if r.scope is Scope.DETECTION)

    @property
    def destination_rules(self) -> tuple[Rule, ...]:
        """Rules applied to each destination at the end."""
        return tuple(r for r in self.rules if r.scope is Scope.DESTINATION)

    def evaluable(self, rule: Rule) -> bool:
        """False for rules that cannot run with these thresholds (a country rule without a home country)."""
        return not rule.needs_home_country() or bool(self.thresholds.home_country)

    def with_thresholds(self, **changes: Any) -> RuleSet:
        """A copy with some thresholds replaced; ``None`` values keep the file's setting."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "home_country" in given:
            given["home_country"] = _country_code(given["home_country"], "--home-country")
        return replace(self, thresholds=replace(self.thresholds, **given))

    def to_json(self) -> dict[str, Any]:
        """The report's description of the rules used."""
        t = self.thresholds
        return {
            "source": self.source,
            "sha256": self.sha256,
            "thresholds": {
                "first_seconds": t.first_seconds,
                "home_country": t.home_country,
                "min_confidence": t.min_confidence,
                "checklist_min_visible": t.checklist_min_visible,
            },
            "same_company_stays_third": sorted(self.same_company_stays_third),
            "rules": [
                {
                    "id": r.id,
                    "title": r.title,
                    "severity": r.severity.value,
                    "scope": r.scope.value,
                    "policy_refs": list(r.policy_refs),
                    "explanation": r.explanation,
                    "evaluated": self.evaluable(r),
                }
                for r in self.rules
            ],
        }


def _country_code(value: object, where: str) -> str | None:
    text = str(value or "").strip().upper()
    if not text:
        return None
    if len(text) != 2 or not text.isalpha():
        raise RulesError(f"{where}: {value!r} is not a two-letter ISO 3166-1 country code (e.g. CA, NL, HK)")
    return text


def _parse_conditions(raw: Mapping[str, Any], where: str, scope: Scope) -> Conditions:
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _SET_CONDITIONS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RulesError(f"{where}: '{name}' must be a list of strings")
            values[name] = frozenset(value)
        elif name in _BOOL_CONDITIONS:
            if not isinstance(value, bool):
                raise RulesError(f"{where}: '{name}' must be true or false")
            values[name] = value
        elif name in _NUMBER_CONDITIONS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise RulesError(f"{where}: '{name}' must be a number")
            values[name] = float(value)
        else:
            raise RulesError(f"{where}: unknown condition '{name}'")
        if scope is Scope.DETECTION and name in _DESTINATION_ONLY:
            raise RulesError(f"{where}: '{name}' applies to destination rules only")
        if scope is Scope.DESTINATION and name in _DETECTION_ONLY:
            raise RulesError(f"{where}: '{name}' applies to detection rules only")
    return Conditions(**values)


def parse_rules(text: str, source: str = "default") -> RuleSet:
    """Parse a rule file's text; raises :class:`RulesError` naming ``source`` and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from None
    raw_thresholds = data.get("thresholds", {})
    try:
        thresholds = Thresholds(
            first_seconds=float(raw_thresholds.get("first_seconds", 10.0)),
            home_country=_country_code(raw_thresholds.get("home_country"), f"{source}: thresholds.home_country"),
            min_confidence=float(raw_thresholds.get("min_confidence", 0.5)),
            checklist_min_visible=float(raw_thresholds.get("checklist_min_visible", 0.8)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RulesError):
            raise
        raise RulesError(f"{source}: thresholds: {exc}") from None
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("rule", [])):
        where = f"{source}: rule #{index + 1}"
        try:
            rule_id = str(raw["id"])
            where = f"{source}: rule '{rule_id}'"
            scope = Scope(raw.get("scope", "detection"))
            rule = Rule(
                id=rule_id,
                title=str(raw["title"]),
                severity=Severity(raw["severity"]),
                scope=scope,
                when=_parse_conditions(raw.get("when", {}), where, scope),
                policy_refs=tuple(str(r) for r in raw.get("policy_refs", ())),
                explanation=str(raw.get("explanation", "")),
            )
        except KeyError as exc:
            raise RulesError(f"{where}: missing '{exc.args[0]}'") from None
        except ValueError as exc:
            if isinstance(exc, RulesError):
                raise
            raise RulesError(f"{where}: {exc}") from None
        if rule.id in seen:
            raise RulesError(f"{where}: duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    if not rules:
        raise RulesError(f"{source}: no [[rule]] entries")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return RuleSet(tuple(rules), thresholds, source, digest, _stay_third(data.get("party", {}), source))


def _stay_third(raw: Mapping[str, Any], source: str) -> frozenset[str]:
    """The ``[party] same_company_stays_third`` list, checked against the category vocabulary."""
    from trackers_db.vocabulary import CATEGORIES

    values = raw.get("same_company_stays_third", sorted(STAY_THIRD_PURPOSES))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RulesError(f"{source}: party.same_company_stays_third must be a list of category names")
    unknown = sorted(set(values) - set(CATEGORIES))
    if unknown:
        raise RulesError(f"{source}: party.same_company_stays_third: unknown category {unknown[0]!r}")
    return frozenset(values)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules from ``path``, or the bundled default rules."""
    if path is None:
        text = resources.files("auditor").joinpath("rules/default.toml").read_text(encoding="utf-8")
        return parse_rules(text, "default")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RulesError(f"{path}: cannot read the rule file: {reason}") from None
    return parse_rules(text, str(path))


_DEFAULT_RULES: RuleSet | None = None


def default_rules() -> RuleSet:
    """The bundled rules (parsed once)."""
    global _DEFAULT_RULES
    if _DEFAULT_RULES is None:
        _DEFAULT_RULES = load_rules()
    return _DEFAULT_RULES


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
    detail: str | None = None
    """For destination findings: the facts that made the rule match, in words."""
    scope: str = Scope.DETECTION.value
    reason: str | None = None
    """One sentence for a reviewer: what was sent, where, and the decoder or rule that decided it."""
    purpose: str | None = None
    """The destination's category (what the service is for), a fact separate from its party."""
    party_basis: str | None = None
    """Why a first-party destination is first party (``app_domain`` or ``same_company``)."""

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
            "scope": self.scope,
            "detail": self.detail,
            "reason": self.reason,
            "purpose": self.purpose,
            "party_basis": self.party_basis,
        }


def sort_key(finding: Finding) -> tuple[object, ...]:
    """Most severe first, then by host and rule."""
    return (-finding.severity.rank, finding.host, finding.rule, finding.key or "", finding.data_type or "")


class FindingBuilder:
    """Applies the detection rules to detections as they arrive and merges repeats."""

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules if rules is not None else default_rules()
        self._detection_rules = self.rules.detection_rules
        self._findings: dict[tuple[object, ...], Finding] = {}

    def add(self, detection: Detection, setting: Setting, time: float, count: int = 1) -> list[Finding]:
        """Apply the first matching rule to ``count`` sightings; return the finding if it is new."""
        thresholds = self.rules.thresholds
        for rule in self._detection_rules:
            if not rule.applies(detection, setting, thresholds):
                continue
            dest = setting.destination
            key = (rule.id, detection.data_type, dest.host, detection.where, detection.key, detection.fingerprint)
            existing = self._findings.get(key)
            if existing is not None:
                existing.count += count
                existing.first_seen = min(existing.first_seen, time)
                existing.confidence = max(existing.confidence, detection.confidence)
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
                count=count,
                first_seen=time,
                policy_refs=list(rule.policy_refs),
                confidence=detection.confidence,
                detail=detection.detail,
                reason=detection.reason,
                purpose=dest.category,
                party_basis=dest.party_basis,
            )
            self._findings[key] = finding
            return [finding]
        return []

    def findings(self) -> list[Finding]:
        """All detection findings, most severe first."""
        return sorted(self._findings.values(), key=sort_key)


def destination_findings(rules: RuleSet, facts: Iterable[DestinationFacts]) -> list[Finding]:
    """Apply the destination rules to every destination of a finished capture, most severe first."""
    items = list(facts)
    starts = [f.first_seen for f in items if f.first_seen]
    session_start = min(starts) if starts else None
    findings: list[Finding] = []
    for rule in rules.destination_rules:
        if not rules.evaluable(rule):
            continue
        for item in items:
            detail = _destination_match(rule, item, rules.thresholds, session_start)
            if detail is None:
                continue
            c = item.destination
            findings.append(
                Finding(
                    rule=rule.id,
                    title=rule.title,
                    severity=rule.severity,
                    data_type=None,
                    host=c.host,
                    company=c.company,
                    party=c.party.value,
                    where=None,
                    key=None,
                    encoding=None,
                    masked_value=None,
                    fingerprint=None,
                    count=max(item.requests, 1),
                    first_seen=item.first_seen or 0.0,
                    policy_refs=list(rule.policy_refs),
                    detail=detail,
                    scope=Scope.DESTINATION.value,
                    purpose=c.category,
                    party_basis=c.party_basis,
                )
            )
    return sorted(findings, key=sort_key)


def _destination_match(
    rule: Rule, item: DestinationFacts, thresholds: Thresholds, session_start: float | None
) -> str | None:
    """The reason in words when ``rule`` matches ``item``, else ``None``."""
    w = rule.when
    if not w.destination_matches(item.destination):
        return None
    reasons: list[str] = []
    if w.has_personal_data is not None:
        if bool(item.data_types) != w.has_personal_data:
            return None
        if item.data_types:
            reasons.append("personal data: " + ", ".join(sorted(item.data_types)))
    if w.content_visible is not None:
        if item.content_visible != w.content_visible or item.requests == 0:
            return None
        if not item.content_visible:
            why = item.notes[0] if item.notes else "encrypted and not decrypted"
            reasons.append(f"{item.requests} connection(s) not inspectable: {why}")
    if w.within_first_seconds is not None:
        if item.first_seen is None or session_start is None:
            return None
        offset = item.first_seen - session_start
        if (offset <= thresholds.first_seconds) != w.within_first_seconds:
            return None
        window = f"{thresholds.first_seconds:g} s"
        reasons.append(f"first contacted {offset:.1f} s after the session started (window {window})")
    if w.outside_home_country is not None:
        home = thresholds.home_country
        if not home:
            return None
        if item.countries:
            abroad = [cc for cc in item.countries if cc != home]
            where = f"servers in {', '.join(abroad)}"
        elif item.destination.hq_country:
            abroad = [item.destination.hq_country] if item.destination.hq_country != home else []
            where = f"company headquartered in {item.destination.hq_country} (server location unknown)"
        else:
            return None  # nothing known about its country: not determinable, no finding
        if bool(abroad) != w.outside_home_country:
            return None
        reasons.append(f"{where}; home country {home}")
    return "; ".join(reasons) or rule.title
