"""Local stand-ins for the classroom app's servers and the trackers it talks to.

One HTTPS server (self-signed certificate made at run time, valid for every
stand-in name) and one plain-HTTP server, both on 127.0.0.1. They answer the
way the real services roughly do (small JSON, 204s), so the recorded flows
look like a real session without any traffic leaving the machine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

APP_HOSTS = ("classroom.example", "api.classroom.example")
"""The stand-in "edtech app" (first party)."""

THIRD_PARTY_HOSTS = (
    "app-measurement.com",  # Google Analytics for Firebase
    "graph.facebook.com",  # Meta app events
    "api2.amplitude.com",  # Amplitude
    "api.mixpanel.com",  # Mixpanel
    "o0.ingest.sentry.io",  # Sentry crash/error reporting
    "app.adjust.com",  # Adjust attribution
    "cdn.jsdelivr.net",  # public CDN
    "westeurope.stt.speech.microsoft.com",  # cloud speech-to-text
    "api.proctorio.com",  # proctoring-style webcam/attention service
)
"""Real companies' host names, so classification has something to show."""

PLAIN_HTTP_HOSTS = ("b.scorecardresearch.com",)
"""Hosts the app reaches without TLS."""

ALL_HOSTS = APP_HOSTS + THIRD_PARTY_HOSTS + PLAIN_HTTP_HOSTS


def _response_for(host: str, method: str, path: str) -> tuple[int, str, bytes]:
    """Status, content type and body a stand-in answers with."""
    if host == "api.classroom.example":
        if path.startswith("/v1/login"):
            body = {"token": "rig-session-token-0001", "expires_in": 3600, "student": {"class": "5B"}}
        elif path.startswith("/v1/lessons/"):
            lesson = path.rsplit("/", 1)[-1].split("?")[0]
            body = {"id": lesson, "title": f"Fractions, part {lesson}", "steps": 6}
        else:
            body = {"ok": True}
        return 200, "application/json", json.dumps(body).encode()
    if host == "classroom.example":
        return 200, "text/html; charset=utf-8", b"<!doctype html><title>Classroom</title><p>Welcome back!</p>"
    if host == "cdn.jsdelivr.net":
        return 200, "application/javascript", b"/* charting library stand-in */ window.chart=function(){};"
    if host == "o0.ingest.sentry.io":
        return 200, "application/json", b'{"id":"4f1d2c5e8a9b4c7d9e0f1a2b3c4d5e6f"}'
    if host == "westeurope.stt.speech.microsoft.com":
        return 200, "application/json", b'{"RecognitionStatus":"Success","DisplayText":"three quarters"}'
    if host in ("graph.facebook.com", "app.adjust.com", "api.proctorio.com"):
        return 200, "application/json", b'{"success":true}'
    if host == "api2.amplitude.com":
        return 200, "application/json", b'{"code":200,"events_ingested":1}'
    if host == "api.mixpanel.com":
        return 200, "text/plain", b"1"
    return 204, "text/plain", b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        status, content_type, body = _response_for(host, self.command, self.path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the recording is the log."""


class _TlsServer(ThreadingHTTPServer):
    """HTTPS with the TLS handshake in each connection's own thread.

    Wrapping the listening socket instead would run every handshake inside
    ``accept()`` on the serving thread: one connection that is open but has not
    sent its ClientHello yet (a proxy connecting eagerly) would stall all others.
    """

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up or spoke no TLS: nothing to answer
        with tls:
            super().finish_request(tls, client_address)


def make_certificate(folder: Path, names: tuple[str, ...] = ALL_HOSTS) -> tuple[Path, Path]:
    """Create a fresh self-signed certificate for ``names``; return (cert, key) PEM paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "classroom rig stand-in")])
    now = dt.datetime.now(dt.UTC)
    san = [x509.DNSName(name) for name in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "standin-cert.pem", folder / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass(frozen=True)
class StandinPorts:
    """Where the stand-ins listen on 127.0.0.1."""

    https: int
    """Port of the TLS server that plays every HTTPS host."""
    http: int
    """Port of the plain-HTTP server."""


@contextmanager
def running_standins(folder: Path) -> Iterator[StandinPorts]:
    """Run both stand-in servers on 127.0.0.1 (ephemeral ports) until the block ends."""
    cert, key = make_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # HTTP/1.1 only, like many small API servers; mitmproxy may still speak HTTP/2 to the app.
    context.set_alpn_protocols(["http/1.1"])
    https = _TlsServer(("127.0.0.1", 0), context)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    servers = (https, http)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield StandinPorts(https=https.server_address[1], http=http.server_address[1])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
