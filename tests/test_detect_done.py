"""Issue 6 "done looks like": a hashed e-mail inside a gzipped, base64-wrapped JSON batch, end to end.

The capture is a real mitmproxy flow file written with mitmproxy's own
``FlowWriter``; the audit is the real ``auditor analyze`` command with a
device profile; the checks are what a reviewer reads in the report.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest
from helpers import run_analyze

from auditor.profile import TEMPLATE

EMAIL = "mira.okonkwo.test@example.org"  # the template's synthetic student


def write_sdk_capture(path: Path) -> dict[str, str]:
    """A flow file in which an SDK posts ``sha256(lower(email))`` in a gzipped base64 JSON batch."""
    from mitmproxy import io
    from mitmproxy.test import tflow

    digest = hashlib.sha256(EMAIL.lower().encode()).hexdigest()
    batch = {"events": [{"name": "fb_mobile_login", "user": {"em": digest}, "ts": 1767261600}]}
    wrapped = base64.b64encode(json.dumps(batch).encode())
    flow = tflow.tflow(resp=True)
    flow.request.scheme, flow.request.host, flow.request.port = "https", "graph.facebook.com", 443
    flow.request.method, flow.request.path = "POST", "/v17.0/1234567890/activities"
    flow.request.headers["host"] = "graph.facebook.com"
    flow.request.headers["content-type"] = "text/plain"
    flow.request.headers["content-encoding"] = "gzip"
    flow.request.raw_content = gzip.compress(wrapped, mtime=0)
    with path.open("wb") as handle:
        io.FlowWriter(handle).add(flow)
    return {"digest": digest, "base64": wrapped.decode()}


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab-tablet.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def test_hashed_email_in_gzipped_base64_batch_is_a_finding_with_company_key_and_chain(
    tmp_path: Path, profile_file: Path, auditor_env: dict[str, str]
) -> None:
    capture = tmp_path / "sdk.mitm"
    wire = write_sdk_capture(capture)
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"

    run = run_analyze(["analyze", capture, "--profile", profile_file, "--json", json_path, "--html", html_path],
                      env=auditor_env)

    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    emails = [f for f in run.report["findings"] if f["data_type"] == "email"]
    assert len(emails) == 1, emails
    finding = emails[0]
    assert finding["company"] == "Meta"
    assert finding["host"] == "graph.facebook.com"
    assert finding["where"] == "body"
    assert finding["key"] == "events[0].user.em"
    assert finding["encoding"] == "gzip>base64>json:events[0].user.em>sha256(lower(email))"
    assert finding["masked_value"] == "m***@e***.org"
    assert finding["severity"] == "high"
    assert run.report["profile"]["values"] > 10
    assert run.report["profile"]["fingerprint"]
    # Neither the value, nor its hash, nor the wire form appears anywhere a person could read.
    for output in (json_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8"), run.stderr):
        assert EMAIL not in output
        assert wire["digest"] not in output
        assert wire["base64"][:40] not in output
        assert "Okonkwo" not in output


def test_without_the_profile_the_hash_is_still_flagged_as_a_guess(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    capture = tmp_path / "sdk.mitm"
    write_sdk_capture(capture)

    run = run_analyze(["analyze", capture, "--json", "-"], env=auditor_env)

    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    emails = [f for f in run.report["findings"] if f["data_type"] == "email"]
    assert [f["encoding"] for f in emails] == ["gzip>base64>json:events[0].user.em>sha256(?)"]
    assert emails[0]["confidence"] < 1.0
    assert run.report["profile"] is None
