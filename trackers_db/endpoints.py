"""Endpoints: a host plus a path prefix, for hosts that serve both a site and a tracker.

``www.google.com`` serves search pages, but ``www.google.com/ads/ga-audiences`` is
Google Analytics' remarketing audience beacon. Host-level entries cannot say that,
so curated company files may add ``[[endpoint]]`` tables::

    [[endpoint]]
    host = "google.com"              # matches the host and its subdomains
    path = "/ads/ga-audiences"       # a path prefix; the longest matching prefix wins
    name = "Google Analytics audiences (remarketing)"
    category = "advertising"
    reference = "https://support.google.com/analytics/answer/2611268"

The company is the file's company. Destinations stay keyed by host; the analysis
records which endpoints a destination's requests used (see docs/trackers-db.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from trackers_db.vocabulary import CATEGORIES, is_tracking_category


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One curated host + path prefix with its own service and category."""

    host: str
    path: str
    name: str
    category: str
    company: str
    parent: str | None
    country: str | None
    reference: str

    @property
    def is_tracker(self) -> bool:
        return is_tracking_category(self.category)

    def describe(self) -> str:
        """One line for ``auditor db lookup``."""
        return f"{self.company} — {self.name} ({self.category}; path {self.host}{self.path}…)"


def load_endpoints(folder: Path) -> tuple[Endpoint, ...]:
    """Every ``[[endpoint]]`` of the curated files in ``folder``; ``ValueError`` names a bad one."""
    found: list[Endpoint] = []
    for path in sorted(folder.glob("*.toml")):
        company = tomllib.loads(path.read_text(encoding="utf-8"))
        for table in company.get("endpoint", []):
            host, prefix, category = table.get("host"), table.get("path"), table.get("category")
            if not (isinstance(host, str) and isinstance(prefix, str) and prefix.startswith("/")):
                raise ValueError(f"{path}: an [[endpoint]] needs a host and a path starting with '/'")
            if category not in CATEGORIES:
                raise ValueError(f"{path}: endpoint {host}{prefix} has unknown category {category!r}")
            found.append(
                Endpoint(
                    host=host.lower(), path=prefix, name=str(table.get("name") or f"{host}{prefix}"),
                    category=category, company=str(company.get("name")), parent=company.get("parent"),
                    country=company.get("country"), reference=str(table.get("reference") or company.get("reference")),
                )
            )
    # Longest prefix first, so the first match is the most specific.
    return tuple(sorted(found, key=lambda e: (-len(e.path), e.host, e.path)))


@lru_cache(maxsize=1)
def curated_endpoints() -> tuple[Endpoint, ...]:
    """The endpoints shipped with the package."""
    from trackers_db.database import curated_dir

    return load_endpoints(curated_dir())


def endpoint_for(host: str, path: str, endpoints: tuple[Endpoint, ...] | None = None) -> Endpoint | None:
    """The most specific endpoint for a request to ``host`` with URL path ``path``, if any.

    >>> endpoint_for("www.google.com", "/ads/ga-audiences?v=1").name
    'Google Analytics audiences (remarketing)'
    >>> endpoint_for("www.google.com", "/search?q=x") is None
    True
    """
    host = host.lower().rstrip(".")
    for endpoint in curated_endpoints() if endpoints is None else endpoints:
        if (host == endpoint.host or host.endswith("." + endpoint.host)) and path.startswith(endpoint.path):
            return endpoint
    return None


def split_target(text: str) -> tuple[str, str | None]:
    """A lookup argument as (host, path): a URL, ``host/path``, or a bare host (path ``None``).

    >>> split_target("https://www.google.com/ads/ga-audiences?x=1"), split_target("google.com")
    (('www.google.com', '/ads/ga-audiences'), ('google.com', None))
    >>> split_target("www.facebook.com/tr")
    ('www.facebook.com', '/tr')
    """
    if "://" not in text and "/" not in text:
        return text.strip().lower().rstrip("."), None
    parts = urlsplit(text if "://" in text else f"//{text}")
    return (parts.hostname or "").rstrip("."), parts.path or "/"
