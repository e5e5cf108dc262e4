"""HAR 1.1/1.2 files, as browsers, Charles, mitmproxy and HAR recorders write them.

A truncated HAR still yields every entry before the damage.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from auditor.decoding import DecodedBody, decode_content
from auditor.privacy import redact_text
from auditor.records import HostSource, InputProblem, Record, RecordKind, SourceKind
from auditor.sources import Format, InputError, ReadOptions
from auditor.sources.common import (
    cookies_from_headers,
    host_of_url,
    is_ip_literal,
    normalize_http_version,
    set_cookies_from_headers,
)

_HAR_START = re.compile(rb'^\s*(\xef\xbb\xbf)?\s*\{\s*"log"\s*:')
_ENTRIES = re.compile(r'"entries"\s*:\s*\[')


def sniff(path: Path, head: bytes) -> bool:
    """Recognise a JSON object whose first key is ``log`` (a HAR's only top-level key)."""
    return bool(_HAR_START.match(head))


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Yield one HTTP record per HAR entry."""
    data = path.read_bytes()
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    text = data.decode("utf-8-sig", errors="replace")
    titles: dict[str, str] = {}
    try:
        document = json.loads(text)
        entries = _entries_of(document, path)
        titles = _page_titles(document)
    except RecursionError as exc:
        raise InputError(str(path), "HAR nests too deeply to read (JSON over ~1000 levels deep)") from exc
    except json.JSONDecodeError as exc:
        entries, offset = _salvage_entries(text)
        at_byte = bom + len(text[: exc.pos].encode("utf-8", errors="replace"))
        if offset is None:
            problems.append(InputProblem(str(path), f"not valid JSON at byte {at_byte}: {exc.msg}", fatal=True))
        else:
            problems.append(
                InputProblem(
                    str(path),
                    f"HAR is damaged at byte {at_byte} ({exc.msg}); read {len(entries)} entries before it",
                    fatal=not entries,
                )
            )
    for index, entry in enumerate(entries):
        try:
            record = entry_to_record(entry, str(path), options.body_cap, _title_of(entry, titles))
            sent = websocket_records(entry, record, options.body_cap)
        except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:  # 10**400 overflows a float
            problems.append(InputProblem(str(path), f"entry {index} skipped: {type(exc).__name__}: {redact_text(exc)}"))
            continue
        yield record
        yield from sent


def websocket_records(entry: dict[str, Any], handshake: Record, body_cap: int) -> list[Record]:
    """Turn the WebSocket messages the page sent (Chrome's ``_webSocketMessages``) into records."""
    messages = entry.get("_webSocketMessages")
    if not isinstance(messages, list):
        return []
    records = []
    for message in messages:
        if not isinstance(message, dict) or message.get("type") != "send":
            continue
        data = str(message.get("data") or "")
        binary = message.get("opcode") == 2
        content = base64.b64decode(data) if binary else data.encode("utf-8", errors="surrogateescape")
        sent_at = message.get("time")
        records.append(
            dataclasses.replace(
                handshake,
                time=float(sent_at) if isinstance(sent_at, int | float) else handshake.time,
                protocol="WebSocket",
                method=None,
                request_headers=(),
                cookies=(),
                request_body=content[:body_cap],
                request_body_truncated=len(content) > body_cap,
                request_content_type="application/octet-stream" if binary else "text/plain; charset=utf-8",
                response_status=None,
                response_content_type=None,
                bytes_up=len(content),
                bytes_down=0,
                note="WebSocket message sent by the page",
            )
        )
    return records


MAX_TITLE_CHARS = 200
"""A page title longer than this is cut: it only names the page for app inference and the report."""


def _page_titles(document: Any) -> dict[str, str]:
    """Page id to title from ``log.pages`` (browsers put the page URL or the document title there)."""
    pages = document["log"].get("pages") if isinstance(document.get("log"), dict) else None
    if not isinstance(pages, list):
        return {}
    titles = {}
    for page in pages:
        if isinstance(page, dict) and isinstance(page.get("id"), str) and isinstance(page.get("title"), str):
            titles[page["id"]] = page["title"].strip()[:MAX_TITLE_CHARS] or page["id"]
    return titles


def _title_of(entry: Any, titles: dict[str, str]) -> str | None:
    pageref = entry.get("pageref") if isinstance(entry, dict) else None
    return titles.get(pageref) if isinstance(pageref, str) else None


def _entries_of(document: Any, path: Path) -> list[Any]:
    try:
        entries = document["log"]["entries"]
    except (KeyError, TypeError) as exc:
        raise InputError(str(path), "HAR has no log.entries list") from exc
    if not isinstance(entries, list):
        raise InputError(str(path), "HAR log.entries is not a list")
    return entries


def _salvage_entries(text: str) -> tuple[list[Any], int | None]:
    """Decode entries one by one until the damage; return them and where the list started."""
    match = _ENTRIES.search(text)
    if not match:
        return [], None
    decoder = json.JSONDecoder()
    entries: list[Any] = []
    pos = match.end()
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        entries.append(entry)
    return entries, match.end()


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(items, list):
        return ()
    return tuple((str(item.get("name", "")), str(item.get("value", ""))) for item in items if isinstance(item, dict))


def _time_of(value: Any) -> float:
    """Seconds since the epoch of a HAR time; one without a UTC offset is taken as UTC, not local time.

    >>> [_time_of(t) for t in ("2026-01-01T10:00:00.5Z", "2026-01-01T11:00:00.5+01:00", "2026-01-01T10:00:00.5")]
    [1767261600.5, 1767261600.5, 1767261600.5]
    """
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _body_of(post: Any) -> tuple[bytes, str | None]:
    if not isinstance(post, dict):
        return b"", None
    mime = post.get("mimeType") or None
    text = post.get("text")
    if isinstance(text, str) and text:
        if post.get("encoding") == "base64":
            try:
                return base64.b64decode(text), mime
            except ValueError:
                pass
        return text.encode("utf-8", errors="surrogateescape"), mime
    params = _pairs(post.get("params"))
    if params:
        return urlencode(params).encode(), mime
    return b"", mime


def _decoded_body(raw: bytes, headers: tuple[tuple[str, str], ...], cap: int) -> DecodedBody:
    """HAR bodies are normally stored decoded; some writers keep the encoded bytes, so try the header's encoding."""
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
    if encoding:
        decoded = decode_content(raw, encoding, cap)
        if decoded.problem is None:
            return decoded
    return decode_content(raw, None, cap)


def _size(*values: Any) -> int:
    total = 0
    for value in values:
        if isinstance(value, int) and value > 0:
            total += value
    return total


def entry_to_record(entry: dict[str, Any], origin: str, body_cap: int, page_title: str | None = None) -> Record:
    """Turn one HAR entry into a record (HAR bodies are already content-decoded)."""
    request = entry["request"]
    response = entry.get("response") or {}
    url = str(request["url"])
    headers = _pairs(request.get("headers"))
    cookies = _pairs(request.get("cookies")) or cookies_from_headers(headers)
    raw_body, mime = _body_of(request.get("postData"))
    body = _decoded_body(raw_body, headers, body_cap)
    raw_content = response.get("content")
    content: dict[str, Any] = raw_content if isinstance(raw_content, dict) else {}
    response_type = content.get("mimeType") if isinstance(content.get("mimeType"), str) else None
    status = response.get("status")
    header_bytes = sum(len(k) + len(v) + 4 for k, v in headers)
    bytes_up = _size(request.get("headersSize"), request.get("bodySize")) or header_bytes + len(raw_body)
    bytes_down = _size(response.get("_transferSize")) or _size(response.get("headersSize"), response.get("bodySize"))
    bytes_down = bytes_down or _size(content.get("size"))
    server_ip = entry.get("serverIPAddress")
    # Anything but an address (a number, a list, stray bytes) is treated as absent.
    server_ip = server_ip.strip("[]") if isinstance(server_ip, str) else None
    server_ip = server_ip if server_ip and is_ip_literal(server_ip) else None
    return Record(
        kind=RecordKind.HTTP,
        time=_time_of(entry.get("startedDateTime")),
        source=SourceKind.HAR,
        host=host_of_url(url),
        host_source=HostSource.URL,
        server_ip=server_ip,
        protocol=normalize_http_version(request.get("httpVersion")),
        content_visible=True,
        encrypted=url.lower().startswith(("https:", "wss:")),
        method=str(request.get("method") or "GET"),
        url=url,
        request_headers=headers,
        cookies=cookies,
        request_body=body.data,
        request_body_truncated=body.truncated,
        request_content_type=mime,
        response_status=status if isinstance(status, int) and status > 0 else None,
        response_content_type=response_type or None,
        set_cookies=_pairs(response.get("cookies")) or set_cookies_from_headers(_pairs(response.get("headers"))),
        bytes_up=bytes_up,
        bytes_down=bytes_down,
        origin=origin,
        page_title=page_title,
    )


FORMAT = Format("har", sniff, read)
