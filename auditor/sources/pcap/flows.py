"""From frames to records: the flow table and what each protocol reveals.

The hot loop in :meth:`CaptureAnalyzer.records` parses Ethernet/IPv4/TCP by
hand and touches a flow's protocol state only while there is still something
to learn from it (a ClientHello to find, HTTP to parse, TLS to decrypt).
After that a packet costs one dictionary lookup and two additions.
Records come out when a connection ends, is idle too long, or the file ends.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from auditor.decoding import decode_content
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.sources.common import cookies_from_headers, host_of_url, is_ip_literal, set_cookies_from_headers
from auditor.sources.pcap import dns as dns_module
from auditor.sources.pcap.decrypt import DecryptError, KeyLog, KeysUnavailable, RecordDecryptor, session_decryptors
from auditor.sources.pcap.http1 import Http1Parser, Message, looks_like_http_request
from auditor.sources.pcap.http2 import PREFACE, Exchange, Http2Connection
from auditor.sources.pcap.packets import SUPPORTED_LINK_TYPES, ScapyFallback, address_text, ip_header, ip_offset
from auditor.sources.pcap.quic import QuicClientHello, looks_like_quic_initial
from auditor.sources.pcap.reader import CaptureReader
from auditor.sources.pcap.reassembly import StreamGap, TcpStream
from auditor.sources.pcap.tls import (
    CONTENT_APPLICATION_DATA,
    CONTENT_CHANGE_CIPHER_SPEC,
    CONTENT_HANDSHAKE,
    HANDSHAKE_CLIENT_HELLO,
    HANDSHAKE_SERVER_HELLO,
    TLS13,
    ClientHello,
    HandshakeReassembler,
    ServerHello,
    TlsError,
    looks_like_tls,
    parse_client_hello,
    parse_server_hello,
)

TCP_IDLE_TIMEOUT = 300.0
"""Seconds of capture time after which a silent TCP connection is closed and reported."""
UDP_IDLE_TIMEOUT = 120.0
CLOSED_GRACE = 10.0
"""Seconds a closed connection stays in the table to absorb late retransmissions."""
MAX_FLOWS = 50_000
"""Connections tracked at once; beyond this the least recently active are reported early."""
SWEEP_EVERY = 8192
DECRYPT_CAPS = (1 << 30, 8 << 20)
"""Decrypted bytes per connection from the device (everything it sends matters) and to it (only response heads do)."""
DETECT_CAP = 64 * 1024
"""Client bytes looked at to recognise a protocol (a ClientHello with post-quantum keys fits easily)."""
MAX_DNS_NAMES = 200_000
MAX_PENDING_DNS = 50_000
QUIC_INITIAL_DATAGRAMS = 8
"""Client datagrams of a QUIC connection searched for the ClientHello."""
MAX_TLS_RECORD = (1 << 14) + 2048

WELL_KNOWN_SERVICES = {
    ("UDP", 5353): ("mDNS", "multicast DNS (local network discovery)"),
    ("UDP", 5355): ("LLMNR", "LLMNR (local name resolution)"),
    ("UDP", 1900): ("SSDP", "SSDP (local device discovery)"),
    ("UDP", 137): ("NetBIOS", "NetBIOS name service (local network)"),
    ("UDP", 138): ("NetBIOS", "NetBIOS datagrams (local network)"),
    ("UDP", 67): ("DHCP", "DHCP (address assignment)"),
    ("UDP", 68): ("DHCP", "DHCP (address assignment)"),
    ("UDP", 123): ("NTP", "NTP (clock synchronisation)"),
    ("UDP", 443): ("QUIC", "QUIC, encrypted; its handshake is not in the capture"),
    ("TCP", 853): ("DoT", "DNS over TLS: names looked up are hidden"),
    ("UDP", 853): ("DoQ", "DNS over QUIC: names looked up are hidden"),
    ("TCP", 5228): ("FCM", "Google push messaging (FCM), encrypted"),
    ("TCP", 5223): ("APNs", "Apple push notifications, encrypted"),
}
"""Services recognised by port when their content is not analysed: (protocol, note)."""

_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
_WELL_KNOWN_PORT = 1024

NOTE_NO_KEYLOG = "encrypted; no TLS key log given"
NOTE_NO_HANDSHAKE = "encrypted; handshake not in the capture"
NOTE_WRONG_KEYS = "decryption failed: the key log's keys do not open this session"
NOTE_QUIC = "QUIC, encrypted; only the SNI of the Initial packet is visible"


class Flow:
    """One TCP connection or UDP conversation."""

    __slots__ = (
        "active",
        "client",
        "client_ip",
        "client_port",
        "closing",
        "dns_name",
        "down",
        "handler",
        "keys",
        "last",
        "server",
        "server_ip",
        "server_port",
        "start",
        "streams",
        "transport",
        "up",
    )

    def __init__(
        self, transport: str, client: bytes, client_port: int, server: bytes, server_port: int, now: float
    ) -> None:
        self.transport = transport
        self.client = client
        self.client_port = client_port
        self.server = server
        self.server_port = server_port
        self.client_ip = address_text(client)
        self.server_ip = address_text(server)
        self.start = now
        self.last = now
        self.up = 0
        self.down = 0
        self.active = True
        """False once nothing more can be learned: then packets are only counted."""
        self.handler: Handler | None = None
        self.streams: list[TcpStream] | None = None
        self.closing = 0.0
        self.dns_name: tuple[str, tuple[str, ...]] | None = None
        """(name, CNAME chain) the server address had in DNS when the connection started."""
        # Dictionary keys as the packets carry them: addresses then ports, one per direction.
        self.keys = (
            client + server + struct.pack("!HH", client_port, server_port),
            server + client + struct.pack("!HH", server_port, client_port),
        )


class Handler:
    """What a protocol does with a flow's bytes; subclasses append records to ``analyzer.out``."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow) -> None:
        self.analyzer = analyzer
        self.flow = flow

    def data(self, side: int, data: bytes, now: float) -> None:
        """In-order bytes of one side (0 client, 1 server)."""

    def gap(self, side: int) -> None:
        """Bytes of one side are missing; parsing that side cannot continue."""
        self.flow.active = False

    def cut(self, side: int) -> None:
        """A frame of this side was cut by the capture's snapshot length."""
        self.gap(side)

    def finish(self) -> None:
        """Emit what is still pending: the connection ended."""


