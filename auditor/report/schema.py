"""The JSON Schema of the report contract, shipped in the package, and a validator.

``schema/report-1.json`` describes ``classroom-auditor.report/1``: every key
of the contract with its type and vocabulary. Objects allow additional
properties, so later issues may add keys without a new schema version.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = "report-1.json"


class ReportSchemaError(ValueError):
    """A report does not follow the contract; the message lists every violation."""


@cache
def report_schema() -> dict[str, Any]:
    """Load the report JSON Schema (draft 2020-12) from the installed package."""
    text = resources.files("auditor.report").joinpath("schema", SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators

    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    # The report dict may hold tuples where the JSON file has arrays; both are the same contract.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "array", lambda _checker, value: isinstance(value, list | tuple)
    )
    validator_class = validators.extend(Draft202012Validator, type_checker=checker)
    return validator_class(schema)


def report_errors(report: Any) -> list[str]:
    """Every way ``report`` breaks the contract, one line each as ``path: problem``; empty when valid.

    >>> report_errors({"schema": "classroom-auditor.report/1"})[0]
    "(root): 'generated_at' is a required property"
    """
    lines = []
    for error in sorted(_validator().iter_errors(report), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        lines.append(f"{path}: {error.message}")
    return lines


def validate_report(report: Any) -> None:
    """Raise :class:`ReportSchemaError` unless ``report`` follows ``classroom-auditor.report/1``."""
    errors = report_errors(report)
    if errors:
        shown = "; ".join(errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ReportSchemaError(f"report does not match schema {SCHEMA_RESOURCE}: {shown}{more}")
