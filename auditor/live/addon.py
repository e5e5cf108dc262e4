"""Classroom Traffic Auditor as a mitmproxy addon.

    mitmdump -s "$(auditor addon-path)" --set auditor_app_domains=classroom.example
    mitmweb  -s "$(auditor addon-path)"

The addon ships inside the package (an installed wheel has no ``addons/``
folder): ``auditor addon-path`` prints the path of
:mod:`auditor.live.mitmproxy_script`, the few lines mitmproxy's ``-s`` loads,
and ``addons/classroom_auditor.py`` does the same from a source checkout.

Each finished flow is snapshotted and handed to the session's analysis worker
(``auditor.live.worker``, a child process), which turns it into a normalized
record (``auditor.sources.mitmflows``), runs the same analysis as ``auditor
analyze`` (``auditor.live.session.LiveSession``), saves the raw flow and tells
mitmweb which flows to mark. This file only wires mitmproxy's hooks to that
code: it never changes traffic, and a failure is logged and counted while the
flow passes on unchanged.
"""

from __future__ import annotations

import logging
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from mitmproxy import command, ctx, exceptions, flow, hooks, http
from mitmproxy.addonmanager import Loader

from auditor.appinfer import parse_app_domains
from auditor.decoding import DEFAULT_BODY_CAP
from auditor.live.session import (
    REPORT_HTML,
    WIREGUARD_CLIENT_FILE,
    SessionSettings,
    default_sessions_dir,
    load_profile,
    make_session_folder,
    new_session_name,
    parse_body_cap,
    parse_report_interval,
    parse_spool_limit,
    tls_failure_note,
    write_owner_only,
)
from auditor.live.spool import DEFAULT_LIMIT_BYTES
from auditor.live.worker import WorkerClient
from auditor.privacy import redact_text
from auditor.records import SourceKind
from auditor.sources.mitmflows import pickle_reducers, tls_failure_to_record, websocket_message_to_record

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
        self.worker: WorkerClient | None = None
        """The session's analysis worker (a child process), once traffic or ``running`` started it."""
        self.folder: Path | None = None
        """The session folder."""
        self.errors = 0
        """Failures in this process (each logged; the flow passed unchanged)."""

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
        loader.add_option("auditor_app_name", Optional[str], None, "Name of the app under audit, shown in reports.")  # type: ignore[arg-type]  # noqa: UP045
        loader.add_option(
            "auditor_profile", Optional[str], None,  # type: ignore[arg-type]  # noqa: UP045
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
        loader.add_option(
            "auditor_spool_limit", int, DEFAULT_LIMIT_BYTES // 2**20,
            "Megabytes of flows that may wait on disk (the session's spool/) for the analysis; beyond this, "
            "flows pass unrecorded (and are counted) rather than slow the traffic.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        notes: list[str] = []  # a URL given as a domain is taken as its host name, and the user is told
        self._check("auditor_app_domains", updated, lambda: parse_app_domains(options.auditor_app_domains, notes))
        for note in notes:
            log.warning("Classroom auditor: %s", note)
        self._check("auditor_body_cap", updated, lambda: parse_body_cap(options.auditor_body_cap))
        self._check("auditor_report_interval", updated, lambda: parse_report_interval(options.auditor_report_interval))
        self._check("auditor_spool_limit", updated, lambda: parse_spool_limit(options.auditor_spool_limit))
        profile = options.auditor_profile
        self._check("auditor_profile", updated, lambda: profile and load_profile(profile))
        fixed = {"auditor_session", "auditor_app_domains", "auditor_profile", "auditor_save_flows"} & updated
        if self.worker is not None and fixed:
            raise exceptions.OptionsError(  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped
                f"{sorted(fixed)[0]} cannot change during a session; stop the proxy and start a new session"
            )

    @staticmethod
    def _check(name: str, updated: set[str], parse: Callable[[], object]) -> None:
        if name not in updated:
            return
        try:
            parse()
        except ValueError as exc:
            raise exceptions.OptionsError(f"{name}: {exc}") from exc  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped

    # -- session -----------------------------------------------------------------------------

    def open_session(self) -> WorkerClient:
        """Return the running session's worker, starting it on first use."""
        if self.worker is not None:
            return self.worker
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
        make_session_folder(folder)
        # Only a UI that lists flows (mitmweb, the console) needs to hear which flows to mark.
        wants_marks = ctx.master.addons.get("view") is not None  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped
        self.worker = WorkerClient(
            folder, settings, options.auditor_save_flows, self._mark if wants_marks else None, pickle_reducers(),
            spool_limit=options.auditor_spool_limit * 2**20,
        )
        self.folder = folder
        log.info("Classroom auditor: session folder %s", folder)
        return self.worker

    def running(self) -> None:
        try:
            worker = self.open_session()
            worker.send("publish", self._ready_event(worker.folder))
        except Exception:  # noqa: BLE001 - the proxy keeps working without the auditor
            self._failed("running")

    def _ready_event(self, folder: Path) -> dict[str, Any]:
        """Where the proxy listens and how a device gets set up (for ``auditor proxy``)."""
        listen: list[dict[str, Any]] = []
        wireguard_file: str | None = None
        proxyserver = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped
        for server in getattr(proxyserver, "servers", ()):
            for address in server.listen_addrs:
                listen.append({"mode": server.mode.type_name, "host": address[0], "port": address[1]})
            client_conf = getattr(server, "client_conf", None)
            conf = client_conf() if callable(client_conf) else None
            if conf:
                # The client configuration holds the client's private key: owner-only, like the session.
                wireguard_file = str(write_owner_only(folder / WIREGUARD_CLIENT_FILE, conf + "\n"))
        confdir = Path(ctx.options.confdir).expanduser()
        web = None
        if ctx.master.addons.get("webaddon") is not None:  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped
            web = f"http://{ctx.options.web_host}:{ctx.options.web_port}/"
        return {
            "event": "ready",
            "time": time.time(),
            "session": str(folder),
            "listen": listen,
            "ca_cert": str(confdir / "mitmproxy-ca-cert.pem"),
            "wireguard_conf": wireguard_file,
            "web": web,
        }

    @command.command("auditor.report")  # type: ignore[untyped-decorator]  # mitmproxy's API is untyped
    def report(self) -> str:
        """Write the session's report.json and report.html now; returns the HTML report's path."""
        worker = self.open_session()
        worker.send("report")
        return str(worker.folder / REPORT_HTML)

    def done(self) -> None:
        if self.worker is None:
            return
        paths = self.worker.close()
        if paths is not None:
            log.info("Classroom auditor: session ended; reports in %s", Path(paths[0]).parent)
        else:
            log.error("Classroom auditor: the session ended without reports; rebuild them with auditor analyze %s",
                      self.worker.folder)
        self.errors += self.worker.errors
        self.worker = None

    # -- marking flows in mitmweb ------------------------------------------------------------

    def _mark(self, flow_id: str, comment: str) -> None:
        view = ctx.master.addons.get("view")  # type: ignore[no-untyped-call]  # mitmproxy's API is untyped
        flow = view.get_by_id(flow_id) if view is not None else None
        if flow is None:
            return
        # Seen in mitmweb: a marker in the flow list and the finding in the flow's comment.
        flow.marked = MARKER
        flow.comment = comment
        ctx.master.addons.trigger(hooks.UpdateHook([flow]))

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

    def websocket_message(self, f: http.HTTPFlow) -> None:
        """Analyse each message the device sends over a WebSocket as it passes."""
        try:
            message = f.websocket.messages[-1] if f.websocket and f.websocket.messages else None
            if message is None or not message.from_client:
                return
            worker = self.open_session()
            record = websocket_message_to_record(
                f, message, SourceKind.PROXY, worker.folder.name, ctx.options.auditor_body_cap
            )
            if record is not None:
                worker.send("record", record.to_json())
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed("websocket_message")

    def websocket_end(self, f: http.HTTPFlow) -> None:
        """Save the finished WebSocket flow, messages included (its records were sent message by message)."""
        try:
            self._send_flow(self.open_session(), "raw_flow", f)
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed("websocket_end")

    def tls_failed_client(self, data: Any) -> None:
        """Record a TLS handshake the device refused: its SNI is known, its content is not (pinning)."""
        try:
            worker = self.open_session()
            note = tls_failure_note(data.conn.error)
            record = tls_failure_to_record(data, SourceKind.PROXY, worker.folder.name, note)
            worker.send("record", record.to_json())
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed("tls_failed_client")

    def _record_flow(self, f: flow.Flow) -> None:
        if f.metadata.get(_RECORDED):
            return
        try:
            worker = self.open_session()
            f.metadata[_RECORDED] = True
            # A snapshot is all the proxy pays for: the worker process does the rest.
            self._send_flow(worker, "flow", f)
        except Exception:  # noqa: BLE001 - never break traffic
            self._failed(type(f).__name__)

    @staticmethod
    def _send_flow(worker: WorkerClient, kind: str, f: flow.Flow) -> None:
        try:
            worker.send(kind, f)
        except (pickle.PicklingError, TypeError, AttributeError):
            worker.send(f"{kind}_state", f.get_state())  # e.g. another addon put an unpicklable object in it

    def _failed(self, where: str) -> None:
        self.errors += 1
        if self.worker is not None and not self.worker.failed:
            self.worker.send("error", where)
        if self.errors <= TRACEBACKS_LOGGED:
            # The exception text can quote captured data: masked here, whole only at debug level.
            exc = sys.exc_info()[1]
            log.error("Classroom auditor: recording failed in %s (%s: %s); the flow passed unchanged",
                      where, type(exc).__name__, redact_text(exc))
            log.debug("Classroom auditor: traceback of that failure", exc_info=True)
        elif self.errors % 100 == 0:
            log.error("Classroom auditor: %d recording failures so far (flows passed unchanged)", self.errors)

