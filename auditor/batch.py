"""Many captures at once: find them, analyse each in a worker, keep reports and a catalogue.

The work is split so that it runs the same on local processes and on a Dask
cluster:

* the client (:func:`plan` and :func:`run_batch`) finds the captures, reads
  the manifest, matches key logs, computes each capture's key and skips those
  already done;
* a worker (:func:`analyze_capture`) reads one capture by path and returns the
  report and its rendered files as data; it loads the tracker database once per
  process, not once per capture;
* the client writes every output atomically, then the capture's catalogue rows
  in one transaction, then the ``done.json`` marker. A capture interrupted
  before its marker is simply analysed again on the next run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor import __version__, remote
from auditor.privacy import redact_text
from auditor.private_files import write_private_text
from auditor.text import printable

REPORT_FILES = {
    "json": ("report.json",),
    "html": ("report.html",),
    "csv": ("destinations.csv", "findings.csv"),
}
"""The files of each output format in a capture's report folder."""
DONE_FILE = "done.json"
CAPTURES_FOLDER = "captures"
CATALOG_FILE = "catalog.duckdb"
RUN_TOKEN_FILE = ".batch-run-token"
"""Written by the client for a cluster run: a worker that reads the same token there shares the output folder."""
TASK_CAPTURES = 8
CLUSTER_TASK_CAPTURES = 32
"""Captures per task, locally and on Dask: a Dask task costs about 5 ms of CPU (client, scheduler, worker)."""
STORE_EVERY = 200
STORE_SECONDS = 10.0
"""Finished captures are stored in the catalogue in groups of this many, or this often."""
KEYLOG_HINTS = ("keylog", "sslkeylog", "keys", "secrets")
"""Words in a file name that mark a TLS key log rather than a capture."""
SIDE_FILES = (".csv", ".md", ".toml", ".sha256")
"""Files found in folders that are never captures (manifests, notes, profiles)."""

Input = Path | str
"""A capture or key log: a path, or a URL (kept as text: a path would fold its ``//``) read through fsspec."""


class BatchError(ValueError):
    """A problem with the batch's own inputs (manifest, key log, folders): a usage error."""


@dataclass(frozen=True)
class CaptureSettings:
    """How one capture is analysed; everything here is part of the capture's identity."""

    app_name: str | None = None
    app_version: str | None = None
    app_domains: tuple[str, ...] = ()
    app_companies: tuple[str, ...] = ()
    persona: str | None = None
    keylog: str | None = None


@dataclass(frozen=True)
class CaptureJob:
    """One capture to analyse: all a worker needs, picklable, and nothing that depends on the machine."""

    path: str
    """The capture file or session folder, as the workers will open it, or its URL."""
    settings: CaptureSettings
    session_id: str
    """Hash of the content, the key log and the settings: the catalogue's key for this session."""
    done_key: str
    """``session_id`` with the tool and tracker-database versions: equal keys mean nothing to redo."""
    folder_name: str
    """The capture's report folder under ``OUT/captures``."""
    generated_at: str
    """Report time, the same for every capture of a run, so any worker writes identical bytes."""
    salt: bytes
    profile: Any = None
    rules: Any = None
    body_cap: int = 1024 * 1024
    formats: tuple[str, ...] = ("json", "html", "csv")


