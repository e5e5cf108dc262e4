"""Identifiers recognised by how they behave across requests, under any key name.

A value that identifies a browser, device, installation or user behaves in a
recognisable way: it looks random, it comes back unchanged in request after
request (often for minutes), a server may have set it as a cookie that the
client then sends back, and it may travel to several companies. Key names do
not matter here: ``KADUSERCOOKIE``, ``khaos`` and ``i`` are as good as ``user_id``.

Values that look random but are not identifiers are set aside, each with the
kind it belongs to: timestamps, version strings, content hashes, cache busters,
per-request nonces and request IDs, session IDs, page or content IDs (they are
in the page address), and constants every installation sends (app IDs, API
keys, analytics property IDs).

State is bounded: at most :data:`MAX_VALUES` distinct values are tracked; past
that, new values are ignored and :attr:`BehaviourIdentifierDetector.cap_note`
says so (the report notes it).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from auditor.detect import Conclusion, CrossRequestDetector, DetectionContext, Where
from auditor.detect.fields import Field, iter_fields, key_names
from auditor.domains import registrable_domain
from auditor.records import Record, RecordKind

MAX_VALUES = 20000
"""Distinct candidate values tracked; each costs a few hundred bytes."""
MAX_PLACES_PER_VALUE = 24
"""Distinct (destination, part, key) places kept per value; more places only count."""
MAX_KEYS = 20000
"""Distinct (destination, part, key) slots whose value churn is tracked."""
MAX_CHURN_VALUES = 64
"""Distinct values remembered per slot to tell a per-request nonce from a stable value."""
MAX_PAGE_TOKENS = 20000
"""Tokens of page addresses (Referer, Origin) remembered: values found there are content IDs."""
MAX_SERVER_SET = 20000
"""Cookie values servers set that are remembered, to see the client send them back."""

DETECTOR = "behaviour"
"""Detector name of identifiers found by behaviour."""
SYNC_DETECTOR = "id-sync"
"""Detector name of the same identifier reaching several companies (the ``id-synchronisation`` rule)."""

MIN_LENGTH = 10
MAX_LENGTH = 200
LONG_ENOUGH_SPAN = 30.0
"""Seconds a value must stay unchanged to count as stable over time."""

_ID_CHARS = re.compile(r"^[A-Za-z0-9._:+/=%~*-]+$")
_SEPARATORS = re.compile(r"[^A-Za-z0-9._:+/=%~*-]+")
MAX_TOKENS = 8
"""Parts of a compound value (``uuid#time#1``, ``a&b&c``) looked at, each on its own."""
_DIGITS = re.compile(r"^\d+$")
_DECIMAL_TIME = re.compile(r"^\d{10}(?:\.\d{1,6})?$|^\d{13}(?:\.\d{1,3})?$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_VERSION = re.compile(r"^[vV]?\d{1,5}(?:[._]\d{1,5}){1,4}(?:[-+_.][A-Za-z][\w.]*)?$")
_RELEASE_TAG = re.compile(r"(?i)(?:^|[-_.])(?:release|snapshot|beta|alpha|rc\d*)(?:$|[-_.])")
"""``20200129-19-RELEASE``: a build named for its release channel."""
_DECIMAL = re.compile(r"^-?\d{1,5}\.\d+$")
"""``0.4778393351800554``: a measurement, ratio or random fraction; an ID's digits do not follow a small whole part."""
_HOST_PATH = re.compile(r"(?i)^[a-z0-9-]+(?:\.[a-z0-9-]+)+/")
"""``nexus.example.com/site/10170/code/``: an address without its scheme."""
_BUILD_STAMP = re.compile(r"^[A-Za-z]{1,6}\d{0,3}(?:\.\d{1,4}){1,3}\.(?:19|20)\d{6,10}$")
"""``ut4.42.201710280321``: a product, its version and the build's date and time."""
_PRODUCT_VERSION = re.compile(r"^[A-Za-z][\w.-]*/[vV]?\d+(?:\.\w+)*$")
_FILE_NAME = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,4}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TWO_NUMBERS = re.compile(r"^\d{6,}\.\d{6,}$")
"""``1234567890.1612345678``: the Google Analytics client ID shape (random number, first-visit time)."""
_INTEGRITY = re.compile(r"^sha(?:256|384|512)-")

_APP_CONSTANT_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^UA-\d{4,10}-\d{1,4}$"), "a Google Analytics property ID"),
    (re.compile(r"^G-[A-Z0-9]{6,12}$"), "a Google Analytics 4 measurement ID"),
    (re.compile(r"^GTM-[A-Z0-9]{4,10}$"), "a Google Tag Manager container ID"),
    (re.compile(r"^(?:AW|DC)-\d{6,12}$"), "a Google Ads account ID"),
    (re.compile(r"^ca-pub-\d{10,20}$"), "a Google AdSense publisher ID"),
    (re.compile(r"^AIza[0-9A-Za-z_-]{35}$"), "a Google API key"),
    (re.compile(r"^NRJS-[0-9a-f]{17}$"), "a New Relic browser key"),
)
_APP_CONSTANT_KEYS: dict[str, str] = {
    **dict.fromkeys(("appid", "applicationid", "appkey", "bundleid", "packagename"), "an app ID"),
    **dict.fromkeys(("apikey", "apitoken", "writekey", "clientkey", "sdkkey", "key"), "an API key"),
    **dict.fromkeys(("tid", "trackingid", "measurementid", "propertyid", "pixelid", "containerid"),
                    "an analytics property ID"),
    **dict.fromkeys(("siteid", "publisherid", "pubid", "partnerid", "accountid", "advertiserid", "campaignid"),
                    "a site, publisher or account ID"),
    **dict.fromkeys(("gtm", "gtmversion"), "a tag-manager build ID"),
    **dict.fromkeys(("pixelcode", "pixelcodes"), "a pixel ID"),
    **dict.fromkeys(("label", "conversionlabel"), "an ad conversion label"),
    **dict.fromkeys(("orgid", "mcorgid", "dorgid", "imsorgid"), "an Adobe Experience Cloud organisation ID"),
    **dict.fromkeys(("extractorid", "marketerid"), "a pixel's or advertiser's account ID"),
    **dict.fromkeys(("pid", "pids", "projectid", "accttag", "accounttag", "tagid"), "a pixel, project or account ID"),
}
_SESSION_KEYS = re.compile(
    r"session|sessconf|sid$|sessid|^dds$|csrf|xsrf|crumb|^awsalb|^awselb|^ts[0-9a-f]{6,}$|^nsc|^bigipserver|servedby"
    r"|^route(?:id)?$|^jsid|^utm[bcz]$"
)
"""Sessions, anti-forgery tokens, load-balancer stickiness (``AWSALB``, F5 ``TS…``/``BIGipServer…``, Citrix
``NSC_…``, ``ServedBy``) and legacy Google Analytics' session and campaign cookies (``__utmb``, ``__utmz``): one
visit long, or the same for every visitor of a site."""
_API_KEY_NAMES = re.compile(r"(?:api|public|client|sentry|site|app)key$")
_AD_PLACEMENT_KEYS = re.compile(r"adunit|placement|creative|lineitem|^crid$|^crd$|zoneid|slotid|moatclientlevel")
"""Ad units, placements, creatives and line items: the same for every visitor who sees that ad."""
_EXPERIMENT_KEYS = re.compile(r"testgroup|experiment|variant|bucket|abtest|^exp$|cohort|treatment")
"""A/B tests: a visitor is put in one of a few groups; the group's name is shared by everyone in it."""
_CONSENT_KEYS = re.compile(r"consent|usprivacy|^gpp|optanon|^cmp|^tcf|^euconsent")
"""Consent strings (IAB TCF, US Privacy, GPP): the visitor's choices, the same for everyone who chose alike."""
_PAGE_ADDRESS_KEYS = frozenset(
    {"dl", "dr", "dp", "url", "uri", "ref", "referrer", "referer", "location", "href", "pageurl",
     "documentlocation", "documentreferrer"}
)
"""Parameters carrying a page's address; what is in it is the site's own (a page token, a campaign tag)."""
_INNER_NAME = re.compile(r"^([A-Za-z_][\w-]{0,40})=([^=].*[^=])$")
"""``name=value`` packed into one value (``gdpr_consent=BOb…``, ``ord=3988…``); padded base64 ends in ``=``."""
_LOAD_BALANCER_PREFIXES = ("nsc_", "bigipserver")
"""Whole cookie names (their tail is an encoded pool name, ``NSC_pbt.fvd1ef…``): Citrix and F5 stickiness."""
_CONTENT_KEYS = re.compile(r"^page$|slug|pageid|articleid|contentid|postid|itemid|productid|videoid|wrappername")
_CACHE_BUSTER_KEYS = frozenset(
    {"cb", "cachebuster", "cachebust", "bust", "nocache", "rnd", "rand", "random", "ord", "correlator", "scor", "z",
     "r", "_", "t", "ts", "timestamp", "time", "dt"}
)
_REQUEST_ID_KEYS = re.compile(
    r"nonce|loadid|pageload|mboxpage|^plid$|requestid|reqid|^rid$|eventid|messageid|msgid|traceid|spanid|insertid|dedup|pageviewid|^pvid$|impressionid"
    r"|^impid$|auctionid|bidid|transactionid|^jti$|callback|jsonp"
)
_HASH_KEYS = re.compile(r"hash|checksum|md5|sha1|sha256|etag|integrity|digest|signature|^sig$")
_VERSION_KEYS = re.compile(r"version|^ver$|^v$|build|release|sdk")
_SKIP_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "user-agent", "referer", "origin", "accept", "accept-language",
     "cache-control", "pragma", "content-type", "if-none-match", "if-modified-since", "if-match", "range",
     "dnt", "x-client-data", "x-requested-with"}
)
"""Headers whose values are credentials (the key-name rules report those), page addresses, or browser
capabilities; ``X-Client-Data`` is Chrome's field-trial header, shared by many browsers; ``X-DevTools-*``
headers are added by the browser's developer tools that recorded a HAR, never sent by the page."""
_SKIP_HEADER_PREFIXES = ("sec-", "accept-", "access-control-", "x-devtools-")


