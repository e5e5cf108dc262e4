"""``auditor addon-path`` names a script inside the package that mitmproxy's ``-s`` loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

import auditor
from auditor.cli import main
from auditor.live.addon import ClassroomAuditor


def test_addon_path_is_a_loadable_script_inside_the_package() -> None:
    result = CliRunner().invoke(main, ["addon-path"])
    assert result.exit_code == 0
    script = Path(result.output.strip())
    assert script.is_file() and script.is_relative_to(Path(auditor.__file__).parent)
    # Load it as mitmproxy's script loader does: a module from a file path, which must define ``addons``.
    spec = importlib.util.spec_from_file_location("classroom_auditor_script", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (addon,) = module.addons
    assert isinstance(addon, ClassroomAuditor)
