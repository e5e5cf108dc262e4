"""The device profile: the test device's identifiers and the synthetic student's details.

Values planted on the test device (advertising ID, Wi-Fi MAC, the student's
e-mail...) are the strongest evidence an audit can have: when one of them,
or a hash of it, shows up in traffic, there is no doubt about what left.
The profile is a TOML file; ``auditor profile init`` writes a commented
template and ``auditor profile check`` validates one. docs/detection.md
describes every key.

Profiles hold personal data (even if synthetic): reports and logs carry
only the profile's salted fingerprint and its number of values.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from auditor.privacy import Masker


class ProfileError(ValueError):
    """The profile file is missing, not TOML, or has a wrong or unknown key (message names it)."""


@dataclass(frozen=True, slots=True)
class KnownValue:
    """One planted value to search the traffic for."""

    label: str
    """Profile key it came from, e.g. ``email`` or ``wifi_mac``; used in encoding chains."""
    data_type: str
    """Report data type, e.g. ``hardware_id``."""
    value: str
    """The value as written in the profile."""


# section -> key -> data type ("" for keys that are not searched for themselves).
_SCHEMA: dict[str, dict[str, str]] = {
    "device": {
        "description": "",
        "platform": "",
        "advertising_id": "advertising_id",
        "android_id": "device_id",
        "idfv": "device_id",
        "imei": "hardware_id",
        "serial": "hardware_id",
        "wifi_mac": "hardware_id",
        "bluetooth_mac": "hardware_id",
        "lan_ip": "ip_address",
        "public_ip": "ip_address",
    },
    "network": {"ssid": "network_id", "bssid": "network_id"},
    "student": {
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "username": "username",
        "phone": "phone",
        "birthdate": "birthdate",
        "student_id": "student_id",
        "school": "other_identifier",
        # A synthetic student's further planted values (``auditor persona new`` writes them).
        "password": "credentials",
        "address": "other_identifier",
        "postal_code": "other_identifier",
        "essay": "other_identifier",
        "search_1": "other_identifier",
        "search_2": "other_identifier",
    },
    "location": {"latitude": "", "longitude": ""},
}
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class DeviceProfile:
    """A validated device profile."""

    values: tuple[KnownValue, ...]
    """Every searched value (empty keys left out), extras included."""
    latitude: float | None = None
    """The mocked GPS latitude set on the device."""
    longitude: float | None = None
    """The mocked GPS longitude."""
    description: str = ""
    """Free text naming the device, e.g. ``lab tablet 3``."""
    path: str = ""
    """File the profile was read from."""

    @property
    def device_ips(self) -> tuple[str, ...]:
        """The device's LAN address and the lab's public address, as given."""
        return tuple(v.value for v in self.values if v.label in ("lan_ip", "public_ip"))

    @property
    def value_count(self) -> int:
        """Number of searched values, the location counting as one."""
        return len(self.values) + (1 if self.latitude is not None else 0)

    def value(self, label: str) -> str | None:
        """The value of one profile key, or ``None``."""
        return next((v.value for v in self.values if v.label == label), None)

    def fingerprint(self, masker: Masker | None = None) -> str:
        """Salted fingerprint of the whole profile: tells two reports used the same profile, reveals nothing.

        Without a masker, the installation's salt is used (the one ``auditor analyze`` uses).
        """
        if masker is None:
            from auditor.privacy import load_or_create_salt

            masker = Masker(load_or_create_salt())
        parts = sorted(f"{v.label}={v.value.strip().lower()}" for v in self.values)
        if self.latitude is not None:
            parts.append(f"location={self.latitude},{self.longitude}")
        return masker.fingerprint("\n".join(parts))

    def summary(self, masker: Masker) -> dict[str, Any]:
        """What a report says about the profile: its fingerprint and how many values it holds."""
        return {"fingerprint": self.fingerprint(masker), "values": self.value_count}


def load_profile(path: Path) -> DeviceProfile:
    """Read and validate a profile; :class:`ProfileError` names the file and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_profile(data, str(path))
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def parse_profile(data: dict[str, Any], path: str = "") -> DeviceProfile:
    """Validate a profile already parsed from TOML.

    >>> p = parse_profile({"student": {"email": "ana@example.org"}, "location": {"latitude": 52.37, "longitude": 4.89}})
    >>> [(v.label, v.data_type) for v in p.values], p.latitude
    ([('email', 'email')], 52.37)
    """
    from auditor.detect import DATA_TYPES

    values: list[KnownValue] = []
    for section in data:
        if section not in _SCHEMA and section != "extra":
            raise ProfileError(f"unknown section [{section}] (known: {', '.join([*_SCHEMA, 'extra'])})")
    for section, keys in _SCHEMA.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ProfileError(f"[{section}] must be a table")
        for key, raw in table.items():
            if key not in keys:
                raise ProfileError(f"unknown key {key!r} in [{section}] (known: {', '.join(keys)})")
            if section == "location":
                continue
            if isinstance(raw, date):
                raw = raw.isoformat()
            if not isinstance(raw, str):
                raise ProfileError(f"[{section}] {key} must be a string")
            text = raw.strip()
            if not text or not keys[key]:
                continue
            _check(key, text)
            values.append(KnownValue(key, keys[key], text))
    latitude, longitude = _location(data.get("location", {}))
    extras = data.get("extra", [])
    if not isinstance(extras, list):
        raise ProfileError("extra values must be written as [[extra]] tables")
    for index, extra in enumerate(extras):
        if not isinstance(extra, dict) or not {"name", "data_type", "value"} <= set(extra):
            raise ProfileError(f"[[extra]] number {index + 1} needs name, data_type and value")
        if extra["data_type"] not in DATA_TYPES:
            raise ProfileError(f"[[extra]] {extra['name']!r}: data_type must be one of {', '.join(DATA_TYPES)}")
        value = str(extra["value"]).strip()
        if len(value) < 3:
            raise ProfileError(f"[[extra]] {extra['name']!r}: value too short to search for (3 characters or more)")
        label = re.sub(r"[^a-z0-9_]", "_", str(extra["name"]).lower()) or "extra"
        values.append(KnownValue(label, str(extra["data_type"]), value))
    description = str(data.get("device", {}).get("description", ""))
    return DeviceProfile(tuple(values), latitude, longitude, description, path)


