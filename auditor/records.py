"""The one normalized record that every capture source produces.

Classification, detection, findings and reports work on :class:`Record` only;
they never see mitmproxy flows, scapy packets or HAR entries.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class SourceKind(str, Enum):
    """Where a record came from."""

    PROXY = "proxy"
    PCAP = "pcap"
    HAR = "har"
    FLOW_FILE = "flow_file"
    SESSION = "session"


class RecordKind(str, Enum):
    """What was observed."""

    HTTP = "http"
    """An HTTP request (and its response, when seen) with visible content."""
    DNS = "dns"
    """A DNS query and its answers."""
    TLS = "tls"
    """A TLS connection known only by its SNI (content not visible)."""
    QUIC = "quic"
    """A QUIC connection known only by the SNI of its Initial packet."""
    CONNECTION = "connection"
    """A connection known only by its addresses (and a name from DNS, if any)."""


class HostSource(str, Enum):
    """How the destination host name was learned."""

    URL = "url"
    HOST_HEADER = "host_header"
    SNI = "sni"
    DNS_ANSWER = "dns_answer"
    DNS_QUERY = "dns_query"
    IP_ONLY = "ip_only"


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One observation of traffic leaving the test device."""

    kind: RecordKind
    """What was observed: an HTTP exchange, a DNS lookup, a TLS/QUIC handshake, a bare connection."""
    time: float
    """When the request (or first packet) was seen, in seconds since the Unix epoch (UTC)."""
    source: SourceKind
    """Which kind of input produced the record."""
    host: str | None = None
    """Destination host name, lowercase, without port; ``None`` when only an IP is known."""
    host_source: HostSource = HostSource.IP_ONLY
    """How ``host`` was learned."""
    client_ip: str | None = None
    """Address of the device that sent the traffic."""
    client_port: int | None = None
    """Source port on the device."""
    server_ip: str | None = None
    """Address the traffic was sent to."""
    server_port: int | None = None
    """Destination port."""
    protocol: str = ""
    """Protocol as seen, e.g. ``HTTP/1.1``, ``HTTP/2``, ``TLS``, ``QUIC``, ``DNS``, ``TCP``, ``UDP``."""
    content_visible: bool = False
    """True when the request content could be read (plain HTTP, intercepted or decrypted TLS)."""
    encrypted: bool = False
    """True when the traffic crossed the network encrypted (HTTPS, TLS, QUIC), whether or not we decrypted it."""
    method: str | None = None
    """HTTP method."""
    url: str | None = None
    """Full request URL, including query string."""
    request_headers: Headers = ()
    """Request headers in order, as (name, value) pairs; names keep their case."""
    cookies: Headers = ()
    """Request cookies as (name, value) pairs."""
    request_body: bytes = b""
    """Request body after removing content encodings (gzip, br, ...), up to the body cap."""
    request_body_truncated: bool = False
    """True when the body was longer than the cap and only its start was kept."""
    request_content_type: str | None = None
    """Content-Type of the request body."""
    response_status: int | None = None
    """HTTP status code of the response, when one was seen."""
    response_content_type: str | None = None
    """Content-Type of the response."""
    set_cookies: Headers = ()
    """Cookies the server set in its response (``Set-Cookie``), as (name, value) pairs."""
    bytes_up: int = 0
    """Bytes sent by the device (request line, headers and body; or payload bytes for a connection)."""
    bytes_down: int = 0
    """Bytes received by the device."""
    dns_answers: tuple[str, ...] = ()
    """For DNS records: the addresses the name resolved to."""
    dns_cnames: tuple[str, ...] = ()
    """For DNS records: the CNAME chain from the queried name, in order."""
    note: str | None = None
    """Why content is missing or incomplete, e.g. ``client rejected the certificate (pinning)``."""
    origin: str = ""
    """The input the record came from: a file path or a session name."""
    page_title: str | None = None
    """Title of the browser page the request belongs to (HAR ``log.pages``), when the source knows it."""

    @property
    def destination(self) -> str:
        """The name reports group by: the host name, else the server address.

        >>> Record(RecordKind.CONNECTION, 0.0, SourceKind.PCAP, server_ip="192.0.2.1").destination
        '192.0.2.1'
        """
        return self.host or self.server_ip or "unknown"

    def header(self, name: str) -> str | None:
        """First request header called ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        for key, value in self.request_headers:
            if key.lower() == lowered:
                return value
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the body is base64 so any bytes survive."""
        # A shallow copy: asdict() deep-copies every header tuple, and the live worker calls this per flow.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["kind"] = self.kind.value
        data["source"] = self.source.value
        data["host_source"] = self.host_source.value
        data["request_headers"] = [list(pair) for pair in self.request_headers]
        data["cookies"] = [list(pair) for pair in self.cookies]
        data["set_cookies"] = [list(pair) for pair in self.set_cookies]
        data["dns_answers"] = list(self.dns_answers)
        data["dns_cnames"] = list(self.dns_cnames)
        data["request_body"] = base64.b64encode(self.request_body).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        """Inverse of :meth:`to_json`; raises ``KeyError``/``ValueError`` on bad data."""
        values = dict(data)
        values["kind"] = RecordKind(values["kind"])
        values["source"] = SourceKind(values["source"])
        values["host_source"] = HostSource(values.get("host_source", "ip_only"))
        values["request_headers"] = tuple((str(k), str(v)) for k, v in values.get("request_headers", ()))
        values["cookies"] = tuple((str(k), str(v)) for k, v in values.get("cookies", ()))
        values["set_cookies"] = tuple((str(k), str(v)) for k, v in values.get("set_cookies", ()))
        values["dns_answers"] = tuple(values.get("dns_answers", ()))
        values["dns_cnames"] = tuple(values.get("dns_cnames", ()))
        values["request_body"] = base64.b64decode(values.get("request_body", ""))
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        # A saved file may be damaged or hand-edited: a wrong type must fail here, not deep in the analysis.
        for name, value in kept.items():
            _check_type(name, str(known[name]), value)
        return cls(**kept)


_SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def _check_type(name: str, annotation: str, value: Any) -> None:
    """Raise ``ValueError`` naming the field when ``value`` does not fit a :class:`Record` field."""
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if value is None and optional:
        return
    if base in ("Headers", "tuple[str, ...]"):
        items = [item for pair in value for item in pair] if base == "Headers" else list(value)
        if all(isinstance(item, str) for item in items):
            return
    elif base in _SCALARS:
        if isinstance(value, _SCALARS[base]) and (base == "bool" or not isinstance(value, bool)):
            return
    else:  # enums and bytes, already converted above
        return
    raise ValueError(f"field {name} has the wrong type ({type(value).__name__}, expected {annotation})")


@dataclass(frozen=True, slots=True)
class InputProblem:
    """Something in an input that could not be read; the rest of the input still counts."""

    path: str
    """The input file."""
    message: str
    """One line saying what is wrong, e.g. ``truncated at byte 40960``."""
    fatal: bool = False
    """True when nothing at all could be read from the file."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class InputSummary:
    """What one input contributed, for the report's provenance section."""

    path: str
    format: str
    sha256: str
    records: int = 0
    problems: list[InputProblem] = field(default_factory=list)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Record))