@dataclass
class CaptureResult:
    """What a worker hands back: the report and its rendered files, or one line saying what went wrong."""

    job: CaptureJob
    files: dict[str, str] = field(default_factory=dict)
    """Rendered report files by name; emptied once written."""
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The session's catalogue rows per table; emptied once stored."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The report's summary (counts), kept for the run's summary."""
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time of the thread that analysed this capture and rendered (or wrote) its reports."""
    worker: str = ""


@dataclass
class BatchOutcome:
    """The end of a run: which captures were analysed, skipped or failed."""

    done: list[CaptureResult] = field(default_factory=list)
    skipped: list[CaptureJob] = field(default_factory=list)
    failed: list[CaptureResult] = field(default_factory=list)
    seconds: float = 0.0


# -- the worker side ---------------------------------------------------------

_WORKER_STATE: dict[str, Any] = {}


def _worker_resources() -> tuple[Any, Any]:
    """The tracker database and country lookup, loaded once per worker process."""
    if "database" not in _WORKER_STATE:
        from auditor.geo import default_country_lookup
        from trackers_db.database import load_database

        _WORKER_STATE["database"] = load_database()
        _WORKER_STATE["countries"] = default_country_lookup()
    return _WORKER_STATE["database"], _WORKER_STATE["countries"]


def preload() -> None:
    """Import the pipeline and load the shared resources before the first capture arrives."""
    import auditor.analysis
    import auditor.report.model  # noqa: F401 - imported for its side effect: the import cost is paid now
    from auditor.sources import _load_builtin_formats

    _load_builtin_formats()
    import mitmproxy.http
    import mitmproxy.io  # noqa: F401 - the flow reader imports these lazily, on the first capture
    _worker_resources()


def dask_setup(worker: Any = None) -> None:
    """Dask's preload hook: ``dask worker --preload auditor.batch`` loads the pipeline when the worker starts.

    A long-lived cluster then pays the imports and the tracker database once per worker, not in each batch.
    """
    preload()


def warm_worker() -> None:
    """Process-pool initializer: :func:`preload`; Ctrl-C is left to the client, which keeps what finished."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload()


