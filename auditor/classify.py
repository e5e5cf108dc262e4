"""Classification of destinations: party, company, category, countries.

Works on host names, addresses and DNS facts only; knows nothing of where a
record came from.

Party rules, in order:

* local network names and private addresses are ``local``;
* the app's own domains (``--app-domain``, an app profile, or inferred by
  the analysis and labelled so) and every other domain the database
  attributes to the same company (or to a company the profile names) are
  ``first`` party;
* every other named host is ``third`` party, with ``company=None`` when no
  source knows it (kept and shown as unknown, never dropped);
* an address with no name is ``unknown`` unless a list names its owner.

Party and purpose are separate facts: ``party`` says whose a destination is
(with ``party_basis`` saying why a first party is one), ``category`` says what
the service is for. Rules judge personal data sent to an advertising or
analytics service by its category, whoever owns it (docs/rules.md).

The proxy's own certificate page (``mitm.it``) is the tool's traffic, not the
app's: it is ``local`` with ``tool_traffic`` set, and never a third party.

A first-party name whose CNAME chain (seen in DNS answers, or recorded by an
imported list such as DuckDuckGo's ``cnames``) ends at a tracker is a
*cloaked tracker*: it is attributed to the tracker's company.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path

from auditor.domains import is_local_address, is_local_host, matches_domain, registrable_domain
from trackers_db.database import Match, TrackerDatabase, Verdict, company_key
from trackers_db.vocabulary import Category

STAY_THIRD_PURPOSES: frozenset[str] = frozenset(
    {"advertising", "analytics", "attribution", "session_replay", "data_broker", "social", "fingerprinting",
     "tag_manager"}
)
"""Purposes (categories) for which "same company as the app" never makes a destination first party.

The rule file's ``[party] same_company_stays_third`` replaces this list (docs/rules.md).
"""

TOOL_HOSTS = frozenset({"mitm.it"})
"""Hosts the proxy answers itself (its certificate page): the tool's traffic, not the app's."""


class PartyBasis(StrEnum):
    """Why a first-party destination counts as the app's own (``destinations[].party_basis``)."""

    APP_DOMAIN = "app_domain"
    """One of the app's domains (given, from a profile, or inferred) or a subdomain of one."""
    SAME_COMPANY = "same_company"
    """Another domain of the company the app's domains belong to, per the tracker database or the app profile."""


FIRST_PARTY_REASONS = {"app domain": PartyBasis.APP_DOMAIN, "same company as the app": PartyBasis.SAME_COMPANY}


class Party(str, Enum):
    """Whose a destination is, relative to the app under audit."""

    FIRST = "first"
    THIRD = "third"
    LOCAL = "local"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HostClassification:
    """Everything known about one destination host."""

    host: str
    """Host name, or the server address when no name is known."""
    registrable_domain: str
    """eTLD+1 of the host (the host itself for addresses)."""
    party: Party
    """First party (the app's own), third party, local network, or unknown."""
    company: str | None
    """Company operating the destination, or ``None`` when no source knows it."""
    parent: str | None
    """Ultimate parent company."""
    category: Category | None
    """What the service is for (its purpose), from the tracker database vocabulary."""
    is_tracker: bool
    """True when the destination (or the tracker it is a CNAME alias of) is in a tracking category."""
    hq_country: str | None
    """Headquarters country of the company."""
    matched_by: tuple[Match, ...]
    """Database rules that matched, deciding one first."""
    cloaked_tracker: str | None = None
    """For a first-party name whose DNS CNAME points at a tracker: the tracker's name."""
    service: str | None = None
    """Name of the service or SDK, when the database knows it."""
    first_party_by: str | None = None
    """Why a first-party host is first party: ``app domain`` or ``same company as the app``."""
    same_company_as_app: bool = False
    """True when the company owning it owns the app's domains too (whether or not that made it first party)."""
    tool_traffic: bool = False
    """True for the proxy's own pages (``mitm.it``): recorded, but neither the app's traffic nor a third party."""

    @property
    def party_basis(self) -> PartyBasis | None:
        """Why a first-party destination is first party, as a value; ``None`` for other parties."""
        return FIRST_PARTY_REASONS.get(self.first_party_by or "")

    @property
    def same_company(self) -> bool:
        """True when the app's company owns it but it is not one of the app's domains (any party)."""
        return self.same_company_as_app and self.party_basis is not PartyBasis.APP_DOMAIN


@dataclass(frozen=True, slots=True)
class AppProfile:
    """Who the app under audit is, from a small TOML file reused across audits.

    ::

        name = "Example Classroom"
        domains = ["classroom.example", "cdn.classroom.example"]
        companies = ["Example Learning"]  # optional
    """

    name: str | None
    """The app's name, for reports."""
    domains: tuple[str, ...]
    """The app's own domains (their subdomains count too)."""
    companies: tuple[str, ...] = ()
    """Companies whose every domain (per the tracker database) is first party."""


