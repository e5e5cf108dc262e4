"""Masking and salted fingerprints: reports never carry a raw personal value.

A fingerprint is an HMAC of the normalized value under a salt, so the same
value gives the same fingerprint across reports made with the same salt
(useful for ``auditor diff``) without revealing the value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

FINGERPRINT_HEX = 16


class Masker:
    """Masks values and fingerprints them under one salt."""

    def __init__(self, salt: bytes) -> None:
        if not salt:
            raise ValueError("the fingerprint salt must not be empty")
        self._salt = salt

    def fingerprint(self, value: str) -> str:
        """Salted fingerprint of a normalized value.

        >>> Masker(b"s").fingerprint("Ana@Example.org ") == Masker(b"s").fingerprint("ana@example.org")
        True
        """
        normalized = value.strip().lower().encode("utf-8", "surrogateescape")
        return hmac.new(self._salt, normalized, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]

    @staticmethod
    def mask(value: str) -> str:
        """Show the shape of a value and almost none of its content.

        >>> Masker.mask("ana.lopez@example.org")
        'a***@e***.org'
        >>> Masker.mask("52.3702")
        '5*.****'
        >>> Masker.mask("38400000-8cf0-11bd-b23e-10b96e40000d")
        '38**…**0d (36 chars)'
        """
        value = value.strip()
        if "@" in value and "." in value.split("@", 1)[1]:
            local, domain = value.split("@", 1)
            name, _, tld = domain.rpartition(".")
            return f"{local[:1]}***@{name[:1]}***.{tld}"
        if len(value) <= 12:
            keep = 1 if len(value) > 3 else 0
            return value[:keep] + "".join("." if c == "." else ("-" if c == "-" else "*") for c in value[keep:])
        return f"{value[:2]}**…**{value[-2:]} ({len(value)} chars)"


def default_salt_path() -> Path:
    """Where the per-installation salt lives."""
    from trackers_db.database import data_dir

    return data_dir() / "fingerprint-salt"


def load_or_create_salt(path: Path | None = None) -> bytes:
    """The installation's salt from ``$CLASSROOM_AUDITOR_SALT`` or a file created owner-only."""
    explicit = os.environ.get("CLASSROOM_AUDITOR_SALT")
    if explicit:
        return explicit.encode()
    path = path or default_salt_path()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    salt = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(salt)
    return salt
