"""``auditor analyze``: captures in, reports out."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from auditor.analysis import Analysis, AnalysisConfig
from auditor.appinfer import inference_sentences
from auditor.audit import run_audit
from auditor.cli import ExitCode, main
from auditor.cli.options import (
    app_options,
    apply_app_profile,
    load_rule_options,
    output_options,
    profile_options,
    rule_options,
)
from auditor.cli.report import write_pdf_or_exit
from auditor.detect.fields import walk_cuts
from auditor.findings import Severity
from auditor.privacy import load_or_create_salt
from auditor.profile import DeviceProfile, example_values
from auditor.records import Record
from auditor.report import OutputFormat, build_report, write_report
from auditor.report.model import _iso
from auditor.report.verdict import verdict_lines
from auditor.report.wording import data_type_label
from auditor.sources import ReadOptions
from auditor.sources.session import saved_app_settings
from auditor.text import printable


def generated_at() -> str | None:
    """Report time from ``SOURCE_DATE_EPOCH`` when set (reproducible reports), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return _iso(float(epoch))
    return None


def print_summary(report: dict[str, Any]) -> None:
    """The short human summary on stderr."""
    s = report["summary"]

    def echo(text: str) -> None:
        click.echo(printable(text), err=True)

    echo(
        f"{s['destinations']} destinations, {s['third_parties']} third parties, "
        f"{s['trackers']} trackers, {s['findings']} findings"
    )
    for line in verdict_lines(report):
        echo(line)
    for data_type, count in s["by_data_type"].items():
        echo(f"  {data_type_label(data_type)}: {count} finding(s)")
    for sentence in inference_sentences(report["app"]):
        echo(sentence)
    for item in report["inputs"]:
        # An input with no records already got its "Error:" line.
        for problem in item["problems"] if item["records"] else ():
            echo(f"warning: {item['path']}: {problem}")
    for d in report["destinations"]:
        if d.get("tool_traffic"):
            echo(f"note: {d['host']} is the proxy's own certificate page: recorded as the tool's traffic, "
                 "not the app's, and not counted as a third party")


def session_passphrase(inputs: tuple[Path, ...], key_file: Path | None) -> str | None:
    """The key for encrypted session folders among ``inputs``: --key-file, the environment, or a prompt."""
    from auditor import atrest

    def encrypted(path: Path) -> bool:
        try:
            return path.is_dir() and atrest.is_encrypted_session(path)
        except OSError:
            return False  # an unreadable folder gets its own error line when it is read

    if not any(encrypted(path) for path in inputs):
        return None
    try:
        if key_file is not None:
            return atrest.read_key_file(key_file)
        from_environment = atrest.passphrase_from_environment()
    except atrest.AtRestError as exc:
        raise click.BadParameter(str(exc), param_hint="--key-file") from None
    if from_environment is None and sys.stdin.isatty():
        entered: str = click.prompt("Key (passphrase) of the encrypted session", hide_input=True, err=True)
        return entered
    return from_environment  # None: each encrypted session gets an error line saying how to give the key


class CutCounter:
    """Counts the records of one input that a bound cut short, so each cut gets a line on stderr."""

    def __init__(self) -> None:
        self.bodies_cut = 0
        self.walk_cuts: Counter[str] = Counter()

    def observe(self, record: Record) -> None:
        """Called after the analysis saw ``record`` (the field walk of it is still cached)."""
        if record.request_body_truncated:
            self.bodies_cut += 1
        self.walk_cuts.update(walk_cuts(record))

    def lines(self, body_cap: int) -> list[str]:
        """One sentence per kind of cut, with how many requests it touched."""
        found = []
        if self.bodies_cut:
            bodies = "1 request body was" if self.bodies_cut == 1 else f"{self.bodies_cut} request bodies were"
            found.append(
                f"{bodies} longer than the body cap ({body_cap} bytes after "
                "decompression); only their start was searched (raise it with --body-cap)"
            )
        for cut, count in sorted(self.walk_cuts.items()):
            found.append(f"{cut} (in {count} request{'' if count == 1 else 's'})")
        return found


def write_outputs(report: dict[str, Any], html: Path | None, json_path: Path | None, csv_dir: Path | None) -> None:
    """Write every requested output; exit 4 naming the file that failed."""
    targets: list[tuple[OutputFormat, Path]] = []
    if html:
        targets.append((OutputFormat.HTML, html))
    if csv_dir:
        targets.append((OutputFormat.CSV_DESTINATIONS, csv_dir / "destinations.csv"))
        targets.append((OutputFormat.CSV_FINDINGS, csv_dir / "findings.csv"))
    if json_path and str(json_path) != "-":
        targets.append((OutputFormat.JSON, json_path))
    for fmt, path in targets:
        try:
            write_report(report, fmt, path)
        except OSError as exc:
            click.echo(f"Error: cannot write {path}: {exc.strerror or exc}", err=True)
            sys.exit(ExitCode.OUTPUT_ERROR)
        click.echo(f"wrote {path}", err=True)
    if json_path and str(json_path) == "-":
        click.echo(OutputFormat.JSON.to_format().render(report), nl=False)


FORMAT_NAMES = {"har": "HAR", "mitmproxy": "mitmproxy flow file", "session": "session folder"}


