"""Pattern detectors that need no known values: key names, value formats, media uploads."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from auditor.detect import Detection, DetectionContext, Detector, Where
from auditor.detect.fields import Field, iter_fields
from auditor.records import Record

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
_NUMBER = re.compile(r"^-?\d{1,3}\.(\d+)$")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"

# Last key-path component (lowercased, separators removed) -> data type.
_KEY_TYPES: dict[str, str] = {
    **dict.fromkeys(("idfa", "gaid", "adid", "aaid", "advertisingid", "googleadid", "ifa", "adidentifier"), "advertising_id"),
    **dict.fromkeys(("androidid", "idfv", "deviceid", "udid", "installationid", "vendorid"), "device_id"),
    **dict.fromkeys(("imei", "meid", "serial", "serialnumber", "macaddress", "wifimac", "mac"), "hardware_id"),
    **dict.fromkeys(("bssid", "ssid", "wifissid", "wifibssid"), "network_id"),
    **dict.fromkeys(("firstname", "lastname", "fullname", "givenname", "familyname", "studentname", "surname"), "name"),
    **dict.fromkeys(("phone", "phonenumber", "mobile", "msisdn", "tel", "telephone"), "phone"),
    **dict.fromkeys(("birthdate", "dob", "dateofbirth", "birthday"), "birthdate"),
    **dict.fromkeys(("username", "login", "userlogin"), "username"),
    **dict.fromkeys(("password", "passwd", "pwd"), "credentials"),
    **dict.fromkeys(("studentid", "pupilid", "learnerid"), "student_id"),
    **dict.fromkeys(("ip", "ipaddress", "clientip", "userip", "remoteip"), "ip_address"),
}
_LAT_KEYS = frozenset({"lat", "latitude", "geolat", "locationlat", "y"})
_LON_KEYS = frozenset({"lon", "lng", "long", "longitude", "geolon", "geolng", "locationlon", "locationlng", "x"})
_HEADER_SKIP = frozenset({"user-agent", "authorization", "x-request-id", "traceparent", "sentry-trace"})


def _key_name(key: str) -> str:
    last = re.split(r"[.\[\]]", key.rstrip("]"))[-1] if key else ""
    return re.sub(r"[^a-z0-9]", "", last.lower())


def _decimals(value: str) -> int | None:
    match = _NUMBER.match(value.strip())
    return len(match.group(1)) if match else None


class KeyAndFormatDetector(Detector):
    """Personal data recognised by the key it sits under or by its format."""

    name = "key-and-format"

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        if not record.content_visible:
            return
        for item in iter_fields(record):
            if item.where is Where.HEADER and item.key in _HEADER_SKIP:
                continue
            yield from self._by_key(item, context)
            yield from self._by_format(item, context)

    def _by_key(self, item: Field, context: DetectionContext) -> Iterable[Detection]:
        key = _key_name(item.key)
        value = item.value.strip()
        if not value or len(value) > 256:
            return
        if key in _LAT_KEYS or key in _LON_KEYS:
            decimals = _decimals(value)
            limit = 90 if key in _LAT_KEYS else 180
            if decimals is not None and decimals >= 1 and abs(float(value)) <= limit and key not in ("x", "y"):
                data_type = "precise_location" if decimals >= 3 else "coarse_location"
                yield context.detection(data_type, item.where, item.key, value, self.name, confidence=0.8)
            return
        data_type = _KEY_TYPES.get(key)
        if data_type is None:
            return
        if data_type == "advertising_id" and (not _UUID.match(value) or value == _ZERO_UUID):
            return
        if data_type == "ip_address":
            return  # handled by format, so it is reported once
        yield context.detection(data_type, item.where, item.key, value, self.name, confidence=0.75)

    def _by_format(self, item: Field, context: DetectionContext) -> Iterable[Detection]:
        value = item.value.strip()
        for match in _EMAIL.finditer(value[:4096]):
            yield context.detection("email", item.where, item.key, match.group(0), self.name, confidence=0.9)
        if len(value) <= 45:
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                return
            if address.is_global or value in context.device_ips:
                yield context.detection("ip_address", item.where, item.key, value, self.name, confidence=0.85)


_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, "voice"),  # WAV (checked for WAVE below)
    (b"OggS", 0, "voice"),
    (b"ID3", 0, "voice"),
    (b"\xff\xfb", 0, "voice"),
    (b"\x1a\x45\xdf\xa3", 0, "video"),  # WebM / Matroska
    (b"ftyp", 4, "video"),  # MP4 / MOV
    (b"\xff\xd8\xff", 0, "image"),
    (b"\x89PNG\r\n\x1a\n", 0, "image"),
)


class MediaUploadDetector(Detector):
    """Audio, video and image uploads, by content type and by file signature."""

    name = "media-upload"

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        if not record.content_visible or not record.request_body:
            return
        body = record.request_body
        content_type = (record.request_content_type or "").lower()
        data_type: str | None = None
        for signature, offset, kind in _SIGNATURES:
            if body[offset : offset + len(signature)] == signature:
                if signature == b"RIFF" and body[8:12] != b"WAVE":
                    continue
                data_type = kind
                break
        if data_type is None:
            if content_type.startswith("audio/"):
                data_type = "voice"
            elif content_type.startswith("video/"):
                data_type = "video"
            elif content_type.startswith("image/"):
                data_type = "image"
        if data_type is None:
            return
        label = f"{content_type or 'binary'} upload, {len(body)} bytes"
        yield context.detection(data_type, Where.BODY, None, label, self.name, encoding="file", confidence=0.9)
