"""mitmproxy flows, live (from the addon) or saved in a flow file.

This is the only module of the core that touches mitmproxy objects: it turns
them into records, so the addon and ``auditor analyze flows.mitm`` share one
conversion. mitmproxy is imported lazily, only when flows are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditor.decoding import DEFAULT_BODY_CAP, decode_content
from auditor.privacy import redact_text
from auditor.records import HostSource, InputProblem, Record, RecordKind, SourceKind
from auditor.sources import Format, ReadOptions
from auditor.sources.common import cookies_from_headers, normalize_http_version, set_cookies_from_headers

# A flow file is a stream of tnetstrings, "<length>:<payload><type>", each a dict whose payload
# starts with a key such as "9:websocket;" (";" marks text, "," bytes). mitmproxy writes the keys
# in reverse, so "version" and "type" may sit after a large body: recognise the structure instead.
_FLOW_START = re.compile(rb"^(\d{1,12}):(\d{1,2}):")
_FLOW_KEY = re.compile(rb"[a-z_]{1,40}")


def sniff(path: Path, head: bytes) -> bool:
    """Recognise a tnetstring dictionary (a mitmproxy flow) at the start of the file."""
    match = _FLOW_START.match(head)
    if not match:
        return False
    key_end = match.end() + int(match.group(2))
    if not _FLOW_KEY.fullmatch(head[match.end() : key_end]) or head[key_end : key_end + 1] not in (b",", b";"):
        return False
    # The first flow must end with the dictionary marker, unless the file was cut inside it.
    closing = len(match.group(1)) + 1 + int(match.group(1))
    try:
        with path.open("rb") as handle:
            handle.seek(closing)
            marker = handle.read(1)
    except OSError:
        return False
    return marker in (b"}", b"")


def _ip_port(address: Any) -> tuple[str | None, int | None]:
    if isinstance(address, tuple | list) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None, None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def http_flow_to_record(flow: Any, source: SourceKind, origin: str, body_cap: int = DEFAULT_BODY_CAP) -> Record:
    """Turn a mitmproxy ``HTTPFlow`` into a record (the body decoded up to ``body_cap``)."""
    request = flow.request
    response = flow.response
    headers = tuple((_text(k), _text(v)) for k, v in request.headers.fields)
    raw = request.raw_content or b""
    body = decode_content(raw, request.headers.get("content-encoding"), body_cap)
    client_ip, client_port = _ip_port(flow.client_conn.peername)
    server_ip, server_port = _ip_port(flow.server_conn.peername)
    if server_port is None:
        server_port = request.port
    has_host_header = any(k.lower() in ("host", ":authority") for k, _ in headers)
    note = body.problem
    if flow.error is not None:
        note = f"{note}; {flow.error.msg}" if note else flow.error.msg
    bytes_down = 0
    if response is not None:
        bytes_down = len(response.raw_content or b"") + sum(len(k) + len(v) + 4 for k, v in response.headers.fields)
    return Record(
        kind=RecordKind.HTTP,
        time=float(request.timestamp_start or 0.0),
        source=source,
        host=request.pretty_host.lower().rstrip(".") or None,
        host_source=HostSource.HOST_HEADER if has_host_header else HostSource.URL,
        client_ip=client_ip,
        client_port=client_port,
        server_ip=server_ip,
        server_port=server_port,
        protocol=normalize_http_version(request.http_version),
        content_visible=True,
        encrypted=request.scheme in ("https", "wss"),
        method=request.method,
        url=request.pretty_url,
        request_headers=headers,
        cookies=cookies_from_headers(headers),
        request_body=body.data,
        request_body_truncated=body.truncated,
        request_content_type=request.headers.get("content-type"),
        response_status=response.status_code if response is not None else None,
        response_content_type=response.headers.get("content-type") if response is not None else None,
        set_cookies=set_cookies_from_headers(
            tuple((_text(k), _text(v)) for k, v in response.headers.fields) if response is not None else ()
        ),
        bytes_up=len(raw) + sum(len(k) + len(v) + 4 for k, v in request.headers.fields),
        bytes_down=bytes_down,
        note=note,
        origin=origin,
    )


def websocket_message_to_record(
    flow: Any, message: Any, source: SourceKind, origin: str, body_cap: int = DEFAULT_BODY_CAP
) -> Record | None:
    """Turn one WebSocket message the device sent into a record; ``None`` for messages it received.

    Classroom apps push answers, chat and presence over WebSockets long after
    the handshake, so each sent message is analysed like a request body sent
    to the handshake's URL (without repeating the handshake's headers).
    """
    if not message.from_client:
        return None
    request = flow.request
    content = message.content or b""
    client_ip, client_port = _ip_port(flow.client_conn.peername)
    server_ip, server_port = _ip_port(flow.server_conn.peername)
    return Record(
        kind=RecordKind.HTTP,
        time=float(message.timestamp or request.timestamp_start or 0.0),
        source=source,
        host=request.pretty_host.lower().rstrip(".") or None,
        host_source=HostSource.HOST_HEADER,
        client_ip=client_ip,
        client_port=client_port,
        server_ip=server_ip,
        server_port=server_port or request.port,
        protocol="WebSocket",
        content_visible=True,
        encrypted=request.scheme in ("https", "wss"),
        url=request.pretty_url,
        request_body=content[:body_cap],
        request_body_truncated=len(content) > body_cap,
        request_content_type="text/plain; charset=utf-8" if message.is_text else "application/octet-stream",
        bytes_up=len(content),
        note="WebSocket message sent by the device",
        origin=origin,
    )


def stream_flow_to_record(flow: Any, source: SourceKind, origin: str, body_cap: int = DEFAULT_BODY_CAP) -> Record:
    """Turn a raw TCP or UDP flow into a record, known by its SNI if it had one, else by address.

    mitmproxy records a stream's messages after opening its TLS, so what the device sent was read:
    it is searched as raw bytes (as the pcap reader does with decrypted non-HTTP data).
    """
    server = flow.server_conn
    client_ip, client_port = _ip_port(flow.client_conn.peername)
    server_ip, server_port = _ip_port(server.peername)
    address_host, address_port = _ip_port(server.address)
    sni = server.sni or flow.client_conn.sni
    sent = b"".join(m.content for m in flow.messages if m.from_client)
    up = len(sent)
    # A stream the proxy passed through unopened still starts with a TLS handshake record: ciphertext, not read.
    passed_through = sent[:1] == b"\x16" and sent[1:2] == b"\x03"
    readable = bool(sent) and not passed_through
    down = sum(len(m.content) for m in flow.messages if not m.from_client)
    tls = bool(server.tls or flow.client_conn.tls)
    host = sni or (address_host if address_host and not _is_ip(address_host) else None)
    return Record(
        kind=RecordKind.TLS if tls else RecordKind.CONNECTION,
        time=float(flow.client_conn.timestamp_start or 0.0),
        source=source,
        host=host.lower() if host else None,
        host_source=HostSource.SNI if sni else (HostSource.HOST_HEADER if host else HostSource.IP_ONLY),
        client_ip=client_ip,
        client_port=client_port,
        server_ip=server_ip or (address_host if address_host and _is_ip(address_host) else None),
        server_port=server_port or address_port,
        protocol="TLS" if tls else type(flow).__name__.replace("Flow", "").upper(),
        content_visible=readable,
        encrypted=tls or passed_through,
        request_body=sent[:body_cap] if readable else b"",
        request_body_truncated=readable and len(sent) > body_cap,
        bytes_up=up,
        bytes_down=down,
        note=_stream_note(bool(sent), passed_through),
        origin=origin,
    )


def _stream_note(sent: bool, passed_through: bool) -> str:
    if passed_through:
        return "TLS passed through the proxy unopened: content not read"
    return "raw stream, not HTTP: analysed as raw bytes" if sent else "raw stream, not HTTP: nothing sent"


def dns_flow_to_record(flow: Any, source: SourceKind, origin: str) -> Record | None:
    """Turn a DNS lookup seen by mitmproxy's DNS or WireGuard mode into a record."""
    questions = flow.request.questions
    if not questions:
        return None
    answers: list[str] = []
    cnames: list[str] = []
    if flow.response is not None:
        for answer in flow.response.answers:
            data = answer.to_json()
            if data.get("type") in ("A", "AAAA"):
                answers.append(str(data["data"]))
            elif data.get("type") == "CNAME":
                cnames.append(str(data["data"]).lower().rstrip("."))
    client_ip, client_port = _ip_port(flow.client_conn.peername)
    server_ip, server_port = _ip_port(flow.server_conn.peername)
    return Record(
        kind=RecordKind.DNS,
        time=float(flow.request.timestamp or flow.client_conn.timestamp_start or 0.0),
        source=source,
        host=questions[0].name.lower().rstrip("."),
        host_source=HostSource.DNS_QUERY,
        client_ip=client_ip,
        client_port=client_port,
        server_ip=server_ip,
        server_port=server_port,
        protocol="DNS",
        content_visible=True,
        dns_answers=tuple(answers),
        dns_cnames=tuple(cnames),
        bytes_up=len(flow.request.packed),
        bytes_down=len(flow.response.packed) if flow.response is not None else 0,
        origin=origin,
    )


