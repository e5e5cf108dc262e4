"""Files about students stay with the person who made them: owner-only files and folders.

Reports, sessions, profiles and flow files describe what a pupil's device sent.
On a shared lab machine, a report left at the default mode 0644 in a folder at
0755 can be read by every other account. Everything the tool writes goes
through here (or is created under the ``auditor`` command's umask of 077):
files are 0600, folders 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
"""Owner may read and write; nobody else may do anything."""
FOLDER_MODE = 0o700
"""Owner may list, enter and change; nobody else may."""
PRIVATE_UMASK = 0o077
"""The umask the ``auditor`` command runs under: whatever it (or a program it starts) creates is owner-only."""


def make_private_folder(folder: Path) -> Path:
    """Create ``folder`` and any missing parents at mode 0700 (folders that already exist are left alone)."""
    missing = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(path, FOLDER_MODE)  # mkdir's mode is cut by the umask; the result must not depend on it
    return folder


def write_private_bytes(path: Path, data: bytes) -> Path:
    """Write a whole file atomically at mode 0600 (a reader never sees half of it; an old file's mode is replaced)."""
    make_private_folder(path.parent)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an old temp file keeps its mode through O_TRUNC
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def write_private_text(path: Path, text: str) -> Path:
    """:func:`write_private_bytes` for UTF-8 text."""
    return write_private_bytes(path, text.encode("utf-8"))


def others_can_read(path: Path) -> bool:
    """Whether accounts other than the owner may read ``path`` (group or world bits set)."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def shared_file_warning(path: Path, what: str) -> str | None:
    """A one-line warning when ``path`` can be read by other users, naming the fix; ``None`` when it is private."""
    if not others_can_read(path):
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    return (f"warning: {path} can be read by other users of this machine (mode {mode:04o}) and holds {what}; "
            f"make it private: chmod 600 {path}")
