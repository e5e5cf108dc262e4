"""``auditor profile``: write and check device profiles (the planted values to search for)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import click

from auditor.cli import ExitCode, main
from auditor.privacy import Masker, load_or_create_salt
from auditor.profile import TEMPLATE, DeviceProfile, ProfileError, example_values, load_profile


@main.group()
def profile() -> None:
    """Device profiles: the test device's identifiers and the synthetic student's details."""


@profile.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="device-profile.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented profile template to PATH (owner-only), to fill in with the device's values."""
    write_owner_only(path, TEMPLATE, force)
    click.echo(f"wrote {path}: replace the example values with the test device's, then run "
               f"'auditor profile check {path}'", err=True)


def write_owner_only(path: Path, text: str, force: bool) -> None:
    """Write a profile readable by its owner only; exit 4 with one line when it exists (without ``force``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        click.echo(f"Error: {path} already exists (use --force to overwrite it)", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    except OSError as exc:
        click.echo(f"Error: cannot write {path}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # O_TRUNC keeps an old file's mode


@profile.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate the profile at PATH and print what it holds (never the values), with its fingerprint."""
    loaded = profile_or_usage_error(path)
    examples = example_values(loaded)
    if examples:
        click.echo(
            f"Error: {path}: not ready: {len(examples)} value(s) are still the examples of 'auditor profile init' "
            f"({', '.join(examples)}); replace them with the test device's values, or empty them (\"\")",
            err=True,
        )
        sys.exit(ExitCode.INPUT_ERROR)
    counts = Counter(v.data_type for v in loaded.values)
    if loaded.latitude is not None:
        counts["precise_location"] += 1
    fingerprint = loaded.fingerprint(Masker(load_or_create_salt()))
    click.echo(f"{path}: valid, {loaded.value_count} values, fingerprint {fingerprint}")
    for data_type, count in sorted(counts.items()):
        click.echo(f"  {data_type}: {count}")
    warn_if_readable_by_others(path)


def profile_or_usage_error(path: Path) -> DeviceProfile:
    """The profile at ``path``; a problem is a usage error naming the file (exit 2)."""
    try:
        return load_profile(path)
    except ProfileError as exc:
        raise click.UsageError(str(exc)) from None


def warn_if_readable_by_others(path: Path) -> None:
    """A profile holds the test device's identifiers: say so when other users can read it."""
    if path.stat().st_mode & 0o077:
        click.echo(f"warning: {path} is readable by other users; run: chmod 600 {path}", err=True)
