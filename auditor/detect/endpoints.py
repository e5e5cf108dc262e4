"""Endpoint decoders: what a known tracker endpoint receives, read from data files.

Each company has one TOML file in ``trackers_db/decoders/``. A decoder names
the endpoints it understands (host suffix, path prefix or pattern, methods),
the layers its payload is wrapped in, and every property it knows: where the
value sits (request part and key path, array positions included), the
project's data type for it, one sentence a school reviewer understands and
the vendor's documentation that says so. docs/decoders.md explains the format.

The walker in :mod:`auditor.detect.fields` undoes the layers (query, forms
with stray separators, JSON, JSON inside strings, base64, gzip, protobuf,
JWT) for every request, so a decoder only has to say which of the resulting
key paths mean what. Decoders are compiled once and indexed by host suffix,
so a request to a host no decoder knows costs one dictionary probe per label.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from auditor.detect import DATA_TYPES, Detection, DetectionContext, Detector, Where
from auditor.detect.fields import Field, iter_fields
from auditor.records import Record

DECODER_DIR = Path(__file__).resolve().parents[2] / "trackers_db" / "decoders"
"""Where the shipped decoder files live (package data of ``trackers_db``)."""

DECODE_STEPS = frozenset(
    {"query", "form", "json", "ndjson", "base64", "gzip", "protobuf", "jwt", "json-in-string", "positional",
     "cookie", "header", "path", "text"}
)
"""Layers a decoder may name; the walker undoes each of them for every request."""

ANY_HOST = "*"
"""Endpoint host for values a vendor's script stores in the site's own cookies (``_ga``, ``_fbp``): any host."""
PARTS = {"query": Where.QUERY, "cookie": Where.COOKIE, "header": Where.HEADER, "body": Where.BODY,
         "path": Where.PATH}
_PART_WORDS = {Where.QUERY: "query parameter", Where.COOKIE: "cookie", Where.HEADER: "header",
               Where.BODY: "body field", Where.PATH: "URL path segment"}
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_EMPTY = frozenset({"", "0", "-1", "null", "none", "undefined", "unknown", "false", "true",
                    "00000000-0000-0000-0000-000000000000", "optout", "opt-out", "opt_out", "optedout"})
"""Empty fields, the all-zero ID (advertising ID with tracking limited) and opt-out markers: no one is identified."""


_COOKIES_ONLY = frozenset({Where.COOKIE})
_IDENTIFIER_TYPES = frozenset({"advertising_id", "device_id", "hardware_id", "other_identifier"})
_MACRO = re.compile(r"\$\{|\{\{|%%|^\[[A-Z_]+\]$|^\$[A-Z_]+$|__[A-Z_]+__|^\{[A-Za-z_]+\}$")
"""Placeholders a sync URL carries until the partner fills them in: ``${UID}``, ``{{id}}``, ``[USER_ID]``, ``$UID``,
``{OB_UID}``."""


class DecoderError(ValueError):
    """A decoder file that does not follow the format; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Property:
    """One value an endpoint receives, and what it means."""

    part: Where
    key: str
    """Key path pattern as the walker writes keys: ``cid``, ``context.user.anonymous_id``, ``extinfo[5]``;
    ``[*]`` is any array position, ``*`` any one name, a leading ``**.`` any prefix."""
    data_type: str
    reason: str
    reference: str
    value: re.Pattern[str] | None
    """When set, the value must match it in full (e.g. Branch's all-digit IDs)."""
    confidence: float
    matcher: re.Pattern[str]
    trait: str | None = None
    """For ``device_fingerprint`` properties: the trait in a few words (``device model``); traits of one request
    are reported together as one bundle, since each alone says little."""
    when: tuple[str, str] | None = None
    """(key, value): the property counts only when the nearest earlier field at that key, in the same part, holds
    that value. Protobuf read without a schema keeps a name and its value in sibling fields (a Firebase user
    property's name in ``1.3.2``, its value in ``1.3.3``): this says which name the value belongs to."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a decoder applies."""

    host: str
    """Host suffix: ``google-analytics.com`` covers ``www.google-analytics.com`` too."""
    path: re.Pattern[str]
    methods: frozenset[str]
    any_path: bool = False
    """True when the endpoint takes every path (no path given): no pattern to run."""


