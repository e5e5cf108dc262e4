"""Known-value detection: the device profile's values, searched in every encoding and hash.

All variants of all profile values are computed once per profile
(:class:`KnownValueIndex`): the value as written, trimmed and lowercased;
type-specific normal forms (E.164 and national phone numbers, MAC addresses
with and without separators, several date layouts, the full name); and the
MD5, SHA-1, SHA-256 and SHA-512 digests of each form, in hex and in base64.
A field then costs one dictionary look-up for its whole value, one scan of a
prefix-tree regular expression for values embedded in longer text, and a
number check for the mocked location.

The *transform* of a match says which variant matched, e.g.
``sha256(lower(email))``, ``nosep(wifi_mac)`` or ``lat*1e7``; it ends the
detection's encoding chain.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote_plus

from auditor.detect import Detection, DetectionContext, Detector, Where
from auditor.detect.context import known_reason
from auditor.detect.fields import Field, iter_fields, key_name
from auditor.profile import DeviceProfile, KnownValue
from auditor.records import HostSource, Record, RecordKind

_HOST_WHERE = {HostSource.SNI: Where.SNI, HostSource.DNS_QUERY: Where.DNS, HostSource.DNS_ANSWER: Where.DNS}

HASHES: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512")
"""Digests of normalized values that are searched for."""
MIN_EMBEDDED = 4
"""Shortest form searched inside longer text (shorter forms must be the whole value)."""
_LOWERED_BEFORE_HASHING = frozenset({"email", "username", "name"})
_DIGIT = re.compile(r"\d")
_PHONE_LIKE = re.compile(r"^\+?[\d ().-]{7,24}$")
_SEPARATED_DIGITS = re.compile(r"\d[ ().-]+\d")
# A phone number written with separators inside free text ("call +1 (971) 112-233 after school").
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+?\(?\d[\d().-]*(?: [\d().-]+){0,5}")
_HEX_TOKEN = re.compile(r"[0-9a-f]{32,128}")
# A base64 or url-safe base64 digest (16-64 bytes) inside a compound token such as ``tv.1~em.<digest>~pn.<digest>``.
_BASE64_TOKEN = re.compile(r"(?<![a-z0-9+/_-])[a-z0-9+/_-]{22,88}={0,2}(?![a-z0-9+/_=-])")
# Seconds (9-10 digits, or fewer before 1973) or milliseconds (12-13 digits) since 1970, possibly negative.
_EPOCH = re.compile(r"(?<![\d.])-?(?:\d{6,10}|\d{12,13})(?![\d.])")
_DAY = 86400
# Keys under which a lone first name or surname inside longer text is the person's name, not a word in prose.
_NAME_KEYS = re.compile(r"name|^(?:fn|ln|given|family|first|last|surname|display|nick|author|greeting|salutation)$")
_NUMBER = re.compile(r"(?<![\d.])-?\d{1,3}\.\d{2,12}(?!\d)|(?<![\d.])-?\d{5,11}(?![\d.])")
_LOCATION_KEY = re.compile(
    r"(?:^|[^a-z])(lat|lon|lng|long|latitude|longitude|geo|loc|location|coord|coords|ll|pos)(?:[^a-z]|$)"
)


@dataclass(frozen=True, slots=True)
class Variant:
    """One searchable form of a known value."""

    known: KnownValue
    """The profile value it derives from."""
    transform: str
    """How it was derived, e.g. ``lower(email)`` or ``sha256(e164(phone))``."""
    exact: bool
    """True for a digest or an unaltered value (certain); False for a looser normal form."""


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def normal_forms(known: KnownValue) -> list[tuple[str, str]]:
    """(form, transform) pairs of a value before hashing: as written, trimmed, lowercase, type-specific.

    >>> [t for f, t in normal_forms(KnownValue("wifi_mac", "hardware_id", "02:1A:3b:4C:5d:6E"))][:4]
    ['wifi_mac', 'lower(wifi_mac)', 'upper(wifi_mac)', 'lower(nosep(wifi_mac))']
    >>> [f for f, t in normal_forms(KnownValue("phone", "phone", "+1 555 0100 234")) if t.startswith("e164")]
    ['+15550100234']
    """
    label = known.label
    value = known.value.strip()
    forms: list[tuple[str, str]] = [
        (value, label), (value.lower(), f"lower({label})"), (value.upper(), f"upper({label})")
    ]
    forms += _text_forms(known)
    if known.data_type == "phone" or label == "phone":
        digits = _digits(value)
        forms += [(f"+{digits}", f"e164({label})"), (digits, f"digits({label})")]
        # National number: without a 1-3 digit country code (unknown which, so try each).
        forms += [(digits[n:], f"national({label})") for n in (1, 2, 3) if len(digits) - n >= 7]
        forms += [("0" + digits[n:], f"national({label})") for n in (1, 2, 3) if len(digits) - n >= 7]
    if "mac" in label or label == "bssid":
        bare = re.sub(r"[^0-9A-Fa-f]", "", value)
        forms += [
            (bare.lower(), f"lower(nosep({label}))"),
            (bare.upper(), f"upper(nosep({label}))"),
            ("-".join(bare[i : i + 2] for i in range(0, 12, 2)).lower(), f"dashes({label})"),
        ]
    if known.data_type == "birthdate":
        midnight = birthday_epoch(value)
        if midnight is not None:
            day = date.fromisoformat(value)
            for layout in ("%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y"):
                forms.append((day.strftime(layout), f"date({label},{layout})"))
            forms += [(str(midnight), f"epoch({label})"), (str(midnight * 1000), f"epoch_ms({label})")]
    if known.data_type in ("advertising_id", "device_id") and "-" in value:
        forms.append((value.replace("-", "").lower(), f"nodash({label})"))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for form, transform in forms:
        if form and form not in seen:
            seen.add(form)
            unique.append((form, transform))
    return unique


_STREET_WORDS = {"street": "st", "avenue": "ave", "road": "rd", "drive": "dr", "lane": "ln", "boulevard": "blvd",
                 "court": "ct", "place": "pl", "crescent": "cres", "terrace": "terr"}
_TEXT_TYPES = frozenset({"name", "other_identifier", "username"})
_GMAIL = ("@gmail.com", "@googlemail.com")
_WHOLE_ONLY = frozenset({"postal_code"})
"""Values too short to tell apart inside longer text (a ZIP code among other numbers): whole values only."""


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")
_URL_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_ODD_SPACE = re.compile(r"\s\s|[\t\n\r\xa0\u2000-\u200b\u3000]")


def unescape_text(text: str) -> tuple[str, str] | None:
    r"""``text`` with its escapes decoded (HTML, ``\uXXXX``, ``%``), odd spaces collapsed or accents removed.

    Returns the text and the step's name, or ``None`` when none applies (the usual case: a few cheap checks).

    >>> unescape_text("Ida&#97;aa&nbsp;Tarbell"), unescape_text(r"Id\u0061aaa"), unescape_text("Ida%20T")
    (('Idaaaa Tarbell', 'html'), ('Idaaaa', 'unicode-escape'), ('Ida T', 'url'))
    """
    if "&" in text and ";" in text:
        decoded = " ".join(html.unescape(text).split())  # &nbsp; is a space to a reader
        if decoded != text:
            return decoded, "html"
    if "\\" in text:
        decoded = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
        if decoded != text:
            return decoded, "unicode-escape"
    if "%" in text and _URL_ESCAPE.search(text):
        decoded = unquote_plus(text)
        if decoded != text:
            return decoded, "url"
    if _ODD_SPACE.search(text):
        return " ".join(text.split()), "spaces"
    if not text.isascii():
        folded = fold_diacritics(text)
        if folded != text:
            return folded, "fold"
    return None


def fold_diacritics(text: str) -> str:
    """``text`` without accents, as ASCII-only forms and search indexes write it.

    >>> fold_diacritics("Zoë Nuñez-Åberg")
    'Zoe Nunez-Aberg'
    """
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _text_forms(known: KnownValue) -> list[tuple[str, str]]:
    """Forms of names, addresses and free text: without accents, spaces collapsed or removed, street words short.

    Also the normal forms advertisers document for "advanced matching" before hashing (docs/detection.md):
    a Gmail address without the dots of its local part (Google), a name with letters only (Meta), a postal
    code without spaces (Meta, Snap).
    """
    label, value = known.label, known.value.strip()
    if known.data_type == "email" and value.lower().endswith(_GMAIL):
        local, domain = value.lower().split("@", 1)
        return [(f"{local.replace('.', '')}@{domain}", f"gmail({label})")] if "." in local else []
    if label == "postal_code" and " " in value:
        return [(value.replace(" ", "").lower(), f"nospace({label})")]
    if known.data_type not in _TEXT_TYPES:
        return []
    forms: list[tuple[str, str]] = []
    folded = fold_diacritics(value)
    if folded != value:
        forms += [(folded, f"fold({label})"), (folded.lower(), f"lower(fold({label}))")]
    collapsed = " ".join(value.split())
    if collapsed != value:
        forms.append((collapsed, f"spaces({label})"))
    if " " in collapsed and known.data_type == "name":
        forms.append((collapsed.replace(" ", ""), f"nospace({label})"))
    letters = "".join(c for c in folded.lower() if c.isalpha())
    if known.data_type == "name" and letters != folded.lower():
        forms.append((letters, f"letters({label})"))
    if label == "address":
        bare = " ".join(re.sub(r"[^\w\s]", " ", collapsed).split())
        short = " ".join(_STREET_WORDS.get(w.lower(), w) for w in bare.split())
        forms += [(bare, f"nopunct({label})"), (short, f"abbrev({label})")]
    return forms


def birthday_epoch(value: str) -> int | None:
    """Seconds since 1970 at UTC midnight of a ``YYYY-MM-DD`` date (negative before 1970).

    >>> birthday_epoch("2015-06-21"), birthday_epoch("1969-12-31"), birthday_epoch("21/06/2015")
    (1434844800, -86400, None)
    """
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@functools.lru_cache(maxsize=8192)
def _names_a_person(key: str) -> bool:
    """Whether the key a value sits under says it is a person's name (``child.display_name``, ``greeting``)."""
    return bool(_NAME_KEYS.search(key_name(key)))


