"""The trail of each planted value: which hosts and companies received it, in what form, when, how often.

Built from the analysis's known-value detections (every record, not only the
ones that raised a finding) and the typed-text conclusions. It holds masked
values only, like every other part of the report. The report's
``persona_trail`` is a list of :func:`persona_trail` entries; the HTML page and
the terminal read them through :func:`trail_sentence`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from auditor.detect import Detection

if TYPE_CHECKING:
    from auditor.analysis import Analysis

_LABEL = re.compile(r"profile (?:value ([a-z0-9_]+)|(location))")
_TITLES = {
    "first_name": "Student's first name", "last_name": "Student's surname", "full_name": "Student's full name",
    "email": "Student's e-mail", "username": "Student's username", "password": "Student's password",
    "phone": "Student's phone number", "birthdate": "Student's birth date", "student_id": "Student ID",
    "school": "School name", "address": "Street address", "postal_code": "Postal code",
    "essay": "Essay sentence", "search_1": "Search phrase 1", "search_2": "Search phrase 2",
    "advertising_id": "Advertising ID", "android_id": "Android ID", "idfv": "iOS vendor ID", "imei": "IMEI",
    "serial": "Serial number", "wifi_mac": "Wi-Fi MAC address", "bluetooth_mac": "Bluetooth MAC address",
    "lan_ip": "Device's LAN address", "public_ip": "Lab's public address", "ssid": "Wi-Fi network name",
    "bssid": "Access point's MAC address", "location": "Mocked GPS location",
}
_HASHES = (("sha256(", "SHA-256 hash"), ("sha512(", "SHA-512 hash"), ("sha1(", "SHA-1 hash"), ("md5(", "MD5 hash"))


_ACRONYMS = {"id": "ID", "ip": "IP", "ids": "IDs", "mac": "MAC", "gps": "GPS", "url": "URL", "imei": "IMEI"}


def _title_of(label: str) -> str:
    """A custom profile value's name in words: ``firebase_app_instance_id`` -> ``Firebase app instance ID``.

    >>> _title_of("firebase_app_instance_id")
    'Firebase app instance ID'
    """
    words = [_ACRONYMS.get(word, word) for word in label.split("_") if word]
    return " ".join(words)[:1].upper() + " ".join(words)[1:] if words else label


def value_form(detection: Detection) -> str:
    """How the value travelled, in words: ``typed``, ``SHA-256 hash``, ``base64``, ``plain``...

    >>> from auditor.detect import Where
    >>> d = Detection("email", Where.QUERY, "em", "json:em>sha256(lower(email))", 1.0, "x", "f", "known-value")
    >>> value_form(d)
    'SHA-256 hash'
    """
    encoding = detection.encoding or ""
    if detection.detector == "typed-text":
        return "typed"
    for marker, words in _HASHES:
        if marker in encoding:
            return words
    if "base64" in encoding:
        return "base64"
    if encoding.endswith("key name"):
        return "key name"
    if encoding == "host name":
        return "host name"
    if "epoch" in encoding:
        return "timestamp"
    return "plain"


def _label(detection: Detection) -> str | None:
    match = _LABEL.search(detection.detail or "") if detection.known_value else None
    return (match.group(1) or match.group(2)) if match else None


def _iso(timestamp: float) -> str | None:
    if not timestamp or timestamp == float("inf"):
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def persona_trail(analysis: Analysis) -> list[dict[str, Any]]:
    """One entry per planted value that was seen, with every receiver, most widely spread value first."""
    sightings: list[tuple[str, Detection, int, float]] = []
    for key, items in analysis.detections_by_host.items():
        for (detection, _encrypted), (count, first_seen) in items.items():
            sightings.append((key, detection, int(count), first_seen))
    for conclusion in analysis.concluded:  # as of the last finalize(), which the audit runs first
        sightings.append((conclusion.destination, conclusion.detection, conclusion.count, conclusion.first_seen))
    values: dict[str, dict[str, Any]] = {}
    for key, detection, count, first_seen in sightings:
        label = _label(detection)
        if label is None:
            continue
        c = analysis.classification(key)
        entry = values.setdefault(label, {
            "value": label, "title": _TITLES.get(label) or _title_of(label),
            "data_type": detection.data_type, "masked_value": detection.masked_value,
            "first_seen": first_seen, "count": 0, "receivers": {},
        })
        entry["count"] += count
        entry["first_seen"] = min(entry["first_seen"], first_seen)
        receiver = entry["receivers"].setdefault(c.host, {
            "host": c.host, "company": c.company, "party": c.party.value, "forms": set(),
            "first_seen": first_seen, "count": 0,
        })
        receiver["forms"].add(value_form(detection))
        receiver["count"] += count
        receiver["first_seen"] = min(receiver["first_seen"], first_seen)
    trail = []
    for entry in values.values():
        receivers = sorted(entry.pop("receivers").values(), key=lambda r: (r["party"] == "first", r["first_seen"]))
        for receiver in receivers:
            receiver["forms"] = sorted(receiver["forms"])
            receiver["first_seen"] = _iso(receiver["first_seen"])
        entry["first_seen"] = _iso(entry["first_seen"])
        entry["receivers"] = receivers
        trail.append(entry)
    trail.sort(key=lambda e: (-len(e["receivers"]), e["value"]))
    return trail


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _as(form: str) -> str:
    article = "an" if form.startswith("MD5") else "a"
    return {"typed": "as typed", "plain": "as written", "key name": "as a key name",
            "host name": "in a host name", "timestamp": "as a timestamp", "base64": "in base64"}.get(
        form, f"as {article} {form}")


def trail_sentence(entry: dict[str, Any]) -> str:
    """The trail of one value in words: "Student's surname: reached Acme as typed, and Taboola as a SHA-256 hash".

    >>> print(trail_sentence({"title": "Student's surname", "receivers": [  # doctest: +ELLIPSIS
    ...     {"host": "a.example", "company": "Acme", "party": "third", "forms": ["typed"]},
    ...     {"host": "t.example", "company": "Taboola", "party": "third", "forms": ["SHA-256 hash", "plain"]},
    ...     {"host": "app.example", "company": None, "party": "first", "forms": ["plain"]}]}))
    Student's surname: reached Acme as typed, Taboola as a SHA-256 hash and as written, and the app's own ...
    """
    by_receiver: dict[str, set[str]] = {}
    for receiver in entry["receivers"]:
        if receiver["party"] == "first":
            name = f"the app's own {receiver['host']}"
        else:
            name = receiver["company"] or receiver["host"]
        by_receiver.setdefault(name, set()).update(receiver["forms"])
    # Receivers that got it the same way share one phrase: "Google, Meta and Adjust as written".
    by_forms: dict[str, list[str]] = {}
    for name, forms in by_receiver.items():
        by_forms.setdefault(_joined([_as(f) for f in sorted(forms, key=_form_order)]), []).append(name)
    parts = [f"{_joined(names)} {how}" for how, names in by_forms.items()]
    if len(parts) == 1:
        reached = parts[0]
    elif any(len(names) > 1 for names in by_forms.values()):
        reached = "; ".join(parts)  # "A and B as written; C in base64"
    else:
        reached = ", ".join(parts[:-1]) + ", and " + parts[-1]
    return f"{entry['title']}: reached {reached}"


def _form_order(form: str) -> tuple[int, str]:
    return (0 if form == "typed" else 1 if form.endswith("hash") else 2, form)
