"""The analysis worker: the live session runs in a child process of the proxy.

The proxy's event loop only snapshots each finished flow (mitmproxy's
``get_state``) and hands it over; the worker rebuilds the flow, turns it into
a record (:mod:`auditor.sources.mitmflows`, the same conversion as
``auditor analyze flows.mitm``), analyses it in a
:class:`~auditor.live.session.LiveSession`, saves the raw flow to
``flows.mitm`` and reports back which flows carry personal data (so mitmweb
can mark them). Analysis thus costs the proxy almost nothing, a bug or a
memory spike in it cannot take the proxy down, and if the proxy is killed the
worker still finishes the queue and writes the reports.

Messages are length-prefixed pickles of tuples, over the worker's standard
input and output (both ends are this package; nothing else speaks it):

* to the worker: ``("flow", flow)`` (the pickled flow object: about 16 µs,
  a quarter of ``get_state``), ``("flow_state", state)`` (for a flow
  that cannot be pickled), ``("raw_flow", flow)`` / ``("raw_flow_state", state)``
  (a finished WebSocket flow: saved, not analysed again), ``("record", record_json)``,
  ``("publish", event)``, ``("report",)``, ``("error", where)``, ``("close",)``
* from the worker: ``("mark", flow_id, comment)``, ``("closed", json_path, html_path)``

While traffic flows, the worker does not wait on its pipe: it reads every
:data:`POLL_INTERVAL` (:func:`_poll_frames`), so the proxy's writes do not have
to wake it. That wake-up was the addon's largest cost to the proxy.

Only :func:`serve` (the worker side) imports mitmproxy, and only to rebuild
and save flows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copyreg
import io
import json
import logging
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

from auditor.atrest import open_raw_part
from auditor.live.session import LiveSession, SessionSettings, flow_comment, load_profile
from auditor.privacy import redact_text
from auditor.sources.session import FLOWS_FILE

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
MAX_PENDING_BYTES = 256 * 1024 * 1024
"""Flow snapshots waiting for the worker; beyond this the proxy waits (memory stays bounded)."""
CLOSE_TIMEOUT = 300.0
"""Seconds the worker may take to finish its queue and write the final reports."""
POLL_INTERVAL = 0.02
"""Seconds between the worker's reads of its input pipe while data keeps coming (see :func:`_poll_frames`)."""
NICENESS = 10
"""How much the worker yields the CPU to the proxy: traffic first; the analysis may lag and catches up when idle."""
PIPE_BYTES = 1024 * 1024
"""Pipe capacity asked for (Linux's unprivileged maximum): flows wait there, not in the proxy's memory."""


