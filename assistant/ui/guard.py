"""The page's limits: input sizes, answers in flight per user, login attempts, backend choice.

Job: the small, pure rules the page enforces before any work starts, kept apart from the
handlers so that they are tested without a server. No gradio import (the login refusal is a
FastAPI ``HTTPException``, the one type gradio's login route passes through as it is).

Contract:

- :class:`InFlight` admits at most ``settings.user_concurrency`` answers per user (the
  signed-in name, else the browser session); a further ask is refused, not queued.
- :class:`LoginGuard` is the ``auth=`` callable of ``Blocks.launch``: the configured user
  and password (``launch_kwargs``'s account), compared in constant time; after
  ``settings.login_attempts`` failures for one user name within ``settings.login_window``
  seconds, or ``ADDRESS_FACTOR`` times that many from one client address, every attempt
  (the right password too) is refused with HTTP 429 until the oldest failure leaves the
  window. The client address comes from :class:`ClientAddress`, an ASGI middleware that
  records it for the request.
- :func:`page_backends` / :func:`pick_backend`: the answer writers a page client may choose;
  anything else gets ``settings.backend``.

Compromises: counters live in memory (a restart clears them); a successful login does not
clear earlier failures; behind a reverse proxy every client has the proxy's address, so
the per-user limit is the one that holds there.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from assistant.config import Settings

logger = logging.getLogger(__name__)

ADDRESS_FACTOR = 4  # one address (an office behind NAT) may fail this many times more
CHEAP_BACKENDS = ("extractive",)  # no language model: always allowed to a page client

_client_address: contextvars.ContextVar[str] = contextvars.ContextVar(
    "client_address", default="unknown"
)


def page_backends(settings: Settings) -> tuple[str, ...]:
    """The answer writers a page client may pick: ``settings.page_backends`` when set, else
    ``settings.backend``; the extractive writer (no model) is always allowed."""
    allowed = settings.page_backends or (settings.backend,)
    return tuple(dict.fromkeys([*allowed, *CHEAP_BACKENDS]))


def pick_backend(requested: str | None, settings: Settings) -> str:
    """The backend to use for a page request: the requested one when allowed, else the
    default. ``pick_backend("local", s)`` -> ``s.backend`` unless "local" is allowed."""
    requested = (requested or "").strip()
    if requested and requested in page_backends(settings):
        return requested
    if requested and requested != settings.backend:
        logger.info("page asked for backend %r, not allowed; using %r",
                    requested[:40], settings.backend)
    return settings.backend


class InFlight:
    """Answers in flight per user; ``enter(key)`` is False when the user is at the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self._count: dict[str, int] = defaultdict(int)

    def enter(self, key: str | None) -> bool:
        if key is None:  # no session (a direct call): nothing to count against
            return True
        with self._lock:
            if self._count[key] >= self.limit:
                return False
            self._count[key] += 1
            return True

    def leave(self, key: str | None) -> None:
        if key is None:
            return
        with self._lock:
            self._count[key] -= 1
            if self._count[key] <= 0:
                del self._count[key]


def user_key(request: Any) -> str | None:
    """Whose request this is: the signed-in name, else the browser session, else None."""
    if request is None:
        return None
    name = getattr(request, "username", None)
    if name:
        return f"user:{name}"
    session = getattr(request, "session_hash", None)
    return f"session:{session}" if session else None


class LoginGuard:
    """``auth=`` for ``Blocks.launch``: the one account, with failed attempts throttled."""

    def __init__(
        self, user: str, password: str, settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user = user
        self._password = password
        self.attempts = max(1, settings.login_attempts)
        self.window = settings.login_window
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def wait(self, username: str, address: str) -> float:
        """Seconds until this user/address may try again; 0 when it may try now."""
        now = self.clock()
        waits = [0.0]
        with self._lock:
            for key, limit in ((f"user:{username}", self.attempts),
                               (f"addr:{address}", self.attempts * ADDRESS_FACTOR)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[-limit] + self.window - now)
        return max(waits)

    def __call__(self, username: str, password: str) -> bool:
        address = _client_address.get()
        wait = self.wait(username, address)
        if wait > 0:
            logger.warning("login refused for %r from %s: too many failed attempts",
                           username[:40], address)
            raise HTTPException(
                status_code=429,
                detail=f"Too many failed sign-ins. Try again in {int(wait) + 1} s.",
            )
        ok = hmac.compare_digest(username.encode(), self.user.encode()) and hmac.compare_digest(
            password.encode(), self._password.encode()
        )
        if not ok:
            now = self.clock()
            with self._lock:
                self._failures[f"user:{username}"].append(now)
                self._failures[f"addr:{address}"].append(now)
            logger.info("failed sign-in for %r from %s", username[:40], address)
        return ok


class ClientAddress:
    """ASGI middleware: records the client's address for :class:`LoginGuard` to read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            client = scope.get("client")
            token = _client_address.set(str(client[0]) if client else "unknown")
            try:
                await self.app(scope, receive, send)
            finally:
                _client_address.reset(token)
            return
        await self.app(scope, receive, send)
