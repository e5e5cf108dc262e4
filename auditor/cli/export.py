"""``auditor export``: a capture's readable requests as HAR 1.2, and its tables as Parquet."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditor.cli import ExitCode, main
from auditor.cli.options import app_domain_option
from auditor.text import printable


@main.command()
@click.argument("capture", type=click.Path(exists=True, path_type=Path))
@click.option("--keylog", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="TLS key log (NSS format) to decrypt TLS in a pcap/pcapng capture.")
@click.option("--har", "har_path", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.har",
              help="Write the requests whose content was read as HAR 1.2.")
@click.option("--parquet", "parquet_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write records.parquet, destinations.parquet and findings.parquet into this folder.")
@click.option("--app-domain", "app_domains", multiple=True, metavar="DOMAIN", callback=app_domain_option,
              help="A domain of the app (repeatable), for the destinations and findings tables.")
@click.option("--body-cap", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Bytes of each decoded request body to keep.")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="The key of an encrypted session folder (asked for in a terminal when not given).")
def export(capture: Path, keylog: Path | None, har_path: Path | None, parquet_dir: Path | None,
           app_domains: tuple[str, ...], body_cap: int, key_file: Path | None) -> None:
    """Export a capture (pcap/pcapng, HAR, flow file, session folder) for other tools.

    The HAR and the records table hold the captured content as it was sent,
    personal values included: keep them as private as the capture itself.
    """
    from auditor.export import har_document, parquet_tables, read_records, write_har, write_parquet
    from auditor.records import InputProblem
    from auditor.sources import ReadOptions

    if not har_path and not parquet_dir:
        raise click.UsageError("say what to write: --har OUT.har and/or --parquet DIR")
    from auditor.cli.analyze import session_passphrase

    options = ReadOptions(body_cap=body_cap, keylog=str(keylog) if keylog else None,
                          passphrase=session_passphrase((capture,), key_file))
    if har_path:
        problems: list[InputProblem] = []
        document = har_document(read_records(capture, options, problems), comment=f"exported from {capture.name}")
        fatal = [p for p in problems if p.fatal]
        if fatal:
            click.echo(f"Error: {printable(fatal[0])}", err=True)
            sys.exit(ExitCode.INPUT_ERROR)
        for problem in problems:
            click.echo(f"warning: {printable(problem)}", err=True)
        try:
            write_har(document, har_path)
        except OSError as exc:
            click.echo(f"Error: cannot write {printable(har_path)}: {exc.strerror or exc}", err=True)
            sys.exit(ExitCode.OUTPUT_ERROR)
        click.echo(f"wrote {har_path} ({len(document['log']['entries'])} requests)", err=True)
    if parquet_dir:
        tables = parquet_tables([capture], options, app_domains=app_domains)
        try:
            written = write_parquet(tables, parquet_dir)
        except OSError as exc:
            click.echo(f"Error: cannot write {printable(parquet_dir)}: {exc.strerror or exc}", err=True)
            sys.exit(ExitCode.OUTPUT_ERROR)
        for path in written:
            click.echo(f"wrote {path}", err=True)
