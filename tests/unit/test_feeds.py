"""Feed watching without a network or a store: canned HTTP responses (a ``Fetcher`` whose
``fetch`` answers from a dict, honouring validators like a server), the real loaders and the
real indexer over an in-memory store. tests/integration/test_feeds.py does it over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.errors import AssistantError, ConfigError, LoadError
from assistant.feeds import FeedState, FeedStates, FeedWatcher
from assistant.feeds.report import feed_rows, feeds_command, parse_every, poll_lines, row_lines
from assistant.feeds.state import MAX_SEEN
from assistant.feeds.watch import backoff, check_urls
from assistant.index.indexer import Indexer
from assistant.index.manifest import Manifest
from assistant.ingest.fetch import Fetched, Fetcher
from assistant.models import Chunk
from tests.unit.fakes import FakeEmbedder

FEED = "http://news.example/feed.xml"
OTHER = "http://other.example/rss"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rss(*entries: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 feed of ``(guid, title, text)`` entries with full content."""
    items = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>http://news.example/{g}</link>"
        f"<pubDate>Mon, 02 Mar 2026 10:00:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[<p>{x}</p>]]></content:encoded></item>"
        for g, t, x in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Rare Earth Wire</title>{items}</channel></rss>"
    ).encode()


def text(n: int) -> str:
    return (f"Lynas shipped {n},000 tonnes of NdFeB magnet feedstock from Kuantan in week {n}. "
            f"Prices for dysprosium oxide rose {n} percent as export quotas tightened.")


E1, E2, E3 = (("a1", "Lynas ships", text(1)), ("a2", "Quota news", text(2)),
              ("a3", "Plant delayed", text(3)))


@dataclass
class Site:
    """What the fake server serves: url -> (body, etag, content type), or an error to raise."""

    pages: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # url, If-None-Match, status

    def serve(self, url: str, body: bytes, etag: str = "",
              ctype: str = "application/rss+xml") -> None:
        self.pages[url] = (body, etag, ctype)


class CannedFetcher(Fetcher):
    """The real Fetcher's surface; answers from a :class:`Site` like an HTTP server."""

    def __init__(self, settings: Settings, site: Site) -> None:
        super().__init__(settings)
        self.site = site

    def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        if url in self.site.errors:
            self.site.log.append((url, etag, 500))
            raise LoadError(url, self.site.errors[url])
        body, current, ctype = self.site.pages[url]
        if etag and etag == current:
            self.site.log.append((url, etag, 304))
            return Fetched(b"", "", url, 304, etag=current)
        self.site.log.append((url, etag, 200))
        return Fetched(body, ctype, url, 200, etag=current)


class MemoryStore:
    """The store surface the indexer writes through, in a dict (upserts by chunk id)."""

    def __init__(self) -> None:
        self.chunks: dict[str, Chunk] = {}
        self.adds = 0

    def add(self, chunks: Sequence[Chunk], vectors: Any) -> None:
        self.adds += 1
        for c in chunks:
            self.chunks[c.id] = c

    def delete_article(self, article_id: str) -> None:
        for cid in [k for k, c in self.chunks.items() if c.article_id == article_id]:
            del self.chunks[cid]

    def count(self) -> int:
        return len(self.chunks)


class NoLexical:
    def refresh(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, index_dir=tmp_path / "index", feeds=(FEED,),
                    feed_interval=600, feed_retry=60, feed_retry_max=1000)


@pytest.fixture
def site() -> Site:
    return Site()


@pytest.fixture
def indexer(cfg: Settings) -> Indexer:
    cfg.index_dir.mkdir(parents=True, exist_ok=True)
    return Indexer(cfg, FakeEmbedder(), MemoryStore(), Manifest(cfg.manifest_path), NoLexical())


def watcher(indexer: Indexer, cfg: Settings, site: Site, clock: Clock | None = None,
            **kw: Any) -> FeedWatcher:
    return FeedWatcher(indexer, cfg, fetcher=lambda s: CannedFetcher(s, site),
                       clock=clock or Clock(), **kw)


