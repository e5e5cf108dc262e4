"""Plain-language names for the report's slugs, for every human-facing output.

The JSON and CSV keep the contract's slugs (``advertising_id``, ``crash_reporting``,
``on-ipc-no-secondary-use``); the HTML page, the terminal summary and the PDF/PNG
printed from the page say them in words a school reviewer reads. An unknown slug
(a category from a newer database, a custom rule) is still turned into words.
"""

from __future__ import annotations

import re
from typing import Any

DATA_TYPE_LABELS: dict[str, str] = {
    "ip_address": "IP address",
    "precise_location": "Precise location",
    "coarse_location": "Approximate location",
    "advertising_id": "Advertising ID",
    "device_id": "Device ID",
    "hardware_id": "Hardware ID (serial, IMEI, MAC)",
    "network_id": "Network ID (Wi-Fi name or router)",
    "email": "E-mail address",
    "name": "Name",
    "phone": "Phone number",
    "birthdate": "Date of birth",
    "student_id": "Student ID",
    "username": "User name",
    "credentials": "Password or login token",
    "voice": "Voice recording",
    "face_image": "Face image",
    "image": "Image",
    "video": "Video",
    "biometric_other": "Other biometric data",
    "attention_tracking": "Attention or gaze tracking",
    "device_fingerprint": "Device fingerprint",
    "other_identifier": "Other identifier",
}

CATEGORY_LABELS: dict[str, str] = {
    "advertising": "Advertising",
    "analytics": "Analytics",
    "attribution": "Install attribution",
    "crash_reporting": "Crash and error reporting",
    "session_replay": "Session recording",
    "ab_testing": "Experiments and feature flags",
    "push_engagement": "Push messages and engagement",
    "tag_manager": "Tag manager",
    "social": "Social network",
    "fingerprinting": "Device fingerprinting and fraud checks",
    "data_broker": "Data broker",
    "consent_management": "Consent banner",
    "customer_support": "Customer support chat",
    "identity": "Sign-in",
    "payments": "Payments",
    "edtech": "Education service",
    "video_conferencing": "Video calls",
    "proctoring": "Exam proctoring",
    "maps_location": "Maps and location",
    "platform_services": "Operating-system services",
    "cdn": "Content delivery",
    "cloud_hosting": "Cloud hosting",
    "content": "Embedded content",
    "security": "Security checks",
}

PARTY_LABELS: dict[str, str] = {
    "first": "The app itself",
    "third": "Third party",
    "local": "Local network",
    "unknown": "Unknown (address only)",
}

WHERE_LABELS: dict[str, str] = {
    "path": "in the web address (path)",
    "query": "in the web address (query)",
    "header": "in a request header",
    "cookie": "in a cookie",
    "body": "in the uploaded data",
    "dns": "in a DNS lookup",
    "sni": "in the server name of an encrypted connection",
    "connection": "from the connection itself",
}

ENCODING_STEPS: dict[str, str] = {
    "plain": "as plain text",
    "base64": "Base64-encoded",
    "base64url": "Base64-encoded",
    "hex": "hex-encoded",
    "url": "URL-encoded",
    "gzip": "compressed",
    "deflate": "compressed",
    "br": "compressed",
    "zstd": "compressed",
    "json": "inside JSON",
    "jwt": "inside a login token (JWT)",
    "protobuf": "inside binary (protobuf) data",
    "form": "in a form",
    "file": "as a file",
    "service": "guessed from the kind of service, not seen in content",
    "md5": "hashed (MD5)",
    "sha1": "hashed (SHA-1)",
    "sha256": "hashed (SHA-256)",
}

ANSWER_LABELS: dict[str, str] = {"met": "Met", "not_met": "Not met", "not_determinable": "Not determinable"}


def answer_label(slug: object) -> str:
    return ANSWER_LABELS.get(str(slug), words(slug))


INFERRED_WHERE = frozenset({"dns", "sni", "connection"})
"""Places where a data type is inferred from the destination, not read from content."""


def words(slug: object) -> str:
    """Any slug as words, for labels no table knows (``on-ipc-x_y`` -> ``On ipc x y``).

    >>> words("crash_reporting"), words("on-ipc-no-secondary-use")
    ('Crash reporting', 'On ipc no secondary use')
    """
    text = re.sub(r"[_-]+", " ", str(slug)).strip()
    return text[:1].upper() + text[1:]


def data_type_label(slug: object) -> str:
    return DATA_TYPE_LABELS.get(str(slug), words(slug))


def category_label(slug: object) -> str:
    if slug is None:
        return ""
    return CATEGORY_LABELS.get(str(slug), words(slug))


def party_label(slug: object) -> str:
    return PARTY_LABELS.get(str(slug), words(slug))


def is_inferred(finding: dict[str, Any]) -> bool:
    """True for a finding whose data type is guessed from where traffic went (a proctoring host), not seen."""
    return bool(finding.get("data_type")) and (
        finding.get("where") in INFERRED_WHERE or str(finding.get("encoding") or "") == "service"
    )


