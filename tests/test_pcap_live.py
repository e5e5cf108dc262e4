"""A real capture made here: HTTPS on loopback, a Python client writing SSLKEYLOGFILE, dumpcap recording.

Checks that decrypted HTTP/1.1 (TLS 1.3, TLS 1.2 with ChaCha20 and with AES-CBC)
and HTTP/2 requests come out as HTTP records like proxied flows, that tshark
decrypts the same requests, and that keys injected into the pcapng
(``editcap --inject-secrets``) work without ``--keylog``.
"""

from __future__ import annotations

import datetime
import json
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.records import Record, RecordKind
from auditor.sources import ReadOptions
from auditor.sources.pcap import read

HOST = "classroom.example"
ARIA_HOST = "aria.classroom.example"
"""Served with an ARIA cipher suite, which the decoder does not support: it must say so."""
STUDENT = b'{"student": "Ada Lovelace", "email": "ada@example.org"}'

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tshark,
    pytest.mark.skipif(
        not (shutil.which("dumpcap") and shutil.which("tshark") and shutil.which("editcap")),
        reason="needs dumpcap, tshark and editcap (CI installs them via .ci/run)",
    ),
]


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST), x509.DNSName(ARIA_HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def serve(listener: socket.socket, context: ssl.SSLContext, stop: threading.Event) -> None:
    """Answer HTTP/1.1 and HTTP/2 requests with 200 until stopped."""
    import h2.config
    import h2.connection
    import h2.events

    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        raw.settimeout(5)
        with context.wrap_socket(raw, server_side=True) as tls:
            if tls.selected_alpn_protocol() == "h2":
                connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
                connection.initiate_connection()
                tls.sendall(connection.data_to_send())
                finished = False
                while not finished:
                    data = tls.recv(65536)
                    if not data:
                        break
                    for event in connection.receive_data(data):
                        if isinstance(event, h2.events.StreamEnded):
                            connection.send_headers(
                                event.stream_id, [(":status", "200"), ("content-type", "text/plain")]
                            )
                            connection.send_data(event.stream_id, b"ok", end_stream=True)
                            finished = True
                    tls.sendall(connection.data_to_send())
            else:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        b"0",
                    )
                )
                while len(body) < length:
                    body += tls.recv(65536)
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                )


def client_context(
    cert: Path, keylog: Path, maximum: ssl.TLSVersion | None = None, ciphers: str | None = None, alpn: str = "http/1.1"
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.keylog_filename = str(keylog)
    context.set_alpn_protocols([alpn])
    if maximum is not None:
        context.maximum_version = maximum
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return context


def http1_request(port: int, context: ssl.SSLContext, path: str, host: str = HOST) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nHost: "
            + HOST.encode()
            + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(STUDENT)).encode() + b"\r\n\r\n" + STUDENT
        )
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
        return str(tls.cipher()[0])


def http2_request(port: int, context: ssl.SSLContext, path: str) -> None:
    import h2.connection
    import h2.events

    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        connection = h2.connection.H2Connection()
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", HOST),
                (":path", path),
                ("content-type", "application/json"),
            ],
        )
        connection.send_data(stream, STUDENT, end_stream=True)
        tls.sendall(connection.data_to_send())
        done = False
        while not done:
            data = tls.recv(65536)
            if not data:
                break
            for event in connection.receive_data(data):
                done = done or isinstance(event, h2.events.StreamEnded)
            tls.sendall(connection.data_to_send())


def wait_for_mark(dumpcap: subprocess.Popen[bytes], capture: Path, port: int, mark: bytes, errors: Path) -> None:
    """Send a marked datagram now and then until dumpcap has written one to ``capture`` (30 s deadline)."""
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + 30
    try:
        while not (capture.exists() and mark in capture.read_bytes()):
            if dumpcap.poll() is not None:
                pytest.skip(f"dumpcap cannot capture on lo here: {errors.read_text().strip()[:200]}")
            assert time.monotonic() < deadline, f"dumpcap did not write the {mark.decode()} mark within 30 s"
            sender.sendto(mark, ("127.0.0.1", port))
            time.sleep(0.05)  # poll interval
    finally:
        sender.close()