def assert_no_duplicates(indexer: Indexer) -> None:
    store: MemoryStore = indexer.store
    per_article = Counter(c.article_id for c in store.chunks.values())
    entries = indexer.manifest.entries()
    assert all(e.state == "done" for e in entries)
    assert per_article == {e.article_id: e.chunks for e in entries}
    assert len({(c.article_id, c.index) for c in store.chunks.values()}) == store.count()


# ---- pure helpers -------------------------------------------------------------------------------
@pytest.mark.parametrize("value, seconds", [
    ("30m", 1800), ("90s", 90), ("2h", 7200), ("1h30m", 5400), ("45", 45), ("1d", 86400),
    ("0.5m", 30), (" 10M ", 600),
])
def test_parse_every(value: str, seconds: float) -> None:
    assert parse_every(value) == seconds


@pytest.mark.parametrize("value", ["", "0", "m", "30x", "5 10", "-5m", "1h30", "m30"])
def test_parse_every_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_every(value)


def test_backoff_doubles_and_is_capped(cfg: Settings) -> None:
    assert [backoff(n, cfg) for n in range(1, 7)] == [60, 120, 240, 480, 960, 1000]
    assert backoff(10_000, cfg) == 1000


def test_only_http_urls_are_watched() -> None:
    assert check_urls([FEED, " " + FEED, OTHER]) == (FEED, OTHER)
    for bad in ("corpus/", "file:///etc/passwd", "ftp://x/feed"):
        with pytest.raises(ConfigError, match="only http"):
            check_urls([bad])


def test_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_FEEDS", json.dumps([FEED, OTHER]))
    monkeypatch.setenv("ASSISTANT_FEED_INTERVAL", "120")
    s = Settings(_env_file=None)
    assert s.feeds == (FEED, OTHER) and s.feed_interval == 120
    assert s.feeds_path == s.index_dir / "feeds.json"


# ---- state file ---------------------------------------------------------------------------------
def test_state_round_trip_is_atomic_and_keeps_other_feeds(tmp_path: Path) -> None:
    states = FeedStates(tmp_path / "feeds.json")
    assert states.all() == {} and states.get(FEED) == FeedState(FEED)
    a = FeedState(FEED, etag='"v1"', last_success=T0, failures=0, seen={"x": "1"})
    states.save(a)
    states.save(FeedState(OTHER, last_error="HTTP 500", failures=2, next_poll=T0))
    assert states.get(FEED) == a and states.get(OTHER).failures == 2
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    assert json.loads((tmp_path / "feeds.json").read_text())["version"] == 1


def test_corrupt_state_is_moved_aside(tmp_path: Path, caplog) -> None:
    path = tmp_path / "feeds.json"
    path.write_text("{not json", encoding="utf-8")
    assert FeedStates(path).all() == {}
    assert (tmp_path / "feeds.json.corrupt").exists() and "unreadable" in caplog.text


def test_seen_entries_are_capped_newest_last() -> None:
    state = FeedState(FEED, seen={str(i): "h" for i in range(MAX_SEEN)})
    state = state.with_seen({"new": "h2", "0": "h3"})
    assert len(state.seen) == MAX_SEEN and list(state.seen)[-2:] == ["new", "0"]
    assert "1" not in state.seen


def test_feed_entries_that_keep_refuses_are_not_read(cfg) -> None:
    from assistant.ingest.formats import feed_doc

    class NoNetwork(Fetcher):
        calls: list[str] = []

        def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
            self.calls.append(url)
            raise LoadError(url, "no network in unit tests")

    body = rss(E1).replace(b"</channel>", b"<item><guid>s1</guid><title>Summary only</title>"
                           b"<link>http://news.example/s1</link><description>Short.</description>"
                           b"</item></channel>")
    asked: list[tuple[str, str]] = []
    fetcher = NoNetwork(cfg)
    out = feed_doc(body, "wire", FEED, fetcher, keep=lambda i, f: asked.append((i, f)) or False)
    assert out == [] and fetcher.calls == [] and len(asked) == 2  # the linked page not fetched
    out = feed_doc(body, "wire", FEED, fetcher, keep=lambda i, f: True)
    assert [a.id for a in out] == [i for i, _ in asked] and fetcher.calls == [
        "http://news.example/s1"]  # fetched, failed, the summary used instead
    changed = body.replace(b"Short.", b"Longer now.")
    again: list[tuple[str, str]] = []
    feed_doc(changed, "wire", FEED, fetcher, keep=lambda i, f: again.append((i, f)) or False)
    assert again[0] == asked[0] and again[1][0] == asked[1][0] and again[1][1] != asked[1][1]


