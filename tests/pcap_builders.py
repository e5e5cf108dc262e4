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


QUIC_DRAFT_29 = 0xFF00001D
_DRAFT_29_SALT = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # draft-ietf-quic-tls-29, section 5.2


def _initial_crypto(dcid: bytes, version: int, is_client: bool) -> object:
    """The Initial keys of aioquic for ``version``; draft 29 differs from v1 only by its salt, given here."""
    from aioquic.quic.crypto import INITIAL_CIPHER_SUITE, CryptoPair, cipher_suite_hash, hkdf_expand_label, hkdf_extract

    pair = CryptoPair()
    if version != QUIC_DRAFT_29:
        pair.setup_initial(cid=dcid, is_client=is_client, version=version)
        return pair
    algorithm = cipher_suite_hash(INITIAL_CIPHER_SUITE)
    secret = hkdf_extract(algorithm, _DRAFT_29_SALT, dcid)
    for context, label in ((pair.send, b"client in" if is_client else b"server in"),
                           (pair.recv, b"server in" if is_client else b"client in")):
        context.setup(cipher_suite=INITIAL_CIPHER_SUITE,
                      secret=hkdf_expand_label(algorithm, secret, label, b"", algorithm.digest_size), version=1)
    return pair


def client_hello_of_quic(server_name: str) -> bytes:
    """The TLS ClientHello aioquic's client sends, taken from its first datagram by decrypting it."""
    from aioquic.buffer import Buffer
    from aioquic.quic.packet import pull_quic_header

    datagram = quic_initial(server_name, 1)
    buffer = Buffer(data=datagram)
    header = pull_quic_header(buffer, host_cid_length=8)
    crypto = _initial_crypto(header.destination_cid, 1, is_client=False)
    _, payload, _ = crypto.decrypt_packet(datagram[: header.packet_length], buffer.tell(), 0)  # type: ignore[attr-defined]
    pieces: dict[int, bytes] = {}
    frames = Buffer(data=payload)
    while not frames.eof():
        kind = frames.pull_uint_var()
        if kind == 0x06:  # CRYPTO
            offset, length = frames.pull_uint_var(), frames.pull_uint_var()
            pieces[offset] = frames.pull_bytes(length)
        elif kind not in (0x00, 0x01):  # anything but PADDING and PING: aioquic's first packet has no other frame
            raise ValueError(f"unexpected frame {kind:#x} in aioquic's first Initial")
    hello = b"".join(pieces[offset] for offset in sorted(pieces))
    assert hello[0] == 1 and len(hello) == 4 + int.from_bytes(hello[1:4], "big")
    return hello


def scattered_quic_initials(server_name: str, version: int = 1, dcid: bytes = bytes(range(8))) -> list[bytes]:
    """Client Initial datagrams carrying a real ClientHello the way Chrome scatters it.

    The ClientHello is cut into five pieces sent over three Initial packets (one
    datagram each): out of order, one piece twice, one overlapping two others,
    with PING and PADDING frames between them. Packets are protected with
    aioquic's Initial keys for ``version`` and built with its packet builder.
    """
    from aioquic.quic.packet import QuicFrameType, QuicPacketType
    from aioquic.quic.packet_builder import QuicPacketBuilder

    hello = client_hello_of_quic(server_name)
    cut = [0, len(hello) // 5, 2 * len(hello) // 5, 3 * len(hello) // 5, 4 * len(hello) // 5, len(hello)]
    piece = [(cut[i], hello[cut[i] : cut[i + 1]]) for i in range(5)]
    overlap = (cut[1] + 10, hello[cut[1] + 10 : cut[3] - 10])
    plan: list[list[tuple[str, tuple[int, bytes] | int]]] = [
        [("crypto", piece[3]), ("ping", 0), ("padding", 7), ("crypto", piece[0]), ("crypto", piece[3])],
        [("padding", 30), ("crypto", piece[4]), ("crypto", overlap), ("ping", 0)],
        [("crypto", piece[2]), ("padding", 3), ("crypto", piece[1]), ("ping", 0), ("crypto", piece[0])],
    ]
    builder = QuicPacketBuilder(host_cid=b"\x11" * 8, peer_cid=dcid, version=version, is_client=True,
                                max_datagram_size=1200)
    crypto = _initial_crypto(dcid, version, is_client=True)
    datagrams: list[bytes] = []
    for frames in plan:
        builder.start_packet(QuicPacketType.INITIAL, crypto)  # type: ignore[arg-type]
        for kind, value in frames:
            if kind == "crypto":
                assert isinstance(value, tuple)
                offset, data = value
                buffer = builder.start_frame(QuicFrameType.CRYPTO)
                buffer.push_uint_var(offset)
                buffer.push_uint_var(len(data))
                buffer.push_bytes(data)
            elif kind == "ping":
                builder.start_frame(QuicFrameType.PING)
            else:
                assert isinstance(value, int)
                builder.start_frame(QuicFrameType.PADDING).push_bytes(bytes(value))
        sent, _ = builder.flush()
        datagrams += sent
    return datagrams
