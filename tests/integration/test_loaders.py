"""Loaders over HTTP: article pages, charsets, RSS/Atom feeds and bad URLs, from a real
local HTTP server (tests/unit/test_loaders.py has the files and bad inputs)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.ingest.load import load_inputs
from tests.conftest import CORPUS
from tests.unit.test_loaders import ARTICLE_HTML, _split

pytestmark = pytest.mark.slow


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None, index_dir=tmp_path / "index", fetch_timeout=5.0, allow_private_urls=True
    )


LINKED_HTML = ARTICLE_HTML.replace(
    "Lynas signs magnet deal", "Iluka opens Eneabba refinery"
).replace(
    "Lynas Rare Earths signed a deal with JS Link to build a magnet plant in Malaysia.",
    "Iluka Resources opened its Eneabba rare earth refinery in Western Australia.",
)


def _rss(base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Rare Earth Wire</title><link>{base}/</link><description>news</description>
<item><title>Full entry</title><link>{base}/full</link><guid>full-1</guid>
<pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate>
<description>Short teaser.</description>
<content:encoded><![CDATA[<p>MP Materials raised magnet output by 40% in Texas.</p>
<p>The company said deliveries to GM start in 2026.</p>]]></content:encoded></item>
<item><title>Summary only</title><link>{base}/linked.html</link><guid>sum-2</guid>
<pubDate>Wed, 05 Mar 2025 09:00:00 GMT</pubDate>
<description>Iluka opened a refinery.</description></item>
<item><title>Dead link</title><link>{base}/gone</link><guid>dead-3</guid>
<description>Only this summary survives of the dead link entry.</description></item>
</channel></rss>"""