def analyze_capture(job: CaptureJob, out: str | None = None) -> CaptureResult:
    """Analyse one capture and render its files; never raises (a failure is the result's ``error``).

    With ``out`` (a worker that sees the client's output folder) the files are written there instead
    of being handed back, which spares the client copying every report through a pipe.
    """
    started, started_cpu = time.perf_counter(), time.thread_time()
    result = CaptureResult(job=job, worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        with ExitStack() as copies:
            try:
                capture, keylog = (_local(copies, name) for name in (job.path, job.settings.keylog))
            except (OSError, remote.URLError) as exc:  # a URL this worker cannot fetch
                result.error = f"cannot read: {redact_text(exc)}"
                return result
            _analyze(job, result, out, capture or job.path, keylog)
    except Exception as exc:  # noqa: BLE001 - one capture must never stop the batch
        result.error = f"internal error: {type(exc).__name__}: {redact_text(exc)}"
    finally:
        result.seconds = time.perf_counter() - started
        result.cpu_seconds = time.thread_time() - started_cpu
    return result


def _local(copies: ExitStack, name: str | None) -> str | None:
    """A path the capture readers can open: a URL becomes a private temporary copy, removed with ``copies``."""
    if name is None or not remote.is_url(name):
        return name
    return str(copies.enter_context(remote.local_copy(name)))


def _analyze(job: CaptureJob, result: CaptureResult, out: str | None, capture: str, keylog: str | None) -> None:
    """The analysis of :func:`analyze_capture`, on a local file (``capture`` and ``keylog`` may be copies)."""
    from auditor.analysis import Analysis, AnalysisConfig
    from auditor.catalog import SessionFacts, session_rows
    from auditor.report import OutputFormat
    from auditor.report.model import build_report
    from auditor.sources import ReadOptions

    database, countries = _worker_resources()
    settings = job.settings
    config = AnalysisConfig(
        app_domains=settings.app_domains,
        app_companies=settings.app_companies,
        app_name=settings.app_name,
        salt=job.salt,
        profile=job.profile,
        device_ips=job.profile.device_ips if job.profile else (),
        rules=job.rules,
        read_options=ReadOptions(body_cap=job.body_cap, keylog=keylog),
    )
    analysis = Analysis(config, database=database, countries=countries)
    summary = analysis.add_input(Path(capture))
    # The report names the URLs (without credentials), never the temporary copies (named anew on every run).
    for copy, original in ((capture, job.path), (keylog, settings.keylog)):
        if copy and original and copy != original:
            shown = remote.shown(original)
            summary.path = summary.path.replace(copy, shown)
            summary.problems = [replace(p, path=p.path.replace(copy, shown), message=p.message.replace(copy, shown))
                                for p in summary.problems]
    # Nothing read at all is a failure, even when the reader called its problem damage rather than fatal.
    fatal = [p for p in summary.problems if p.fatal or not summary.records]
    if fatal:
        result.error = fatal[0].message
        return
    report = build_report(analysis, generated_at=job.generated_at)
    # The analysis clock would differ between workers; the run's time keeps every output reproducible.
    report["method"]["analysis_started"] = job.generated_at
    renderers = {
        "report.json": OutputFormat.JSON,
        "report.html": OutputFormat.HTML,
        "destinations.csv": OutputFormat.CSV_DESTINATIONS,
        "findings.csv": OutputFormat.CSV_FINDINGS,
    }
    for fmt in job.formats:
        for name in REPORT_FILES[fmt]:
            result.files[name] = renderers[name].to_format().render(report)
    result.rows = session_rows(report, SessionFacts(
        session_id=job.session_id, app_version=settings.app_version, persona=settings.persona,
        report_dir=str(Path(CAPTURES_FOLDER) / job.folder_name),
    ))
    result.summary = dict(report["summary"])
    if out is not None:
        write_files(Path(out), result)


# -- planning on the client ----------------------------------------------------


def _name(item: Input) -> str:
    return remote.name(item) if isinstance(item, str) else item.name


def _identity(item: Input) -> Input:
    """What makes two spellings of an input the same capture: the resolved path, or the normalised URL."""
    if isinstance(item, Path):
        return item.resolve()
    try:
        return remote.normalize(item)
    except remote.URLError:
        return item  # reported when it is read


def _is_keylog_name(path: Input) -> bool:
    lowered = _name(path).lower()
    return any(hint in lowered for hint in KEYLOG_HINTS)


def _base_name(path: Input) -> str:
    """The part of a file name that pairs a capture with its key log.

    >>> _base_name(Path("zeek_tls12-decryption.sslkeylog.txt")), _base_name(Path("zeek_tls12-decryption.pcap"))
    ('zeek_tls12-decryption', 'zeek_tls12-decryption')
    >>> _base_name(Path("illustrated-tls13_keylog.txt")), _base_name(Path("illustrated-tls13_capture.pcap"))
    ('illustrated-tls13', 'illustrated-tls13')
    """
    stem = _name(path).split(".")[0].lower()
    return re.sub(r"[-_.](capture|keylog|sslkeylog|keys|secrets|traffic)$", "", stem)


def discover(inputs: Iterable[Input]) -> tuple[list[Input], list[Input]]:
    """Captures and key logs among files, folders and session folders (folders are searched recursively).

    A named file is always taken as a capture; in folders, key logs (by name) are set
    aside, and manifests, notes and hidden files are left alone. URLs (text, see
    :mod:`auditor.remote`) are listed the same way; a URL that cannot be read here at all
    raises :class:`remote.URLError`, and one that names nothing raises ``OSError``.
    """
    from auditor.sources.session import sniff as is_session

    captures: list[Input] = []
    keylogs: list[Input] = []

    def walk(folder: Path) -> Iterator[Path]:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if is_session(entry, b""):
                    yield entry
                else:
                    yield from walk(entry)
            elif entry.is_file():
                yield entry

    def sort_out(found: Iterable[Input]) -> None:
        for item in found:
            if isinstance(item, Path) and item.is_dir():
                captures.append(item)
            elif _is_keylog_name(item):
                keylogs.append(item)
            elif not _name(item).lower().endswith(SIDE_FILES):
                captures.append(item)

    for item in inputs:
        if isinstance(item, str):
            try:
                listed = remote.list_url(item)
            except OSError:
                captures.append(item)  # names nothing: planning reports it as unreadable
                continue
            if len(listed) == 1 and remote.normalize(item) == listed[0]:
                captures.append(item)  # a URL naming one object is a capture, as a named file is
            else:
                sort_out(listed)
        elif item.is_dir() and not is_session(item, b""):
            sort_out(walk(item))
        else:
            captures.append(item)
    by_file = {_identity(path): path for path in reversed(captures)}  # the first spelling of each file wins
    return list(dict.fromkeys(by_file[_identity(path)] for path in captures)), list(dict.fromkeys(keylogs))


def keylogs_in(item: Input) -> list[Input]:
    """A key log named on its own, or the key logs found in a folder (or folder URL)."""
    if isinstance(item, Path) and not item.is_dir():
        return [item]
    captures, keylogs = discover([item])
    return [item] if isinstance(item, str) and captures == [item] else keylogs  # a URL of one object is one key log


def manifest_inputs(settings: dict[Input, CaptureSettings], inputs: Sequence[Input]) -> tuple[list[Input], list[Path]]:
    """The inputs to search (those named, then the manifest's other captures), and the manifest's missing files.

    A URL in the manifest is searched as it is: one that names nothing is reported when it is read.
    """
    given = {_identity(item) for item in inputs}
    extra = [c for c in settings if (isinstance(c, str) or c.exists()) and c not in given]
    return [*inputs, *extra], [c for c in settings if isinstance(c, Path) and not c.exists()]


def match_keylog(capture: Input, keylogs: Sequence[Input]) -> Input | None:
    """The key log whose name pairs with the capture's; a single key log serves a single capture."""
    base = _base_name(capture)
    matches = [k for k in keylogs if _base_name(k) == base]
    if len(matches) == 1:
        return matches[0]
    return None


def read_manifest(path: Path) -> dict[Input, CaptureSettings]:
    """Settings per capture from a CSV with columns capture, app_name, app_version, app_domains, persona[, keylog].

    Paths are relative to the manifest's folder (URLs are taken as they are); app domains are separated
    by spaces, commas or semicolons.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{path}: cannot read the manifest ({exc})") from exc
    if not rows or "capture" not in rows[0]:
        raise BatchError(f"{path}: the manifest needs a header row with a 'capture' column")
    settings: dict[Input, CaptureSettings] = {}
    for number, row in enumerate(rows, start=2):
        name = (row.get("capture") or "").strip()
        if not name:
            raise BatchError(f"{path}: line {number}: the capture column is empty")
        try:
            capture: Input = remote.normalize(name) if remote.is_url(name) else (path.parent / name).resolve()
        except remote.URLError as exc:
            raise BatchError(f"{path}: line {number}: {exc}") from None
        keylog = (row.get("keylog") or "").strip()
        settings[capture] = CaptureSettings(
            app_name=(row.get("app_name") or "").strip() or None,
            app_version=(row.get("app_version") or "").strip() or None,
            app_domains=tuple(d for d in re.split(r"[\s,;]+", row.get("app_domains") or "") if d),
            persona=(row.get("persona") or "").strip() or None,
            keylog=(keylog if remote.is_url(keylog) else str((path.parent / keylog).resolve())) if keylog else None,
        )
    return settings


def content_hash(path: Input, keylog: str | None = None) -> str:
    """SHA-256 over a capture's bytes (every file of a session folder, by name) and its key log.

    A file's own name does not count: a renamed or copied capture is the same session, and so is
    the same capture read from a URL.
    """
    digest = hashlib.sha256()
    if isinstance(path, str):
        remote.content_hash(path, digest)
    elif path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode() + b"\0")
            _hash_file(file, digest)
    else:
        _hash_file(path, digest)
    if keylog:
        if remote.is_url(keylog):
            remote.content_hash(keylog, digest)
        else:
            _hash_file(Path(keylog), digest)
    return digest.hexdigest()


def _hash_file(file: Path, digest: Any) -> None:
    with file.open("rb") as handle:
        remote.feed_digest(digest, file.stat().st_size, handle)


def trackers_db_version() -> str:
    """The tracker database's version as the client sees it: every source and its version."""
    from trackers_db.database import load_database

    return "; ".join(f"{s.source} {s.version}" for s in load_database().sources)


def _folder_name(path: Input, session_id: str) -> str:
    """A readable, unique report folder: the capture's name and the start of its session id."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", _name(path)).strip("._") or "capture"
    return f"{name[:60]}-{session_id[:10]}"


def plan(
    captures: Sequence[Input],
    settings: dict[Input, CaptureSettings],
    keylogs: Sequence[Input],
    defaults: CaptureSettings,
    *,
    salt: bytes,
    generated_at: str,
    profile: Any = None,
    rules: Any = None,
    body_cap: int = 1024 * 1024,
    formats: tuple[str, ...] = ("json", "html", "csv"),
    db_version: str | None = None,
) -> tuple[list[CaptureJob], list[tuple[Input, str]]]:
    """Jobs for the captures that can be read, and (path, one-line error) for the others."""
    db_version = db_version if db_version is not None else trackers_db_version()
    profile_id = str(profile.fingerprint()) if profile is not None and hasattr(profile, "fingerprint") else ""
    jobs: list[CaptureJob] = []
    unreadable: list[tuple[Input, str]] = []
    for capture in captures:
        own = settings.get(_identity(capture))
        chosen = own or defaults
        if chosen.keylog is None:
            keylog = match_keylog(capture, keylogs)
            chosen = replace(chosen, keylog=str(keylog) if keylog else None)
        if not chosen.app_domains and defaults.app_domains:
            chosen = replace(chosen, app_domains=defaults.app_domains)
        if not chosen.app_domains and isinstance(capture, Path) and capture.is_dir():  # a session remembers its app
            from auditor.sources.session import saved_app_settings

            saved_domains, saved_name = saved_app_settings(capture)
            chosen = replace(chosen, app_domains=saved_domains, app_name=chosen.app_name or saved_name)
        try:
            digest = content_hash(capture, chosen.keylog)
        except (OSError, remote.URLError) as exc:
            unreadable.append((capture, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        identity = json.dumps(
            [digest, chosen.app_name, chosen.app_version, chosen.app_domains, chosen.app_companies, chosen.persona,
             profile_id, repr(rules) if rules is not None else "", body_cap],
        )
        session_id = hashlib.sha256(identity.encode()).hexdigest()
        done_key = hashlib.sha256(f"{session_id}|{__version__}|{db_version}|{formats}".encode()).hexdigest()
        jobs.append(
            CaptureJob(
                path=str(capture), settings=chosen, session_id=session_id, done_key=done_key,
                folder_name=_folder_name(capture, session_id), generated_at=generated_at, salt=salt,
                profile=profile, rules=rules, body_cap=body_cap, formats=formats,
            )
        )
    return jobs, unreadable


# -- writing on the client -----------------------------------------------------


def write_atomically(path: Path, text: str) -> None:
    """Write a text file so that a reader (or an interrupted run) never sees half of it; owner-only.

    Owner-only whatever the writer's umask: a Dask worker does not run under the command's umask.
    """
    write_private_text(path, text)


def is_done(out: Path, job: CaptureJob) -> bool:
    """True when this capture was analysed with the same content, settings, tool and database."""
    marker = out / CAPTURES_FOLDER / job.folder_name / DONE_FILE
    try:
        return bool(json.loads(marker.read_text(encoding="utf-8")).get("key") == job.done_key)
    except (OSError, ValueError, AttributeError):
        return False


def write_files(out: Path, result: CaptureResult) -> Path:
    """Write a finished capture's report files (each atomically) and let go of their text."""
    folder = out / CAPTURES_FOLDER / result.job.folder_name
    for name, text in result.files.items():
        write_atomically(folder / name, text)
    result.files = {}
    return folder


def store_group(out: Path, results: Sequence[CaptureResult], connection: Any, db_version: str) -> None:
    """Store finished captures' catalogue rows in one transaction, then write their done markers."""
    from auditor.catalog import add_sessions

    add_sessions(connection, [r.rows for r in results])
    for result in results:
        job = result.job
        marker = {"key": job.done_key, "session_id": job.session_id, "capture": remote.shown(job.path),
                  "tool_version": __version__, "trackers_db_version": db_version}
        write_atomically(out / CAPTURES_FOLDER / job.folder_name / DONE_FILE, json.dumps(marker, indent=2) + "\n")
        result.rows = {}


# -- running -------------------------------------------------------------------

Progress = Callable[[str, CaptureJob, CaptureResult | None], None]
"""Called with ("done" | "failed" | "skipped", job, result) as captures finish."""


def _local_results(jobs: Sequence[CaptureJob], workers: int, out: str) -> Iterator[CaptureResult]:
    """Results as they finish, from a pool of local processes (or this process for one worker).

    Local workers write their capture's files into ``out`` themselves; the catalogue stays the client's.
    """
    if workers <= 1:
        for job in jobs:
            yield analyze_capture(job, out)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=warm_worker)
    futures: dict[Future[list[CaptureResult]], list[CaptureJob]] = {
        pool.submit(analyze_captures, chunk, out): chunk for chunk in chunked(jobs, workers)
    }
    finished = False
    try:
        for future in as_completed(futures):
            try:
                yield from future.result()
            except Exception as exc:  # noqa: BLE001 - the worker process died (killed, out of memory)
                for job in futures[future]:
                    yield CaptureResult(job=job, error=f"worker process ended: {type(exc).__name__}: {exc}")
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            # On Ctrl-C a worker may be deep in a large capture: stop it rather than wait.
            # (shutdown() forgets the processes, so take them first.)
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()


