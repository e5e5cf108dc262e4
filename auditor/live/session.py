"""A live capture session: the folder, the incremental record log, live events and reports.

A session folder (owner-only: it holds children's data) contains

* ``flows.mitm``: the raw flows in mitmproxy's own format (written by the addon),
* ``records.jsonl``: one normalized record a line, written as traffic arrives,
* ``events.jsonl``: what the live view prints (new destinations, new findings; masked values only),
* ``session.json``: settings, start and end time, tool version, counters,
* ``report.json`` and ``report.html``: written when the session ends and on demand.

Every line is written with one unbuffered ``write``, so killing the proxy
(even with ``kill -9``) loses nothing already handed to the session; the
files are also synced to disk, and ``session.json`` rewritten with its
counters, at least once a second, so a power cut loses at most the last
second. Flows the worker has not read yet wait in ``spool/``
(:mod:`auditor.live.spool`). ``auditor analyze SESSION_DIR`` rebuilds the
reports from ``records.jsonl``.

Every file of the session is opened through :func:`open_owner_only` or
:func:`write_owner_only`: the one place to change how session files are
written (e.g. to encrypt them).

Nothing here imports mitmproxy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from auditor import __version__
from auditor.analysis import Analysis, AnalysisConfig, Event
from auditor.atrest import SessionKey, open_raw_part, session_key
from auditor.audit import run_audit
from auditor.classify import HostClassification
from auditor.decoding import DEFAULT_BODY_CAP
from auditor.detect import Detection, DetectionContext, Detector, default_detectors
from auditor.privacy import load_or_create_salt
from auditor.private_files import make_private_folder
from auditor.records import InputSummary, Record
from auditor.report import OutputFormat, build_report
from auditor.report.wording import category_label, data_type_label
from auditor.sources import ReadOptions, sha256_of
from auditor.sources.session import (
    ENCRYPTED_RECORDS_FILE,
    FLOWS_FILE,
    RECORDS_FILE,
    SETTINGS_FILE,
    encrypted_record_lines,
    records_from_lines,
)

log = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
WIREGUARD_CLIENT_FILE = "wireguard-client.conf"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
SYNC_INTERVAL = 1.0
"""Seconds between ``fsync`` calls: at most this much is lost if the machine loses power."""
MIN_BODY_CAP = 1024

PINNING_NOTE = "client rejected the proxy's certificate (likely certificate pinning)"
"""Note of a TLS record whose client refused mitmproxy's certificate."""

_SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# -- option parsing (plain functions raising ValueError; the addon and CLI name the option) ----
# auditor.appinfer.parse_app_domains is the one validator of --app-domain for every command.


def parse_body_cap(value: int) -> int:
    """Bytes of each request body to analyse; at least 1 KiB so small uploads are still seen."""
    if value < MIN_BODY_CAP:
        raise ValueError(f"must be at least {MIN_BODY_CAP} bytes, got {value}")
    return value


def parse_report_interval(value: int) -> int:
    """Seconds between report rewrites while running; 0 writes reports only at the end."""
    if value < 0:
        raise ValueError(f"must be 0 (only at the end) or a number of seconds, got {value}")
    return value


def parse_spool_limit(megabytes: int) -> int:
    """Megabytes the session's spool may hold; at least 16 so one large upload always fits."""
    if megabytes < 16:
        raise ValueError(f"must be at least 16 (megabytes), got {megabytes}")
    return megabytes


def parse_session_name(value: str) -> str:
    """Check a session name is usable as a folder name (no path separators).

    >>> parse_session_name("maths-app_2026-11-22")
    'maths-app_2026-11-22'
    >>> parse_session_name("../etc")
    Traceback (most recent call last):
    ValueError: '../etc' is not a session name: use letters, digits, '.', '_' and '-'
    """
    if not _SESSION_NAME.match(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a session name: use letters, digits, '.', '_' and '-'")
    return value


def new_session_name(now: float | None = None) -> str:
    """Make a sortable name for a new session from the current UTC time.

    >>> new_session_name(0)
    'session-19700101-000000'
    """
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, tz=dt.UTC)
    return moment.strftime("session-%Y%m%d-%H%M%S")


