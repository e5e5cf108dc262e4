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


def set_cookies_from_headers(headers: Headers) -> Headers:
    """The (name, value) of every ``Set-Cookie`` response header; attributes after ``;`` are dropped.

    >>> set_cookies_from_headers((("Set-Cookie", "IDE=AHWq; expires=Tue; path=/"), ("Server", "x")))
    (('IDE', 'AHWq'),)
    """
    pairs: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            for line in value.split("\n"):  # some HAR writers join repeated headers with newlines
                cookie, _, _attributes = line.partition(";")
                key, sep, val = cookie.partition("=")
                if sep and key.strip():
                    pairs.append((key.strip(), val.strip().strip('"')))
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
    """Tell whether ``host`` is an IPv4 or IPv6 address rather than a name."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_HTTP_VERSIONS = {
    "http/1.0": "HTTP/1.0", "1.0": "HTTP/1.0",
    "http/1.1": "HTTP/1.1", "1.1": "HTTP/1.1",
    "h2": "HTTP/2", "h2c": "HTTP/2", "http/2": "HTTP/2", "http/2.0": "HTTP/2", "2": "HTTP/2", "2.0": "HTTP/2",
    "h3": "HTTP/3", "http/3": "HTTP/3", "http/3.0": "HTTP/3", "3": "HTTP/3",
}
_UNKNOWN_HTTP_VERSIONS = frozenset({"", "http", "unknown", "ori", "-"})


def normalize_http_version(value: object) -> str:
    """One spelling per HTTP version, whatever the writer used; ``HTTP`` when it is unknown.

    HAR writers say ``h2``, ``HTTP/2.0``, ``1.1``, ``unknown`` or leave it empty;
    mitmproxy says ``HTTP/2.0``; reports should not list one protocol five ways.

    >>> [normalize_http_version(v) for v in ("h2", "HTTP/2.0", "1.1", "http/1.1", "h3", "unknown", None)]
    ['HTTP/2', 'HTTP/2', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/3', 'HTTP', 'HTTP']
    """
    text = str(value or "").strip()
    lowered = text.lower()
    if lowered in _UNKNOWN_HTTP_VERSIONS:
        return "HTTP"
    return _HTTP_VERSIONS.get(lowered, text.upper())
