"""One ingest at a time per index directory, across processes.

``with IngestLock(index_dir / "ingest.lock"): ...`` takes an advisory exclusive ``flock``
on the file; a second process waits (with a warning) until the first releases it. The OS
releases the lock when its holder dies, so a killed ingest never leaves the index locked.

Compromise: advisory only, and a no-op where ``fcntl`` does not exist (Windows).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["IngestLock"]


class IngestLock:
    """Advisory exclusive lock on a file (no-op where ``fcntl`` does not exist)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def __enter__(self) -> IngestLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.warning("another ingest is running on %s; waiting for it", self.path.parent)
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None
