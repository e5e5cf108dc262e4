"""Shared pieces of the importers: the parse result, domain normalisation, download, storage.

Parsing is pure (text in, :class:`ImportedList` out); :func:`download_files`
is the only network code; :func:`write_imported` is the only writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trackers_db.database import DomainEntry, imported_dir

MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
"""Refuse upstream files larger than this (the largest list today is a few MB; a radar tarball ~100 MB)."""

DOWNLOAD_TIMEOUT = 60.0
"""Seconds without progress before a download is abandoned."""


class ListFormatError(ValueError):
    """A tracker list file is not in the format its importer expects; the message names the file."""


class FetchError(OSError):
    """An upstream list could not be downloaded; the message names the URL."""


@dataclass(frozen=True)
class ImportedList:
    """One source's list, parsed and mapped onto the project's vocabulary."""

    source: str
    """Source name, e.g. ``adguard``."""
    version: str
    """The list's own version or update time, or a content hash when it has none."""
    entries: list[DomainEntry]
    """One entry per domain."""
    cnames: dict[str, str] = field(default_factory=dict)
    """Known CNAME aliases (alias -> target) the list records."""
    skipped: int = 0
    """Rules that could not be turned into domain entries."""
    skipped_reason: str = ""
    """What the skipped rules were, for ``db import`` output."""


@dataclass(frozen=True)
class SourceSpec:
    """How to read, and where to fetch, one source."""

    name: str
    """The name used on the command line and in verdicts."""
    title: str
    license: str
    """The data's license; NC lists are imported by users, never bundled."""
    non_commercial: bool
    base_url: str
    """Default upstream location; ``files`` are relative to it."""
    files: tuple[str, ...]
    """Upstream files to download, relative to ``base_url``."""
    read: Callable[[Sequence[Path]], ImportedList]
    """Parse the given files or folders (pure apart from reading them)."""
    fetch: Callable[[Path, str], list[Path]]
    """Download the upstream files into a folder; return the paths to pass to ``read``."""


_HOST = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_domain(text: str) -> str | None:
    """A list's domain in lookup form, or ``None`` when it is not a plain domain name.

    >>> normalize_domain("*.App-Measurement.com."), normalize_domain("adservice.google.*")
    ('app-measurement.com', None)
    >>> normalize_domain("localhost") is None
    True
    """
    domain = text.strip().lower().rstrip(".")
    while domain.startswith(("*.", ".")):
        domain = domain[1:] if domain.startswith(".") else domain[2:]
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if _HOST.match(domain) else None


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: a list item of the wrong shape is skipped, not fatal.

    >>> mapping({"a": 1}), mapping("text"), mapping(None)
    ({'a': 1}, {}, {})
    """
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    """A name from a list as text (numbers too), or ``None`` when it is missing or not a plain value.

    >>> text_or_none("Google"), text_or_none(7), text_or_none(["x"]), text_or_none("")
    ('Google', '7', None, None)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def content_version(*texts: str | bytes) -> str:
    """A version for lists that carry none: a short hash of their content."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") if isinstance(text, str) else text)
    return f"sha256:{digest.hexdigest()[:12]}"


def load_json(path: Path, what: str) -> Any:
    """Parse a JSON file, naming it in the error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ListFormatError(f"{path}: cannot read {what} as JSON ({exc})") from exc


def require(condition: bool, path: Path | str, message: str) -> None:
    """Raise :class:`ListFormatError` naming the file unless ``condition`` holds."""
    if not condition:
        raise ListFormatError(f"{path}: {message}")


def find_file(paths: Sequence[Path], names: Iterable[str], what: str) -> Path:
    """The first given file with one of ``names``, or such a file inside a given folder."""
    names = tuple(names)
    for path in paths:
        if path.is_file() and path.name in names:
            return path
    for path in paths:
        if path.is_dir():
            for name in names:
                found = sorted(path.rglob(name))
                if found:
                    return found[0]
    if len(paths) == 1 and paths[0].is_file():
        return paths[0]
    shown = ", ".join(str(p) for p in paths) or "(nothing given)"
    raise ListFormatError(f"{shown}: no {what} ({' or '.join(names)}) found")