def analyze_captures(jobs: Sequence[CaptureJob], out: str | None = None,
                     out_token: str | None = None) -> list[CaptureResult]:
    """Several captures in one task: a Dask task costs about as much CPU as a fifth of a small capture.

    With ``out_token`` (a cluster task), the files are written into ``out`` only when this worker
    sees the client's output folder; otherwise they travel back to the client.
    """
    if out is not None and out_token is not None and not _shares_output(out, out_token):
        out = None
    return [analyze_capture(job, out) for job in jobs]


def _shares_output(out: str, token: str) -> bool:
    """Whether this worker sees the client's output folder at the same path and as the same user.

    Then it writes each capture's files itself, as a local worker does, instead of sending them
    through the scheduler connection for the client to write (the cluster's largest extra cost).
    The answer is kept per run: one stat and one small read per worker process.
    """
    key = f"shares-output:{out}:{token}"
    if key not in _WORKER_STATE:
        marker = Path(out) / RUN_TOKEN_FILE
        try:
            # Another user's files would be unreadable to the person who started the batch.
            _WORKER_STATE[key] = marker.stat().st_uid == os.getuid() and marker.read_text(encoding="ascii") == token
        except (OSError, UnicodeDecodeError):
            _WORKER_STATE[key] = False
    return bool(_WORKER_STATE[key])