@dataclass(slots=True)
class _Place:
    """Where one value went: one destination, request part and key."""

    count: int
    first_seen: float
    encrypted: bool
    company: str | None
    encoding: str


@dataclass(slots=True)
class _Sighting:
    """What was seen of one candidate value."""

    requests: int = 0
    first: float = math.inf
    last: float = 0.0
    last_record: int = -1
    places: dict[tuple[str, Where, str], _Place] = field(default_factory=dict)
    extra_places: int = 0
    labels: set[str] = field(default_factory=set)
    """Who received it: the company, else the registrable domain."""
    companies: set[str] = field(default_factory=set)
    set_by: str | None = None
    """Destination whose server set it as a cookie before the client sent it."""
    in_cookie: bool = False


@dataclass(slots=True)
class _Churn:
    """How the values at one (destination, part, key) slot change from request to request."""

    requests: int = 0
    values: set[int] = field(default_factory=set)
    overflow: bool = False

    @property
    def changes_every_request(self) -> bool:
        return self.requests >= 2 and not self.overflow and len(self.values) == self.requests


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A random-looking value set aside as not an identifier, and why."""

    kind: str
    """What it is in words, e.g. ``timestamp`` or ``app constant (a Google Analytics property ID)``."""
    destination: str
    where: Where
    key: str
    masked_value: str
    count: int


def shape_exclusion(key: str, value: str) -> str | None:
    """The kind of non-identifier ``value`` is by its shape and key, or ``None`` when it may be an identifier.

    >>> shape_exclusion("ts", "1612345678123"), shape_exclusion("v", "18.0.0.232")
    ('timestamp', 'version string')
    >>> shape_exclusion("tid", "UA-1234567-1"), shape_exclusion("cid", "1234567890.1612345678") is None
    ('app constant (a Google Analytics property ID)', True)
    """
    names = key_names(key)
    name = names[0] if names else ""
    if len(names) >= 2 and names[1] + name in _APP_CONSTANT_KEYS:
        name = names[1] + name  # context.pixel.code -> pixelcode
    if (_DECIMAL_TIME.match(value) and _plausible_time(value)) or _ISO_TIME.match(value):
        return "timestamp"
    if _DECIMAL.match(value) and not _TWO_NUMBERS.match(value):
        return "a decimal number (a measurement or ratio)"
    if (_VERSION.match(value) and not _TWO_NUMBERS.match(value)) or _PRODUCT_VERSION.match(value) or (
        _BUILD_STAMP.match(value) or _RELEASE_TAG.search(value)
    ) or (
        _VERSION_KEYS.search(name)
    ):
        return "version string"
    for pattern, what in _APP_CONSTANT_SHAPES:
        if pattern.match(value):
            return f"app constant ({what})"
    if name in _APP_CONSTANT_KEYS:
        return f"app constant ({_APP_CONSTANT_KEYS[name]})"
    if _INTEGRITY.match(value) or _HASH_KEYS.search(name):
        return "content hash"
    if any(_SESSION_KEYS.search(n) for n in names[:2]) or key.lower().startswith(_LOAD_BALANCER_PREFIXES):
        return "session ID, anti-forgery or load-balancer token (lasts one visit)"
    if _CONTENT_KEYS.search(name):
        return "page or content ID"
    if name in _CACHE_BUSTER_KEYS or key in _CACHE_BUSTER_KEYS:
        return "cache buster"
    if _REQUEST_ID_KEYS.search(name):
        return "request ID or nonce"
    if _CONSENT_KEYS.search(name):
        return "consent state (the visitor's privacy choices)"
    if _EXPERIMENT_KEYS.search(name):
        return "A/B test group"
    if _AD_PLACEMENT_KEYS.search(name):
        return "ad unit, placement or creative ID"
    if _API_KEY_NAMES.search(name):
        return "app constant (an API key)"
    if name in _PAGE_ADDRESS_KEYS:
        return "page address (it carries the site's own page address)"
    inner = _INNER_NAME.match(value)
    if inner and inner.group(1).lower() != key.lower():
        if not looks_random(inner.group(2)):
            return "setting (a name and a short value, such as a tag's source account)"
        return shape_exclusion(inner.group(1), inner.group(2))
    if carries_no_id(value):
        return "settings, counts or dates (no part of it tells one browser from another)"
    return None


def candidates(value: str) -> list[str]:
    """The random-looking values in a field: the value itself, or the parts of a compound value.

    >>> candidates("1b2c3d4e-0000-4000-8000-a1b2c3d4e5f6#1612345678901#1")
    ['1b2c3d4e-0000-4000-8000-a1b2c3d4e5f6', '1612345678901']
    """
    value = value.strip()
    if _ID_CHARS.match(value):
        return [value] if looks_random(value) else []
    if len(value) > MAX_LENGTH * 4:
        return []
    return [token for token in _SEPARATORS.split(value)[:MAX_TOKENS] if looks_random(token)]


def not_followed(item: Field) -> bool:
    """True for headers whose values are not looked at (browser capabilities, credentials, page addresses)."""
    if item.where is not Where.HEADER:
        return False
    return item.key in _SKIP_HEADERS or item.key.startswith(_SKIP_HEADER_PREFIXES)


def followed_part(key: str, value: str) -> str | None:
    """The one random-looking value a field is followed by: the value, or a compound value's longest ID-like part.

    >>> followed_part("id5", "1b2c3d4e-0000-4000-8000-a1b2c3d4e5f6#1612345678901#1")
    '1b2c3d4e-0000-4000-8000-a1b2c3d4e5f6'
    """
    found = candidates(value)
    if len(found) > 1:
        kept = [v for v in found if shape_exclusion(key, v) is None]
        return max(kept, key=len) if kept else found[0]
    return found[0] if found else None


_PARTS = re.compile(r"[.:=_|,;~-]+")
_PAIR_WITH_TIME = re.compile(r"(?:^|\D)\d{6,}\.\d{10}(?:\D|$)")
DAY = 86400.0


def _times_in(parts: list[str]) -> list[float]:
    """Unix seconds of the parts that read as seconds or milliseconds since 1970 (2000 to 2100)."""
    return [float(p) / (1000 if len(p) == 13 else 1) for p in parts if len(p) in (10, 13) and p.isdigit()
            and _plausible_time(p)]


def _id_like_part(part: str, times: list[float]) -> bool:
    """True for a part of a compound value that can carry an ID: a long varied number or a random mix.

    A 10-digit number is a time when it is round or lies within two days of another time in the same value;
    otherwise it is as likely a random number (most 10-digit numbers fall between 2000 and 2100 as times).
    """
    if len(part) < 8:
        return False
    if part.isdigit():
        if len(part) == 13 and _plausible_time(part):
            return False
        if len(part) == 10 and _plausible_time(part):
            near = [t for t in times if t != float(part) and abs(t - float(part)) <= 2 * DAY]
            return not (part.endswith("00") or near)
        return len(set(part)) >= 4
    digits = sum(map(str.isdigit, part))
    return 2 <= digits < len(part) and _entropy(part) >= 2.5


def carries_no_id(value: str) -> bool:
    """True for a compound value whose parts are all words, counts, flags or timestamps.

    Such values (``GS1.1.1740763893.1.1.1740763904.49.0.0``, ``1583452800:164``, ``INITIAL_anon_false_30004``,
    ``reflectorid=0000000000000000000000:lastupd=1522184000930``) are session state, sync dates or settings:
    nothing in them tells one browser from another.

    >>> carries_no_id("GS1.1.1740763893.1.1.1740763904.49.0.0"), carries_no_id("GA1.2.1369221122.1634566018")
    (True, False)
    """
    if _PAIR_WITH_TIME.search(value):
        return False  # random.first-visit-time, the Google Analytics client-ID shape
    parts = [p for p in _PARTS.split(value) if p]
    times = _times_in(parts)
    return len(parts) >= 2 and not any(_id_like_part(p, times) for p in parts)


def _plausible_time(value: str) -> bool:
    """True for Unix seconds or milliseconds between 2000 and 2100."""
    seconds = float(value) / (1000 if len(value.split(".")[0]) == 13 else 1)
    return 946684800 <= seconds <= 4102444800


@functools.lru_cache(maxsize=16384)
def looks_random(value: str) -> bool:
    """True when ``value`` has the shape of a generated ID rather than a word, a number or a setting.

    >>> [looks_random(v) for v in ("AHWqTUkq2mN0pL3x", "homepage_banner", "1234567890.1612345678", "1000000000")]
    [True, False, True, False]
    """
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH or not _ID_CHARS.match(value) or "://" in value:
        return False
    if "%2f" in value.lower() or value.lower().startswith("http"):
        return False  # an address, percent-encoded
    if value.startswith("/") or ("/" in value and (_FILE_NAME.search(value) or _HOST_PATH.match(value))):
        return False  # a path or a file name (an icon, a script), the same for every visitor
    if _UUID.match(value) or _TWO_NUMBERS.match(value):
        return True
    digits = sum(map(str.isdigit, value))
    if digits == len(value):
        return len(set(value)) >= 5  # a long number with varied digits, not 1000000000
    if digits < 2:
        return False  # words, CamelCase names and snake_case settings (random base64 almost always has digits)
    if len(value) in (32, 40, 64, 128) and _HEX.match(value):
        return True  # a hashed ID or a content hash; the key and the place tell them apart
    return _entropy(value) >= 3.0


def _first_visit_stamped(value: str) -> bool:
    """True for ``random.unix-seconds``, the client-ID shape Google Analytics and others store for years.

    >>> _first_visit_stamped("1234567890.1612345678"), _first_visit_stamped("1234567.7654321")
    (True, False)
    """
    return bool(_TWO_NUMBERS.match(value)) and _plausible_time(value.split(".", 1)[1])


def _entropy(value: str) -> float:
    """Shannon entropy of the characters of ``value``, in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