def find_companion(paths: Sequence[Path], primary: Path, name: str) -> Path | None:
    """An optional second file of a source (given, or beside the first one), or ``None``."""
    try:
        found = find_file([*paths, primary.parent], [name], name)
    except ListFormatError:
        return None
    return None if found == primary else found


def versioned_by_content(parsed: ImportedList, *paths: Path) -> ImportedList:
    """The parsed list with a content hash as version, for lists that carry no version of their own."""
    return replace(parsed, version=content_version(*(path.read_bytes() for path in paths)))


def download_files(base_url: str, files: Sequence[str], dest_dir: Path) -> list[Path]:
    """Download ``base_url``/``file`` for each file into ``dest_dir`` (keeping relative paths)."""
    if not base_url.endswith("/"):
        base_url += "/"
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise FetchError(f"{base_url}: only http and https URLs can be fetched")
    paths = []
    for relative in files:
        url = urllib.parse.urljoin(base_url, relative)
        target = dest_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        download(url, target)
        paths.append(target)
    return paths


def download(url: str, target: Path) -> None:
    """Stream one URL into ``target``, refusing oversized answers."""
    request = urllib.request.Request(url, headers={"User-Agent": "classroom-auditor tracker-list importer"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response, target.open("wb") as out:
            received = 0
            while chunk := response.read(1 << 16):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise FetchError(f"{url}: larger than {MAX_DOWNLOAD_BYTES // (1 << 20)} MB; refusing")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error carries the open response
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        if isinstance(exc, FetchError):
            raise
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"{url}: cannot download ({reason})") from exc


def dedupe(entries: Iterable[DomainEntry]) -> list[DomainEntry]:
    """One entry per domain, the first one given winning."""
    seen: dict[str, DomainEntry] = {}
    for entry in entries:
        seen.setdefault(entry.domain, entry)
    return list(seen.values())


def now_iso() -> str:
    """The import time, UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def document_for(imported: ImportedList, spec: SourceSpec, upstream: str, imported_at: str) -> dict[str, Any]:
    """The normalized JSON document of an imported list (read by ``load_imported_document``).

    Company, parent and country are stored once per company and referenced by
    index, so a list of 50,000 domains of 2,000 companies stays small.
    """
    companies: dict[tuple[str | None, str | None, str | None], int] = {}
    rows: list[dict[str, Any]] = []
    for entry in imported.entries:
        row: dict[str, Any] = {"domain": entry.domain}
        owner = (entry.company, entry.parent, entry.country)
        if any(owner):
            row["c"] = companies.setdefault(owner, len(companies))
        if entry.category:
            row["category"] = entry.category
        if entry.service:
            row["service"] = entry.service
        if entry.rule and entry.rule != entry.domain:
            row["rule"] = entry.rule
        if entry.tracker:
            row["tracker"] = True
        rows.append(row)
    return {
        "format": 1,
        "source": spec.name,
        "title": spec.title,
        "version": imported.version,
        "license": spec.license,
        "non_commercial": spec.non_commercial,
        "upstream": upstream,
        "imported_at": imported_at,
        "skipped_rules": imported.skipped,
        "skipped_reason": imported.skipped_reason,
        "companies": [{"company": c, "parent": p, "country": k} for (c, p, k) in companies],
        "entries": rows,
        "cnames": dict(sorted(imported.cnames.items())),
    }


def write_imported(
    imported: ImportedList, spec: SourceSpec, upstream: str, folder: Path | None = None, imported_at: str | None = None
) -> Path:
    """Write the list into the user's data folder (owner-only), atomically; return its path."""
    folder = folder or imported_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{spec.name}.json"
    document = document_for(imported, spec, upstream, imported_at or now_iso())
    handle, temporary = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
