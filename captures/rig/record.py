"""Record the sample classroom session through a real mitmdump.

Usage (from the repository root)::

    .venv/bin/python captures/rig/record.py captures/sample-classroom.mitm

Starts the local stand-in servers, a real ``mitmdump`` from this Python's
environment (fresh CA in a temporary confdir, listening on 127.0.0.1 only,
upstreams redirected to loopback by ``loopback_addon.py``), plays the
scripted session from ``classroom_session.py`` through it, and leaves the
flows mitmdump wrote at the given path. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RIG = Path(__file__).resolve().parent
sys.path.insert(0, str(RIG))

from classroom_session import Proxy, run_session  # noqa: E402
from standins import ALL_HOSTS, PLAIN_HTTP_HOSTS, running_standins  # noqa: E402

STARTUP_TIMEOUT = 20.0


def free_loopback_port() -> int:
    """Find an unused TCP port on 127.0.0.1 (mitmdump cannot report an ephemeral one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mitmdump_path() -> str:
    """Locate the mitmdump installed next to this interpreter (the project venv's)."""
    candidate = Path(sys.executable).parent / "mitmdump"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mitmdump")
    if not found:
        raise SystemExit("error: mitmdump not found next to this Python; run with the project's .venv/bin/python")
    return found


def wait_until_listening(port: int, ca_file: Path, process: subprocess.Popen[bytes]) -> None:
    """Block until mitmdump accepts connections and has written its CA."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: mitmdump exited early with code {process.returncode}")
        if ca_file.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise SystemExit(f"error: mitmdump did not start listening on 127.0.0.1:{port} within {STARTUP_TIMEOUT:.0f} s")


def record(output: Path, pause: float = 0.15) -> list[str]:
    """Record one session into ``output``; returns the client's log lines."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="classroom-rig-") as temp, running_standins(Path(temp)) as ports:
        confdir = Path(temp) / "mitmproxy"
        port = free_loopback_port()
        https_hosts = [h for h in ALL_HOSTS if h not in PLAIN_HTTP_HOSTS]
        partial = output.with_name(output.name + ".partial")
        command = [
            mitmdump_path(),
            "--listen-host", "127.0.0.1",
            "--listen-port", str(port),
            "--set", f"confdir={confdir}",
            "--ssl-insecure",  # the stand-ins use a self-signed certificate
            "--set", "connection_strategy=lazy",  # lets the app negotiate HTTP/2 with the proxy
            "--set", "termlog_verbosity=warn",
            "--set", "flow_detail=0",
            "-s", str(RIG / "loopback_addon.py"),
            "--set", f"rig_https_port={ports.https}",
            "--set", f"rig_http_port={ports.http}",
            "--set", f"rig_https_hosts={json.dumps(https_hosts)}",
            "--set", f"rig_http_hosts={json.dumps(list(PLAIN_HTTP_HOSTS))}",
            "-w", str(partial),
        ]
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        try:
            wait_until_listening(port, confdir / "mitmproxy-ca-cert.pem", process)
            log = run_session(Proxy(port, str(confdir / "mitmproxy-ca-cert.pem")), pause=pause)
        except BaseException:
            partial.unlink(missing_ok=True)  # never leave half a session next to the real one
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        os.replace(partial, output)
    return log


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="flow file to write, e.g. captures/sample-classroom.mitm")
    parser.add_argument("--pause", type=float, default=0.15, help="seconds between requests (default 0.15)")
    args = parser.parse_args(argv)
    log = record(args.output, pause=args.pause)
    for line in log:
        print(line)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes, {len(log)} requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
