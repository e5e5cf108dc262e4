"""The mitmproxy addon with mitmproxy's own test helpers: real flows, real hooks, real session files."""

from __future__ import annotations

import asyncio
import functools
import json
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, io, websocket
from mitmproxy.addons.view import View
from mitmproxy.proxy import context
from mitmproxy.test import taddons, tflow
from mitmproxy.tls import TlsData
from mitmproxy.websocket import Opcode

from auditor.analysis import Analysis, AnalysisConfig
from auditor.live.session import PINNING_NOTE, LiveSession, SessionSettings, open_owner_only
from auditor.live.worker import Worker
from auditor.records import Record, RecordKind
from auditor.sources import read_input

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "addons"))

import classroom_auditor  # noqa: E402

AD_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def in_event_loop(test: Callable[..., Any]) -> Callable[..., None]:
    """Run a test inside a running event loop, as mitmproxy runs its addons (and close the loop after)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async def body() -> None:
            result = test(*args, **kwargs)
            if asyncio.iscoroutine(result):
                await result

        asyncio.run(body())

    return run


async def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait (letting the event loop run) until ``condition`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def session_dir(tmp_path: Path, auditor_env: dict[str, str]) -> Path:
    return tmp_path / "sessions" / "lab-1"


def tracker_flow(
    query: str = "lat=52.370216&lon=4.895168", body: bytes = b"", host: str = "app-measurement.com"
) -> Any:
    """Make a finished HTTPS flow to a tracker, as mitmproxy hands it to the ``response`` hook."""
    flow = tflow.tflow(resp=True)
    flow.request.scheme = "https"
    flow.request.host = host
    flow.request.port = 443
    flow.request.headers["host"] = host
    flow.request.path = f"/a?{query}" if query else "/a"
    flow.request.method = "POST" if body else "GET"
    flow.request.content = body
    if body:
        flow.request.headers["content-type"] = "application/x-www-form-urlencoded"
    return flow


def records_of(folder: Path) -> list[Record]:
    lines = (folder / "records.jsonl").read_bytes().splitlines()
    return [Record.from_json(json.loads(line)) for line in lines]


def events_of(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()]


def configured(tctx: taddons.context, addon: classroom_auditor.ClassroomAuditor, folder: Path, **extra: Any) -> None:
    tctx.configure(addon, auditor_session=str(folder), auditor_report_interval=0, **extra)


@in_event_loop
def test_options_are_declared_and_bad_values_name_the_option(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        for name in ("auditor_session", "auditor_app_domains", "auditor_profile", "auditor_body_cap",
                     "auditor_report_interval", "auditor_save_flows", "auditor_app_name"):
            assert name in tctx.options, name
        with pytest.raises(exceptions.OptionsError, match="auditor_app_domains: 'not a domain'"):
            tctx.configure(addon, auditor_app_domains=["classroom.example", "not a domain"])
        with pytest.raises(exceptions.OptionsError, match="auditor_body_cap: must be at least 1024"):
            tctx.configure(addon, auditor_body_cap=10)
        with pytest.raises(exceptions.OptionsError, match="auditor_report_interval"):
            tctx.configure(addon, auditor_report_interval=-5)
        with pytest.raises(exceptions.OptionsError, match="auditor_profile"):
            tctx.configure(addon, auditor_profile=str(session_dir / "missing-profile.toml"))


@in_event_loop
async def test_flow_with_personal_data_is_recorded_marked_and_reported(
    session_dir: Path, check_report: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    view = View()
    with taddons.context(view, addon) as tctx:
        configured(tctx, addon, session_dir, auditor_app_domains=["classroom.example"])
        flow = tracker_flow(body=f"advertising_id={AD_ID}&screen=fractions".encode())
        view.add([flow])
        request_before = flow.request.get_state()
        addon.response(flow)
        assert flow.request.get_state() == request_before, "the addon must not change traffic"

        # What a mitmweb user sees: the flow marked, and what was found in its comment.
        await eventually(lambda: flow.marked == classroom_auditor.MARKER)
        assert "Precise location in query lat" in flow.comment
        assert "Advertising ID in body advertising_id" in flow.comment
        assert "52.370216" not in flow.comment and AD_ID not in flow.comment
        assert "Google" in flow.comment

        # A flow seen again by the error hook (error after response) is recorded once.
        addon.error(flow)
        addon.done()

    records = records_of(session_dir)
    assert len(records) == 1 and records[0].host == "app-measurement.com"
    assert records[0].request_body.startswith(b"advertising_id=")
    kinds = [e["event"] for e in events_of(session_dir)]
    assert kinds[0] == "destination" and "finding" in kinds and kinds[-1] == "end"
    findings = [e for e in events_of(session_dir) if e["event"] == "finding"]
    assert {f["data_type"] for f in findings} >= {"precise_location", "advertising_id"}
    events_text = (session_dir / "events.jsonl").read_text()
    assert AD_ID not in events_text and "52.370216" not in events_text

    report = check_report(json.loads((session_dir / "report.json").read_text()))
    (destination,) = report["destinations"]
    assert destination["host"] == "app-measurement.com" and destination["party"] == "third"
    assert {f["data_type"] for f in report["findings"]} >= {"precise_location", "advertising_id"}
    assert AD_ID not in (session_dir / "report.html").read_text()

    # Children's data: the folder and every file in it are owner-only.
    assert stat.S_IMODE(session_dir.stat().st_mode) == 0o700
    for path in session_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name

    settings = json.loads((session_dir / "session.json").read_text())
    assert settings["app_domains"] == ["classroom.example"] and settings["ended"] and settings["records"] == 1

    # The raw flow is in mitmproxy's own format, reads back unchanged, and carries the mark too.
    with (session_dir / "flows.mitm").open("rb") as handle:
        (saved,) = list(io.FlowReader(handle).stream())
    assert saved.request.get_state() == request_before
    assert saved.marked == classroom_auditor.MARKER and "Precise location" in saved.comment


@in_event_loop
def test_session_folder_round_trips_through_auditor_analyze(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir)
        addon.response(tracker_flow())
        addon.dns_response(tflow.tdnsflow(resp=True))
        addon.tcp_end(tflow.ttcpflow())
        addon.done()
    written = records_of(session_dir)
    assert [r.kind for r in written] == [RecordKind.HTTP, RecordKind.DNS, RecordKind.CONNECTION]

    from auditor.records import InputSummary

    summary = InputSummary(str(session_dir), "unknown", "")
    read_back = list(read_input(session_dir, AnalysisConfig().read_options, summary))
    assert read_back == written and summary.format == "session" and not summary.problems

    analysis = Analysis(AnalysisConfig(salt=b"classroom-auditor-test-salt"))
    analysis.add_input(session_dir)
    assert set(analysis.destinations) == {r.destination for r in written}
    assert analysis.records_seen == 3


@in_event_loop
def test_body_above_cap_is_cut_and_the_cut_recorded(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir, auditor_body_cap=2048)
        addon.response(tracker_flow(query="", body=b"x=" + b"a" * 10_000))
        addon.done()
    (record,) = records_of(session_dir)
    assert len(record.request_body) == 2048 and record.request_body_truncated


@in_event_loop
def test_a_flow_the_proxy_cannot_snapshot_passes_unchanged_and_is_counted(
    session_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir)
        broken = tracker_flow(host="broken.example")
        state_before = broken.get_state()

        def snapshot_fails() -> dict[str, Any]:
            raise RuntimeError("cannot snapshot this flow")

        broken.get_state = snapshot_fails  # type: ignore[method-assign]  # fault injection
        addon.response(broken)  # must not raise
        addon.response(tracker_flow(host="api.mixpanel.com"))
        addon.done()
    assert addon.errors == 1
    assert "recording failed in HTTPFlow" in caplog.text and "cannot snapshot this flow" in caplog.text
    del broken.get_state
    state_after = broken.get_state()
    assert state_after["request"] == state_before["request"] and state_after["response"] == state_before["response"]
    assert [r.host for r in records_of(session_dir)] == ["api.mixpanel.com"]
    assert json.loads((session_dir / "session.json").read_text())["errors"] == 1


def test_worker_survives_a_bug_in_the_analysis_and_still_saves_the_raw_flow(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import auditor.sources.mitmflows as mitmflows

    real_conversion = mitmflows.flow_to_record

    def conversion_with_a_bug(flow: Any, *args: Any) -> Record | None:
        # Fault injection: stands for any bug the analysis may have on strange traffic.
        if flow.request.host == "broken.example":
            raise RuntimeError("bug in the analysis")
        return real_conversion(flow, *args)

    monkeypatch.setattr(mitmflows, "flow_to_record", conversion_with_a_bug)
    session = LiveSession(session_dir, SessionSettings(name="lab-1", report_interval=0))
    with open_owner_only(session_dir / "flows.mitm") as flows:
        worker = Worker(session, flows, None)
        worker.handle(("flow", tracker_flow(host="broken.example")))
        worker.handle(("flow_state", {"type": "http", "version": 1}))  # a snapshot that is not a flow
        worker.handle(("flow_state", tracker_flow(host="api.mixpanel.com").get_state()))
        session.close()
    assert session.errors == 2 and "bug in the analysis" in caplog.text
    assert [r.host for r in records_of(session_dir)] == ["api.mixpanel.com"]
    with (session_dir / "flows.mitm").open("rb") as handle:
        assert [f.request.host for f in io.FlowReader(handle).stream()] == ["broken.example", "api.mixpanel.com"]


@in_event_loop
def test_pinned_client_becomes_an_sni_only_record(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir)
        client = tflow.tclient_conn()
        client.sni = "pinned.classroom.example"
        client.error = "The client does not trust the proxy's certificate for pinned.classroom.example (unknown ca)"
        server = tflow.tserver_conn()
        server.address = ("pinned.classroom.example", 443)
        ctx = context.Context(client, tctx.options)
        ctx.server = server
        addon.tls_failed_client(TlsData(client, ctx))
        addon.done()
    (record,) = records_of(session_dir)
    assert record.kind is RecordKind.TLS and record.host == "pinned.classroom.example"
    assert not record.content_visible and record.note == PINNING_NOTE
    report = json.loads((session_dir / "report.json").read_text())
    (destination,) = report["destinations"]
    assert destination["content_visible"] is False and PINNING_NOTE in destination["notes"]


@in_event_loop
def test_restarted_session_continues_its_records(session_dir: Path) -> None:
    for host in ("app-measurement.com", "api.mixpanel.com"):
        addon = classroom_auditor.ClassroomAuditor()
        with taddons.context(addon) as tctx:
            configured(tctx, addon, session_dir)
            addon.response(tracker_flow(host=host))
            addon.done()
    report = json.loads((session_dir / "report.json").read_text())
    assert {d["host"] for d in report["destinations"]} == {"app-measurement.com", "api.mixpanel.com"}
    assert len(records_of(session_dir)) == 2


@in_event_loop
async def test_report_command_writes_reports_on_demand(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir)
        addon.response(tracker_flow())
        html = tctx.master.commands.execute("auditor.report")
        assert Path(html) == session_dir / "report.html"
        await eventually(lambda: (session_dir / "report.json").exists())
        assert json.loads((session_dir / "report.json").read_text())["summary"]["destinations"] == 1
        with pytest.raises(exceptions.OptionsError, match="cannot change during a session"):
            tctx.configure(addon, auditor_session=str(session_dir.parent / "other"))
        addon.done()



@in_event_loop
async def test_a_flow_intercepted_and_resumed_in_mitmweb_is_still_recorded(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir)
        flow = tracker_flow(host="api.mixpanel.com")
        # An analyst paused this flow and let it go: it now holds an event-loop object the fast path cannot copy.
        flow.intercept()
        waiting = asyncio.create_task(flow.wait_for_resume())
        await asyncio.sleep(0)
        flow.resume()
        await waiting
        addon.response(flow)
        addon.done()
    assert addon.errors == 0
    assert [r.host for r in records_of(session_dir)] == ["api.mixpanel.com"]


@in_event_loop
def test_websocket_messages_the_device_sends_are_analysed_and_the_flow_saved_with_them(session_dir: Path) -> None:
    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir, auditor_app_domains=["classroom.example"])
        flow = tflow.twebsocketflow()
        assert flow.websocket is not None
        flow.websocket.messages.clear()
        flow.request.host = "realtime.tracker.example"
        flow.request.headers["host"] = "realtime.tracker.example"
        addon.response(flow)  # the 101 handshake
        assert flow.websocket is not None
        sent = f'{{"event": "answer", "advertising_id": "{AD_ID}"}}'.encode()
        flow.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, sent))
        addon.websocket_message(flow)
        flow.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, False, b'{"ok": true}'))
        addon.websocket_message(flow)  # received by the device: not a record
        addon.websocket_end(flow)
        addon.done()

    records = records_of(session_dir)
    assert [r.protocol for r in records] == ["HTTP/1.1", "WebSocket"]
    assert records[1].request_body == sent and records[1].host == "realtime.tracker.example"
    report = json.loads((session_dir / "report.json").read_text())
    assert "advertising_id" in {f["data_type"] for f in report["findings"]}
    # flows.mitm holds the socket once, with its messages, written when it closed.
    with (session_dir / "flows.mitm").open("rb") as handle:
        (saved,) = list(io.FlowReader(handle).stream())
    assert [m.content for m in saved.websocket.messages] == [sent, b'{"ok": true}']


@in_event_loop
def test_auditor_analyze_on_a_session_uses_the_app_it_was_recorded_for(session_dir: Path) -> None:
    from click.testing import CliRunner

    from auditor.cli import main

    addon = classroom_auditor.ClassroomAuditor()
    with taddons.context(addon) as tctx:
        configured(tctx, addon, session_dir, auditor_app_domains=["app-measurement.com"], auditor_app_name="Lab app")
        addon.response(tracker_flow())
        addon.done()
    result = CliRunner().invoke(main, ["analyze", str(session_dir), "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["app"]["domains"] == ["app-measurement.com"] and not report["app"]["domains_inferred"]
    assert report["app"]["name"] == "Lab app"
    assert report["destinations"][0]["party"] == "first"


def test_a_failure_log_masks_captured_values_quoted_by_the_exception(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import auditor.sources.mitmflows as mitmflows

    def conversion_quoting_data(flow: Any, *args: Any) -> Record | None:
        raise ValueError("bad header value 'mia.testpupil@student.example'")

    monkeypatch.setattr(mitmflows, "flow_to_record", conversion_quoting_data)
    session = LiveSession(session_dir, SessionSettings(name="lab-1", report_interval=0))
    with open_owner_only(session_dir / "flows.mitm") as flows:
        Worker(session, flows, None).handle(("flow", tracker_flow()))
        session.close()
    assert "ValueError" in caplog.text and "bad header value" in caplog.text
    assert "mia.testpupil@student.example" not in caplog.text
