"""Host rules from adblock lists (EasyPrivacy, EasyList: ``||host^``) and hosts files (``0.0.0.0 host``).

EasyList/EasyPrivacy are GPL-3.0+ or CC BY-SA 3.0+. Host lists name no owner
or category: every host they list counts as a tracker, and other sources (or
the curated database) supply the company.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from trackers_db.database import DomainEntry
from trackers_db.importers.common import (
    ImportedList,
    ListFormatError,
    SourceSpec,
    content_version,
    download_files,
    normalize_domain,
)

NAME = "hosts"
BASE_URL = "https://easylist.to/easylist/"
FILES = ("easyprivacy.txt",)

_ADBLOCK_HOST = re.compile(r"^\|\|([^/^$*|]+)\^(?:\$(.*))?$")
_HOSTS_LINE = re.compile(r"^(?:0\.0\.0\.0|127\.0\.0\.1|::1?|::)\s+(\S+)")
_SINK_NAMES = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0", "ip6-localhost"})
_UNCONDITIONAL_OPTIONS = frozenset({"third-party", "3p", "important", "all", "doc", "document", "popup"})


def parse_host_rules(lines: Sequence[str], list_name: str = "") -> tuple[list[DomainEntry], int, str]:
    """Entries for unconditional host rules; return (entries, skipped rules, version from the header).

    Rules limited to some sites (``$domain=``), exceptions (``@@``), URL-path and
    cosmetic rules are not host facts and are skipped.

    >>> rules = ["||t.example.com^", "||ads.example^$domain=a.test", "0.0.0.0 px.example.net"]
    >>> entries, skipped, _ = parse_host_rules(rules)
    >>> [e.domain for e in entries], skipped
    (['t.example.com', 'px.example.net'], 1)
    """
    entries: list[DomainEntry] = []
    seen: set[str] = set()
    skipped = 0
    version = ""
    prefix = f"{list_name}:" if list_name else ""
    # In adblock syntax a bare line is a URL fragment, not a host: accept bare names only in plain lists.
    adblock_syntax = any(line.startswith(("[Adblock", "||", "@@")) for line in lines[:5000])
    for raw_line in lines:
        line = raw_line.strip()
        if not line or line.startswith("[Adblock"):
            continue
        if line.startswith("!") or line.startswith("#"):
            header = line.lstrip("!# ")
            if header.lower().startswith(("version:", "last modified:")) and not version:
                value = header.split(":", 1)[1].strip()
                version = "" if "%" in value else value
            continue
        domain: str | None = None
        match = _ADBLOCK_HOST.match(line)
        if match:
            options = {o.strip().lstrip("~") for o in (match.group(2) or "").split(",") if o.strip()}
            if options <= _UNCONDITIONAL_OPTIONS or all(o in _RESOURCE_TYPES for o in options - _UNCONDITIONAL_OPTIONS):
                domain = normalize_domain(match.group(1)) if not match.group(1).endswith(".") else None
        else:
            hosts_match = _HOSTS_LINE.match(line)
            bare = not adblock_syntax and " " not in line and "/" not in line
            name = hosts_match.group(1) if hosts_match else (line if bare else "")
            if name and name.lower() not in _SINK_NAMES and not any(c in name for c in "|^$*#@"):
                domain = normalize_domain(name)
        if domain is None:
            skipped += 1
            continue
        if domain not in seen:
            seen.add(domain)
            entries.append(DomainEntry(domain=domain, source=NAME, company=None, rule=f"{prefix}{line}", tracker=True))
    return entries, skipped, version


_RESOURCE_TYPES = frozenset(
    {
        "script",
        "image",
        "stylesheet",
        "xmlhttprequest",
        "xhr",
        "subdocument",
        "frame",
        "ping",
        "media",
        "font",
        "object",
        "websocket",
        "other",
        "beacon",
        "css",
        "match-case",
    }
)
"""Options that limit a host rule to request types, not to sites: the host is still a tracker host."""


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse every given list (files, or ``*.txt`` inside folders) into one ``hosts`` source."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.txt")) if path.is_dir() else [path])
    if not files:
        raise ListFormatError(f"{', '.join(map(str, paths))}: no host list files found")
    entries: dict[str, DomainEntry] = {}
    skipped = 0
    versions = []
    raw: list[bytes] = []
    for path in files:
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ListFormatError(f"{path}: cannot read as a UTF-8 host list ({exc})") from exc
        raw.append(data)
        found, skipped_here, version = parse_host_rules(text.splitlines(), path.stem)
        if not found:
            raise ListFormatError(f"{path}: no host rules (||host^ or '0.0.0.0 host' lines) found")
        for entry in found:
            entries.setdefault(entry.domain, entry)
        skipped += skipped_here
        versions.append(f"{path.stem} {version or content_version(data)}")
    return ImportedList(
        NAME,
        "; ".join(versions),
        list(entries.values()),
        skipped=skipped,
        skipped_reason="rules that are not unconditional host rules (paths, $domain=, exceptions, cosmetic)",
    )


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download EasyPrivacy."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(
    NAME,
    "Host rules (EasyPrivacy, EasyList, hosts files)",
    "GPL-3.0-or-later OR CC-BY-SA-3.0+ (EasyList)",
    False,
    BASE_URL,
    FILES,
    read,
    fetch,
)