def chunked(jobs: Sequence[CaptureJob], workers: int, most: int = TASK_CAPTURES) -> list[list[CaptureJob]]:
    """Up to ``most`` captures per task, but at least four tasks per worker so the work stays balanced."""
    size = max(1, min(most, len(jobs) // (max(workers, 1) * 4)))
    return [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]


def _cluster_results(jobs: Sequence[CaptureJob], client: Any, out: Path) -> Iterator[CaptureResult]:
    """Results as they finish from a Dask cluster; a lost worker's captures are retried elsewhere.

    Workers that see ``out`` (one machine, or shared storage) write the report files there themselves.
    """
    import secrets

    from distributed import as_completed as dask_completed

    token = secrets.token_hex(16)
    write_private_text(out / RUN_TOKEN_FILE, token)
    client.run(preload)  # workers that join later load on their first capture
    chunks = chunked(jobs, len(client.scheduler_info().get("workers", {})), CLUSTER_TASK_CAPTURES)
    # One key per task of this run: copies of a capture share their done key, and Dask merges equal keys.
    futures = {
        client.submit(analyze_captures, chunk, str(out.resolve()), token, key=f"captures-{token}-{number}",
                      pure=False, retries=2): chunk
        for number, chunk in enumerate(chunks)
    }
    try:
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            try:
                yield from future.result()
            except Exception as exc:  # noqa: BLE001 - retries used up (the task killed every worker it reached)
                for job in futures[future]:
                    yield CaptureResult(job=job, error=f"cluster task failed: {type(exc).__name__}: {exc}")
    finally:
        client.cancel(list(futures))
        (out / RUN_TOKEN_FILE).unlink(missing_ok=True)


def run_batch(
    jobs: Sequence[CaptureJob],
    out: Path,
    *,
    workers: int = 1,
    client: Any = None,
    force: bool = False,
    progress: Progress | None = None,
    db_version: str | None = None,
) -> BatchOutcome:
    """Analyse the jobs (locally, or on a Dask ``client``) and store each as it finishes.

    Ctrl-C (``KeyboardInterrupt``) propagates after the captures that finished are stored.
    """
    from auditor.catalog import connect

    started = time.perf_counter()
    db_version = db_version if db_version is not None else trackers_db_version()
    outcome = BatchOutcome()
    todo = []
    for job in jobs:
        if not force and is_done(out, job):
            outcome.skipped.append(job)
            if progress:
                progress("skipped", job, None)
        else:
            todo.append(job)
    out.mkdir(parents=True, exist_ok=True)
    # A worker stopped by Ctrl-C mid-write leaves its temporary file behind; the finished files are whole.
    for stale in (out / CAPTURES_FOLDER).glob("*/.*.tmp"):
        stale.unlink(missing_ok=True)
    connection = connect(out / CATALOG_FILE)
    pending: list[CaptureResult] = []
    last_store = time.monotonic()
    try:
        if client is not None:
            results = _cluster_results(todo, client, out)
        else:  # no more processes than captures; one means this process
            results = _local_results(todo, min(workers, len(todo)), str(out))
        for result in results:
            if result.error is None:
                write_files(out, result)
                pending.append(result)
                outcome.done.append(result)
            else:
                outcome.failed.append(result)
            # Catalogue rows go in groups: one transaction per capture would cost more than a small capture.
            if len(pending) >= STORE_EVERY or time.monotonic() - last_store > STORE_SECONDS:
                store_group(out, pending, connection, db_version)
                pending, last_store = [], time.monotonic()
            if progress:
                progress("failed" if result.error else "done", result.job, result)
    finally:
        # Also on Ctrl-C: what finished is stored and marked done; the rest runs again next time.
        try:
            store_group(out, pending, connection, db_version)
        finally:
            connection.close()
            outcome.seconds = time.perf_counter() - started
    return outcome


def write_run_summary(out: Path, outcome: BatchOutcome, unreadable: Sequence[tuple[Input, str]]) -> Path:
    """``OUT/batch.csv``: one line per capture of this run with its status, counts and error."""
    rows: list[list[Any]] = []
    for result in outcome.done:
        s = result.summary
        rows.append([remote.shown(result.job.path), "done", str(Path(CAPTURES_FOLDER) / result.job.folder_name),
                     s.get("destinations"), s.get("third_parties"), s.get("findings"), f"{result.seconds:.2f}", ""])
    for job in outcome.skipped:
        rows.append([remote.shown(job.path), "skipped (already done)", str(Path(CAPTURES_FOLDER) / job.folder_name),
                     "", "", "", "", ""])
    for result in outcome.failed:
        rows.append([remote.shown(result.job.path), "failed", "", "", "", "", f"{result.seconds:.2f}",
                     printable(remote.shown(result.error))])
    for path, error in unreadable:
        rows.append([remote.shown(path), "failed", "", "", "", "", "", printable(remote.shown(error))])
    from auditor.report.formats import csv_table

    columns = ("capture", "status", "report_dir", "destinations", "third_parties", "findings", "seconds", "error")
    text = csv_table([dict(zip(columns, row, strict=True)) for row in rows], columns)
    path = out / "batch.csv"
    write_atomically(path, text)
    return path