class HttpHandler(Handler):
    """HTTP/1.x in both directions: each request becomes an HTTP record with its response status."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow, encrypted: bool, host_hint: str | None = None) -> None:
        super().__init__(analyzer, flow)
        self.encrypted = encrypted
        self.host_hint = host_hint
        self.requests = Http1Parser(True, analyzer.body_cap)
        self.responses = Http1Parser(False, 0)
        self.responses.request_methods = self.requests.request_methods  # responses to HEAD have no body
        self.waiting: list[Message] = []
        self.emitted = 0

    def data(self, side: int, data: bytes, now: float) -> None:
        """Feed requests or responses; pair them in order."""
        if side == 0:
            for message in self.requests.feed(data, now):
                self.waiting.append(message)
                if len(self.waiting) > 256:
                    self._emit(self.waiting.pop(0), None)
        else:
            for response in self.responses.feed(data, now):
                if not self.waiting:
                    continue
                request = self.waiting.pop(0)
                self._emit(request, response)
                if request.start_line[0] == "CONNECT":
                    if self.responses.in_tunnel:
                        self._enter_tunnel(now)
                        return
                    self.waiting.extend(self.requests.leave_tunnel())  # refused: the client may try again
        if self.requests.error and self.responses.error:
            self.flow.active = False

    def gap(self, side: int) -> None:
        """Skip a hole: requests waiting lose their pairing, parsing resumes at the next message start."""
        for message in self.waiting:
            self._emit(message, None)
        self.waiting.clear()
        self.requests.request_methods.clear()
        (self.requests if side == 0 else self.responses).resync()

    def _enter_tunnel(self, now: float) -> None:
        # A proxy opened a tunnel (CONNECT, 2xx): what follows is usually TLS to the real
        # destination, recognised afresh like a new connection.
        client_rest = self.requests.take_tunnel_bytes()
        self.responses.take_tunnel_bytes()
        for message in self.waiting:
            self._emit(message, None)
        self.waiting.clear()
        flow = self.flow
        flow.handler = None
        if client_rest:
            self.analyzer.detect_and_feed(flow, client_rest, now)

    def finish(self) -> None:
        """Emit requests still waiting, with a response cut by the end of the connection if any."""
        for message in self.requests.finish():
            self.waiting.append(message)
        cut = self.responses.finish()
        for index, message in enumerate(self.waiting):
            self._emit(message, cut[0] if index == 0 and cut else None)
        self.waiting.clear()
        if not self.emitted and self.flow.handler is self:
            # The connection still counts, even when no request could be read whole.
            self.analyzer.emit_named(
                self.flow,
                RecordKind.CONNECTION,
                "HTTP",
                None,
                HostSource.IP_ONLY,
                "HTTP, but no complete request in the capture",
                encrypted=False,
            )

    def _emit(self, request: Message, response: Message | None) -> None:
        method, target, version = request.start_line
        headers = request.headers
        status = None
        content_type = None
        if response is not None:
            try:
                status = int(response.start_line[1])
            except ValueError:
                status = None
            content_type = response.header("content-type")
        self.emitted += 1
        self.analyzer.emit_http(
            self.flow,
            time=request.started,
            method=method,
            target=target,
            version=version,
            headers=headers,
            body=request.body,
            body_truncated=request.body_truncated,
            status=status,
            response_content_type=content_type,
            set_cookies=set_cookies_from_headers(response.headers) if response is not None else (),
            bytes_up=request.size,
            bytes_down=response.size if response is not None else 0,
            encrypted=self.encrypted,
            host_hint=self.host_hint,
        )


class Http2Handler(Handler):
    """HTTP/2 inside decrypted TLS (or cleartext with prior knowledge)."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow, encrypted: bool, host_hint: str | None) -> None:
        super().__init__(analyzer, flow)
        self.encrypted = encrypted
        self.host_hint = host_hint
        self.connection = Http2Connection(analyzer.body_cap)
        self.emitted = 0

    def data(self, side: int, data: bytes, now: float) -> None:
        """Feed frames of one side."""
        for exchange in self.connection.feed(side, data, now):
            self._emit(exchange)

    def finish(self) -> None:
        """Emit requests that never got a complete response."""
        for exchange in self.connection.finish():
            self._emit(exchange)

    def _emit(self, exchange: Exchange) -> None:
        pseudo = {name: value for name, value in exchange.headers if name.startswith(":")}
        headers = tuple((name, value) for name, value in exchange.headers if not name.startswith(":"))
        # Headers stay as sent (no pseudo-headers), as in a proxied HTTP/2 flow; :authority names the host.
        authority = pseudo.get(":authority")
        self.emitted += 1
        self.analyzer.emit_http(
            self.flow,
            time=exchange.started,
            method=pseudo.get(":method", "GET"),
            target=pseudo.get(":path", "/"),
            version="HTTP/2",
            headers=headers,
            body=b"".join(exchange.body),
            body_truncated=exchange.body_truncated,
            status=exchange.status,
            response_content_type=exchange.response_content_type,
            bytes_up=exchange.bytes_up,
            bytes_down=exchange.bytes_down,
            encrypted=self.encrypted,
            host_hint=authority or self.host_hint,
            authority_header=authority is not None,
        )


