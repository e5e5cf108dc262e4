"""QUIC names as tshark reads them, from ClientHellos scattered the way modern Chrome sends them.

The capture is built from a real stack: aioquic's own ClientHello (taken from its
first datagram by decrypting it with aioquic), cut into CRYPTO frames sent out of
order, with a duplicate and an overlap, PING and PADDING between them, over three
Initial packets protected with aioquic's Initial keys and written with scapy.
No single packet holds the whole ClientHello.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import pinned_env, run_analyze
from pcap_builders import CLIENT, QUIC_DRAFT_29, scattered_quic_initials, write_pcap
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw

VERSIONS = {"v1": 0x00000001, "v2": 0x6B3343CF, "draft-29": QUIC_DRAFT_29}


def scattered_capture(tmp_path: Path, label: str) -> tuple[Path, str]:
    name = f"scattered-{label}.tracker.example"
    datagrams = scattered_quic_initials(name, VERSIONS[label])
    assert all(name.encode() not in datagram for datagram in datagrams)  # protected, not readable as it is
    packets = [IP(src=CLIENT, dst="192.0.2.80") / UDP(sport=50123, dport=443) / Raw(d) for d in datagrams]
    return write_pcap(tmp_path / f"quic-{label}.pcap", packets), name


@pytest.mark.parametrize("label", list(VERSIONS))
def test_the_auditor_reads_the_name_of_a_scattered_client_hello(tmp_path: Path, label: str) -> None:
    capture, name = scattered_capture(tmp_path, label)
    run = run_analyze(["analyze", capture, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    assert [d["host"] for d in run.report["destinations"]] == [name]


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("label", list(VERSIONS))
def test_tshark_reads_the_same_name_from_the_same_file(tmp_path: Path, label: str) -> None:
    capture, name = scattered_capture(tmp_path, label)
    done = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-Y", "tls.handshake.type==1", "-T", "fields",
         "-e", "tls.handshake.extensions_server_name", "-e", "frame.number"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    # tshark too has the name only once the third packet completes the ClientHello.
    assert done.stdout.split() == [name, "3"]
