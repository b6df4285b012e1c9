"""One ingest at a time per index directory, across processes, with a bounded wait.

``with IngestLock(index_dir / "ingest.lock", wait=120, doing="ingest corpus/"): ...`` takes
an exclusive ``flock`` on the file (through the ``filelock`` library). A second ingest waits
at most ``wait`` seconds, then fails with an ``AssistantError`` that says who holds the
index and since when: ``"another ingest has held the index for 2 min: ingest corpus/
(pid 4242, since 10:41:07)"``. The holder records what it is doing in a small JSON file
beside the lock (``ingest.lock.json``: pid, start time, what), read by whoever waits.
The OS releases the lock when its holder dies, so a killed ingest never leaves the index
locked (its stale JSON file is overwritten by the next holder).

Compromise: advisory only; a filesystem without ``flock`` is an error, not a soft lock (a
soft lock would outlive a killed ingest).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock, Timeout

from assistant.errors import AssistantError

logger = logging.getLogger(__name__)

__all__ = ["IngestLock", "busy_message", "describe", "holder"]


def holder(path: Path) -> dict[str, object]:
    """What the current holder of the lock at ``path`` recorded (``{}`` when unknown)."""
    try:
        data = json.loads(_info_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _info_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def describe(inputs: Sequence[str], shown: int = 3) -> str:
    """What an ingest is doing, for whoever waits: ``"ingest corpus, a.md (+2 more)"``."""
    names = [" ".join(str(i).split()) for i in inputs]  # no line breaks in a message
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"ingest {', '.join(names[:shown]) or 'nothing'}{more}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def busy_message(info: dict[str, object], now: float | None = None) -> str:
    """``"another ingest has held the index for 2 min: ingest corpus (pid 42, since 10:41:07)"``."""
    started = info.get("started")
    doing = str(info.get("doing") or "what it is doing is unknown")
    if not isinstance(started, int | float):
        return f"another ingest holds the index: {doing}"
    now = time.time() if now is None else now
    since = time.strftime("%H:%M:%S", time.localtime(started))
    return (
        f"another ingest has held the index for {_duration(now - started)}: {doing} "
        f"(pid {info.get('pid', '?')}, since {since})"
    )


class IngestLock:
    """Exclusive lock on a file, waited for at most ``wait`` seconds (``None``: forever)."""

    def __init__(self, path: Path, wait: float | None = None, doing: str = "") -> None:
        self.path = path
        self.wait = wait
        self.doing = doing
        self._lock = FileLock(path, timeout=-1 if wait is None else wait,
                              fallback_to_soft=False)

    def __enter__(self) -> IngestLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            info = holder(self.path)
            wait = "as long as it takes" if self.wait is None else f"up to {self.wait:g} s"
            logger.warning("%s; waiting %s", busy_message(info), wait)
            try:
                self._lock.acquire()
            except Timeout:
                raise AssistantError(
                    f"{busy_message(holder(self.path))}; try again when it has finished"
                ) from None
        self._record()
        return self

    def _record(self) -> None:
        info = {"pid": os.getpid(), "started": time.time(), "doing": self.doing}
        try:
            _info_path(self.path).write_text(json.dumps(info), encoding="utf-8")
        except OSError:  # the lock itself holds; only the feedback for waiters is lost
            logger.warning("cannot record the ingest in %s", _info_path(self.path))

    def __exit__(self, *exc: object) -> None:
        if self._lock.is_locked:
            try:
                _info_path(self.path).unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.release()
