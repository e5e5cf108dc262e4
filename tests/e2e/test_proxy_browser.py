"""Real headless Chromium through a real ``mitmdump -s addons/classroom_auditor.py``.

The stand-in classroom page (HTTPS, served on 127.0.0.1) sends a precise
location, an advertising id and a short voice recording to stand-in tracker
hosts. Chromium maps every name to loopback (no real DNS) and trusts only the
test's fresh mitmproxy CA; mitmproxy sends every upstream to the local
stand-in server. The test checks what a reviewer would: the session's
destinations with their companies, the findings, and that the traffic
arrived unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import pinned_env
from proxy_rig import mitmdump_with_addon, session_records, session_report

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_TIMEOUT = 60
LOCATION = ("52.370216", "4.895168")
ADVERTISING_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def classroom_page(wav: bytes) -> bytes:
    """Build the stand-in lesson page: three tracker calls, then it says so in the DOM."""
    lat, lon = LOCATION
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Lesson 12</title></head>
<body><h1>Fractions</h1><p id="status">running</p>
<script>
const voice = Uint8Array.from(atob("{base64.b64encode(wav).decode()}"), c => c.charCodeAt(0));
async function lesson() {{
  await fetch("https://app-measurement.com/g/collect?en=page_view&lat={lat}&lon={lon}", {{mode: "no-cors"}});
  await fetch("https://graph.facebook.com/v17.0/100000000000042/activities", {{
    method: "POST", mode: "no-cors",
    body: new URLSearchParams({{advertising_id: "{ADVERTISING_ID}", event: "lesson_start"}})}});
  await fetch("https://api.mixpanel.com/upload/voice-answer", {{
    method: "POST", mode: "no-cors", body: new Blob([voice], {{type: "audio/wav"}})}});
  document.getElementById("status").textContent = "all-sent";
}}
lesson().catch(e => document.getElementById("status").textContent = "failed: " + e);
</script></body></html>""".encode()


@dataclass
class Received:
    """What the stand-in servers received (to prove the proxy passed it on unchanged)."""

    bodies: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Ports:
    https: int
    http: int


@pytest.fixture(scope="module")
def browser_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (CI installs it via .ci/run)")
    from classroom_session import voice_answer_wav
    from standins import _Handler, _response_for, make_certificate

    tmp = tmp_path_factory.mktemp("browser")
    wav = voice_answer_wav(seconds=0.1)
    page = classroom_page(wav)
    received = Received()

    class ClassroomHandler(_Handler):
        """The rig's stand-in answers, plus the lesson page, remembering what arrived."""

        def _answer(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if host == "classroom.example":
                status, content_type, payload = 200, "text/html; charset=utf-8", page
            else:
                received.bodies[f"{host}{self.path}"] = body
                status, content_type, payload = _response_for(host, self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

    cert, key = make_certificate(tmp)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), ClassroomHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = pinned_env(tmp / "auditor-data")
    folder = tmp / "session"
    try:
        ports = Ports(https=server.server_address[1], http=0)
        extra = ["--set", "auditor_app_domains=classroom.example"]
        with mitmdump_with_addon(tmp, folder, ports, env, extra) as proxy:
            dom = run_chromium(tmp, proxy.port, proxy.ca_file, "https://classroom.example/lessons/12")
    finally:
        server.shutdown()
        server.server_close()
    yield {"dom": dom, "folder": folder, "received": received, "wav": wav}


def spki_hash(ca_file: Path) -> str:
    """Base64 SHA-256 of the CA's public key (mitmproxy signs every leaf with that same key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def run_chromium(tmp: Path, proxy_port: int, ca_file: Path, url: str) -> str:
    """Load ``url`` in headless Chromium through the proxy; return the DOM after the page's scripts ran."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--host-resolver-rules=MAP * 127.0.0.1",  # never real DNS
        f"--ignore-certificate-errors-spki-list={spki_hash(ca_file)}",  # trust this test's mitmproxy CA only
        "--virtual-time-budget=15000",
        "--dump-dom", url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)
    return done.stdout


def test_page_ran_and_the_trackers_received_the_data_unchanged(browser_session: dict[str, Any]) -> None:
    assert '<p id="status">all-sent</p>' in browser_session["dom"], browser_session["dom"][-500:]
    bodies = browser_session["received"].bodies
    assert bodies["api.mixpanel.com/upload/voice-answer"] == browser_session["wav"]
    assert ADVERTISING_ID.encode() in bodies["graph.facebook.com/v17.0/100000000000042/activities"]


def test_session_shows_each_destination_with_its_company(browser_session: dict[str, Any]) -> None:
    report = session_report(browser_session["folder"])
    by_host = {d["host"]: d for d in report["destinations"]}
    assert by_host["classroom.example"]["party"] == "first"
    assert "Google" in by_host["app-measurement.com"]["company"]
    assert "Meta" in by_host["graph.facebook.com"]["company"]
    assert "Mixpanel" in by_host["api.mixpanel.com"]["company"]
    for host in ("app-measurement.com", "graph.facebook.com", "api.mixpanel.com"):
        assert by_host[host]["party"] == "third" and by_host[host]["is_tracker"], host
    protocols = {r["protocol"] for r in session_records(browser_session["folder"]) if r["kind"] == "http"}
    assert protocols <= {"HTTP/1.1", "HTTP/2"}


def test_findings_name_location_advertising_id_and_voice(browser_session: dict[str, Any]) -> None:
    report = session_report(browser_session["folder"])
    found = {(f["data_type"], f["host"]) for f in report["findings"]}
    assert ("precise_location", "app-measurement.com") in found
    assert ("advertising_id", "graph.facebook.com") in found
    assert ("voice", "api.mixpanel.com") in found
    text = (browser_session["folder"] / "report.html").read_text(encoding="utf-8")
    assert ADVERTISING_ID not in text and LOCATION[0] not in text
