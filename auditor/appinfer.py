"""Which app (or site) a capture is of, inferred from evidence when ``--app-domain`` is not given.

The busiest domain is a poor guess: a news site's own CDN (``cdn-expressen.se``,
``bbci.co.uk``) or an ad SDK's beacon host outnumbers the site itself. So the
inference weighs, per registrable domain:

* the browser pages of a HAR (their titles name the page URL or the site);
* main HTML documents (what a browser navigated to);
* the first named connections of the session (an app talks to its own backend first);
* app identifiers in ``User-Agent`` and ``X-Requested-With`` headers;
* request volume, least, and less still for hosts that look like asset hosts.

Trackers, CDNs, hosting, security and platform services (OS updates,
connectivity checks, captive portals, push) are never the app. When nothing
is left, the inference says it cannot tell rather than guess.

:class:`AppEvidence` collects a bounded summary while records arrive, so the
analysis keeps no records; :meth:`AppEvidence.infer` concludes at the end.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from auditor.domains import is_local_host, matches_domain, registrable_domain
from auditor.records import Record, RecordKind

FIRST_CONNECTIONS = 5
"""Named connections at the start of the session that count as evidence."""
FIRST_KEPT = 40
"""Earliest connections kept, so that enough remain after trackers and platform hosts are set aside."""
MAX_PAGES = 200
MAX_AGENT_TOKENS = 50

PLATFORM_HOSTS: tuple[str, ...] = (
    # Connectivity checks and captive-portal probes of operating systems and browsers.
    "connectivitycheck.gstatic.com", "connectivitycheck.android.com", "clients1.google.com", "clients3.google.com",
    "clients4.google.com", "captive.apple.com", "msftconnecttest.com", "msftncsi.com", "detectportal.firefox.com",
    "nmcheck.gnome.org", "network-test.debian.org",
    # Time, OS updates, app stores, browser services and data-saver proxies.
    "time.android.com", "time.apple.com", "android.clients.google.com", "play.googleapis.com",
    "android.googleapis.com", "update.googleapis.com", "safebrowsing.googleapis.com", "googlezip.net",
    "datasaver.googleapis.com", "mesu.apple.com", "itunes.apple.com", "icloud.com", "windowsupdate.com",
    "update.microsoft.com", "push.apple.com", "mtalk.google.com", "mozilla.net", "firefox.com",
    "gvt1.com", "gvt2.com", "ocsp.pki.goog", "ocsp.digicert.com",
    # The interception proxy's own certificate page.
    "mitm.it",
)
"""Hosts every device talks to whatever app runs: never the app under audit."""

NOT_THE_APP_CATEGORIES = frozenset({"cdn", "cloud_hosting", "security", "platform_services", "consent_management"})

_ASSET_LABEL = re.compile(r"(cdn|static|cache|assets?|media|img|images|fonts?|edge)", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_DOMAIN_IN_TEXT = re.compile(r"\b((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b", re.IGNORECASE)
_PRODUCT_TOKEN = re.compile(r"([A-Za-z][\w.\-]{1,60})/\d")
_PACKAGE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){2,}$")
GENERIC_AGENTS = frozenset(
    s.lower()
    for s in (
        "Mozilla", "AppleWebKit", "Chrome", "Safari", "Version", "Mobile", "Gecko", "Firefox", "Dalvik", "okhttp",
        "CFNetwork", "Darwin", "curl", "Wget", "Edg", "EdgA", "OPR", "Java", "python-requests", "Python-urllib",
        "HeadlessChrome", "CriOS", "FxiOS", "SamsungBrowser", "Trident", "MSIE", "AndroidClient", "Android",
        "Linux", "iOS", "iPhone", "iPad", "Windows", "Macintosh", "WebView", "Electron", "node", "axios",
        "Go-http-client", "Apache-HttpClient", "UCBrowser", "YaBrowser", "Build", "MIUI", "Cronet", "grpc-java",
    )
)
"""Product tokens of browsers, runtimes and HTTP libraries: they name no app."""

NEVER, NAVIGATED_ONLY, CANDIDATE = "never", "navigated_only", "candidate"
"""What a host can be, for :meth:`AppEvidence.infer`."""


class HostStanding(NamedTuple):
    """What app inference needs to know of a host from the tracker database."""

    kind: str
    """``NEVER``, ``NAVIGATED_ONLY`` or ``CANDIDATE``."""
    company: str | None = None
    content_host: bool = False
    """True for a content-delivery host (its company's site may be the app; the host itself never is)."""

SITE_CONTENT_SHARE = 0.2
"""A social network's site counts as the app only when this share of requests loaded its own content."""

WEIGHTS = {"page": 6.0, "document": 3.0, "first": 3.0, "agent": 4.0, "volume": 2.0}
"""How much each kind of evidence counts (volume least: asset hosts and ad beacons are busy)."""


@dataclass(frozen=True)
class AppGuess:
    """The inferred app: a domain, how sure, and the evidence in words a reviewer reads."""

    domain: str | None
    confidence: str
    """``high``, ``medium``, ``low``, or ``none`` when the capture does not tell."""
    evidence: tuple[str, ...]
    candidates: tuple[tuple[str, float], ...] = ()
    app_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "confidence": self.confidence,
            "evidence": list(self.evidence),
            "candidates": [{"domain": d, "score": round(s, 2)} for d, s in self.candidates],
            "app_ids": list(self.app_ids),
            "confirm_with": f"--app-domain {self.domain}" if self.domain else "--app-domain DOMAIN",
        }


