"""Edge cases of the pcap source, on small captures written by scapy with real TLS/QUIC/DNS bytes."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from scapy.layers.dns import DNS
from scapy.layers.dot11 import Dot11, RadioTap
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import LLC as Llc
from scapy.layers.l2 import SNAP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback
from scapy.packet import Raw
from scapy.utils import rdpcap

from auditor.analysis import Analysis, AnalysisConfig
from auditor.records import HostSource, InputProblem, Record, RecordKind
from auditor.sources import ReadOptions
from auditor.sources.pcap import read

sys.path.insert(0, str(Path(__file__).parent))
from pcap_builders import (
    CLIENT,
    client_hello,
    dns_exchange,
    quic_initial,
    tcp_session,
    write_pcap,
    write_pcapng,
)

HTTP_GET = b"GET /beacon?student=42 HTTP/1.1\r\nHost: stats.example.org\r\nUser-Agent: test\r\n\r\n"


def records_of(path: Path, body_cap: int = 1 << 20) -> tuple[list[Record], list[InputProblem]]:
    problems: list[InputProblem] = []
    return list(read(path, ReadOptions(body_cap=body_cap), problems)), problems


def sample_packets() -> list:
    return dns_exchange("stats.example.org", [("A", "198.51.100.7")]) + tcp_session("198.51.100.7", 80, [HTTP_GET])


def _ether(p):  # type: ignore[no-untyped-def]
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p


LINK_LAYERS = {
    "ethernet": (1, _ether),
    "ethernet-vlan": (1, lambda p: Ether() / Dot1Q(vlan=10) / p),
    "linux-sll": (113, lambda p: CookedLinux(proto=0x0800) / p),
    "linux-sll2": (276, lambda p: CookedLinuxV2(proto=0x0800) / p),
    "raw-ip": (101, lambda p: p),
    "bsd-null": (0, lambda p: Loopback(type=2) / p),
    "radiotap-80211": (
        127,
        lambda p: (
            RadioTap()
            / Dot11(
                type=2,
                subtype=0,
                FCfield="to_DS",
                addr1="02:00:00:00:00:02",
                addr2="02:00:00:00:00:01",
                addr3="02:00:00:00:00:03",
            )
            / Llc(dsap=0xAA, ssap=0xAA, ctrl=3)
            / SNAP(OUI=0, code=0x0800)
            / p
        ),
    ),
}


@pytest.mark.parametrize("name", LINK_LAYERS)
def test_every_link_type_yields_dns_and_http(tmp_path: Path, name: str) -> None:
    link_type, wrap = LINK_LAYERS[name]
    capture = write_pcap(tmp_path / f"{name}.pcap", [wrap(p) for p in sample_packets()], link_type)
    records, problems = records_of(capture)
    assert problems == []
    kinds = {(r.kind, r.host) for r in records}
    assert (RecordKind.DNS, "stats.example.org") in kinds
    (http,) = [r for r in records if r.kind is RecordKind.HTTP]
    assert http.url == "http://stats.example.org/beacon?student=42"
    assert (http.client_ip, http.server_ip, http.server_port) == (CLIENT, "198.51.100.7", 80)


def test_encrypted_80211_frames_are_skipped_not_misread(tmp_path: Path) -> None:
    frames = [
        RadioTap() / Dot11(type=2, subtype=0, FCfield="to_DS+protected") / Raw(bytes(p)) for p in sample_packets()
    ]
    records, problems = records_of(write_pcap(tmp_path / "wpa.pcap", frames, 127))
    assert records == [] and problems == []


def test_ipv6_pcapng_and_nanosecond_pcap(tmp_path: Path) -> None:
    packets = [
        IPv6(src="2001:db8::2", dst="2001:db8::80") / TCP(sport=50001, dport=80, flags="S", seq=1),
        IPv6(src="2001:db8::2", dst="2001:db8::80") / TCP(sport=50001, dport=80, flags="PA", seq=2) / Raw(HTTP_GET),
    ]
    for path in (write_pcapng(tmp_path / "v6.pcapng", packets), write_pcap(tmp_path / "v6.pcap", packets, nano=True)):
        records, _ = records_of(path)
        (http,) = [r for r in records if r.kind is RecordKind.HTTP]
        assert (http.host, http.server_ip) == ("stats.example.org", "2001:db8::80")
        assert http.time == pytest.approx(1_700_000_000.001)


def test_scapy_dissects_the_sample_to_dns_not_raw(tmp_path: Path) -> None:
    capture = write_pcap(tmp_path / "dns.pcap", [_ether(p) for p in sample_packets()], 1)
    assert rdpcap(str(capture))[0].haslayer(DNS)


def test_client_hello_split_across_segments_out_of_order_with_retransmission(tmp_path: Path) -> None:
    hello = client_hello("tracker.example.net")
    parts = [hello[:7], hello[7:200], hello[200:]]
    packets = tcp_session("192.0.2.10", 443, parts, order=[2, 0, 1])
    packets.insert(5, packets[4])  # a retransmitted segment
    records, _ = records_of(write_pcap(tmp_path / "split.pcap", packets))
    (tls,) = records
    assert (tls.kind, tls.host, tls.host_source) == (RecordKind.TLS, "tracker.example.net", HostSource.SNI)
    assert (tls.encrypted, tls.content_visible, tls.note) == (True, False, "encrypted; no TLS key log given")
    assert tls.bytes_up == len(hello) + 7  # the retransmitted first segment counts on the wire
    assert tls.time == pytest.approx(1_700_000_000.0)


def test_start_of_connection_not_captured_still_finds_the_client(tmp_path: Path) -> None:
    hello = client_hello("late.example.net")
    packets = tcp_session("192.0.2.11", 443, [hello], server_data=[b"\x16\x03\x03\x00\x02\x02\x00"])[3:]
    # Reverse so the server speaks first: the ClientHello tells which side is the client.
    packets = [packets[1], packets[0], *packets[2:]]
    (tls,) = records_of(write_pcap(tmp_path / "late.pcap", packets))[0]
    assert (tls.host, tls.client_ip, tls.server_port) == ("late.example.net", CLIENT, 443)


@pytest.mark.parametrize("version", [0x00000001, 0x6B3343CF], ids=["v1", "v2"])
def test_quic_initial_sni(tmp_path: Path, version: int) -> None:
    datagram = quic_initial("quic-tracker.example.com", version)
    packets = [
        IP(src=CLIENT, dst="192.0.2.20") / UDP(sport=51000, dport=443) / Raw(datagram),
        IP(src="192.0.2.20", dst=CLIENT) / UDP(sport=443, dport=51000) / Raw(b"\xc0" + bytes(50)),
    ]
    (quic,) = records_of(write_pcap(tmp_path / "quic.pcap", packets))[0]
    assert (quic.kind, quic.host, quic.host_source, quic.protocol) == (
        RecordKind.QUIC,
        "quic-tracker.example.com",
        HostSource.SNI,
        "QUIC",
    )
    assert quic.encrypted and not quic.content_visible
    assert (quic.bytes_up, quic.bytes_down) == (len(datagram), 51)


def test_dns_over_tcp_and_cname_cloaking(tmp_path: Path) -> None:
    name = "metrics.school-app.example"
    udp = dns_exchange(name, [("CNAME", "school-app.sc.app-measurement.com"), ("A", "203.0.113.5")])
    query, response = (bytes(p[DNS]) for p in udp)
    framed = [len(query).to_bytes(2, "big") + query]
    packets = tcp_session("10.0.0.1", 53, framed, [len(response).to_bytes(2, "big") + response], client_port=40001)
    packets += tcp_session("203.0.113.5", 8443, [b"\x00\x01binary-telemetry"], client_port=40002)
    records, _ = records_of(write_pcap(tmp_path / "cloak.pcap", packets))
    dns_records = [r for r in records if r.kind is RecordKind.DNS]
    assert [(r.host, r.protocol, r.dns_answers, r.dns_cnames) for r in dns_records] == [
        (name, "DNS over TCP", ("203.0.113.5",), ("school-app.sc.app-measurement.com",))
    ]
    (connection,) = [r for r in records if r.kind is RecordKind.CONNECTION]
    assert (connection.host, connection.host_source) == (name, HostSource.DNS_ANSWER)
    assert connection.dns_cnames == ("school-app.sc.app-measurement.com",)
    assert connection.content_visible is False

    analysis = Analysis(AnalysisConfig(app_domains=("school-app.example",)))
    for record in records:
        analysis.add(record)
    assert analysis.classification(name).cloaked_tracker == "school-app.sc.app-measurement.com"


def test_gzip_bomb_body_is_capped(tmp_path: Path) -> None:
    bomb = gzip.compress(bytes(200 << 20))  # 200 MiB of zeros in about 200 KiB
    head = (
        f"POST /upload HTTP/1.1\r\nHost: api.example.org\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    stream = head + bomb
    segments = [stream[i : i + 1400] for i in range(0, len(stream), 1400)]
    records, _ = records_of(write_pcap(tmp_path / "bomb.pcap", tcp_session("192.0.2.30", 80, segments)), body_cap=4096)
    (http,) = records
    assert (len(http.request_body), http.request_body_truncated) == (4096, True)
    assert http.request_body == bytes(4096)


def test_non_utf8_body_and_headers_survive(tmp_path: Path) -> None:
    body = "prénom=Zoë".encode("latin-1") + b"\xff\xfe\x00"
    request = (
        b"POST /form HTTP/1.1\r\nHost: forms.example.org\r\nX-Name: Jos\xe9\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    response = b"HTTP/1.1 204 No Content\r\n\r\n"
    (http,) = records_of(write_pcap(tmp_path / "latin1.pcap", tcp_session("192.0.2.31", 80, [request], [response])))[0]
    assert http.request_body == body
    assert http.header("x-name") == "Jos\xe9"
    assert http.response_status == 204


def test_keep_alive_chunked_requests_pair_with_responses(tmp_path: Path) -> None:
    first = b"POST /a HTTP/1.1\r\nHost: a.example.org\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
    second = b"GET /b HTTP/1.1\r\nHost: a.example.org\r\n\r\n"
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ]
    records, _ = records_of(
        write_pcap(tmp_path / "ka.pcap", tcp_session("192.0.2.32", 80, [first + second[:10], second[10:]], responses))
    )
    assert [(r.method, r.url, r.request_body, r.response_status) for r in records] == [
        ("POST", "http://a.example.org/a", b"abcd", 200),
        ("GET", "http://a.example.org/b", b"", 404),
    ]


def test_truncated_file_keeps_what_was_read_and_names_the_offset(tmp_path: Path) -> None:
    capture = write_pcap(
        tmp_path / "whole.pcap", sample_packets() + tcp_session("198.51.100.8", 80, [HTTP_GET], client_port=50009)
    )
    data = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])
    records, problems = records_of(cut)
    assert {r.kind for r in records} == {RecordKind.DNS, RecordKind.HTTP}
    assert len([r for r in records if r.kind is RecordKind.HTTP]) == 2
    (problem,) = problems
    assert problem.path == str(cut) and not problem.fatal
    frame_start = int(problem.message.split("byte ")[1].split(":")[0])
    assert 24 < frame_start < len(data) - 30
    assert "truncated" in problem.message


def test_corrupt_pcapng_block(tmp_path: Path) -> None:
    capture = write_pcapng(tmp_path / "ok.pcapng", sample_packets())
    data = bytearray(capture.read_bytes())
    # Find the fourth Enhanced Packet Block and give it an impossible length.
    position, seen = 0, 0
    while True:
        kind, length = (
            int.from_bytes(data[position : position + 4], "little"),
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        if kind == 6:
            seen += 1
            if seen == 4:
                break
        position += length
    data[position + 4 : position + 8] = (7).to_bytes(4, "little")
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(bytes(data))
    records, problems = records_of(bad)
    assert [r.host for r in records if r.kind is RecordKind.DNS] == ["stats.example.org"]
    (problem,) = problems
    assert f"damaged at byte {position}" in problem.message and "corrupt block" in problem.message


def test_not_a_capture_after_the_magic_is_fatal_but_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "junk.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 6)
    records, problems = records_of(path)
    assert records == []
    (problem,) = problems
    assert problem.fatal and "byte 0" in problem.message


def test_cli_reports_damage_as_a_warning(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from auditor.cli import main

    capture = write_pcap(tmp_path / "whole.pcap", sample_packets())
    data = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])
    result = CliRunner().invoke(main, ["analyze", str(cut), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert f"warning: {cut}: pcap damaged at byte" in result.output
    assert "Traceback" not in result.output


def test_large_capture_path_reads_in_a_second_process_with_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditor.sources.pcap as pcap_source
    from auditor.sources.pcap import worker

    packets = sample_packets() + tcp_session("192.0.2.40", 443, [client_hello("worker.example.net")], client_port=50100)
    packets += [
        p for i in range(600) for p in dns_exchange(f"n{i}.example.org", [("A", "192.0.2.1")], txid=i, port=30000 + i)
    ]
    capture = write_pcap(tmp_path / "many.pcap", packets)
    in_process, problems = records_of(capture)
    started = []
    real = worker.read_in_worker

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(pcap_source, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(pcap_source, "read_in_worker", spy)
    in_worker, worker_problems = records_of(capture)
    assert started and problems == worker_problems == []
    assert in_worker == in_process and len(in_worker) > worker.BATCH


def test_damage_found_in_the_worker_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor.sources.pcap as pcap_source

    capture = write_pcap(tmp_path / "whole.pcap", sample_packets())
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-10])
    monkeypatch.setattr(pcap_source, "PARALLEL_FROM_BYTES", 0)
    records, problems = records_of(cut)
    assert records and len(problems) == 1 and "damaged at byte" in problems[0].message


@pytest.mark.slow
def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    capture = write_pcap(tmp_path / "many.pcap", sample_packets() * 200)
    command = [sys.executable, "-m", "auditor", "analyze", str(capture), "--json", str(tmp_path / "r.json")]
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(command, stderr=follower, stdout=subprocess.DEVNULL, timeout=120, check=False)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
    assert process.returncode == 0
    assert b"many.pcap" in output and b"100%" in output
    piped = subprocess.run(command, capture_output=True, timeout=120, check=True)
    # No bar when piped (the summary's coverage line may hold a "%"; the bar is labelled with the file name).
    assert b"many.pcap" not in piped.stderr


def test_mutated_captures_never_raise(tmp_path: Path) -> None:
    import random

    hello = client_hello("fuzz.example.net")
    packets = sample_packets() + tcp_session(
        "192.0.2.50", 443, [hello[:100], hello[100:]], [b"\x16\x03\x03\x00\x31\x02" + bytes(60)]
    )
    packets += [
        IP(src=CLIENT, dst="192.0.2.51") / UDP(sport=51001, dport=443) / Raw(quic_initial("fuzz-quic.example.net"))
    ]
    packets += tcp_session(
        "192.0.2.52",
        80,
        [b"POST /x HTTP/1.1\r\nHost: f.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        client_port=50300,
    )
    original = write_pcap(tmp_path / "base.pcap", [_ether(p) for p in packets], 1).read_bytes()
    rng = random.Random(4)
    for round_number in range(60):
        data = bytearray(original)
        for _ in range(rng.choice((1, 5, 40))):
            data[rng.randrange(24, len(data))] = rng.randrange(256)
        mutated = tmp_path / f"m{round_number}.pcap"
        mutated.write_bytes(bytes(data))
        keylog = tmp_path / "keys.log"
        keylog.write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
        problems: list[InputProblem] = []
        for record in read(mutated, ReadOptions(keylog=str(keylog)), problems):
            assert isinstance(record, Record)


def test_connections_are_named_by_the_answer_current_when_they_started(tmp_path: Path) -> None:
    packets = dns_exchange("first.example.org", [("A", "203.0.113.9")], txid=1, port=41000)
    packets += tcp_session("203.0.113.9", 5000, [b"\x00hello"], client_port=42000)[:4]  # still open
    packets += dns_exchange("second.example.org", [("A", "203.0.113.9")], txid=2, port=41001)
    packets += tcp_session("203.0.113.9", 5000, [b"\x00again"], client_port=42001)
    records, _ = records_of(write_pcap(tmp_path / "rebind.pcap", packets))
    named = sorted((r.client_port, r.host) for r in records if r.kind is RecordKind.CONNECTION)
    assert named == [(42000, "first.example.org"), (42001, "second.example.org")]


def test_wrong_guess_of_the_client_side_is_corrected_by_the_client_hello(tmp_path: Path) -> None:
    hello = client_hello("high-port.example.net")
    # No SYN captured, and the client's port (5000) is lower than the server's (8443).
    packets = tcp_session("192.0.2.60", 8443, [hello], [b"\x16\x03\x03\x00\x02\x02\x00"], client_port=5000)[3:]
    (tls,) = records_of(write_pcap(tmp_path / "swap.pcap", packets))[0]
    assert (tls.host, tls.client_ip, tls.client_port, tls.server_port) == ("high-port.example.net", CLIENT, 5000, 8443)
    assert (tls.bytes_up, tls.bytes_down) == (len(hello), 7)


def test_client_hello_split_across_tls_records(tmp_path: Path) -> None:
    hello = client_hello("records.example.net")
    message = hello[5:]  # the handshake message without its record header
    framed = b"".join(b"\x16\x03\x01" + len(part).to_bytes(2, "big") + part for part in (message[:50], message[50:]))
    (tls,) = records_of(write_pcap(tmp_path / "records.pcap", tcp_session("192.0.2.70", 443, [framed])))[0]
    assert tls.host == "records.example.net"


def test_keylog_lines_of_other_kinds_are_not_problems(tmp_path: Path) -> None:
    from auditor.sources.pcap.decrypt import KeyLog

    keylog = KeyLog()
    text = (
        b"RSA 0011223344556677 "
        + b"ab" * 48
        + b"\nEXPORTER_SECRET "
        + b"cd" * 32
        + b" "
        + b"ef" * 48
        + b"\nnot a key line\n"
    )
    assert keylog.add_text(text, "keys.log") == 0
    assert keylog.problems == ["keys.log: 1 key log line(s) not in NSS key log format were ignored"]


def test_ppp_link_type_is_read_through_scapy(tmp_path: Path) -> None:
    from scapy.layers.ppp import PPP

    capture = write_pcap(tmp_path / "ppp.pcap", [PPP(proto=0x0021) / p for p in sample_packets()], 9)
    records, problems = records_of(capture)
    assert problems == []
    assert {(r.kind, r.host) for r in records} == {
        (RecordKind.DNS, "stats.example.org"),
        (RecordKind.HTTP, "stats.example.org"),
    }


def test_unknown_link_type_is_named_in_a_problem(tmp_path: Path) -> None:
    capture = write_pcap(tmp_path / "odd.pcap", [Raw(bytes(p)) for p in sample_packets()], 147)
    records, problems = records_of(capture)
    assert records == []
    assert [p.message.split(" (")[0] for p in problems] == ["frames of unsupported link type 147 skipped"]


def test_tls_inside_a_proxy_tunnel_is_named_by_its_sni(tmp_path: Path) -> None:
    hello = client_hello("tunnelled.example.net")
    refused = b"CONNECT tunnelled.example.net:443 HTTP/1.1\r\nHost: tunnelled.example.net:443\r\n\r\n"
    retry = refused[:-2] + b"Proxy-Authorization: x\r\n\r\n"
    responses = [
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 Connection established\r\n\r\n",
    ]
    # Client and proxy alternate: request, refusal, retry, tunnel open, then TLS.
    c_seq, s_seq, port = 1001, 5001, 50400
    packets = tcp_session("192.0.2.80", 3128, [], client_port=port)[:3]
    for data, reply in ((refused, responses[0]), (retry, responses[1])):
        packets.append(
            IP(src=CLIENT, dst="192.0.2.80") / TCP(sport=port, dport=3128, flags="PA", seq=c_seq) / Raw(data)
        )
        c_seq += len(data)
        packets.append(
            IP(src="192.0.2.80", dst=CLIENT) / TCP(sport=3128, dport=port, flags="PA", seq=s_seq) / Raw(reply)
        )
        s_seq += len(reply)
    packets.append(IP(src=CLIENT, dst="192.0.2.80") / TCP(sport=port, dport=3128, flags="PA", seq=c_seq) / Raw(hello))
    records, _ = records_of(write_pcap(tmp_path / "proxy.pcap", packets))
    assert [(r.kind, r.method, r.response_status) for r in records if r.kind is RecordKind.HTTP] == [
        (RecordKind.HTTP, "CONNECT", 407),
        (RecordKind.HTTP, "CONNECT", 200),
    ]
    assert all(r.url == "https://tunnelled.example.net:443" for r in records if r.kind is RecordKind.HTTP)
    (tls,) = [r for r in records if r.kind is RecordKind.TLS]
    assert (tls.host, tls.server_port, tls.note) == ("tunnelled.example.net", 3128, "encrypted; no TLS key log given")


def test_response_to_head_has_no_body_so_the_next_response_pairs(tmp_path: Path) -> None:
    requests = b"HEAD /a HTTP/1.1\r\nHost: h.example.org\r\n\r\nGET /b HTTP/1.1\r\nHost: h.example.org\r\n\r\n"
    responses = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    records, _ = records_of(write_pcap(tmp_path / "head.pcap", tcp_session("192.0.2.90", 80, [requests], [responses])))
    assert [(r.method, r.response_status) for r in records] == [("HEAD", 200), ("GET", 404)]


def test_flow_table_overflow_reports_flows_early_instead_of_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.sources.pcap import flows

    monkeypatch.setattr(flows, "MAX_FLOWS", 10)
    packets = [p for i in range(40) for p in tcp_session("192.0.2.100", 80, [HTTP_GET], client_port=51000 + i)[:4]]
    records, _ = records_of(write_pcap(tmp_path / "many-flows.pcap", packets))
    assert sorted(r.client_port for r in records) == [51000 + i for i in range(40)]
    assert all(r.kind is RecordKind.HTTP and r.host == "stats.example.org" for r in records)


def test_http_parsing_resumes_after_a_lost_segment(tmp_path: Path) -> None:
    requests = [
        b"GET /one HTTP/1.1\r\nHost: lossy.example.org\r\n\r\n",
        b"POST /two HTTP/1.1\r\nHost: lossy.example.org\r\nContent-Length: 4\r\n\r\nlost",
        b"GET /three HTTP/1.1\r\nHost: lossy.example.org\r\n\r\n",
    ]
    packets = tcp_session("192.0.2.110", 80, requests)
    del packets[4]  # the second request never reached the capture
    records, _ = records_of(write_pcap(tmp_path / "lossy.pcap", packets))
    assert [r.url for r in records] == ["http://lossy.example.org/one", "http://lossy.example.org/three"]


def test_snapshot_length_cuts_are_reported(tmp_path: Path) -> None:
    import struct

    # What tcpdump -s 60 writes: each frame cut to 60 bytes, its original length kept.
    frames = [bytes(_ether(p)) for p in sample_packets()]
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 60, 1)
    for index, frame in enumerate(frames):
        data += struct.pack("<IIII", 1_700_000_000, index, min(len(frame), 60), len(frame)) + frame[:60]
    capture = tmp_path / "snap.pcap"
    capture.write_bytes(data)
    records, problems = records_of(capture)
    assert [p.message.split(";")[0] for p in problems] == ["3 frames were cut short by the capture's snapshot length"]
    # Names in the cut bytes are lost, but the connection still counts, with the reason.
    (connection,) = records
    assert (connection.kind, connection.server_ip) == (RecordKind.CONNECTION, "198.51.100.7")
    assert connection.note == "HTTP, but no complete request in the capture"
