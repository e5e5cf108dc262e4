"""Link-layer and IP header parsing on raw bytes (no scapy on the hot path).

Every function takes the frame as ``bytes`` and returns offsets, so no packet
object is ever built: full scapy dissection costs a few thousand packets per
second, these a few hundred thousand.
"""

from __future__ import annotations

import socket
import struct

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALIASES = (12, 14)  # DLT_RAW as some BSDs number it
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_PPI = 192
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

SUPPORTED_LINK_TYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    12: "raw IP",
    14: "raw IP",
    LINKTYPE_IEEE802_11: "802.11",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IEEE802_11_RADIOTAP: "802.11 with radiotap",
    LINKTYPE_PPI: "802.11 with PPI",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked (SLL2)",
}

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
_PPPOE_SESSION = 0x8864
_LLC_SNAP = (b"\xaa\xaa\x03\x00\x00\x00", b"\xaa\xaa\x03\x00\x00\xf8")
_BSD_AF_INET6 = (24, 28, 30)

PROTO_TCP = 6
PROTO_UDP = 17
_IPV6_EXTENSIONS = (0, 43, 60, 51, 135, 139, 140)
_IPV6_FRAGMENT = 44


def _after_ethertype(frame: bytes, ethertype: int, offset: int) -> int:
    """Offset of the IP header once an ethertype is known (VLAN and PPPoE peeled); -1 if not IP."""
    while ethertype in _VLAN_TYPES:
        if len(frame) < offset + 4:
            return -1
        ethertype = (frame[offset + 2] << 8) | frame[offset + 3]
        offset += 4
    if ethertype == _PPPOE_SESSION:
        if len(frame) < offset + 8:
            return -1
        ppp = (frame[offset + 6] << 8) | frame[offset + 7]
        return offset + 8 if ppp in (0x0021, 0x0057) else -1
    if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
        return offset
    return -1


def _ieee80211(frame: bytes, offset: int) -> int:
    """IP offset inside an unencrypted 802.11 data frame with LLC/SNAP; -1 otherwise."""
    if len(frame) < offset + 24:
        return -1
    control, flags = frame[offset], frame[offset + 1]
    if (control >> 2) & 3 != 2 or flags & 0x40:  # not data, or protected (encrypted)
        return -1
    subtype = control >> 4
    if subtype & 0x4:  # null function: no payload
        return -1
    header = 24
    if flags & 3 == 3:  # four addresses (WDS)
        header += 6
    if subtype & 0x8:  # QoS data
        header += 2
        if flags & 0x80:  # HT control field follows
            header += 4
    snap = offset + header
    if frame[snap : snap + 6] not in _LLC_SNAP:
        return -1
    return _after_ethertype(frame, (frame[snap + 6] << 8) | frame[snap + 7], snap + 8)


def ip_offset(link_type: int, frame: bytes) -> int:
    r"""Where the IP header starts in a frame of ``link_type``; -1 when the frame carries no IP.

    >>> ip_offset(LINKTYPE_ETHERNET, bytes(12) + b"\x08\x00" + b"\x45")
    14
    >>> ip_offset(LINKTYPE_NULL, b"\x02\x00\x00\x00\x45")
    4
    """
    if link_type == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return -1
        return _after_ethertype(frame, (frame[12] << 8) | frame[13], 14)
    if link_type == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return -1
        return _after_ethertype(frame, (frame[14] << 8) | frame[15], 16)
    if link_type == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return -1
        return _after_ethertype(frame, (frame[0] << 8) | frame[1], 20)
    if link_type in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, *LINKTYPE_RAW_ALIASES):
        return 0 if frame and frame[0] >> 4 in (4, 6) else -1
    if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 5:
            return -1
        # The family is in host byte order for NULL and network order for LOOP; accept either.
        family = frame[0] if frame[0] else frame[3]
        return 4 if family == 2 or family in _BSD_AF_INET6 else -1
    if link_type == LINKTYPE_IEEE802_11:
        return _ieee80211(frame, 0)
    if link_type == LINKTYPE_IEEE802_11_RADIOTAP:
        if len(frame) < 4:
            return -1
        return _ieee80211(frame, frame[2] | (frame[3] << 8))
    if link_type == LINKTYPE_PPI:
        if len(frame) < 8:
            return -1
        length = frame[2] | (frame[3] << 8)
        dlt = struct.unpack_from("<I", frame, 4)[0]
        return _ieee80211(frame, length) if dlt == LINKTYPE_IEEE802_11 else -1
    return -1


