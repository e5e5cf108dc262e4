"""The README documents what the tool does: every command, every exit code, the two-command quick start."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from auditor.cli import ExitCode, main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


@pytest.mark.parametrize("path", all_commands(main), ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    top = path[0]
    assert f"auditor {top}" in README, f"README does not mention 'auditor {top}'"
    if len(path) > 1:
        assert path[-1] in README, f"README does not mention 'auditor {' '.join(path)}'"


DOCS = README + "".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", all_commands(main), ids=" ".join)
def test_every_option_is_documented(path: tuple[str, ...]) -> None:
    # Each option in `--help` is named in README.md or docs/*.md, where a user looks for what it does.
    options = [name for param in command_at(path).params if isinstance(param, click.Option)
               for name in param.opts if name.startswith("--") and name != "--help"]
    missing = [name for name in options if not re.search(re.escape(name) + r"(?![a-z-])", DOCS)]
    assert not missing, f"auditor {' '.join(path)}: {', '.join(missing)} not in README.md or docs/"


@pytest.mark.parametrize("code", list(ExitCode), ids=lambda c: c.name)
def test_every_exit_code_is_documented(code: ExitCode) -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| {int(code)} \|", section, re.MULTILINE), f"exit code {int(code)} missing from README"


def test_quick_start_is_exactly_make_demo_and_make_test() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_documents_the_readme_points_to_exist() -> None:
    for name in set(re.findall(r"`((?:docs|captures|benchmarks)/[\w./-]+\.md)`", README)):
        assert (ROOT / name).is_file(), f"README points to {name}, which does not exist"
