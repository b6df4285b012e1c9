"""Issue 20, items 1 and 3 against real loopback servers and a real Chroma index: a server
that drips one byte every 2 s (in the body, or in its headers) fails its input within the
deadline while the other inputs land; loopback URLs and a redirect from an allowed server to
a private address are refused with ``allow_private_urls`` off; oversized bodies are refused;
an ingest held by another process fails after ``lock_wait`` with what that process is doing.
Every test counts the indexed articles before and after: nothing already indexed is lost.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError
from assistant.ingest.fetch import Fetcher
from assistant.service import Assistant
from tests.conftest import CORPUS, REPO
from tests.unit.fakes import FakeEmbedder

pytestmark = pytest.mark.slow

PLAIN = b"Lynas shipped 3,000 tonnes of NdFeB magnets from Kuantan. Prices rose in May."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _drip(self, data: bytes) -> None:
        try:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if self.server.stop.wait(2.0):  # type: ignore[attr-defined]
                    break
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        port = self.server.server_address[1]
        if self.path == "/plain":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(PLAIN)))
            self.end_headers()
            self.wfile.write(PLAIN)
        elif self.path == "/drip-body":  # headers at once, then one byte every 2 s
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self._drip(b"x" * 1000)
        elif self.path == "/drip-headers":  # even the status line drips
            self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnever")
        elif self.path == "/big":  # no Content-Length: the cap applies while streaming
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"rare earth " * 100)
            except OSError:
                pass
            self.close_connection = True
        elif self.path.startswith("/to/"):  # redirect to http://<rest>
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[4:].replace("PORT", str(port)))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.stop = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.stop.set()  # type: ignore[attr-defined]
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _assistant(tmp_path: Path, **kw: object) -> Assistant:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", **kw)  # type: ignore[arg-type]
    assistant = Assistant(settings)
    assistant.embedder = FakeEmbedder()  # type: ignore[misc]  # cached_property slot
    return assistant


def _indexed(assistant: Assistant) -> set[str]:
    return {a.id for a in assistant.sources()}


def _with_corpus(tmp_path: Path, **kw: object) -> tuple[Assistant, set[str]]:
    assistant = _assistant(tmp_path, **kw)
    result = assistant.ingest([str(CORPUS)])
    assert result.added and not result.failed
    return assistant, _indexed(assistant)


# ---- item 1: slow servers -----------------------------------------------------------------------
def test_slow_drip_fails_within_the_deadline_and_the_rest_lands(server, tmp_path) -> None:
    # Before: one byte every few seconds never timed out (the timeout was per read).
    assistant, before = _with_corpus(
        tmp_path, fetch_deadline=3.0, fetch_timeout=15.0, allow_private_urls=True
    )
    t0 = time.monotonic()
    urls = [f"{server}/drip-body", f"{server}/drip-headers", f"{server}/plain"]
    result = assistant.ingest(urls)
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0 * 2 + 3, elapsed  # two deadlines and some slack, never minutes
    reasons = dict(result.failed)
    assert set(reasons) == {f"{server}/drip-body", f"{server}/drip-headers"}
    for reason in reasons.values():
        assert reason.startswith("timed out: no complete response within 3 s"), reason
    assert len(result.added) == 1
    after = _indexed(assistant)
    assert before < after and len(after) == len(before) + 1  # nothing lost, the good one in
    assert assistant.stats()["pending"] == 0


def test_the_ingest_budget_caps_all_fetches_together(server, tmp_path) -> None:
    cfg = Settings(_env_file=None, index_dir=tmp_path, fetch_deadline=5.0, ingest_deadline=1.5,
                   allow_private_urls=True)
    fetcher = Fetcher(cfg)
    t0 = time.monotonic()
    with pytest.raises(LoadError, match="this ingest's fetch time"):
        fetcher.get(f"{server}/drip-body")
    with pytest.raises(LoadError, match="is used up"):
        fetcher.get(f"{server}/plain")
    fetcher.close()
    assert time.monotonic() - t0 < 3


# ---- item 3: SSRF -------------------------------------------------------------------------------
def test_loopback_urls_are_refused_and_nothing_is_indexed(server, tmp_path) -> None:
    # Before: the fetch tab and feeds loaded 127.0.0.1 and indexed what came back.
    assistant, before = _with_corpus(tmp_path)  # allow_private_urls off (the default)
    result = assistant.ingest([f"{server}/plain", "http://localhost:1/x"])
    assert not result.added and len(result.failed) == 2
    for _, reason in result.failed:
        assert reason.startswith("refused: ") and "loopback address" in reason, reason
    assert _indexed(assistant) == before


def test_a_redirect_to_a_private_address_is_refused(server, tmp_path) -> None:
    port = int(server.rsplit(":", 1)[1])
    cfg = Settings(_env_file=None, index_dir=tmp_path)
    fetcher = Fetcher(cfg, trusted=[("127.0.0.1", port)])  # stands in for a public server
    body, _, _ = fetcher.get(f"{server}/plain")  # the trusted server itself is fetched
    assert body == PLAIN
    for target in ("localhost:PORT/plain", "127.0.0.2:PORT/plain", "169.254.169.254/latest"):
        with pytest.raises(LoadError) as err:
            fetcher.get(f"{server}/to/{target}")
        assert err.value.reason.startswith("refused: redirected to http://"), err.value.reason
        assert "address" in err.value.reason
    fetcher.close()


def test_redirects_are_limited(server, tmp_path) -> None:
    cfg = Settings(_env_file=None, index_dir=tmp_path, allow_private_urls=True,
                   fetch_max_redirects=2)
    fetcher = Fetcher(cfg)
    hop = "127.0.0.1:PORT/plain"
    two = f"{server}/to/127.0.0.1:PORT/to/{hop}"
    assert fetcher.get(two)[0] == PLAIN
    with pytest.raises(LoadError, match="too many redirects"):
        fetcher.get(f"{server}/to/127.0.0.1:PORT/to/127.0.0.1:PORT/to/{hop}")
    fetcher.close()


# ---- size cap -----------------------------------------------------------------------------------
def test_size_cap_refuses_big_bodies_and_the_rest_lands(server, tmp_path) -> None:
    assistant, before = _with_corpus(tmp_path, fetch_max_bytes=20_000, allow_private_urls=True)
    result = assistant.ingest([f"{server}/big", f"{server}/plain"])
    assert len(result.added) == 1
    assert result.failed == ((f"{server}/big", "response too large (over 20,000 bytes)"),)
    assert before < _indexed(assistant)


# ---- item 1: the lock ---------------------------------------------------------------------------
_HOLDER = """
import sys, time
from pathlib import Path
from assistant.index.lock import IngestLock
with IngestLock(Path(sys.argv[1]), doing="ingest http://slow.example/feed.rss"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_ingest_waits_at_most_lock_wait(tmp_path) -> None:
    # Before: waiting for the lock had no limit and little feedback.
    assistant, before = _with_corpus(tmp_path, lock_wait=1.0)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(assistant.settings.index_dir / "ingest.lock")],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pytest.raises(AssistantError) as err:
            assistant.ingest([str(CORPUS)])
        assert 0.9 <= time.monotonic() - t0 < 4
    finally:
        proc.kill()
        proc.wait(10)
    msg = str(err.value)
    assert msg.startswith("another ingest has held the index for ")
    assert f"ingest http://slow.example/feed.rss (pid {proc.pid}, since " in msg
    assert _indexed(assistant) == before
    assert assistant.ingest([str(CORPUS)]).unchanged  # the killed holder left no lock
