"""Captures named by URL (``s3://``, ``gs://``, ``file://``, ``memory://`` ...), read through fsspec.

``auditor batch`` takes URLs beside paths so that the workers of a cluster read the captures
from an object store instead of a folder every machine must mount. The client lists a folder
URL and hashes each object's bytes (a capture's identity); whoever analyses a capture copies
it into a private temporary file first, so every capture reader keeps working on plain files.

fsspec comes with Dask (``pip install 'classroom-auditor[dask]'``); each object store needs
its own fsspec package on the client and the workers (``s3fs``, ``gcsfs``, ``aiohttp`` for
``http://``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.private_files import FILE_MODE

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
"""A scheme of two letters or more: ``C:/captures`` on Windows stays a path."""
_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]+://)[^/\s@]+@")
"""The ``user:password@`` of a URL."""
BLOCK = 1 << 20


class URLError(ValueError):
    """A URL that cannot be read at all on this machine: no fsspec, or a protocol nobody installed."""


def is_url(text: str | os.PathLike[str]) -> bool:
    return isinstance(text, str) and bool(_URL.match(text))


def shown(text: object) -> str:
    """``text`` with any URL's user and password left out: what reports, logs and ``batch.csv`` may show."""
    return _CREDENTIALS.sub(r"\1", str(text))


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system for ``url`` and the path inside it; :class:`URLError` names the input."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise URLError(f"{url}: URL inputs need fsspec: pip install 'classroom-auditor[dask]'") from None
    try:
        fs, path = url_to_fs(url)
    except ImportError as exc:  # a known protocol whose package is missing: "Install s3fs to access S3"
        raise URLError(f"{url}: {exc}") from None
    except ValueError as exc:  # "Protocol not known: foo"
        raise URLError(f"{url}: unknown URL protocol ({exc})") from None
    return fs, str(path)


def normalize(url: str) -> str:
    """One spelling per object (``memory://a/b`` and ``memory:///a/b`` are the same), so duplicates collapse."""
    fs, path = _filesystem(url)
    return str(fs.unstrip_protocol(path))


def name(url: str) -> str:
    """The object's own name: what a file name is to a path."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def list_url(url: str) -> list[str]:
    """A folder URL's objects, recursively and sorted, leaving out hidden names; a file URL is itself.

    Raises :class:`URLError` when the URL cannot be read here, ``OSError`` when it names nothing
    or the store fails.
    """
    fs, path = _filesystem(url)
    with _as_os_error(url, path):  # a store's own errors (credentials, network) as OSError
        if not fs.isdir(path):
            if not fs.exists(path):
                raise FileNotFoundError(url)
            return [str(fs.unstrip_protocol(path))]
        items = sorted(fs.find(path))
    root = path.rstrip("/")
    found = []
    for item in items:
        relative = item[len(root):].lstrip("/") if item.startswith(root) else name(item)
        if not any(part.startswith(".") for part in relative.split("/")):
            found.append(str(fs.unstrip_protocol(item)))
    return found


@contextmanager
def _as_os_error(url: str, path: str) -> Iterator[None]:
    """Each store raises its own errors (HTTP, credentials, timeouts); callers get one ``OSError`` line.

    The line names the URL as :func:`shown` does, not the store's own path, which keeps any password.
    """
    try:
        yield
    except FileNotFoundError:
        raise OSError("not found") from None
    except Exception as exc:  # noqa: BLE001 - any store error, re-raised as one line
        raise OSError(shown(f"{type(exc).__name__}: {str(exc).replace(path, url)}")) from None


def content_hash(url: str, digest: Any) -> None:
    """Feed the object's length and bytes to ``digest`` (:func:`feed_digest`), as for a local file."""
    fs, path = _filesystem(url)
    with _as_os_error(url, path), fs.open(path, "rb") as handle:
        feed_digest(digest, int(fs.size(path)), handle)


def feed_digest(digest: Any, size: int, handle: Any) -> None:
    """Feed a file's length, then its bytes, to ``digest``: the one content hash of local files and URLs alike.

    The length comes first, so moving bytes from one file to the next changes the hash.
    """
    digest.update(size.to_bytes(8, "big"))
    for block in iter(lambda: handle.read(BLOCK), b""):
        digest.update(block)


@contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """The object copied into a private temporary file (0600 in a 0700 folder), removed afterwards.

    The file keeps the object's name, so the readers see the same name (and extension) as locally.
    """
    fs, path = _filesystem(url)
    folder = Path(tempfile.mkdtemp(prefix="auditor-url-"))  # mkdtemp makes it 0700
    try:
        target = folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", name(url)).lstrip(".") or "capture")
        with _as_os_error(url, path):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as out, fs.open(path, "rb") as handle:
                shutil.copyfileobj(handle, out, BLOCK)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
