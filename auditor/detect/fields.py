"""Walk a record's request into (where, key path, value) fields for detectors.

Bodies are parsed by their content: JSON is walked key by key, form bodies
split into their parameters, anything else is kept as one text field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from auditor.detect import Where
from auditor.records import Record

MAX_FIELDS = 20000
"""Fields walked per record: a hostile body cannot make one record cost unbounded time."""

# Headers every request has and that carry nothing about the person.
_DULL_HEADERS = frozenset(
    {"host", ":authority", "content-length", "accept", "accept-encoding", "accept-language", "connection",
     "content-type", "cache-control", "pragma", "origin", "referer", "te", "upgrade-insecure-requests",
     "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user", "priority", "cookie"}
)


@dataclass(frozen=True, slots=True)
class Field:
    """One value in a request and where it sits."""

    where: Where
    key: str
    value: str


def iter_fields(record: Record) -> Iterator[Field]:
    """Every value in the request, each with its location and key path."""
    count = 0
    for item in _raw_fields(record):
        yield item
        count += 1
        if count >= MAX_FIELDS:
            return


def _raw_fields(record: Record) -> Iterator[Field]:
    if record.url:
        try:
            parts = urlsplit(record.url)
        except ValueError:
            parts = None
        if parts is not None:
            for index, segment in enumerate(p for p in parts.path.split("/") if p):
                yield Field(Where.PATH, f"path[{index}]", unquote(segment))
            for key, value in parse_qsl(parts.query, keep_blank_values=False):
                yield Field(Where.QUERY, key, value)
    for name, value in record.request_headers:
        if name.lower() not in _DULL_HEADERS:
            yield Field(Where.HEADER, name.lower(), value)
    for name, value in record.cookies:
        yield Field(Where.COOKIE, name, unquote(value))
    if record.request_body:
        yield from body_fields(record.request_body, record.request_content_type or "")


def body_fields(body: bytes, content_type: str) -> Iterator[Field]:
    """Fields of a body: JSON walked, forms split, other text as one field."""
    text = body.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if document is not None:
            yield from walk_json(document, "")
            return
    if "x-www-form-urlencoded" in content_type.lower() or ("=" in text and " " not in text.strip()):
        pairs = parse_qsl(text.strip(), keep_blank_values=False)
        if pairs:
            for key, value in pairs:
                yield Field(Where.BODY, key, value)
            return
    if not content_type.lower().startswith(("audio/", "video/", "image/")):
        yield Field(Where.BODY, "", text)


def walk_json(node: Any, path: str) -> Iterator[Field]:
    """Leaves of a JSON document with dotted key paths (``events[0].params.lat``)."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        current, here = stack.pop()
        if isinstance(current, dict):
            for key, value in reversed(list(current.items())):
                stack.append((value, f"{here}.{key}" if here else str(key)))
        elif isinstance(current, list):
            for index in range(len(current) - 1, -1, -1):
                stack.append((current[index], f"{here}[{index}]"))
        elif current is not None and not isinstance(current, bool):
            yield Field(Where.BODY, here, str(current))
