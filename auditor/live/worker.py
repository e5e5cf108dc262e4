"""The analysis worker: the live session runs in a child process of the proxy.

The proxy's event loop only pickles each finished flow and appends it to the
session's spool (:mod:`auditor.live.spool`, one ``write`` to a file); the
worker reads the spool, rebuilds the flow, turns it into a record
(:mod:`auditor.sources.mitmflows`, the same conversion as ``auditor analyze
flows.mitm``), analyses it in a :class:`~auditor.live.session.LiveSession`,
saves the raw flow to ``flows.mitm`` and reports back which flows carry
personal data (so mitmweb can mark them). Analysis thus costs the proxy almost
nothing, never makes it wait (a worker far behind only makes the spool grow,
up to its bound), a bug or a memory spike in it cannot take the proxy down,
and nothing answered is lost to a crash:

* the proxy killed: the worker sees its input pipe end, reads the rest of
  the spool and writes the reports;
* the worker killed: the proxy starts another (up to :data:`MAX_RESTARTS`),
  which carries on where the spool's ``progress`` says;
* both killed: ``auditor analyze SESSION`` (or the next ``auditor proxy`` of
  the same session) reads what the spool still holds (:func:`recover_session`).

Messages in the spool are length-prefixed pickles of tuples (both ends are
this package; nothing else speaks it):

* ``("flow", flow)`` (the pickled flow object: about 16 µs, a quarter of
  ``get_state``), ``("flow_state", state)`` (for a flow that cannot be
  pickled), ``("raw_flow", flow)`` / ``("raw_flow_state", state)`` (a finished
  WebSocket flow: saved, not analysed again), ``("record", record_json)``,
  ``("publish", event)``, ``("report",)``, ``("error", where)``,
  ``("dropped", count)`` (flows not spooled because the spool was full),
  ``("close", token)`` (the token names the proxy that started the worker).

The worker's standard input carries nothing: its end tells the worker the
proxy is gone. Its standard output carries ``("mark", flow_id, comment)`` and
``("closed", json_path, html_path)`` back to the proxy.

The worker runs in its own process group, so Ctrl-C in the proxy's terminal
never reaches it, and it ignores SIGINT, SIGTERM and SIGHUP (a service
manager's stop signals every process of the service): it must outlive the
proxy long enough to write the reports. It ends when its proxy tells it to
(``close``) or is gone.

Only the worker's side imports mitmproxy, and only to rebuild and save flows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copyreg
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, cast

from auditor.atrest import AtRestError, open_raw_part, session_key
from auditor.live.session import LiveSession, SessionSettings, flow_comment, load_profile
from auditor.live.spool import (
    DEFAULT_LIMIT_BYTES,
    WORKER_ARGS_FILE,
    SpoolReader,
    SpoolWriter,
    complete_frames,
    frame,
    has_unread,
    spool_dir,
    worker_lock,
)
from auditor.privacy import redact_text
from auditor.sources.session import FLOWS_FILE

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 300.0
"""Seconds the worker may take to finish the spool and write the final reports."""
POLL_INTERVAL = 0.02
"""Seconds between the worker's looks at the spool when it found nothing new."""
NICENESS = 3
"""How much the worker yields the CPU to the proxy. At 10 it lagged 20 s behind 50,000 requests on two
busy cores; now that a lagging worker never slows traffic (the spool absorbs it), a small bias is enough."""
MAX_RESTARTS = 3
"""Workers the proxy starts again after one died, per session (a worker that keeps dying has a bug)."""
IGNORED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def write_frame(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Send one message."""
    stream.write(frame(message))
    stream.flush()


# -- the proxy's side -----------------------------------------------------------------------


class WorkerClient:
    """Starts the worker and feeds it through the spool from the proxy's event loop, never waiting for it.

    Each message is pickled and appended to the spool with one ``write``. When
    the spool holds :data:`~auditor.live.spool.DEFAULT_LIMIT_BYTES` unread
    (``spool_limit``), later messages are dropped and counted, and the worker
    is told how many once there is room again.
    """

    def __init__(
        self,
        folder: Path,
        settings: SessionSettings,
        save_flows: bool,
        on_mark: Callable[[str, str], None] | None = None,
        reducers: Mapping[type, Callable[[Any], tuple[Any, ...]]] | None = None,
        spool_limit: int = DEFAULT_LIMIT_BYTES,
    ) -> None:
        """``reducers``: how to pickle types that cannot be pickled as they are (see :mod:`copyreg`)."""
        self.folder = folder
        self.errors = 0
        """Messages dropped because the worker was gone for good."""
        self.failed = False
        """True once the worker is gone for good; later messages are dropped (and counted)."""
        self.restarts = 0
        self.closed_paths: tuple[str, str] | None = None
        self._closing = False
        self._on_mark = on_mark
        self._dispatch_table = {**copyreg.dispatch_table, **(reducers or {})}
        self._in = bytearray()
        # With a key set, spooled flows are sealed too. Derived here, once, before the worker starts: a new
        # session's salt is written by this process alone.
        self.spool = SpoolWriter(folder, spool_limit, session_key(folder))
        self._dropped_logged = 0
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._token = f"{os.getpid()}-{time.time_ns()}"
        """Names this proxy's close message (a close an earlier run left in the spool is skipped)."""
        self._command = [
            sys.executable, "-m", "auditor.live.worker", str(folder), "--token", self._token,
            "--settings", json.dumps(_settings_json(settings)),
            "--marks" if on_mark is not None else "--no-marks",
            "--save-flows" if save_flows else "--no-save-flows",
        ]
        self._start()

    def _start(self) -> None:
        # Its own process group: Ctrl-C in the proxy's terminal must not reach it (not even while it starts up);
        # the proxy tells it when to finish.
        self.process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, process_group=0)
        assert self.process.stdout is not None
        self._stdout = self.process.stdout.fileno()
        self._in.clear()
        if self._loop is not None:
            os.set_blocking(self._stdout, False)
            self._loop.add_reader(self._stdout, self._read_available)  # marks, and the worker's end

    # -- sending ------------------------------------------------------------------------------

    def send(self, *message: Any) -> None:
        """Hand a message to the worker: appended to the spool, never waiting for the worker."""
        if self.failed:
            self.errors += 1
            return
        data = frame(message, self._dispatch_table)
        if self.spool.dropped > self.spool.dropped_reported and self.spool.append(
            frame(("dropped", self.spool.dropped - self.spool.dropped_reported)), count_drop=False
        ):
            self.spool.dropped_reported = self.spool.dropped
        if not self.spool.append(data) and self.spool.dropped - self._dropped_logged >= max(1, self._dropped_logged):
            self._dropped_logged = self.spool.dropped
            log.error(
                "Classroom auditor: the analysis is %d MB behind (the spool's limit); %d flows passed unrecorded "
                "so far", self.spool.limit_bytes // 2**20, self.spool.dropped,
            )

    # -- receiving ----------------------------------------------------------------------------

    def _read_available(self) -> None:
        try:
            chunk = os.read(self._stdout, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            if self._loop is not None:
                self._loop.remove_reader(self._stdout)
            if not self._closing:
                self._worker_lost()
            return
        self._in += chunk
        for message in complete_frames(self._in):
            self._dispatch(message)

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        if message[0] == "mark" and self._on_mark is not None:
            self._on_mark(message[1], message[2])
        elif message[0] == "closed":
            self.closed_paths = (message[1], message[2])

    def _worker_lost(self) -> None:
        """The worker died (a crash, an out-of-memory kill, ``kill -9``): start another that carries on."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(0.5)  # it closed its output by dying: reaped at once
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self.process.stdout.close()
        if self.restarts < MAX_RESTARTS:
            self.restarts += 1
            log.error("Classroom auditor: the analysis worker stopped (exit code %s); starting it again, it carries "
                      "on from the spool", self.process.returncode)
            self._start()
            return
        self.failed = True
        log.error("Classroom auditor: the analysis worker keeps stopping; traffic still flows, and what it did "
                  "not read stays in %s for auditor analyze", spool_dir(self.folder))

    # -- ending -------------------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_TIMEOUT) -> tuple[str, str] | None:
        """Ask the worker to finish the spool and write the reports; wait for it (blocking)."""
        self._closing = True
        if self._loop is not None and not self._loop.is_closed() and not self.failed:
            self._loop.remove_reader(self._stdout)
        if not self.failed:
            self.send("close", self._token)
        self.spool.close()
        if self.failed:
            return None
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # the worker also sees the end of its input
        os.set_blocking(self._stdout, True)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._stdout], [], [], remaining)
            chunk = os.read(self._stdout, 1 << 16) if readable else b""
            if not chunk:
                break
            self._in += chunk
            for message in complete_frames(self._in):
                self._dispatch(message)
        self.process.stdout.close()
        try:
            self.process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("Classroom auditor: the analysis worker did not finish within %.0f s; stopping it (the "
                      "spool keeps what it did not read)", timeout)
            self.process.kill()
            self.process.wait()
        return self.closed_paths


def _settings_json(settings: SessionSettings) -> dict[str, Any]:
    return {
        "name": settings.name,
        "app_domains": list(settings.app_domains),
        "app_name": settings.app_name,
        "profile": settings.profile,
        "body_cap": settings.body_cap,
        "report_interval": settings.report_interval,
        "proxy_modes": list(settings.proxy_modes),
        "started": settings.started,
    }


def _settings_from_json(data: dict[str, Any]) -> SessionSettings:
    return SessionSettings(
        name=data["name"],
        app_domains=tuple(data["app_domains"]),
        app_name=data["app_name"],
        profile=data["profile"],
        body_cap=int(data["body_cap"]),
        report_interval=int(data["report_interval"]),
        proxy_modes=tuple(data["proxy_modes"]),
        started=float(data["started"]),
    )


# -- the worker's side ----------------------------------------------------------------------


class Worker:
    """Handles the messages of one session."""

    def __init__(self, session: LiveSession, flows: IO[bytes] | None, marks: Callable[[str, str], None] | None):
        from mitmproxy import io as mitm_io

        self.session = session
        self.flow_writer = mitm_io.FlowWriter(flows) if flows is not None else None  # type: ignore[no-untyped-call]
        self.marks = marks
        self._last_report = time.monotonic()

    def handle(self, message: tuple[Any, ...]) -> None:
        """Process one message; a failure is logged and counted, never fatal."""
        kind = message[0]
        try:
            if kind == "flow":
                self._flow(message[1])
            elif kind == "flow_state":
                self._flow(_flow_from_state(message[1]))
            elif kind == "raw_flow":
                self._save(message[1])
            elif kind == "raw_flow_state":
                self._save(_flow_from_state(message[1]))
            elif kind == "record":
                from auditor.records import Record

                self.session.add(Record.from_json(message[1]))
            elif kind == "publish":
                self.session.publish(message[1])
            elif kind == "report":
                self.session.write_reports()
                self.session.report_written()
            elif kind == "error":
                self.session.note_error()
            elif kind == "dropped":
                self.session.note_dropped(int(message[1]))
        except Exception as exc:  # one bad flow must not stop the session
            self.session.note_error()
            if self.session.errors <= 5:
                # The exception text can quote captured data: masked here, whole only at debug level.
                log.error("Classroom auditor: analysis failed on a %s message (%s: %s); skipped",
                          kind, type(exc).__name__, redact_text(exc))
                log.debug("Classroom auditor: traceback of that failure", exc_info=True)

    def _flow(self, f: Any) -> None:
        from auditor.records import SourceKind
        from auditor.sources.mitmflows import flow_to_record

        try:
            record = flow_to_record(f, SourceKind.PROXY, self.session.settings.name, self.session.settings.body_cap)
            if record is not None:
                outcome = self.session.add(record)
                if outcome.detections:
                    comment = flow_comment(outcome.detections, outcome.classification)
                    f.marked = ":warning:"
                    f.comment = f"{f.comment}\n{comment}" if f.comment else comment
                    if self.marks is not None:
                        self.marks(f.id, f.comment)
        finally:
            # The raw flow is saved even when its analysis failed: nothing captured is lost.
            # A WebSocket handshake is saved when the socket closes, with its messages.
            if not _is_websocket_handshake(f):
                self._save(f)

    def _save(self, f: Any) -> None:
        if self.flow_writer is not None:
            self.flow_writer.add(f)

    def tick(self) -> None:
        """Once a second: sync files; rewrite the reports when due."""
        self.session.tick()
        interval = self.session.settings.report_interval
        if interval and self.session.changed_since_report and time.monotonic() - self._last_report >= interval:
            self._last_report = time.monotonic()
            self.handle(("report",))


def _flow_from_state(state: dict[str, Any]) -> Any:
    from mitmproxy import flow as mitm_flow

    return mitm_flow.Flow.from_state(state)


def _is_websocket_handshake(f: Any) -> bool:
    response = getattr(f, "response", None)
    return response is not None and response.status_code == 101 and getattr(f, "websocket", None) is not None


def _proxy_gone(fd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds on the input pipe (it carries nothing); True once it has ended."""
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable) and not os.read(fd, 4096)
    except OSError:
        return True


