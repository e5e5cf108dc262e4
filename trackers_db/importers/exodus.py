"""εxodus tracker signatures (``/api/trackers``): app SDKs with hostname regexes.

License ODbL 1.0 (database) / DbCL 1.0 (contents). A ``network_signature`` is
a regex over host names; simple alternations of literal domains become domain
entries, anything else (paths, ports, wildcards inside names) is counted as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trackers_db.database import DomainEntry
from trackers_db.importers.common import (
    ImportedList,
    SourceSpec,
    download_files,
    find_file,
    load_json,
    mapping,
    normalize_domain,
    require,
    text_or_none,
    versioned_by_content,
)

NAME = "exodus"
BASE_URL = "https://reports.exodus-privacy.eu.org/"
FILES = ("api/trackers",)

CATEGORY_MAP: dict[str, str] = {
    "Crash reporting": "crash_reporting",
    "Advertisement": "advertising",
    "Analytics": "analytics",
    "Profiling": "data_broker",
    "Location": "data_broker",
    "Identification": "fingerprinting",
}
"""εxodus category -> vocabulary; a tracker with several takes the first in this order."""

_ORDER = {name: rank for rank, name in enumerate(CATEGORY_MAP)}
_LEADING_WILDCARD = re.compile(r"^(?:\^|\.\*\\?\.|\\\.)")
_ESCAPED = re.compile(r"\\([.\-])")


def signature_domains(signature: str) -> tuple[list[str], int]:
    r"""Literal domains in a hostname regex, and how many alternatives were not literal domains.

    >>> signature_domains(r"adj\.st|adjust\.com|.*\.adjust\.io|54\.1\.2\.3:80/x")
    (['adj.st', 'adjust.com', 'adjust.io'], 1)
    """
    domains: list[str] = []
    failed = 0
    for alternative in signature.split("|"):
        text = _LEADING_WILDCARD.sub("", alternative.strip()).removesuffix("$")
        literal = _ESCAPED.sub(r"\1", text)
        domain = normalize_domain(literal) if not re.search(r"[\\^$*+?()\[\]{}/:]", literal) else None
        # An unescaped dot is a regex wildcard, but in these signatures it always means a dot.
        if domain and "." in domain:
            domains.append(domain)
        else:
            failed += 1
    return domains, failed


def parse_exodus(document: dict[str, Any], origin: str = "trackers.json") -> ImportedList:
    """Entries from the parsed API answer; every εxodus tracker counts as a tracker."""
    require(
        isinstance(document, dict) and isinstance(document.get("trackers"), dict),
        origin,
        "not an εxodus trackers answer (no trackers object)",
    )
    entries: list[DomainEntry] = []
    seen: set[str] = set()
    unconverted_regexes = 0
    for tracker_id, tracker in document["trackers"].items():
        tracker = mapping(tracker)  # a tracker of the wrong shape is skipped, not the whole list
        signature = str(tracker.get("network_signature") or "").strip()
        if not signature:
            continue
        domains, failed = signature_domains(signature)
        if failed:
            unconverted_regexes += 1
        listed = tracker.get("categories")
        categories = sorted((c for c in listed if isinstance(c, str) and c in CATEGORY_MAP)
                            if isinstance(listed, list) else (), key=_ORDER.__getitem__)
        for domain in domains:
            if domain in seen:
                continue
            seen.add(domain)
            entries.append(
                DomainEntry(
                    domain=domain,
                    source=NAME,
                    company=None,  # εxodus names SDKs, not companies
                    category=CATEGORY_MAP[categories[0]] if categories else None,
                    service=text_or_none(tracker.get("name")),
                    rule=f"{tracker_id}:{tracker.get('name')}",
                    tracker=True,
                )
            )
    return ImportedList(
        NAME,
        "",
        entries,
        skipped=unconverted_regexes,
        skipped_reason="network signatures with parts that are not literal domains (paths, ports, wildcards)",
    )


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse a saved ``/api/trackers`` answer (``trackers.json``)."""
    path = find_file(paths, ["trackers.json", "trackers"], "εxodus trackers.json")
    return versioned_by_content(parse_exodus(load_json(path, "εxodus trackers.json"), str(path)), path)


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download the API's tracker list."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "εxodus tracker signatures", "ODbL-1.0 / DbCL-1.0", False, BASE_URL, FILES, read, fetch)
