"""Biometric and recording data: media uploads, WebRTC, face/voice/attention fields, proctoring services.

Uploads are recognised by content type and by file signature (WAV,
Ogg/Opus, WebM, MP4, MP3, JPEG, PNG), in the whole body, in multipart parts
and in base64 strings inside fields. An upload's detection shows what was
uploaded (type and size), never its content; its fingerprint is the
content's digest, so the same recording sent twice merges into one finding.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterator

from auditor.detect import Detection, DetectionContext, Detector, Where
from auditor.detect.context import generic_reason
from auditor.detect.fields import iter_fields, multipart_parts
from auditor.records import HostSource, Record, RecordKind

# (signature, offset, data type, format name)
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"RIFF", 0, "voice", "WAV audio"),  # also needs WAVE at byte 8
    (b"OggS", 0, "voice", "Ogg audio"),
    (b"ID3", 0, "voice", "MP3 audio"),
    (b"\xff\xfb", 0, "voice", "MP3 audio"),
    (b"\xff\xf3", 0, "voice", "MP3 audio"),
    (b"\xff\xf2", 0, "voice", "MP3 audio"),
    (b"\x1a\x45\xdf\xa3", 0, "video", "WebM video"),
    (b"ftyp", 4, "video", "MP4 video"),
    (b"\xff\xd8\xff", 0, "image", "JPEG image"),
    (b"\x89PNG\r\n\x1a\n", 0, "image", "PNG image"),
)
_TYPE_PREFIXES = (("audio/", "voice"), ("video/", "video"), ("image/", "image"))
_FACE_HINT = re.compile(r"face|selfie|portrait|webcam|camera|snapshot|proctor|headshot|photo[-_]?id|liveness", re.I)
_DATA_URL = re.compile(r"^data:((?:audio|video|image)/[\w.+-]{1,40});base64,", re.I)
_B64_MEDIA = ("/9j/", "iVBORw0KGgo", "UklGR", "T2dnUw", "GkXfo", "SUQz", "AAAAGGZ0eXA", "AAAAHGZ0eXA", "AAAAIGZ0eXA")
_RELAY = re.compile(r"\b(stuns?|turns?):([\w.-]{1,253}|\[[0-9a-fA-F:]{2,45}\])(?::\d{1,5})?", re.I)
_TRAILING_INDEX = re.compile(r"(?:\[\d+\])+$")
_KEY_COMPONENT = re.compile(r"[^.\[\]@>#]*[^\W\d][^.\[\]@>#]*")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_RELAY_PORTS = frozenset({3478, 5349, 19302})
# Key names about the body or behaviour of the person -> (data type, what it is).
_BIOMETRIC_KEYS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(?<!inter)(?<!sur)(?<!type)face(?!book)|facial|landmark|headpose"), "biometric_other",
     "face analysis"),
    (re.compile(r"emotion|^mood$|smile|^affect(?!ed)"), "biometric_other", "emotion analysis"),
    (re.compile(r"voiceprint|voicefeature|speaker(?:id|embedding)|voicebiometric|vocal"), "biometric_other",
     "voice analysis"),
    # A page's or element's "dwell time" is reading time, not typing: dwell/flight count only for keys.
    (re.compile(r"keystroke|^typing|keypress(?:es|timing)|key(?:dwell|flight|hold)"),
     "biometric_other", "keystroke dynamics"),
    (re.compile(r"gaze|eyetrack|eyemovement|pupil(?!id)|blink|lookingaway|lookaway"), "attention_tracking",
     "gaze or eye tracking"),
    (re.compile(r"attention|engagementscore|focusscore|distract|tabswitch|offtask"), "attention_tracking",
     "attention tracking"),
)


def sniff_media(data: bytes, content_type: str = "") -> tuple[str, str] | None:
    r"""(data type, format) of audio, video or image bytes, by signature first, then content type.

    >>> sniff_media(b"OggS\x00\x02"), sniff_media(b"{}", "image/png"), sniff_media(b"{}", "application/json")
    (('voice', 'Ogg audio'), ('image', 'image/png'), None)
    """
    for signature, offset, data_type, label in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if signature == b"RIFF" and data[8:12] != b"WAVE":
                continue
            if signature == b"ftyp" and data[8:11] in (b"M4A", b"m4a"):
                return "voice", "M4A audio"
            return data_type, label
    lowered = content_type.lower().split(";")[0].strip()
    for prefix, data_type in _TYPE_PREFIXES:
        if lowered.startswith(prefix):
            return data_type, lowered
    return None


class BiometricDetector(Detector):
    """Recordings, images, WebRTC sessions, biometric fields, and proctoring services."""

    name = "biometric"

    def detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        for detection in self._detect(record, context):
            if detection.reason is None:
                # Name the rule in the reviewer's words: what kind of media or signal, and where it went.
                reason = generic_reason(detection.data_type, f"media rule: {detection.detail}", detection.where,
                                        detection.key)
                detection = dataclasses.replace(detection, reason=reason)
            yield detection

    def _detect(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        yield from self._service(record, context)
        if record.kind is not RecordKind.HTTP and record.server_port in _RELAY_PORTS:
            yield context.detection(
                "biometric_other", Where.CONNECTION, f"port {record.server_port}", record.destination, self.name,
                encoding="webrtc", confidence=0.5, detail="STUN/TURN relay: live audio or video may flow here",
                shown=f"STUN/TURN connection to {record.destination}:{record.server_port}",
            )
        if not record.content_visible:
            return
        yield from self._uploads(record, context)
        yield from self._fields(record, context)

    def _service(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        if context.category_of is None or record.kind is RecordKind.DNS:
            return
        if context.category_of(record.destination) != "proctoring":
            return
        where = {HostSource.SNI: Where.SNI, HostSource.DNS_ANSWER: Where.DNS, HostSource.DNS_QUERY: Where.DNS}.get(
            record.host_source, Where.CONNECTION if record.kind is not RecordKind.HTTP else Where.HEADER
        )
        yield context.detection(
            "biometric_other", where, "host" if where is Where.HEADER else None, record.destination, self.name,
            encoding="service", confidence=0.6, detail="a proctoring or face-analysis service",
            shown=f"traffic to proctoring service {record.destination}",
        )

    def _upload(
        self, context: DetectionContext, data: bytes, found: tuple[str, str], key: str | None, hint: str,
        encoding: str = "file",
    ) -> Detection:
        data_type, label = found
        if data_type == "image" and _FACE_HINT.search(hint):
            data_type = "face_image"
        return context.detection(
            data_type, Where.BODY, key, hashlib.sha256(data).hexdigest(), self.name, encoding=encoding,
            confidence=0.9 if data_type != "image" else 0.7, detail=f"{label} upload",
            shown=f"{label} upload, {len(data)} bytes",
        )

    def _uploads(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        body = record.request_body
        if not body:
            return
        content_type = record.request_content_type or ""
        hint = record.url or ""
        if content_type.lower().startswith("multipart/"):
            for part in multipart_parts(body, content_type):
                found = sniff_media(part.data, part.content_type)
                if found is not None and part.data:
                    yield self._upload(context, part.data, found, part.name or None,
                                       f"{hint} {part.name} {part.filename or ''}")
            return
        found = sniff_media(body, content_type)
        if found is not None:
            yield self._upload(context, body, found, None, hint)

    def _fields(self, record: Record, context: DetectionContext) -> Iterator[Detection]:
        reported: set[tuple[str, str]] = set()
        for item in iter_fields(record):
            if item.parsed:
                continue
            value = item.value
            if len(value) >= 64:
                media = _base64_media(value)
                if media is not None:
                    data, found = media
                    yield self._upload(context, data, found, item.key or None, f"{record.url} {item.key}",
                                       encoding=">".join((*item.chain, "base64")))
                    continue
            if ("stun" in value or "turn" in value or "STUN" in value or "TURN" in value) and len(value) < 65536:
                for match in _RELAY.finditer(value):
                    marker = ("relay", match.group(0))
                    if marker not in reported:
                        reported.add(marker)
                        yield context.detection(
                            "biometric_other", item.where, item.key or None, match.group(0), self.name,
                            encoding="webrtc", confidence=0.5,
                            detail="STUN/TURN server: the app sets up live audio or video",
                            shown=f"WebRTC relay {match.group(1).lower()}:{match.group(2)}",
                        )
            if "m=audio" in value or "m=video" in value:
                for kind, data_type in (("audio", "voice"), ("video", "video")):
                    if f"m={kind}" in value and ("sdp", kind) not in reported:
                        reported.add(("sdp", kind))
                        yield context.detection(
                            data_type, item.where, item.key or None, value[:4096], self.name, encoding="sdp",
                            confidence=0.6, detail=f"WebRTC session offering {kind}",
                            shown=f"WebRTC {kind} session description",
                        )
            about = _biometric_path(item.key)
            if about is None or not value.strip():
                continue
            data_type, label, key = about
            if (data_type, key) not in reported:
                reported.add((data_type, key))
                yield context.detection(
                    data_type, item.where, key or None, value[:1024], self.name,
                    encoding=item.encoding, confidence=0.6, detail=label,
                )


@functools.lru_cache(maxsize=8192)
def _biometric_path(key: str) -> tuple[str, str, str] | None:
    """(data type, what it is, key path of the field or object) when a key path is about the person's body.

    Telemetry nests samples (``keystrokes[0].dwell``, ``emotion.happy``), so the
    innermost named component that says what they are decides, and the
    detection is keyed by that object, once for all its samples.

    >>> _biometric_path("keystroke_dynamics[3].flight"), _biometric_path("score.total")
    (('biometric_other', 'keystroke dynamics', 'keystroke_dynamics'), None)
    """
    components = list(_KEY_COMPONENT.finditer(key))
    for match in reversed(components):
        about = _biometric_key(_NOT_ALNUM.sub("", match.group(0).lower()))
        if about is not None:
            return (*about, _TRAILING_INDEX.sub("", key[: match.end()]))  # one detection for an array of samples
    return None


@functools.lru_cache(maxsize=8192)
def _biometric_key(name: str) -> tuple[str, str] | None:
    """(data type, what it is) when a key name is about the body or behaviour of the person."""
    if not name:
        return None
    for pattern, data_type, label in _BIOMETRIC_KEYS:
        if pattern.search(name):
            return data_type, label
    return None


def _base64_media(value: str) -> tuple[bytes, tuple[str, str]] | None:
    """A media file carried as base64 (or a ``data:`` URL) inside a field."""
    text = value.strip()
    content_type = ""
    data_url = _DATA_URL.match(text)
    if data_url:
        content_type = data_url.group(1)
        text = text[data_url.end() :]
    elif not text.startswith(_B64_MEDIA):
        return None
    try:
        data = base64.b64decode(text[: 4 * (len(text) // 4)], validate=False)
    except (binascii.Error, ValueError):
        return None
    found = sniff_media(data, content_type)
    return (data, found) if found is not None else None
