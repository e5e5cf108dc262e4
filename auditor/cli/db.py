"""``auditor db``: import, fetch, inspect and query the tracker database."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from auditor.cli import ExitCode, main
from auditor.text import printable
from trackers_db.database import SOURCE_PRECEDENCE, TrackerDatabase, imported_dir, load_database
from trackers_db.importers import SOURCES, FetchError, ListFormatError, write_imported

NON_COMMERCIAL_NOTE = (
    "note: {name} is licensed {license}: import it for your own non-commercial use; never redistribute it."
)


class DbError(click.ClickException):
    """A one-line ``Error: ...`` carrying one of the documented exit codes."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = int(code)  # type: ignore[misc]


def fail(message: str, code: ExitCode) -> click.ClickException:
    """A one-line ``Error: ...`` with one of the documented exit codes."""
    return DbError(message, code)


def open_database() -> TrackerDatabase:
    """The merged database; unreadable imported lists are skipped with a logged warning."""
    return load_database()


@main.group()
def db() -> None:
    """The tracker database: the curated data plus public lists you import.

    Imported lists live in your data folder ($CLASSROOM_AUDITOR_DATA/trackers,
    default ~/.local/share/classroom-auditor/trackers), never in the project.
    """


source_argument = click.argument("source", type=click.Choice(sorted(SOURCES)), metavar="SOURCE")


def _store(source: str, paths: list[Path], upstream: str) -> None:
    spec = SOURCES[source]
    try:
        imported = spec.read(paths)
    except ListFormatError as exc:
        raise fail(str(exc), ExitCode.INPUT_ERROR) from exc
    try:
        target = write_imported(imported, spec, upstream)
    except OSError as exc:
        raise fail(f"cannot write {imported_dir()}: {exc.strerror or exc}", ExitCode.OUTPUT_ERROR) from exc
    version = imported.version or "unknown"
    line = f"imported {len(imported.entries)} domains from {source} (version {version}, {spec.license})"
    if imported.cnames:
        line += f" and {len(imported.cnames)} CNAME aliases"
    click.echo(printable(f"{line} into {target}"), err=True)
    if imported.skipped:
        click.echo(f"  skipped {imported.skipped}: {imported.skipped_reason}", err=True)
    if spec.non_commercial:
        click.echo(NON_COMMERCIAL_NOTE.format(name=source, license=spec.license), err=True)


@db.command(name="import")
@source_argument
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_(source: str, paths: tuple[Path, ...]) -> None:
    """Import SOURCE from downloaded files or folders (PATH...).

    \b
    adguard         dist/trackers.json (+ companies.json beside it) or the repo folder
    duckduckgo-app  app/android-tds.json
    duckduckgo-web  web/v6/extension-tds.json (or tds.json)
    tracker-radar   a tracker-radar checkout (domains/<region>/, entities/)
    ghostery        dist/trackerdb.json of @ghostery/trackerdb
    whotracksme     trackerdb.sql (the 2022 CC BY 4.0 dump)
    disconnect      services.json (+ entities.json beside it)
    exodus          the /api/trackers answer saved as trackers.json
    hosts           EasyPrivacy/EasyList or hosts files (several are merged)
    """  # noqa: D301 - \b is click's no-rewrap marker
    _store(source, list(paths), ", ".join(str(p.resolve()) for p in paths))