def run(
    folder: Path,
    settings: SessionSettings,
    save_flows: bool,
    marks: Callable[[str, str], None] | None,
    input_fd: int | None,
    token: str | None = None,
    passphrase: str | None = None,
) -> tuple[Path, Path]:
    """Read the session's spool until its proxy's ``close`` (or, with ``input_fd``, its end); write the reports.

    ``input_fd`` is the pipe from the proxy, whose end means the proxy is gone;
    ``None`` reads what the spool holds and stops (recovery after a crash).
    ``token`` names the proxy's ``close`` message. ``passphrase``: the key of
    an encrypted session (default: the environment's).
    """
    with worker_lock(folder):
        profile = load_profile(settings.profile) if settings.profile else None
        key = session_key(folder, passphrase)  # derived once for the spool, the records and the flows
        session = LiveSession(folder, settings, profile=profile, key=key)
        flows = cast(IO[bytes], open_raw_part(folder / FLOWS_FILE, key)) if save_flows else None  # maybe encrypted
        worker = Worker(session, flows, marks)
        reader = SpoolReader(folder, key)
        proxy_gone = input_fd is None
        last_tick = time.monotonic()
        closed = False
        while not closed:
            handled = False
            for message, position in reader.read(final=proxy_gone):
                if message[0] == "close":
                    reader.commit(position)
                    # Only this worker's proxy ends it: a close left by an earlier run of the session is skipped.
                    closed = token is not None and message[1:2] == (token,)
                    if closed:
                        break
                    continue
                worker.handle(message)
                reader.commit(position)
                handled = True
                if time.monotonic() - last_tick >= 1.0:
                    last_tick = time.monotonic()
                    worker.tick()
            if closed:
                break
            if time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                worker.tick()
            if handled:
                continue
            if proxy_gone:
                break  # the spool is read to its end and nothing more will come
            if input_fd is not None and _proxy_gone(input_fd, POLL_INTERVAL):
                proxy_gone = True
        if reader.skipped:
            log.warning("Classroom auditor: %d message(s) cut short by the proxy's end were skipped", reader.skipped)
        if reader.damaged:
            log.warning("Classroom auditor: %d spooled message(s) did not match the key (changed on disk) and were "
                        "skipped", reader.damaged)
        paths = session.close()
        if flows is not None:
            flows.close()
        reader.finish()
        return paths


