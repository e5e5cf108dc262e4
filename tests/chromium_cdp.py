"""A small Chrome DevTools Protocol client for the browser tests (real headless Chromium).

It opens a page, records every network request, console message, log entry
and uncaught exception, evaluates JavaScript and takes screenshots. No
mocks: this is Debian's Chromium driven over its own debugging websocket.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)


PAGE_SETTLED = (
    "document.readyState === 'complete' && "
    "[...document.querySelectorAll('.js-plotly-plot')].every(plot => plot._fullLayout && !plot._transitioning)"
)
"""True once the page has loaded and drawn every chart."""


@dataclass
class PageLog:
    """What a page did while loading."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    log_entries: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        """Console errors, error log entries (e.g. CSP violations) and uncaught exceptions."""
        return (
            [text for level, text in self.console if level in ("error", "assert")]
            + [text for level, text in self.log_entries if level == "error"]
            + self.exceptions
        )


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, width: int = 1280, height: int = 900, extra_flags: tuple[str, ...] = ()) -> None:
        assert CHROMIUM, "chromium not installed"
        self._profile = tempfile.TemporaryDirectory(prefix="auditor-cdp-", ignore_cleanup_errors=True)
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        url = self._devtools_url()
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _devtools_url(self) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                return match.group(1)
            if not line and self.process.poll() is not None:
                break
        raise RuntimeError("chromium did not start its DevTools endpoint")

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False,
             timeout: float = 30) -> dict[str, Any]:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        """Wait until an event arrives (or has arrived)."""
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + timeout
        self.ws.settimeout(timeout)
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            self.events.append(reply)
            if reply.get("method") == event:
                return
        raise TimeoutError(event)

    def open(self, path: Path, timeout: float = 60) -> PageLog:
        """Load a file, wait until it has settled, and return what the page did.

        Settled: the load event fired, every Plotly chart is drawn and no network request is in flight.
        """
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired", timeout=timeout)
        deadline = time.monotonic() + timeout
        while not (self.evaluate(PAGE_SETTLED) and self._network_idle()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.name} did not settle in {timeout:.0f} s")
            time.sleep(0.05)  # poll interval, not a wait for time to pass
        return self.page_log()

    def _network_idle(self) -> bool:
        started, ended = set(), set()
        for event in self.events:
            method, request = event.get("method"), event.get("params", {}).get("requestId")
            if method == "Network.requestWillBeSent":
                started.add(request)
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                ended.add(request)
        return started <= ended

    def page_log(self) -> PageLog:
        """Everything recorded since the last :meth:`open`."""
        log = PageLog()
        for event in self.events:
            params = event.get("params", {})
            method = event.get("method")
            if method == "Network.requestWillBeSent":
                log.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                log.console.append((params.get("type", ""), text))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                log.log_entries.append((entry.get("level", ""), entry.get("text", "")))
            elif method == "Runtime.exceptionThrown":
                log.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        return log

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return result.get("result", {}).get("value")

    def screenshot_element(self, selector: str, out: Path, max_height: int = 1400) -> Path:
        """Save a PNG of the element matching ``selector`` (its top ``max_height`` pixels)."""
        rect = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; })()"
        )
        x, y, width, height = rect
        clip = {"x": max(x - 8, 0), "y": max(y - 8, 0), "width": width + 16, "height": min(height + 16, max_height),
                "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                         session=True)["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        """Stop the browser this object started."""
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()
            self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
