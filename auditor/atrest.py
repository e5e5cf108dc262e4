"""Encryption at rest of a session's raw parts (``records.jsonl``, ``flows.mitm``, the spool) with a key the user holds.

The raw parts keep every request as the device sent it: names, e-mail
addresses, tokens. Reports mask them; the raw parts cannot. When a key is set,
the live session writes ``records.jsonl.enc`` and ``flows.mitm.enc`` instead,
seals each message of its spool (:mod:`auditor.live.spool`), and ``auditor
analyze SESSION`` asks for the key to read them.

The key is a passphrase the user holds, given one of three ways:

* ``CLASSROOM_AUDITOR_KEY_FILE``: a file whose first line is the passphrase
  (keep it owner-only, and somewhere other than the session data, e.g. a USB key);
* ``CLASSROOM_AUDITOR_KEY``: the passphrase itself (for scripts; it is visible
  to the same user's processes);
* typed at the prompt of ``auditor analyze`` (never stored).

The passphrase is stretched with scrypt (salt per session, stored in
``at-rest.json`` with the parameters and a check value that tells a wrong
passphrase from damaged data) into an AES-256-GCM key. Each ``write`` becomes
one sealed frame (length, 96-bit random nonce, ciphertext and tag) whose
associated data binds it to its file name, so frames cannot be moved between
files unnoticed (whole frames dropped from the end, as a crash does, or
reordered are not detected); appending after a restart simply adds frames. A lost
passphrase cannot be recovered: the data is then gone, which is also how a
school can make a session unreadable without deleting it everywhere.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from auditor.private_files import FILE_MODE, write_private_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CTA-ENC1"
"""First bytes of every encrypted file."""
SUFFIX = ".enc"
SETTINGS_FILE = "at-rest.json"
KEY_ENV = "CLASSROOM_AUDITOR_KEY"
KEY_FILE_ENV = "CLASSROOM_AUDITOR_KEY_FILE"
SCRYPT_N = 2**15
"""scrypt cost: about 0.1 s and 32 MB per derivation, paid once per session read or written."""
SCRYPT_R = 8
SCRYPT_P = 1
_CHECK = b"classroom-auditor at-rest key check"
_FRAME_HEADER = struct.Struct(">I")
_NONCE = 12
MAX_FRAME = 64 << 20
"""Largest frame a reader accepts: a corrupt length must not allocate gigabytes."""


class AtRestError(ValueError):
    """Encrypted data cannot be read: no key given, a wrong key, or damage (the message says which)."""


@dataclass(frozen=True)
class SessionKey:
    """The AES-256-GCM key of one session folder."""

    key: bytes

    @functools.cached_property
    def _cipher(self) -> AESGCM:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self.key)

    def seal(self, data: bytes | memoryview, file_name: str) -> bytes:
        """One frame: length, nonce, ciphertext and tag; bound to ``file_name``."""
        return b"".join(self.seal_parts(data, file_name))

    def seal_parts(self, data: bytes | memoryview, file_name: str) -> tuple[bytes, bytes]:
        """:meth:`seal`'s frame in two parts (length and nonce; ciphertext and tag), for ``os.writev``.

        The spool writes them as they are: joining would copy a 1 MB upload once more on the proxy's event loop.
        """
        nonce = secrets.token_bytes(_NONCE)
        # A memoryview spares a copy of the message too; cryptography takes any buffer (its stub says bytes).
        encrypted = self._cipher.encrypt(nonce, data, file_name.encode())  # type: ignore[arg-type]
        return _FRAME_HEADER.pack(_NONCE + len(encrypted)) + nonce, encrypted

    def open(self, sealed: bytes, file_name: str) -> bytes:
        """The plaintext of one frame's body; :class:`AtRestError` when it was changed or the key is wrong."""
        from cryptography.exceptions import InvalidTag

        try:
            return self._cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], file_name.encode())
        except InvalidTag:
            raise AtRestError(f"{file_name}: a frame does not match the key (changed or damaged)") from None


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def passphrase_from_environment() -> str | None:
    """The passphrase from ``CLASSROOM_AUDITOR_KEY_FILE`` or ``CLASSROOM_AUDITOR_KEY``; ``None`` when neither is set."""
    key_file = os.environ.get(KEY_FILE_ENV)
    if key_file:
        return read_key_file(Path(key_file).expanduser())
    return os.environ.get(KEY_ENV) or None


