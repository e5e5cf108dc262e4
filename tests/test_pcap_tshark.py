"""Cross-check of the pcap source against tshark on the real captures in ../shared/captures.

The names a reviewer would check (DNS queries, TLS SNI, HTTP hosts) must be
exactly the ones Wireshark's dissectors find, with and without key logs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.records import HostSource, Record, RecordKind
from auditor.sources import ReadOptions
from auditor.sources.common import is_ip_literal
from auditor.sources.pcap import read

SHARED = Path(__file__).resolve().parents[2] / "shared" / "captures"
CAPTURES = sorted(SHARED.glob("*.pcap*")) if SHARED.is_dir() else []
KEYLOGS = {
    "zeek_tls12-decryption.pcap": "zeek_tls12-decryption.sslkeylog.txt",
    "illustrated-tls13_capture.pcap": "illustrated-tls13_keylog.txt",
    "illustrated-tls12_capture.pcap": "illustrated-tls12_keylog.txt",
}

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (CI installs it via .ci/run)"),
    pytest.mark.skipif(not CAPTURES, reason=f"shared captures not found at {SHARED}"),
]


def tshark_values(capture: Path, display_filter: str, field: str, keylog: Path | None = None) -> list[str]:
    """Every value of ``field`` in frames matching ``display_filter``, lowercased, one per occurrence."""
    options = ["-o", f"tls.keylog_file:{keylog}"] if keylog else []
    result = subprocess.run(
        ["tshark", "-n", "-r", str(capture), *options, "-Y", display_filter, "-T", "fields", "-e", field],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    values = []
    for line in result.stdout.splitlines():
        values.extend(v.strip().lower().rstrip(".") for v in line.split(",") if v.strip())
    return values


def auditor_records(capture: Path, keylog: Path | None = None, opens_nothing: bool = False) -> list[Record]:
    problems: list = []
    records = list(read(capture, ReadOptions(keylog=str(keylog) if keylog else None), problems))
    if opens_nothing:  # a key log for other sessions is named as such, once, with counts
        assert [p.message for p in problems if "opened none of the TLS sessions" in p.message and
                "1 TLS sessions in the capture, opened 0" in p.message] == [p.message for p in problems]
        assert len(problems) == 1
    else:
        assert problems == [], problems
    return records


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_names_match_tshark(capture: Path) -> None:
    records = auditor_records(capture)
    dns = {r.host for r in records if r.kind is RecordKind.DNS}
    sni = {r.host for r in records if r.kind in (RecordKind.TLS, RecordKind.QUIC) and r.host_source is HostSource.SNI}
    http = [r for r in records if r.kind is RecordKind.HTTP]

    assert dns == set(tshark_values(capture, "dns.flags.response==0 && (udp.port==53 || tcp.port==53)", "dns.qry.name"))
    assert sni == set(tshark_values(capture, "tls.handshake.type==1", "tls.handshake.extensions_server_name"))
    hosts = [
        h.rsplit(":", 1)[0] if h.count(":") == 1 else h
        for h in tshark_values(capture, "http.request && tcp", "http.host")
    ]
    assert {r.host for r in http if r.host} == {h for h in hosts if not is_ip_literal(h)}
    # One record per request, and a request to an IP literal keeps its address.
    assert len(http) == len(hosts)
    assert {r.server_ip for r in http if r.host is None} >= {h for h in hosts if is_ip_literal(h)}


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_one_tls_record_per_connection_with_a_client_hello(capture: Path) -> None:
    records = auditor_records(capture)
    streams = set(tshark_values(capture, "tls.handshake.type==1", "tcp.stream"))
    assert sum(1 for r in records if r.kind is RecordKind.TLS) == len(streams)
    hidden = [r for r in records if r.kind is RecordKind.TLS]
    assert all(r.encrypted and not r.content_visible and r.note for r in hidden)


def test_tls12_keylog_decrypts_the_request_tshark_decrypts() -> None:
    capture = SHARED / "zeek_tls12-decryption.pcap"
    keylog = SHARED / KEYLOGS[capture.name]
    assert tshark_values(capture, "http.request", "http.host", keylog) == ["heise.de"]
    assert tshark_values(capture, "http.response", "http.response.code", keylog) == ["301"]

    (record,) = auditor_records(capture, keylog)
    assert record.kind is RecordKind.HTTP
    assert (record.method, record.url, record.response_status) == ("GET", "https://heise.de/", 301)
    assert record.encrypted and record.content_visible
    assert "Firefox/78.0" in (record.header("user-agent") or "")


def test_without_keylog_the_same_session_is_hidden_and_says_why() -> None:
    (record,) = auditor_records(SHARED / "zeek_tls12-decryption.pcap")
    assert (record.kind, record.host, record.content_visible) == (RecordKind.TLS, "heise.de", False)
    assert record.note == "encrypted; no TLS key log given"


@pytest.mark.parametrize("name", ["illustrated-tls13_capture.pcap", "illustrated-tls12_capture.pcap"])
def test_non_http_payload_is_decrypted_and_analysed_as_bytes(name: str) -> None:
    capture = SHARED / name
    keylog = SHARED / KEYLOGS[name]
    # tshark decrypts the same session to the same first message.
    follow = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keylog}", "-q", "-z", "follow,tls,ascii,0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "ping" in follow and "pong" in follow
    (record,) = auditor_records(capture, keylog)
    assert (record.kind, record.host, record.request_body) == (RecordKind.TLS, "example.ulfheim.net", b"ping")
    assert record.content_visible and record.encrypted
    assert record.note and record.note.startswith("decrypted; the application data is not HTTP")


def test_keylog_without_this_session_says_no_key() -> None:
    capture = SHARED / "illustrated-tls13_capture.pcap"
    (record,) = auditor_records(capture, SHARED / KEYLOGS["zeek_tls12-decryption.pcap"], opens_nothing=True)
    assert not record.content_visible
    assert record.note == "encrypted; no key for this session in the key log"


def test_frame_counts_match_scapy() -> None:
    from scapy.utils import RawPcapNgReader, RawPcapReader

    from auditor.sources.pcap.reader import CaptureReader

    for capture in CAPTURES:
        with capture.open("rb") as handle:
            ours = sum(1 for _ in CaptureReader(handle))
        scapy_reader = RawPcapNgReader if capture.suffix == ".pcapng" else RawPcapReader
        with scapy_reader(str(capture)) as reader:
            theirs = sum(1 for _ in reader)
        assert ours == theirs, capture.name


def test_wrong_key_says_decryption_failed(tmp_path: Path) -> None:
    line = (SHARED / KEYLOGS["zeek_tls12-decryption.pcap"]).read_text().split()
    wrong = tmp_path / "wrong.log"
    wrong.write_text(f"{line[0]} {line[1]} {'00' * 48}\n")  # the right session, a wrong master secret
    (record,) = auditor_records(SHARED / "zeek_tls12-decryption.pcap", wrong, opens_nothing=True)
    assert (record.kind, record.content_visible) == (RecordKind.TLS, False)
    assert record.note == "decryption failed: the key log's keys do not open this session"
