"""Issue 20, items 1, 3 and 10 (pending chunks), without servers: the destination policy,
the per-ingest fetch budget, bounded lock waits with a clear message, a page start-up that
does not wait for the index, and retrieval that skips articles still marked pending.

tests/integration/test_attacks_fetch.py runs the slow-drip, SSRF-redirect and size-cap
attacks against real loopback servers and a real Chroma index.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError
from assistant.index.lock import IngestLock, busy_message, describe
from assistant.index.manifest import Manifest
from assistant.ingest.fetch import Fetcher, refusal
from assistant.ingest.load import load_inputs
from assistant.models import Article, Chunk
from assistant.retrieve import Retriever
from tests.unit.fakes import FakeEmbedder


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, index_dir=tmp_path / "index", **kw)  # type: ignore[arg-type]


# ---- item 3: destinations ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata address
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ],
)
def test_internal_addresses_are_refused(address: str, kind: str) -> None:
    reason = refusal(address)
    assert reason is not None and reason.startswith(kind), reason


def test_public_addresses_pass() -> None:
    assert refusal("93.184.216.34") is None and refusal("2606:4700::1111") is None


def test_loopback_url_is_refused_before_any_connection(tmp_path: Path) -> None:
    # Before: the page and feeds fetched 127.0.0.1. Nothing listens on port 9: a refusal by
    # policy says so, a connection attempt would say "cannot connect".
    items = list(load_inputs(["http://127.0.0.1:9/admin"], _settings(tmp_path)))
    assert len(items) == 1 and isinstance(items[0], LoadError)
    assert items[0].reason.startswith("refused: 127.0.0.1 resolves to a loopback address")
    assert "ALLOW_PRIVATE_URLS" in items[0].reason


def test_names_are_checked_on_their_resolved_address(tmp_path: Path, monkeypatch) -> None:
    def fake_getaddrinfo(host, port, *args, **kwargs):
        assert host == "intranet.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    fetcher = Fetcher(_settings(tmp_path))
    with pytest.raises(LoadError) as err:
        fetcher.get("http://intranet.example/wiki")
    fetcher.close()
    assert "intranet.example resolves to a private address 10.0.0.5" in err.value.reason


def test_other_schemes_are_not_fetched(tmp_path: Path) -> None:
    items = list(load_inputs(["file:///etc/passwd"], _settings(tmp_path)))
    assert len(items) == 1 and isinstance(items[0], LoadError)


# ---- item 1: the per-ingest budget --------------------------------------------------------------
def test_a_spent_ingest_budget_stops_further_fetches(tmp_path: Path) -> None:
    fetcher = Fetcher(_settings(tmp_path, ingest_deadline=5.0))
    fetcher.spent = 5.0
    t0 = time.monotonic()
    with pytest.raises(LoadError) as err:
        fetcher.get("http://93.184.216.34/a")  # never contacted: no time left
    assert time.monotonic() - t0 < 0.5
    assert "fetch time (5 s) is used up" in err.value.reason


# ---- item 1: bounded lock waits -----------------------------------------------------------------
def test_lock_wait_is_bounded_and_says_who_holds_the_index(tmp_path: Path) -> None:
    path = tmp_path / "index" / "ingest.lock"
    with IngestLock(path, doing=describe(["http://slow.example/feed.rss", "corpus"])):
        t0 = time.monotonic()
        with pytest.raises(AssistantError) as err:
            with IngestLock(path, wait=0.3):
                pass
        waited = time.monotonic() - t0
    assert 0.25 <= waited < 2
    msg = str(err.value)
    assert msg.startswith("another ingest has held the index for 0 s: ingest ")
    assert "http://slow.example/feed.rss, corpus" in msg and "pid " in msg
    with IngestLock(path, wait=0.3):  # released: taken at once
        pass


def test_indexer_gives_up_on_a_held_index_and_keeps_it(tmp_path: Path) -> None:
    from assistant.index.indexer import Indexer

    settings = _settings(tmp_path, lock_wait=0.3)
    manifest = Manifest(settings.manifest_path)
    art = Article(id="kept", title="T", text="Body.", origin="x.txt")
    manifest.mark_pending([(art, "/abs/x.txt", "r")])
    manifest.mark_done([("kept", 1)])

    class NoStore:
        def __getattr__(self, name: str):
            raise AssertionError(f"the store was touched ({name}) without the lock")

    indexer = Indexer(settings, FakeEmbedder(), NoStore(), manifest)
    with IngestLock(settings.index_dir / "ingest.lock", doing="ingest big-folder"):
        t0 = time.monotonic()
        with pytest.raises(AssistantError, match="has held the index for .*: ingest big-folder"):
            indexer.ingest(["corpus"])
        assert time.monotonic() - t0 < 2
    assert [e.article_id for e in manifest.entries("done")] == ["kept"]  # nothing lost


def test_busy_message_formats_durations() -> None:
    info = {"pid": 7, "started": 1000.0, "doing": "ingest corpus"}
    assert busy_message(info, now=1120.0).startswith(
        "another ingest has held the index for 2 min: ingest corpus (pid 7, since "
    )
    assert busy_message({}) == "another ingest holds the index: what it is doing is unknown"


def test_describe_keeps_messages_on_one_line() -> None:
    assert describe(["a\nb", "c", "d", "e"]) == "ingest a b, c, d (+1 more)"


# ---- page start-up ------------------------------------------------------------------------------
def test_page_is_served_while_the_index_refresh_hangs(monkeypatch, tmp_path: Path) -> None:
    from assistant.ui import start

    release = threading.Event()
    calls: list[str] = []

    class HungAssistant:
        def __init__(self, settings: Settings) -> None:
            self.settings = settings

        def refresh(self) -> None:
            calls.append("refresh")
            release.wait(10)  # a hung ingest elsewhere

        def warm(self) -> None:
            calls.append("warm")

        def warm_quietly(self) -> bool:  # what start-up calls
            self.warm()
            return True

    monkeypatch.setattr(start, "Settings", lambda: _settings(tmp_path))
    monkeypatch.setattr(start, "Assistant", HungAssistant)
    monkeypatch.setattr(start, "build_app", lambda assistant: "app")
    monkeypatch.setattr(start, "launch", lambda app, settings: calls.append("launch"))
    monkeypatch.setattr(start, "READY_WAIT", 0.5)
    t0 = time.monotonic()
    start.serve()
    assert time.monotonic() - t0 < 2 and "launch" in calls  # served; refresh still running
    release.set()
    deadline = time.monotonic() + 5
    while "warm" not in calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls.index("refresh") < calls.index("warm")


# ---- item 10: chunks of pending articles --------------------------------------------------------
def _chunk(article: str, text: str) -> Chunk:
    return Chunk(id=f"{article}:h:0", article_id=article, index=0, text=text, start=0,
                 end=len(text), section="", role="report", title="", source="", published=None)


class _Store:
    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks
        self.embedder = FakeEmbedder()

    def query(self, vector, n, filters):
        vecs = self.embedder.encode([c.text for c in self._chunks])
        scores = vecs @ vector
        ranked = sorted(zip(self._chunks, scores, strict=True), key=lambda cs: -cs[1])
        return [(c, float(s)) for c, s in ranked[:n]]

    def get(self, ids):
        return [c for c in self._chunks if c.id in ids]


class _Lexical:
    def __init__(self, chunks: list[Chunk], manifest: Manifest) -> None:
        self._chunks = chunks
        self.manifest = manifest

    def chunks(self):
        return list(self._chunks)

    def search(self, query, n, allowed=None):
        words = set(query.lower().split())
        hits = [(c.id, float(len(words & set(c.text.lower().split())))) for c in self._chunks]
        return sorted([h for h in hits if h[1] > 0], key=lambda h: -h[1])[:n]

    def get(self, ids):
        return [c for c in self._chunks if c.id in ids]


def test_chunks_of_pending_articles_are_not_retrieved(tmp_path: Path) -> None:
    # A kill between "pending" and "done" leaves the half-written article's chunks in the
    # store until the next ingest cleans up; retrieval must not serve them meanwhile.
    manifest = Manifest(tmp_path / "m.sqlite3")
    done = Article(id="done", title="T", text="x", origin="done.txt")
    half = Article(id="half", title="T", text="x", origin="half.txt")
    manifest.mark_pending([(done, "/abs/done.txt", "r"), (half, "/abs/half.txt", "r")])
    manifest.mark_done([("done", 1)])
    chunks = [
        _chunk("done", "Lynas ships 3,000 tonnes of NdFeB magnets."),
        _chunk("half", "Lynas ships 9,000 tonnes of NdFeB magnets, a half-written copy."),
    ]
    settings = _settings(tmp_path, candidates=10)
    retriever = Retriever(_Store(chunks), _Lexical(chunks, manifest), FakeEmbedder(), settings,
                          manifest=manifest)
    for mode in ("hybrid", "dense", "bm25"):
        found = {p.chunk.article_id for p in retriever.retrieve("Lynas NdFeB tonnes", 4,
                                                                mode=mode)}
        assert found == {"done"}, mode
    manifest.mark_done([("half", 1)])  # finished: served again (the cache follows generations)
    found = {p.chunk.article_id for p in retriever.retrieve("Lynas NdFeB tonnes", 4)}
    assert found == {"done", "half"}
    assert len(manifest.entries("done")) == 2
    manifest.close()