@dataclass
class AppEvidence:
    """A bounded summary of what points at the app, gathered record by record."""

    page_records: Counter[str] = field(default_factory=Counter)
    """Records under each HAR page title."""
    page_first_host: dict[str, str] = field(default_factory=dict)
    documents: Counter[str] = field(default_factory=Counter)
    """Host of each HTML document requested with GET."""
    earliest: list[tuple[float, int, str]] = field(default_factory=list)
    """A max-heap (negated) of the earliest named connections: (-time, -order, host)."""
    agent_tokens: Counter[str] = field(default_factory=Counter)
    volume: Counter[str] = field(default_factory=Counter)
    """Requests per host."""
    records: int = 0

    def observe(self, record: Record, host: str | None) -> None:
        """Take what ``record`` says about the app; ``host`` is its destination name (None if address only)."""
        self.records += 1
        if record.kind is RecordKind.DNS or not host:
            return
        self.volume[host] += 1
        title = record.page_title
        if title and (title in self.page_records or len(self.page_records) < MAX_PAGES):
            self.page_records[title] += 1
            self.page_first_host.setdefault(title, host)
        if (
            record.kind is RecordKind.HTTP
            and (record.method or "GET") == "GET"
            and (record.response_content_type or "").lower().startswith("text/html")
        ):
            self.documents[host] += 1
        entry = (-record.time, -self.records, host)
        if len(self.earliest) < FIRST_KEPT:
            heapq.heappush(self.earliest, entry)
        elif entry > self.earliest[0]:
            heapq.heapreplace(self.earliest, entry)
        for value in (record.header("X-Requested-With"), record.header("User-Agent")):
            for token in _app_tokens(value):
                if token in self.agent_tokens or len(self.agent_tokens) < MAX_AGENT_TOKENS:
                    self.agent_tokens[token] += 1

    def own_content_share(self, host: str, facts: Callable[[str], HostStanding]) -> float:
        """Share of all requests that went to content-delivery hosts of ``host``'s company."""
        company = facts(host).company
        total = sum(self.volume.values())
        if not company or not total:
            return 0.0
        own = sum(n for h, n in self.volume.items() if facts(h).content_host and facts(h).company == company)
        return own / total

    def infer(self, standing: Callable[[str], HostStanding]) -> AppGuess:
        """The app's domain from the evidence.

        ``standing(host).kind`` is ``NEVER`` for hosts that are never the app, ``NAVIGATED_ONLY`` for social
        networks (the app only when a browser went there or the session began there: their SDKs sit in
        many apps), and ``CANDIDATE`` otherwise.
        """
        memo: dict[str, HostStanding] = {}

        def facts(host: str) -> HostStanding:
            if host not in memo:
                memo[host] = standing(host)
            return memo[host]

        def look(host: str) -> str:
            return facts(host).kind

        def excluded(host: str) -> bool:
            return look(host) == NEVER

        def weak_excluded(host: str) -> bool:
            return look(host) != CANDIDATE

        scores: defaultdict[str, float] = defaultdict(float)
        kinds: dict[str, list[str]] = {}

        def credit(domain: str, kind: str, amount: float, words: str) -> None:
            if amount <= 0:
                return
            scores[domain] += WEIGHTS[kind] * amount
            said = kinds.setdefault(domain, [])
            if words not in said:
                said.append(words)

        page_total = sum(self.page_records.values())
        for title, count in self.page_records.most_common():
            host = host_named_in(title) or self.page_first_host.get(title)
            if host and not excluded(host):
                pages = sum(1 for t in self.page_records if (host_named_in(t) or self.page_first_host.get(t)) == host)
                credit(registrable_domain(host), "page", count / page_total,
                       f"browser page “{title}” ({count} of {page_total} requests"
                       f"{f', {pages} pages' if pages > 1 else ''})")
        documents = {h: n for h, n in self.documents.items() if not excluded(h)}
        if documents:
            top = max(documents.values())
            for host, count in documents.items():
                credit(registrable_domain(host), "document", count / top,
                       f"{count} web page document{'s' if count > 1 else ''} loaded from {host}")
        in_order = [host for _, _, host in sorted(self.earliest, reverse=True) if not excluded(host)]
        firsts = list(dict.fromkeys(in_order))[:FIRST_CONNECTIONS]  # distinct hosts, first contact first
        for rank, host in enumerate(firsts):
            if weak_excluded(host) and not (rank == 0 and self.own_content_share(host, facts) >= SITE_CONTENT_SHARE):
                # A social network's SDK call is no sign of the app (apps embed them); its site is, when the
                # session began there and mostly loaded that company's own content (reddit.com, redditstatic.com).
                continue
            credit(registrable_domain(host), "first", 1.0 / (rank + 1),
                   f"{'first' if rank == 0 else 'an early'} connection of the session went to {host}")
        candidates = {registrable_domain(h) for h in self.volume if not weak_excluded(h)}
        app_ids = tuple(token for token, _ in self.agent_tokens.most_common(5))
        for token in app_ids:
            for domain in candidates:
                match = token_names_domain(token, domain)
                if match:  # the domain named exactly counts fully, one that merely starts like it half
                    credit(domain, "agent", 1.0 if match == EXACT else 0.5,
                           f"the app identifies itself as “{token}” in its requests")
        volume: defaultdict[str, float] = defaultdict(float)
        requests: Counter[str] = Counter()  # for the evidence sentence: every request to the domain
        for host, count in self.volume.items():
            domain = registrable_domain(host)
            requests[domain] += count
            if not weak_excluded(host):
                volume[domain] += count / 2 if looks_like_asset_host(host) else count
        # A site's own content hosts (redditstatic.com for reddit.com) are never the app, but their traffic
        # supports the candidate run by the same company, at half weight like any asset host.
        by_company: dict[str, str] = {}
        companion: Counter[str] = Counter()
        for domain in scores.keys() | volume.keys():
            company = facts(domain).company
            if company:
                by_company.setdefault(company, domain)
        for host, count in self.volume.items():
            host_facts = facts(host)
            supported = by_company.get(host_facts.company or "") if host_facts.content_host else None
            if supported:
                volume[supported] += count / 2
                companion[supported] += count
        total = sum(self.volume.values())
        if volume:
            busiest = max(volume.values())
            for domain, weight in volume.items():
                more = f", {companion[domain]} more to the same company's content hosts" if companion[domain] else ""
                credit(domain, "volume", weight / busiest,
                       f"{requests[domain]} of {total} requests went to {domain}{more}")
        if not scores:
            return AppGuess(None, "none", _nothing_left(total), app_ids=app_ids)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        domain, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        strong = {"page", "document", "agent"} & {k for k in _kinds_of(kinds[domain])}
        confidence = _confidence(score, runner_up, bool(strong), len(kinds[domain]))
        if _shared_namespace(domain):
            domain = self._site_under(domain, excluded) or domain
        return AppGuess(domain, confidence, tuple(kinds[domain] if domain in kinds else kinds[ranked[0][0]]),
                        tuple(ranked[:5]), app_ids)

    def _site_under(self, domain: str, excluded: Callable[[str], bool]) -> str | None:
        """The busiest page or document host under a shared namespace such as ``ny.gov``, minus ``www.``."""
        hosts: Counter[str] = Counter()
        for title, count in self.page_records.items():
            host = host_named_in(title) or self.page_first_host.get(title)
            if host:
                hosts[host] += count
        hosts.update(self.documents)
        for host, _ in hosts.most_common():
            if matches_domain(host, domain) and not excluded(host):
                site = host.removeprefix("www.")
                return site if site != domain and matches_domain(site, domain) else None
        return None


