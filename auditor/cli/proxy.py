"""``auditor proxy``: live capture through mitmproxy with the auditor's addon.

Runs ``mitmdump`` (or ``mitmweb`` with ``--web``) from this Python
environment as a child process with the auditor's addon (shipped in the
package: ``auditor addon-path`` prints its script), prints
how to set up the lab device, then one line per new destination and per new
finding while the device is used. Ctrl-C ends the session: the addon writes
the reports and the command prints where they are.

SIGINT and SIGTERM end a session the same way however the command was
started: in a terminal, in the background of a script (which starts it with
SIGINT ignored: the handler is restored here), or under systemd (SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from auditor.appinfer import parse_app_domains
from auditor.atrest import SUFFIX, is_encrypted_session
from auditor.cli import ExitCode, main
from auditor.cli.options import app_options, profile_options
from auditor.decoding import DEFAULT_BODY_CAP
from auditor.live.session import (
    EVENTS_FILE,
    MIN_BODY_CAP,
    default_sessions_dir,
    format_event,
    new_session_name,
    parse_session_name,
    read_events,
)
from auditor.profile import DeviceProfile
from auditor.sources.session import FLOWS_FILE, RECORDS_FILE
from auditor.text import printable

MODES = ("regular", "wireguard", "transparent", "socks5", "local")
ADDON = Path(__file__).resolve().parents[1] / "live" / "mitmproxy_script.py"
"""The script mitmproxy's ``-s`` loads; it ships inside the package (``auditor addon-path``)."""
STARTUP_TIMEOUT = 60.0
"""Seconds mitmproxy may take to start listening (it creates its CA on first run)."""
SHUTDOWN_TIMEOUT = 120.0
"""Seconds the addon may take to write the final reports after Ctrl-C."""
POLL_INTERVAL = 0.2

CA_HELP = "http://mitm.it"


class ProxyStartError(Exception):
    """mitmproxy did not come up (bad option, busy port, missing executable)."""


def mitmproxy_executable(web: bool) -> Path:
    """Find ``mitmdump`` or ``mitmweb`` next to this Python (the auditor's own environment)."""
    name = "mitmweb" if web else "mitmdump"
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise ProxyStartError(
            f"{name} not found next to {sys.executable}; reinstall the auditor (pip install classroom-auditor)"
        )
    return candidate


def lan_address() -> str | None:
    """Return this machine's address on the LAN (the one a lab device connects to).

    Connecting a UDP socket only picks a route; no packet is sent.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address works, nothing is sent
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("0.") else address


def build_command(
    executable: Path,
    mode: str,
    listen_host: str | None,
    port: int | None,
    folder: Path,
    app_domains: Sequence[str],
    app_name: str | None,
    profile: str | None,
    body_cap: int,
    report_every: int,
    confdir: Path,
    scripts: Sequence[Path],
    settings: Sequence[str],
) -> list[str]:
    """Build the mitmproxy command line that runs the addon for one session."""
    command = [str(executable), "--mode", mode, "-s", str(ADDON)]
    if listen_host is not None:
        command += ["--listen-host", listen_host]
    if port is not None:
        command += ["--listen-port", str(port)]
    for script in scripts:
        command += ["-s", str(script)]
    options = {
        "confdir": str(confdir),
        "auditor_session": str(folder),
        "auditor_body_cap": str(body_cap),
        "auditor_report_interval": str(report_every),
        # The auditor prints its own live lines; mitmproxy only warns.
        "flow_detail": "0",
        "termlog_verbosity": "warn",
    }
    for key, value in options.items():
        command += ["--set", f"{key}={value}"]
    for domain in app_domains:
        command += ["--set", f"auditor_app_domains={domain}"]
    if app_name:
        command += ["--set", f"auditor_app_name={app_name}"]
    if profile:
        command += ["--set", f"auditor_profile={profile}"]
    for setting in settings:
        command += ["--set", setting]
    return command


def setup_instructions(ready: dict[str, Any], mode: str, listen_host: str | None) -> list[str]:
    """Tell the person setting up the lab device what to do."""
    lines = [f"Session folder: {ready['session']}"]
    lan = lan_address()
    for item in ready.get("listen", []):
        host = item["host"]
        shown = host if host not in ("", "0.0.0.0", "::") else (lan or "<this machine's address>")
        lines.append(f"Proxy ({item['mode']}) listening on {host or '*'}:{item['port']}; device connects to {shown}")
        if mode == "regular":
            lines.append(f"  On the device: Wi-Fi settings → proxy: manual, host {shown}, port {item['port']}")
        elif mode == "socks5":
            lines.append(f"  On the device or app: SOCKS5 proxy {shown}:{item['port']}")
    if mode == "transparent":
        lines.append("  Route the device's traffic through this machine (see docs/live-capture.md, transparent mode).")
    if mode == "local":
        lines.append("  Local mode: this machine's own applications are captured.")
    if mode == "wireguard" and ready.get("wireguard_conf"):
        conf_path = Path(ready["wireguard_conf"])
        lines.append(f"WireGuard client configuration ({conf_path}, import it in the WireGuard app):")
        lines.extend("  " + line for line in conf_path.read_text(encoding="utf-8").splitlines())
        lines.extend(qr_code(conf_path.read_text(encoding="utf-8")))
    lines.append(
        f"Install the proxy's CA on the device: open {CA_HELP} in the device's browser (through the proxy), "
        f"or copy {ready['ca_cert']}"
    )
    if ready.get("web"):
        lines.append(f"mitmweb: {ready['web']} (flows with findings are marked and commented)")
    lines.append("Use the app as a class would. Press Ctrl-C to end the session and write the reports.")
    return lines


def qr_code(text: str) -> list[str]:
    """Draw ``text`` as a terminal QR code when the optional ``segno`` package is installed."""
    try:
        import segno
    except ImportError:
        return ["  (install the 'qr' extra, pip install 'classroom-auditor[qr]', to show a QR code here)"]
    import io

    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=True)
    return out.getvalue().rstrip("\n").splitlines()


def print_mitmproxy_options() -> None:
    """Print every mitmproxy option, the auditor's included.

    ``mitmdump -s ADDON --options`` prints the options before it loads scripts, so a script's options never show there.
    """
    import importlib.util

    from mitmproxy import options, optmanager
    from mitmproxy.tools.dump import DumpMaster

    spec = importlib.util.spec_from_file_location("classroom_auditor", ADDON)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def dump() -> None:
        opts = options.Options()
        master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        master.addons.add(module.ClassroomAuditor())  # type: ignore[no-untyped-call]
        optmanager.dump_defaults(opts, sys.stdout)

    asyncio.run(dump())


class LiveView:
    """Tails the session's ``events.jsonl`` and prints the new lines."""

    def __init__(self, folder: Path, on_ready: Callable[[dict[str, Any]], None]) -> None:
        self.path = folder / EVENTS_FILE
        self.on_ready = on_ready
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.ready: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None

    def poll(self) -> None:
        items, self.offset = read_events(self.path, self.offset)
        for item in items:
            kind = item.get("event")
            if kind == "ready":
                self.ready = item
                self.on_ready(item)  # the setup instructions come before the first live line
            elif kind == "end":
                self.end = item
            elif kind != "report":  # periodic report rewrites would drown the live lines
                line = format_event(item)
                if line:
                    click.echo(printable(line))


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Ask mitmproxy to shut down as Ctrl-C would; force it only if it hangs."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _still_ending(signum: int, frame: object) -> None:
    click.echo("Still writing the reports; the session ends as soon as they are saved.", err=True)