def without_udp(pcapng: bytes) -> bytes:
    """The capture without its UDP packets (loopback frames are Ethernet: IPv4 protocol at byte 23)."""
    order = "<" if pcapng[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    kept, offset = [], 0
    while offset + 12 <= len(pcapng):
        kind, length = struct.unpack_from(order + "II", pcapng, offset)
        block = pcapng[offset : offset + length]
        packet = block[28:]  # enhanced packet block: 8 header bytes, 20 bytes of fields, then the frame
        if not (kind == 6 and packet[12:14] == b"\x08\x00" and packet[23] == 17):
            kept.append(block)
        offset += length
    return b"".join(kept)


@pytest.fixture(scope="module")
def live_capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, list[str]]]:
    directory = tmp_path_factory.mktemp("live")
    cert, key = self_signed(directory)
    keylog = directory / "sslkeys.log"
    capture = directory / "live.pcapng"
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.set_alpn_protocols(["h2", "http/1.1"])
    server_context.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    marks = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a bound port, so marks get no ICMP answers
    marks.bind(("127.0.0.1", 0))
    mark_port = marks.getsockname()[1]
    raw_capture = directory / "raw.pcapng"
    errors = directory / "dumpcap.err"
    with errors.open("wb") as error_file:
        dumpcap = subprocess.Popen(
            ["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {port} or udp port {mark_port}", "-a", "duration:60",
             "-w", str(raw_capture)],
            stdout=subprocess.DEVNULL,
            stderr=error_file,
        )
    stop = threading.Event()
    server = threading.Thread(target=serve, args=(listener, server_context, stop), daemon=True)
    ciphers: list[str] = []
    try:
        # dumpcap writes packets about twice a second: a datagram seen in the file proves it is capturing,
        # and the last one proves every packet before it is written.
        wait_for_mark(dumpcap, raw_capture, mark_port, b"capture-started", errors)
        server.start()
        ciphers.append(http1_request(port, client_context(cert, keylog), "/tls13"))
        ciphers.append(
            http1_request(
                port, client_context(cert, keylog, ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-CHACHA20-POLY1305"), "/chacha"
            )
        )
        ciphers.append(
            http1_request(port, client_context(cert, keylog, ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-SHA"), "/cbc")
        )
        http2_request(port, client_context(cert, keylog, alpn="h2"), "/h2")
        aria = client_context(cert, keylog, ssl.TLSVersion.TLSv1_2, "ECDHE-ARIA128-GCM-SHA256")
        ciphers.append(http1_request(port, aria, "/aria", ARIA_HOST))
        wait_for_mark(dumpcap, raw_capture, mark_port, b"capture-complete", errors)
    finally:
        stop.set()
        dumpcap.send_signal(signal.SIGTERM)
        dumpcap.wait(timeout=10)
        listener.close()
        marks.close()
    capture.write_bytes(without_udp(raw_capture.read_bytes()))  # the marks are not the traffic under test
    yield capture, keylog, ciphers


def http_records(capture: Path, keylog: Path | None) -> list[Record]:
    problems: list = []
    records = list(read(capture, ReadOptions(keylog=str(keylog) if keylog else None), problems))
    assert problems == []
    return sorted((r for r in records if r.kind is RecordKind.HTTP), key=lambda r: r.url or "")


def check_decrypted(records: list[Record]) -> None:
    assert [(r.method, r.url, r.protocol, r.response_status) for r in records] == [
        ("POST", f"https://{HOST}/cbc", "HTTP/1.1", 200),
        ("POST", f"https://{HOST}/chacha", "HTTP/1.1", 200),
        ("POST", f"https://{HOST}/h2", "HTTP/2", 200),
        ("POST", f"https://{HOST}/tls13", "HTTP/1.1", 200),
    ]
    for record in records:
        assert record.request_body == STUDENT
        assert record.encrypted and record.content_visible
        assert record.host == HOST and record.header("content-type") == "application/json"
        assert record.server_ip == "127.0.0.1"


def test_keylog_decrypts_http1_and_http2(live_capture: tuple[Path, Path, list[str]]) -> None:
    capture, keylog, ciphers = live_capture
    assert ciphers[1:] == ["ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-SHA", "ECDHE-ARIA128-GCM-SHA256"]
    check_decrypted(http_records(capture, keylog))


def test_tshark_decrypts_the_same_requests(live_capture: tuple[Path, Path, list[str]]) -> None:
    capture, keylog, _ = live_capture
    fields = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(capture),
            "-o",
            f"tls.keylog_file:{keylog}",
            "-Y",
            "http.request || http2.headers.method",
            "-T",
            "json",
            "-e",
            "http.request.uri",
            "-e",
            "http2.headers.path",
            "-e",
            "http.host",
            "-e",
            "http2.headers.authority",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    paths = set()
    hosts = set()
    for packet in json.loads(fields):
        layer = packet["_source"]["layers"]
        paths.update(layer.get("http.request.uri", []) + layer.get("http2.headers.path", []))
        hosts.update(layer.get("http.host", []) + layer.get("http2.headers.authority", []))
    ours = http_records(capture, keylog)
    assert paths == {r.url.removeprefix(f"https://{HOST}") for r in ours if r.url}
    assert hosts == {r.host for r in ours}


def test_without_keys_only_names_and_a_reason(live_capture: tuple[Path, Path, list[str]]) -> None:
    capture, _, _ = live_capture
    records = list(read(capture, ReadOptions(), []))
    assert {(r.kind, r.host, r.content_visible, r.note) for r in records} == {
        (RecordKind.TLS, HOST, False, "encrypted; no TLS key log given"),
        (RecordKind.TLS, ARIA_HOST, False, "encrypted; no TLS key log given"),
    }
    assert len(records) == 5


def test_embedded_secrets_block_is_used_without_keylog(
    live_capture: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    capture, keylog, _ = live_capture
    with_keys = tmp_path / "with-keys.pcapng"
    subprocess.run(
        ["editcap", "--inject-secrets", f"tls,{keylog}", str(capture), str(with_keys)], check=True, timeout=60
    )
    check_decrypted(http_records(with_keys, None))


def test_cli_with_keylog_reports_full_coverage(live_capture: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from auditor.cli import main

    capture, keylog, _ = live_capture
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["analyze", str(capture), "--keylog", str(keylog), "--json", str(out)])
    assert result.exit_code == 0, result.output
    coverage = json.loads(out.read_text())["coverage"]
    assert (coverage["connections"], coverage["connections_visible"]) == (5, 4)
    assert [(h["host"], h["reason"]) for h in coverage["hidden"]] == [
        (ARIA_HOST, "encrypted; decryption not supported for cipher TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256")
    ]
    result = CliRunner().invoke(main, ["analyze", str(capture), "--json", str(out)])
    hidden = json.loads(out.read_text())["coverage"]["hidden"]
    assert sorted((h["host"], h["reason"]) for h in hidden) == [
        (ARIA_HOST, "encrypted; no TLS key log given"),
        (HOST, "encrypted; no TLS key log given"),
    ]
