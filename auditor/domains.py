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
    """
    host = host.lower().rstrip(".")
    if _ip_or_none(host) is not None:
        return host
    result = _EXTRACT(host)
    if result.domain and result.suffix:
        return f"{result.domain}.{result.suffix}"
    return host


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def is_local_address(ip: str | None) -> bool:
    """True for private, loopback, link-local and similar non-Internet addresses.

    >>> is_local_address("10.0.0.4"), is_local_address("::1"), is_local_address("8.8.8.8")
    (True, True, False)
    """
    if not ip:
        return False
    address = _ip_or_none(ip)
    if address is None:
        return False
    return address.is_private or address.is_loopback or address.is_link_local or address.is_multicast


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
