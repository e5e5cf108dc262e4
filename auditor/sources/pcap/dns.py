"""DNS message parsing: questions, addresses and the CNAME chain."""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass

TYPE_A = 1
TYPE_CNAME = 5
TYPE_AAAA = 28
DNS_PORTS = (53,)
"""Unicast DNS; mDNS and LLMNR stay on the local network and are counted as plain connections."""


class DnsError(ValueError):
    """A DNS message that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """The parts of a DNS message an audit needs."""

    transaction_id: int
    is_response: bool
    name: str
    """First question name, lowercase, without the trailing dot."""
    addresses: tuple[str, ...] = ()
    """A and AAAA answers."""
    cnames: tuple[str, ...] = ()
    """The CNAME chain starting at :attr:`name`, in order."""


def _read_name(message: bytes, position: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``position``; return it and the position after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if position >= len(message):
            raise DnsError("name runs past the end of the message")
        length = message[position]
        if length == 0:
            position += 1
            break
        if length & 0xC0 == 0xC0:
            if position + 1 >= len(message):
                raise DnsError("truncated compression pointer")
            if end < 0:
                end = position + 2
            jumps += 1
            if jumps > 32:
                raise DnsError("compression loop")
            position = ((length & 0x3F) << 8) | message[position + 1]
            continue
        if length & 0xC0:
            raise DnsError("unsupported label type")
        label = message[position + 1 : position + 1 + length]
        if len(label) != length:
            raise DnsError("label runs past the end of the message")
        labels.append(label.decode("ascii", "replace"))
        position += 1 + length
    name = ".".join(labels).lower()
    return name, end if end >= 0 else position


def _skip_name(message: bytes, position: int) -> int:
    """Return the position after the name at ``position``, without reading it (owners are rarely needed)."""
    end = len(message)
    while position < end:
        length = message[position]
        if length == 0:
            return position + 1
        if length & 0xC0 == 0xC0:
            return position + 2
        position += 1 + length
    return end + 1  # ran past the end: the caller stops


def parse_dns(message: bytes) -> DnsMessage:
    r"""Parse one DNS message (UDP payload, or a TCP message without its length prefix).

    >>> query = bytes.fromhex("abcd01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
    >>> parse_dns(query)
    DnsMessage(transaction_id=43981, is_response=False, name='example.com', addresses=(), cnames=())
    """
    if len(message) < 12:
        raise DnsError("shorter than a DNS header")
    txid, flags, questions, answers = struct.unpack_from("!HHHH", message, 0)
    if questions == 0:
        raise DnsError("no question")
    if flags & 0x7800:  # only standard queries carry a name worth reporting
        raise DnsError(f"opcode {(flags >> 11) & 0xF} is not a query")
    name, position = _read_name(message, 12)
    position += 4
    for _ in range(questions - 1):
        _, position = _read_name(message, position)
        position += 4
    is_response = bool(flags & 0x8000)
    if not is_response:
        return DnsMessage(txid, False, name)
    addresses: list[str] = []
    aliases: dict[str, str] = {}
    for _ in range(answers):
        owner_at = position
        position = _skip_name(message, position)
        if position + 10 > len(message):
            break
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", message, position)
        position += 10
        data = message[position : position + length]
        if len(data) != length:
            break
        if rtype == TYPE_A and length == 4:
            addresses.append(socket.inet_ntop(socket.AF_INET, data))
        elif rtype == TYPE_AAAA and length == 16:
            addresses.append(socket.inet_ntop(socket.AF_INET6, data))
        elif rtype == TYPE_CNAME:
            with contextlib.suppress(DnsError):
                aliases[_read_name(message, owner_at)[0]] = _read_name(message, position)[0]
        position += length
    return DnsMessage(txid, True, name, tuple(addresses), _chain(name, aliases))


def _chain(name: str, aliases: dict[str, str]) -> tuple[str, ...]:
    chain: list[str] = []
    current = name
    while current in aliases and len(chain) < 16:
        current = aliases[current]
        if current in chain:
            break
        chain.append(current)
    # Answers not linked to the question (unusual) still count, after the chain.
    chain.extend(target for target in aliases.values() if target not in chain)
    return tuple(chain)
