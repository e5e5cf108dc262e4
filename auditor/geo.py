"""Country of a server address, from offline data only.

The default source is the ``iptocc`` wheel: Regional Internet Registry
delegation data compiled into the package (IPv4 and IPv6, no download at run
time). Registry data names the country a block is *assigned* to, which for
cloud and CDN addresses may differ from where the server stands; a MaxMind or
DB-IP ``.mmdb`` file the user provides (``--geoip-db``) is consulted first
when given. docs/trackers-db.md ("Countries") explains the choice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from auditor.domains import is_local_address

LOCAL = "local"
"""Pseudo-country for private, loopback and link-local addresses."""


class CountryLookup(Protocol):
    """Anything that maps an IP address to an ISO 3166-1 alpha-2 code."""

    name: str

    def country(self, ip: str) -> str | None:
        """The country code, :data:`LOCAL`, or ``None`` when unknown."""
        ...


class NoCountryData:
    """Knows only which addresses are local; used when no IP database is available."""

    name = "none"

    def country(self, ip: str) -> str | None:
        """:data:`LOCAL` for local addresses, otherwise ``None``."""
        return LOCAL if is_local_address(ip) else None


class RegistryCountries:
    """Countries from the RIR delegation data embedded in the ``iptocc`` wheel.

    >>> lookup = RegistryCountries()
    >>> lookup.country("10.1.2.3"), lookup.country("::1"), lookup.country("not-an-ip")
    ('local', 'local', None)
    """

    name = "iptocc (Regional Internet Registry delegations)"

    def __init__(self) -> None:
        from iptocc import country_code

        self._country_code = country_code

    def country(self, ip: str) -> str | None:
        """The registry country of ``ip``; :data:`LOCAL` for local addresses."""
        if is_local_address(ip):
            return LOCAL
        code = self._country_code(located_address(ip))
        return code.upper() if code else None


NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052's well-known NAT64 prefix: an IPv6-only network reaches an IPv4 server through it."""


def located_address(ip: str) -> str:
    """The address whose country counts: the IPv4 server inside a NAT64 address, else ``ip`` itself.

    >>> located_address("64:ff9b::9765:798c"), located_address("[2001:db8::1]"), located_address("192.0.2.1")
    ('151.101.121.140', '2001:db8::1', '192.0.2.1')
    """
    bare = ip.strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    if isinstance(address, ipaddress.IPv6Address) and address in NAT64_PREFIX:
        return str(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return bare


class MmdbCountries:
    """Countries from a MaxMind GeoLite2/GeoIP2 or DB-IP country ``.mmdb`` file the user provides."""

    def __init__(self, path: Path) -> None:
        import maxminddb

        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ValueError(f"{path}: not a readable MaxMind/DB-IP .mmdb file ({exc})") from exc
        self.name = f"mmdb {path.name} ({self._reader.metadata().database_type})"

    def country(self, ip: str) -> str | None:
        """The country the file gives for ``ip`` (its registered country when no location)."""
        if is_local_address(ip):
            return LOCAL
        try:
            record: Any = self._reader.get(located_address(ip))
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        for key in ("country", "registered_country"):
            code = (record.get(key) or {}).get("iso_code")
            if code:
                return str(code).upper()
        return None

    def close(self) -> None:
        """Release the file."""
        self._reader.close()


class FirstKnownCountry:
    """Asks several lookups in order; the first that knows the address answers."""

    def __init__(self, lookups: Sequence[CountryLookup]) -> None:
        self.lookups = tuple(lookups)
        self.name = " then ".join(lookup.name for lookup in self.lookups)

    def country(self, ip: str) -> str | None:
        """The first answer of the lookups, in order."""
        for lookup in self.lookups:
            code = lookup.country(ip)
            if code:
                return code
        return None


def default_country_lookup(mmdb: Path | None = None) -> CountryLookup:
    """The best offline IP-to-country source: the user's ``.mmdb`` (if given), then registry data.

    Raises ``ValueError`` naming the file when ``mmdb`` cannot be read.
    """
    lookups: list[CountryLookup] = []
    if mmdb is not None:
        lookups.append(MmdbCountries(mmdb))
    try:
        lookups.append(RegistryCountries())
    except ImportError:
        lookups.append(NoCountryData())
    return lookups[0] if len(lookups) == 1 else FirstKnownCountry(lookups)
