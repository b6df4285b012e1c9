"""Loaders: every file format, ids and duplicates, dates, and every bad input (no network;
tests/integration/test_loaders.py fetches URLs and feeds from a local HTTP server)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.ingest.load import load_inputs, parse_date
from assistant.ingest.pipeline import prepare
from assistant.models import RawArticle
from tests.conftest import CORPUS

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


def test_unsupported_scheme_and_empty_input(cfg: Settings) -> None:
    items = list(load_inputs(["ftp://example.com/a.txt", "  "], cfg))
    assert [type(i) for i in items] == [LoadError, LoadError]
    assert "unsupported URL scheme" in items[0].reason
    assert "no file" in items[1].reason
