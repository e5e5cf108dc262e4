"""Context decides: where a value sits says what it can be, before its format does.

A dotted quad inside ``ShockwaveFlash/18.0.0.232`` is a version, an ``x@y.js``
token is a file name, a telephone number in a page's schema.org block is the
publisher's switchboard. These rules say, for the generic detectors, when a
format match is not personal data; each names its general cause, not one
instance. They also write the one-sentence reason every generic detection carries.
"""

from __future__ import annotations

import functools
import re

from auditor.detect import Where
from auditor.domains import _EXTRACT

# Headers whose values are product tokens and media types: versions live here, addresses do not.
_VERSION_HEADERS = re.compile(
    r"^(?:user-agent|x-requested-with|accept(?:-.*)?|sec-ch-ua.*|x-(?:client|app|sdk|os)-?version|"
    r"x-.*-version|x-user-agent|x-client-name|x-client-data|x-browser-.*|x-app-build)$"
)
# Headers meant to carry a client's address (proxies and CDNs add them; some SDKs copy them).
_ADDRESS_HEADERS = re.compile(r"forwarded|real-ip|client-ip|connecting-ip|originating-ip|remote-addr|(?:^|-)ip$")
# Key names that hold a user agent or a list of browser versions (client hints): never an address.
_AGENT_KEYS = re.compile(r"useragent|^ua$|^ua[a-z]{1,6}$|uafvl|fullversion|brands?$|browserversion|appversion")
_AGENT_VALUE = re.compile(r"^(?:Mozilla|Dalvik|Opera|okhttp|CFNetwork|Darwin)/|AppleWebKit/|\bAndroid \d")
# Schema.org, OpenGraph and meta-tag blocks a pixel copies from the page: the publisher's data, not the visitor's.
_PAGE_METADATA = re.compile(r"(?:^|[.\[])(?:json-?ld|opengraph|schema\.org)[\].]|\[(?:meta|og)\]|@graph", re.IGNORECASE)
# Extensions of files a page loads: ``jquery@2.2.4.js``, ``200@70.jpg``, ``logo@2x.png``.
_FILE_EXTENSIONS = frozenset(
    {"js", "mjs", "css", "map", "png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "bmp", "avif", "json", "html",
     "htm", "php", "asp", "aspx", "jsp", "txt", "xml", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "webm",
     "ogg", "wav", "m3u8", "ts", "pdf", "zip", "gz", "mov", "swf", "wasm", "min"}
)
# Reserved names (RFC 2606, RFC 6761) that tests, labs and documentation use for mail domains.
_RESERVED_SUFFIXES = ("example", "test", "invalid", "localhost")

_LABELS = {
    "ip_address": "an IP address", "precise_location": "precise coordinates", "coarse_location": "a rough location",
    "advertising_id": "an advertising ID", "device_id": "a device or installation ID",
    "hardware_id": "a hardware ID", "network_id": "a Wi-Fi network name or address", "email": "an e-mail address",
    "name": "a person's name", "phone": "a phone number", "birthdate": "a date of birth",
    "student_id": "a student ID", "username": "a user name", "credentials": "a password or login token",
    "device_fingerprint": "a set of device traits that together fingerprint the device",
    "other_identifier": "an identifier", "voice": "a voice recording", "face_image": "a picture of a face",
    "image": "a picture", "video": "a video recording", "biometric_other": "biometric data",
    "attention_tracking": "attention or gaze tracking",
}
_PLACES = {Where.QUERY: "query parameter", Where.COOKIE: "cookie", Where.HEADER: "header",
           Where.BODY: "body field", Where.PATH: "URL path segment"}


def generic_reason(data_type: str, rule: str, where: Where, key: str | None) -> str:
    """One sentence naming what a generic rule saw and where.

    >>> generic_reason("email", "pattern rule", Where.QUERY, "email")
    'Looks like an e-mail address (pattern rule), sent in the query parameter `email`.'
    """
    label = _LABELS.get(data_type, data_type.replace("_", " "))
    place = f"the {_PLACES.get(where, where.value)} `{key}`" if key else f"the request {where.value}"
    return f"Looks like {label} ({rule}), sent in {place}."


def known_reason(label: str, how: str, where: Where, key: str | None) -> str:
    """One sentence for a value that matched the device profile.

    >>> known_reason("email", "sha256", Where.BODY, "ud.em")
    "Matches the device profile's email, sent as sha256 (known-value rule), in the body field `ud.em`."
    """
    place = f"the {_PLACES.get(where, where.value)} `{key}`" if key else f"the request {where.value}"
    sent = f", sent as {how}" if how and how != "plain" else ""
    return f"Matches the device profile's {label}{sent} (known-value rule), in {place}."


def address_is_version(where: Where, key: str, name: str, value: str, start: int, end: int) -> bool:
    """Whether a dotted quad at ``value[start:end]`` is a version or a server's endpoint, not anyone's address.

    >>> address_is_version(Where.HEADER, "x-requested-with", "xrequestedwith", "ShockwaveFlash/18.0.0.232", 15, 25)
    True
    >>> address_is_version(Where.BODY, "ctx.ip", "ip", "203.0.113.9", 0, 11)
    False
    """
    if where is Where.HEADER:
        if _VERSION_HEADERS.match(key):
            return True
        if not _ADDRESS_HEADERS.search(key) and value.strip() != value[start:end]:
            return True  # a header that is not about addresses, with the address inside a longer text
    if _AGENT_KEYS.search(name) or _AGENT_VALUE.search(value[:200]):
        return True
    before = value[max(start - 2, 0) : start]
    if len(before) == 2 and before[1] in "/;" and (before[0].isalnum() or before[0] in "_-)"):
        return True  # product/1.2.3.4 or Brand;1.2.3.4: a version in a product token
    after = value[end : end + 2]
    return len(after) == 2 and after[0] == ":" and after[1].isdigit()  # host:port of a server the page called


def page_metadata(key: str) -> bool:
    """Whether ``key`` sits in a page's own published metadata (JSON-LD, OpenGraph, meta tags) a pixel copied.

    >>> page_metadata("cd[JSON-LD][0].@graph[0].Author.Name"), page_metadata("ud[em]")
    (True, False)
    >>> page_metadata("meta.student.email")
    False
    """
    return bool(_PAGE_METADATA.search(key))


@functools.lru_cache(maxsize=4096)
def mail_domain_plausible(domain: str) -> bool:
    """Whether ``domain`` can receive mail: a known public suffix, not a file extension, not a version.

    >>> [mail_domain_plausible(d) for d in ("school.example", "gmail.com", "2.2.4.js", "70.jpg", "0.totcl")]
    [True, True, False, False, False]
    """
    labels = domain.lower().rstrip(".").split(".")
    if labels[-1] in _FILE_EXTENSIONS:
        return False
    if labels[-1] in _RESERVED_SUFFIXES:
        return True
    if all(label.isdigit() for label in labels[:-1]) and len(labels) > 2:
        return False  # 1.2.3.tld reads as a version, not a mail host
    return bool(_EXTRACT(domain).suffix)
