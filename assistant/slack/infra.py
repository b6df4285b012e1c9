"""Small thread-safe helpers the Slack bot runs on; nothing here knows about Slack's API.

* :func:`mask_tokens` / :class:`TokenMaskingFilter` / :func:`install_token_filter`: anything
  that looks like a Slack token (``xox?-...``, ``xapp-...``) is masked in log records,
  tracebacks included, so tokens never reach a log.
* :class:`TtlSet`: a bounded set whose members expire (event de-duplication, threads).
* :class:`RateLimiter`: ``limit`` events per ``window`` seconds per key.
* :class:`TrackingExecutor`: a thread pool that can list what is still running, so the bot
  can wait until it is idle (tests, shutdown).

Compromise: all state is in memory; a restart forgets it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = [
    "RateLimiter",
    "TokenMaskingFilter",
    "TrackingExecutor",
    "TtlSet",
    "install_token_filter",
    "mask_tokens",
]

_TOKEN_RE = re.compile(r"\b(xox[a-z]-|xapp-)[A-Za-z0-9-]+")


# ---- secrets in logs ---------------------------------------------------------------------
def mask_tokens(text: str) -> str:
    """``mask_tokens("token xoxb-123-abc") -> "token xoxb-***"``."""
    return _TOKEN_RE.sub(lambda m: m.group(1) + "***", text)


class TokenMaskingFilter(logging.Filter):
    """A logging filter (for handlers) that masks Slack tokens in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        masked = mask_tokens(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:  # tracebacks may quote tokens too
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_tokens(record.stack_info)
        return True


def install_token_filter(log: logging.Logger | None = None) -> None:
    """Add :class:`TokenMaskingFilter` to every handler of ``log`` (default: the root)."""
    target = log or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, TokenMaskingFilter) for f in handler.filters):
            handler.addFilter(TokenMaskingFilter())


# ---- small state helpers -----------------------------------------------------------------
class TtlSet:
    """A bounded set whose members expire: ``add_new(key) -> True`` only the first time."""

    def __init__(
        self, ttl: float, maxsize: int = 10000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._items: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._items:
            key, at = next(iter(self._items.items()))
            if now - at <= self.ttl and len(self._items) <= self.maxsize:
                break
            self._items.popitem(last=False)

    def add_new(self, *keys: Hashable) -> bool:
        """Add all keys; True when none of them was present (i.e. this is new)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            seen = any(k in self._items for k in keys if k is not None)
            for k in keys:
                if k is not None:
                    self._items[k] = now
                    self._items.move_to_end(k)
            return not seen

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            self._expire(self.clock())
            return key in self._items


class RateLimiter:
    """``limit`` events per ``window`` seconds per key; ``limit <= 0`` disables it."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that can wait until everything submitted so far (and after) is done."""

    def __init__(self, max_workers: int, name: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._futures: set[Future[Any]] = set()
        self._flock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._flock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._flock:
            self._futures.discard(future)

    def pending(self) -> list[Future[Any]]:
        with self._flock:
            return [f for f in self._futures if not f.done()]