def write_frame(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Send one message."""
    stream.write(_frame(message))
    stream.flush()


# -- the proxy's side -----------------------------------------------------------------------


class WorkerClient:
    """Starts the worker and feeds it from the proxy's event loop without threads or blocking.

    Each message is written at once with a non-blocking ``write``; what the
    pipe cannot take yet waits in a buffer, flushed when the pipe has room. Only a worker far behind (more than
    :data:`MAX_PENDING_BYTES` waiting) makes the proxy wait: memory stays
    bounded. Without a running event loop (scripts, tests) writes block.
    """

    def __init__(
        self,
        folder: Path,
        settings: SessionSettings,
        save_flows: bool,
        on_mark: Callable[[str, str], None] | None = None,
        reducers: Mapping[type, Callable[[Any], tuple[Any, ...]]] | None = None,
    ) -> None:
        """``reducers``: how to pickle types that cannot be pickled as they are (see :mod:`copyreg`)."""
        self.folder = folder
        self.errors = 0
        """Messages dropped because the worker was gone."""
        self.failed = False
        """True once the worker is gone; later messages are dropped (and counted)."""
        self.closed_paths: tuple[str, str] | None = None
        self._on_mark = on_mark
        self._dispatch_table = {**copyreg.dispatch_table, **(reducers or {})}
        self._out = bytearray()
        self._in = bytearray()
        self._writer_registered = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        command = [
            sys.executable, "-m", "auditor.live.worker", str(folder),
            "--settings", json.dumps(_settings_json(settings)),
            "--marks" if on_mark is not None else "--no-marks",
            "--save-flows" if save_flows else "--no-save-flows",
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin.fileno()
        self._stdout = self.process.stdout.fileno()
        with contextlib.suppress(ImportError, OSError, AttributeError):  # Linux only; a smaller pipe fills sooner
            import fcntl

            fcntl.fcntl(self._stdin, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        if self._loop is not None:
            os.set_blocking(self._stdin, False)
            if on_mark is not None:
                os.set_blocking(self._stdout, False)
                self._loop.add_reader(self._stdout, self._read_available)

    # -- sending ------------------------------------------------------------------------------

    def send(self, *message: Any) -> None:
        """Send a message to the worker (buffered only while the pipe is full)."""
        if self.failed:
            self.errors += 1
            return
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = self._dispatch_table
        pickler.dump(message)
        self._out += _HEADER.pack(buffer.tell())
        self._out += buffer.getbuffer()
        if self._loop is None or len(self._out) > MAX_PENDING_BYTES:
            # No loop to flush later, or the worker is far behind: wait for it (backpressure).
            self._write_all_blocking()
        elif not self._writer_registered:
            # Hand it to the kernel now, before mitmproxy passes the response on: a proxy killed
            # right after answering still leaves the flow with the worker.
            self._flush()

    def _flush(self) -> None:
        if self.failed or not self._out:
            self._stop_waiting_for_room()
            return
        try:
            written = os.write(self._stdin, self._out)
        except BlockingIOError:
            written = 0
        except OSError:
            self._worker_lost()
            return
        del self._out[:written]
        if self._out and not self._writer_registered and self._loop is not None:
            self._loop.add_writer(self._stdin, self._flush)  # the pipe is full: continue when it has room
            self._writer_registered = True
        elif not self._out:
            self._stop_waiting_for_room()

    def _stop_waiting_for_room(self) -> None:
        if self._writer_registered and self._loop is not None:
            self._loop.remove_writer(self._stdin)
            self._writer_registered = False

    def _write_all_blocking(self) -> None:
        self._stop_waiting_for_room()
        os.set_blocking(self._stdin, True)
        try:
            while self._out and not self.failed:
                written = os.write(self._stdin, self._out)
                del self._out[:written]
        except OSError:
            self._worker_lost()
        finally:
            if self._loop is not None and not self.failed:
                os.set_blocking(self._stdin, False)

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
            return
        self._in += chunk
        for message in _complete_frames(self._in):
            self._dispatch(message)

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        if message[0] == "mark" and self._on_mark is not None:
            self._on_mark(message[1], message[2])
        elif message[0] == "closed":
            self.closed_paths = (message[1], message[2])

    def _worker_lost(self) -> None:
        if not self.failed:
            self.failed = True
            self._out.clear()
            log.error("Classroom auditor: the analysis worker stopped; traffic still flows but is not recorded")

    # -- ending -------------------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_TIMEOUT) -> tuple[str, str] | None:
        """Ask the worker to finish its queue and write the reports; wait for it (blocking)."""
        if self._loop is not None and self._on_mark is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._stdout)
        if not self.failed:
            self._out += _frame(("close",))
            self._write_all_blocking()
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # the worker sees the end of its input
        os.set_blocking(self._stdout, True)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._stdout], [], [], remaining)
            chunk = os.read(self._stdout, 1 << 16) if readable else b""
            if not chunk:
                break
            self._in += chunk
            for message in _complete_frames(self._in):
                self._dispatch(message)
        self.process.stdout.close()
        try:
            self.process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("Classroom auditor: the analysis worker did not finish within %.0f s; stopping it", timeout)
            self.process.kill()
            self.process.wait()
        return self.closed_paths


def _complete_frames(buffer: bytearray) -> list[tuple[Any, ...]]:
    """Take the complete messages off the front of ``buffer`` (a partial one stays for later)."""
    messages = []
    start = 0
    with memoryview(buffer) as view:
        while len(view) - start >= _HEADER.size:
            (length,) = _HEADER.unpack_from(view, start)
            end = start + _HEADER.size + length
            if len(view) < end:
                break
            messages.append(pickle.loads(view[start + _HEADER.size : end]))  # our own parent or child wrote it
            start = end
    del buffer[:start]
    return messages


def _frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


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


def _poll_frames(fd: int, interval: float = POLL_INTERVAL) -> Iterator[tuple[Any, ...]]:
    """Yield the messages arriving on ``fd`` until its end; while data keeps coming, read every ``interval`` seconds.

    A pipe with a waiting reader makes every write of the proxy wake this
    process, and that wake-up (a cross-CPU interrupt, very costly in a virtual
    machine) cost the proxy about 200 µs per flow under load, more than
    everything else the addon does. So after each read the worker sleeps instead
    of waiting on the pipe: under load the proxy's writes gather in the pipe (the
    kernel's memory, so they survive the proxy being killed) and never wake it.
    Only a pipe found empty is waited on, so the first flow after a pause is
    analysed at once (mitmweb marks it without delay).
    """
    os.set_blocking(fd, False)
    pending = bytearray()
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            select.select([fd], [], [])  # idle: the next write wakes us, once
            continue
        if not chunk:
            return  # a message cut off by the proxy's death is dropped: it was never complete
        pending += chunk
        yield from _complete_frames(pending)
        time.sleep(interval)  # busy: let writes gather rather than be woken by each


def serve(argv: list[str] | None = None) -> int:
    """Run the worker: read messages from standard input until ``close`` or its end."""
    parser = argparse.ArgumentParser(prog="python -m auditor.live.worker")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--marks", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--save-flows", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with contextlib.suppress(OSError, AttributeError):  # not on every system; the worker then just competes
        os.nice(NICENESS)

    settings = _settings_from_json(json.loads(args.settings))
    profile = load_profile(settings.profile) if settings.profile else None
    session = LiveSession(args.folder, settings, profile=profile)
    flows = cast(IO[bytes], open_raw_part(args.folder / FLOWS_FILE)) if args.save_flows else None  # maybe encrypted
    out = sys.stdout.buffer
    out_lock = threading.Lock()

    def mark(flow_id: str, comment: str) -> None:
        with out_lock, contextlib.suppress(OSError):  # the proxy may be gone: the session still ends well
            write_frame(out, ("mark", flow_id, comment))

    worker = Worker(session, flows, mark if args.marks else None)
    inbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=10_000)

    def read_all() -> None:
        for message in _poll_frames(sys.stdin.fileno()):
            inbox.put(message)
            if message[0] == "close":
                break
        inbox.put(None)

    threading.Thread(target=read_all, name="auditor-worker-inbox", daemon=True).start()
    last_tick = time.monotonic()
    while True:
        try:
            message = inbox.get(timeout=1.0)
        except queue.Empty:
            message = ()
        if message is None or message[:1] == ("close",):
            break
        if message:
            worker.handle(message)
        if time.monotonic() - last_tick >= 1.0:
            last_tick = time.monotonic()
            worker.tick()
    json_path, html_path = session.close()
    if flows is not None:
        flows.close()
    with out_lock, contextlib.suppress(OSError):
        write_frame(out, ("closed", str(json_path), str(html_path)))
    return 0


if __name__ == "__main__":
    os.umask(0o077)  # everything the worker creates is the session's: owner-only
    raise SystemExit(serve())