def encoding_words(encoding: object) -> str:
    """``base64>json:properties.id`` as words: "Base64-encoded, inside JSON".

    >>> encoding_words("base64>json:properties.distinct_id"), encoding_words("gzip>round(lat,5)")
    ('Base64-encoded, inside JSON', 'compressed, rounded coordinates')
    """
    if not encoding:
        return ""
    said: list[str] = []
    for step in str(encoding).split(">"):
        name = step.split(":", 1)[0].split("(", 1)[0].strip().lower()
        phrase = "rounded coordinates" if name == "round" else ENCODING_STEPS.get(name, words(name).lower())
        if phrase and phrase not in said:
            said.append(phrase)
    return ", ".join(said)


_LONG_MASK = re.compile(r"^(.{2})\*\*…\*\*(.{2}) \((\d+) chars\)$")
_SECRET_MASK = re.compile(r"^\*+ \((\d+) chars\)$")
_EMAIL_MASK = re.compile(r"^.?\*\*\*@.?\*\*\*\.\S+$")


def mask_words(masked: object) -> str:
    """What a masked value hides, in words (``Masker.mask`` formats).

    >>> mask_words("5d**…**13 (36 chars)")
    'a 36-character value; first and last 2 characters shown'
    >>> mask_words("m***@s***.example"), mask_words("******** (29 chars)")
    ('an e-mail address; first letter of the name and of the domain shown', 'a 29-character secret; fully hidden')
    >>> mask_words("5*.*****"), mask_words("*.*")
    ('an 8-character value; first character shown', 'a 3-character value; every character hidden')
    """
    if not masked:
        return ""
    text = str(masked)
    if match := _LONG_MASK.match(text):
        return f"{_a(match.group(3))} {match.group(3)}-character value; first and last 2 characters shown"
    if match := _SECRET_MASK.match(text):
        return f"{_a(match.group(1))} {match.group(1)}-character secret; fully hidden"
    if _EMAIL_MASK.match(text):
        return "an e-mail address; first letter of the name and of the domain shown"
    if "*" in text and " " not in text:  # a short value: its length kept, its first character from 4 on
        first = "first character shown" if len(text) > 3 else "every character hidden"
        return f"{_a(len(text))} {len(text)}-character value; {first}"
    return text  # already words, e.g. "PNG image upload, 185 bytes"


def _a(number: object) -> str:
    """The article before a number said aloud: "an 8-", "an 11-", "an 18-", "a 36-"."""
    digits = str(number)
    eleven_or_eighteen = digits in ("11", "18") or (len(digits) in (5, 6) and digits[:2] in ("11", "18"))
    return "an" if digits.startswith("8") or eleven_or_eighteen else "a"


def where_words(finding: dict[str, Any]) -> str:
    """Where a value was found, with which key and how it was wrapped, as one phrase."""
    where = WHERE_LABELS.get(str(finding.get("where") or ""), words(finding.get("where") or "")).strip()
    key = finding.get("key")
    phrase = f"{where}, field “{key}”" if key else where
    how = encoding_words(finding.get("encoding"))
    return f"{phrase} ({how})" if how and how != "as plain text" else phrase


_SLUG_WORD = re.compile(r"(?<![\w.])[a-z0-9]+(?:[_-][a-z0-9]+)+(?![\w.])")


def plain_text(text: object, names: dict[str, str] | None = None) -> str:
    """A sentence with slugs in it said in words: data types, categories, and ``names`` (rule id -> title).

    >>> plain_text("personal data: device_id, precise_location; company headquartered in US")
    'personal data: device ID, precise location; company headquartered in US'
    >>> plain_text("2 finding(s) (personal-data-over-http) at x.example", {"personal-data-over-http": "Sent in clear"})
    '2 finding(s) (“Sent in clear”) at x.example'

    A name the app itself sent (a key, in backticks) is quoted as it was, never translated:

    >>> plain_text("sent as `device_id` (device_id)")
    'sent as “device_id” (device ID)'
    """

    def said(match: re.Match[str]) -> str:
        slug = match.group(0)
        if names and slug in names:
            return f"“{names[slug]}”"
        label = DATA_TYPE_LABELS.get(slug) or CATEGORY_LABELS.get(slug)
        if label is None:
            return slug
        return label if label[:2].isupper() else label[:1].lower() + label[1:]

    pieces = ("" if text is None else str(text)).split("`")
    # Odd pieces were inside backticks: the app's own key names, shown quoted and untouched.
    return "".join(f"“{piece}”" if index % 2 else _SLUG_WORD.sub(said, piece) for index, piece in enumerate(pieces))


def rule_titles(report: dict[str, Any]) -> dict[str, str]:
    """Rule id -> title, and guidance point id -> title, from a report."""
    rules = (report.get("rules") or {}).get("rules") or []
    names = {str(r["id"]): str(r.get("title") or words(r["id"])) for r in rules if isinstance(r, dict) and "id" in r}
    names.update({str(c["id"]): str(c.get("title") or words(c["id"])) for c in report.get("checklist") or []})
    return names