class TlsHandler(Handler):
    """A TLS connection: the SNI always; with keys, the decrypted application data."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow) -> None:
        super().__init__(analyzer, flow)
        self.buffers = [b"", b""]
        self.handshake = [HandshakeReassembler(), HandshakeReassembler()]
        self.hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None
        self.decryptors: list[RecordDecryptor | None] = [None, None]
        self.encrypting = [False, False]
        self.decrypted = [0, 0]
        self.note: str | None = None
        self.app: Handler | None = None
        self.raw_client = bytearray()
        self.raw_server_pending: list[bytes] = []
        self.failures = 0
        self.opened = 0

    def data(self, side: int, data: bytes, now: float) -> None:
        """Cut the stream into TLS records and handle each."""
        buffer = self.buffers[side] + data if self.buffers[side] else data
        position = 0
        while position + 5 <= len(buffer) and self.flow.active:
            content_type = buffer[position]
            length = (buffer[position + 3] << 8) | buffer[position + 4]
            if buffer[position + 1] != 3 or length > MAX_TLS_RECORD or content_type < 20 or content_type > 24:
                self._stop("TLS stream not readable (record layer out of sync)")
                return
            if position + 5 + length > len(buffer):
                break
            self._record(
                side,
                content_type,
                buffer[position + 1 : position + 3],
                buffer[position + 5 : position + 5 + length],
                now,
            )
            position += 5 + length
        self.buffers[side] = buffer[position:]

    def _record(self, side: int, content_type: int, version: bytes, fragment: bytes, now: float) -> None:
        decryptor = self.decryptors[side]
        tls13 = self.server_hello is not None and self.server_hello.version == TLS13
        if decryptor is not None and (self.encrypting[side] or (tls13 and content_type == CONTENT_APPLICATION_DATA)):
            if self.decrypted[side] >= DECRYPT_CAPS[side]:
                self._side_done(side)
                return
            try:
                inner_type, plain = decryptor.decrypt(content_type, version, fragment)
            except DecryptError:
                self.failures += 1
                if self.failures > 32 and not self.opened:
                    self._stop(NOTE_WRONG_KEYS)
                return
            self.opened += 1
            self.decrypted[side] += len(plain)
            if inner_type == CONTENT_APPLICATION_DATA and plain:
                self._application(side, plain, now)
            return
        if content_type == CONTENT_HANDSHAKE:
            for kind, body in self.handshake[side].feed(fragment):
                self._handshake(side, kind, body)
        elif content_type == CONTENT_CHANGE_CIPHER_SPEC:
            if not tls13:
                self.encrypting[side] = True
        elif content_type == CONTENT_APPLICATION_DATA and decryptor is None:
            if self.hello is None:
                self._stop(NOTE_NO_HANDSHAKE)
            elif self.note is None and self.server_hello is None:
                self._stop("encrypted; ServerHello not in the capture")

    def _handshake(self, side: int, kind: int, body: bytes) -> None:
        try:
            if side == 0 and kind == HANDSHAKE_CLIENT_HELLO and self.hello is None:
                self.hello = parse_client_hello(body)
                self.analyzer.take_embedded_keys()
                keylog = self.analyzer.keylog
                if keylog is None:
                    self._stop(NOTE_NO_KEYLOG)
                elif self.hello.random not in keylog.secrets:
                    self._stop("encrypted; no key for this session in the key log")
            elif side == 1 and kind == HANDSHAKE_SERVER_HELLO and self.hello is not None:
                hello = parse_server_hello(body)
                if hello.is_retry_request:
                    return
                self.server_hello = hello
                assert self.analyzer.keylog is not None
                try:
                    client, server = session_decryptors(self.analyzer.keylog, self.hello.random, hello)
                except KeysUnavailable as exc:
                    self._stop(f"encrypted; {exc}")
                    return
                self.decryptors = [client, server]
        except TlsError as exc:
            self._stop(f"encrypted; handshake not readable ({exc})")

    def _application(self, side: int, plain: bytes, now: float) -> None:
        if self.app is None:
            if side == 1:
                if sum(map(len, self.raw_server_pending)) < DETECT_CAP:
                    self.raw_server_pending.append(plain)
                return
            host = self.hello.server_name if self.hello else None
            if plain.startswith(PREFACE[:4]):
                self.app = Http2Handler(self.analyzer, self.flow, True, host)
            elif looks_like_http_request(plain):
                self.app = HttpHandler(self.analyzer, self.flow, True, host)
            else:
                self.app = Handler(self.analyzer, self.flow)
            self.app.data(0, plain, now)
            for pending in self.raw_server_pending:
                self.app.data(1, pending, now)
            self.raw_server_pending.clear()
            if type(self.app) is Handler:
                self.raw_client.extend(plain[: self.analyzer.body_cap])
            return
        if type(self.app) is Handler:
            if side == 0:
                room = self.analyzer.body_cap - len(self.raw_client)
                if room > 0:
                    self.raw_client.extend(plain[:room])
            return
        self.app.data(side, plain, now)

    def _side_done(self, side: int) -> None:
        self.decryptors[side] = None
        self.encrypting[side] = False
        if self.decryptors == [None, None]:
            self.flow.active = False

    def _stop(self, note: str) -> None:
        if self.note is None:
            self.note = note
        self.flow.active = False
        self.buffers = [b"", b""]

    def cut(self, side: int) -> None:
        """Say so when the snapshot length cut the handshake."""
        if self.hello is None:
            self._stop("encrypted; the ClientHello was cut by the capture's snapshot length")
        else:
            self.gap(side)

    def gap(self, side: int) -> None:
        """Lost segments: the record layer cannot be followed any more."""
        if self.decryptors[side] is not None or self.hello is None:
            self._stop(
                "capture lost packets of this connection; decryption stopped" if self.hello else NOTE_NO_HANDSHAKE
            )
        else:
            self.flow.active = False

    def finish(self) -> None:
        """Emit the HTTP still pending, or one TLS record for the connection."""
        emitted = 0
        if self.app is not None:
            self.app.finish()
            emitted = getattr(self.app, "emitted", 0)
        if emitted:
            return
        flow = self.flow
        name = self.hello.server_name if self.hello else None
        visible = self.app is not None
        if visible and type(self.app) is not Handler:
            note = "decrypted; no complete HTTP request"
        elif visible:
            note = "decrypted; the application data is not HTTP (analysed as raw bytes)"
        elif self.opened:
            note = "decrypted; no application data"
            visible = True
        elif self.note is not None:
            note = self.note
        elif self.failures:
            note = NOTE_WRONG_KEYS
        elif self.analyzer.keylog is None:
            note = NOTE_NO_KEYLOG
        elif self.hello is None:
            note = NOTE_NO_HANDSHAKE
        else:
            note = "encrypted; the handshake did not finish in the capture"
        self.analyzer.emit_named(
            flow,
            RecordKind.TLS,
            "TLS",
            name,
            HostSource.SNI,
            note,
            encrypted=True,
            content_visible=visible,
            body=bytes(self.raw_client),
        )


class DnsTcpHandler(Handler):
    """DNS over TCP: messages with a two-byte length prefix."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow) -> None:
        super().__init__(analyzer, flow)
        self.buffers = [b"", b""]

    def data(self, side: int, data: bytes, now: float) -> None:
        """Cut messages and hand them to the DNS tracker."""
        buffer = self.buffers[side] + data
        position = 0
        while position + 2 <= len(buffer):
            length = (buffer[position] << 8) | buffer[position + 1]
            if position + 2 + length > len(buffer):
                break
            message = buffer[position + 2 : position + 2 + length]
            position += 2 + length
            flow = self.flow
            if side == 0:
                self.analyzer.dns_message(
                    message, flow.client_ip, flow.client_port, flow.server_ip, flow.server_port, now, "TCP"
                )
            else:
                self.analyzer.dns_message(
                    message, flow.server_ip, flow.server_port, flow.client_ip, flow.client_port, now, "TCP"
                )
        self.buffers[side] = buffer[position:]
        if len(self.buffers[side]) > 70000:
            self.flow.active = False

    def finish(self) -> None:
        """DNS over TCP is reported as DNS records only."""