def load_app_profile(path: Path) -> AppProfile:
    """Read an app profile; ``ValueError`` naming the file when it is not one."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a readable app profile ({exc})") from exc
    name, domains, companies = document.get("name"), document.get("domains", []), document.get("companies", [])
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{path}: 'name' must be a string")
    for key, values in (("domains", domains), ("companies", companies)):
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"{path}: '{key}' must be a list of non-empty strings")
    if not domains and not companies:
        raise ValueError(f"{path}: an app profile needs 'domains' or 'companies'")
    return AppProfile(name, tuple(d.strip().lower().strip(".") for d in domains), tuple(c.strip() for c in companies))


class Classifier:
    """Classifies hosts against the tracker database and the app's own domains."""

    def __init__(
        self,
        database: TrackerDatabase,
        app_domains: Iterable[str] = (),
        app_companies: Iterable[str] = (),
        same_company_stays_third: Iterable[str] = STAY_THIRD_PURPOSES,
    ) -> None:
        self.database = database
        self.same_company_stays_third = frozenset(same_company_stays_third)
        self.app_domains: tuple[str, ...] = tuple(sorted({d.lower().strip(".") for d in app_domains if d.strip()}))
        # Compared without legal suffixes: lists spell one company differently ("Google", "Google LLC").
        self.app_companies: frozenset[str] = frozenset(
            company_key(v.company) for v in (database.lookup(d) for d in self.app_domains) if v and v.company
        ) | {company_key(c) for c in app_companies if c.strip()}

    def first_party_reason(self, host: str, verdict: Verdict | None) -> str | None:
        """Why ``host`` is first party (an app domain, or the same company), or ``None``."""
        if any(matches_domain(host, domain) for domain in self.app_domains):
            return "app domain"
        if verdict and verdict.company and company_key(verdict.company) in self.app_companies:
            return "same company as the app"
        return None

    def is_first_party(self, host: str, verdict: Verdict | None) -> bool:
        """True for the app's own domains and other domains of the same company."""
        return self.first_party_reason(host, verdict) is not None

    def classify(self, host: str | None, ips: Sequence[str] = (), cnames: Sequence[str] = ()) -> HostClassification:
        """Classify a destination by name (and its addresses and CNAME chain, when known)."""
        name = (host or (ips[0] if ips else "unknown")).lower().rstrip(".")
        # Lists also carry some tracker addresses, so an unnamed server is looked up by address.
        verdict = self.database.lookup(name) if host or ips else None
        if host and not cnames:
            known = self.database.known_cname(name)
            cnames = (known,) if known else ()
        cloaked: str | None = None
        cname_verdict: Verdict | None = None
        for alias in cnames:
            candidate = self.database.lookup(alias)
            if candidate and candidate.is_tracker:
                cname_verdict, cloaked = candidate, alias
                break
        first_party_by = self.first_party_reason(name, verdict) if host is not None else None
        same_company_as_app = bool(verdict and verdict.company and company_key(verdict.company) in self.app_companies)
        stays_third = bool(verdict and verdict.category in self.same_company_stays_third)
        if first_party_by == "same company as the app" and stays_third:
            # Owning the app does not change what an ad or analytics service does with the data it receives.
            first_party_by = None
        local_by_address = host is None and bool(ips) and all(is_local_address(ip) for ip in ips)
        tool_traffic = host is not None and name in TOOL_HOSTS
        if tool_traffic or local_by_address or (host is not None and is_local_host(host)):
            party = Party.LOCAL
        elif first_party_by is not None:
            party = Party.FIRST
        elif host is None and verdict is None:
            party = Party.UNKNOWN
        else:
            party = Party.THIRD
        effective = verdict
        if cname_verdict is not None and (verdict is None or not verdict.is_tracker):
            # The CNAME target is who really receives the data.
            effective = cname_verdict
        else:
            cloaked = None
        return HostClassification(
            host=name,
            registrable_domain=registrable_domain(name),
            party=party,
            company=effective.company if effective else None,
            parent=effective.parent if effective else None,
            category=Category.of(effective.category) if effective else None,
            is_tracker=bool(effective and effective.is_tracker),
            hq_country=effective.country if effective else None,
            matched_by=effective.matches if effective else (),
            cloaked_tracker=cloaked if party is Party.FIRST else None,
            service=effective.service if effective else None,
            first_party_by=first_party_by if party is Party.FIRST else None,
            same_company_as_app=same_company_as_app,
            tool_traffic=tool_traffic,
        )