DISTINCTIVE_NAME = 6
"""A first name or surname this long is searched in any text; a shorter one only under a key that names a person."""


def _lone_name(known: KnownValue) -> bool:
    """A first name or surname on its own: in prose it may be any word ("Grace", "Hope", "Noah's Ark")."""
    if known.label == "full_name":  # "IdaaaaTarbell" has no space, yet is both names
        return False
    return known.label in ("first_name", "last_name") or (known.data_type == "name" and " " not in known.value)


def _distinctive_in(known: KnownValue, text: str, match: re.Match[str]) -> bool:
    """A long (planted, made-up) name counts in free text, except inside someone else's e-mail address."""
    if len(known.value.strip()) < DISTINCTIVE_NAME:
        return False
    start = max(text.rfind(" ", 0, match.start()), 0)
    end = text.find(" ", match.end())
    return "@" not in text[start : end if end >= 0 else len(text)]


def name_orders(first: str, last: str) -> list[str]:
    """How forms, CRMs and trackers write a full name: both orders, run together, joined, initial and surname.

    >>> name_orders("Idaaaa", "Tarbell")[:6]
    ['Idaaaa Tarbell', 'Tarbell, Idaaaa', 'Tarbell Idaaaa', 'IdaaaaTarbell', 'TarbellIdaaaa', 'Idaaaa.Tarbell']
    >>> name_orders("Idaaaa", "Tarbell")[-3:]
    ['I. Tarbell', 'I Tarbell', 'Tarbell, I.']
    """
    first, last = first.strip(), last.strip()
    initial = first[:1]
    return [
        f"{first} {last}", f"{last}, {first}", f"{last} {first}", f"{first}{last}", f"{last}{first}",
        f"{first}.{last}", f"{first}_{last}", f"{first}-{last}",
        f"{initial}. {last}", f"{initial} {last}", f"{last}, {initial}.",
    ]