def _atom(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Rare Earths</title>
<id>urn:feed</id><updated>2025-04-01T00:00:00Z</updated>
<entry><title>Atom entry with content</title><id>urn:a1</id>
<link href="{base}/atom-a1"/><updated>2025-04-01T10:00:00Z</updated>
<content type="html">&lt;p&gt;Neo Performance Materials opened a magnet plant in Estonia.&lt;/p&gt;
</content>
</entry>
<entry><title>Atom summary only</title><id>urn:a2</id>
<link href="{base}/linked.html"/><published>2025-04-02T10:00:00Z</published>
<summary>Teaser only.</summary></entry></feed>"""


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str, length: int | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except OSError:  # the client gave up (timeout test): nothing to answer
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path
        if path == "/article.html":
            self._send(200, ARTICLE_HTML.encode(), "text/html; charset=utf-8")
        elif path == "/linked.html":
            self._send(200, LINKED_HTML.encode(), "text/html; charset=utf-8")
        elif path == "/feed.rss":
            self._send(200, _rss(base).encode(), "application/rss+xml")
        elif path == "/atom":
            self._send(200, _atom(base).encode(), "application/atom+xml")
        elif path == "/sniffed":  # a feed served with a generic type
            self._send(200, _rss(base).encode(), "text/plain")
        elif path == "/notafeed.xml":
            self._send(200, b"<html><body><p>Not a feed at all.</p></body></html>", "text/html")
        elif path == "/latin1.html":
            page = ARTICLE_HTML.replace("analysts", "Müller's analysts")
            self._send(200, page.encode("iso-8859-1"), "text/html; charset=ISO-8859-1")
        elif path == "/plain":
            self._send(200, b"Plain text article. It has two sentences.", "text/plain")
        elif path == "/huge":
            self._send(200, b"", "text/html", length=10**9)
        elif path == "/endless":  # no Content-Length: the cap applies while streaming
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"Too late.", "text/plain")
        elif path == "/boom":
            self._send(500, b"oops", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_html_url(server: str, cfg: Settings) -> None:
    arts, errs = _split(list(load_inputs([f"{server}/article.html"], cfg)))
    assert errs == []
    (a,) = arts
    assert a.title == "Lynas signs magnet deal"
    assert a.url == f"{server}/article.html" and a.origin == a.url
    assert a.published == date(2025, 3, 4)
    assert "JS Link" in a.text
    assert a.id.startswith("127-0-0-1-article-")


def test_declared_charset(server: str, cfg: Settings) -> None:
    arts, errs = _split(list(load_inputs([f"{server}/latin1.html"], cfg)))
    assert errs == [] and "Müller's analysts" in arts[0].text


def test_rss_feed_url(server: str, cfg: Settings) -> None:
    arts, errs = _split(list(load_inputs([f"{server}/feed.rss"], cfg)))
    assert errs == []
    assert [a.title for a in arts] == ["Full entry", "Summary only", "Dead link"]
    full, linked, dead = arts
    assert "raised magnet output by 40% in Texas" in full.text
    assert "Short teaser" not in full.text
    assert full.published == date(2025, 3, 4) and full.source == "Rare Earth Wire"
    assert full.url == f"{server}/full" and full.origin == full.url
    # Summary-only entry: the linked page was fetched and extracted.
    assert "opened its Eneabba rare earth refinery" in linked.text
    assert linked.published == date(2025, 3, 5)
    # Linked page is gone (404): the summary is used instead.
    assert dead.text == "Only this summary survives of the dead link entry."
    assert len({a.id for a in arts}) == 3


def test_atom_feed_url_and_sniffed_feed(server: str, cfg: Settings) -> None:
    arts, errs = _split(list(load_inputs([f"{server}/atom", f"{server}/sniffed"], cfg)))
    assert errs == []
    atom = [a for a in arts if a.source == "Atom Rare Earths"]
    assert [a.title for a in atom] == ["Atom entry with content", "Atom summary only"]
    assert "Neo Performance Materials opened a magnet plant in Estonia." in atom[0].text
    assert atom[0].published == date(2025, 4, 1)
    assert "Eneabba" in atom[1].text and atom[1].published == date(2025, 4, 2)
    # plus the sniffed RSS's 3 entries, less its "Summary only" entry: it links the same page
    # as the second Atom entry, and one article is loaded once per run.
    assert len(arts) == 4


def test_same_article_twice_in_one_run_is_loaded_once(server: str, cfg: Settings) -> None:
    items = list(load_inputs([str(CORPUS), str(CORPUS / "000_b2982247c88755c3.txt")], cfg))
    assert [i.id for i in items] == ["000_b2982247c88755c3", "003_189b76db5b34766f"]
    arts, errs = _split(list(load_inputs([f"{server}/feed.rss", f"{server}/sniffed"], cfg)))
    assert errs == [] and len(arts) == 3  # the second feed repeats the same three links


def test_feed_file_on_disk_fetches_linked_pages(tmp_path: Path, server: str, cfg: Settings) -> None:
    (tmp_path / "news.rss").write_text(_rss(server), encoding="utf-8")
    (tmp_path / "feed.data").write_text(_atom(server), encoding="utf-8")  # sniffed as a feed
    arts, errs = _split(list(load_inputs([str(tmp_path)], cfg)))
    assert errs == []
    assert len(arts) == 4  # 3 RSS + 2 Atom entries, one link shared
    assert any("Eneabba" in a.text for a in arts)


def test_bad_urls(server: str, cfg: Settings) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    sock.close()  # nothing listens there now
    urls = [
        f"{server}/missing",
        f"{server}/boom",
        f"{server}/notafeed.xml",
        f"{server}/huge",
        refused,
        f"{server}/plain",
    ]
    items = list(load_inputs(urls, cfg))
    arts, errs = _split(items)
    assert [a.text for a in arts] == ["Plain text article. It has two sentences."]
    assert arts[0].url == f"{server}/plain"
    reasons = {e.origin: e.reason for e in errs}
    assert reasons[f"{server}/missing"] == "HTTP 404 Not Found"
    assert reasons[f"{server}/boom"].startswith("HTTP 500")
    assert "expected an RSS/Atom feed" in reasons[f"{server}/notafeed.xml"]
    assert "too large" in reasons[f"{server}/huge"]
    assert reasons[refused].startswith("cannot connect")


def test_streamed_cap_and_timeout(server: str, tmp_path: Path) -> None:
    cfg = Settings(
        _env_file=None,
        index_dir=tmp_path,
        fetch_max_bytes=10_000,
        fetch_timeout=0.5,
        allow_private_urls=True,
    )
    t0 = time.perf_counter()
    items = list(load_inputs([f"{server}/endless", f"{server}/slow", f"{server}/plain"], cfg))
    assert time.perf_counter() - t0 < 5
    assert [type(i).__name__ for i in items] == ["LoadError", "LoadError", "RawArticle"]
    assert "too large (over 10,000 bytes)" in items[0].reason
    assert items[1].reason == "timed out after 0.5 s"
