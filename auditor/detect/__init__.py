"""Personal-data detection: detectors look at one record and report what personal data it carries.

Every detector implements :class:`Detector`. A :class:`Detection` never holds
the raw value: only a masked form and a salted fingerprint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from auditor.privacy import KeyRedactor, Masker
from auditor.records import Record


class DataType(StrEnum):
    """The report contract's data-type vocabulary (str-valued: JSON and string comparisons are unchanged)."""

    IP_ADDRESS = "ip_address"
    PRECISE_LOCATION = "precise_location"
    COARSE_LOCATION = "coarse_location"
    ADVERTISING_ID = "advertising_id"
    DEVICE_ID = "device_id"
    HARDWARE_ID = "hardware_id"
    NETWORK_ID = "network_id"
    EMAIL = "email"
    NAME = "name"
    PHONE = "phone"
    BIRTHDATE = "birthdate"
    STUDENT_ID = "student_id"
    USERNAME = "username"
    CREDENTIALS = "credentials"
    VOICE = "voice"
    FACE_IMAGE = "face_image"
    IMAGE = "image"
    VIDEO = "video"
    BIOMETRIC_OTHER = "biometric_other"
    ATTENTION_TRACKING = "attention_tracking"
    DEVICE_FINGERPRINT = "device_fingerprint"
    OTHER_IDENTIFIER = "other_identifier"


DATA_TYPES: tuple[str, ...] = tuple(t.value for t in DataType)
"""The report contract's data-type vocabulary, as strings."""


class Where(str, Enum):
    """Where in a record a value was found (the report contract's vocabulary)."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    DNS = "dns"
    SNI = "sni"
    CONNECTION = "connection"
    """The connection itself (its address, port or service), not its content."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One piece of personal data found in one record."""

    data_type: DataType
    """From :class:`DataType` (a detector may pass the string; it is checked and converted)."""
    where: Where
    """The part of the request it was found in."""
    key: str | None
    """Key path inside that part, e.g. ``events[0].params.lat`` or the header name."""
    encoding: str
    """How the value was encoded on the wire, e.g. ``plain`` or ``sha256(lower(email))``."""
    confidence: float
    """0..1: 1.0 for a planted known value, lower for a pattern match."""
    masked_value: str
    """The value with most characters hidden."""
    fingerprint: str
    """Salted fingerprint of the normalized value."""
    detector: str
    """Name of the detector that found it."""
    known_value: bool = False
    """True when it matched a value from the device profile."""
    detail: str | None = None
    """A short note for reviewers, e.g. ``the device's own address`` or ``profile value email``."""
    reason: str | None = None
    """One sentence a school reviewer reads: what was sent and why it counts, naming the decoder or rule."""

    def __post_init__(self) -> None:
        # Detectors may name the type by its string; an unknown name is a bug, caught here, not in a report.
        object.__setattr__(self, "data_type", DataType(self.data_type))


@dataclass
class DetectionContext:
    """What detectors may know besides the record."""

    masker: Masker
    profile: Any = None
    """The device profile (known values), or ``None``."""
    device_ips: frozenset[str] = field(default_factory=frozenset)
    """Addresses that belong to the test device (its LAN address and the lab's public IP)."""
    category_of: Callable[[str], str | None] | None = None
    """Tracker-database category of a destination (host or address), when the pipeline can tell."""
    _redactor: tuple[Any, KeyRedactor] | None = field(default=None, init=False, repr=False, compare=False)

    def safe_key(self, key: str) -> str:
        """``key`` (a key path or an encoding chain) with any personal value in it masked."""
        return self._key_redactor().redact(key)

    def safe_host(self, host: str) -> str:
        """``host`` with the profile's planted values masked (apps put device IDs in DNS names too)."""
        return self._key_redactor().redact_known(host) if self.profile is not None else host

    def _key_redactor(self) -> KeyRedactor:
        if self._redactor is None or self._redactor[0] is not self.profile:
            values = getattr(self.profile, "values", ())
            self._redactor = (self.profile, KeyRedactor(v.value for v in values))
        return self._redactor[1]

    def detection(
        self,
        data_type: str,
        where: Where,
        key: str | None,
        value: str,
        detector: str,
        encoding: str = "plain",
        confidence: float = 0.7,
        known_value: bool = False,
        detail: str | None = None,
        shown: str | None = None,
        reason: str | None = None,
    ) -> Detection:
        """Build a detection, masking the value here so no detector keeps it raw.

        ``shown`` replaces the masked value when the value is not itself
        readable personal data, e.g. ``audio/ogg upload, 48213 bytes`` for a
        recording (whose ``value`` is then its digest, so repeats merge).
        """
        return Detection(
            data_type=DataType(data_type),
            where=where,
            key=self.safe_key(key) if key else key,
            encoding=self.safe_key(encoding),
            confidence=confidence,
            masked_value=shown if shown is not None else self.masker.mask(value, secret=data_type == "credentials"),
            fingerprint=self.masker.fingerprint(value),
            detector=detector,
            known_value=known_value,
            detail=detail,
            reason=reason,
        )


class Detector(ABC):
    """Finds personal data in a record."""

    name: str = "detector"

    @abstractmethod
    def detect(self, record: Record, context: DetectionContext) -> Iterable[Detection]:
        """Every detection in ``record``; must not raise on any content."""

    def detect_all(self, records: Iterable[Record], context: DetectionContext) -> Iterator[tuple[Record, Detection]]:
        """Detections of many records, paired with their record."""
        for record in records:
            for detection in self.detect(record, context):
                yield record, detection


@dataclass(frozen=True, slots=True)
class Conclusion:
    """A detection that needed many records to make (an ID that stays, text typed key by key)."""

    destination: str
    """The destination key (host name, or address when no name is known) that received it."""
    detection: Detection
    encrypted: bool
    """Whether the requests that carried it were encrypted on the wire."""
    first_seen: float
    count: int
    """Requests that carried it."""


class CrossRequestDetector(ABC):
    """Finds personal data that shows only across requests; its state is bounded.

    ``observe`` sees every record in order; ``conclude`` may be called several
    times (a live session writes interim reports) and returns everything
    concluded so far, never consuming its state.
    """

    name: str = "cross-request"
    cap_note: str | None = None
    """Set when a bound on the kept state was reached: what was no longer tracked, in words."""

    @abstractmethod
    def observe(self, record: Record, destination: str, company: str | None, context: DetectionContext) -> None:
        """Take note of one record sent to ``destination`` (operated by ``company``, if known)."""

    @abstractmethod
    def conclude(self, context: DetectionContext) -> Iterable[Conclusion]:
        """Every detection the records so far support."""


def default_cross_request_detectors() -> list[CrossRequestDetector]:
    """The cross-request detectors the pipeline runs, in order."""
    from auditor.detect.identifiers import BehaviourIdentifierDetector
    from auditor.detect.typed_text import TypedTextDetector

    return [TypedTextDetector(), BehaviourIdentifierDetector()]


def default_detectors() -> list[Detector]:
    """The detectors the pipeline runs, in order."""
    from auditor.detect.biometric import BiometricDetector
    from auditor.detect.endpoints import DecoderDetector
    from auditor.detect.known_values import KnownValueDetector
    from auditor.detect.patterns import PatternDetector

    known = KnownValueDetector()
    # Endpoint decoders explain what they know; the generic patterns judge only what no decoder explained.
    decoders = DecoderDetector()
    decoders.skip = known
    return [known, decoders, PatternDetector(known, decoders), BiometricDetector()]