@dataclass(frozen=True, slots=True, eq=False)
class Decoder:
    """What one service's endpoints receive."""

    id: str
    company: str
    service: str
    endpoints: tuple[Endpoint, ...]
    decode: tuple[str, ...]
    properties: tuple[Property, ...]
    source: str
    """The file it came from."""
    exact: dict[tuple[Where, str], Property]
    """Properties whose key has no wildcard, by (part, key): most lookups are one probe."""
    wild: tuple[Property, ...]
    """Properties with a wildcard key, tried in order."""
    parts: frozenset[Where]
    """Request parts any property reads: fields elsewhere are not looked up."""

    def matches(self, host: str, path: str, method: str) -> bool:
        """Whether a request to ``host`` ``path`` with ``method`` is one of this decoder's endpoints."""
        return any(
            (e.host == ANY_HOST or host == e.host or host.endswith("." + e.host))
            and (e.any_path or e.path.match(path) is not None)
            and (not e.methods or method in e.methods)
            for e in self.endpoints
        )


def _key_matcher(pattern: str) -> re.Pattern[str]:
    """A regex for a key pattern (see :attr:`Property.key`).

    >>> bool(_key_matcher("events[*].params.uid").fullmatch("events[3].params.uid"))
    True
    >>> bool(_key_matcher("**.EVENT_ATTRS.wlocCity").fullmatch("viewsInfo[0].EVENT_ATTRS.wlocCity"))
    True
    >>> bool(_key_matcher("cid").fullmatch("xcid"))
    False
    """
    prefix = ""
    if pattern.startswith("**."):
        prefix, pattern = r"(?:.*[.\]])?", pattern[3:]
    escaped = re.escape(pattern).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[\]]+")
    return re.compile(prefix + escaped)


def _path_matcher(path: str) -> re.Pattern[str]:
    """A path prefix, or a regex when it starts with ``^``."""
    return re.compile(path if path.startswith("^") else re.escape(path))


def _require(table: dict[str, object], name: str, where: str) -> object:
    if name not in table or table[name] in ("", [], None):
        raise DecoderError(f"{where}: missing {name!r}")
    return table[name]


