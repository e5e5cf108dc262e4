"""Helpers that write small real captures with scapy for the pcap tests.

Packets are built with scapy's layers (imported explicitly) and written with
scapy's writers; TLS and QUIC handshakes come from real client stacks
(Python's ``ssl`` through memory BIOs, aioquic), never from hand-made bytes.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Sequence
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgWriter, PcapWriter

CLIENT = "10.0.0.2"
RESOLVER = "10.0.0.1"


def client_hello(server_name: str) -> bytes:
    """Return a real ClientHello from Python's TLS stack, made without any network."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def quic_initial(server_name: str, version: int = 1) -> bytes:
    """Return the first datagram of a real QUIC client (aioquic), made without any network."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    configuration = QuicConfiguration(
        is_client=True, server_name=server_name, alpn_protocols=["h3"], supported_versions=[version]
    )
    connection = QuicConnection(configuration=configuration)

    connection.connect(("127.0.0.1", 443), now=0.0)
    return connection.datagrams_to_send(now=0.0)[0][0]


def dns_exchange(name: str, answers: Sequence[tuple[str, str]], txid: int = 7, port: int = 40000) -> list[Packet]:
    """Build a UDP query for ``name`` and its response; ``answers`` are (type, value) with type A, AAAA or CNAME."""
    query = IP(src=CLIENT, dst=RESOLVER) / UDP(sport=port, dport=53) / DNS(id=txid, rd=1, qd=DNSQR(qname=name))
    records = []
    owner = name
    for kind, value in answers:
        records.append(DNSRR(rrname=owner, type=kind, ttl=60, rdata=value))
        if kind == "CNAME":
            owner = value
    response = (
        IP(src=RESOLVER, dst=CLIENT)
        / UDP(sport=53, dport=port)
        / DNS(id=txid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=records)
    )
    return [query, response]


def tcp_session(
    server: str,
    port: int,
    client_data: Sequence[bytes],
    server_data: Sequence[bytes] = (),
    client_port: int = 50000,
    order: Sequence[int] | None = None,
) -> list[Packet]:
    """Build a TCP connection: handshake, client segments (in ``order`` if given), server segments, FIN."""
    c_seq, s_seq = 1000, 5000
    packets: list[Packet] = [
        IP(src=CLIENT, dst=server) / TCP(sport=client_port, dport=port, flags="S", seq=c_seq),
        IP(src=server, dst=CLIENT) / TCP(sport=port, dport=client_port, flags="SA", seq=s_seq, ack=c_seq + 1),
        IP(src=CLIENT, dst=server) / TCP(sport=client_port, dport=port, flags="A", seq=c_seq + 1, ack=s_seq + 1),
    ]
    segments = []
    seq = c_seq + 1
    for data in client_data:
        segments.append(
            IP(src=CLIENT, dst=server)
            / TCP(sport=client_port, dport=port, flags="PA", seq=seq, ack=s_seq + 1)
            / Raw(data)
        )
        seq += len(data)
    packets.extend(segments[i] for i in (order if order is not None else range(len(segments))))
    s_next = s_seq + 1
    for data in server_data:
        packets.append(
            IP(src=server, dst=CLIENT) / TCP(sport=port, dport=client_port, flags="PA", seq=s_next, ack=seq) / Raw(data)
        )
        s_next += len(data)
    packets.append(IP(src=CLIENT, dst=server) / TCP(sport=client_port, dport=port, flags="FA", seq=seq, ack=s_next))
    packets.append(IP(src=server, dst=CLIENT) / TCP(sport=port, dport=client_port, flags="FA", seq=s_next, ack=seq + 1))
    return packets


def write_pcap(
    path: Path, packets: Sequence[Packet], link_type: int = 101, nano: bool = False, start: float = 1_700_000_000.0
) -> Path:
    """Write packets (given from the IP layer unless ``link_type`` says otherwise), one millisecond apart."""
    with PcapWriter(str(path), linktype=link_type, nano=nano, sync=True) as writer:
        for index, packet in enumerate(packets):
            packet.time = start + index / 1000
            writer.write(packet)
    return path


def write_pcapng(path: Path, packets: Sequence[Packet], link_type: int = 101) -> Path:
    """Write packets as pcapng."""
    with PcapNgWriter(str(path)) as writer:
        writer.linktype = link_type
        for index, packet in enumerate(packets):
            packet.time = 1_700_000_000.0 + index / 1000
            writer.write(packet)
    return path
