"""``auditor persona``: make a synthetic student to plant, and check a profile's values before planting them."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path

import click

from auditor.cli import main
from auditor.cli.profile import profile_or_usage_error, warn_if_readable_by_others, write_owner_only
from auditor.persona import LOCALES, check_values, new_persona
from auditor.privacy import Masker, load_or_create_salt
from auditor.profile import parse_profile


@main.group()
def persona() -> None:
    """Synthetic students: values to type into an app, which the audit then finds wherever they went."""


@persona.command("new")
@click.option("--age", type=click.IntRange(3, 25), default=9, show_default=True, help="The student's age today.")
@click.option("--locale", type=click.Choice(sorted(LOCALES)), default="en-CA", show_default=True,
              help="Phone ranges, postal code format and city.")
@click.option("--email-domain", default="example.com", show_default=True,
              help="Reserved (example.com, *.example) or a domain the school controls and reads mail for.")
@click.option("--id-format", default="TEST-########", show_default=True,
              help="The district's student ID format; each # becomes a digit.")
@click.option("--seed", type=int, default=None, help="Make the same persona again (reproducible tests).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the profile here (owner-only) instead of standard output.")
@click.option("--force", is_flag=True, help="Overwrite an existing --output file.")
def new(age: int, locale: str, email_domain: str, id_format: str, seed: int | None, output: Path | None,
        force: bool) -> None:
    """Write a synthetic student profile (TOML) to standard output; the values to type go to standard error."""
    try:
        student = new_persona(seed=seed, age=age, locale=locale, email_domain=email_domain, id_format=id_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    text = student.to_toml()
    fingerprint = parse_profile(tomllib.loads(text)).fingerprint(Masker(load_or_create_salt()))
    if output is None:
        _restrict_stdout()
        click.echo(text, nl=False)
    else:
        write_owner_only(output, text, force)
    click.echo("Type these into the app on the test device (all made up):", err=True)
    for what, value in student.typing_sheet():
        click.echo(f"  {what:<15} {value}", err=True)
    click.echo(f"Profile fingerprint: {fingerprint} (reports made with this profile show it)", err=True)


@persona.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Warn about values too common to match safely, or that may belong to a real person (never shows them)."""
    loaded = profile_or_usage_error(path)
    warnings = check_values(loaded)
    for warning in warnings:
        click.echo(f"warning: {path}: {warning.label}: {warning.message}", err=True)
    warn_if_readable_by_others(path)
    click.echo(f"{path}: {loaded.value_count} values, {len(warnings)} to change before planting")


def _restrict_stdout() -> None:
    # `persona new > student.toml`: the shell created the file with the umask's mode; make it owner-only.
    try:
        if stat.S_ISREG(os.fstat(sys.stdout.fileno()).st_mode):
            os.fchmod(sys.stdout.fileno(), 0o600)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a pipe, a test runner's buffer)