def tls_failure_to_record(data: Any, source: SourceKind, origin: str, reason: str) -> Record:
    """Turn a TLS handshake mitmproxy could not intercept (``tls_failed_client`` hook data) into a record."""
    client = data.context.client
    server = data.context.server
    client_ip, client_port = _ip_port(client.peername)
    server_ip, server_port = _ip_port(server.peername)
    address_host, address_port = _ip_port(server.address)
    sni = client.sni
    return Record(
        kind=RecordKind.TLS,
        time=float(client.timestamp_start or 0.0),
        source=source,
        host=sni.lower() if sni else None,
        host_source=HostSource.SNI if sni else HostSource.IP_ONLY,
        client_ip=client_ip,
        client_port=client_port,
        server_ip=server_ip or address_host,
        server_port=server_port or address_port,
        protocol="TLS",
        content_visible=False,
        encrypted=True,
        note=reason,
        origin=origin,
    )


def flow_to_record(flow: Any, source: SourceKind, origin: str, body_cap: int = DEFAULT_BODY_CAP) -> Record | None:
    """Any mitmproxy flow to a record; ``None`` for flow types that carry nothing to audit."""
    from mitmproxy import dns, http, tcp, udp

    if isinstance(flow, http.HTTPFlow):
        return http_flow_to_record(flow, source, origin, body_cap)
    if isinstance(flow, dns.DNSFlow):
        return dns_flow_to_record(flow, source, origin)
    if isinstance(flow, tcp.TCPFlow | udp.UDPFlow):
        return stream_flow_to_record(flow, source, origin, body_cap)
    return None


