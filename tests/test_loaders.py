"""Loaders: every format, URLs and feeds from a real local HTTP server, and every bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.ingest.load import load_inputs, parse_date
from assistant.ingest.pipeline import prepare
from assistant.models import RawArticle

from .conftest import CORPUS

ARTICLE_HTML = """<!doctype html><html><head><title>Lynas signs magnet deal | Mining Wire</title>
<meta property="og:title" content="Lynas signs magnet deal">
<meta property="article:published_time" content="2025-03-04T08:00:00Z">
<meta property="og:site_name" content="Mining Wire"></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Lynas signs magnet deal</h1>
<p>Lynas Rare Earths signed a deal with JS Link to build a magnet plant in Malaysia.
The plant will make 3,000 tonnes of NdFeB magnets a year from 2027.</p>
<h2>Why It Matters</h2>
<p>It is the first plant of its kind in Southeast Asia outside Chinese ownership, analysts
at the Kuala Lumpur brokerage said on Tuesday after the announcement.</p>
</article><footer>Copyright 2025 Mining Wire. All rights reserved.</footer></body></html>"""

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


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, index_dir=tmp_path / "index", fetch_timeout=5.0)


def _split(items) -> tuple[list[RawArticle], list[LoadError]]:
    arts = [i for i in items if isinstance(i, RawArticle)]
    errs = [i for i in items if isinstance(i, LoadError)]
    assert len(arts) + len(errs) == len(items)
    return arts, errs


# --------------------------------------------------------------------------- files


def test_seed_corpus(cfg: Settings) -> None:
    arts, errs = _split(list(load_inputs([str(CORPUS)], cfg)))
    assert errs == []
    assert [a.id for a in arts] == ["000_b2982247c88755c3", "003_189b76db5b34766f"]
    assert all(a.published is None and a.title == "" for a in arts)
    assert arts[0].origin.endswith("corpus/000_b2982247c88755c3.txt")
    assert prepare(arts[1]).title.startswith("China potentially offering to share")


def test_formats(tmp_path: Path, cfg: Settings) -> None:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden.txt").write_text("Should be skipped.")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("Should be skipped too.")
    (root / "notes.bin").write_bytes(b"unknown type in a folder is skipped")
    (root / "a.md").write_text(
        "---\nid: custom-id\ntitle: Lynas *update*\nurl: https://example.com/a\n"
        "published: 2025-02-03\nsource: Example News\n---\n"
        "# Lynas update\n\nLynas said **output** rose, see [the report](https://x.y/r).\n"
        "![chart](c.png)\n",
        encoding="utf-8",
    )
    (root / "sub" / "b.txt").write_text("Plain text body. No title here.", encoding="utf-8")
    (root / "c.html").write_text(ARTICLE_HTML, encoding="utf-8")
    records = [
        {"id": "rec-1", "title": "One", "text": "First record text.", "published": "2024-12-01"},
        {"title": "Two", "text": "Second record text.", "source": "Wire"},
    ]
    (root / "d.json").write_text(json.dumps(records), encoding="utf-8")
    (root / "e.json").write_text(json.dumps({"id": "single", "text": "Single record."}))
    (root / "f.jsonl").write_text(
        '{"id": "l1", "title": "L1", "text": "Line one."}\n\n{"id": "l2", "text": "Line two."}\n'
    )
    cp1252 = "Cafe prices – 5 € rise in the café, said Müller's team.".encode("cp1252")
    (root / "g.txt").write_bytes(cp1252)

    arts, errs = _split(list(load_inputs([str(root)], cfg)))
    assert errs == []
    by_id = {a.id: a for a in arts}
    assert set(by_id) == {"custom-id", "sub/b", "c", "rec-1", "d-2", "single", "l1", "l2", "g"}
    md = by_id["custom-id"]
    assert md.title == "Lynas *update*"
    assert md.url == "https://example.com/a" and md.source == "Example News"
    assert md.published == date(2025, 2, 3)
    assert "# Lynas update" in md.text  # headings kept for section detection
    assert "Lynas said output rose, see the report." in md.text
    assert "c.png" not in md.text and "https://x.y" not in md.text
    html = by_id["c"]
    assert html.title == "Lynas signs magnet deal"
    assert html.published == date(2025, 3, 4)
    assert html.source == "Mining Wire"
    assert "3,000 tonnes of NdFeB magnets" in html.text
    assert "All rights reserved" not in html.text and "About" not in html.text.split("\n")[0]
    assert by_id["rec-1"].published == date(2024, 12, 1) and by_id["rec-1"].title == "One"
    assert by_id["d-2"].source == "Wire"
    assert by_id["l2"].text == "Line two."
    assert by_id["g"].text == "Cafe prices – 5 € rise in the café, said Müller's team."
    assert by_id["sub/b"].origin.endswith("in/sub/b.txt")
    # Sorted walk order: a.md, c.html, d.json, e.json, f.jsonl, g.txt, sub/b.txt
    assert [a.id for a in arts][0] == "custom-id" and arts[-1].id == "sub/b"


def test_single_file_ids_and_duplicates(tmp_path: Path, cfg: Settings) -> None:
    (tmp_path / "x.txt").write_text("Text one.")
    (tmp_path / "x.md").write_text("Text two.")
    arts, errs = _split(list(load_inputs([str(tmp_path / "x.md"), str(tmp_path / "x.txt")], cfg)))
    assert errs == []
    assert [a.id for a in arts] == ["x", "x.txt"]


def test_bad_inputs_each_give_one_error_and_the_rest_loads(tmp_path: Path, cfg: Settings) -> None:
    root = tmp_path / "batch"
    root.mkdir()
    (root / "00_good.txt").write_text("A good article. It loads.")
    (root / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "controls.txt").write_bytes(bytes(range(1, 32)) * 50 + b"\xff\xfe\x81" * 50)
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text("   \n\n  ")
    (root / "bad.json").write_text('{"id": "x",\n "text": "unterminated}\n')
    (root / "norecord.json").write_text('[{"id": "x"}]')
    (root / "mixed.jsonl").write_text('{"id": "ok1", "text": "Fine."}\n{oops\n')
    (root / "badfront.md").write_text("---\ntitle: [unclosed\n---\nBody.")
    (root / "notfeed.xml").write_text("<?xml version='1.0'?><config><a>1</a></config>")
    (root / "zz_good.md").write_text("Another good one.")
    items = list(load_inputs([str(root), str(tmp_path / "missing.txt")], cfg))
    arts, errs = _split(items)
    assert sorted(a.id for a in arts) == ["00_good", "ok1", "zz_good"]
    reasons = {Path(e.origin).name: e.reason for e in errs}
    assert "binary" in reasons["binary.txt"]
    assert "binary" in reasons["controls.txt"] or "undecodable" in reasons["controls.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "empty" in reasons["blank.md"]
    assert "invalid JSON at line 2" in reasons["bad.json"]
    assert "no 'text'" in reasons["norecord.json"]
    assert reasons["mixed.jsonl"].startswith("line 2: invalid JSON")
    assert "front matter" in reasons["badfront.md"]
    assert "feed" in reasons["notfeed.xml"]
    assert reasons["missing.txt"] == "no such file or directory"
    for e in errs:
        assert "\n" not in str(e) and e.origin in str(e)


def test_huge_file_refused_before_reading(tmp_path: Path, cfg: Settings) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:  # sparse: instant, no disk use
        fh.truncate(50 * 1024 * 1024)
    t0 = time.perf_counter()
    items = list(load_inputs([str(big)], cfg))
    elapsed = time.perf_counter() - t0
    assert len(items) == 1 and isinstance(items[0], LoadError)
    assert "too large" in items[0].reason and "52,428,800" in items[0].reason
    assert elapsed < 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-31", date(2025, 1, 31)),
        ("2025-01-31T10:00:00Z", date(2025, 1, 31)),
        ("Tue, 04 Mar 2025 08:00:00 GMT", date(2025, 3, 4)),
        ("2025/02/28", date(2025, 2, 28)),
        (date(2024, 5, 6), date(2024, 5, 6)),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("2025-13-45", None),
    ],
)
def test_parse_date(value, expected) -> None:
    assert parse_date(value) == expected


# --------------------------------------------------------------------------- URLs and feeds


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


def test_unsupported_scheme_and_empty_input(cfg: Settings) -> None:
    items = list(load_inputs(["ftp://example.com/a.txt", "  "], cfg))
    assert [type(i) for i in items] == [LoadError, LoadError]
    assert "unsupported URL scheme" in items[0].reason
    assert "no file" in items[1].reason


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
    cfg = Settings(_env_file=None, index_dir=tmp_path, max_file_bytes=10_000, fetch_timeout=0.5)
    t0 = time.perf_counter()
    items = list(load_inputs([f"{server}/endless", f"{server}/slow", f"{server}/plain"], cfg))
    assert time.perf_counter() - t0 < 5
    assert [type(i).__name__ for i in items] == ["LoadError", "LoadError", "RawArticle"]
    assert "too large (over 10,000 bytes)" in items[0].reason
    assert items[1].reason == "timed out after 0.5 s"
