"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def app_domain_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """Every command checks ``--app-domain`` with the same function: a URL becomes its host, with a note."""
    from auditor.appinfer import parse_app_domains

    notes: list[str] = []
    try:
        domains = parse_app_domains(values, notes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    return domains


def app_options(func: F) -> F:
    """Options that describe the app under audit."""
    decorators = [
        click.option(
            "--app-domain",
            "app_domains",
            multiple=True,
            callback=app_domain_option,
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
        click.option(
            "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."
        ),
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


def rule_options(func: F) -> F:
    """Options that choose the finding rules and their thresholds."""
    decorators = [
        click.option(
            "--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path),
            help="Use this rule file instead of the bundled rules (see docs/rules.md).",
        ),
        click.option(
            "--home-country", metavar="CC",
            help="The school's country (ISO code, e.g. CA); flags personal data sent to other countries.",
        ),
        click.option(
            "--first-seconds", type=click.FloatRange(min=0), metavar="SECONDS",
            help="Trackers contacted this soon after the session starts count as before any interaction "
            "[default: from the rule file, 10].",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def load_rule_options(rules_path: Path | None, home_country: str | None, first_seconds: float | None) -> Any:
    """The rule set chosen by :func:`rule_options`; a bad file or value is a usage error (exit 2)."""
    from auditor.findings import RulesError, load_rules

    try:
        return load_rules(rules_path).with_thresholds(home_country=home_country, first_seconds=first_seconds)
    except RulesError as exc:
        raise click.UsageError(str(exc)) from None


def profile_options(func: F) -> F:
    """``--profile FILE``: the device profile, loaded and checked (a bad file is a usage error, exit 2)."""

    def load(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
        from auditor.private_files import shared_file_warning
        from auditor.profile import ProfileError, load_profile

        if value is None:
            return None
        try:
            loaded = load_profile(value)
        except ProfileError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        warning = shared_file_warning(value, "the students' planted personal values")
        if warning:
            click.echo(warning, err=True)
        return loaded

    return click.option(
        "--profile", "profile", type=click.Path(dir_okay=False, path_type=Path), callback=load, metavar="FILE",
        help="Device profile with the planted values to search for (see 'auditor profile init').",
    )(func)


def apply_app_profile(
    app_profile: Path | None, app_domains: tuple[str, ...], app_name: str | None
) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """App domains, name and companies after adding ``--app-profile`` (a bad file is a usage error)."""
    if not app_profile:
        return app_domains, app_name, ()
    from auditor.classify import load_app_profile

    try:
        known_app = load_app_profile(app_profile)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--app-profile") from exc
    return tuple(dict.fromkeys((*known_app.domains, *app_domains))), app_name or known_app.name, known_app.companies
