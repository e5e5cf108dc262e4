"""``auditor batch``: many captures in, one report folder each, a catalogue and a cross-app view out."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from auditor.cli import ExitCode, main
from auditor.cli.options import app_options, apply_app_profile, load_rule_options, profile_options, rule_options
from auditor.profile import DeviceProfile
from auditor.text import printable

FORMAT_CHOICES = ("json", "html", "csv")


class _Progress:
    """A tqdm bar on a terminal, plain lines otherwise (logs, CI)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="capture", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, status: str, job: Any, result: Any) -> None:
        from auditor.remote import shown

        self.count += 1
        name, error = printable(shown(job.path)), printable(shown(result.error if result else ""))
        if status == "failed":
            line = f"failed: {name}: {error}"
        elif status == "skipped":
            line = f"skipped (already done): {name}"
        else:
            line = f"done: {name} ({result.seconds:.1f} s)"
        if self.bar is not None:
            if status == "failed":
                self.bar.write(f"Error: {name}: {error}", file=sys.stderr)
            self.bar.update(1)
        else:
            click.echo(f"[{self.count}/{self.total}] {line}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _PathOrURL(click.Path):
    """An existing file or folder, or a URL (``s3://bucket/captures/``) kept as text for fsspec."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from auditor.remote import is_url

        return value if is_url(value) else super().convert(value, param, ctx)


def _run_time() -> str:
    """The report time shared by every capture of the run (``SOURCE_DATE_EPOCH`` when set)."""
    from auditor.cli.analyze import generated_at
    from auditor.report.model import _iso

    return generated_at() or _iso(__import__("time").time()) or ""


@main.command()
@click.argument("inputs", nargs=-1, type=_PathOrURL(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Results folder: a report folder per capture, catalog.duckdb, cross-app.html, batch.csv.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.csv",
              help="Per-capture settings: columns capture, app_name, app_version, app_domains, persona[, keylog].")
@app_options
@click.option("--app-version", metavar="VERSION", help="Version of the app (for captures the manifest does not list).")
@click.option("--persona", metavar="NAME", help="The test persona (for captures the manifest does not list).")
@click.option("--app-profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.toml",
              help="App profile (name, domains, companies) for captures the manifest does not list.")
@profile_options
@rule_options
@click.option("--keylog", "keylogs", multiple=True, type=_PathOrURL(exists=True, path_type=Path),
              metavar="FILE|DIR|URL",
              help="TLS key logs (files, folders or URLs), each matched to the capture of the same name.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes [default: the number of cores].")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run on this Dask cluster instead of local processes (pip install classroom-auditor[dask]).")
@click.option("--force", is_flag=True, help="Analyse again captures that were already done.")
@click.option("--formats", default="json,html,csv", show_default=True, metavar="LIST",
              help="Report files per capture: any of json, html, csv (comma-separated). JSON is always kept.")
@click.option("--body-cap", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Bytes of each decoded request body to analyse.")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="The key of encrypted session folders, for the local workers (cluster workers read "
                   "$CLASSROOM_AUDITOR_KEY_FILE or $CLASSROOM_AUDITOR_KEY in their own environment).")
def batch(
    inputs: tuple[Path | str, ...],
    out: Path,
    manifest: Path | None,
    app_domains: tuple[str, ...],
    app_name: str | None,
    app_version: str | None,
    persona: str | None,
    app_profile: Path | None,
    profile: DeviceProfile | None,
    rules_path: Path | None,
    home_country: str | None,
    first_seconds: float | None,
    keylogs: tuple[Path | str, ...],
    workers: int | None,
    scheduler: str | None,
    force: bool,
    formats: str,
    body_cap: int,
    key_file: Path | None,
) -> None:
    """Analyse many captures: files, folders (searched recursively), session folders and URLs.

    Each capture gets a report folder under OUT/captures; every session is added
    to OUT/catalog.duckdb and OUT/cross-app.html compares the apps. Captures
    already done are skipped. Exit 3 when some captures failed (listed in
    OUT/batch.csv); the others are still analysed. URLs (s3://, gs://, file://,
    http:// ...) are read through fsspec, folder URLs searched like folders.
    """
    from auditor import atrest, remote
    from auditor import batch as batching
    from auditor.privacy import load_or_create_salt

    if key_file is not None:
        try:
            atrest.read_key_file(key_file)  # a bad key file is a usage error now, not one per session later
        except atrest.AtRestError as exc:
            raise click.BadParameter(str(exc), param_hint="--key-file") from None
        # Local workers are this process's children: they find the key file where every reader looks for it.
        os.environ[atrest.KEY_FILE_ENV] = str(key_file.resolve())

    chosen_formats = tuple(dict.fromkeys(("json", *(f.strip() for f in formats.split(",") if f.strip()))))
    unknown = [f for f in chosen_formats if f not in FORMAT_CHOICES]
    if unknown:
        raise click.BadParameter(f"unknown format {unknown[0]!r} (choose from json, html, csv)", param_hint="--formats")
    try:
        per_capture = batching.read_manifest(manifest) if manifest else {}
    except batching.BatchError as exc:
        raise click.BadParameter(str(exc), param_hint="--manifest") from None
    named, missing = batching.manifest_inputs(per_capture, inputs)
    if not named and not missing:
        raise click.UsageError("give captures, folders of captures or a --manifest")
    app_domains, app_name, app_companies = apply_app_profile(app_profile, app_domains, app_name)
    try:
        captures, found_keylogs = batching.discover(named)
        for item in keylogs:
            found_keylogs += batching.keylogs_in(item)
    except remote.URLError as exc:  # no fsspec, or a protocol this machine cannot read
        click.echo(f"Error: {printable(remote.shown(exc))}", err=True)
        sys.exit(ExitCode.USAGE)
    defaults = batching.CaptureSettings(app_name=app_name, app_version=app_version, app_domains=app_domains,
                                        app_companies=app_companies, persona=persona)
    rules = load_rule_options(rules_path, home_country, first_seconds) if (rules_path or home_country or
                                                                          first_seconds is not None) else None
    db_version = batching.trackers_db_version()
    jobs, unreadable = batching.plan(
        captures, per_capture, found_keylogs, defaults, salt=load_or_create_salt(), generated_at=_run_time(),
        profile=profile, rules=rules, body_cap=body_cap, formats=chosen_formats, db_version=db_version,
    )
    unreadable += [(p, "listed in the manifest but not found") for p in missing]
    for path, error in unreadable:
        click.echo(f"Error: {printable(remote.shown(path))}: {printable(remote.shown(error))}", err=True)
    client = _dask_client(scheduler) if scheduler else None
    progress = _Progress(len(jobs))
    try:
        outcome = batching.run_batch(jobs, out, workers=workers or os.cpu_count() or 1, client=client, force=force,
                                     progress=progress, db_version=db_version)
    finally:
        progress.close()
        if client is not None:
            client.close()
    summary_path = batching.write_run_summary(out, outcome, unreadable)
    cross_app = _write_cross_app(out)
    failed = len(outcome.failed) + len(unreadable)
    click.echo(
        f"{len(outcome.done)} analysed, {len(outcome.skipped)} already done, {failed} failed "
        f"in {outcome.seconds:.1f} s; wrote {summary_path}, {out / batching.CATALOG_FILE}, {cross_app}",
        err=True,
    )
    if failed:
        sys.exit(ExitCode.INPUT_ERROR)


def _dask_client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise click.UsageError("--scheduler needs Dask: pip install 'classroom-auditor[dask]'") from None
    try:
        return Client(address, timeout="20s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        click.echo(f"Error: cannot reach the Dask scheduler at {printable(address)}: {exc}", err=True)
        sys.exit(ExitCode.USAGE)


def _write_cross_app(out: Path) -> Path:
    from auditor.batch import CATALOG_FILE, write_atomically
    from auditor.catalog import connect
    from auditor.catalog.report import render_cross_app

    target = out / "cross-app.html"
    with connect(out / CATALOG_FILE, read_only=True) as connection:
        write_atomically(target, render_cross_app(connection))
    return target
