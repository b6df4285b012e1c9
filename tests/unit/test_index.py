"""The index's bookkeeping without a store: the manifest's states and generations, and the
Chroma where-clauses built from filters (tests/integration/test_index.py indexes for real)."""

from __future__ import annotations

from assistant.index.manifest import Manifest
from assistant.models import Filters


def test_manifest_generation_and_states(tmp_path):
    manifest = Manifest(tmp_path / "m.sqlite3")
    assert manifest.generation() == 0 and manifest.entries() == []
    from assistant.models import Article

    art = Article(id="a", title="T", text="Body.", origin="x.txt")
    manifest.mark_pending([(art, "/abs/x.txt", "r1")])
    assert manifest.get("a").state == "pending" and manifest.generation() == 1
    manifest.mark_done([("a", 3)])
    entry = manifest.get("a")
    assert entry.state == "done" and entry.chunks == 3 and entry.hash == art.hash
    assert manifest.total_chunks() == 3 and manifest.generation() == 2
    manifest.set_raw_hash("a", "/abs/y.txt", "r2")
    assert manifest.generation() == 2 and manifest.get("a").origin == "/abs/y.txt"
    manifest.remove(["a"])
    assert manifest.get("a") is None and manifest.generation() == 3
    manifest.close()


def test_where_clauses():
    from datetime import date

    from assistant.index.store import _where

    assert _where(Filters()) is None
    assert _where(Filters(sources=("a",))) == {"source": {"$in": ["a"]}}
    assert _where(None, "x") == {"article_id": "x"}
    both = _where(Filters(since=date(2025, 1, 2), until=date(2025, 3, 4), article_ids=("x",)))
    assert both == {
        "$and": [
            {"published_int": {"$gte": 20250102}},
            {"published_int": {"$lte": 20250304}},
            {"article_id": {"$in": ["x"]}},
        ]
    }
