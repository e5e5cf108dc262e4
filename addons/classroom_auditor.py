"""Classroom Traffic Auditor as a mitmproxy addon.

    mitmdump -s addons/classroom_auditor.py --set auditor_app_domains=classroom.example
    mitmweb  -s addons/classroom_auditor.py

Each finished flow becomes a normalized record (``auditor.sources.mitmflows``)
and goes through the same analysis as ``auditor analyze``
(``auditor.live.session.LiveSession``). This file only wires mitmproxy's hooks
to that code: it never changes traffic, and an exception in the analysis is
logged and counted while the flow passes on unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from mitmproxy import command, ctx, exceptions, flow, http, io
from mitmproxy.addonmanager import Loader

from auditor.decoding import DEFAULT_BODY_CAP
from auditor.live.session import (
    FLOWS_FILE,
    WIREGUARD_CLIENT_FILE,
    LiveSession,
    SessionSettings,
    default_sessions_dir,
    flow_comment,
    load_profile,
    new_session_name,
    open_owner_only,
    parse_app_domains,
    parse_body_cap,
    parse_report_interval,
    tls_failure_note,
    write_owner_only,
)
from auditor.records import Record, SourceKind
from auditor.sources.mitmflows import flow_to_record, tls_failure_to_record

log = logging.getLogger("classroom_auditor")

MARKER = ":warning:"
"""mitmweb marker of flows that carry personal data."""
TRACEBACKS_LOGGED = 5
"""Analysis failures logged with a traceback; later ones are only counted (and logged every 100th)."""
_RECORDED = "classroom_auditor"
"""``flow.metadata`` key set once a flow was recorded (``error`` may follow ``response``)."""


class ClassroomAuditor:
    """Turns flows into records, analyses them live and keeps the session folder."""

    def __init__(self) -> None:
        self.session: LiveSession | None = None
        self.flow_writer: io.FlowWriter | None = None
        self.errors = 0
        self._ticker: asyncio.Task[None] | None = None
        self._last_report = time.monotonic()
        self._running = False

    # -- options ---------------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "auditor_session", str, "",
            "Session folder of the Classroom Traffic Auditor (created owner-only). "
            "Empty: a new timestamped folder under the auditor's data folder.",
        )
        loader.add_option(
            "auditor_app_domains", Sequence[str], [],
            "Domains of the app under audit (their subdomains count too); inferred when empty.",
        )
        # mitmproxy's option loader understands typing.Optional, not "str | None".
        loader.add_option("auditor_app_name", Optional[str], None, "Name of the app under audit, shown in reports.")  # noqa: UP045
        loader.add_option(
            "auditor_profile", Optional[str], None,  # noqa: UP045
            "Device profile file with the test device's known values (advertising id, test student...).",
        )
        loader.add_option(
            "auditor_body_cap", int, DEFAULT_BODY_CAP,
            "Bytes of each decoded request body the auditor analyses; longer bodies are cut and the cut recorded.",
        )
        loader.add_option(
            "auditor_report_interval", int, 60,
            "Seconds between rewrites of report.json/report.html while running; 0 writes them only at the end.",
        )
        loader.add_option(
            "auditor_save_flows", bool, True, "Also save the raw flows to flows.mitm in the session folder.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        self._check("auditor_app_domains", updated, lambda: parse_app_domains(options.auditor_app_domains))
        self._check("auditor_body_cap", updated, lambda: parse_body_cap(options.auditor_body_cap))
        self._check("auditor_report_interval", updated, lambda: parse_report_interval(options.auditor_report_interval))
        profile = options.auditor_profile
        self._check("auditor_profile", updated, lambda: profile and load_profile(profile))
        fixed = {"auditor_session", "auditor_app_domains", "auditor_profile", "auditor_save_flows"} & updated
        if self.session is not None and fixed:
            raise exceptions.OptionsError(
                f"{sorted(fixed)[0]} cannot change during a session; stop the proxy and start a new session"
            )

    @staticmethod
    def _check(name: str, updated: set[str], parse: Callable[[], object]) -> None:
        if name not in updated:
            return
        try:
            parse()
        except ValueError as exc:
            raise exceptions.OptionsError(f"{name}: {exc}") from exc

    # -- session -----------------------------------------------------------------------------

    def open_session(self) -> LiveSession:
        """Return the running session, opening it on first use."""
        if self.session is not None:
            return self.session
        options = ctx.options
        folder = Path(options.auditor_session).expanduser() if options.auditor_session else (
            default_sessions_dir() / new_session_name()
        )
        settings = SessionSettings(
            name=folder.name,
            app_domains=parse_app_domains(options.auditor_app_domains),
            app_name=options.auditor_app_name,
            profile=options.auditor_profile,
            body_cap=options.auditor_body_cap,
            report_interval=options.auditor_report_interval,
            proxy_modes=tuple(options.mode),
        )
        profile = load_profile(options.auditor_profile) if options.auditor_profile else None
        session = LiveSession(folder, settings, profile=profile)
        if options.auditor_save_flows:
            self.flow_writer = io.FlowWriter(open_owner_only(folder / FLOWS_FILE))
        self.session = session
        log.info("Classroom auditor: session folder %s", folder)
        return session

    def running(self) -> None:
        try:
            session = self.open_session()
            session.publish(self._ready_event(session))
            self._running = True
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())
        except Exception:  # noqa: BLE001 - the proxy keeps working without the auditor
            self._failed("running")

    def _ready_event(self, session: LiveSession) -> dict[str, Any]:
        """Where the proxy listens and how a device gets set up (for ``auditor proxy``)."""
        listen: list[dict[str, Any]] = []
        wireguard_file: str | None = None
        proxyserver = ctx.master.addons.get("proxyserver")
        for server in getattr(proxyserver, "servers", ()):
            for address in server.listen_addrs:
                listen.append({"mode": server.mode.type_name, "host": address[0], "port": address[1]})
            client_conf = getattr(server, "client_conf", None)
            conf = client_conf() if callable(client_conf) else None
            if conf:
                # The client configuration holds the client's private key: owner-only, like the session.
                wireguard_file = str(write_owner_only(session.folder / WIREGUARD_CLIENT_FILE, conf + "\n"))
        confdir = Path(ctx.options.confdir).expanduser()
        web = None
        if ctx.master.addons.get("webaddon") is not None:
            web = f"http://{ctx.options.web_host}:{ctx.options.web_port}/"
        return {
            "event": "ready",
            "time": time.time(),
            "session": str(session.folder),
            "listen": listen,
            "ca_cert": str(confdir / "mitmproxy-ca-cert.pem"),
            "wireguard_conf": wireguard_file,
            "web": web,
        }

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1)
            try:
                self._tick()
                if self._report_due():
                    report = self.session.build_report() if self.session else None
                    if report is not None:
                        # Rendering the HTML takes a moment: keep it off the proxy's event loop.
                        await asyncio.shield(asyncio.to_thread(self._write_reports, report))
                        if self.session is not None:
                            self.session.report_written()
            except Exception:  # noqa: BLE001 - reporting must never stop the proxy
                self._failed("report")

    def _tick(self) -> None:
        if self.session is not None:
            self.session.tick()

    def _report_due(self) -> bool:
        interval = ctx.options.auditor_report_interval
        if not interval or self.session is None or not self.session.changed_since_report:
            return False
        if time.monotonic() - self._last_report < interval:
            return False
        self._last_report = time.monotonic()
        return True

    def _write_reports(self, report: dict[str, Any] | None = None) -> str:
        assert self.session is not None
        _, html_path = self.session.write_reports(report)
        return str(html_path)

    @command.command("auditor.report")
    def report(self) -> str:
        """Write the session's report.json and report.html now; returns the HTML report's path."""
        session = self.open_session()
        path = self._write_reports(session.build_report())
        session.report_written()
        log.info("Classroom auditor: reports written to %s", session.folder)
        return path

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.session is None:
            return
        try:
            json_path, _ = self.session.close()
            log.info("Classroom auditor: session ended; reports in %s", json_path.parent)
        except Exception:  # noqa: BLE001 - still close the flows file
            self._failed("done")
        if self.flow_writer is not None:
            self.flow_writer.fo.close()
        self.session = None
        self.flow_writer = None

    # -- traffic hooks -----------------------------------------------------------------------

    def response(self, f: http.HTTPFlow) -> None:
        self._record_flow(f)

    def error(self, f: http.HTTPFlow) -> None:
        self._record_flow(f)

    def dns_response(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def dns_error(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def tcp_end(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def tcp_error(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def udp_end(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def udp_error(self, f: flow.Flow) -> None:
        self._record_flow(f)

    def tls_failed_client(self, data: Any) -> None:
        """Record a TLS handshake the device refused: its SNI is known, its content is not (pinning)."""
        try:
            session = self.open_session()
            note = tls_failure_note(data.conn.error)
            record = tls_failure_to_record(data, SourceKind.PROXY, session.settings.name, note)
            session.add(record)
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed("tls_failed_client")

    def _record_flow(self, f: flow.Flow) -> None:
        if f.metadata.get(_RECORDED):
            return
        try:
            session = self.open_session()
            f.metadata[_RECORDED] = True
            if self.flow_writer is not None:
                self.flow_writer.add(f)
            record = flow_to_record(f, SourceKind.PROXY, session.settings.name, ctx.options.auditor_body_cap)
            if record is not None:
                self._analyse(f, record, session)
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed(type(f).__name__)

    def _analyse(self, f: flow.Flow, record: Record, session: LiveSession) -> None:
        outcome = session.add(record)
        if outcome.detections:
            # Seen in mitmweb: a marker in the flow list and the finding in the flow's comment.
            f.marked = MARKER
            comment = flow_comment(outcome.detections, outcome.classification)
            f.comment = f"{f.comment}\n{comment}" if f.comment else comment

    def _failed(self, where: str) -> None:
        self.errors += 1
        if self.session is not None:
            self.session.note_error()
        if self.errors <= TRACEBACKS_LOGGED:
            log.exception("Classroom auditor: analysis failed in %s; the flow passed unchanged", where)
        elif self.errors % 100 == 0:
            log.error("Classroom auditor: %d analysis failures so far (flows passed unchanged)", self.errors)


addons = [ClassroomAuditor()]
