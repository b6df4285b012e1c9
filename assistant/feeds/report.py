"""What the ``assistant watch`` and ``assistant feeds`` commands need, minus the printing.

- ``parse_every("30m") -> 1800.0`` (``90s``, ``2h``, ``1h30m``, ``1d``; a bare number is
  seconds); ``ValueError`` otherwise.
- ``feed_rows(states, feeds, now) -> list[FeedRow]``: one row per known or configured feed.
- ``row_lines(row) -> list[str]``: a row as text; ``FeedRow.to_dict()`` for ``--json``.
- ``poll_lines(report) -> (line, error lines)``: what the watch command shows per poll.
- ``watch_command`` / ``feeds_command``: the two commands; they write through the ``out`` /
  ``err`` callbacks the CLI passes (this package never prints).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError, one_line
from assistant.feeds.state import FeedState, FeedStates
from assistant.feeds.watch import FeedWatcher, PollReport, check_urls, utcnow

__all__ = [
    "FeedRow", "feed_rows", "feeds_command", "parse_every", "poll_lines", "row_lines",
    "watch_command",
]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.I)


def parse_every(text: str) -> float:
    """``"30m" -> 1800.0``; ``"1h30m" -> 5400.0``; ``"45" -> 45.0``."""
    value = text.strip().lower()
    pos, total = 0, 0.0
    for m in _PART.finditer(value):
        if m.start() != pos or (m.group(2) == "" and (pos or m.end() != len(value))):
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not value or pos != len(value) or total <= 0:
        raise ValueError(f"not a duration (like 90s, 30m, 2h, 1h30m): {text!r}")
    return total


@dataclass(frozen=True)
class FeedRow:
    """One line of ``assistant feeds``."""

    url: str
    last_success: datetime | None
    last_result: str
    last_error: str
    last_error_at: datetime | None
    failures: int
    entries_seen: int
    next_poll: datetime | None
    watched: bool  # in settings.feeds (else only known from an earlier ``assistant watch``)

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "url": self.url, "last_success": iso(self.last_success),
            "last_result": self.last_result, "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at), "failures": self.failures,
            "entries_seen": self.entries_seen, "next_poll": iso(self.next_poll),
            "in_settings": self.watched,
        }


def feed_rows(states: Mapping[str, FeedState], feeds: Iterable[str]) -> list[FeedRow]:
    """Configured feeds first (in their order), then the others known from the state file."""
    feeds = list(dict.fromkeys(feeds))
    urls = feeds + sorted(u for u in states if u not in feeds)
    rows = []
    for url in urls:
        st = states.get(url) or FeedState(url)
        rows.append(FeedRow(
            url, st.last_success, st.last_result, st.last_error, st.last_error_at,
            st.failures, len(st.seen), st.next_poll, url in feeds,
        ))
    return rows


def _when(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "never"
    secs = (t - now).total_seconds()
    span = abs(secs)
    rel = (f"{span:.0f} s" if span < 90 else f"{span / 60:.0f} min" if span < 5400
           else f"{span / 3600:.1f} h")
    stamp = t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} (in {rel})" if secs > 0 else f"{stamp} ({rel} ago)"


def row_lines(row: FeedRow, now: datetime) -> list[str]:
    """A feed as a few indented lines (URL, last success, last error, seen, next poll)."""
    next_poll = "now" if row.next_poll is None or row.next_poll <= now else _when(
        row.next_poll, now)
    success = _when(row.last_success, now)
    if row.last_success is not None and row.last_result and not row.failures:
        success += f": {row.last_result}"
    error = "none"
    if row.last_error:
        error = f"{_when(row.last_error_at, now)}: {row.last_error}"
        if row.failures:
            error += f" ({row.failures} failed poll{'s' if row.failures > 1 else ''} in a row)"
    return [
        row.url,
        f"  last success: {success}",
        f"  last error:   {error}",
        f"  entries seen: {row.entries_seen}",
        f"  next poll:    {next_poll}",
    ]


def poll_lines(report: PollReport) -> tuple[str, list[str]]:
    """``("http://x/feed.xml: 2 new, 1 changed", [error lines])`` for one poll; each error line
    is ``error: <url or entry>: <reason>`` (the CLI's error format), escaped to one line."""
    errors = [f"error: {one_line(o)}: {one_line(r)}" for o, r in report.failed]
    if report.outcome == "failed":
        errors.insert(0, f"error: {one_line(report.url)}: {one_line(report.error)}")
    return f"{one_line(report.url)}: {one_line(report.summary())}", errors


def watch_command(
    assistant: Any, urls: Sequence[str], every: float | None, once: bool,
    out: Callable[[str], None], err: Callable[[str], None],
) -> int:
    """``assistant watch``: poll ``urls`` (default ``settings.feeds``) every ``every`` seconds
    (default ``settings.feed_interval``) until interrupted, or once with ``once``.
    Exit code: 0; with ``once``, 1 when a feed or an entry failed."""
    settings = assistant.settings
    if every:
        settings = settings.model_copy(update={"feed_interval": every})
    feeds = check_urls(urls or settings.feeds)
    if not feeds:
        raise ConfigError("no feeds to watch: give FEED_OR_URL arguments or set ASSISTANT_FEEDS "
                          '(a JSON list, e.g. \'["https://example.com/feed.xml"]\')')
    failed = False

    def show(report: PollReport) -> None:
        nonlocal failed
        line, errors = poll_lines(report)
        out(line)
        for e in errors:
            err(e)
        failed = failed or bool(errors)

    watcher = FeedWatcher(assistant, settings, feeds, on_poll=show)
    if once:
        watcher.poll_once(force=True)
        return 1 if failed else 0
    out(f"watching {len(feeds)} feed(s), each every {settings.feed_interval:g} s "
        f"(state in {settings.feeds_path}); Ctrl-C stops")
    watcher.run()
    return 0


def feeds_command(settings: Settings, as_json: bool, out: Callable[[str], None]) -> int:
    """``assistant feeds``: every configured or earlier-watched feed and its state."""
    rows = feed_rows(FeedStates(settings.feeds_path).all(), settings.feeds)
    if as_json:
        out(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    if not rows:
        out("no feeds watched yet (run: assistant watch FEED_URL, or set ASSISTANT_FEEDS)")
        return 0
    now = utcnow()
    for n, row in enumerate(rows):
        if n:
            out("")
        for line in row_lines(row, now):
            out(one_line(line))
    return 0
