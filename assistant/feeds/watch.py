"""Feed watching: poll feeds (and pages) on a schedule, ingest only what is new or changed.

``FeedWatcher(assistant_or_indexer, settings).start()`` runs :meth:`FeedWatcher.poll_once`
as a background job on APScheduler's ``BackgroundScheduler`` (every few seconds up to a
minute, polling the feeds that are due); ``stop()`` ends it. A long-running process (the
page, the Slack bot) builds one over its ``Assistant``; ``assistant watch`` runs one in the
foreground. ``settings.feeds`` lists the URLs, ``settings.feed_interval`` the seconds
between polls of a feed.

One poll of a feed:
1. a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the last good poll)
   through the one fetch path (:mod:`assistant.ingest.fetch`: its deadline per request,
   size cap, redirect and address policy). ``304`` -> unchanged, nothing ingested.
2. the body is parsed by the loaders (:func:`assistant.ingest.load.poll_url`); feed entries
   whose fingerprint was seen before are skipped before anything else is fetched for them.
3. the new or changed articles go through ``Indexer.ingest`` (idempotent, crash-safe).
4. the feed's state is written (:mod:`.state`): validators (only when every offered entry
   landed, so a failed entry is offered again), entries seen, outcome, next poll.

A feed that fails (HTTP error, deadline, garbage) is retried after ``feed_retry`` seconds,
doubling per consecutive failure up to ``feed_retry_max``; the error is logged and kept in
its state. Feeds are fetched and parsed in parallel threads (each bounded by
``fetch_deadline`` per request and ``ingest_deadline`` per poll) and ingested one at a
time as they arrive, so a hanging feed never holds up the others.

Compromises: two processes watching the same index may both poll a feed (the indexer makes
that harmless); a feed entry whose linked page changes while the entry does not is not
noticed; an entry that fails every time keeps its feed on full GETs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from assistant.config import Settings
from assistant.errors import AssistantError, ConfigError, LoadError
from assistant.feeds.state import FeedState, FeedStates
from assistant.ingest.fetch import Fetched, Fetcher
from assistant.ingest.load import poll_url
from assistant.models import IngestResult, RawArticle, content_hash

logger = logging.getLogger(__name__)

__all__ = ["FeedWatcher", "PollReport", "backoff", "check_urls", "watch_in_background"]

Outcome = Literal["new", "unchanged", "not-modified", "failed"]
_MAX_PARALLEL = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(failures: int, settings: Settings) -> float:
    """Seconds before retrying after ``failures`` consecutive failures:
    ``feed_retry * 2 ** (failures - 1)``, capped (60, 120, 240 ... 21600 by default)."""
    exponent = min(max(failures - 1, 0), 40)
    return float(min(settings.feed_retry * 2**exponent, settings.feed_retry_max))


def check_urls(urls: Sequence[str]) -> tuple[str, ...]:
    """The watchable URLs, de-duplicated in order; ConfigError for anything not http(s)."""
    out: list[str] = []
    for url in (u.strip() for u in urls):
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"only http(s) feeds and pages can be watched, not {url!r}")
        if url not in out:
            out.append(url)
    return tuple(out)


def article_fingerprint(raw: RawArticle) -> str:
    """A page's (not a feed entry's) fingerprint: its loaded content and metadata."""
    return content_hash("\x1f".join((raw.title, raw.url, str(raw.published), raw.source,
                                     raw.text)))


@dataclass(frozen=True)
class PollReport:
    """The outcome of one poll of one feed."""

    url: str
    outcome: Outcome
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # entries that did not land: (origin, reason)
    error: str = ""  # why the whole feed failed
    next_poll: datetime | None = None

    def summary(self) -> str:
        """``"2 new, 1 changed"``, ``"unchanged (304)"``, ``"failed: HTTP 500 ..."``."""
        if self.outcome == "failed":
            return f"failed: {self.error}"
        if self.outcome == "not-modified":
            return "unchanged (304)"
        parts = [f"{len(self.added)} new"] if self.added else []
        parts += [f"{len(self.updated)} changed"] if self.updated else []
        parts += [f"{len(self.unchanged)} already indexed"] if self.unchanged else []
        parts += [f"{len(self.failed)} failed"] if self.failed else []
        return ", ".join(parts) or "no new entries"


@dataclass
class _Loaded:
    """A feed fetched and parsed (in a worker thread), waiting to be ingested."""

    got: Fetched
    items: list[RawArticle | LoadError]  # only the new or changed ones
    offered: dict[str, str] = field(default_factory=dict)  # article id -> fingerprint


class FeedWatcher:
    """``FeedWatcher(assistant, settings).start()``; ``poll_once()``; ``stop()``.

    ``target`` is an ``Assistant`` (its ``indexer`` is used, built on first poll) or an
    ``Indexer``; ``feeds`` defaults to ``settings.feeds``. ``on_poll`` is called with each
    :class:`PollReport` (the CLI prints them). ``fetcher`` and ``clock`` are test seams.
    """

    def __init__(
        self,
        target: Any,
        settings: Settings | None = None,
        feeds: Sequence[str] | None = None,
        on_poll: Callable[[PollReport], None] | None = None,
        fetcher: Callable[[Settings], Fetcher] = Fetcher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.target = target
        self.settings: Settings = settings or target.settings
        self.feeds = check_urls(self.settings.feeds if feeds is None else feeds)
        self.states = FeedStates(self.settings.feeds_path)
        self.on_poll = on_poll
        self._fetcher = fetcher
        self._clock = clock
        self._poll_lock = threading.Lock()
        self._stopping = threading.Event()
        self._scheduler: Any = None

    # ---- scheduling -------------------------------------------------------------------------
    @property
    def tick(self) -> float:
        """Seconds between checks for due feeds: at most a minute, at least 0.2 s."""
        s = self.settings
        return max(0.2, min(60.0, s.feed_interval, s.feed_retry))

    def start(self) -> None:
        """Poll due feeds now and then every :attr:`tick` seconds, in a background thread."""
        from apscheduler.schedulers.background import BackgroundScheduler

        if self._scheduler is not None:
            return
        if not self.feeds:
            logger.info("no feeds to watch (settings.feeds is empty)")
            return
        self._stopping.clear()
        scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
        scheduler.add_job(
            self._job, "interval", seconds=self.tick, id="feed-watch", name="feed watch",
            next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        logger.info("watching %d feed(s), every %g s", len(self.feeds), self.settings.feed_interval)

    def stop(self, wait: bool = True) -> None:
        """Stop the background job; with ``wait`` until a poll in progress has finished
        (the feed being ingested is finished, the remaining feeds are left for later)."""
        self._stopping.set()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)

    def run(self) -> None:
        """Watch in the foreground until interrupted (KeyboardInterrupt), then stop."""
        self.start()
        try:
            while self._scheduler is not None:
                time.sleep(0.5)
        finally:
            self.stop(wait=False)

    def _job(self) -> None:
        try:
            self._poll(force=False, stoppable=True)
        except Exception:  # noqa: BLE001 - the job must survive to poll again
            logger.exception("feed poll failed unexpectedly")

    # ---- polling ----------------------------------------------------------------------------
    def due(self, states: dict[str, FeedState], now: datetime) -> list[str]:
        """Feeds to poll now: never polled; failing and past their back-off; or healthy and
        ``feed_interval`` seconds past their last poll."""
        interval = timedelta(seconds=self.settings.feed_interval)
        out = []
        for url in self.feeds:
            st = states.get(url)
            if st is None or st.last_poll is None:
                out.append(url)
            elif st.failures:
                if st.next_poll is None or st.next_poll <= now:
                    out.append(url)
            elif st.last_poll + interval <= now:
                out.append(url)
        return out

    def poll_once(self, force: bool = False) -> list[PollReport]:
        """Poll the due feeds (every feed with ``force``); one report per feed polled."""
        return self._poll(force, stoppable=False)

    def _poll(self, force: bool, stoppable: bool) -> list[PollReport]:
        with self._poll_lock:
            states = self.states.all()
            urls = self.feeds if force else self.due(states, self._clock())
            if not urls:
                return []
            reports: list[PollReport] = []
            workers = min(_MAX_PARALLEL, len(urls))
            with ThreadPoolExecutor(workers, thread_name_prefix="feed-fetch") as pool:
                futures = {
                    pool.submit(self._load, url, states.get(url) or FeedState(url)): url
                    for url in urls
                }
                for future in as_completed(futures):
                    url = futures[future]
                    if stoppable and self._stopping.is_set():
                        logger.info("feed watcher stopping; %s left for the next poll", url)
                        continue
                    state = states.get(url) or FeedState(url)
                    try:
                        report = self._finish(state, future.result())
                    except Exception as exc:  # noqa: BLE001 - one feed never stops the others
                        report = self._failed(state, exc)
                    reports.append(report)
                    if self.on_poll is not None:
                        self.on_poll(report)
            return reports

    def _load(self, url: str, state: FeedState) -> _Loaded:
        """Fetch (conditionally) and parse one feed; entries seen before are left out."""
        offered: dict[str, str] = {}

        def keep(article_id: str, fingerprint: str) -> bool:
            if state.seen.get(article_id) == fingerprint:
                return False
            offered[article_id] = fingerprint
            return True

        fetcher = self._fetcher(self.settings)
        try:
            got, items = poll_url(url, fetcher, state.etag, state.last_modified, keep)
        finally:
            fetcher.close()
        fresh: list[RawArticle | LoadError] = []
        for item in items:
            if isinstance(item, RawArticle) and item.id not in offered:  # a page, not an entry
                fingerprint = article_fingerprint(item)
                if state.seen.get(item.id) == fingerprint:
                    continue
                offered[item.id] = fingerprint
            fresh.append(item)
        return _Loaded(got, fresh, offered)

    def _finish(self, state: FeedState, loaded: _Loaded) -> PollReport:
        """Ingest what is new, then write the feed's state (after the ingest, never before)."""
        now = self._clock()
        got = loaded.got
        result = IngestResult()
        if loaded.items:
            items = loaded.items
            result = self._indexer().ingest([state.url], loader=lambda _inputs, _s: items)
        landed = set(result.added) | set(result.updated) | set(result.unchanged)
        raw_origins = {i.origin for i in loaded.items if isinstance(i, RawArticle)}
        lost = [f for f in result.failed if f[0] in raw_origins]  # offered but not stored
        etag = got.etag or (state.etag if got.not_modified else "")
        modified = got.last_modified or (state.last_modified if got.not_modified else "")
        if lost:  # no validators: the next poll is a full GET, so these are offered again
            etag = modified = ""
        outcome: Outcome = "not-modified" if got.not_modified else (
            "new" if result.added or result.updated else "unchanged")
        report = PollReport(
            state.url, outcome, result.added, result.updated, result.unchanged, result.failed,
            next_poll=now + timedelta(seconds=self.settings.feed_interval),
        )
        new_state = replace(
            state.with_seen({k: v for k, v in loaded.offered.items() if k in landed}),
            etag=etag, last_modified=modified, last_poll=now, last_success=now,
            last_result=report.summary(), failures=0, next_poll=report.next_poll,
        )
        if result.failed:
            new_state = replace(new_state, last_error="; ".join(
                f"{origin}: {reason}" for origin, reason in result.failed[:3]),
                last_error_at=now)
            logger.warning("feed %s: %d entries not indexed, first: %s: %s", state.url,
                           len(result.failed), *result.failed[0])
        self.states.save(new_state)
        logger.info("feed %s: %s", state.url, report.summary())
        return report

    def _failed(self, state: FeedState, exc: Exception) -> PollReport:
        now = self._clock()
        if isinstance(exc, AssistantError):
            reason = str(getattr(exc, "reason", "") or exc)
        else:
            logger.error("feed %s: unexpected error", state.url, exc_info=exc)
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
        failures = state.failures + 1
        delay = backoff(failures, self.settings)
        next_poll = now + timedelta(seconds=delay)
        self.states.save(replace(
            state, last_poll=now, last_error=reason, last_error_at=now, failures=failures,
            next_poll=next_poll, last_result=f"failed: {reason}",
        ))
        logger.warning("feed %s failed (%d in a row): %s; retrying in %g s", state.url,
                       failures, reason, delay)
        return PollReport(state.url, "failed", error=reason, next_poll=next_poll)

    def _indexer(self) -> Any:
        return getattr(self.target, "indexer", self.target)


def watch_in_background(assistant: Any) -> FeedWatcher | None:
    """Start watching ``assistant.settings.feeds`` in the background (the page and the Slack
    bot call this at start); None when no feeds are set or they are not watchable (logged)."""
    if not assistant.settings.feeds:
        return None
    try:
        watcher = FeedWatcher(assistant)
    except ConfigError as exc:
        logger.error("feeds not watched: %s", exc)
        return None
    watcher.start()
    return watcher