def _shared_namespace(domain: str) -> bool:
    """True for a registrable domain that hosts many unrelated sites: a state's ``ny.gov``, ``ca.gov``.

    >>> _shared_namespace("ny.gov"), _shared_namespace("coverme.gov"), _shared_namespace("bbc.com")
    (True, False, False)
    """
    label, _, suffix = domain.partition(".")
    return len(label) <= 3 and (suffix in {"gov", "edu", "us", "mil"} or suffix.startswith(("gov.", "edu.")))


def _kinds_of(evidence: list[str]) -> set[str]:
    found = set()
    for words in evidence:
        if words.startswith("browser page"):
            found.add("page")
        elif "document" in words:
            found.add("document")
        elif words.startswith("the app identifies"):
            found.add("agent")
    return found


def _confidence(score: float, runner_up: float, strong: bool, kinds: int) -> str:
    """``high`` when pages, documents or app identifiers agree and no other domain comes close."""
    margin = score / runner_up if runner_up else float("inf")
    if strong and kinds >= 2 and margin >= 2:
        return "high"
    if (strong or kinds >= 2) and margin >= 1.3:
        return "medium"
    return "low"


def _nothing_left(total: int) -> tuple[str, ...]:
    if not total:
        return ("no named destination was seen",)
    return (
        f"all {total} requests went to trackers, content networks or operating-system services, "
        "which are never the app itself",
    )


