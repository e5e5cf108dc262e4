"""Pattern detection: personal data recognised without a device profile.

What a field holds is judged from its key name and its value's format
together: a UUID under ``idfa`` is an advertising ID, a UUID under
``request_id`` is not. Formats that are specific on their own (an e-mail
address, a public IP address, an E.164 phone number, a MAC address) count
under any key. Several device traits sent together (screen, fonts, battery,
sensors, installed apps, locale...) make a device-fingerprint bundle.

Everything here is a guess with a confidence below 1; docs/detection.md
lists what pattern detection cannot see.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qsl, urlsplit

from auditor.detect import Detection, DetectionContext, Detector, Where
from auditor.detect.context import address_is_version, generic_reason, mail_domain_plausible, page_metadata
from auditor.detect.fields import Field, iter_fields, key_name, key_names
from auditor.detect.known_values import KnownValueDetector
from auditor.domains import registrable_domain
from auditor.records import Record

_ID_CHARS = re.compile(r"^[\w:.+/=-]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
)
_MAC = re.compile(r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")
_IPV4 = re.compile(r"(?<![\w.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_CHARS = re.compile(r"^\+?[\d ().-]{7,22}$")
_DECIMAL = re.compile(r"^-?\d{1,3}\.(\d{1,12})$")
_PAIR = re.compile(r"^\s*(-?\d{1,3}\.\d{1,12})\s*[,; ]\s*(-?\d{1,3}\.\d{1,12})\s*$")
_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$")
_HASH_NAMES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_NAME_VALUE = re.compile(r"^[^\W\d_][^\W\d_ '.-]*(?:[ '.-]{1,2}[^\W\d_]+){0,4}\.?$")
_DATES = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d")
_ZERO_IDS = frozenset({"00000000-0000-0000-0000-000000000000", "0000000000000000", "unknown", "null", "none"})

# Last key-path component (lowercased, separators removed) -> data type.
_KEY_TYPES: dict[str, str] = {
    **dict.fromkeys(
        ("idfa", "gaid", "aaid", "adid", "advertisingtrackingid", "advertisingid", "googleadid", "ifa", "adidentifier",
         "gpsadid",
         "googleadvertisingid", "advertiserid", "maid", "rida", "adtrackingid", "oaid", "amazonadid", "fireadid",
         "appleifa", "googleaid", "advertisingidentifier"),
        "advertising_id",
    ),
    **dict.fromkeys(
        ("androidid", "idfv", "deviceid", "udid", "vendorid", "androiduuid", "hardwareid", "identifierforvendor",
         "appleifv", "devid", "deviceidentifier", "installid", "installationid", "fid", "firebaseinstanceid",
         "appinstanceid"),
        "device_id",
    ),
    **dict.fromkeys(
        ("imei", "meid", "serial", "serialnumber", "macaddress", "wifimac", "mac", "bluetoothmac", "btmac",
         "devicemac", "imsi", "iccid", "simserial"),
        "hardware_id",
    ),
    **dict.fromkeys(("bssid", "ssid", "wifissid", "wifibssid", "wifiname", "networkname"), "network_id"),
    **dict.fromkeys(
        ("firstname", "lastname", "fullname", "givenname", "familyname", "studentname", "surname", "middlename",
         "childname", "parentname", "realname"),
        "name",
    ),
    **dict.fromkeys(
        ("phone", "phonenumber", "mobile", "msisdn", "tel", "telephone", "mobilenumber", "cellphone"), "phone"
    ),
    **dict.fromkeys(("birthdate", "dob", "dateofbirth", "birthday"), "birthdate"),
    **dict.fromkeys(("username", "userlogin", "screenname", "nickname", "loginname"), "username"),
    **dict.fromkeys(("password", "passwd", "pwd", "passcode"), "credentials"),
    **dict.fromkeys(("studentid", "pupilid", "learnerid", "studentnumber"), "student_id"),
}
# Keys whose value is a hash of personal data (advertising "advanced matching" conventions).
_HASHED_KEYS: dict[str, str] = {
    "em": "email", "email": "email", "hashedemail": "email", "emailhash": "email", "sha256email": "email",
    "ph": "phone", "phone": "phone", "hashedphone": "phone",
    "fn": "name", "ln": "name", "firstname": "name", "lastname": "name",
    "db": "birthdate", "dob": "birthdate",
}
_LAT_KEYS = frozenset({"lat", "latitude", "geolat", "locationlat", "userlat", "devicelat", "gpslat"})
_LON_KEYS = frozenset(
    {"lon", "lng", "long", "longitude", "geolon", "geolng", "locationlon", "locationlng", "locationlong", "userlon",
     "userlng", "devicelon", "devicelng", "gpslon", "gpslng"}
)
_PAIR_KEYS = frozenset(
    {"ll", "latlng", "latlon", "latlong", "location", "coordinates", "coords", "geo", "loc", "position", "gps",
     "geolocation", "userlocation", "devicelocation", "lnglat", "lonlat"}
)
_IP_KEYS = re.compile(r"(?:ip|ipaddress|ipv4|ipv6|addr|address)$")
_VERSION_KEYS = re.compile(r"version|build|release|sdk|revision|(?:^v|ver|rev)$")
# Device traits that, three or more together in one request, fingerprint a device.
_FINGERPRINT_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("screen", re.compile(r"screen|resolution|displaysize|dpi|density|viewport|pixelratio")),
    ("fonts", re.compile(r"fonts?$|fontlist")),
    ("battery", re.compile(r"battery|charging")),
    ("sensors", re.compile(r"sensor|accelerometer|gyroscope|magnetometer")),
    ("installed_apps", re.compile(r"installedapps|installedpackages|applist|packagelist|installedapplications")),
    ("locale", re.compile(r"locale|timezone|^tz$|language$")),
    ("hardware", re.compile(r"cpu|cores|totalmemory|memorysize|^ram$|totalram|disksize|storagesize|totaldisk")),
    ("graphics", re.compile(r"canvas|webgl|gpu|renderer")),
    ("carrier", re.compile(r"carrier|^mcc$|^mnc$|networkoperator")),
    ("device_model", re.compile(r"^model$|devicemodel|manufacturer|^brand$|hardwaremodel")),
)
_SKIP_HEADERS = frozenset({"user-agent", "x-request-id", "traceparent", "sentry-trace"})
# Objects that describe a person: their ``name`` is the person's name (an event's, app's or screen's is not).
_PERSON_OBJECTS = frozenset(
    {"user", "usr", "users", "traits", "set", "setonce", "profile", "userprofile", "identity", "person", "people",
     "member", "student", "pupil", "learner", "child", "kid", "customer", "owner", "author", "contact", "parent",
     "guardian", "me", "userinfo", "userdata", "userproperties", "player", "teacher", "viewer", "account"}
)
# Objects whose display name is not a person's.
_THING_OBJECTS = frozenset(
    {"app", "application", "device", "screen", "page", "view", "event", "product", "item", "network", "os",
     "browser", "sdk", "library", "lib", "category", "course", "class", "lesson", "school", "organization", "org"}
)
# SDK installation and anonymous IDs: the key alone does not say the value is one, so the value must look like it.
_SDK_ID_KEYS = frozenset(
    {"anonymousid", "anonid", "anonymousidentifier", "anonymoususerid", "installationuuid", "installuuid",
     "deviceuuid", "appinstallid", "sdkinstallid"}
)
_AD_ID_SUFFIXES = ("advertisingid", "advertisingidentifier", "idfa")
_TOKEN_KEYS = frozenset({"accesstoken", "idtoken", "refreshtoken", "authtoken", "bearertoken", "oauthtoken",
                         "servicetoken", "logintoken"})
# Keys that name the account or person a request is about: the value is an ID when it looks like one.
# (``accountid`` and ``customerid`` are left out: vendors use them for the site's own account, a constant.)
_USER_ID_KEYS = frozenset({"userid", "cuserid", "memberid", "visitorid", "externaluserid", "appuserid", "playerid",
                           "subscriberid"})
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_AUTH_VALUE = re.compile(r"^(?:[A-Za-z][\w-]{0,20}\s+)?[\w~+/.=:-]{8,}$")
# Keys meant to be public (Mapbox ``pk.``, Stripe ``pk_``, browser SDK ``pub…`` client tokens): the app's, not a login.
_PUBLISHABLE_KEY = re.compile(r"^(?:pk[._]|pub[._0-9a-f])", re.IGNORECASE)
_ROLE_MAILBOXES = frozenset(
    {"support", "noreply", "no-reply", "donotreply", "do-not-reply", "privacy", "help", "info", "contact",
     "feedback", "hello", "admin", "webmaster", "postmaster", "abuse", "security", "sales", "press", "legal",
     "dpo", "billing", "notifications"}
)


_KEY_SPLIT = re.compile(r"[.\[\]@>#]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=8192)
def _fingerprint_signals(key: str) -> tuple[str, ...]:
    """Device traits a key path names; any component counts (a sensor list is sent as ``sensors[0].name``)."""
    parts = [p for p in (_NOT_ALNUM.sub("", part.lower()) for part in _KEY_SPLIT.split(key)) if p and not p.isdigit()]
    return tuple(signal for signal, pattern in _FINGERPRINT_SIGNALS if any(pattern.search(part) for part in parts))


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable, counting the documentation ranges that stand in for public addresses in labs and tests."""
    documentation = (n for n in _DOCUMENTATION if n.version == address.version)
    return address.is_global or any(address in network for network in documentation)


_DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


class PatternDetector(Detector):
    """Personal data recognised by the key it sits under, by its format, or both."""

    name = "pattern"

    def __init__(self, known: KnownValueDetector | None = None, decoders: Detector | None = None) -> None:
        self.known = known
        """The known-value detector running before this one: what it found is not guessed again."""
        self.decoders = decoders
        """The endpoint-decoder detector running before this one: values it explained are not guessed again."""
        self._site = ""
        """Registrable domain of the record being searched: addresses there are likely the service's own."""

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        if not record.content_visible:
            return
        signals: dict[str, Field] = {}
        self._site = registrable_domain(record.host) if record.host else ""
        certain = self.known.found_in(record) if self.known is not None else set()
        reported: set[tuple[str, str, str]] = set(certain)
        known_places = {(where, key) for _type, where, key in certain}
        claimed = self.decoders.claimed(record) if self.decoders is not None else {}  # type: ignore[attr-defined]
        for item in iter_fields(record):
            if item.parsed or (item.where is Where.HEADER and item.key in _SKIP_HEADERS):
                continue
            if (item.where.value, item.key) in known_places:
                continue  # the profile already explained this value: one finding per place
            decoded_as = claimed.get((item.where, item.key))
            if decoded_as is not None:
                # A decoder explained this place; only a value whose own format says more is reported too
                # (an e-mail address used as Mixpanel's distinct ID is still an e-mail address).
                for detection in self._by_format(item, key_name(item.key), item.value.strip()[:8192], context):
                    marker = (detection.data_type, detection.where.value, detection.key or "")
                    if detection.data_type != decoded_as and marker not in reported:
                        reported.add(marker)
                        yield detection
                continue
            if page_metadata(item.key):
                continue
            name = key_name(item.key)
            for detection in self._field(item, name, context):
                marker = (detection.data_type, detection.where.value, detection.key or "")
                if marker not in reported:
                    reported.add(marker)
                    yield detection
            if item.where is not Where.HEADER:
                for signal in _fingerprint_signals(item.key):
                    signals.setdefault(signal, item)
        if len(signals) >= 3:
            names = sorted(signals)
            wheres = Counter(item.where for item in signals.values())
            yield context.detection(
                "device_fingerprint",
                wheres.most_common(1)[0][0],
                ", ".join(sorted(item.key for item in signals.values()))[:200],
                "|".join(names),
                self.name,
                confidence=min(0.5 + 0.1 * len(signals), 0.9),
                detail=f"{len(signals)} device traits sent together",
                shown=f"{len(signals)} device traits: {', '.join(names)}",
                reason=f"{len(signals)} device traits ({', '.join(names)}) sent in one request together fingerprint "
                "the device (device-trait rule).",
            )

    def _field(self, item: Field, name: str, context: DetectionContext) -> Iterator[Detection]:
        value = item.value.strip()
        if not value or len(value) > 8192:
            return
        if len(value) <= 512:
            yield from self._by_key(item, name, value, context)
        yield from self._by_format(item, name, value, context)
        if value.startswith(("https://", "http://")) and "=" in value:
            yield from self._in_url(item, value, context)

    def _in_url(self, item: Field, url: str, context: DetectionContext) -> Iterator[Detection]:
        """Query parameters of a URL sent as a value (a landing page, a referrer): judged by their own names.

        The detection stays keyed by the field holding the URL; the chain names the parameter (``query:email``).
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        pairs = parse_qsl(parts.query) + (parse_qsl(parts.fragment) if "=" in parts.fragment else [])
        for param, param_value in pairs[:64]:
            inner = Field(item.where, item.key, param_value, (*item.chain, f"query:{param}"))
            yield from self._by_key(inner, key_name(param), param_value.strip(), context)

    def _detection(
        self, context: DetectionContext, data_type: str, item: Field, value: str, confidence: float,
        detail: str | None = None, encoding: str | None = None, rule: str = "key-name rule",
    ) -> Detection:
        key = context.safe_key(item.key) if item.key else None
        return context.detection(
            data_type, item.where, item.key or None, value, self.name,
            encoding=encoding or item.encoding, confidence=confidence, detail=detail,
            reason=generic_reason(data_type, rule, item.where, key),
        )

    def _by_key(self, item: Field, name: str, value: str, context: DetectionContext) -> Iterator[Detection]:
        if name in _LAT_KEYS or name in _LON_KEYS:
            match = _DECIMAL.match(value)
            limit = 90 if name in _LAT_KEYS else 180
            if match and abs(float(value)) <= limit and float(value) != 0:
                yield self._location(context, item, value, len(match.group(1)))
            return
        if name in _PAIR_KEYS:
            pair = _PAIR.match(value)
            decimal = _DECIMAL.match(value)
            if pair and abs(float(pair.group(1))) <= 180 and abs(float(pair.group(2))) <= 180:
                decimals = min(len(pair.group(1).split(".")[1]), len(pair.group(2).split(".")[1]))
                yield self._location(context, item, value, decimals)
            elif decimal and item.key.endswith("]") and abs(float(value)) <= 180 and float(value) != 0:
                yield self._location(context, item, value, len(decimal.group(1)))  # [lat, lon] arrays
            return
        hashed = _HASHED_KEYS.get(name)
        if hashed is not None and _HASH.match(value.lower()):
            algorithm = _HASH_NAMES[len(value)]
            yield self._detection(
                context, hashed, item, value, 0.7, "hash of personal data (input not known)",
                encoding=">".join((*item.chain, f"{algorithm}(?)")), rule=f"hashed-{hashed} key rule",
            )
            return
        data_type = _KEY_TYPES.get(name)
        if data_type is None and name.endswith(("deviceid", "installid", "installationid")):
            data_type = "device_id"
        if data_type is None or value.lower() in _ZERO_IDS:
            guessed = _guess_by_context(item, name, value)
            if guessed is not None:
                yield self._detection(context, guessed[0], item, value, guessed[1])
            return
        if self._plausible(data_type, name, value):
            yield self._detection(context, data_type, item, value, 0.75)

    @staticmethod
    def _plausible(data_type: str, name: str, value: str) -> bool:
        """Whether ``value`` has the shape of ``data_type`` (a key name alone is not enough)."""
        if data_type == "advertising_id":
            return bool(_UUID.match(value)) and len(set(value.replace("-", ""))) > 2
        if data_type == "device_id":
            return 8 <= len(value) <= 128 and bool(_ID_CHARS.match(value)) and not value.isdigit()
        if data_type == "hardware_id":
            if name in ("imei", "meid"):
                return bool(re.match(r"^\d{14,16}$", value))
            if "mac" in name:
                return bool(_MAC.fullmatch(value)) or bool(re.match(r"^[0-9A-Fa-f]{12}$", value))
            return 6 <= len(value) <= 40 and bool(re.match(r"^[\w-]+$", value))
        if data_type == "network_id":
            return bool(_MAC.fullmatch(value)) if "bssid" in name else 1 <= len(value) <= 32
        if data_type == "name":
            return 2 <= len(value) <= 80 and bool(_NAME_VALUE.match(value))
        if data_type == "phone":
            return bool(_PHONE_CHARS.match(value)) and 7 <= sum(c.isdigit() for c in value) <= 15
        if data_type == "birthdate":
            return _parse_date(value) is not None
        if data_type in ("username", "student_id"):
            return 2 <= len(value) <= 80 and " " not in value.strip()
        return bool(value)

    def _location(self, context: DetectionContext, item: Field, value: str, decimals: int) -> Detection:
        data_type = "precise_location" if decimals >= 3 else "coarse_location"
        return self._detection(
            context, data_type, item, value, 0.8 if decimals >= 3 else 0.6, f"coordinates with {decimals} decimals",
            rule="coordinates rule",
        )

    def _by_format(self, item: Field, name: str, value: str, context: DetectionContext) -> Iterator[Detection]:
        text = value[:4096]
        if "@" in text:
            for match in _EMAIL.finditer(text):
                if text[max(match.start() - 3, 0) : match.start()] != "://":  # user@host in a URL is not mail
                    if not mail_domain_plausible(match.group(0).rpartition("@")[2]):
                        continue  # a file name (jquery@2.2.4.js) or an x@0 token, not a mailbox
                    confidence = _email_confidence(match.group(0), self._site)
                    if confidence:
                        detail = "an address at the destination's own domain" if confidence < 0.9 else None
                        yield self._detection(
                            context, "email", item, match.group(0), confidence, detail, rule="e-mail pattern rule"
                        )
        if _E164.match(value) and name not in _KEY_TYPES:
            yield self._detection(context, "phone", item, value, 0.7, rule="phone-number pattern rule")
        if (":" in text or "-" in text) and name not in _KEY_TYPES:
            for match in _MAC.finditer(text):
                kind = "network_id" if "bssid" in name else "hardware_id"
                yield self._detection(context, kind, item, match.group(0), 0.6, "MAC address", rule="MAC pattern rule")
        if _VERSION_KEYS.search(name):
            return
        if "." in text:
            for match in _IPV4.finditer(text):
                if address_is_version(item.where, item.key, name, text, match.start(), match.end()):
                    continue
                detection = self._address(context, item, name, match.group(0))
                if detection is not None:
                    yield detection
        if text.count(":") >= 2:
            for match in _IPV6.finditer(text):
                if address_is_version(item.where, item.key, name, text, match.start(), match.end()):
                    continue
                detection = self._address(context, item, name, match.group(0))
                if detection is not None:
                    yield detection

    def _address(self, context: DetectionContext, item: Field, name: str, text: str) -> Detection | None:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        own = context.device_ips | frozenset(getattr(context.profile, "device_ips", ()))
        if text in own or str(address) in own:
            return self._detection(
                context, "ip_address", item, text, 0.95, "the device's own address", rule="IP-address pattern rule"
            )
        named = bool(_IP_KEYS.search(name))
        if _public(address):
            whole = text == item.value.strip()
            confidence = 0.85 if named else (0.6 if whole or address.version == 6 else 0.5)
            return self._detection(
                context, "ip_address", item, text, confidence, "a public address", rule="IP-address pattern rule"
            )
        if named and address.is_private:
            return self._detection(
                context, "ip_address", item, text, 0.6, "a local network address", rule="IP-address pattern rule"
            )
        return None


def _guess_by_context(item: Field, name: str, value: str) -> tuple[str, float] | None:
    """(data type, confidence) for keys that need their parent object or the value's shape to tell.

    >>> _guess_by_context(Field(Where.BODY, "batch[0].traits.name", "Ada Okafor"), "name", "Ada Okafor")
    ('name', 0.7)
    >>> _guess_by_context(Field(Where.BODY, "events[0].name", "level_up"), "name", "level_up") is None
    True
    """
    names = key_names(item.key)
    parent = names[1] if len(names) > 1 else ""
    if (name == "name" and parent in _PERSON_OBJECTS) or (name == "displayname" and parent not in _THING_OBJECTS):
        if 2 <= len(value) <= 80 and _NAME_VALUE.match(value):
            return "name", 0.7
        return None
    if name in _SDK_ID_KEYS or (name in ("id", "uuid") and parent == "device"):
        return ("device_id", 0.7) if _identifier_like(value) else None
    if name == "advid" or name.endswith(_AD_ID_SUFFIXES):
        plausible = _UUID.match(value) and len(set(value.replace("-", ""))) > 2
        return ("advertising_id", 0.75) if plausible else None
    if name in _USER_ID_KEYS:
        return ("other_identifier", 0.65) if _account_id_like(value) else None
    if name in _TOKEN_KEYS or (item.where is Where.HEADER and item.key in _AUTH_HEADERS):
        secret = _AUTH_VALUE.match(value) and not _PUBLISHABLE_KEY.match(value) and not _api_key_login(value)
        return ("credentials", 0.8) if secret else None
    return None


def _api_key_login(value: str) -> bool:
    """HTTP Basic with an empty password: an app's write key (``key:``, Segment, Stripe), not a person's login.

    >>> _api_key_login("Basic " + base64.b64encode(b"wk_3Fh2:").decode()), _api_key_login("Basic YWRhOnB3")
    (True, False)
    """
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return decoded.endswith(b":") and decoded.count(b":") == 1


def _account_id_like(value: str) -> bool:
    """An account or user ID: 6 to 128 ID characters with some variety (digits alone count: ``09154974536``).

    >>> [_account_id_like(v) for v in ("09154974536", "Mz5Xr5UXKuw83hxd6Yms2w==", "0", "guest", "111111")]
    [True, True, False, False, False]
    """
    if value.isdigit() and len(value) < 8:
        return False  # a short number is more often a site's account number than a person's ID
    return 6 <= len(value) <= 128 and bool(_ID_CHARS.match(value)) and len(set(value)) >= 4


def _identifier_like(value: str) -> bool:
    """A UUID, long hex or base64-ish token: an ID, not a word like ``unknown`` or a counter.

    >>> [_identifier_like(v) for v in ("3f2a9c1e-55b0-4d7e-a1c2-9e8f7d6c5b4a", "unknown", "12345678")]
    [True, False, False]
    """
    if not 8 <= len(value) <= 128 or not _ID_CHARS.match(value) or value.lower() in _ZERO_IDS:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_letter = any(c.isalpha() for c in value)
    return has_digit and has_letter and len(set(value.lower())) > 4


def _email_confidence(address: str, site: str = "") -> float:
    """0.9 for an address; 0 for a role mailbox (``support@``, ``noreply@``): a vendor's, not a pupil's.

    An address at the destination's own registrable domain ``site`` gets 0.5:
    often the service's staff, though a school's own system sees its pupils' addresses too.

    >>> _email_confidence("ada.okafor@school.example"), _email_confidence("No-Reply@vendor.example")
    (0.9, 0)
    >>> _email_confidence("jo@mail.quizvendor.example", "quizvendor.example")
    0.5
    """
    local, _, domain = address.lower().partition("@")
    if local in _ROLE_MAILBOXES:
        return 0
    return 0.5 if site and registrable_domain(domain) == site else 0.9


def _parse_date(value: str) -> date | None:
    from datetime import datetime

    text = value.strip()[:10] if re.match(r"^\d{4}-\d{2}-\d{2}T", value.strip()) else value.strip()
    for layout in _DATES:
        try:
            day = datetime.strptime(text, layout).date()
        except ValueError:
            continue
        if 1900 <= day.year <= date.today().year:
            return day
    return None
