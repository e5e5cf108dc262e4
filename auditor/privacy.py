"""Masking and salted fingerprints: reports never carry a raw personal value.

A fingerprint is an HMAC of the normalized value under a salt, so the same
value gives the same fingerprint across reports made with the same salt
(useful for ``auditor diff``) without revealing the value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

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
    def mask(value: str, secret: bool = False) -> str:
        """Show the shape of a value and almost none of its content; of a ``secret``, only its length.

        >>> Masker.mask("ana.lopez@example.org")
        'a***@e***.org'
        >>> Masker.mask("52.3702")
        '5*.****'
        >>> Masker.mask("38400000-8cf0-11bd-b23e-10b96e40000d")
        '38**…**0d (36 chars)'
        >>> Masker.mask("Correct-Horse-Battery", secret=True)
        '******** (21 chars)'
        """
        value = value.strip()
        if secret:  # a password's first and last characters narrow a guess too much
            return f"******** ({len(value)} chars)"
        if "@" in value and "." in value.split("@", 1)[1]:
            local, domain = value.split("@", 1)
            name, _, tld = domain.rpartition(".")
            return f"{local[:1]}***@{name[:1]}***.{tld}"
        if len(value) <= 12:
            keep = 1 if len(value) > 3 else 0
            return value[:keep] + "".join("." if c == "." else ("-" if c == "-" else "*") for c in value[keep:])
        return f"{value[:2]}**…**{value[-2:]} ({len(value)} chars)"


# Values that identify a person or device wherever they sit, even in a key name:
# e-mail addresses, UUIDs (advertising and instance IDs), IPv4 addresses, long hex
# (hardware IDs, hashes), long digit runs (phone numbers, account numbers) and
# base64 tokens that mix cases and digits.
_PERSONAL_TOKEN = re.compile(
    r"[\w+%-]+(?:\.[\w+%-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
    r"|(?<![A-Za-z0-9])[0-9A-Fa-f]{16,}(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])\+?\d[\d -]{5,}\d(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{20,}=*"
)


class KeyRedactor:
    """Masks personal values inside key paths, which reports show as they are.

    Apps put values in names too: a JSON object keyed by e-mail address, a
    cookie named after a user ID, a query parameter whose name is the value.
    A key path like ``users.ana@example.org.score`` would carry the raw value
    into every report, so each planted profile value and each token that looks
    like personal data is replaced by its mask between ``‹›``.

    >>> KeyRedactor(["ana.lopez@example.org", "STU-7731"]).redact("users.ana.lopez@example.org.grade[0]")
    'users.‹a***@e***.org›.grade[0]'
    >>> KeyRedactor(["STU-7731"]).redact("x-stu-7731"), KeyRedactor().redact("events[0].params.lat")
    ('x-‹s**-****›', 'events[0].params.lat')

    Without the profile the path around an e-mail address cannot be told from
    it, so more is masked than needed, never less:

    >>> KeyRedactor().redact("users.ana.lopez@example.org.grade[0]")
    '‹u***@e***.grade›[0]'
    """

    def __init__(self, known_values: Iterable[str] = ()) -> None:
        texts = {v.strip() for v in known_values if len(v.strip()) >= 3}
        texts |= {quote(t, safe="") for t in texts}
        alternatives = sorted((re.escape(t) for t in texts), key=len, reverse=True)
        self._known = (
            re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(alternatives) + r")(?![A-Za-z0-9])", re.IGNORECASE)
            if alternatives
            else None
        )

    def redact(self, key: str) -> str:
        """``key`` with every value in it masked; unchanged when it holds none."""
        return _PERSONAL_TOKEN.sub(_masked, self.redact_known(key))

    def redact_known(self, text: str) -> str:
        """``text`` with the planted values masked, and nothing else (for host names, full of hex labels).

        >>> KeyRedactor(["STU-7731"]).redact_known("stu-7731.d41d8cd98f00b204e980.cdn.example")
        '‹s**-****›.d41d8cd98f00b204e980.cdn.example'
        """
        return self._known.sub(_masked, text) if self._known is not None else text


def redact_text(text: object) -> str:
    """An error message with any value that looks personal masked (exception texts quote the data).

    >>> redact_text("invalid literal for int() with base 10: 'ana@example.org'")
    "invalid literal for int() with base 10: '‹a***@e***.org›'"
    """
    return _PERSONAL_TOKEN.sub(_masked, str(text))


def _masked(match: re.Match[str]) -> str:
    return f"‹{Masker.mask(match.group())}›"


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
