"""The auditor installed as users install it: a wheel in a fresh virtual environment, no source checkout.

Builds the wheel (``pip wheel . --no-deps``), installs it with its dependencies
into a new venv (not editable; pip's cache makes the dependencies quick), and
runs every command from there with the working folder outside the checkout:
``auditor proxy`` end to end, ``mitmdump -s "$(auditor addon-path)"``,
``analyze`` (schema, rules, policy, curated database), ``report``, ``diff``,
``db`` and ``profile``. Traffic stays on loopback (the rig's stand-ins).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import SAMPLE_CAPTURE, pinned_env
from proxy_rig import REPO, child_env, read_events, rig_options, session_records, wait_for_ready

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class Installed:
    """A virtual environment holding the installed wheel."""

    bin: Path
    site_packages: Path
    work: Path
    """A folder outside the checkout to run commands from."""

    def run(self, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``auditor ARGS`` from the installed environment."""
        return subprocess.run(
            [str(self.bin / "auditor"), *map(str, args)], cwd=self.work, env=child_env(env),
            capture_output=True, text=True, timeout=300, check=False,
        )


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Outside pytest's temporary folder: the conftest hook would take the installed schema for a report.
    with tempfile.TemporaryDirectory(prefix="auditor-wheel-") as temp:
        yield _install(Path(temp))


def _install(root: Path) -> Installed:
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--quiet", "-w", str(wheels)],
        check=True, timeout=INSTALL_TIMEOUT, cwd=root,
    )
    (wheel,) = wheels.glob("classroom_auditor-*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=True, symlinks=True)
    subprocess.run(
        [str(environment / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel)],
        check=True, timeout=INSTALL_TIMEOUT, cwd=root,
    )
    (site_packages,) = (environment / "lib").glob("python3*/site-packages")
    work = root / "work"
    work.mkdir()
    return Installed(environment / "bin", site_packages, work)


def test_the_package_is_the_installed_copy_and_ships_its_addon(installed: Installed, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import auditor, trackers_db; print(auditor.__file__)"],
        cwd=installed.work, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.site_packages)
    addon = Path(installed.run("addon-path", env=pinned_env(tmp_path)).stdout.strip())
    assert addon.is_file() and addon.is_relative_to(installed.site_packages)


def _request_and_stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """Send one tracker request through the ready proxy, then end it as Ctrl-C would."""
    from classroom_session import Proxy, https

    ready = wait_for_ready(folder, process)
    proxy = Proxy(ready["listen"][0]["port"], ready["ca_cert"])
    assert https(proxy, "GET", "app-measurement.com", "/g/collect?lat=52.370216&lon=4.895168") == 204
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0


def _run_until_stopped(command: list[str], folder: Path, installed: Installed, env: dict[str, str]) -> str:
    log = installed.work / f"{folder.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=installed.work, env=child_env(env), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _request_and_stop(process, folder)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text(errors="replace")


def test_auditor_proxy_from_the_wheel_records_a_request_and_writes_the_reports(
    installed: Installed, tmp_path: Path
) -> None:
    from standins import running_standins

    folder = tmp_path / "sessions" / "wheel"
    with running_standins(tmp_path) as ports:
        command = [
            str(installed.bin / "auditor"), "proxy", "--listen-host", "127.0.0.1", "--port", "0",
            "--sessions-dir", str(tmp_path / "sessions"), "--session", "wheel", "--confdir", str(tmp_path / "conf"),
            "--report-every", "0", "--set", "ssl_insecure=true", *rig_options(ports.https, ports.http),
        ]
        output = _run_until_stopped(command, folder, installed, pinned_env(tmp_path / "data"))
    assert "Session saved in" in output, output
    assert [r["host"] for r in session_records(folder)] == ["app-measurement.com"]
    report = json.loads((folder / "report.json").read_text())
    assert ("precise_location", "app-measurement.com") in {(f["data_type"], f["host"]) for f in report["findings"]}


def test_mitmdump_loads_the_addon_path_the_wheel_prints(installed: Installed, tmp_path: Path) -> None:
    from standins import running_standins

    env = pinned_env(tmp_path / "data")
    addon = installed.run("addon-path", env=env).stdout.strip()
    folder = tmp_path / "session"
    with running_standins(tmp_path) as ports:
        command = [
            str(installed.bin / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", "0",
            "--set", f"confdir={tmp_path / 'conf'}", "--ssl-insecure", "--set", "termlog_verbosity=warn",
            "-s", addon, "--set", f"auditor_session={folder}", "--set", "auditor_report_interval=0",
            *rig_options(ports.https, ports.http),
        ]
        output = _run_until_stopped(command, folder, installed, env)
    assert "Traceback" not in output, output
    assert any(e["event"] == "end" for e in read_events(folder))
    assert (folder / "report.html").is_file() and [r["host"] for r in session_records(folder)] == [
        "app-measurement.com"
    ]


def test_every_other_command_works_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    env = pinned_env(tmp_path / "data")
    profile = tmp_path / "profile.toml"
    profile.write_bytes((REPO / "captures" / "sample-profile.toml").read_bytes())
    profile.chmod(0o600)
    analysed = installed.run(
        "analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--profile", profile,
        "--json", tmp_path / "r.json", "--html", tmp_path / "r.html", "--csv", tmp_path / "csv", env=env,
    )
    assert analysed.returncode == 0, analysed.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["checklist"] and report["rules"] and report["findings"]  # policy catalogue and rules shipped
    assert any(d["company"] and "Google" in d["company"] for d in report["destinations"])  # curated database
    assert "<html" in (tmp_path / "r.html").read_text()[:500].lower()
    assert (tmp_path / "csv").is_dir() and any((tmp_path / "csv").iterdir())

    rendered = installed.run("report", tmp_path / "r.json", "--html", tmp_path / "again.html", env=env)
    assert rendered.returncode == 0 and (tmp_path / "again.html").is_file(), rendered.stderr
    compared = installed.run("diff", tmp_path / "r.json", tmp_path / "r.json", env=env)
    assert compared.returncode == 0, compared.stderr
    looked_up = installed.run("db", "lookup", "app-measurement.com", env=env)
    assert "Google" in looked_up.stdout and "curated" in looked_up.stdout, looked_up.stderr
    assert installed.run("db", "info", env=env).returncode == 0
    template = installed.run("profile", "init", tmp_path / "new-profile.toml", env=env)
    assert template.returncode == 0 and (tmp_path / "new-profile.toml").is_file(), template.stderr