class BehaviourIdentifierDetector(CrossRequestDetector):
    """Reports values that behave like identifiers of a browser, device, installation or user."""

    name = DETECTOR

    def __init__(self, max_values: int = MAX_VALUES) -> None:
        self.max_values = max_values
        self.cap_note: str | None = None
        self._values: dict[str, _Sighting] = {}
        self._churn: dict[tuple[str, Where, str], _Churn] = {}
        self._excluded: dict[tuple[str, str, Where, str], tuple[str, int]] = {}
        """(kind, destination, part, key) -> (an example value, count): why random-looking values were set aside."""
        self._page_tokens: set[str] = set()
        self._script_tokens: set[str] = set()
        self._server_set: dict[str, str] = {}

    # -- observing ----------------------------------------------------------

    def observe(self, record: Record, destination: str, company: str | None, context: DetectionContext) -> None:
        if record.kind is not RecordKind.HTTP or not record.content_visible:
            return
        label = company or registrable_domain(destination)
        seen_here: set[str] = set()
        for name, header in record.request_headers:
            if name.lower() in ("referer", "origin"):
                self._note_page_tokens(header)
        if _is_script(record) and record.url:
            self._note_script_tokens(record.url)
        for item in iter_fields(record):
            if item.parsed or not_followed(item):
                continue
            followed = followed_part(item.key, item.value)
            if followed is not None:
                self._note_candidate(record, item, followed, destination, label, company, seen_here)
        for name, cookie in record.set_cookies:
            for token in candidates(cookie):
                known = token in self._server_set
                if shape_exclusion(name, token) is None and (known or len(self._server_set) < MAX_SERVER_SET):
                    self._server_set.setdefault(token, destination)

    def _note_candidate(
        self, record: Record, item: Field, value: str, destination: str, label: str, company: str | None,
        seen_here: set[str],
    ) -> None:
        slot = (destination, item.where, item.key)
        self._note_churn(slot, value)
        kind = shape_exclusion(item.key, value)
        if kind is None and _in_host_name(value, destination):
            kind = "app constant (it is part of the server's name: an account or site ID)"
        if kind is None and item.where is Where.PATH:
            if _HEX.match(value):
                kind = "content hash"  # a hex name in a path is a file's hash, not a visitor's
            elif _FILE_NAME.search(value):
                kind = "file name"
        if kind is not None:
            self._note_exclusion(kind, slot, value)
            return
        self._note_value(record, item, value, destination, label, company, seen_here)

    def _note_page_tokens(self, url: str) -> None:
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        tokens = [p for p in parts.path.split("/") if p] + [v for _k, v in parse_qsl(parts.query)]
        for token in tokens:
            if len(self._page_tokens) >= MAX_PAGE_TOKENS:
                return
            if len(token) >= MIN_LENGTH:
                self._page_tokens.add(token)
                self._page_tokens.update(t for t in re.split(r"[-_.]", token) if len(t) >= MIN_LENGTH)

    def _note_script_tokens(self, url: str) -> None:
        """Path segments of a script's address name a site, container or pixel: the same for every visitor."""
        try:
            segments = [p for p in urlsplit(url).path.split("/") if len(p) >= MIN_LENGTH]
        except ValueError:
            return
        for segment in segments:
            if len(self._script_tokens) < MAX_PAGE_TOKENS:
                self._script_tokens.add(segment)

    def _note_churn(self, slot: tuple[str, Where, str], value: str) -> None:
        churn = self._churn.get(slot)
        if churn is None:
            if len(self._churn) >= MAX_KEYS:
                return
            churn = self._churn[slot] = _Churn()
        churn.requests += 1
        if len(churn.values) < MAX_CHURN_VALUES:
            churn.values.add(hash(value))
        else:
            churn.overflow = True

    def _note_exclusion(self, kind: str, slot: tuple[str, Where, str], value: str, counted: bool = True) -> None:
        """Remember why a value was set aside; ``counted=False`` when concluding (which may run many times)."""
        marker = (kind, *slot)
        example, count = self._excluded.get(marker, (value, 0))
        if count and not counted:
            return
        if count or len(self._excluded) < MAX_KEYS:
            self._excluded[marker] = (example, count + 1)

    def _note_value(
        self, record: Record, item: Field, value: str, destination: str, label: str, company: str | None,
        seen_here: set[str],
    ) -> None:
        sighting = self._values.get(value)
        if sighting is None:
            if len(self._values) >= self.max_values:
                self._make_room()
            if len(self._values) >= self.max_values:
                self.cap_note = (
                    f"identifiers by behaviour: only the first {self.max_values} distinct values were followed "
                    "across requests; later new values were not"
                )
                return
            sighting = self._values[value] = _Sighting()
        if value not in seen_here:  # a value repeated inside one request still counts one request
            seen_here.add(value)
            sighting.requests += 1
        sighting.first = min(sighting.first, record.time)
        sighting.last = max(sighting.last, record.time)
        sighting.labels.add(label)
        if company:
            sighting.companies.add(company)
        if item.where is Where.COOKIE:
            sighting.in_cookie = True
        if sighting.set_by is None and value in self._server_set:
            sighting.set_by = self._server_set[value]
        place_key = (destination, item.where, item.key)
        place = sighting.places.get(place_key)
        if place is None:
            if len(sighting.places) >= MAX_PLACES_PER_VALUE:
                sighting.extra_places += 1
                return
            place = sighting.places[place_key] = _Place(0, record.time, record.encrypted, company, item.encoding)
        place.count += 1
        place.first_seen = min(place.first_seen, record.time)

    def _make_room(self) -> None:
        """Forget values seen in one request only (mostly nonces and cache busters) to follow new ones.

        A value seen once that is neither a cookie nor set by a server nor first-visit-stamped cannot
        be concluded on; an ID among them starts counting again when it comes back.
        """
        for value in [v for v, s in self._values.items() if s.requests < 2 and not (s.in_cookie or s.set_by)]:
            if not _first_visit_stamped(value):
                del self._values[value]

    # -- concluding ---------------------------------------------------------

    def conclude(self, context: DetectionContext) -> Iterator[Conclusion]:
        for value, sighting in self._values.items():
            reason = self._identifier_reason(value, sighting)
            if reason is None:
                continue
            confidence = self._confidence(value, sighting)
            for (destination, where, key), place in sighting.places.items():
                detection = context.detection(
                    "other_identifier", where, key, value, DETECTOR, encoding=place.encoding, confidence=confidence,
                    detail="behaves like an ID of this browser or device", reason=reason,
                )
                yield Conclusion(destination, detection, place.encrypted, place.first_seen, place.count)
            if len(sighting.companies) >= 2:
                yield from self._sync_conclusions(value, sighting, context)

    def _identifier_reason(self, value: str, sighting: _Sighting) -> str | None:
        """The reason sentence when ``value`` behaved like an identifier, else ``None`` (noting why not)."""
        if value in self._page_tokens:
            for destination, where, key in sighting.places:
                self._note_exclusion("page or content ID (it is in the page address)", (destination, where, key), value,
                                     counted=False)
            return None
        if value in self._script_tokens:
            for slot in sighting.places:
                self._note_exclusion("app constant (it names a script the page loads: a site, tag or pixel ID)", slot,
                                     value, counted=False)
            return None
        first_visit_stamped = _first_visit_stamped(value)
        if sighting.requests < 2 and not (sighting.in_cookie or sighting.set_by or first_visit_stamped):
            return None  # seen once: nothing to tell an ID from a nonce
        if all(where is Where.PATH for _destination, where, _key in sighting.places) and sighting.set_by is None:
            for slot in sighting.places:
                self._note_exclusion("resource path (seen only in addresses: a site or resource name)", slot, value,
                                     counted=False)
            return None
        id_shaped = bool(_UUID.match(value) or _TWO_NUMBERS.match(value)) or len(value) >= 16
        stable = sighting.last - sighting.first >= LONG_ENOUGH_SPAN
        places = {destination for destination, _where, _key in sighting.places}
        if not (id_shaped or stable or sighting.set_by or sighting.in_cookie or len(places) >= 2):
            return None
        strong = _strong_signals(value, sighting)
        if not (strong or sighting.in_cookie) and self._replaced_at_every_place(sighting):
            for slot in sighting.places:
                self._note_exclusion("per-page-view value (other values replaced it at the same key)", slot, value,
                                     counted=False)
            return None
        facts = [f"This {len(value)}-character value was sent in {_plural(sighting.requests, 'request')}"]
        span = sighting.last - sighting.first
        if span >= 1:
            facts.append(f" over {_duration(span)}")
        facts.append(f" to {_plural(len(sighting.labels), 'company', 'companies')}")
        if sighting.set_by is not None:
            facts.append(f", and the server {sighting.set_by} set it as a cookie that the client sent back")
        elif sighting.in_cookie:
            facts.append(", stored in a cookie")
        if first_visit_stamped:
            facts.append(", and it has the shape of a client ID stamped with the first visit's time")
        weak = "it repeats" if sighting.requests >= 2 else "it is kept in a cookie"
        evidence = (
            f"decided by: {' and '.join(strong)}" if strong else
            f"weak evidence only: {weak}, but no server was seen setting it and no second company received it"
        )
        return "".join(facts) + (
            f": it behaves like an ID of this browser or device (rule: identifier by behaviour; {evidence})."
        )

    def _replaced_at_every_place(self, sighting: _Sighting) -> bool:
        """True when every key that carried the value also carried :data:`PAGE_VIEW_VALUES` or more other values.

        One browser keeps its ID for the whole capture; a key whose value is replaced again and again carries a
        page-view, visit or request ID. Not asked of cookies, nor of a value a server set or a second company
        received: a crawler that clears cookies between pages replaces real visitor IDs too.
        """
        for slot in sighting.places:
            churn = self._churn.get(slot)
            if churn is None or len(churn.values) < PAGE_VIEW_VALUES:
                return False
        return True

    @staticmethod
    def _confidence(value: str, sighting: _Sighting) -> float:
        """At least :data:`STRONG_CONFIDENCE` with a strong signal; below it (weak evidence) otherwise."""
        weak = sum(
            (
                sighting.requests >= 3,
                sighting.last - sighting.first >= LONG_ENOUGH_SPAN,
                sighting.in_cookie,
                bool(_UUID.match(value)) or len(value) >= 20,
            )
        )
        strong = len(_strong_signals(value, sighting))
        if strong:
            return min(STRONG_CONFIDENCE + 0.05 * (strong - 1) + 0.02 * weak, 0.95)
        return 0.6 + 0.04 * weak

    def _sync_conclusions(self, value: str, sighting: _Sighting, context: DetectionContext) -> Iterator[Conclusion]:
        """One conclusion per company that received the same ID: the first place it reached there."""
        companies = sorted(sighting.companies)
        named = " and ".join([", ".join(companies[:-1]), companies[-1]]) if len(companies) > 2 else " and ".join(
            companies)
        reason = (
            f"The same {len(value)}-character ID reached {named}: these companies can link what each of them "
            "knows about this browser or device (rule: ID synchronisation between companies)."
        )
        done: set[str] = set()
        for (destination, where, key), place in sorted(sighting.places.items(), key=lambda item: item[1].first_seen):
            if place.company is None or place.company in done:
                continue
            done.add(place.company)
            detection = context.detection(
                "other_identifier", where, key, value, SYNC_DETECTOR, encoding=place.encoding, confidence=0.9,
                detail=f"same ID sent to {len(companies)} companies", reason=reason,
            )
            yield Conclusion(destination, detection, place.encrypted, place.first_seen, place.count)

    # -- what was set aside -------------------------------------------------

    def exclusions(self, context: DetectionContext) -> list[Exclusion]:
        """Random-looking values set aside as not identifiers, with the kind each belongs to (masked)."""
        found: list[Exclusion] = []
        for (kind, destination, where, key), (example, count) in self._excluded.items():
            found.append(Exclusion(kind, destination, where, key, context.masker.mask(example), count))
        for value, sighting in self._values.items():
            if sighting.requests != 1 or sighting.in_cookie or sighting.set_by is not None:
                continue
            for slot in sighting.places:
                churn = self._churn.get(slot)
                if churn is not None and churn.changes_every_request:
                    found.append(Exclusion("changes on every request (a nonce or request ID)", *slot,
                                           context.masker.mask(value), 1))
        return found


