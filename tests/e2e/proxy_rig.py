"""Helpers for the live-capture end-to-end tests: real mitmproxy, real stand-in servers, loopback only.

The stand-in servers, the loopback-upstream addon and the scripted classroom
client come from the recording rig in ``captures/rig/`` (shared with the
sample capture); this module only adds what the proxy tests need on top:
starting the proxy with the auditor's addon, waiting for it, a pinned client,
and reading the session folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RIG = REPO / "captures" / "rig"
ADDON = REPO / "addons" / "classroom_auditor.py"
sys.path.insert(0, str(RIG))

from classroom_session import Proxy  # noqa: E402
from standins import ALL_HOSTS, PLAIN_HTTP_HOSTS  # noqa: E402

PINNED_HOST = "pinned.classroom.example"
"""The name the pinned client asks for (a stand-in name; the handshake fails before any upstream)."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
VENV_BIN = Path(sys.executable).parent


def rig_options(https_port: int, http_port: int, extra_https_hosts: Sequence[str] = ()) -> list[str]:
    """Build the mitmproxy arguments that send every stand-in host to the local servers (and refuse any other host)."""
    https_hosts = [h for h in ALL_HOSTS if h not in PLAIN_HTTP_HOSTS] + list(extra_https_hosts)
    return [
        "-s", str(RIG / "loopback_addon.py"),
        "--set", f"rig_https_port={https_port}",
        "--set", f"rig_http_port={http_port}",
        "--set", f"rig_https_hosts={json.dumps(https_hosts)}",
        "--set", f"rig_http_hosts={json.dumps(list(PLAIN_HTTP_HOSTS))}",
    ]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """Copy the test's environment without proxy variables (nothing may bypass or chain proxies)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(extra)
    return env


def read_events(folder: Path) -> list[dict[str, Any]]:
    """Every complete line of the session's ``events.jsonl``."""
    path = folder / "events.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def wait_for_ready(folder: Path, process: subprocess.Popen[Any], timeout: float = START_TIMEOUT) -> dict[str, Any]:
    """Wait until the addon says the proxy listens; return its ``ready`` event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in read_events(folder):
            if event["event"] == "ready":
                return event
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited with code {process.returncode} before it was ready")
        time.sleep(0.1)
    raise TimeoutError(f"proxy not ready within {timeout:.0f} s")


def stop_like_ctrl_c(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> int:
    """Send SIGINT (what Ctrl-C sends) and wait for a clean exit; kill only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@dataclass
class RunningProxy:
    """A proxy process with the auditor's addon, and where to reach it."""

    process: subprocess.Popen[Any]
    folder: Path
    """The session folder."""
    port: int
    ca_file: Path
    """mitmproxy's CA certificate (fresh, in the test's confdir)."""

    @property
    def client(self) -> Proxy:
        """The rig's client view of this proxy (trusts only mitmproxy's CA)."""
        return Proxy(self.port, str(self.ca_file))


@contextmanager
def mitmdump_with_addon(
    tmp: Path,
    session: Path,
    standins: Any,
    env: dict[str, str],
    extra: Sequence[str] = (),
    executable: str = "mitmdump",
    extra_hosts: Sequence[str] = (),
) -> Iterator[RunningProxy]:
    """``mitmdump -s addons/classroom_auditor.py`` (or mitmweb) on 127.0.0.1 (a free port), upstreams on loopback."""
    confdir = tmp / "mitmproxy-conf"
    command = [
        str(VENV_BIN / executable),
        "--listen-host", "127.0.0.1", "--listen-port", "0",
        "--set", f"confdir={confdir}",
        "--set", "connection_strategy=lazy",  # lets clients negotiate HTTP/2 with the proxy
        "--ssl-insecure",  # the stand-ins' certificate is self-signed
        "--set", "flow_detail=0", "--set", "termlog_verbosity=warn",
        "-s", str(ADDON),
        "--set", f"auditor_session={session}",
        "--set", "auditor_report_interval=0",
        *rig_options(standins.https, standins.http, [PINNED_HOST, *extra_hosts]),
        *extra,
    ]
    process = subprocess.Popen(command, env=child_env(env), stdin=subprocess.DEVNULL)
    try:
        ready = wait_for_ready(session, process)
        yield RunningProxy(process, session, ready["listen"][0]["port"], confdir / "mitmproxy-ca-cert.pem")
    finally:
        if process.poll() is None:
            stop_like_ctrl_c(process)


def pinned_client_attempt(port: int, pinned_cert: Path, host: str = PINNED_HOST) -> str:
    """Play an app with certificate pinning: it trusts only its server's own certificate, so refuses mitmproxy's.

    Returns the client-side error (the handshake must fail).
    """
    context = ssl.create_default_context(cafile=str(pinned_cert))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        reply = raw.recv(4096)
        if not reply.startswith(b"HTTP/1.1 200"):
            raise AssertionError(f"proxy refused CONNECT: {reply[:60]!r}")
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(b"GET / HTTP/1.1\r\n\r\n")
        except ssl.SSLCertVerificationError as exc:
            return str(exc)
    raise AssertionError("the pinned client accepted the proxy's certificate")


def session_records(folder: Path) -> list[dict[str, Any]]:
    """Read the session's records as JSON dicts."""
    return [json.loads(line) for line in (folder / "records.jsonl").read_bytes().splitlines()]


def session_report(folder: Path) -> dict[str, Any]:
    """Read the session's final JSON report."""
    report: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return report