def _check(key: str, text: str) -> None:
    # Messages name the key, never the value: a profile holds the test device's real identifiers.
    if key in ("wifi_mac", "bluetooth_mac", "bssid") and not _MAC.match(text):
        raise ProfileError(f"{key} is not a MAC address like 02:00:00:aa:bb:cc")
    if key in ("lan_ip", "public_ip"):
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ProfileError(f"{key} is not an IP address") from None
    if key == "email" and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", text):
        raise ProfileError("email is not an e-mail address")
    if key == "birthdate":
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ProfileError("birthdate must be written YYYY-MM-DD") from None
    if key == "phone" and not re.match(r"^\+\d[\d ()-]{5,20}$", text):
        raise ProfileError("phone must be in international form, e.g. +1 555 0100 234")
    if key == "imei" and not re.match(r"^\d{14,16}$", text):
        raise ProfileError("imei must be 15 digits")


def _location(table: dict[str, Any]) -> tuple[float | None, float | None]:
    lat, lon = table.get("latitude"), table.get("longitude")
    if lat is None and lon is None:
        return None, None
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or isinstance(lat, bool):
        raise ProfileError("[location] needs both latitude and longitude as numbers")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ProfileError("[location] latitude must be within ±90 and longitude within ±180")
    return float(lat), float(lon)


TEMPLATE = """\
# Device profile for Classroom Traffic Auditor.
#
# Put here the values planted on the test device and its synthetic student.
# `auditor analyze --profile THIS_FILE` searches the traffic for every value,
# in every encoding and hash (MD5, SHA-1, SHA-256, SHA-512). Reports show only
# masked values and salted fingerprints, never the values below.
#
# Use a synthetic student, never a real child. Leave a key empty ("") when
# the device does not have it; remove nothing you are unsure about.
# Check the file with: auditor profile check THIS_FILE

[device]
description = "lab tablet 1"                           # free text, for you
platform = "android"                                   # android or ios
advertising_id = "3f2c8a1e-5b7d-4c9e-a1f0-6d2b8e4c7a19" # Settings > Google > Ads (or iOS IDFA)
android_id = "9774d56d682e549c"                        # Settings.Secure.ANDROID_ID (16 hex digits)
idfv = ""                                              # iOS identifierForVendor
imei = "358240051111110"                               # *#06# (15 digits)
serial = "R58M1234ABC"                                 # Settings > About
wifi_mac = "02:1a:3b:4c:5d:6e"                         # the device's Wi-Fi MAC (turn off MAC randomisation)
bluetooth_mac = ""
lan_ip = "192.168.50.23"                               # the device's address on the lab network
public_ip = "203.0.113.45"                             # the lab's public address (what servers see)

[network]
ssid = "ClassroomLab-5G"                               # Wi-Fi network name
bssid = "a4:2b:b0:11:22:33"                            # the access point's MAC

[student]
first_name = "Mira"
last_name = "Okonkwo-Test"
email = "mira.okonkwo.test@example.org"
username = "mira_ok_test"
phone = "+1 555 0100 234"                              # international form: + country code
birthdate = "2014-03-09"                               # YYYY-MM-DD
student_id = "STU-40918273"
school = "Lakeside Primary Test School"

[location]                                             # the mocked GPS position set on the device
latitude = 52.370216
longitude = 4.895168

# Any other value to search for; data_type is one of the report's data types
# (e.g. other_identifier, email, name, phone, username, device_id).
[[extra]]
name = "parent_email"
data_type = "email"
value = "parent.okonkwo.test@example.org"
"""
"""A commented template with synthetic example values (what ``auditor profile init`` writes)."""


EXAMPLE_SECTIONS = ("device", "network")
"""Template sections that describe one real device: their example values cannot be any device's."""


def example_values(profile: DeviceProfile) -> list[str]:
    """Keys of ``profile`` still holding the template's example device values (never the values themselves).

    The synthetic student of the template may be kept on purpose; the example device
    identifiers, addresses and location describe no real device, so they match nothing.

    >>> example_values(parse_profile(tomllib.loads(TEMPLATE)))[:3]
    ['advertising_id', 'android_id', 'imei']
    """
    template = tomllib.loads(TEMPLATE)
    examples = {
        key: str(value).strip().lower()
        for section in EXAMPLE_SECTIONS
        for key, value in template.get(section, {}).items()
        if value and _SCHEMA.get(section, {}).get(key)
    }
    found = [v.label for v in profile.values if examples.get(v.label) == v.value.strip().lower()]
    location = template.get("location", {})
    if profile.latitude is not None and (profile.latitude, profile.longitude) == (
        location.get("latitude"), location.get("longitude")
    ):
        found.append("location")
    return found
