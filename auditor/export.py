"""Interchange: the requests whose content was read, as HAR 1.2; records, destinations and findings as Parquet.

Any input works, TLS-decrypted pcap included, so traffic the auditor decrypted
can be opened in HAR viewers and other auditors. Only records whose content
was read become HAR entries: a DNS lookup or an encrypted connection has no
request to show. HAR and the records table hold captured content as it was
sent (personal values included): keep them as private as the capture.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from auditor import __version__
from auditor.records import InputProblem, Record, RecordKind
from auditor.sources import InputError, ReadOptions, describe_input, read_input


def read_records(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Every record of one input; problems are collected, never raised."""
    summary = describe_input(path)
    try:
        yield from read_input(path, options, summary)
    except InputError as exc:
        summary.problems.append(InputProblem(exc.path, exc.message, fatal=True))
    problems.extend(summary.problems)


def _started(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _post_data(record: Record) -> dict[str, Any] | None:
    if not record.request_body:
        return None
    post: dict[str, Any] = {"mimeType": record.request_content_type or ""}
    try:
        post["text"] = record.request_body.decode("utf-8")
    except UnicodeDecodeError:
        # Not text: base64, as HAR 1.2 allows for content and as our HAR reader (and others) accept here.
        post["text"] = base64.b64encode(record.request_body).decode("ascii")
        post["encoding"] = "base64"
    if record.request_body_truncated:
        post["comment"] = "body cut at the auditor's body cap"
    return post


def har_entry(record: Record) -> dict[str, Any]:
    """One HAR 1.2 entry for a record whose content was read."""
    url = record.url or f"http://{record.destination}/"
    version = record.protocol or "HTTP/1.1"
    request: dict[str, Any] = {
        "method": record.method or "GET",
        "url": url,
        "httpVersion": version,
        "cookies": _pairs(record.cookies),
        "headers": _pairs(record.request_headers),
        "queryString": _pairs(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(record.request_body),
    }
    post = _post_data(record)
    if post is not None:
        request["postData"] = post
    response_headers = [("Content-Type", record.response_content_type)] if record.response_content_type else []
    entry: dict[str, Any] = {
        "startedDateTime": _started(record.time),
        "time": 0,
        "request": request,
        "response": {
            "status": record.response_status or 0,
            "statusText": "",
            "httpVersion": version,
            "cookies": [],
            "headers": _pairs(response_headers),
            "content": {"size": record.bytes_down, "mimeType": record.response_content_type or ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }
    if record.server_ip:
        entry["serverIPAddress"] = record.server_ip
    if record.server_port:
        entry["connection"] = str(record.server_port)
    if record.note:
        entry["comment"] = record.note
    return entry


def har_document(records: Iterable[Record], comment: str = "") -> dict[str, Any]:
    """A HAR 1.2 log of the HTTP records whose content was read, in time order."""
    entries = [har_entry(r) for r in records if r.kind is RecordKind.HTTP and r.content_visible]
    entries.sort(key=lambda e: e["startedDateTime"])
    log: dict[str, Any] = {
        "version": "1.2",
        "creator": {"name": "classroom-auditor", "version": __version__},
        "pages": [],
        "entries": entries,
    }
    if comment:
        log["comment"] = comment
    return {"log": log}


def write_har(document: dict[str, Any], path: Path) -> None:
    """Write a HAR file atomically."""
    from auditor.batch import write_atomically

    write_atomically(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def parquet_tables(paths: Iterable[Path], read_options: ReadOptions, **analyze_options: Any) -> dict[str, Any]:
    """Records, destinations and findings of an audit as DataFrames ready for Parquet (nested values as JSON)."""
    from auditor.api import analyze

    result = analyze(list(paths), read_options=read_options, **analyze_options)
    return {
        "records": _flat(result.records),
        "destinations": _flat(result.destinations),
        "findings": _flat(result.findings),
    }


def _flat(frame: Any) -> Any:
    """Lists, tuples and dicts as JSON text, so every column has one Parquet type."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, list | tuple | dict)).any():
            frame[column] = frame[column].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | tuple | dict) else v
            )
    return frame


def write_parquet(tables: dict[str, Any], folder: Path) -> list[Path]:
    """Write each DataFrame to ``folder/<name>.parquet`` with DuckDB (no pyarrow needed)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with duckdb.connect() as connection:
        for name, frame in tables.items():
            target = folder / f"{name}.parquet"
            connection.register("frame", frame)
            connection.execute(f"COPY (SELECT * FROM frame) TO '{str(target).replace(chr(39), chr(39) * 2)}' "
                               "(FORMAT PARQUET)")
            connection.unregister("frame")
            written.append(target)
    return written
