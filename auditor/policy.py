"""The policy catalogue (what guidance asks of schools) and the report's checklist.

The catalogue (``auditor/policy/catalogue.toml``) summarises, in this
project's words, public guidance for schools choosing online services. Rules
cite its entries in ``policy_refs``; :func:`checklist` answers each entry from
the evidence of one audit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any


class Answer(str, Enum):
    """A checklist answer."""

    MET = "met"
    NOT_MET = "not_met"
    NOT_DETERMINABLE = "not_determinable"


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One point of guidance."""

    id: str
    """Stable identifier cited by rules and findings."""
    source: str
    """Who published the guidance."""
    title: str
    """The point as a short heading."""
    summary: str
    """What the guidance asks, in this project's words."""
    traffic: str
    """What network traffic can and cannot show about the point."""
    url: str
    """Where the public guidance is published."""
    determinable: str
    """``yes``, ``partly`` or ``no``: how far traffic can answer the point."""

    def to_json(self) -> dict[str, str]:
        """The entry as the report lists it."""
        return {
            "id": self.id, "source": self.source, "title": self.title, "summary": self.summary,
            "traffic": self.traffic, "url": self.url, "determinable": self.determinable,
        }


def parse_catalogue(text: str) -> tuple[PolicyEntry, ...]:
    """Parse catalogue TOML; raises ``ValueError`` on a missing field or duplicate id."""
    entries = []
    for raw in tomllib.loads(text).get("entry", []):
        try:
            entry = PolicyEntry(**{name: str(raw[name]) for name in PolicyEntry.__slots__})
        except KeyError as exc:
            raise ValueError(f"policy entry {raw.get('id', '?')!r}: missing {exc.args[0]!r}") from None
        if entry.determinable not in ("yes", "partly", "no"):
            raise ValueError(f"policy entry {entry.id!r}: determinable must be yes, partly or no")
        entries.append(entry)
    ids = [e.id for e in entries]
    if len(ids) != len(set(ids)):
        raise ValueError("policy catalogue: duplicate entry id")
    return tuple(entries)


@cache
def load_catalogue() -> tuple[PolicyEntry, ...]:
    """The bundled catalogue.

    >>> ids = {e.id for e in load_catalogue()}
    >>> {"us-coppa", "us-ferpa", "gdpr-art9-biometric"} <= ids
    True
    """
    text = resources.files("auditor").joinpath("policy/catalogue.toml").read_text(encoding="utf-8")
    return parse_catalogue(text)


def checklist(
    findings: Sequence[Mapping[str, Any]],
    rules: Iterable[Mapping[str, Any]],
    share_visible: float | None,
    min_visible: float,
    catalogue: Sequence[PolicyEntry] | None = None,
    coverage_rules: Iterable[str] = (),
    read_requests: int | None = None,
) -> list[dict[str, Any]]:
    """Answer every catalogue point from the evidence.

    ``findings`` and ``rules`` are the report's ``findings`` and ``rules.rules``
    items. A point is *not met* when a finding cites it. It is *met* only on
    positive evidence: a rule testing it ran, no finding of a ``coverage_rules``
    rule (content that could not be read) cites it, ``share_visible`` (the share
    of third-party requests read) reached ``min_visible``, and some content was
    read (``read_requests``). Otherwise it is *not determinable from traffic*.
    """
    hidden_rules = frozenset(coverage_rules)
    catalogue = load_catalogue() if catalogue is None else catalogue
    cited: dict[str, list[Mapping[str, Any]]] = {}
    unread: dict[str, list[Mapping[str, Any]]] = {}
    for finding in findings:
        if finding.get("severity") == "info":
            continue  # informational findings describe expected flows; they fail no point
        # "Could not inspect" is no evidence either way: it keeps a point from being met, never fails it.
        into = unread if finding.get("rule") in hidden_rules else cited
        for ref in finding.get("policy_refs", ()):
            into.setdefault(ref, []).append(finding)
    testing: dict[str, list[str]] = {}
    for rule in rules:
        if rule.get("evaluated", True):
            for ref in rule.get("policy_refs", ()):
                testing.setdefault(ref, []).append(rule["id"])
    answers = []
    for entry in catalogue:
        against = cited.get(entry.id, [])
        tested_by = testing.get(entry.id, [])
        if against:
            answer = Answer.NOT_MET
            rule_ids = sorted({f["rule"] for f in against})
            hosts = sorted({f["host"] for f in against})
            shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
            reason = f"{len(against)} finding(s) ({', '.join(rule_ids)}) at {shown}."
        elif entry.determinable == "no" or not tested_by:
            answer = Answer.NOT_DETERMINABLE
            reason = "Traffic cannot show this; check the agreement, the settings or the vendor's answers."
        elif unread.get(entry.id):
            answer = Answer.NOT_DETERMINABLE
            hosts = sorted({f["host"] for f in unread[entry.id]})
            shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
            reason = f"Traffic that bears on it could not be read ({shown}); no finding either way."
        elif share_visible is None or read_requests == 0:
            answer = Answer.NOT_DETERMINABLE
            reason = "No traffic was analysed." if share_visible is None else "No request content could be read."
        elif share_visible < min_visible:
            answer = Answer.NOT_DETERMINABLE
            reason = (
                f"No finding, but only {share_visible:.0%} of third-party requests could be read "
                f"(at least {min_visible:.0%} needed to call it met)."
            )
        else:
            answer = Answer.MET
            reason = (
                f"No finding from the rules that test it ({', '.join(sorted(tested_by))}) "
                f"in the {share_visible:.0%} of third-party requests that could be read."
            )
        answers.append({
            "id": entry.id,
            "source": entry.source,
            "title": entry.title,
            "answer": answer.value,
            "reason": reason,
            "findings": len(against),
            "url": entry.url,
        })
    return answers
