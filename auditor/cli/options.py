"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def app_options(func: F) -> F:
    """Options that describe the app under audit."""
    decorators = [
        click.option(
            "--app-domain",
            "app_domains",
            multiple=True,
            metavar="DOMAIN",
            help="A domain of the app under audit (repeatable); its subdomains count too. Inferred when omitted.",
        ),
        click.option("--app-name", metavar="NAME", help="Name of the app, shown in reports."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def output_options(func: F) -> F:
    """Where to write reports."""
    decorators = [
        click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."),
        click.option(
            "--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
            help="Write the JSON report here ('-' for standard output).",
        ),
        click.option(
            "--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
            help="Write destinations.csv and findings.csv into this folder.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
