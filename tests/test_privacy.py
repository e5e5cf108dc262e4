"""Masking hides values; fingerprints are stable per salt and differ across salts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from auditor.privacy import Masker, load_or_create_salt


@pytest.mark.parametrize(
    "value",
    ["mia.testpupil@student.example", "38400000-8cf0-11bd-b23e-10b96e40000d", "52.370216", "+31612345678", "Mia"],
)
def test_mask_never_contains_the_value(value: str) -> None:
    masked = Masker.mask(value)
    assert value not in masked
    assert masked


def test_fingerprint_depends_on_salt_not_case() -> None:
    a, b = Masker(b"one"), Masker(b"two")
    assert a.fingerprint("Mia@Example.org") == a.fingerprint(" mia@example.org ")
    assert a.fingerprint("mia@example.org") != b.fingerprint("mia@example.org")


def test_salt_file_is_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLASSROOM_AUDITOR_SALT", raising=False)
    path = tmp_path / "data" / "salt"
    first = load_or_create_salt(path)
    assert load_or_create_salt(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
