"""Per-feed state, kept in ``index_dir/feeds.json``: validators, outcomes, entries seen.

``FeedStates(path).get(url) -> FeedState`` (a fresh one for a feed never polled);
``.save(state)`` writes one feed's record. A save re-reads the file and replaces only that
feed's record under a file lock (``feeds.json.lock``), then writes a temporary file, fsyncs
it and renames it over the old one: a reader (``assistant feeds``, another process) sees
the old or the new file, never half of one, and a killed watcher loses at most the poll it
was in (its articles are then offered again and the indexer finds them unchanged).

``seen`` maps an entry's article id to its fingerprint (:func:`assistant.ingest.meta.
entry_key`; for a page, a hash of the article); the newest :data:`MAX_SEEN` are kept.

Compromise: an unreadable file is moved aside (``feeds.json.corrupt``) and the feeds start
afresh (one full GET each; the indexer keeps that from duplicating anything).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

logger = logging.getLogger(__name__)

__all__ = ["MAX_SEEN", "FeedState", "FeedStates"]

#: Entries remembered per feed (a feed shows at most ``max_feed_entries``, 500 by default).
MAX_SEEN = 5000
_TIMES = ("last_poll", "last_success", "last_error_at", "next_poll")


@dataclass(frozen=True)
class FeedState:
    """What the watcher knows about one feed (times are timezone-aware, UTC)."""

    url: str
    etag: str = ""
    last_modified: str = ""
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_result: str = ""  # "2 new, 1 changed" / "unchanged (304)" / "no new entries"
    last_error: str = ""
    last_error_at: datetime | None = None
    failures: int = 0  # consecutive failed polls (0 after a success)
    next_poll: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)  # article id -> fingerprint

    def with_seen(self, landed: dict[str, str]) -> FeedState:
        """This state with ``landed`` entries marked seen (newest last, capped)."""
        seen = {k: v for k, v in self.seen.items() if k not in landed}
        seen.update(landed)
        if len(seen) > MAX_SEEN:
            seen = dict(list(seen.items())[-MAX_SEEN:])
        return replace(self, seen=seen)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TIMES:
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedState:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _TIMES:
            raw = values.get(name)
            values[name] = datetime.fromisoformat(raw) if raw else None
        values["seen"] = {str(k): str(v) for k, v in (values.get("seen") or {}).items()}
        values["failures"] = int(values.get("failures") or 0)
        return cls(**values)


class FeedStates:
    """The state file of one index: ``FeedStates(settings.feeds_path)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = FileLock(str(path) + ".lock")

    def all(self) -> dict[str, FeedState]:
        """Every feed's state by URL (empty when nothing was polled yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
            return {url: FeedState.from_dict(rec) for url, rec in data["feeds"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            bad = self.path.with_name(self.path.name + ".corrupt")
            logger.error("feed state %s is unreadable (%s); moved to %s, starting afresh",
                         self.path, exc, bad)
            os.replace(self.path, bad)
            return {}

    def get(self, url: str) -> FeedState:
        return self.all().get(url) or FeedState(url)

    def save(self, state: FeedState) -> None:
        """Write one feed's state (atomically; other feeds' records are kept as on disk)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            states = self.all()
            states[state.url] = state
            payload = {"version": 1, "feeds": {u: s.to_dict() for u, s in states.items()}}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
