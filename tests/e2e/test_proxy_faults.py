"""Signals and crashes with real processes: how a session ends however it was stopped or killed.

Real ``mitmdump`` and ``auditor proxy`` processes on 127.0.0.1, the recording
rig's stand-in servers and HTTPS client. Each case waits on a condition with a
deadline; nothing here sleeps a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import pinned_env, run_analyze, run_auditor_process
from proxy_rig import (
    ADDON,
    REPO,
    VENV_BIN,
    child_env,
    read_events,
    rig_options,
    session_records,
    wait_for_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux /proc")]

ADVERTISING_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def worker_of(mitmdump_pid: int) -> int:
    """The auditor's analysis worker: mitmdump's child process."""
    found: list[int] = []
    wait_until(lambda: bool(found.extend(children(mitmdump_pid)) or found), "the analysis worker to start")
    return found[0]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_mitmdump(
    tmp: Path, folder: Path, ports: object, env: dict[str, str], extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``mitmdump -s addons/classroom_auditor.py`` in its own process group (as a terminal starts it)."""
    command = [
        str(VENV_BIN / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", "0",
        "--set", f"confdir={tmp / 'conf'}", "--set", "connection_strategy=lazy", "--ssl-insecure",
        "--set", "flow_detail=0", "--set", "termlog_verbosity=warn",
        "-s", str(ADDON), "--set", f"auditor_session={folder}", "--set", "auditor_report_interval=0",
        *rig_options(ports.https, ports.http),  # type: ignore[attr-defined]
        *extra,
    ]
    return subprocess.Popen(command, env=child_env(env), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def post_ids(port: int, ca: Path, numbers: range) -> None:
    """The app sends its advertising id once per number; every request must be answered."""
    from classroom_session import Proxy, https

    client = Proxy(port, str(ca))
    for number in numbers:
        body = f"advertising_id={ADVERTISING_ID}&n={number}".encode()
        status = https(client, "POST", "graph.facebook.com", f"/v17.0/{number}/activities", body,
                       {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200


def recorded_numbers(folder: Path) -> list[str]:
    return [r["url"].rsplit("/", 2)[-2] for r in session_records(folder)] if (folder / "records.jsonl").exists() else []


@dataclass
class Session:
    """A running ``mitmdump`` with the addon, in its own process group, and where to reach it."""

    process: subprocess.Popen[bytes]
    folder: Path
    port: int
    ca: Path
    env: dict[str, str]

    def stop_like_ctrl_c(self, *others: int) -> bytes:
        """SIGINT to mitmdump's process group (what Ctrl-C in its terminal does) and to ``others``; its stderr."""
        os.killpg(self.process.pid, signal.SIGINT)
        for pid in others:
            os.kill(pid, signal.SIGINT)
        return self.process.communicate(timeout=120)[1]


@contextmanager
def mitmdump_session(tmp_path: Path, extra: tuple[str, ...] = (), **extra_env: str) -> Iterator[Session]:
    """Stand-in servers and ``mitmdump -s addons/classroom_auditor.py``; killed at the end if still running."""
    from standins import running_standins

    env = pinned_env(tmp_path / "data", **extra_env)
    folder = tmp_path / "session"
    with running_standins(tmp_path) as ports:
        process = start_mitmdump(tmp_path, folder, ports, env, extra)
        try:
            port = wait_for_ready(folder, process)["listen"][0]["port"]
            yield Session(process, folder, port, tmp_path / "conf" / "mitmproxy-ca-cert.pem", env)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            assert process.stderr is not None
            process.stderr.close()


def test_ctrl_c_to_the_process_group_of_mitmdump_leaves_the_worker_to_write_the_reports(tmp_path: Path) -> None:
    with mitmdump_session(tmp_path) as session:
        post_ids(session.port, session.ca, range(3))
        # The worker has its own process group; a SIGINT sent to it anyway (kill -INT of every pid) is ignored.
        stderr = session.stop_like_ctrl_c(worker_of(session.process.pid))
    assert session.process.returncode == 0
    assert b"KeyboardInterrupt" not in stderr and b"Traceback" not in stderr, stderr.decode(errors="replace")
    assert any(e["event"] == "end" for e in read_events(session.folder))
    assert recorded_numbers(session.folder) == ["0", "1", "2"]
    report = json.loads((session.folder / "report.json").read_text())
    assert [f["count"] for f in report["findings"] if f["data_type"] == "advertising_id"] == [3]
    assert not (session.folder / "spool").exists()  # everything was read: the raw spool is gone


def test_kill_9_of_the_worker_loses_nothing_a_new_worker_carries_on(tmp_path: Path) -> None:
    with mitmdump_session(tmp_path) as session:
        post_ids(session.port, session.ca, range(3))
        first_worker = worker_of(session.process.pid)
        os.kill(first_worker, signal.SIGKILL)
        wait_until(lambda: children(session.process.pid) not in ([], [first_worker]), "a new worker")
        post_ids(session.port, session.ca, range(3, 6))
        stderr = session.stop_like_ctrl_c()
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")
    numbers = recorded_numbers(session.folder)
    # Every answered request is recorded; the killed worker may have written its last record without noting it.
    assert sorted(set(numbers)) == ["0", "1", "2", "3", "4", "5"] and len(numbers) <= 7, numbers
    assert any(e["event"] == "end" for e in read_events(session.folder))


def test_kill_9_of_the_whole_group_then_analyze_recovers_every_answered_request(tmp_path: Path) -> None:
    with mitmdump_session(tmp_path) as session:
        worker = worker_of(session.process.pid)
        os.kill(worker, signal.SIGSTOP)  # a worker far behind: answered flows wait in the spool
        post_ids(session.port, session.ca, range(5))
        # Pulling the plug: the proxy's process group and the worker (its own group) at once.
        os.killpg(session.process.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
    folder, env = session.folder, session.env
    wait_until(lambda: not alive(worker), "the worker to die")
    assert recorded_numbers(folder) == []
    rebuilt = run_analyze(["analyze", folder, "--json", tmp_path / "after-crash.json"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert "ended abruptly" in rebuilt.stderr
    assert recorded_numbers(folder) == ["0", "1", "2", "3", "4"]
    assert rebuilt.report is not None
    assert [f["count"] for f in rebuilt.report["findings"] if f["data_type"] == "advertising_id"] == [5]
    assert json.loads((folder / "session.json").read_text())["records"] == 5
    assert not (folder / "spool").exists()


@contextmanager
def auditor_proxy(
    tmp_path: Path, launcher: list[str], extra: tuple[str, ...] = ()
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Stand-in servers and ``auditor proxy`` (started through ``launcher``); killed at the end if still running.

    Its output goes to ``out.txt``, checked by :func:`saved_session_output` once it ended.
    """
    from standins import running_standins

    folder = tmp_path / "sessions" / "lab"
    with running_standins(tmp_path) as ports:
        command = [
            str(VENV_BIN / "auditor"), "proxy", "--listen-host", "127.0.0.1", "--port", "0", *extra,
            "--sessions-dir", str(tmp_path / "sessions"), "--session", "lab", "--confdir", str(tmp_path / "conf"),
            "--report-every", "0", "--set", "connection_strategy=lazy", "--set", "ssl_insecure=true",
            *rig_options(ports.https, ports.http),
        ]
        with (tmp_path / "out.txt").open("wb") as out:
            process = subprocess.Popen([*launcher, *command], env=child_env(pinned_env(tmp_path / "data")),
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        try:
            yield process, folder
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def saved_session_output(tmp_path: Path) -> str:
    """What ``auditor proxy`` printed; it must have ended the session well."""
    output = (tmp_path / "out.txt").read_text()
    assert "Session saved in" in output and "Traceback" not in output, output
    return output


def test_auditor_proxy_started_in_the_background_of_a_script_ends_on_sigint(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # A non-interactive shell starts background jobs with SIGINT ignored, and that is inherited.
    script = ["sh", "-c", f'"$@" & echo $! > {pid_file}; wait $!', "sh"]
    with auditor_proxy(tmp_path, script) as (shell, folder):
        ready = wait_for_ready(folder, shell)
        post_ids(ready["listen"][0]["port"], Path(ready["ca_cert"]), range(2))
        proxy_pid = int(pid_file.read_text())
        ignored = int(Path(f"/proc/{proxy_pid}/status").read_text().split("SigIgn:")[1].split()[0], 16)
        assert not ignored & (1 << (signal.SIGINT - 1)), "auditor proxy still ignores SIGINT"
        os.kill(proxy_pid, signal.SIGINT)
        assert shell.wait(timeout=120) == 0
    saved_session_output(tmp_path)
    assert recorded_numbers(folder) == ["0", "1"]


def test_sigterm_to_every_process_of_the_session_as_systemd_stops_a_service(tmp_path: Path) -> None:
    with auditor_proxy(tmp_path, []) as (process, folder):
        ready = wait_for_ready(folder, process)
        post_ids(ready["listen"][0]["port"], Path(ready["ca_cert"]), range(2))
        (mitmdump,) = children(process.pid)
        everyone = [process.pid, mitmdump, worker_of(mitmdump)]
        for pid in everyone:  # systemd's default KillMode=control-group: SIGTERM to each process at once
            os.kill(pid, signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    saved_session_output(tmp_path)
    assert recorded_numbers(folder) == ["0", "1"]
    assert json.loads((folder / "session.json").read_text())["ended"]


# -- encrypted at rest: with a key, no file of the session holds a pupil's data in clear ------------------

PUPIL_EMAIL = "mia.testpupil@student.example"
PASSPHRASE = "correct horse battery staple"


def key_file_in(tmp_path: Path, passphrase: str = PASSPHRASE) -> Path:
    """The passphrase on a 'USB key': a file away from the session data."""
    path = tmp_path / "usb" / f"{abs(hash(passphrase))}.key"
    path.parent.mkdir(exist_ok=True)
    path.write_text(passphrase + "\n")
    path.chmod(0o600)
    return path


def post_emails(port: int, ca: Path, numbers: range, padding: int = 0) -> None:
    """The app sends the pupil's e-mail address once per number (with ``padding`` bytes more: an upload)."""
    from classroom_session import Proxy, https

    client = Proxy(port, str(ca))
    for number in numbers:
        body = f"email={PUPIL_EMAIL}&n={number}&file=".encode() + b"x" * padding
        status = https(client, "POST", "graph.facebook.com", f"/v17.0/{number}/users", body,
                       {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200


def files_with_the_email(folder: Path) -> list[str]:
    """Files under the session folder that hold the pupil's address (its local part is enough) in clear."""
    found = []
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file() and b"mia.testpupil" in path.read_bytes():
                found.append(str(path.relative_to(folder)))
        except FileNotFoundError:  # the worker deleted a segment it had read
            continue
    return found


def email_count(report: dict[str, object] | None) -> int:
    assert report is not None
    findings = report["findings"]
    assert isinstance(findings, list)
    return sum(f["count"] for f in findings if f["data_type"] == "email")


def test_with_a_key_a_full_spool_killed_9_holds_no_email_in_clear_and_analyze_with_the_key_recovers_it(
    tmp_path: Path,
) -> None:
    from auditor.live.spool import pending_bytes

    key_file = key_file_in(tmp_path)
    with mitmdump_session(tmp_path, ("--set", "auditor_spool_limit=16"),
                          CLASSROOM_AUDITOR_KEY_FILE=str(key_file)) as session:
        worker = worker_of(session.process.pid)
        os.kill(worker, signal.SIGSTOP)  # a worker far behind: every answered flow waits in the spool
        post_emails(session.port, session.ca, range(5))
        post_emails(session.port, session.ca, range(5, 25), padding=2**20)  # 20 MB: more than the spool's 16 MB
        assert pending_bytes(session.folder / "spool") > 0
        assert files_with_the_email(session.folder) == []
        os.killpg(session.process.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
    folder, env = session.folder, session.env
    wait_until(lambda: not alive(worker), "the worker to die")
    spooled = pending_bytes(folder / "spool")
    assert 15 * 2**20 < spooled <= 16 * 2**20  # the bound counts the sealed bytes on disk
    assert files_with_the_email(folder) == []

    wrong = run_auditor_process(["analyze", folder, "--key-file", key_file_in(tmp_path, "not the passphrase"),
                                 "--json", tmp_path / "wrong.json"], env=env)
    assert wrong.exit_code == 3
    assert [line for line in wrong.stderr.splitlines() if line.startswith("Error")] == [
        f"Error: {folder}: wrong key for this session (the passphrase does not unlock it)"], wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert pending_bytes(folder / "spool") == spooled  # nothing was read, nothing lost

    rebuilt = run_analyze(["analyze", folder, "--key-file", key_file, "--json", tmp_path / "after-crash.json"],
                          env=env)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert "ended abruptly" in rebuilt.stderr
    assert 5 + 10 <= email_count(rebuilt.report) < 25  # what the spool held; the bound turned the rest away
    assert not (folder / "spool").exists()
    assert files_with_the_email(folder) == []


def test_auditor_proxy_with_a_key_file_keeps_the_email_encrypted_while_running_and_after_ctrl_c(
    tmp_path: Path,
) -> None:
    from auditor.live.spool import pending_bytes

    key_file = key_file_in(tmp_path)
    with auditor_proxy(tmp_path, [], ("--key-file", str(key_file))) as (process, folder):
        ready = wait_for_ready(folder, process)
        (mitmdump,) = children(process.pid)
        worker = worker_of(mitmdump)
        os.kill(worker, signal.SIGSTOP)  # the flows wait in the spool: look at it now
        post_emails(ready["listen"][0]["port"], Path(ready["ca_cert"]), range(3))
        assert pending_bytes(folder / "spool") > 0
        assert files_with_the_email(folder) == []
        os.kill(worker, signal.SIGCONT)
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=120) == 0
    output = saved_session_output(tmp_path)
    assert "records.jsonl.enc" in output and "flows.mitm.enc" in output  # where the session really is
    assert files_with_the_email(folder) == []
    assert {"records.jsonl.enc", "flows.mitm.enc"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "records.jsonl").exists() and not (folder / "flows.mitm").exists()
    run = run_analyze(["analyze", folder, "--key-file", key_file, "--json", tmp_path / "r.json"],
                      env=pinned_env(tmp_path / "data"))
    assert run.exit_code == 0, run.stderr
    assert email_count(run.report) == 3