def host_named_in(text: str) -> str | None:
    """The host a page title names: a URL in it, else a domain-like word.

    >>> host_named_in("First View for https://www.expressen.se"), host_named_in("Electronics | Walmart.com run 1")
    ('www.expressen.se', 'walmart.com')
    >>> host_named_in("Welcome") is None
    True
    """
    url = _URL_IN_TEXT.search(text)
    if url:
        host = urlsplit(url.group(0)).hostname
        if host:
            return host.lower().rstrip(".")
    word = _DOMAIN_IN_TEXT.search(text)
    return word.group(1).lower() if word else None


@lru_cache(maxsize=512)  # a session repeats a handful of User-Agent strings on every request
def _app_tokens(value: str | None) -> tuple[str, ...]:
    """Product tokens of a User-Agent (``KakaoTalk/4.9``) or a package name, minus browsers and libraries."""
    if not value:
        return ()
    value = value.strip()
    if _PACKAGE.match(value.lower()):
        return (value.lower(),)
    return tuple(t for t in _PRODUCT_TOKEN.findall(value)[:8] if t.lower() not in GENERIC_AGENTS)


EXACT, PARTIAL = "exact", "partial"


def token_names_domain(token: str, domain: str) -> str | None:
    """Whether an app token names the domain: ``exact``, ``partial`` or ``None``.

    Exact: a package ``com.example.app`` or a product ``Example`` for ``example.com``; partial: one name
    starts with the other (``KakaoTalk``, ``kakao.com``).

    >>> token_names_domain("com.quickplay.android", "quickplay.com"), token_names_domain("KakaoTalk", "kakao.com")
    ('exact', 'partial')
    >>> token_names_domain("Chrome", "example.com") is None
    True
    """
    token = token.lower()
    label = domain.split(".")[0]
    if len(label) < 3:
        return None
    if _PACKAGE.match(token):
        parts = token.split(".")
        if ".".join(reversed(parts[:2])) == domain or label in parts:
            return EXACT
        return None
    if token == label:
        return EXACT
    return PARTIAL if token.startswith(label) or label.startswith(token) else None