@db.command()
@source_argument
@click.option("--url", "base_url", metavar="BASE_URL", help="Fetch from this mirror instead of the upstream location.")
def fetch(source: str, base_url: str | None) -> None:
    """Download SOURCE from its upstream location (needs internet) and import it."""
    spec = SOURCES[source]
    base = base_url or spec.base_url
    with tempfile.TemporaryDirectory(prefix="auditor-fetch-") as folder:
        click.echo(f"fetching {source} from {base}", err=True)
        try:
            paths = spec.fetch(Path(folder), base)
        except FetchError as exc:
            raise fail(
                f"{exc} (download the files yourself and use 'auditor db import {source} PATH')", ExitCode.INPUT_ERROR
            ) from exc
        _store(source, paths, base)


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(as_json: bool) -> None:
    """Loaded sources with their counts, versions, licenses and import times."""
    database = open_database()
    rows = [
        {
            "source": s.source,
            "entries": s.entries,
            "cnames": s.cnames,
            "version": s.version,
            "license": s.license,
            "imported_at": s.imported_at,
            "location": s.location,
            "upstream": s.upstream,
        }
        for s in database.sources
    ]
    loaded = {s.source for s in database.sources}
    missing = [name for name in SOURCES if name not in loaded]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "sources": rows,
                    "not_imported": missing,
                    "unreadable": database.problems,
                    "precedence": list(SOURCE_PRECEDENCE),
                    "domains": len(database.entries),
                },
                indent=2,
            )
        )
        return
    click.echo(f"{'source':<15} {'domains':>8}  {'version':<34} {'license':<22} imported")
    for row in rows:
        click.echo(printable(  # versions and dates come from the imported files
            f"{row['source']:<15} {row['entries']:>8}  {str(row['version'])[:34]:<34} "
            f"{str(row['license'])[:22]:<22} {row['imported_at'] or '-'}"
        ))
    click.echo(f"{len(database.entries)} distinct domains; precedence: {' > '.join(SOURCE_PRECEDENCE)}")
    if missing:
        click.echo(f"not imported: {', '.join(missing)} (see 'auditor db import --help')")


@db.command()
@click.argument("hosts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of one line per host.")
def lookup(hosts: tuple[str, ...], as_json: bool) -> None:
    """Who is behind each HOST (or URL, or host/path), and which sources say so.

    With a path, the endpoint serving it is shown too, e.g. www.google.com/ads/ga-audiences.
    """
    from trackers_db.endpoints import endpoint_for, split_target

    database = open_database()
    results = []
    for target in hosts:
        host, path = split_target(target)
        endpoint = endpoint_for(host, path) if path is not None else None
        verdict = database.lookup(host)
        alias = database.known_cname(host)
        if as_json:
            results.append(
                {
                    "host": host,
                    "known": verdict is not None,
                    "company": verdict.company if verdict else None,
                    "parent": verdict.parent if verdict else None,
                    "category": verdict.category if verdict else None,
                    "is_tracker": verdict.is_tracker if verdict else False,
                    "hq_country": verdict.country if verdict else None,
                    "service": verdict.service if verdict else None,
                    "decided_by": verdict.source if verdict else None,
                    "matches": [{"source": m.source, "domain": m.domain, "rule": m.rule} for m in verdict.matches]
                    if verdict
                    else [],
                    "known_cname": alias,
                    "path": path,
                    "endpoint": {"service": endpoint.name, "company": endpoint.company, "category": endpoint.category,
                                 "is_tracker": endpoint.is_tracker, "path_prefix": endpoint.path,
                                 "reference": endpoint.reference} if endpoint else None,
                }
            )
            continue
        line = f"{host}: {verdict.describe()}" if verdict else f"{host}: unknown (no source lists it)"
        if endpoint:
            line += f"; path {path}: {endpoint.describe()}"
        if alias:
            alias_verdict = database.lookup(alias)
            line += f"; CNAME alias of {alias}" + (f" ({alias_verdict.describe()})" if alias_verdict else "")
        click.echo(printable(line))
    if as_json:
        click.echo(json.dumps(results, indent=2))


@db.command()
@source_argument
def remove(source: str) -> None:
    """Delete an imported SOURCE from your data folder."""
    target = imported_dir() / f"{source}.json"
    if not target.exists():
        raise fail(f"{target}: {source} is not imported", ExitCode.USAGE)
    try:
        target.unlink()
    except OSError as exc:
        raise fail(f"cannot remove {target}: {exc.strerror or exc}", ExitCode.OUTPUT_ERROR) from exc
    click.echo(f"removed {source} ({target})", err=True)
