"""Issue 16, feed watching, over real HTTP on 127.0.0.1 and a real Chroma index: a feed whose
content changes between polls (only the new entries are ingested; ETag answered with 304
and nothing re-ingested), feeds that fail with 500, hang past the deadline or serve
garbage while a good one still lands, an ``assistant watch`` process SIGKILLed mid-run and
restarted (no duplicate articles or chunks), and the ``watch --once`` / ``feeds`` commands.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.feeds import FeedStates, FeedWatcher
from assistant.service import Assistant
from tests.conftest import REPO
from tests.unit.fakes import FakeEmbedder

pytestmark = pytest.mark.slow


def _text(n: int) -> str:
    return (f"Lynas shipped {n},000 tonnes of NdFeB magnet feedstock from Kuantan in week {n}. "
            f"Dysprosium oxide prices rose {n} percent after China tightened export quotas. "
            f"Analysts expect the Pahang plant to reach full output by quarter {n % 4 + 1}.")


def rss(*items: str, title: str = "Rare Earth Wire") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{title}</title>{''.join(items)}</channel></rss>"
    ).encode()


def full(guid: str, n: int) -> str:
    """An entry with its full text in the feed."""
    return (f"<item><guid>{guid}</guid><title>Story {guid}</title>"
            f"<link>http://wire.example/{guid}</link>"
            "<pubDate>Mon, 02 Mar 2026 10:00:00 GMT</pubDate>"
            f"<content:encoded><![CDATA[<p>{_text(n)}</p>]]></content:encoded></item>")


def summary_only(guid: str, link: str) -> str:
    """An entry whose text is on the linked page (fetched by the loader)."""
    return (f"<item><guid>{guid}</guid><title>Story {guid}</title><link>{link}</link>"
            f"<description>Short summary of {guid}.</description></item>")


def page(n: int) -> bytes:
    paras = "".join(f"<p>{_text(n + k)}</p>" for k in range(4))
    return (f"<html><head><title>Page {n}</title></head><body><article><h1>Page {n}</h1>"
            f"{paras}</article></body></html>").encode()


@dataclass
class Route:
    body: bytes = b""
    ctype: str = "application/rss+xml"
    etag: str = ""
    modified: str = ""  # Last-Modified (If-Modified-Since is honoured when there is no ETag)
    status: int = 200
    hang: bool = False  # never answer (until the server stops)
    held: bool = False  # answer once ``site.release`` is set


@dataclass
class Site:
    routes: dict[str, Route] = field(default_factory=dict)
    # path, the validator sent (If-None-Match, else If-Modified-Since), status answered
    log: list[tuple[str, str, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    base: str = ""

    def hits(self, path: str) -> list[tuple[str, int]]:
        return [(inm, status) for p, inm, status in list(self.log) if p == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        site: Site = self.server.site  # type: ignore[attr-defined]
        route = site.routes.get(self.path)
        inm = self.headers.get("If-None-Match", "") or self.headers.get("If-Modified-Since", "")
        if route is None:
            site.log.append((self.path, inm, 404))
            self._send(404)
            return
        if route.hang:
            site.log.append((self.path, inm, 0))
            site.stop.wait(60)
            self.close_connection = True
            return
        if route.held:
            site.log.append((self.path, inm, 0))
            site.release.wait(120)
        headers = {"Content-Type": route.ctype}
        if route.etag:
            headers["ETag"] = route.etag
        if route.modified:
            headers["Last-Modified"] = route.modified
        current = route.etag or route.modified
        if route.status != 200:
            site.log.append((self.path, inm, route.status))
            self._send(route.status, b"oops", {"Content-Type": "text/plain"})
        elif current and inm == current:
            site.log.append((self.path, inm, 304))
            self._send(304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        else:
            site.log.append((self.path, inm, 200))
            try:
                self._send(200, route.body, headers)
            except OSError:
                pass


@pytest.fixture
def site() -> Iterator[Site]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    site = Site(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.site = site  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stop.set()
        site.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _assistant(tmp_path: Path, embedder: object = None, **kw: object) -> Assistant:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", allow_private_urls=True,
                        **kw)  # type: ignore[arg-type]
    assistant = Assistant(settings)
    assistant.embedder = embedder or FakeEmbedder()  # type: ignore[misc]  # cached_property slot
    return assistant


def assert_no_duplicates(assistant: Assistant, articles: int) -> None:
    """Every article once, every chunk once; store and manifest agree; nothing pending."""
    entries = assistant.manifest.entries()
    assert len(entries) == articles and all(e.state == "done" for e in entries), entries
    chunks = assistant.store.chunks()
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids)) == assistant.store.count()
    assert len(ids) == assistant.manifest.total_chunks()
    pairs = Counter((c.article_id, c.index) for c in chunks)
    assert max(pairs.values()) == 1
    assert Counter(c.article_id for c in chunks) == {e.article_id: e.chunks for e in entries}


# ---- only new entries; ETag and 304 --------------------------------------------------------------
def test_only_new_entries_are_ingested_and_304_ingests_nothing(site, tmp_path) -> None:
    site.routes["/feed.xml"] = Route(rss(full("a1", 1), full("a2", 2)), etag='"v1"')
    assistant = _assistant(tmp_path)
    url = f"{site.base}/feed.xml"
    watcher = FeedWatcher(assistant, feeds=[url])
    [first] = watcher.poll_once(force=True)
    assert first.outcome == "new" and len(first.added) == 2, first
    generation, chunks = assistant.manifest.generation(), assistant.store.count()

    [again] = watcher.poll_once(force=True)
    assert again.outcome == "not-modified"
    assert site.hits("/feed.xml")[-1] == ('"v1"', 304)  # If-None-Match sent, 304 answered
    assert assistant.manifest.generation() == generation  # nothing was re-ingested
    assert assistant.store.count() == chunks

    site.routes["/feed.xml"] = Route(rss(full("a1", 1), full("a2", 2), full("a3", 3)),
                                     etag='"v2"')
    [third] = watcher.poll_once(force=True)
    assert site.hits("/feed.xml")[-1] == ('"v1"', 200)
    assert third.outcome == "new" and len(third.added) == 1 and not third.updated
    assert not third.unchanged  # the two known entries were not even offered to the indexer
    assert third.added[0].startswith("wire-example-a3-")
    state = FeedStates(assistant.settings.feeds_path).get(url)
    assert state.etag == '"v2"' and len(state.seen) == 3 and state.failures == 0
    assert_no_duplicates(assistant, 3)


def test_last_modified_is_sent_back_as_if_modified_since(site, tmp_path) -> None:
    stamp = "Mon, 02 Mar 2026 10:00:00 GMT"
    site.routes["/lm.xml"] = Route(rss(full("m1", 1)), modified=stamp)
    assistant = _assistant(tmp_path)
    watcher = FeedWatcher(assistant, feeds=[f"{site.base}/lm.xml"])
    assert watcher.poll_once(force=True)[0].outcome == "new"
    generation = assistant.manifest.generation()
    assert watcher.poll_once(force=True)[0].outcome == "not-modified"
    assert site.hits("/lm.xml") == [("", 200), (stamp, 304)]
    assert assistant.manifest.generation() == generation


# ---- failing feeds -------------------------------------------------------------------------------
def test_error_hang_and_garbage_feeds_never_stop_a_good_one(site, tmp_path) -> None:
    site.routes["/good.xml"] = Route(rss(full("g1", 1), full("g2", 2)), etag='"g"')
    site.routes["/error.xml"] = Route(status=500)
    site.routes["/hang.xml"] = Route(hang=True)
    site.routes["/garbage.xml"] = Route(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    assistant = _assistant(tmp_path, fetch_deadline=2.0, fetch_timeout=1.5, feed_retry=30.0)
    urls = [f"{site.base}/{name}.xml" for name in ("error", "hang", "garbage", "good")]
    watcher = FeedWatcher(assistant, feeds=urls)
    t0 = time.monotonic()
    reports = {r.url.rsplit("/", 1)[1]: r for r in watcher.poll_once()}
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed  # the hang costs one deadline, in parallel with the rest
    assert reports["good.xml"].outcome == "new" and len(reports["good.xml"].added) == 2
    assert reports["error.xml"].error == "HTTP 500 Internal Server Error"
    assert reports["hang.xml"].error.startswith("timed out"), reports["hang.xml"].error
    assert "RSS/Atom" in reports["garbage.xml"].error, reports["garbage.xml"].error
    states = FeedStates(assistant.settings.feeds_path).all()
    for name in ("error", "hang", "garbage"):
        st = states[f"{site.base}/{name}.xml"]
        assert st.failures == 1 and st.last_error and st.last_success is None
        assert st.next_poll is not None and st.last_poll is not None
        assert 29 <= (st.next_poll - st.last_poll).total_seconds() <= 31
    assert watcher.poll_once() == []  # nothing is due: back-off for the failing ones
    assert_no_duplicates(assistant, 2)


# ---- a killed watcher ----------------------------------------------------------------------------
def _state(index: Path) -> dict:
    path = index / "feeds.json"
    return json.loads(path.read_text())["feeds"] if path.exists() else {}


def _done_articles(index: Path) -> int:
    with sqlite3.connect(index / "manifest.sqlite3") as db:
        return int(db.execute("select count(*) from articles where state = 'done'").fetchone()[0])


def _wait(what: str, ok, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        tail = log.read_text(errors="replace")[-3000:]
        if proc.poll() is not None:
            pytest.fail(f"watcher exited ({proc.returncode}) before {what}:\n{tail}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{tail}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, sig: int, grace: float = 90) -> None:
    """Send ``sig`` and wait. A watcher that outlives ``grace`` (a poll in flight may finish
    first; a loaded CI machine is slow) gets SIGABRT: run with ``-X faulthandler``, it dumps
    every thread's stack into its log, which the failing assertion then shows."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_a_killed_watcher_resumes_without_duplicates(site, tmp_path, embedder) -> None:
    site.routes["/a.xml"] = Route(rss(full("a1", 1), full("a2", 2), full("a3", 3)), etag='"a"')
    site.routes["/b.xml"] = Route(rss(
        summary_only("b1", f"{site.base}/pages/b1.html"),
        summary_only("b2", f"{site.base}/pages/b2.html"),
    ), etag='"b"')
    site.routes["/pages/b1.html"] = Route(page(10), "text/html", held=True)
    site.routes["/pages/b2.html"] = Route(page(20), "text/html")
    index = tmp_path / "index"
    a_url, b_url = f"{site.base}/a.xml", f"{site.base}/b.xml"
    cmd = [sys.executable, "-X", "faulthandler", "-m", "assistant.cli", "--index", str(index),
           "watch", a_url, b_url, "--every", "1s"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANONYMIZED_TELEMETRY": "False",
           "HF_HUB_OFFLINE": "1", "ASSISTANT_ALLOW_PRIVATE_URLS": "true",
           "ASSISTANT_FETCH_DEADLINE": "120"}
    log = tmp_path / "watch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=out)
    try:
        # feed a is ingested and its state written; feed b's poll hangs on a linked page
        _wait("feed a to land and feed b to be mid-poll",
              lambda: _state(index).get(a_url, {}).get("last_success")
              and site.hits("/pages/b1.html"), proc, log)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _stop(proc, signal.SIGKILL)
    killed_at = datetime.now().astimezone()
    state = _state(index)
    assert len(state[a_url]["seen"]) == 3 and not state.get(b_url, {}).get("last_success")
    assert _done_articles(index) == 3

    site.release.set()
    b_before = len(site.hits("/b.xml"))
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=out)
    try:
        def resumed() -> bool:
            st = _state(index)
            a_poll = st.get(a_url, {}).get("last_poll")
            return bool(st.get(b_url, {}).get("last_success") and a_poll
                        and datetime.fromisoformat(a_poll) > killed_at)

        _wait("both feeds to be polled after the restart", resumed, proc, log)
    finally:
        _stop(proc, signal.SIGINT)  # Ctrl-C: the watcher stops cleanly
    assert proc.returncode == 130, log.read_text(errors="replace")[-2000:]
    assert ('"a"', 304) in site.hits("/a.xml")  # feed a: unchanged, nothing re-ingested
    b_after = site.hits("/b.xml")[b_before:]  # polled every second: maybe more than once
    assert b_after[0] == ("", 200)  # feed b had no validators yet: a full GET
    assert all(hit == ('"b"', 304) for hit in b_after[1:])  # then unchanged
    state = _state(index)
    assert len(state[b_url]["seen"]) == 2 and state[b_url]["failures"] == 0
    assistant = _assistant(tmp_path, embedder)
    assert_no_duplicates(assistant, 5)
    assert {a.id.rsplit("-", 1)[0] for a in assistant.sources()} == {
        "wire-example-a1", "wire-example-a2", "wire-example-a3", "127-0-0-1-b1", "127-0-0-1-b2"}


