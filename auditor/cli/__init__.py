"""The ``auditor`` command: a thin layer over the library.

Exit codes (also in the README):

* 0 — the audit ran; no finding at or above ``--fail-on`` (or ``--fail-on`` not given)
* 1 — findings at or above the ``--fail-on`` severity
* 2 — usage error (bad option or argument)
* 3 — an input could not be read at all (reports still cover the other inputs)
* 4 — an output could not be written
* 5 — internal error (a bug: please report it with the traceback from ``--debug``)
* 130 — interrupted (Ctrl-C); click's own "Aborted!" would exit 1 and look like findings
"""

from __future__ import annotations

import importlib
import logging
import os
from enum import IntEnum

import click

from auditor import __version__
from auditor.privacy import redact_text
from auditor.private_files import PRIVATE_UMASK
from auditor.text import printable


class ExitCode(IntEnum):
    """The CLI's exit codes."""

    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    INPUT_ERROR = 3
    OUTPUT_ERROR = 4
    INTERNAL_ERROR = 5
    INTERRUPTED = 130


class AuditorGroup(click.Group):
    """Turns unexpected exceptions into exit code 5 with a one-line message."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.Abort):
            click.echo("Aborted: interrupted before the audit finished; reports may be missing.", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = f"internal error: {type(exc).__name__}: {redact_text(exc)} (run with --debug for the traceback)"
            click.echo(f"Error: {printable(message)}", err=True)
            ctx.exit(ExitCode.INTERNAL_ERROR)


@click.group(cls=AuditorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Classroom Traffic Auditor: see what an educational app sends, and to whom."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    # Every file and folder the tool (or a program it starts) creates is owner-only.
    previous_umask = os.umask(PRIVATE_UMASK)
    ctx.call_on_close(lambda: os.umask(previous_umask))  # a program calling the CLI in-process keeps its own
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# Each subcommand lives in its own module and registers itself on ``main``.
COMMAND_MODULES = ("analyze", "report", "diff", "db", "profile", "proxy", "persona", "data")
for _name in COMMAND_MODULES:
    importlib.import_module(f"auditor.cli.{_name}")

for _name in ("batch", "catalog", "export"):  # many captures: issue 13
    importlib.import_module(f"auditor.cli.{_name}")
