"""A synthetic student typed into a real page, captured by the project's own rig, found as typed text.

Real headless Chromium loads a stand-in sign-up page through a real
``mitmdump -s addons/classroom_auditor.py``; a stand-in session-replay script
(served from ``edge.fullstory.com``) posts the form field to
``rs.fullstory.com`` after every input event, as such scripts do. The test
types the persona's surname key by key over the DevTools protocol (real key
events) and its e-mail into a second field, then reads the session report as a
reviewer would: one high typed-text finding for the session-replay service,
with the keystrokes, and the trail naming the service. Everything runs on
loopback: Chromium maps every name to 127.0.0.1 and trusts only the test's
fresh mitmproxy CA; mitmproxy sends every upstream to the local stand-in.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chromium_cdp import CHROMIUM, Browser
from helpers import pinned_env
from proxy_rig import mitmdump_with_addon, session_report
from test_proxy_browser import Ports, spki_hash

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SURNAME = "Tashquibb"
EMAIL = "velorine.tashquibb.42@example.com"
PROFILE = f'[student]\nfirst_name = "Velorine"\nlast_name = "{SURNAME}"\nemail = "{EMAIL}"\n'
REPLAY_HOSTS = ("edge.fullstory.com", "rs.fullstory.com")
DEADLINE = 60.0

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Join your class</title>
<script src="https://edge.fullstory.com/s/fs.js"></script></head>
<body><h1>Join your class</h1>
<form><label>Surname <input id="surname" autocomplete="family-name"></label>
<label>E-mail <input id="email" type="email"></label></form></body></html>"""

# The stand-in session-replay script: every input event sends the field's whole value, in order.
REPLAY_SCRIPT = b"""
let queue = Promise.resolve();
window.replayReady = true;
document.addEventListener("input", (event) => {
  const body = JSON.stringify({evt: "input", el: "#" + event.target.id, text: event.target.value});
  queue = queue.then(() => fetch("https://rs.fullstory.com/rec/bundle?field=" + event.target.id,
                                 {method: "POST", body, mode: "no-cors", keepalive: true}));
}, true);
"""


def _handler(received: list[dict[str, Any]]) -> type:
    from standins import _Handler, _response_for

    class SignupHandler(_Handler):
        """The sign-up page, the replay script, and a recorder for what the replay service receives."""

        def _answer(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if host == "classroom.example":
                status, content_type, payload = 200, "text/html; charset=utf-8", PAGE
            elif host == "edge.fullstory.com":
                status, content_type, payload = 200, "application/javascript", REPLAY_SCRIPT
            elif host == "rs.fullstory.com":
                received.append(json.loads(body or b"{}"))
                status, content_type, payload = 200, "application/json", b"{}"
            else:
                status, content_type, payload = _response_for(host, self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

    return SignupHandler


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _type(browser: Browser, element: str, text: str) -> None:
    browser.evaluate(f"document.getElementById({json.dumps(element)}).focus()")
    for char in text:  # real key events, one per character, as a student's keyboard sends them
        browser.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": char, "key": char}, session=True)
        browser.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": char}, session=True)


@pytest.fixture(scope="module")
def typed_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not CHROMIUM:
        pytest.skip("Debian's chromium is not installed (CI installs it via .ci/run)")
    from standins import ALL_HOSTS, make_certificate

    tmp = tmp_path_factory.mktemp("persona-typed")
    profile = tmp / "student.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    profile.chmod(0o600)
    received: list[dict[str, Any]] = []
    cert, key = make_certificate(tmp, (*ALL_HOSTS, *REPLAY_HOSTS))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    extra = ["--set", "auditor_app_domains=classroom.example", "--set", f"auditor_profile={profile}"]
    folder = tmp / "session"
    try:
        with mitmdump_with_addon(tmp, folder, Ports(https=server.server_address[1], http=0),
                                 pinned_env(tmp / "auditor-data"), extra, extra_hosts=REPLAY_HOSTS) as proxy:
            flags = (f"--proxy-server=http://127.0.0.1:{proxy.port}", "--host-resolver-rules=MAP * 127.0.0.1",
                     f"--ignore-certificate-errors-spki-list={spki_hash(proxy.ca_file)}", "--disable-quic")
            with Browser(extra_flags=flags) as browser:
                browser.call("Page.navigate", {"url": "https://classroom.example/join"}, session=True)
                browser.wait_for("Page.loadEventFired", timeout=DEADLINE)
                _wait_until(lambda: browser.evaluate("window.replayReady === true"),
                            f"the replay script to load: {browser.evaluate('location.href + document.title')} "
                            f"{browser.page_log().errors()[:3]} {browser.page_log().requests[:5]}")
                _type(browser, "surname", SURNAME)
                _type(browser, "email", EMAIL)
                expected = len(SURNAME) + len(EMAIL)
                _wait_until(lambda: len(received) >= expected, "the replay service to receive every key press")
    finally:
        server.shutdown()
        server.server_close()
    return {"report": session_report(folder), "received": received, "folder": folder}


def test_the_replay_script_really_sent_the_field_after_every_key(typed_session: dict[str, Any]) -> None:
    surname = [r["text"] for r in typed_session["received"] if r["el"] == "#surname"]
    assert surname == [SURNAME[: n + 1] for n in range(len(SURNAME))]


def test_the_report_says_text_was_captured_as_typed_by_the_session_replay_service(
    typed_session: dict[str, Any]
) -> None:
    report = typed_session["report"]
    typed = {f["data_type"]: f for f in report["findings"] if f["rule"] == "typed-text-to-third-party"}
    surname, email = typed["name"], typed["email"]  # two fields under one body key: two captures
    assert (surname["severity"], surname["host"], surname["key"]) == ("high", "rs.fullstory.com", "text")
    assert f"{len(SURNAME)} times, a little longer after each key press" in surname["reason"]
    assert "profile value last_name" in surname["reason"]
    assert f"{len(EMAIL)} times" in email["reason"] and email["host"] == "rs.fullstory.com"
    trail = {entry["value"]: entry for entry in report["persona_trail"]}
    forms = {r["host"]: r["forms"] for r in trail["last_name"]["receivers"]}
    assert "typed" in forms["rs.fullstory.com"]
    text = (typed_session["folder"] / "report.html").read_text(encoding="utf-8")
    assert "Student&#x27;s surname: reached" in text and "as typed" in text
    assert SURNAME not in text and EMAIL not in json.dumps(report)
