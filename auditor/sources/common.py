"""Small helpers shared by the sources that see HTTP requests."""

from __future__ import annotations

from urllib.parse import urlsplit

from auditor.records import Headers


def parse_cookie_header(value: str) -> Headers:
    """Split a ``Cookie`` header into (name, value) pairs.

    >>> parse_cookie_header("a=1; b=two=2;flag")
    (('a', '1'), ('b', 'two=2'), ('flag', ''))
    """
    pairs = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, val = part.partition("=")
        pairs.append((name.strip(), val.strip()))
    return tuple(pairs)


def cookies_from_headers(headers: Headers) -> Headers:
    """All cookies of all ``Cookie`` headers."""
    pairs: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "cookie":
            pairs.extend(parse_cookie_header(value))
    return tuple(pairs)


def host_of_url(url: str) -> str | None:
    """Lowercase host of a URL, without brackets or port; ``None`` if it has none.

    >>> host_of_url("https://API.Example.com:8443/x?y=1"), host_of_url("http://[2001:db8::1]/")
    ('api.example.com', '2001:db8::1')
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address written as a host."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