def parse_decoders(text: str, source: str) -> list[Decoder]:
    """The decoders in one TOML file; :class:`DecoderError` names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DecoderError(f"{source}: not valid TOML: {exc}") from None
    company = str(_require(data, "company", source))
    decoders: list[Decoder] = []
    seen: set[str] = set()
    for index, table in enumerate(data.get("decoder", [])):
        where = f"{source}: decoder {index + 1}"
        decoder_id = str(_require(table, "id", where))
        where = f"{source}: decoder {decoder_id}"
        if decoder_id in seen:
            raise DecoderError(f"{where}: id used twice")
        seen.add(decoder_id)
        decode = tuple(str(step) for step in table.get("decode", ()))
        unknown = [step for step in decode if step not in DECODE_STEPS]
        if unknown:
            raise DecoderError(f"{where}: unknown decode step {unknown[0]!r}")
        endpoints = tuple(_endpoint(e, where) for e in _require(table, "endpoint", where))  # type: ignore[attr-defined]
        properties = tuple(_property(p, where) for p in _require(table, "property", where))  # type: ignore[attr-defined]
        exact: dict[tuple[Where, str], Property] = {}
        for prop in properties:
            if "*" not in prop.key:
                exact.setdefault((prop.part, prop.key), prop)
        wild = tuple(p for p in properties if "*" in p.key)
        service = str(_require(table, "service", where))
        parts = frozenset(p.part for p in properties)
        decoders.append(
            Decoder(decoder_id, company, service, endpoints, decode, properties, source, exact, wild, parts)
        )
    if not decoders:
        raise DecoderError(f"{source}: no [[decoder]] table")
    return decoders


def _endpoint(table: dict[str, object], where: str) -> Endpoint:
    host = str(_require(table, "host", where)).lower().lstrip(".")
    raw = table.get("method", [])
    methods = [raw] if isinstance(raw, str) else [str(m) for m in raw] if isinstance(raw, list) else []
    if any(m not in _METHODS for m in methods):
        raise DecoderError(f"{where}: unknown method in {methods}")
    text = str(table.get("path", "/"))
    try:
        path = _path_matcher(text)
    except re.error as exc:
        raise DecoderError(f"{where}: bad path pattern: {exc}") from None
    return Endpoint(host, path, frozenset(methods), any_path=text == "/")


def _property(table: dict[str, object], where: str) -> Property:
    part_name = str(_require(table, "part", where))
    key = str(_require(table, "key", where))
    where = f"{where}: property {part_name} {key}"
    if part_name not in PARTS:
        raise DecoderError(f"{where}: unknown part {part_name!r} (one of {', '.join(PARTS)})")
    data_type = str(_require(table, "type", where))
    if data_type not in DATA_TYPES:
        raise DecoderError(f"{where}: unknown data type {data_type!r}")
    reason = str(_require(table, "reason", where)).strip()
    if not reason.endswith("."):
        raise DecoderError(f"{where}: the reason must be one sentence ending with a full stop")
    raw_reference = _require(table, "reference", where)
    # One address, or several when the claim rests on more than one source (a vendor page and a field number
    # only the community's reverse-engineering gives).
    references = [str(r) for r in raw_reference] if isinstance(raw_reference, list) else [str(raw_reference)]
    if not all(r.startswith("https://") for r in references):
        raise DecoderError(f"{where}: the reference must be an https:// address")
    reference = " ; ".join(references)
    value = table.get("value")
    try:
        value_pattern = re.compile(str(value)) if value else None
    except re.error as exc:
        raise DecoderError(f"{where}: bad value pattern: {exc}") from None
    confidence = float(table.get("confidence", 0.9))  # type: ignore[arg-type]
    trait = str(table["trait"]) if table.get("trait") else None
    if data_type == "device_fingerprint" and trait is None:
        raise DecoderError(f"{where}: a device_fingerprint property names its trait")
    condition = table.get("when")
    when: tuple[str, str] | None = None
    if condition is not None:
        if not isinstance(condition, dict) or not condition.get("key") or "value" not in condition:
            raise DecoderError(f"{where}: 'when' takes a key and a value")
        when = (str(condition["key"]), str(condition["value"]))
    return Property(
        PARTS[part_name], key, data_type, reason, reference, value_pattern, confidence, _key_matcher(key), trait, when
    )


def load_decoders(directory: Path = DECODER_DIR) -> list[Decoder]:
    """Every decoder in ``directory`` (one TOML file per company), in file order."""
    decoders: list[Decoder] = []
    for path in sorted(directory.glob("*.toml")):
        decoders.extend(parse_decoders(path.read_text(encoding="utf-8"), path.name))
    return decoders


@functools.lru_cache(maxsize=1)
def shipped_decoders() -> tuple[Decoder, ...]:
    """The decoders shipped with the tool, loaded once per process."""
    return tuple(load_decoders())


class DecoderIndex:
    """Decoders by host suffix: finding the candidates for a host costs one probe per label."""

    def __init__(self, decoders: Iterable[Decoder]) -> None:
        self.by_suffix: dict[str, list[Decoder]] = {}
        self.anywhere: list[Decoder] = []
        """Decoders of vendor cookies that travel to any host."""
        for decoder in decoders:
            for suffix in {e.host for e in decoder.endpoints}:
                bucket = self.anywhere if suffix == ANY_HOST else self.by_suffix.setdefault(suffix, [])
                if decoder not in bucket:
                    bucket.append(decoder)

    def candidates(self, host: str) -> list[Decoder]:
        """Decoders with an endpoint on ``host`` or one of its parent domains, then those for any host."""
        found: list[Decoder] = []
        labels = host.lower().rstrip(".").split(".")
        for start in range(len(labels) - 1):
            bucket = self.by_suffix.get(".".join(labels[start:]))
            if bucket:
                found.extend(d for d in bucket if d not in found)
        found.extend(d for d in self.anywhere if d not in found)
        return found

    def for_record(self, record: Record) -> list[Decoder]:
        """Decoders whose endpoint (host, path, method) the record was sent to."""
        if not record.host or not record.url:
            return []
        candidates = self.candidates(record.host)
        if not record.cookies:
            # Most requests carry no cookie: the any-host decoders of vendor cookies have nothing to read.
            candidates = [d for d in candidates if d.parts != _COOKIES_ONLY]
        if not candidates:
            return []
        path = _url_path(record.url)
        method = (record.method or "GET").upper()
        return [d for d in candidates if d.matches(record.host, path, method)]


def _url_path(url: str) -> str:
    start = url.find("//")
    slash = url.find("/", start + 2 if start >= 0 else 0)
    if slash < 0:
        return "/"
    end = len(url)
    for mark in "?#":
        at = url.find(mark, slash)
        if at >= 0:
            end = min(end, at)
    return url[slash:end]


def describe_place(where: Where, key: str) -> str:
    """``the query parameter `cid``` and the like, for reason sentences."""
    return f"the {_PART_WORDS.get(where, where.value)} `{key}`"


class DecoderDetector(Detector):
    """Reads requests to known tracker endpoints with the registry's decoders."""

    name = "decoder"

    def __init__(self, decoders: Iterable[Decoder] | None = None) -> None:
        self.index = DecoderIndex(shipped_decoders() if decoders is None else decoders)
        self._last: tuple[Record | None, dict[tuple[Where, str], str]] = (None, {})
        self.skip: Detector | None = None
        """A detector run before this one whose certain findings (``found_in``) are not repeated."""

    def claimed(self, record: Record) -> dict[tuple[Where, str], str]:
        """(part, key) -> data type of every value the last :meth:`detect` call explained in ``record``."""
        last_record, keys = self._last
        return keys if last_record is record else {}

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        self._last = (record, {})
        if not record.content_visible:
            return
        decoders = self.index.for_record(record)
        if not decoders:
            return
        known = self.skip.found_in(record) if self.skip is not None and hasattr(self.skip, "found_in") else set()
        known_places = {(where, key) for _type, where, key in known}
        claimed: dict[tuple[Where, str], str] = {}
        traits: list[tuple[Decoder, Property, Field]] = []
        latest: dict[tuple[Where, str], str] = {}  # the last value at each place, for ``when`` conditions
        for item in iter_fields(record):
            # A parsed field is still read: a property may name the whole encoded value (a base64 cookie).
            for decoder in decoders:
                if item.where not in decoder.parts:
                    continue
                prop = _property_for(decoder, item)
                if prop is None or not _meaningful(item.value, prop):
                    continue
                if prop.when is not None and latest.get((item.where, prop.when[0])) != prop.when[1]:
                    continue
                place = (item.where, item.key)
                if place in claimed:
                    break
                claimed[place] = prop.data_type
                if (item.where.value, item.key) in known_places:
                    break
                if prop.trait is not None:
                    traits.append((decoder, prop, item))
                else:
                    yield self._detection(context, decoder, prop, item)
                break
            latest[(item.where, item.key)] = item.value
        if traits:
            yield self._bundle(context, traits)
        self._last = (record, claimed)

    @staticmethod
    def _detection(context: DetectionContext, decoder: Decoder, prop: Property, item: Field) -> Detection:
        place = describe_place(item.where, context.safe_key(item.key))
        reason = f"{prop.reason} Sent in {place}; read by the {decoder.service} decoder."
        return context.detection(
            prop.data_type, item.where, item.key, item.value.strip(), f"decoder:{decoder.id}",
            encoding=item.encoding, confidence=prop.confidence, detail=f"{decoder.company}: {prop.reference}",
            reason=reason,
        )


    @staticmethod
    def _bundle(context: DetectionContext, traits: list[tuple[Decoder, Property, Field]]) -> Detection:
        """One detection for the device traits of one request: together they single out a device."""
        decoder, _prop, first = traits[0]
        names = [prop.trait or prop.key for _d, prop, _i in traits]
        keys = ", ".join(context.safe_key(item.key) for _d, _p, item in traits)
        reason = (
            f"{len(traits)} device traits ({', '.join(names)}) sent together, which single out this device among "
            f"others. Sent in the {_PART_WORDS.get(first.where, first.where.value)}s `{keys}`; read by the "
            f"{decoder.service} decoder."
        )
        return context.detection(
            "device_fingerprint", first.where, keys[:200], "|".join(item.value for _d, _p, item in traits),
            f"decoder:{decoder.id}", encoding=first.encoding, confidence=min(0.5 + 0.05 * len(traits), 0.85),
            detail=f"{decoder.company}: {traits[0][1].reference}", shown=f"{len(traits)} device traits: "
            + ", ".join(names), reason=reason,
        )


def _property_for(decoder: Decoder, item: Field) -> Property | None:
    prop = decoder.exact.get((item.where, item.key))
    if prop is not None:
        return prop
    for prop in decoder.wild:
        if prop.part is item.where and prop.matcher.fullmatch(item.key):
            return prop
    return None


def _meaningful(value: str, prop: Property) -> bool:
    """A value worth reporting: not empty, not a placeholder, and of the documented form."""
    text = value.strip()
    if text.lower() in _EMPTY or len(text) > 8192:
        return False
    if prop.value is not None:
        return bool(prop.value.fullmatch(text))
    if prop.data_type in _IDENTIFIER_TYPES:
        # An ID has some length and variety; a macro the page never filled in (``$UID``, ``{{id}}``) is not one.
        return len(text) >= 6 and len(set(text)) >= 4 and not _MACRO.search(text)
    return True