def _end_on_signals() -> dict[int, Any]:
    """Make SIGINT, SIGTERM and SIGHUP end the session; return the handlers to put back.

    SIGINT is set explicitly: a shell starts a background job of a script with SIGINT
    ignored, and Python keeps an ignored signal ignored. Handled signals are reset to
    their defaults in the mitmproxy child (an ignored one would be inherited).
    """
    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _raise_interrupt)
    return previous


@main.command()
@click.option("--mode", type=click.Choice(MODES), default="regular", show_default=True,
              help="How the device reaches the proxy (mitmproxy's modes).")
@click.option("--listen-host", metavar="ADDRESS",
              help="Address to listen on (default: every interface, so a lab device can reach it).")
@click.option("--port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Port to listen on (default: mitmproxy's, 8080; WireGuard 51820; 0 picks a free port).")
@click.option("--session", "session_name", metavar="NAME",
              help="Session name (a folder under --sessions-dir); an existing session continues. Default: timestamp.")
@click.option("--sessions-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Where session folders go (default: the auditor's data folder, sessions/).")
@app_options
@profile_options
@click.option("--web", is_flag=True,
              help="Run mitmweb (browser UI; flows with findings are marked) instead of mitmdump.")
@click.option("--body-cap", type=click.IntRange(min=MIN_BODY_CAP), default=DEFAULT_BODY_CAP, show_default=True,
              help="Bytes of each decoded request body to analyse; the cut is recorded.")
@click.option("--report-every", type=click.IntRange(min=0), default=60, show_default=True, metavar="SECONDS",
              help="Rewrite report.json/report.html this often while running (0: only at the end).")
@click.option("--confdir", type=click.Path(file_okay=False, path_type=Path), default=Path("~/.mitmproxy"),
              show_default=True, help="mitmproxy's folder (its CA and WireGuard keys).")
@click.option("-s", "--script", "scripts", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Another mitmproxy addon to load (repeatable).")
@click.option("--set", "mitm_settings", multiple=True, metavar="OPTION=VALUE",
              help="A mitmproxy option, as with mitmdump --set (repeatable), e.g. ignore_hosts=REGEX.")
@click.option("--mitm-options", is_flag=True, help="Print every mitmproxy option, the auditor's included, and exit.")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Encrypt the session's raw parts (flows, records, spool) at rest with the passphrase in FILE's "
                   "first line (same as $CLASSROOM_AUDITOR_KEY_FILE); 'auditor analyze SESSION' asks for it.")
