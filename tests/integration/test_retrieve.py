"""Retrieval for real: the embedding model, a Chroma store in a temp dir and the indexer over
``corpus/`` (tests/unit/test_retrieve.py has the parts, with a fake embedder)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from assistant.index.bm25 import Bm25Index
from assistant.models import Filters
from assistant.retrieve import Retriever
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow


# ---- the real thing --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_retrieval_over_corpus(settings, embedder, tmp_path: Path) -> None:
    """Real model + real Chroma + real indexer over corpus/ plus dated, sourced copies."""
    import json

    from assistant.index.indexer import Indexer
    from assistant.index.manifest import Manifest
    from assistant.index.store import Store

    lynas_file, other_file = sorted(CORPUS.glob("*.txt"))
    extra = tmp_path / "extra" / "dated.jsonl"
    extra.parent.mkdir()
    extra.write_text("\n".join(json.dumps(r) for r in [
        {"id": "dated-lynas", "title": "Malaysia and Korea: a super magnet plant in Pahang",
         "text": lynas_file.read_text(encoding="utf-8"), "source": "carboncredits.com",
         "published": "2025-11-20"},
        {"id": "dated-china", "title": "China and Malaysia talk rare earth processing",
         "text": other_file.read_text(encoding="utf-8"), "source": "example.org",
         "published": "2025-07-01"},
    ]), encoding="utf-8")

    store = Store(settings, embedder)
    manifest = Manifest(settings.manifest_path)
    lexical = Bm25Index(settings.index_dir / "bm25", store, manifest)
    indexer = Indexer(settings, embedder, store, manifest, lexical)
    result = indexer.ingest([str(CORPUS), str(extra.parent)])
    assert result.ok and len(result.added) == 4, result
    assert lexical.generation == manifest.generation()  # refreshed by the indexer
    retriever = Retriever(store, lexical, embedder, settings)

    question = (
        "How many tonnes of NdFeB magnets a year is the Lynas / JS Link facility meant to make?"
    )
    for mode in ("hybrid", "dense", "bm25"):
        top3 = retriever.retrieve(question, k=3, mode=mode)
        assert any("3,000" in p.chunk.text for p in top3), (mode, [p.chunk.text for p in top3])
    hybrid = retriever.retrieve(question, k=6)
    assert len({p.chunk.id for p in hybrid}) == len(hybrid) == 6
    texts = [p.chunk.text for p in hybrid]
    assert len(set(texts)) == len(texts)  # the dated copy is merged, not shown twice
    assert any(p.duplicates for p in hybrid)

    # source filter: only that source's article comes back, without the figure
    out = retriever.retrieve(question, k=6, filters=Filters(sources=("example.org",)))
    assert out and {p.chunk.article_id for p in out} == {"dated-china"}
    assert not any("3,000" in p.chunk.text for p in out)
    # date filters: since excludes the earlier and the undated articles
    out = retriever.retrieve(question, k=6, filters=Filters(since=date(2025, 11, 1)))
    assert out and {p.chunk.article_id for p in out} == {"dated-lynas"}
    assert any("3,000" in p.chunk.text for p in out[:3])
    out = retriever.retrieve(question, k=6, filters=Filters(
        since=date(2025, 6, 1), until=date(2025, 8, 1)))
    assert out and {p.chunk.article_id for p in out} == {"dated-china"}
    # article-id filter
    out = retriever.retrieve(question, k=6, filters=Filters(article_ids=("dated-china",)))
    assert out and {p.chunk.article_id for p in out} == {"dated-china"}