# ---- the commands --------------------------------------------------------------------------------
def test_watch_once_and_feeds_commands(site, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_ALLOW_PRIVATE_URLS", "true")
    site.routes["/feed.xml"] = Route(rss(full("c1", 1), full("c2", 2)), etag='"c"')
    site.routes["/down.xml"] = Route(status=503)
    good, down = f"{site.base}/feed.xml", f"{site.base}/down.xml"
    code, out, err = run_cli("watch", good, down, "--once")
    assert code == 1  # a feed failed
    assert f"{good}: 2 new" in out
    assert f"error: {down}: HTTP 503 Service Unavailable" in err
    code, out, err = run_cli("watch", good, "--once")
    assert code == 0 and f"{good}: unchanged (304)" in out
    code, out, _ = run_cli("feeds")
    assert code == 0
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == down and blocks[1].splitlines()[0] == good
    assert "HTTP 503 Service Unavailable (1 failed poll in a row)" in blocks[0]
    assert "last success: never" in blocks[0]
    assert "unchanged (304)" in blocks[1] and "entries seen: 2" in blocks[1]
    assert "last error:   none" in blocks[1] and "next poll:" in blocks[1]
    code, out, _ = run_cli("feeds", "--json")
    rows = {r["url"]: r for r in json.loads(out)}
    assert rows[good]["entries_seen"] == 2 and rows[down]["failures"] == 1
    code, out, _ = run_cli("sources")
    assert out.count("Story c") == 2
    code, _, err = run_cli("watch", "corpus/")
    assert code == 1 and "only http(s) feeds and pages can be watched" in err
    with pytest.raises(SystemExit) as exit_:
        run_cli("watch", "--every", "soon", good)
    assert exit_.value.code == 2