def proxy(
    mode: str,
    listen_host: str | None,
    port: int | None,
    session_name: str | None,
    sessions_dir: Path | None,
    app_domains: tuple[str, ...],
    app_name: str | None,
    profile: DeviceProfile | None,
    web: bool,
    body_cap: int,
    report_every: int,
    confdir: Path,
    scripts: tuple[Path, ...],
    mitm_settings: tuple[str, ...],
    mitm_options: bool,
    key_file: Path | None,
) -> None:
    """Capture a lab device's traffic live through mitmproxy and audit it as it happens.

    Point the device at the printed proxy address, install the proxy's CA
    (http://mitm.it), use the app as a class would, then press Ctrl-C: the
    session folder gets report.html and report.json, and
    'auditor analyze SESSION_DIR' can rebuild them later.
    """
    if mitm_options:
        print_mitmproxy_options()
        return
    try:
        domains = parse_app_domains(app_domains)
        name = parse_session_name(session_name) if session_name else new_session_name()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for setting in mitm_settings:
        if "=" not in setting:
            raise click.UsageError(f"--set {setting}: expected OPTION=VALUE")
    if key_file is not None:
        from auditor.atrest import KEY_FILE_ENV, AtRestError, read_key_file

        try:
            read_key_file(key_file)  # fail now, with the file named, rather than in the worker
        except AtRestError as exc:
            raise click.UsageError(str(exc)) from None
        os.environ[KEY_FILE_ENV] = str(key_file.expanduser().resolve())  # mitmdump and its worker inherit it
    folder = (sessions_dir or default_sessions_dir()).expanduser().resolve() / name
    if (folder / RECORDS_FILE).exists():
        click.echo(f"Continuing session {name} ({folder})")
    try:
        if not ADDON.is_file():
            raise ProxyStartError(f"the addon {ADDON} is missing; reinstall the auditor")
        command = build_command(
            mitmproxy_executable(web), mode, listen_host, port, folder, domains, app_name,
            profile.path if profile else None, body_cap, report_every, confdir.expanduser(), scripts, mitm_settings,
        )
    except ProxyStartError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    sys.exit(run_session(command, folder, mode, listen_host))


def run_session(command: list[str], folder: Path, mode: str, listen_host: str | None) -> int:
    """Run mitmproxy until Ctrl-C (or SIGTERM); print the live view; return the exit code."""
    def show_setup(ready: dict[str, Any]) -> None:
        for line in setup_instructions(ready, mode, listen_host):
            click.echo(line)

    view = LiveView(folder, show_setup)
    previous = _end_on_signals()
    # Own process group: Ctrl-C reaches only us, and we stop mitmproxy in order.
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        try:
            started = time.monotonic()
            while view.ready is None:
                if child.poll() is not None:
                    click.echo(
                        f"Error: {Path(command[0]).name} exited with code {child.returncode} before the proxy "
                        "started (see its message above: usually a bad option or a port in use)",
                        err=True,
                    )
                    return ExitCode.USAGE
                if time.monotonic() - started > STARTUP_TIMEOUT:
                    click.echo(f"Error: the proxy did not start within {STARTUP_TIMEOUT:.0f} s", err=True)
                    _stop(child)
                    return ExitCode.USAGE
                time.sleep(POLL_INTERVAL)
                view.poll()
            while child.poll() is None:
                time.sleep(POLL_INTERVAL)
                view.poll()
            click.echo(f"Error: the proxy stopped unexpectedly (exit code {child.returncode})", err=True)
        except KeyboardInterrupt:
            click.echo("\nEnding the session and writing the reports…")
            for number in previous:  # a second Ctrl-C must not abandon the reports half-written
                signal.signal(number, _still_ending)
            _stop(child)
    finally:
        if child.poll() is None:
            _stop(child)
        for number, handler in previous.items():
            signal.signal(number, handler)
    view.poll()
    return _summary(view, folder)


def _summary(view: LiveView, folder: Path) -> int:
    if view.end is None:
        click.echo(
            f"Error: the session ended without final reports; rebuild them with: auditor analyze {folder} "
            f"--html {folder / 'report.html'}",
            err=True,
        )
        return ExitCode.OUTPUT_ERROR
    click.echo(f"Session saved in {folder}")
    click.echo(f"  report:  {view.end['html']}")
    click.echo(f"  JSON:    {view.end['json']}")
    suffix = SUFFIX if is_encrypted_session(folder) else ""  # name the files that are there
    click.echo(f"  records: {folder / (RECORDS_FILE + suffix)}   raw flows: {folder / (FLOWS_FILE + suffix)}")
    click.echo(f"  rebuild: auditor analyze {folder}" + (" --key-file FILE" if suffix else ""))
    return ExitCode.CLEAN


@main.command("addon-path")
def addon_path() -> None:
    """Print the path of the auditor's mitmproxy addon script, for mitmproxy's own commands.

    \b
        mitmdump -s "$(auditor addon-path)" --set auditor_app_domains=myclassroomapp.com
        mitmweb  -s "$(auditor addon-path)"
    """  # noqa: D301 - \b is click's no-rewrap marker
    click.echo(str(ADDON))


__all__ = ["addon_path", "proxy"]
