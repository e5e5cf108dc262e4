"""The recording rig: a real mitmdump records the scripted session; nothing leaves loopback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import REPO

from auditor.records import RecordKind
from auditor.sources import ReadOptions
from auditor.sources.mitmflows import read as read_flows

sys.path.insert(0, str(REPO / "captures" / "rig"))

import standins


def _hook_data(host: str, port: int):  # type: ignore[no-untyped-def]
    from mitmproxy.proxy import server_hooks
    from mitmproxy.test import tflow

    server = tflow.tserver_conn()
    server.address = (host, port)
    return server_hooks.ServerConnectionHookData(client=tflow.tclient_conn(), server=server)


def test_addon_sends_stand_ins_to_loopback_and_refuses_everything_else() -> None:
    import loopback_addon
    from mitmproxy.test import taddons

    addon = loopback_addon.LoopbackUpstreams()
    with taddons.context(addon) as context:
        context.configure(
            addon, rig_https_port=4443, rig_http_port=8080,
            rig_https_hosts=json.dumps(["app-measurement.com"]), rig_http_hosts=json.dumps(["b.scorecardresearch.com"]),
        )
        allowed = _hook_data("App-Measurement.com.", 443)
        addon.server_connect(allowed)
        assert allowed.server.address == ("127.0.0.1", 4443) and allowed.server.error is None
        plain = _hook_data("b.scorecardresearch.com", 80)
        addon.server_connect(plain)
        assert plain.server.address == ("127.0.0.1", 8080)
        for host, port in [("example.com", 443), ("app-measurement.com", 80), ("93.184.216.34", 443)]:
            refused = _hook_data(host, port)
            addon.server_connect(refused)
            assert refused.server.error and "refused" in refused.server.error
            assert refused.server.address == (host, port)
    context.master.event_loop.close()  # taddons made this loop for a test outside one; don't leak it


@pytest.mark.slow
def test_rig_records_the_session_through_a_real_mitmdump(tmp_path: Path) -> None:
    import record

    output = tmp_path / "session.mitm"
    log = record.record(output, pause=0.0)
    assert len(log) == 16 and all(line.startswith(("200 ", "204 ")) for line in log), log
    assert output.stat().st_size < 200_000
    records = list(read_flows(output, ReadOptions(), []))
    assert len(records) == 16 and {r.kind for r in records} == {RecordKind.HTTP}
    assert {r.host for r in records} == set(standins.ALL_HOSTS)
    assert {r.server_ip for r in records} == {"127.0.0.1"}, "upstreams must be the local stand-ins"
    lesson = next(r for r in records if (r.url or "").endswith("/v1/lessons/12?class=5B"))
    assert lesson.protocol == "HTTP/2"
    firebase = next(r for r in records if r.host == "app-measurement.com")
    assert json.loads(firebase.request_body)["adid"] == "5d2f8c1e-7b3a-4e9d-9c61-2a4b8e0f7d13"
    assert firebase.header("content-encoding") == "gzip" and not firebase.request_body.startswith(b"\x1f\x8b")
    beacon = next(r for r in records if r.host == "b.scorecardresearch.com")
    assert not beacon.encrypted and (beacon.url or "").startswith("http://")


def test_an_idle_tls_connection_does_not_stall_the_https_stand_in(tmp_path: Path) -> None:
    import socket
    import ssl

    from standins import running_standins

    with running_standins(tmp_path) as ports, socket.create_connection(("127.0.0.1", ports.https)) as idle:
        # ``idle`` never sends a ClientHello; a second client must still be served.
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", ports.https), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="api.mixpanel.com") as tls,
        ):
            tls.sendall(b"GET /track HTTP/1.1\r\nHost: api.mixpanel.com\r\nConnection: close\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
        assert idle.fileno() != -1