def ip_header(frame: bytes, offset: int) -> tuple[bytes, bytes, int, int, int] | None:
    """Parse an IPv4/IPv6 header: (source, destination, protocol, payload start, payload end).

    Returns ``None`` for non-first fragments and malformed headers. The end is
    bounded by the IP length (Ethernet padding excluded) and the captured bytes.

    >>> ip_header(bytes.fromhex("4500001c000040004011" "0000" "c0000201" "c6336401") + bytes(8), 0)[2:]
    (17, 20, 28)
    """
    if len(frame) < offset + 20:
        return None
    version = frame[offset] >> 4
    if version == 4:
        header = (frame[offset] & 0x0F) * 4
        total, fragment = struct.unpack_from("!H2xH", frame, offset + 2)
        if header < 20 or fragment & 0x1FFF:  # later fragments carry no transport header
            return None
        end = offset + total if total >= header else len(frame)
        return (
            frame[offset + 12 : offset + 16],
            frame[offset + 16 : offset + 20],
            frame[offset + 9],
            offset + header,
            min(end, len(frame)),
        )
    if version == 6:
        if len(frame) < offset + 40:
            return None
        length = (frame[offset + 4] << 8) | frame[offset + 5]
        proto = frame[offset + 6]
        position = offset + 40
        end = min(position + length, len(frame)) if length else len(frame)
        while proto in _IPV6_EXTENSIONS or proto == _IPV6_FRAGMENT:
            if position + 8 > end:
                return None
            if proto == _IPV6_FRAGMENT:
                if struct.unpack_from("!H", frame, position + 2)[0] & 0xFFF8:
                    return None
                proto, position = frame[position], position + 8
            elif proto == 51:  # authentication header counts 4-byte units
                proto, position = frame[position], position + (frame[position + 1] + 2) * 4
            else:
                proto, position = frame[position], position + (frame[position + 1] + 1) * 8
        return frame[offset + 8 : offset + 24], frame[offset + 24 : offset + 40], proto, position, end
    return None


def address_text(packed: bytes) -> str:
    r"""Printable form of a packed IPv4 or IPv6 address.

    >>> address_text(bytes([192, 0, 2, 1])), address_text(bytes(15) + b"\x01")
    ('192.0.2.1', '::1')
    """
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


class ScapyFallback:
    """IP packets out of frames of link types this module does not parse (PPP, HDLC, ...), via scapy.

    Slow (full dissection), but only used for rare link types; the layer
    modules are imported explicitly so they register their link types.
    """

    def __init__(self) -> None:
        self._classes: dict[int, type | None] = {}

    def knows(self, link_type: int) -> bool:
        """Tell whether scapy can dissect frames of this link type."""
        if link_type not in self._classes:
            import scapy.layers.inet
            import scapy.layers.inet6
            import scapy.layers.l2
            import scapy.layers.ppp  # noqa: F401 - registers PPP and HDLC link types
            from scapy.config import conf

            found = conf.l2types.get(link_type)
            self._classes[link_type] = found if isinstance(found, type) else None
        return self._classes[link_type] is not None

    def ip_bytes(self, link_type: int, frame: bytes) -> bytes | None:
        """Return the IP packet inside a frame, as bytes; ``None`` when there is none."""
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6

        layer_class = self._classes.get(link_type)
        if layer_class is None:
            return None
        try:
            packet = layer_class(frame)
        except Exception:  # noqa: BLE001 - scapy raises many kinds of errors on odd bytes
            return None
        for layer in (IP, IPv6):
            if packet.haslayer(layer):
                return bytes(packet[layer])
        return None