PAGE_VIEW_VALUES = 3
"""Distinct values at one key that mark it as a per-page-view (or per-visit) key when nothing strong says ID."""
STRONG_CONFIDENCE = 0.8
"""Confidence of an identifier by behaviour backed by a strong signal; the rules keep weaker ones below high."""


def _strong_signals(value: str, sighting: _Sighting) -> list[str]:
    """The signals that alone make a value an identifier: a server set it, several companies got it, its shape."""
    found = []
    if sighting.set_by is not None:
        found.append("a server set it as a cookie and the client sent it back")
    if len(sighting.labels) >= 2:
        found.append(f"it reached {len(sighting.labels)} companies")
    if _first_visit_stamped(value):
        found.append("it is stamped with the first visit's time")
    return found


def _in_host_name(value: str, destination: str) -> bool:
    """True when the value, or a ``name=value``'s value, names the server (``src=10657097`` at 10657097.fls…)."""
    inner = _INNER_NAME.match(value)
    labels = destination.lower().split(".")
    return value.lower() in labels or bool(inner and inner.group(2).lower() in labels)


def _is_script(record: Record) -> bool:
    content_type = (record.response_content_type or "").lower()
    path = (record.url or "").split("?", 1)[0].lower()
    return "javascript" in content_type or path.endswith((".js", ".mjs"))


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