def test_validators_are_sent_only_when_safe() -> None:
    from assistant.ingest.fetch import _validator

    assert _validator(' "v1" ') == '"v1"' and _validator(None) == ""
    assert _validator("a\r\nX-Injected: 1") == "" and _validator("é") == ""
    assert _validator("x" * 600) == ""
    assert Fetched(b"", "", "u", 304).not_modified and not Fetched(b"x", "", "u").not_modified


# ---- polling ------------------------------------------------------------------------------------
def test_first_poll_ingests_then_304_ingests_nothing(indexer, cfg, site) -> None:
    site.serve(FEED, rss(E1, E2), etag='"v1"')
    clock = Clock()
    w = watcher(indexer, cfg, site, clock)
    [first] = w.poll_once()
    assert first.outcome == "new" and len(first.added) == 2
    state = w.states.get(FEED)
    assert state.etag == '"v1"' and len(state.seen) == 2 and state.last_success == T0
    assert state.next_poll == T0 + timedelta(seconds=600)
    chunks, adds = indexer.store.count(), indexer.store.adds

    assert w.poll_once() == []  # not due yet
    clock.advance(601)
    [again] = w.poll_once()
    assert again.outcome == "not-modified" and again.summary() == "unchanged (304)"
    assert site.log[-1] == (FEED, '"v1"', 304)
    assert indexer.store.count() == chunks and indexer.store.adds == adds  # nothing re-ingested
    assert w.states.get(FEED).etag == '"v1"'


def test_only_new_and_changed_entries_are_offered(indexer, cfg, site, monkeypatch) -> None:
    site.serve(FEED, rss(E1, E2), etag='"v1"')
    w = watcher(indexer, cfg, site)
    w.poll_once(force=True)
    offered: list[list[str]] = []
    real = indexer.ingest

    def spy(inputs, prune=False, progress=None, loader=None):
        offered.append([a.id for a in loader(inputs, cfg)])
        return real(inputs, prune, progress, loader)

    monkeypatch.setattr(indexer, "ingest", spy)
    changed = (E2[0], E2[1], E2[2] + " The quota was later eased.")
    site.serve(FEED, rss(E1, changed, E3), etag='"v2"')
    [report] = w.poll_once(force=True)
    assert site.log[-1] == (FEED, '"v1"', 200)
    assert len(offered) == 1 and len(offered[0]) == 2  # E1 was skipped before parsing it
    assert len(report.added) == 1 and len(report.updated) == 1 and not report.unchanged
    assert report.summary() == "1 new, 1 changed"
    assert len(w.states.get(FEED).seen) == 3 and w.states.get(FEED).etag == '"v2"'
    site.serve(FEED, rss(E1, changed, E3), etag='"v3"')  # new validator, same entries
    [same] = w.poll_once(force=True)
    assert same.outcome == "unchanged" and same.summary() == "no new entries"
    assert len(offered) == 1  # the indexer was not even called
    assert_no_duplicates(indexer)