def warn_unused_options(analysis: Analysis, keylog: Path | None) -> None:
    """One line for an option that applied to none of the inputs it was given with."""
    if keylog is None:
        return
    unused = [s for s in analysis.inputs if s.format not in ("pcap", "unknown")]
    if unused:
        named = ", ".join(f"{s.path} ({FORMAT_NAMES.get(s.format, s.format)})" for s in unused)
        click.echo(printable(f"warning: --keylog applies to pcap/pcapng captures only; not used for {named}"),
                   err=True)


@main.command()
# readable=False: an unreadable input gets its own error line while the others are analysed.
@click.argument("inputs", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@app_options
@output_options
@rule_options
@profile_options
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also print the HTML report to this PDF file (needs Chromium).")
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    help="Exit 1 when a finding of this severity or worse exists.",
)
@click.option("--body-cap", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Bytes of each decoded request body to analyse.")
@click.option("--keylog", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="TLS key log (NSS format: SSLKEYLOGFILE, friTap, PiRogue) to decrypt TLS in pcap/pcapng inputs.")
@click.option("--geoip-db", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.mmdb",
              help="MaxMind GeoLite2/GeoIP2 or DB-IP country database to locate servers (default: registry data).")
@click.option("--app-profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.toml",
              help="App profile (name, domains, companies) whose domains and companies count as first party.")
@click.option("--compare", "compare_with", multiple=True, type=click.Path(path_type=Path), metavar="CAPTURE",
              help="A capture of the same app from a second device or persona (repeatable, any format): values "
                   "that differ between the two are identifiers, values equal in both are app constants.")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Key of encrypted session folders (its first line is the passphrase); else "
                   "$CLASSROOM_AUDITOR_KEY_FILE, $CLASSROOM_AUDITOR_KEY, or you are asked.")
def analyze(
    inputs: tuple[Path, ...],
    app_domains: tuple[str, ...],
    app_name: str | None,
    html_path: Path | None,
    json_path: Path | None,
    csv_dir: Path | None,
    rules_path: Path | None,
    home_country: str | None,
    first_seconds: float | None,
    profile: DeviceProfile | None,
    pdf_path: Path | None,
    fail_on: str | None,
    body_cap: int,
    keylog: Path | None,
    geoip_db: Path | None,
    app_profile: Path | None,
    compare_with: tuple[Path, ...],
    key_file: Path | None,
) -> None:
    """Analyse captures: pcap/pcapng, HAR, mitmproxy flow files or session folders.

    The format of each INPUT is recognised from its content. An input that
    cannot be read is reported and the others are still analysed.
    """
    app_domains, app_name, app_companies = apply_app_profile(app_profile, app_domains, app_name)
    if not app_domains:
        # Session folders remember the app they were recorded for.
        for path in inputs:
            saved_domains, saved_name = saved_app_settings(path)
            app_domains = tuple(dict.fromkeys((*app_domains, *saved_domains)))
            app_name = app_name or saved_name
    if profile is not None:
        examples = example_values(profile)
        if examples:
            click.echo(f"warning: {profile.path}: {len(examples)} value(s) are still the examples of 'auditor "
                       f"profile init' ({', '.join(examples)}); they will not match this device's traffic", err=True)
    config = AnalysisConfig(
        app_domains=app_domains,
        app_companies=app_companies,
        app_name=app_name,
        salt=load_or_create_salt(),
        read_options=ReadOptions(
            body_cap=body_cap, keylog=str(keylog) if keylog else None, progress=sys.stderr.isatty(),
            passphrase=session_passphrase(inputs, key_file),
        ),
        rules=load_rule_options(rules_path, home_country, first_seconds),
        profile=profile,
        device_ips=profile.device_ips if profile else (),
        geoip_db=geoip_db,
    )
    try:
        analysis = Analysis(config)
    except ValueError as exc:  # an unreadable --geoip-db file, named in the message
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    failed_inputs = 0
    for path in inputs:
        cuts = CutCounter()
        summary = analysis.add_input(path, on_record=cuts.observe)
        fatal = [p for p in summary.problems if p.fatal]
        if fatal:
            failed_inputs += 1
            click.echo(f"Error: {printable(fatal[0])}", err=True)
        for line in cuts.lines(body_cap):
            click.echo(printable(f"warning: {path}: {line}"), err=True)
    warn_unused_options(analysis, keylog)
    comparison = None
    if compare_with:
        from auditor.compare import compare_captures, summary_lines

        comparison = compare_captures(inputs, compare_with, analysis.context, config.read_options)
        for line in summary_lines(comparison):
            click.echo(printable(line), err=True)
        for problem in comparison.unreadable:
            failed_inputs += 1
            click.echo(f"Error: {printable(problem)}", err=True)
    report = build_report(run_audit(analysis, comparison), generated_at=generated_at())
    print_summary(report)
    if not (html_path or json_path or csv_dir or pdf_path):
        click.echo("note: no report written; add --html report.html, --json report.json, --csv DIR or --pdf "
                   "report.pdf to keep one", err=True)
    write_outputs(report, html_path, json_path, csv_dir)
    if pdf_path:
        write_pdf_or_exit(report, pdf_path)
    if failed_inputs:
        sys.exit(ExitCode.INPUT_ERROR)
    if fail_on:
        threshold = Severity(fail_on).rank
        if any(Severity(f["severity"]).rank >= threshold for f in report["findings"]):
            sys.exit(ExitCode.FINDINGS)
