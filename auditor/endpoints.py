"""Per-request endpoint attribution: a destination keyed by host learns which tracker paths it served.

A host such as ``www.google.com`` is a site for most paths and a tracker for a few
(``/ads/ga-audiences``, ``/pagead/``). The analysis keeps destinations keyed by host
and counts the curated endpoints (``trackers_db/endpoints.py``) their requests used;
a destination that served a tracking endpoint is reported with that endpoint's
company, service and category, and its ``endpoints`` list says which paths.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from auditor.classify import HostClassification
from auditor.records import Record, RecordKind
from trackers_db.endpoints import Endpoint, endpoint_for
from trackers_db.vocabulary import Category


def endpoint_of(record: Record, host: str | None) -> Endpoint | None:
    """The curated endpoint an HTTP record with a known path went to, if any."""
    if record.kind is not RecordKind.HTTP or not record.url or not host:
        return None
    try:
        path = urlsplit(record.url).path or "/"
    except ValueError:
        return None
    return endpoint_for(host, path)


def with_endpoints(classification: HostClassification, used: Counter[Endpoint]) -> HostClassification:
    """The host's classification, or that of the busiest tracking endpoint it served when the host is no tracker."""
    if classification.is_tracker:
        return classification
    trackers = [(count, e.path, e) for e, count in used.items() if e.is_tracker]
    if not trackers:
        return classification
    _, _, endpoint = max(trackers)
    return dataclasses.replace(
        classification,
        company=classification.company or endpoint.company,
        parent=classification.parent or endpoint.parent,
        category=Category.of(endpoint.category),
        service=endpoint.name,
        is_tracker=True,
    )


def endpoints_json(used: Counter[Endpoint]) -> list[dict[str, Any]]:
    """The report's ``destinations[].endpoints``: each curated path prefix used, busiest first."""
    return [
        {"path": e.path, "service": e.name, "company": e.company, "category": e.category,
         "is_tracker": e.is_tracker, "requests": count}
        for e, count in sorted(used.items(), key=lambda item: (-item[1], item[0].path))
    ]