class QuicHandler(Handler):
    """A QUIC connection: the SNI from the client's Initial packets."""

    def __init__(self, analyzer: CaptureAnalyzer, flow: Flow) -> None:
        super().__init__(analyzer, flow)
        self.reader = QuicClientHello()
        self.datagrams = 0

    def data(self, side: int, data: bytes, now: float) -> None:
        """Read client Initials until the ClientHello is complete."""
        if side:
            return
        self.datagrams += 1
        if self.reader.feed(data) is not None or self.datagrams >= QUIC_INITIAL_DATAGRAMS:
            self.flow.active = False

    def finish(self) -> None:
        """One QUIC record per connection."""
        hello = self.reader.hello
        if hello is None:
            note = self.reader.error or "QUIC, encrypted; no readable Initial packet"
        elif self.analyzer.keylog is not None:
            note = "QUIC, encrypted; decrypting QUIC with a key log is not supported, only the SNI is visible"
        else:
            note = NOTE_QUIC
        self.analyzer.emit_named(
            self.flow,
            RecordKind.QUIC,
            "QUIC",
            hello.server_name if hello else None,
            HostSource.SNI,
            note,
            encrypted=True,
        )


class CaptureAnalyzer:
    """Turns the frames of one capture into records."""

    def __init__(self, origin: str, body_cap: int, keylog: KeyLog | None) -> None:
        self.origin = origin
        self.body_cap = body_cap
        self.keylog = keylog
        self.flows: dict[bytes, tuple[Flow, int]] = {}
        self.flow_count = 0
        self.out: list[Record] = []
        self.names: dict[str, tuple[str, tuple[str, ...]]] = {}
        """Address -> (queried name, CNAME chain), from DNS answers seen so far."""
        self.pending_dns: dict[tuple[str, int, int], tuple[float, str, str, int, int]] = {}
        self.frames = 0
        self.ip_frames = 0
        self.link_types_unsupported: set[int] = set()
        self.reader: CaptureReader | None = None
        self.keylogs_taken = 0
        self.fallback = ScapyFallback()
        self.truncated_frames = 0
        """Frames shorter than their IP length says (a small snapshot length): content is missing."""
        self.parse_errors = 0
        """Connections whose content could not be parsed (they are still reported, by name and size)."""
        self.first_parse_error: str | None = None

    # -- the hot loop --------------------------------------------------------

    def records(self, reader: CaptureReader, progress: Callable[[int], None] | None = None) -> Iterator[Record]:
        """Every record of the capture, as connections end and at the end of the file."""
        flows = self.flows
        out = self.out
        unpack_ports = struct.Struct("!HHI").unpack_from
        unpack_udp = struct.Struct("!HH").unpack_from
        unpack_sequence = struct.Struct("!I").unpack_from
        next_sweep = SWEEP_EVERY
        frames = 0
        self.reader = reader
        for now, link_type, frame in reader:
            frames += 1
            if frames >= next_sweep:
                next_sweep = frames + SWEEP_EVERY
                self.sweep(now)
                if progress is not None:
                    progress(reader.position)
            # Fast path: Ethernet or Linux cooked capture carrying IPv4 without options or
            # fragmentation, or IPv6 without extension headers. Everything else takes ip_header().
            if link_type == 1:
                ip = 14
                ethertype = frame[12:14]
            elif link_type == 113:
                ip = 16
                ethertype = frame[14:16]
            else:
                ip = 0
                ethertype = b""
            if (
                ethertype == b"\x08\x00"
                and len(frame) >= ip + 20
                and frame[ip] == 0x45
                and not (frame[ip + 6] & 0x1F or frame[ip + 7])
            ):
                proto = frame[ip + 9]
                addresses = frame[ip + 12 : ip + 20]
                transport = ip + 20
                declared = ip + ((frame[ip + 2] << 8) | frame[ip + 3])
                if declared <= len(frame):
                    end = declared
                else:  # cut by the capture's snapshot length
                    end = len(frame)
                    self.truncated_frames += 1
            elif ethertype == b"\x86\xdd" and len(frame) >= ip + 40 and frame[ip + 6] in (6, 17):
                proto = frame[ip + 6]
                addresses = frame[ip + 8 : ip + 40]
                transport = ip + 40
                declared = transport + ((frame[ip + 4] << 8) | frame[ip + 5])
                if declared <= len(frame):
                    end = declared
                else:  # cut by the capture's snapshot length
                    end = len(frame)
                    self.truncated_frames += 1
            else:
                offset = ip_offset(link_type, frame)
                if offset < 0:
                    if link_type in SUPPORTED_LINK_TYPES:
                        continue  # a frame without IP (ARP, 802.11 management, ...)
                    if not self.fallback.knows(link_type):
                        self.link_types_unsupported.add(link_type)
                        continue
                    inner = self.fallback.ip_bytes(link_type, frame)
                    if inner is None:
                        continue
                    frame, offset = inner, 0
                header = ip_header(frame, offset)
                if header is None:
                    continue
                source, destination, proto, transport, end = header
                addresses = source + destination
                declared = end
            if proto == 6:  # TCP
                if transport + 20 > end:
                    continue
                flags = frame[transport + 13]
                entry = flows.get(addresses + frame[transport : transport + 4])
                if entry is None or (flags & 0x12 == 0x02 and entry[0].up + entry[0].down and not entry[1]):
                    if entry is not None:
                        self._finish(entry[0])
                    half = len(addresses) >> 1
                    source_port, destination_port, sequence = unpack_ports(frame, transport)
                    entry = self._new_tcp(
                        addresses[:half], source_port, addresses[half:], destination_port, flags, sequence, now
                    )
                flow, side = entry
                flow.last = now
                start = transport + ((frame[transport + 12] >> 4) << 2)
                size = declared - start
                if size > 0:
                    if side:
                        flow.down += size
                    else:
                        flow.up += size
                    if flow.active:
                        sequence = unpack_sequence(frame, transport + 4)[0]
                        self._tcp_data(flow, side, sequence, frame[start:end], size, now)
                if flags & 0x05 and not flow.closing:  # FIN or RST
                    flow.closing = now
                elif flags & 0x02 and flow.active and flow.streams is not None:
                    flow.streams[side].start(unpack_sequence(frame, transport + 4)[0])
            elif proto == 17:  # UDP
                if transport + 8 > end:
                    continue
                source_port, destination_port = unpack_udp(frame, transport)
                payload = frame[transport + 8 : end]
                if source_port == 53 or destination_port == 53:
                    half = len(addresses) >> 1
                    self.dns_message(
                        payload,
                        address_text(addresses[:half]),
                        source_port,
                        address_text(addresses[half:]),
                        destination_port,
                        now,
                        "UDP",
                    )
                else:
                    entry = flows.get(addresses + frame[transport : transport + 4])
                    if entry is None:
                        half = len(addresses) >> 1
                        entry = self._new_udp(
                            addresses[:half], source_port, addresses[half:], destination_port, payload, now
                        )
                    flow, side = entry
                    flow.last = now
                    if side:
                        flow.down += len(payload)
                    else:
                        flow.up += len(payload)
                    if flow.active and flow.handler is not None:
                        self._feed(flow, side, payload, now)
            else:
                continue
            if out:
                yield from out
                out.clear()
        self.frames = frames
        self.take_embedded_keys()
        for flow, side in list(flows.values()):
            if side == 0:
                self._finish(flow)
        flows.clear()
        self._flush_dns(float("inf"))
        yield from out
        out.clear()
        if progress is not None:
            progress(reader.position)

    def take_embedded_keys(self) -> None:
        """Add key logs met in pcapng Decryption Secrets Blocks since the last call."""
        reader = self.reader
        if reader is None:
            return
        for text in reader.tls_keylogs[self.keylogs_taken :]:
            if self.keylog is None:
                self.keylog = KeyLog()
            self.keylog.add_text(text, f"{self.origin} (embedded secrets block)")
        self.keylogs_taken = len(reader.tls_keylogs)

    # -- flows ---------------------------------------------------------------

    def _add_flow(self, flow: Flow) -> tuple[Flow, int]:
        if len(self.flows) >= 2 * MAX_FLOWS:
            self._evict()
        flow.dns_name = self.names.get(flow.server_ip)
        entry = (flow, 0)
        self.flows[flow.keys[0]] = entry
        self.flows[flow.keys[1]] = (flow, 1)
        self.flow_count += 1
        return entry

    def _new_tcp(
        self, src: bytes, sport: int, dst: bytes, dport: int, flags: int, seq: int, now: float
    ) -> tuple[Flow, int]:
        # Without the SYN (start not captured), the side on the lower (service) port is the server.
        from_client = not flags & _ACK if flags & _SYN else dport <= sport
        flow = Flow("TCP", src, sport, dst, dport, now) if from_client else Flow("TCP", dst, dport, src, sport, now)
        flow.streams = [TcpStream(), TcpStream()]
        self._add_flow(flow)
        if flags & _SYN:
            flow.streams[0 if from_client else 1].start(seq)
        return self.flows[src + dst + struct.pack("!HH", sport, dport)]

    def _new_udp(self, src: bytes, sport: int, dst: bytes, dport: int, payload: bytes, now: float) -> tuple[Flow, int]:
        # The first sender is the client, unless it sends from a service port to a high one.
        if sport < _WELL_KNOWN_PORT <= dport and sport not in (123,):
            flow = Flow("UDP", dst, dport, src, sport, now)
        else:
            flow = Flow("UDP", src, sport, dst, dport, now)
        self._add_flow(flow)
        if looks_like_quic_initial(payload) and flow.client == src:
            flow.handler = QuicHandler(self, flow)
        else:
            flow.active = False
        return self.flows[src + dst + struct.pack("!HH", sport, dport)]

    def _tcp_data(self, flow: Flow, side: int, sequence: int, payload: bytes, declared: int, now: float) -> None:
        streams = flow.streams
        assert streams is not None
        try:
            data = streams[side].push(sequence, payload)
        except StreamGap:
            if flow.handler is None:
                flow.active = False
            else:
                flow.handler.gap(side)
            return
        if len(payload) < declared:  # cut by the snapshot length: the stream has a hole here
            streams[side].next = None
            if flow.handler is None and side == 0 and payload:
                self._detect(flow, 0, payload)  # the first bytes still tell the protocol
            if flow.handler is not None:
                flow.handler.cut(side)
            return
        if not data:
            return
        if flow.handler is None:
            side = self._detect(flow, side, data)
            if flow.handler is None:
                return
        self._feed(flow, side, data, now)
        if not flow.active:
            flow.streams = None

    def detect_and_feed(self, flow: Flow, data: bytes, now: float) -> None:
        """Recognise the protocol of client bytes that start mid-connection (after a proxy tunnel opened)."""
        self._detect(flow, 0, data)
        if flow.handler is not None:
            flow.handler.data(0, data, now)

    def _feed(self, flow: Flow, side: int, data: bytes, now: float) -> None:
        """Hand bytes to the flow's protocol handler; malformed content ends parsing of that flow only."""
        handler = flow.handler
        assert handler is not None
        try:
            handler.data(side, data, now)
        except Exception as exc:  # noqa: BLE001 - hostile or broken input must never stop the whole capture
            flow.active = False
            flow.streams = None
            self.parse_errors += 1
            if self.first_parse_error is None:
                where = f"{flow.client_ip}:{flow.client_port} -> {flow.server_ip}:{flow.server_port}"
                self.first_parse_error = f"{where}: {type(exc).__name__}: {exc}"

    def _detect(self, flow: Flow, side: int, data: bytes) -> int:
        """Choose a handler from the first client bytes; swap sides when the guess was wrong; return the side."""
        client_first = (looks_like_tls(data) and data[5:6] == b"\x01") or looks_like_http_request(data)
        if side == 1 and client_first and (flow.up == 0 or flow.down == len(data)):
            self._swap(flow)
            side = 0
        if side == 1:
            if flow.down > DETECT_CAP:
                flow.active = False
            return side
        if flow.server_port == 53 or flow.client_port == 53:
            flow.handler = DnsTcpHandler(self, flow)
        elif looks_like_tls(data):
            flow.handler = TlsHandler(self, flow)
        elif looks_like_http_request(data):
            flow.handler = HttpHandler(self, flow, False)
        elif data.startswith(PREFACE):
            flow.handler = Http2Handler(self, flow, False, None)
        else:
            flow.active = False
            flow.streams = None
        return side

    def _swap(self, flow: Flow) -> None:
        flow.client, flow.server = flow.server, flow.client
        flow.client_port, flow.server_port = flow.server_port, flow.client_port
        flow.client_ip, flow.server_ip = flow.server_ip, flow.client_ip
        flow.up, flow.down = flow.down, flow.up
        flow.dns_name = self.names.get(flow.server_ip)
        flow.keys = (flow.keys[1], flow.keys[0])
        if flow.streams is not None:
            flow.streams.reverse()
        self.flows[flow.keys[0]] = (flow, 0)
        self.flows[flow.keys[1]] = (flow, 1)

    def _finish(self, flow: Flow) -> None:
        for key in flow.keys:
            entry = self.flows.get(key)
            if entry is not None and entry[0] is flow:
                del self.flows[key]
        handler = flow.handler
        if handler is not None and flow.active and flow.streams is not None:
            # Segments still waiting behind a lost one: parse them past the hole rather than drop them.
            for side, stream in enumerate(flow.streams):
                for run in stream.flush():
                    if flow.active and flow.handler is handler:
                        handler.gap(side)
                        self._feed(flow, side, run, flow.last)
        if handler is not None:
            try:
                handler.finish()
            except Exception as exc:  # noqa: BLE001 - see _feed
                self.parse_errors += 1
                self.first_parse_error = self.first_parse_error or f"{type(exc).__name__}: {exc}"
        else:
            known = WELL_KNOWN_SERVICES.get((flow.transport, flow.server_port))
            if not (flow.up or flow.down):
                note = "no data exchanged"
            elif known is not None:
                note = f"{known[1]}; content not analysed"
            else:
                note = "not TLS, HTTP or DNS; content not analysed"
            protocol = known[0] if known else flow.transport
            self.emit_named(flow, RecordKind.CONNECTION, protocol, None, HostSource.IP_ONLY, note, encrypted=False)

    def sweep(self, now: float) -> None:
        """Report connections that closed or went idle, and DNS queries that got no answer."""
        done = []
        for flow, side in self.flows.values():
            if side:
                continue
            if (flow.closing and now - flow.closing > CLOSED_GRACE) or now - flow.last > (
                TCP_IDLE_TIMEOUT if flow.transport == "TCP" else UDP_IDLE_TIMEOUT
            ):
                done.append(flow)
        for flow in done:
            self._finish(flow)
        self._flush_dns(now - 30.0)

    def _evict(self) -> None:
        # Too many connections at once: report the least recently active half.
        flows = sorted({id(f): f for f, _ in self.flows.values()}.values(), key=lambda f: f.last)
        for flow in flows[: len(flows) // 2]:
            self._finish(flow)

    # -- DNS -----------------------------------------------------------------

    def dns_message(
        self, payload: bytes, src: str, sport: int, dst: str, dport: int, now: float, transport: str
    ) -> None:
        """One DNS message: queries wait for their answer; answers feed the name map."""
        try:
            message = dns_module.parse_dns(payload)
        except (dns_module.DnsError, IndexError, struct.error):
            return
        if not message.is_response:
            key = (src, sport, message.transaction_id)
            if key not in self.pending_dns:
                if len(self.pending_dns) >= MAX_PENDING_DNS:
                    self._flush_dns(float("inf"))
                self.pending_dns[key] = (now, message.name, dst, dport, len(payload))
            return
        query = self.pending_dns.pop((dst, dport, message.transaction_id), None)
        if len(self.names) >= MAX_DNS_NAMES:
            for old in list(self.names)[: MAX_DNS_NAMES // 2]:
                del self.names[old]
        for address in message.addresses:
            self.names[address] = (message.name, message.cnames)
        self.out.append(
            Record(
                kind=RecordKind.DNS,
                time=query[0] if query else now,
                source=SourceKind.PCAP,
                host=message.name or None,
                host_source=HostSource.DNS_QUERY,
                client_ip=dst,
                client_port=dport,
                server_ip=src,
                server_port=sport,
                protocol="DNS" if transport == "UDP" else "DNS over TCP",
                content_visible=True,
                bytes_up=query[4] if query else 0,
                bytes_down=len(payload),
                dns_answers=message.addresses,
                dns_cnames=message.cnames,
                origin=self.origin,
            )
        )

    def _flush_dns(self, before: float) -> None:
        for key in [k for k, v in self.pending_dns.items() if v[0] < before]:
            sent, name, server, server_port, size = self.pending_dns.pop(key)
            self.out.append(
                Record(
                    kind=RecordKind.DNS,
                    time=sent,
                    source=SourceKind.PCAP,
                    host=name or None,
                    host_source=HostSource.DNS_QUERY,
                    client_ip=key[0],
                    client_port=key[1],
                    server_ip=server,
                    server_port=server_port,
                    protocol="DNS",
                    content_visible=True,
                    bytes_up=size,
                    note="no answer in the capture",
                    origin=self.origin,
                )
            )

    # -- records -------------------------------------------------------------

    def emit_named(
        self,
        flow: Flow,
        kind: RecordKind,
        protocol: str,
        name: str | None,
        source: HostSource,
        note: str | None,
        encrypted: bool,
        content_visible: bool = False,
        body: bytes = b"",
    ) -> None:
        """Emit a record for a whole connection, named by SNI or else from the DNS map."""
        cnames: tuple[str, ...] = ()
        # The name the address had when the connection started; a later answer only if none did.
        known = flow.dns_name or self.names.get(flow.server_ip)
        if name is None and known is not None:
            name, cnames = known
            source = HostSource.DNS_ANSWER
        elif name is not None and known is not None and known[0] == name:
            cnames = known[1]
        if name is None:
            source = HostSource.IP_ONLY
        self.out.append(
            Record(
                kind=kind,
                time=flow.start,
                source=SourceKind.PCAP,
                host=name,
                host_source=source,
                client_ip=flow.client_ip,
                client_port=flow.client_port,
                server_ip=flow.server_ip,
                server_port=flow.server_port,
                protocol=protocol,
                content_visible=content_visible,
                encrypted=encrypted,
                request_body=body,
                bytes_up=flow.up,
                bytes_down=flow.down,
                dns_cnames=cnames,
                note=note,
                origin=self.origin,
            )
        )

    def emit_http(
        self,
        flow: Flow,
        *,
        time: float,
        method: str,
        target: str,
        version: str,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        body_truncated: bool,
        status: int | None,
        response_content_type: str | None,
        bytes_up: int,
        bytes_down: int,
        encrypted: bool,
        host_hint: str | None,
        authority_header: bool = False,
        set_cookies: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Emit an HTTP request (plain or decrypted) as a record, shaped like a proxied flow's."""
        host_header = next((v for k, v in headers if k.lower() == "host"), None)
        scheme = "https" if encrypted else "http"
        if target.startswith(("http://", "https://")):
            url = target
            host = host_of_url(target)
        elif method == "CONNECT":  # authority form: the tunnel's destination
            url = f"https://{target}"
            host = host_of_url(url)
        else:
            authority = host_header or host_hint or _bracketed(flow.server_ip)
            url = f"{scheme}://{authority}{target if target.startswith('/') else '/' + target}"
            host = host_of_url(url)
        source = HostSource.HOST_HEADER if host_header is not None or authority_header else HostSource.URL
        if host is None or is_ip_literal(host):
            host, source = None, HostSource.IP_ONLY
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
        decoded = decode_content(body, encoding, self.body_cap)
        notes = [n for n in (decoded.problem, "request body cut at the capture cap" if body_truncated else None) if n]
        self.out.append(
            Record(
                kind=RecordKind.HTTP,
                time=time or flow.start,
                source=SourceKind.PCAP,
                host=host,
                host_source=source,
                client_ip=flow.client_ip,
                client_port=flow.client_port,
                server_ip=flow.server_ip,
                server_port=flow.server_port,
                protocol=version,
                content_visible=True,
                encrypted=encrypted,
                method=method,
                url=url,
                request_headers=headers,
                cookies=cookies_from_headers(headers),
                request_body=decoded.data,
                request_body_truncated=decoded.truncated or body_truncated,
                request_content_type=content_type,
                response_status=status,
                response_content_type=response_content_type,
                set_cookies=set_cookies,
                bytes_up=bytes_up,
                bytes_down=bytes_down,
                note="; ".join(notes) or None,
                origin=self.origin,
            )
        )


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address