def default_sessions_dir() -> Path:
    """Where sessions go unless told otherwise: ``<data dir>/sessions``."""
    from trackers_db.database import data_dir

    return data_dir() / "sessions"


def tls_failure_note(error: str | None) -> str:
    """Why a client's TLS handshake with the proxy failed, in the words the report uses.

    >>> tls_failure_note("The client does not trust the proxy's certificate for x (unknown ca)")
    "client rejected the proxy's certificate (likely certificate pinning)"
    >>> tls_failure_note("Client and mitmproxy cannot agree on a TLS version to use.")
    'TLS handshake with the proxy failed: Client and mitmproxy cannot agree on a TLS version to use.'
    """
    text = (error or "").strip()
    lowered = text.lower()
    if "trust the proxy's certificate" in lowered or "unknown ca" in lowered or "bad certificate" in lowered:
        return PINNING_NOTE
    return f"TLS handshake with the proxy failed: {text or 'no reason given'}"


def load_profile(path: str | os.PathLike[str]) -> Any:
    """Load a device profile with the loader ``auditor analyze --profile`` uses (``ValueError`` if bad)."""
    from auditor.profile import load_profile as load

    return load(Path(path).expanduser())


# -- files ------------------------------------------------------------------------------------


def open_owner_only(path: Path, append: bool = True) -> BinaryIO:
    """Open ``path`` for unbuffered binary writing, created (or tightened to) mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "wb", buffering=0)


def write_owner_only(path: Path, text: str) -> Path:
    """Write a whole file atomically (a reader never sees half of it), mode 0600."""
    temp = path.with_name(f".{path.name}.tmp")
    with open_owner_only(temp, append=False) as handle:
        handle.write(text.encode("utf-8"))
    os.replace(temp, path)
    return path


def make_session_folder(folder: Path) -> Path:
    """Create the session folder (and parents) owner-only; tighten it if it already exists."""
    make_private_folder(folder)  # parents too: sessions/ must not be listable by other users
    os.chmod(folder, FOLDER_MODE)
    return folder


# -- settings and events ----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSettings:
    """How a session was started; saved as ``session.json``."""

    name: str
    """Session name (the folder's name)."""
    app_domains: tuple[str, ...] = ()
    """The app's own domains as given; empty means inferred at report time."""
    app_name: str | None = None
    """Name of the app under audit, for reports."""
    profile: str | None = None
    """Path of the device profile with known values, if one was given."""
    body_cap: int = DEFAULT_BODY_CAP
    """Bytes of each decoded request body that are analysed."""
    report_interval: int = 60
    """Seconds between report rewrites while running (0: only at the end)."""
    proxy_modes: tuple[str, ...] = ()
    """mitmproxy modes the proxy ran in, e.g. ``regular`` or ``wireguard``."""
    started: float = field(default_factory=time.time)
    """Start time, seconds since the epoch."""

    def to_json(self) -> dict[str, Any]:
        """Return the ``session.json`` content (without run counters)."""
        return {
            "name": self.name,
            "app_domains": list(self.app_domains),
            "app_name": self.app_name,
            "profile": self.profile,
            "body_cap": self.body_cap,
            "report_interval": self.report_interval,
            "proxy_modes": list(self.proxy_modes),
            "started": _iso(self.started),
            "tool_version": __version__,
        }


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def destination_event(classification: HostClassification, time_seen: float) -> dict[str, Any]:
    """Describe a new destination as an ``events.jsonl`` line."""
    return {
        "event": "destination",
        "time": time_seen,
        "host": classification.host,
        "company": classification.company,
        "category": classification.category,
        "party": classification.party.value,
        "is_tracker": classification.is_tracker,
        "tool_traffic": classification.tool_traffic,
    }


def live_event_json(event: Event, time_seen: float) -> dict[str, Any]:
    """Turn an analysis event into an ``events.jsonl`` line (findings carry masked values only)."""
    if event.finding is None:
        return destination_event(event.destination, time_seen)
    finding = event.finding
    return {
        "event": "finding",
        "time": time_seen,
        "severity": finding.severity.value,
        "rule": finding.rule,
        "title": finding.title,
        "data_type": finding.data_type,
        "host": finding.host,
        "company": finding.company,
        "party": finding.party,
        "where": finding.where,
        "key": finding.key,
        "masked_value": finding.masked_value,
    }


def format_event(data: dict[str, Any]) -> str | None:
    """One terminal line for an ``events.jsonl`` item; ``None`` for events the live view skips.

    >>> format_event({"event": "destination", "host": "api.mixpanel.com", "company": "Mixpanel",
    ...               "category": "analytics", "party": "third", "is_tracker": True})
    'new destination  api.mixpanel.com  Mixpanel · Analytics · third party · tracker'
    >>> format_event({"event": "finding", "severity": "high", "data_type": "precise_location",
    ...               "host": "graph.facebook.com", "where": "query", "key": "lat", "masked_value": "5*.****",
    ...               "title": "Precise location goes to a third party"})
    'FINDING [high] Precise location → graph.facebook.com (query lat = 5*.****): Precise location goes to a third party'
    """
    kind = data.get("event")
    if kind == "destination" and data.get("tool_traffic"):
        return f"proxy's own page  {data.get('host')}  (the certificate download: the tool's traffic, not the app's)"
    if kind == "destination":
        party = data.get("party") or "unknown"
        facts = [
            data.get("company") or "unknown company",
            category_label(data.get("category")) or "uncategorised",
            "local network" if party == "local" else f"{party} party",
        ]
        if data.get("is_tracker"):
            facts.append("tracker")
        return f"new destination  {data.get('host')}  " + " · ".join(facts)
    if kind == "finding":
        place = " ".join(str(p) for p in (data.get("where"), data.get("key")) if p)
        value = f" = {data['masked_value']}" if data.get("masked_value") else ""
        what = data_type_label(data["data_type"]) if data.get("data_type") else "the destination"
        return (
            f"FINDING [{data.get('severity')}] {what} → {data.get('host')} "
            f"({place}{value}): {data.get('title')}"
        )
    if kind == "report":
        return f"reports updated: {data.get('html')}"
    if kind == "dropped":
        return (
            f"WARNING the analysis fell too far behind: {data.get('total')} flows passed unrecorded "
            "(raise auditor_spool_limit, or use a faster machine)"
        )
    return None


def flow_comment(detections: Sequence[Detection], classification: HostClassification) -> str:
    """Write what an analyst sees on a flagged flow in mitmweb (masked values only).

    >>> from auditor.classify import Party
    >>> from auditor.detect import Where
    >>> c = HostClassification("graph.facebook.com", "facebook.com", Party.THIRD, "Meta", None, "social",
    ...                        True, "US", ())
    >>> d = Detection("precise_location", Where.QUERY, "lat", "plain", 0.8, "5*.****", "ab12", "key-and-format")
    >>> flow_comment([d, d], c)
    'Classroom auditor: Precise location in query lat (5*.****) → Meta · Social network · third party'
    """
    parts: list[str] = []
    for detection in detections:
        place = " ".join(p for p in (detection.where.value, detection.key) if p)
        text = f"{data_type_label(detection.data_type)} in {place} ({detection.masked_value})"
        if text not in parts:
            parts.append(text)
    facts = [classification.company or classification.host]
    if classification.category:
        facts.append(category_label(classification.category))
    facts.append(f"{classification.party.value} party")
    return "Classroom auditor: " + "; ".join(parts) + " → " + " · ".join(facts)


# -- the session ------------------------------------------------------------------------------


class _RecordingDetector(Detector):
    """Wraps a detector and remembers what it found in the current record (for flow marking)."""

    def __init__(self, inner: Detector, found: list[Detection]) -> None:
        self.inner = inner
        self.name = inner.name
        self._found = found

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        for detection in self.inner.detect(record, context):
            self._found.append(detection)
            yield detection


@dataclass(frozen=True)
class RecordOutcome:
    """What one record added to the session."""

    events: list[Event]
    """New destinations and new findings."""
    detections: list[Detection]
    """Personal data found in this record (repeats included)."""
    classification: HostClassification
    """The record's destination."""


class LiveSession:
    """One proxy run's session folder and its incremental analysis."""

    def __init__(
        self, folder: Path, settings: SessionSettings, profile: Any = None, salt: bytes | None = None,
        key: SessionKey | None = None,
    ) -> None:
        """``key``: encrypt ``records.jsonl`` at rest with it (default: the key set in the environment, if any)."""
        self.folder = folder
        self.settings = settings
        self._found: list[Detection] = []
        detectors = [_RecordingDetector(d, self._found) for d in default_detectors()]
        self.config = AnalysisConfig(
            app_domains=settings.app_domains,
            app_name=settings.app_name,
            salt=salt if salt is not None else load_or_create_salt(),
            profile=profile,
            device_ips=tuple(getattr(profile, "device_ips", ())),
            read_options=ReadOptions(body_cap=settings.body_cap),
        )
        self.analysis = Analysis(self.config, detectors=detectors)
        self.errors = 0
        """Hook or analysis failures (each logged; the flow passed unchanged)."""
        self.records_written = 0
        self.records_resumed = 0
        self.dropped = 0
        """Flows the proxy passed unrecorded because the spool was full."""
        self._settings_written = (-1, -1, -1)
        self.reports_written = 0
        self._changed_since_report = False
        self._report_lock = threading.Lock()
        self._generation = 0
        self._written_generation = 0
        self._last_sync = time.monotonic()
        make_session_folder(folder)
        self.records_path = folder / RECORDS_FILE
        self._resume(key if key is not None else session_key(folder))
        self.live_input = InputSummary(path=str(folder), format="proxy", sha256="")
        """The report's provenance entry for traffic captured in this run."""
        self.analysis.inputs.append(self.live_input)
        self._records = open_raw_part(self.records_path, key)  # encrypted at rest when the user set a key
        self._events = open_owner_only(folder / EVENTS_FILE)
        self._write_settings()

    # -- feeding ----------------------------------------------------------------------------

    def _resume(self, key: SessionKey | None) -> None:
        """Continue a session restarted under the same name: earlier records count again, encrypted ones too."""
        if self.records_path.exists():
            self.analysis.add_input(self.records_path)
        encrypted = self.folder / ENCRYPTED_RECORDS_FILE
        if key is not None and encrypted.exists():
            summary = InputSummary(path=str(encrypted), format="session", sha256=sha256_of(encrypted))
            self.analysis.inputs.append(summary)
            for record in records_from_lines(encrypted_record_lines(self.folder, key), encrypted, summary.problems):
                self.analysis.add(record)
                summary.records += 1
        self.records_resumed = self.analysis.records_seen
        self._found.clear()

    def add(self, record: Record) -> RecordOutcome:
        """Log a record, analyse it and publish what is new."""
        self._records.write(json.dumps(record.to_json(), ensure_ascii=False).encode("utf-8") + b"\n")
        self.records_written += 1
        self._found.clear()
        events = self.analysis.add(record)
        detections = list(self._found)
        self._found.clear()
        for event in events:
            self.publish(live_event_json(event, record.time or time.time()))
        self._changed_since_report = True
        self.live_input.records += 1
        classification = self.analysis.classification(record.host or record.server_ip or "unknown")
        return RecordOutcome(events, detections, classification)

    def publish(self, data: dict[str, Any]) -> None:
        """Append one line to ``events.jsonl`` (what ``auditor proxy`` prints)."""
        self._events.write(json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n")

    def note_error(self) -> None:
        """Count a failure that was logged and skipped."""
        self.errors += 1

    def note_dropped(self, count: int) -> None:
        """Count flows the proxy passed unrecorded (the spool was full); the live view says so."""
        self.dropped += count
        self.publish({"event": "dropped", "time": time.time(), "count": count, "total": self.dropped})

    def _sync_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_INTERVAL:
            return
        self._last_sync = now
        for handle in (self._records, self._events):
            try:
                os.fsync(handle.fileno())
            except (OSError, ValueError):  # closed meanwhile: close() syncs itself
                continue

    def tick(self) -> None:
        """Sync the files to disk if a second has passed; call about once a second (may run on another thread).

        Every line is already in the operating system's hands when :meth:`add` returns (so killing
        the process loses nothing); syncing bounds what a power cut can lose. ``session.json``
        is rewritten when its counters changed, so it is right after a crash too.
        """
        self._sync_if_due()
        if self._settings_written != (self.records_written, self.errors, self.dropped):
            self._write_settings()

    # -- outputs ----------------------------------------------------------------------------

    @property
    def report_paths(self) -> tuple[Path, Path]:
        """Where the JSON and HTML reports go."""
        return self.folder / REPORT_JSON, self.folder / REPORT_HTML

    @property
    def changed_since_report(self) -> bool:
        """True when records arrived after the last report was written."""
        return self._changed_since_report

    def build_report(self) -> dict[str, Any]:
        """Build the report of everything so far (cheap; rendering is the slow part).

        Call on the thread that adds records; :meth:`write_reports` may then run on another.
        """
        self._changed_since_report = False
        self._generation += 1
        report = build_report(run_audit(self.analysis))  # the audit stage decides; the report renders
        report["_generation"] = self._generation
        return report

    def write_reports(self, report: dict[str, Any] | None = None) -> tuple[Path, Path]:
        """Render and write ``report.json`` and ``report.html`` (owner-only); thread-safe.

        A report older than the one already written is dropped, so a slow
        background write can never overwrite the final report.
        """
        report = dict(report if report is not None else self.build_report())
        generation = int(report.pop("_generation", 0))
        json_path, html_path = self.report_paths
        with self._report_lock:
            if generation >= self._written_generation:
                self._written_generation = generation
                write_owner_only(json_path, OutputFormat.JSON.to_format().render(report))
                write_owner_only(html_path, OutputFormat.HTML.to_format().render(report))
                self.reports_written += 1
        return json_path, html_path

    def report_written(self) -> None:
        """Tell the live view (and ``session.json``) that fresh reports are on disk."""
        json_path, html_path = self.report_paths
        self.publish({"event": "report", "time": time.time(), "json": str(json_path), "html": str(html_path)})
        self._write_settings()

    def _write_settings(self, ended: float | None = None) -> None:
        data = self.settings.to_json()
        self._settings_written = (self.records_written, self.errors, self.dropped)
        data.update(
            {
                "ended": _iso(ended) if ended else None,
                "records": self.records_resumed + self.records_written,
                "errors": self.errors,
                "dropped": self.dropped,
                "detector_errors": self.analysis.detector_errors,
                "files": {
                    "flows": FLOWS_FILE,
                    "records": RECORDS_FILE,
                    "events": EVENTS_FILE,
                    "report_json": REPORT_JSON,
                    "report_html": REPORT_HTML,
                },
            }
        )
        write_owner_only(self.folder / SETTINGS_FILE, json.dumps(data, indent=2) + "\n")

    def close(self) -> tuple[Path, Path]:
        """End the session: write the reports and close the files."""
        self._sync_if_due(force=True)
        self.live_input.sha256 = sha256_of(self.records_path.parent)  # the folder: its records may be encrypted
        paths = self.write_reports()
        self._write_settings(ended=time.time())
        self._sync_if_due(force=True)
        self.publish({"event": "end", "time": time.time(), "json": str(paths[0]), "html": str(paths[1])})
        self._records.close()
        self._events.close()
        return paths


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete lines of ``events.jsonl`` after ``offset``, and the new offset (for tailing)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    items: list[dict[str, Any]] = []
    for line in chunk[:end].splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    return items, offset + end