def _trie_pattern(words: list[str]) -> str:
    """A regular expression matching any of ``words``, shaped as a prefix tree so scanning stays linear."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        optional = "" in node
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if optional else body

    return build(trie)


class KnownValueIndex:
    """Every variant of every profile value, ready for fast look-ups."""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self.whole: dict[str, Variant] = {}
        """Lowercased variant -> variant, for values that are the whole field."""
        self.digests: dict[str, Variant] = {}
        """Lowercase hex digests, for digests inside longer text."""
        self.phones: dict[str, Variant] = {}
        """Digits of phone forms, for numbers written with spaces, dots or brackets."""
        self.encoded_digests: dict[str, Variant] = {}
        """Lowercased base64 and url-safe base64 digests (padded and not), for digests inside compound tokens."""
        self.birthdays: list[tuple[int, Variant]] = []
        """UTC midnight of each birth date in epoch seconds, for timestamps off by a time zone."""
        embedded: dict[str, Variant] = {}
        for known in self._searched_values(profile):
            for form, transform in normal_forms(known):
                certain = transform == known.label or transform.startswith(("lower(", "upper("))
                # Plain forms match whatever the case, so their transform does not name one.
                caseless = re.sub(r"^(?:lower|upper)\((.*)\)$", r"\1", transform)
                self._add(self.whole, form.lower(), Variant(known, caseless, certain))
                if known.data_type == "phone" and len(_digits(form)) >= 7:
                    self._add(self.phones, _digits(form), Variant(known, caseless, certain))
                if len(form) >= MIN_EMBEDDED and known.label not in _WHOLE_ONLY:
                    embedded.setdefault(form.lower(), Variant(known, caseless, certain))
                if transform == known.label and form == form.lower() and known.data_type in _LOWERED_BEFORE_HASHING:
                    transform = f"lower({known.label})"  # the step SDKs take, even when it changed nothing here
                for algorithm in HASHES:
                    digest = hashlib.new(algorithm, form.encode("utf-8"))
                    variant = Variant(known, f"{algorithm}({transform})", True)
                    self._add(self.whole, digest.hexdigest(), variant)
                    self._add(self.digests, digest.hexdigest(), variant)
                    standard = base64.b64encode(digest.digest()).decode().lower()
                    urlsafe = base64.urlsafe_b64encode(digest.digest()).decode().lower()
                    for encoded in {standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")}:
                        self._add(self.whole, encoded, variant)
                        self._add(self.encoded_digests, encoded, variant)
            midnight = birthday_epoch(known.value) if known.data_type == "birthdate" else None
            if midnight is not None:
                self.birthdays.append((midnight, Variant(known, f"epoch({known.label})", False)))
        # Longest first, so the scan reports the fullest form (an e-mail before its local part).
        self.embedded = embedded
        words = sorted(embedded, key=len, reverse=True)
        self._scanner = (
            re.compile(r"(?<![a-z0-9])(?:" + _trie_pattern(words) + r")(?![a-z0-9])") if words else None
        )
        self.min_length = min((len(w) for w in words), default=1 << 30)

    @staticmethod
    def _add(table: dict[str, Variant], key: str, variant: Variant) -> None:
        # The first variant wins: forms are listed from most to least faithful.
        table.setdefault(key, variant)

    @staticmethod
    def _searched_values(profile: DeviceProfile) -> Iterator[KnownValue]:
        yield from profile.values
        first, last = profile.value("first_name"), profile.value("last_name")
        if first and last:
            for form in name_orders(first, last):
                yield KnownValue("full_name", "name", form)

    def match_text(self, value: str, name_context: bool = True) -> list[Variant]:
        """Variants found in ``value``: the whole of it, or embedded in it.

        Without ``name_context`` (a key that names a person), a lone first name
        or surname counts only as the whole value, never as a word in longer text.
        """
        stripped = value.strip()
        lowered = stripped.lower()
        hit = self.whole.get(lowered)
        if hit is not None:
            return [hit]
        if self.phones and _PHONE_LIKE.match(stripped):
            hit = self.phones.get(_digits(stripped))
            if hit is not None:
                return [hit]
        found: list[Variant] = []
        if len(lowered) > self.min_length and self._scanner is not None:
            for match in self._scanner.finditer(lowered):
                variant = self.embedded.get(match.group(0))
                if variant is None or variant in found:
                    continue
                if name_context or not _lone_name(variant.known) or _distinctive_in(variant.known, lowered, match):
                    found.append(variant)
        if self.phones and len(lowered) > 12 and _SEPARATED_DIGITS.search(lowered):
            for token in _PHONE_IN_TEXT.findall(lowered):
                variant = self.phones.get(_digits(token)) if len(token) >= 9 else None
                if variant is not None and variant not in found:
                    found.append(variant)
        if len(lowered) > 32 and self.digests:
            for token in _HEX_TOKEN.findall(lowered):
                variant = self.digests.get(token)
                if variant is not None and variant not in found:
                    found.append(variant)
        if len(lowered) > 22 and self.encoded_digests:
            for token in _BASE64_TOKEN.findall(lowered):
                variant = self.encoded_digests.get(token)
                if variant is not None and variant not in found:
                    found.append(variant)
        return found

    def match_epoch(self, value: str) -> Variant | None:
        """The birth date written as a timestamp (seconds or milliseconds) within a day of its UTC midnight."""
        for token in _EPOCH.findall(value, 0, 256):
            milliseconds = len(token.lstrip("-")) >= 12
            seconds = int(token) / 1000 if milliseconds else int(token)
            for midnight, variant in self.birthdays:
                if abs(seconds - midnight) <= _DAY:
                    unit = "epoch_ms" if milliseconds else "epoch"
                    return Variant(variant.known, f"{unit}({variant.known.label})", False)
        return None


@dataclass(frozen=True, slots=True)
class _CoordinateHit:
    field: Field
    axis: str
    decimals: int
    transform: str


def _axis_hit(number: str, target: float, axis: str) -> tuple[int, str] | None:
    """(decimals of precision, transform) when ``number`` is ``target`` rounded, truncated or scaled."""
    try:
        value = float(number)
    except ValueError:
        return None
    if "." in number:
        decimals = len(number.split(".", 1)[1])
        if decimals < 2:
            return None
        tolerance = 10 ** -min(decimals, 6) + 1e-9
        if abs(value - target) <= tolerance:
            shown = min(decimals, 6)
            return shown, f"round({axis},{shown})" if decimals <= 6 else axis
        return None
    for power in (7, 6, 5):
        scale = 10**power
        if abs(value / scale - target) <= 1.0 / scale + 1e-12 and abs(value) >= 10 ** (power - 1):
            return power, f"{axis}*1e{power}"
    return None


class KnownValueDetector(Detector):
    """Finds the device profile's values in any field, encoding or hash."""

    name = "known-value"

    def __init__(self) -> None:
        self._index: KnownValueIndex | None = None
        self._last: tuple[Record | None, set[tuple[str, str, str]]] = (None, set())

    def found_in(self, record: Record) -> set[tuple[str, str, str]]:
        """(data type, where, key) of what the last :meth:`detect` call found in ``record``.

        Lets the pattern detector skip a guess where the profile already gave certainty.
        """
        last_record, found = self._last
        return found if last_record is record else set()

    def index(self, profile: DeviceProfile) -> KnownValueIndex:
        """The profile's variants, computed once."""
        if self._index is None or self._index.profile is not profile:
            self._index = KnownValueIndex(profile)
        return self._index

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        profile = context.profile
        if not isinstance(profile, DeviceProfile):
            return
        index = self.index(profile)
        found: set[tuple[str, str, str]] = set()
        self._last = (record, found)
        detections = self._in_host_name(record, context, index)
        if record.content_visible:
            detections = itertools.chain(detections, self._detect(record, context, profile, index))
        for detection in detections:
            found.add((detection.data_type, detection.where.value, detection.key or ""))
            yield detection

    def _in_host_name(self, record: Record, context: DetectionContext, index: KnownValueIndex) -> Iterator[Detection]:
        """Planted values in the host name itself (SDKs that send IDs as DNS labels), even over TLS."""
        if not record.host or record.host_source is HostSource.IP_ONLY:
            return
        fallback = Where.HEADER if record.kind is RecordKind.HTTP else Where.CONNECTION
        where = _HOST_WHERE.get(record.host_source, fallback)
        for variant in index.match_text(record.host):
            known = variant.known
            yield context.detection(
                known.data_type, where, "host", known.value, self.name, encoding="host name",
                confidence=1.0 if variant.exact else 0.95, known_value=True,
                detail=f"profile value {known.label} in the host name",
                reason=f"The host name itself carries the device profile's {known.label} (known-value rule).",
            )

    def _detect(
        self, record: Record, context: DetectionContext, profile: DeviceProfile, index: KnownValueIndex
    ) -> Iterator[Detection]:
        has_location = profile.latitude is not None and profile.longitude is not None
        coordinates: list[_CoordinateHit] = []
        in_names: set[tuple[str, Where]] = set()
        for item in iter_fields(record):
            # Apps key objects, cookies and parameters by the value itself: the name is sent too.
            for variant in index.match_text(item.key) if item.key else ():
                known = variant.known
                if (known.label, item.where) not in in_names:
                    in_names.add((known.label, item.where))
                    yield context.detection(
                        known.data_type, item.where, item.key, known.value, self.name,
                        encoding=">".join((*item.chain, "key name")), confidence=1.0 if variant.exact else 0.95,
                        known_value=True, detail=f"profile value {known.label} as a key name",
                        reason=known_reason(known.label, "key name", item.where, context.safe_key(item.key)),
                    )
            if item.parsed:
                continue
            variants = index.match_text(item.value, _names_a_person(item.key))
            # Text quoted into HTML, a script or a URL inside a larger value keeps its escapes.
            unescaped = unescape_text(item.value)
            decoded: list[Variant] = []
            if unescaped is not None:
                seen = {v.known for v in variants}
                decoded = [v for v in index.match_text(unescaped[0], _names_a_person(item.key)) if v.known not in seen]
                variants += decoded
            dated = any(v.known.data_type == "birthdate" for v in variants)
            if index.birthdays and not dated and _DIGIT.search(item.value, 0, 64):
                epoch = index.match_epoch(item.value)
                if epoch is not None:
                    variants.append(epoch)
            for variant in variants:
                known = variant.known
                chain = (*item.chain, unescaped[1]) if unescaped is not None and variant in decoded else item.chain
                if variant.transform != known.label:
                    chain = (*chain, variant.transform)
                yield context.detection(
                    known.data_type,
                    item.where,
                    item.key or None,
                    known.value,
                    self.name,
                    encoding=">".join(chain) or "plain",
                    confidence=1.0 if variant.exact else 0.95,
                    known_value=True,
                    detail=f"profile value {known.label}",
                    reason=known_reason(
                        known.label, context.safe_key(">".join(chain)), item.where,
                        context.safe_key(item.key) if item.key else None,
                    ),
                )
            if has_location and _DIGIT.search(item.value, 0, 64):
                coordinates.extend(self._coordinates(item, profile))
        if coordinates:
            yield from self._location_detections(coordinates, profile, context)

    @staticmethod
    def _coordinates(item: Field, profile: DeviceProfile) -> Iterator[_CoordinateHit]:
        assert profile.latitude is not None and profile.longitude is not None
        text = item.value[:4096]
        stripped = text.strip()
        numbers = [stripped] if _NUMBER.fullmatch(stripped) else _NUMBER.findall(text)
        for number in numbers[:64]:
            for axis, target in (("lat", profile.latitude), ("lon", profile.longitude)):
                hit = _axis_hit(number, target, axis)
                if hit is not None:
                    yield _CoordinateHit(item, axis, hit[0], hit[1])
                    break

    def _location_detections(
        self, hits: list[_CoordinateHit], profile: DeviceProfile, context: DetectionContext
    ) -> Iterator[Detection]:
        # A lone 2- or 3-decimal number may be a coincidence (a version, a price); it counts
        # when the other coordinate is also in the request or its key says it is a location.
        axes = {hit.axis for hit in hits}
        reported: set[tuple[str, str]] = set()
        for hit in hits:
            key = hit.field.key or ""
            located = bool(_LOCATION_KEY.search(key.lower().replace("_", ".")))
            if not (len(axes) == 2 or hit.decimals >= 4 or located):
                continue
            if (key, hit.axis) in reported:
                continue
            reported.add((key, hit.axis))
            target = profile.latitude if hit.axis == "lat" else profile.longitude
            shown = f"{target:.{min(hit.decimals, 6)}f}"
            yield context.detection(
                "precise_location" if hit.decimals >= 3 else "coarse_location",
                hit.field.where,
                key or None,
                shown,
                self.name,
                encoding=">".join((*hit.field.chain, hit.transform)),
                confidence=0.95 if hit.decimals >= 4 or len(axes) == 2 else 0.8,
                known_value=True,
                detail=f"profile location ({'latitude' if hit.axis == 'lat' else 'longitude'}, "
                f"{hit.decimals} decimals)",
                reason=known_reason(
                    f"{'latitude' if hit.axis == 'lat' else 'longitude'} to {hit.decimals} decimals",
                    context.safe_key(">".join((*hit.field.chain, hit.transform))), hit.field.where,
                    context.safe_key(key) if key else None,
                ),
            )
