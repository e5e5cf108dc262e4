"""Auditor session folders, written by the live-capture addon.

A session folder holds ``records.jsonl`` (one record a line, appended as
traffic arrives), ``flows.mitm`` (the raw flows in mitmproxy's format) and
``session.json`` (settings). Reading a session replays ``records.jsonl``; a
last line cut short by a crash is reported and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from auditor import atrest
from auditor.privacy import redact_text
from auditor.records import InputProblem, Record
from auditor.sources import Format, InputError, ReadOptions

RECORDS_FILE = "records.jsonl"
FLOWS_FILE = "flows.mitm"
SETTINGS_FILE = "session.json"
ENCRYPTED_RECORDS_FILE = RECORDS_FILE + atrest.SUFFIX


def sniff(path: Path, head: bytes) -> bool:
    """A folder with a records file, or a records file itself."""
    if path.is_dir():
        return (path / RECORDS_FILE).is_file() or (path / ENCRYPTED_RECORDS_FILE).is_file()
    return head.startswith(b'{"kind": ') or head.startswith(b'{"kind":')


def saved_app_settings(path: Path) -> tuple[tuple[str, ...], str | None]:
    """The app domains and app name a session folder was started with (empty when unknown).

    Lets ``auditor analyze SESSION_DIR`` rebuild the reports the session wrote without
    repeating ``--app-domain``. An unreadable ``session.json`` counts as unknown.
    """
    settings_path = path / SETTINGS_FILE
    try:
        if not path.is_dir() or not settings_path.is_file():  # is_file raises on a folder we may not enter
            return (), None
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
        domains = tuple(str(d) for d in settings.get("app_domains") or ())
        name = settings.get("app_name")
    except (OSError, ValueError, AttributeError):
        return (), None
    return domains, str(name) if name else None


def session_content_file(path: Path) -> Path:
    """The file whose hash identifies a session (the encrypted records of an encrypted one)."""
    encrypted = path / ENCRYPTED_RECORDS_FILE
    return encrypted if encrypted.is_file() else path / RECORDS_FILE


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Yield the records of a session folder or records file (decrypted when the session is encrypted)."""
    encrypted = path.is_dir() and (atrest.is_encrypted_session(path) or (path / ENCRYPTED_RECORDS_FILE).is_file())
    passphrase = _passphrase(path, options) if encrypted else None  # asked before the spool is recovered with it
    if path.is_dir():
        # A session whose proxy and worker were both killed left answered flows in its spool: read them first.
        from auditor.live.worker import recover_session

        try:
            recovered = recover_session(path, passphrase)
        except atrest.AtRestError as exc:
            raise InputError(str(path), str(exc).removeprefix(f"{path}: ")) from None
        if recovered:
            problems.append(InputProblem(str(path), "the session had ended abruptly; its spooled flows were recovered"))
    records_path = path / RECORDS_FILE if path.is_dir() else path
    if passphrase is not None and (path / ENCRYPTED_RECORDS_FILE).is_file():
        records_path = path / ENCRYPTED_RECORDS_FILE
        lines = _decrypted_lines(path, passphrase)
    elif records_path.is_file():
        lines = _plain_lines(records_path)
    else:
        raise InputError(str(path), f"session has no {RECORDS_FILE}")
    yield from records_from_lines(lines, records_path, problems)


def records_from_lines(lines: Iterable[bytes], origin: Path, problems: list[InputProblem]) -> Iterator[Record]:
    """The records of ``records.jsonl`` lines; a line that is not one becomes a problem naming ``origin``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield Record.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            reason = redact_text(exc)
            problems.append(InputProblem(str(origin), f"line {number} unreadable, skipped ({reason})"))


def _plain_lines(records_path: Path) -> Iterator[bytes]:
    with records_path.open("rb") as handle:
        yield from handle


def _passphrase(folder: Path, options: ReadOptions) -> str:
    """The passphrase the user gave for an encrypted session; :class:`InputError` saying how when none was."""
    try:
        passphrase = options.passphrase or atrest.passphrase_from_environment()
    except atrest.AtRestError as exc:  # an unreadable $CLASSROOM_AUDITOR_KEY_FILE
        raise InputError(str(folder), str(exc)) from None
    if not passphrase:
        raise InputError(str(folder), "the session is encrypted: give its key with --key-file, "
                         f"${atrest.KEY_FILE_ENV} or ${atrest.KEY_ENV}")
    return passphrase


def _decrypted_lines(folder: Path, passphrase: str) -> Iterator[bytes]:
    """The lines of ``records.jsonl.enc``, unlocked with the passphrase the user gave."""
    try:
        yield from encrypted_record_lines(folder, atrest.unlock(folder, passphrase))
    except atrest.AtRestError as exc:
        raise InputError(str(folder), str(exc).removeprefix(f"{folder}: ")) from None


def encrypted_record_lines(folder: Path, key: atrest.SessionKey) -> Iterator[bytes]:
    """The lines of ``records.jsonl.enc`` with the session's key (:class:`atrest.AtRestError` if it does not open)."""
    pending = b""
    for frame in atrest.read_frames(folder / ENCRYPTED_RECORDS_FILE, key):
        pending += frame
        *complete, pending = pending.split(b"\n")
        yield from complete
    yield pending


FORMAT = Format("session", sniff, read)