def certificate_from_der(der: bytes) -> Any:
    """Rebuild a mitmproxy ``Cert`` from its DER bytes (the other half of :func:`pickle_reducers`)."""
    from cryptography import x509
    from mitmproxy import certs

    return certs.Cert(x509.load_der_x509_certificate(der))


def _reduce_certificate(cert: Any) -> tuple[Any, ...]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate_from_der, (cert._cert.public_bytes(Encoding.DER),)


def pickle_reducers() -> dict[type, Any]:
    """:mod:`copyreg` reducers that make flows picklable: HTTPS flows hold certificates, which cannot be.

    Without them the addon fell back to ``get_state`` for every HTTPS flow: about
    110 µs of the proxy's time per flow instead of about 25 µs.
    """
    from mitmproxy import certs

    return {certs.Cert: _reduce_certificate}


def _is_ip(text: str) -> bool:
    from auditor.sources.common import is_ip_literal

    return is_ip_literal(text)


_DAMAGED = "Invalid data format."
"""What mitmproxy's FlowReader says when the bytes themselves are broken."""


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Yield the records of a mitmproxy flow file; damage stops reading with a problem noted."""
    from mitmproxy import exceptions, io

    count = 0
    good_until = 0
    with path.open("rb") as handle:
        reader = io.FlowReader(handle)
        try:
            for flow in reader.stream():
                count += 1
                good_until = handle.tell()
                try:
                    record = flow_to_record(flow, SourceKind.FLOW_FILE, str(path), options.body_cap)
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    reason = f"{type(exc).__name__}: {redact_text(exc)}"
                    problems.append(InputProblem(str(path), f"flow {count} skipped: {reason}"))
                    continue
                if record is not None:
                    yield record
                websocket = getattr(flow, "websocket", None)
                for message in websocket.messages if websocket is not None else ():
                    sent = websocket_message_to_record(flow, message, SourceKind.FLOW_FILE, str(path), options.body_cap)
                    if sent is not None:
                        yield sent
        except exceptions.FlowReadException as exc:
            if str(exc) == _DAMAGED:
                cause = f" ({exc.__cause__})" if exc.__cause__ else ""
                message = f"flow file damaged at byte {good_until}, after {count} flows: {exc}{cause}"
            else:  # e.g. a flow format newer than the installed mitmproxy reads
                message = f"stopped at flow {count + 1} (byte {good_until}): {exc}"
            problems.append(InputProblem(str(path), message, fatal=count == 0))
        except Exception as exc:  # noqa: BLE001
            # mitmproxy's reader trusts the structure it decodes: a damaged flow fails anywhere inside it
            # (AttributeError, AssertionError, a certificate the cryptography library rejects, ...).
            reason = f"{type(exc).__name__}: {redact_text(exc)}"
            message = f"flow file damaged at byte {good_until}, after {count} flows: {reason}"
            problems.append(InputProblem(str(path), message, fatal=count == 0))


FORMAT = Format("mitmproxy", sniff, read)
