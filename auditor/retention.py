"""Retention: session folders idle for longer than the school promised to keep them are removed.

A session folder is idle since the last time any file in it changed (the
proxy appends records as traffic arrives, so an active session is never
idle). Only folders directly inside the sessions folder are considered; links
are never followed, so a link planted there cannot make the purge delete
anything outside it.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DAY = 86400.0

CatalogueHook = Callable[[Path], None]
CATALOGUE_HOOKS: list[CatalogueHook] = []
"""Called with each removed session folder, after it is gone, for an index of the data folder's sessions to
forget it. Batch catalogues (``auditor batch``) are purged by age with ``auditor purge --catalog DB``."""


@dataclass(frozen=True)
class IdleSession:
    """A session folder and how long it has been idle."""

    folder: Path
    last_change: float
    """Newest modification time of the folder or anything in it (seconds since the epoch)."""
    size: int
    """Bytes of the files in it."""

    def idle_days(self, now: float) -> float:
        """Days since anything in the folder changed."""
        return (now - self.last_change) / DAY


def _survey(folder: Path) -> tuple[float, int]:
    """Newest change time and total size of a folder, without following links."""
    newest = folder.lstat().st_mtime
    size = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
    return newest, size


def idle_sessions(sessions_dir: Path, older_than_days: float, now: float | None = None) -> list[IdleSession]:
    """Session folders in ``sessions_dir`` idle for more than ``older_than_days``, oldest first."""
    now = time.time() if now is None else now
    found = []
    try:
        entries = sorted(sessions_dir.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        last_change, size = _survey(entry)
        if (now - last_change) / DAY > older_than_days:
            found.append(IdleSession(entry, last_change, size))
    return sorted(found, key=lambda session: session.last_change)


def remove_session(session: IdleSession) -> None:
    """Delete one session folder, then let the catalogue forget it."""
    shutil.rmtree(session.folder)
    for hook in CATALOGUE_HOOKS:
        hook(session.folder)