def read_key_file(path: Path) -> str:
    """The passphrase in the first line of ``path``; :class:`AtRestError` naming the file when it is unusable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AtRestError(f"{path}: cannot read the key file: {getattr(exc, 'strerror', None) or exc}") from None
    if not lines or not lines[0].strip():
        raise AtRestError(f"{path}: the key file is empty (its first line is the passphrase)")
    return lines[0].strip()


def create_session_key(folder: Path, passphrase: str) -> SessionKey:
    """The key of ``folder``: derived with the folder's saved salt, or with a new salt saved now."""
    settings = folder / SETTINGS_FILE
    if settings.exists():
        return unlock(folder, passphrase)
    salt = secrets.token_bytes(16)
    key = SessionKey(_derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    check = key.seal(_CHECK, SETTINGS_FILE)
    write_private_text(settings, json.dumps({
        "format": 1, "cipher": "AES-256-GCM", "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(), "check": base64.b64encode(check).decode(),
    }, indent=2) + "\n")
    return key


def is_encrypted_session(folder: Path) -> bool:
    """Whether ``folder`` holds encrypted raw parts."""
    return (folder / SETTINGS_FILE).is_file()


def unlock(folder: Path, passphrase: str) -> SessionKey:
    """The key of an encrypted session folder; :class:`AtRestError` when the passphrase is wrong."""
    try:
        settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        salt = base64.b64decode(settings["salt"])
        check = base64.b64decode(settings["check"])
        n, r, p = int(settings["n"]), int(settings["r"]), int(settings["p"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AtRestError(f"{folder / SETTINGS_FILE}: unreadable encryption settings ({type(exc).__name__})") from None
    if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):  # a hostile file must not demand terabytes
        raise AtRestError(f"{folder / SETTINGS_FILE}: scrypt parameters out of range")
    key = SessionKey(_derive(passphrase, salt, n, r, p))
    try:
        if key.open(check[_FRAME_HEADER.size:], SETTINGS_FILE) != _CHECK:
            raise AtRestError("check value differs")
    except AtRestError:
        raise AtRestError(f"{folder}: wrong key for this session (the passphrase does not unlock it)") from None
    return key


class EncryptedWriter:
    """A write-only binary file whose every ``write`` is sealed as one frame (for appending logs)."""

    def __init__(self, path: Path, key: SessionKey) -> None:
        self.path = path
        self.key = key
        self.name = path.name.removesuffix(SUFFIX)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        self._handle: BinaryIO = os.fdopen(fd, "ab", buffering=0)
        if self._handle.tell() == 0:
            self._handle.write(MAGIC)

    def write(self, data: bytes) -> int:
        """Seal and append ``data``; returns its plaintext length, as a file would."""
        if data:
            self._handle.write(self.key.seal(bytes(data), self.name))
        return len(data)

    def flush(self) -> None:
        """Frames are written unbuffered; nothing waits."""
        self._handle.flush()

    def fileno(self) -> int:
        """The underlying descriptor (for ``os.fsync``)."""
        return self._handle.fileno()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> EncryptedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_frames(path: Path, key: SessionKey) -> Iterator[bytes]:
    """The plaintext of each frame of an encrypted file, in order; a frame cut by a crash at the end is skipped."""
    name = path.name.removesuffix(SUFFIX)
    with path.open("rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise AtRestError(f"{path}: not an encrypted auditor file")
        while header := handle.read(_FRAME_HEADER.size):
            if len(header) < _FRAME_HEADER.size:
                return
            (size,) = _FRAME_HEADER.unpack(header)
            if not _NONCE + 16 <= size <= MAX_FRAME:
                raise AtRestError(f"{path}: damaged at byte {handle.tell() - len(header)} (impossible frame length)")
            sealed = handle.read(size)
            if len(sealed) < size:  # the last frame of a session that was killed mid-write
                return
            yield key.open(sealed, name)


def decrypt_file(path: Path, key: SessionKey) -> bytes:
    """The whole plaintext of an encrypted file."""
    return b"".join(read_frames(path, key))


def session_key(folder: Path, passphrase: str | None = None) -> SessionKey | None:
    """The key the live session in ``folder`` writes with: ``None`` when no key is set and the session is plain.

    ``passphrase`` defaults to the environment's. :class:`AtRestError` when the
    session is encrypted and no passphrase is given, or the passphrase is wrong.
    """
    if passphrase is None:
        passphrase = passphrase_from_environment()
    if passphrase is None and not is_encrypted_session(folder):
        return None
    if passphrase is None:
        raise AtRestError(f"{folder}: the session is encrypted; set {KEY_FILE_ENV} or {KEY_ENV} to continue it")
    return create_session_key(folder, passphrase)


def open_raw_part(path: Path, key: SessionKey | None = None) -> BinaryIO | EncryptedWriter:
    """Open a session's raw part for appending: encrypted (``NAME.enc``) when a key is set, else owner-only.

    The writer side of the live session calls this for ``records.jsonl`` and
    ``flows.mitm``; without ``key``, the key is :func:`session_key` of the folder.
    """
    if key is None:
        key = session_key(path.parent)
    if key is None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "ab", buffering=0)
    return EncryptedWriter(path.with_name(path.name + SUFFIX), key)
