"""Host name helpers built on tldextract, strictly offline.

tldextract is built with no suffix-list URL and no cache, so it uses the
Public Suffix List snapshot that ships inside the package and never touches
the network or the disk.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import tldextract

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)

LOCAL_SUFFIXES = (".local", ".lan", ".home.arpa", ".internal", ".localhost", ".localdomain")


@lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """The registrable domain (eTLD+1) of a host; the host itself for IPs and bare names.

    >>> registrable_domain("a.b.app-measurement.com"), registrable_domain("x.bbc.co.uk")
    ('app-measurement.com', 'bbc.co.uk')
    >>> registrable_domain("192.0.2.7"), registrable_domain("printer.local")
    ('192.0.2.7', 'printer.local')
    >>> registrable_domain("api.classroom.example")
    'classroom.example'
    """
    host = host.lower().rstrip(".")
    if _ip_or_none(host) is not None:
        return host
    result = _EXTRACT(host)
    if result.domain and result.suffix:
        return f"{result.domain}.{result.suffix}"
    # A suffix the list does not know (.example, .test, a private TLD): take the last two labels.
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) > 2 else host


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


_LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "0.0.0.0/32",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
"""Addresses that never leave the local network.

Deliberately narrower than ``ipaddress``'s ``is_private``, which also counts the documentation
and benchmarking ranges: traffic to those is treated as leaving the device, like any public address.
"""


def is_local_address(ip: str | None) -> bool:
    """True for private-use, loopback, link-local and multicast addresses.

    >>> is_local_address("10.0.0.4"), is_local_address("::1"), is_local_address("8.8.8.8")
    (True, True, False)
    >>> is_local_address("192.0.2.9"), is_local_address("fe80::1%eth0")
    (False, True)
    """
    if not ip:
        return False
    address = _ip_or_none(ip.split("%", 1)[0])
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _LOCAL_NETWORKS if network.version == address.version)


def is_local_host(host: str | None) -> bool:
    """True for names that only mean something on the local network."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if _ip_or_none(host) is not None:
        return is_local_address(host)
    return host == "localhost" or "." not in host or host.endswith(LOCAL_SUFFIXES)


def matches_domain(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or a subdomain of it.

    >>> matches_domain("api.school.example", "school.example"), matches_domain("evilschool.example", "school.example")
    (True, False)
    """
    return host == domain or host.endswith("." + domain)