def looks_like_asset_host(host: str) -> bool:
    """True for hosts named like asset or cache hosts (``cdn-expressen.se``, ``static.bbci.co.uk``, ``9cache.com``)."""
    first_label = host.split(".")[0]
    domain_label = registrable_domain(host).split(".")[0]
    return bool(_ASSET_LABEL.search(first_label) or _ASSET_LABEL.search(domain_label))


def is_platform_host(host: str) -> bool:
    """True for connectivity checks, OS update, push and other services any device talks to."""
    return any(matches_domain(host, domain) for domain in PLATFORM_HOSTS)


def app_standing(host: str, category: str | None, is_tracker: bool, company: str | None = None) -> HostStanding:
    """Whether a host can be the app: never for local, platform, tracker, CDN and hosting hosts.

    A social network's own site is a tracker elsewhere but may be the site under audit: it counts only
    when a browser navigated there or the session started there.
    """
    if is_local_host(host) or is_platform_host(host) or category in NOT_THE_APP_CATEGORIES:
        return HostStanding(NEVER, company, content_host=category == "cdn" and not is_platform_host(host))
    if category == "social":
        return HostStanding(NAVIGATED_ONLY, company)
    return HostStanding(NEVER if is_tracker else CANDIDATE, company)


_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?:\.(?!-)[a-z0-9-]{1,63})*$")


def parse_app_domains(values: Iterable[str], notes: list[str] | None = None) -> tuple[str, ...]:
    """Validate and normalize ``--app-domain`` values; every command and the addon call this one function.

    A URL is taken as its host name, with a note saying so; anything else that is not a domain
    name raises ``ValueError`` naming it.

    >>> parse_app_domains(["Classroom.Example.", "cdn.classroom.example,api.classroom.example"])
    ('classroom.example', 'cdn.classroom.example', 'api.classroom.example')
    >>> notes = []
    >>> parse_app_domains(["https://www.google.com/"], notes), notes
    (('www.google.com',), ['--app-domain https://www.google.com/ is a URL: using its host name www.google.com'])
    >>> parse_app_domains(["not a domain"])
    Traceback (most recent call last):
    ValueError: 'not a domain' is not a domain name
    """
    domains: list[str] = []
    for value in values:
        for item in value.split(","):
            text = item.strip()
            domain = text.lower().strip(".")
            if not domain:
                continue
            if "://" in domain or "/" in domain:
                host = urlsplit(domain if "://" in domain else f"//{domain}").hostname or ""
                host = host.strip(".")
                if host and _DOMAIN.match(host):
                    if notes is not None:
                        notes.append(f"--app-domain {text} is a URL: using its host name {host}")
                    domain = host
            if not _DOMAIN.match(domain):
                raise ValueError(f"{text!r} is not a domain name")
            if domain not in domains:
                domains.append(domain)
    return tuple(domains)


CONFIDENCE_WORDS = {"high": "high confidence", "medium": "medium confidence", "low": "low confidence, a guess"}


def inference_sentences(app: dict[str, Any]) -> list[str]:
    """The report's ``app.inference`` in sentences for the terminal summary and the HTML page."""
    inference = app.get("inference")
    if not inference:
        return []
    if not inference.get("domain"):
        return [
            "Which app this is could not be told from the traffic: "
            + "; ".join(inference.get("evidence") or [])
            + ". Every destination is treated as a third party. Name the app with --app-domain DOMAIN."
        ]
    confidence = CONFIDENCE_WORDS.get(inference["confidence"], inference["confidence"])
    return [
        f"The app was taken to be {inference['domain']} ({confidence}) because: "
        + "; ".join(inference.get("evidence") or []) + ".",
        f"If that is wrong, name the app: {inference.get('confirm_with')}.",
    ]
