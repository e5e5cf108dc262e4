"""Country of a server address, from offline data only."""

from __future__ import annotations

from typing import Protocol

from auditor.domains import is_local_address

LOCAL = "local"
"""Pseudo-country for private, loopback and link-local addresses."""


class CountryLookup(Protocol):
    """Anything that maps an IP address to an ISO 3166-1 alpha-2 code."""

    def country(self, ip: str) -> str | None:
        """The country code, :data:`LOCAL`, or ``None`` when unknown."""
        ...


class NoCountryData:
    """Knows only which addresses are local; used when no IP database is available."""

    name = "none"

    def country(self, ip: str) -> str | None:
        return LOCAL if is_local_address(ip) else None


def default_country_lookup() -> CountryLookup:
    """The best offline IP-to-country source installed."""
    return NoCountryData()