def test_failing_feeds_back_off_and_never_block_the_others(indexer, cfg, site) -> None:
    cfg = cfg.model_copy(update={"feeds": (FEED, OTHER, "http://junk.example/feed.xml")})
    site.serve(FEED, rss(E1), etag='"v1"')
    site.errors[OTHER] = "HTTP 500 Internal Server Error"
    site.serve("http://junk.example/feed.xml", b"\x00\x01 not a feed at all \xff" * 20)
    clock = Clock()
    w = watcher(indexer, cfg, site, clock)
    reports = {r.url: r for r in w.poll_once()}
    assert reports[FEED].outcome == "new" and len(reports[FEED].added) == 1
    assert reports[OTHER].outcome == "failed" and "HTTP 500" in reports[OTHER].error
    junk = reports["http://junk.example/feed.xml"]
    assert junk.outcome == "failed" and "not a valid RSS/Atom feed" in junk.error, junk.error
    st = w.states.get(OTHER)
    assert st.failures == 1 and st.last_error.startswith("HTTP 500")
    assert st.next_poll == T0 + timedelta(seconds=60) and st.last_success is None
    assert w.states.get(FEED).failures == 0

    clock.advance(59)
    assert w.poll_once() == []
    clock.advance(2)  # back-off over; the healthy feed is not due for 600 s
    assert {r.url for r in w.poll_once()} == {OTHER, "http://junk.example/feed.xml"}
    st = w.states.get(OTHER)
    assert st.failures == 2 and st.next_poll == clock.now + timedelta(seconds=120)
    del site.errors[OTHER]
    site.serve(OTHER, rss(E3))
    clock.advance(121)
    reports = {r.url: r for r in w.poll_once()}
    assert reports[OTHER].outcome == "new"
    st = w.states.get(OTHER)
    assert st.failures == 0 and st.last_success == clock.now and st.last_error.startswith("HTTP")
    line, errors = poll_lines(reports["http://junk.example/feed.xml"])
    assert line.endswith("failed: " + reports["http://junk.example/feed.xml"].error)
    assert errors[0].startswith("error: http://junk.example/feed.xml: ")


def test_a_killed_poll_resumes_without_duplicates(indexer, cfg, site, monkeypatch) -> None:
    """Killed after the ingest, before the state was written: the next watcher offers the
    entries again, the indexer finds them unchanged, nothing is stored twice."""
    site.serve(FEED, rss(E1, E2), etag='"v1"')
    w = watcher(indexer, cfg, site)

    def killed(self, state):
        raise SystemExit("killed")

    monkeypatch.setattr(FeedStates, "save", killed)
    with pytest.raises(SystemExit):
        w.poll_once()
    monkeypatch.undo()
    chunks = dict(indexer.store.chunks)
    assert len(indexer.manifest.entries()) == 2 and not w.states.path.exists()

    [report] = watcher(indexer, cfg, site).poll_once()
    assert site.log[-1] == (FEED, "", 200)  # no validators were saved: a full GET
    assert report.outcome == "unchanged" and len(report.unchanged) == 2
    assert indexer.store.chunks == chunks
    assert_no_duplicates(indexer)
    assert len(FeedStates(cfg.feeds_path).get(FEED).seen) == 2


def test_a_failed_ingest_keeps_the_entries_unseen(cfg, site, indexer) -> None:
    class Exploding(FakeEmbedder):
        def encode(self, texts):
            if any("EXPLODE" in t for t in texts):
                raise AssistantError("embedding model crashed")
            return super().encode(texts)

    indexer.embedder = Exploding()
    bad = ("b1", "Bad", text(9) + " EXPLODE")
    site.serve(FEED, rss(E1, bad), etag='"v1"')
    w = watcher(indexer, cfg, site)
    [report] = w.poll_once(force=True)
    assert len(report.failed) == 2 and "embedding model crashed" in report.failed[0][1]
    state = w.states.get(FEED)
    assert state.etag == "" and state.seen == {} and "embedding model crashed" in state.last_error
    indexer.embedder = FakeEmbedder()
    [retry] = w.poll_once(force=True)
    assert site.log[-1] == (FEED, "", 200) and len(retry.added) == 2
    assert w.states.get(FEED).etag == '"v1"'


def test_a_page_is_watched_by_its_content(indexer, cfg, site) -> None:
    page = "http://news.example/story.txt"
    cfg = cfg.model_copy(update={"feeds": (page,)})
    site.serve(page, text(4).encode(), ctype="text/plain")  # no validators at all
    w = watcher(indexer, cfg, site)
    assert w.poll_once(force=True)[0].outcome == "new"
    assert w.poll_once(force=True)[0].summary() == "no new entries"
    site.serve(page, (text(4) + " Revised.").encode(), ctype="text/plain")
    assert len(w.poll_once(force=True)[0].updated) == 1
    assert_no_duplicates(indexer)


