"""``auditor purge`` and ``auditor decrypt``: the students' data at rest."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from auditor.cli import ExitCode, main
from auditor.text import printable


def _size(size: int) -> str:
    """Bytes in the largest unit that keeps the number at least 1."""
    if size < 1024:
        return f"{size} bytes"
    amount = float(size)
    for unit in ("KB", "MB", "GB"):
        amount /= 1024
        if amount < 1024 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"


@main.command()
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True, metavar="DAYS",
              help="Remove session folders in which nothing changed for more than DAYS days.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scheduled jobs).")
@click.option("--sessions-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Sessions folder to purge (default: the auditor's data folder, sessions/).")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="DB", help="Also purge this batch catalogue (repeatable): sessions analysed more than DAYS ago, "
                                 "their rows and their report folders.")
def purge(days: float, dry_run: bool, yes: bool, sessions_dir: Path | None, catalogs: tuple[Path, ...]) -> None:
    """Remove recorded sessions idle for longer than the school keeps them, and say what was removed.

    A session is idle since the last change to any file in it. With --catalog,
    sessions a batch analysed more than DAYS ago leave its catalogue too, with
    their report folders. Reports you saved elsewhere are not touched.
    """
    from auditor.live.session import default_sessions_dir
    from auditor.retention import idle_sessions, remove_session

    for catalog in catalogs:
        _purge_catalog(catalog, days, dry_run, yes)
    folder = sessions_dir or default_sessions_dir()
    found = idle_sessions(folder, days)
    if not found:
        click.echo(f"No session in {folder} is idle for more than {days:g} days; nothing to remove.")
        return
    listed = [f"{s.folder} (last change {_day(s.last_change)}, {_size(s.size)})" for s in found]
    question = f"Delete these {len(found)} session folder(s) for good?"
    if not _list_then_confirm(listed, dry_run, yes, "session(s)", question):
        return
    removed = 0
    for session in found:
        try:
            remove_session(session)
        except OSError as exc:
            click.echo(printable(f"Error: cannot remove {session.folder}: {exc.strerror or exc}"), err=True)
            continue
        removed += 1
        click.echo(printable(f"removed {session.folder}"))
    click.echo(f"Removed {removed} of {len(found)} session(s) idle for more than {days:g} days.")
    if removed < len(found):
        sys.exit(ExitCode.OUTPUT_ERROR)


def _day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d")


def _list_then_confirm(listed: list[str], dry_run: bool, yes: bool, noun: str, question: str) -> bool:
    """Say what would go; ``True`` when it should go now (not a dry run, and confirmed or ``--yes``)."""
    verb = "would remove" if dry_run else "removing"
    for line in listed:
        click.echo(printable(f"{verb} {line}"))
    if dry_run:
        click.echo(f"Dry run: {len(listed)} {noun} would be removed; nothing was deleted.")
        return False
    if not yes:
        _confirm(question)
    return True


def _confirm(question: str) -> None:
    """Ask before deleting; without a terminal to ask on, refuse (exit 2) and say how to go on."""
    if not sys.stdin.isatty():
        click.echo("Error: not removing without confirmation; run again with --yes (or --dry-run to list)", err=True)
        sys.exit(ExitCode.USAGE)
    click.confirm(question, abort=True)


def _purge_catalog(catalog: Path, days: float, dry_run: bool, yes: bool) -> None:
    """Forget a batch catalogue's sessions analysed more than ``days`` ago, and delete their report folders."""
    import contextlib
    import shutil

    from auditor.catalog import connect, remove_sessions, sessions_analysed_before

    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    try:
        opened = connect(catalog)
    except ValueError as exc:
        click.echo(printable(f"Error: {exc}"), err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    with contextlib.closing(opened) as connection:
        old = sessions_analysed_before(connection, cutoff)
        if not old:
            click.echo(f"No session in {catalog} was analysed more than {days:g} days ago; nothing to remove.")
            return
        listed = [_catalog_entry(row, catalog) for row in old]
        question = f"Delete these {len(old)} catalogue session(s) and their reports for good?"
        if not _list_then_confirm(listed, dry_run, yes, "catalogue session(s)", question):
            return
        remove_sessions(connection, [row["session_id"] for row in old])
    base = catalog.resolve().parent
    for row in old:
        report_dir = (base / row["report_dir"]).resolve() if row["report_dir"] else None
        # Only folders inside the catalogue's own results folder, never a link out of it.
        if report_dir and report_dir.is_relative_to(base) and report_dir != base and report_dir.is_dir():
            shutil.rmtree(report_dir, ignore_errors=True)
    click.echo(f"Removed {len(old)} session(s) analysed more than {days:g} days ago from {catalog}.")


def _catalog_entry(row: Mapping[str, Any], catalog: Path) -> str:
    app = " ".join(str(v) for v in (row["app_name"], row["app_version"]) if v) or "unnamed app"
    when = row["analysed_at"].strftime("%Y-%m-%d") if row["analysed_at"] else "?"
    return f"{app} from {catalog} (analysed {when})"


@main.command()
@click.argument("encrypted", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the plain file (owner-only).")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="The session's key (first line: the passphrase); else $CLASSROOM_AUDITOR_KEY_FILE, "
                   "$CLASSROOM_AUDITOR_KEY, or you are asked.")
def decrypt(encrypted: Path, output: Path, key_file: Path | None) -> None:
    """Decrypt one raw part of an encrypted session (flows.mitm.enc, records.jsonl.enc), e.g. for mitmweb."""
    from auditor import atrest
    from auditor.private_files import write_private_bytes

    try:
        passphrase = atrest.read_key_file(key_file) if key_file else atrest.passphrase_from_environment()
        if passphrase is None:
            passphrase = click.prompt("Key (passphrase) of the encrypted session", hide_input=True, err=True)
        key = atrest.unlock(encrypted.parent, passphrase)
        plain = atrest.decrypt_file(encrypted, key)
    except atrest.AtRestError as exc:
        click.echo(printable(f"Error: {exc}"), err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    try:
        write_private_bytes(output, plain)
    except OSError as exc:
        click.echo(f"Error: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    click.echo(f"wrote {output} ({len(plain)} bytes, owner-only); delete it when done", err=True)