def recover_session(folder: Path, passphrase: str | None = None) -> bool:
    """Read what a crashed session left in its spool into ``records.jsonl`` and rewrite its reports.

    Does nothing (False) when the spool is empty or a worker is still reading it.
    ``passphrase``: the key of an encrypted session (default: the environment's);
    :class:`~auditor.atrest.AtRestError` when it is missing or wrong.
    """
    if not has_unread(folder):
        return False
    try:
        args = json.loads((spool_dir(folder) / WORKER_ARGS_FILE).read_text(encoding="utf-8"))
        settings = _settings_from_json(args["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    with worker_lock(folder, wait=False) as free:
        if not free:
            return False  # the session is still running
    try:
        run(folder, settings, bool(args.get("save_flows", True)), None, None, passphrase=passphrase)
    except AtRestError:
        raise  # the caller says which key is missing or wrong
    except (OSError, ValueError) as exc:  # e.g. the profile it was recorded with is gone: the records still count
        log.warning("could not recover the spool of %s (%s); analysing its records as they are", folder,
                    redact_text(exc))
        return False
    return True


def serve(argv: list[str] | None = None) -> int:
    """Run the worker: read the spool until ``close`` or the end of standard input."""
    parser = argparse.ArgumentParser(prog="python -m auditor.live.worker")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--marks", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--save-flows", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--token", default="", help="what this worker's proxy says in its close message")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in IGNORED_SIGNALS:  # the proxy tells the worker when to finish (see the module's docstring)
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not on every system; the worker then just competes
        os.nice(NICENESS)

    settings_json = json.loads(args.settings)
    from auditor.live.session import write_owner_only
    from auditor.live.spool import make_spool_dir

    write_owner_only(
        make_spool_dir(args.folder) / WORKER_ARGS_FILE,
        json.dumps({"settings": settings_json, "save_flows": args.save_flows}),
    )
    out = sys.stdout.buffer
    out_lock = threading.Lock()

    def mark(flow_id: str, comment: str) -> None:
        with out_lock, contextlib.suppress(OSError):  # the proxy may be gone: the session still ends well
            write_frame(out, ("mark", flow_id, comment))

    json_path, html_path = run(
        args.folder, _settings_from_json(settings_json), args.save_flows, mark if args.marks else None,
        sys.stdin.fileno(), args.token,
    )
    with out_lock, contextlib.suppress(OSError):
        write_frame(out, ("closed", str(json_path), str(html_path)))
    return 0


if __name__ == "__main__":
    os.umask(0o077)  # everything the worker creates is the session's: owner-only
    raise SystemExit(serve())