def test_start_runs_polls_in_the_background_and_stop_ends_them(indexer, cfg, site) -> None:
    cfg = cfg.model_copy(update={"feed_interval": 0.2, "feed_retry": 0.2})
    site.serve(FEED, rss(E1), etag='"v1"')
    seen: list[str] = []
    done = threading.Event()

    def on_poll(report):
        seen.append(report.outcome)
        if len(seen) >= 3:
            done.set()

    w = FeedWatcher(indexer, cfg, on_poll=on_poll, fetcher=lambda s: CannedFetcher(s, site))
    assert w.tick == 0.2
    w.start()
    try:
        assert done.wait(10), seen
    finally:
        w.stop()
    assert seen[0] == "new" and set(seen[1:]) == {"not-modified"}
    count = len(seen)
    time.sleep(0.5)
    assert len(seen) == count  # stopped


def test_no_feeds_means_no_job(indexer, cfg) -> None:
    w = FeedWatcher(indexer, cfg.model_copy(update={"feeds": ()}))
    w.start()
    assert w._scheduler is None and w.poll_once() == []
    w.stop()


# ---- the commands' text -------------------------------------------------------------------------
def test_feeds_command_lists_state(cfg, indexer, site) -> None:
    out: list[str] = []
    assert feeds_command(cfg.model_copy(update={"feeds": ()}), False, out.append) == 0
    assert out == ["no feeds watched yet (run: assistant watch FEED_URL, or set ASSISTANT_FEEDS)"]
    site.serve(FEED, rss(E1, E2), etag='"v1"')
    site.errors[OTHER] = "HTTP 503 Service Unavailable"
    watcher(indexer, cfg.model_copy(update={"feeds": (FEED, OTHER)}), site).poll_once()
    out.clear()
    feeds_command(cfg, False, out.append)
    text_out = "\n".join(out)
    assert FEED in text_out and OTHER in text_out and "entries seen: 2" in text_out
    assert "2 new" in text_out
    assert "HTTP 503 Service Unavailable (1 failed poll in a row)" in text_out
    out.clear()
    feeds_command(cfg, True, out.append)
    rows = {r["url"]: r for r in json.loads(out[0])}
    assert rows[FEED]["entries_seen"] == 2 and rows[FEED]["in_settings"] is True
    assert rows[OTHER]["failures"] == 1 and rows[OTHER]["in_settings"] is False


def test_row_lines_times_and_escaping(cfg) -> None:
    state = FeedState("http://x/\x1b[31mfeed", last_error="bad\nthing", last_error_at=T0,
                      failures=2, next_poll=T0 + timedelta(minutes=5))
    [row] = feed_rows({state.url: state}, [])
    lines = row_lines(row, T0)
    assert lines[1] == "  last success: never"
    assert "(2 failed polls in a row)" in lines[2]
    assert lines[3] == "  entries seen: 0" and lines[4].endswith("(in 5 min)")
    FeedStates(cfg.feeds_path).save(state)
    out: list[str] = []
    feeds_command(cfg.model_copy(update={"feeds": ()}), False, out.append)
    assert not any("\x1b" in line or "\n" in line for line in out)
    assert "http://x/\\x1b[31mfeed" in out[0] and "bad\\nthing" in out[2]


def test_long_running_processes_watch_the_feeds_setting(tmp_path: Path) -> None:
    from assistant.feeds.watch import watch_in_background

    class Host:  # what the page and the Slack bot hand over: an object with settings
        def __init__(self, **kw: Any) -> None:
            self.settings = Settings(_env_file=None, index_dir=tmp_path / "index", **kw)
            self.indexer = None

    assert watch_in_background(Host()) is None  # no feeds set: nothing runs
    assert watch_in_background(Host(feeds=("file:///etc/passwd",))) is None  # refused, logged
    watcher = watch_in_background(Host(feeds=("http://127.0.0.1:9/feed.xml",),
                                       fetch_deadline=1.0))
    assert watcher is not None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not watcher.states.all():
            time.sleep(0.05)
        state = watcher.states.get("http://127.0.0.1:9/feed.xml")
        assert state.failures == 1 and state.last_error  # polled at once, failure recorded
    finally:
        watcher.stop()
