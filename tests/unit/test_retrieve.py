"""Retrieval: tokenisation, BM25 index, fusion, near-duplicate merging, diversity, filters.

These use real bm25s and small in-memory stores with the deterministic FakeEmbedder;
tests/integration/test_retrieve.py runs the real embedding model, the real Chroma store in
a tmp dir and the real indexer over ``corpus/``.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.index.bm25 import Bm25Index, normalize_numbers, tokenize
from assistant.models import Chunk, Filters, Passage
from assistant.retrieve import (
    Fusion,
    Retriever,
    convex,
    diversify,
    fuse,
    matches,
    merge_near_duplicates,
    rrf,
    shingles,
)
from tests.unit.fakes import FakeEmbedder


# ---- fixtures: a tiny in-memory world -----------------------------------------------------------
def make_chunk(
    cid: str,
    text: str,
    article: str | None = None,
    source: str = "",
    published: date | None = None,
    title: str = "",
) -> Chunk:
    return Chunk(
        id=cid,
        article_id=article or cid.split(":")[0],
        index=int(cid.rsplit(":", 1)[-1]) if ":" in cid else 0,
        text=text,
        start=0,
        end=len(text),
        section="",
        role="report",
        title=title,
        source=source,
        published=published,
    )


class MemoryStore:
    """The Store contract over a list (dense = dot product of FakeEmbedder vectors)."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = list(chunks)
        self.embedder = FakeEmbedder()

    def chunks(self, article_id: str | None = None) -> list[Chunk]:
        return [c for c in self._chunks if article_id is None or c.article_id == article_id]

    def get(self, ids: list[str]) -> list[Chunk]:
        by = {c.id: c for c in self._chunks}
        return [by[i] for i in ids if i in by]

    def query(self, vector, k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        q = np.asarray(vector)
        scored = [
            (c, float(q @ np.asarray(self.embedder.embed_query(c.text))))
            for c in self._chunks
            if filters is None or matches(c, filters)
        ]
        scored.sort(key=lambda cs: -cs[1])
        return scored[:k]


class Generation:
    def __init__(self) -> None:
        self.value = 1

    def generation(self) -> int:
        return self.value


class Settings_:
    top_k = 4
    candidates = 10


DOCS = [
    make_chunk("lynas:0", "Lynas and JS Link plan a 3,000-tonne NdFeB magnet plant in Pahang.",
               source="carboncredits.com", published=date(2025, 11, 20)),
    make_chunk("lynas:1", "Malaysia holds 16.1 million tonnes of rare earth elements.",
               source="carboncredits.com", published=date(2025, 11, 20)),
    make_chunk("lynas:2", "Anwar Ibrahim said Malaysia is not beholden to the United States.",
               source="carboncredits.com", published=date(2025, 11, 20)),
    make_chunk("china:0", "China may share rare earth processing technology with Malaysia.",
               source="example.org", published=date(2025, 7, 1)),
    make_chunk("china:1", "Khazanah Nasional is tipped as the local partner for processing.",
               source="example.org", published=date(2025, 7, 1)),
    make_chunk("copy:0", "Lynas and JS Link plan a 3,000-tonne NdFeB magnet plant in Pahang.",
               source="syndicated.net", published=date(2025, 11, 21)),
]


@pytest.fixture
def world(tmp_path: Path):
    store = MemoryStore(DOCS)
    manifest = Generation()
    lexical = Bm25Index(tmp_path / "bm25", store, manifest)
    return store, manifest, lexical, Retriever(store, lexical, store.embedder, Settings_())


# ---- tokenisation ----------------------------------------------------------------------------
def test_tokenize_keeps_numbers_and_names() -> None:
    toks = tokenize("Lynas's 3,000-tonne NdFeB plant; 16.1 million tonnes in 2025 (RM800 bn)")
    for t in ("3000", "ndfeb", "16.1", "2025", "rm800", "lyna"):
        assert t in toks
    assert "the" not in tokenize("the magnets") and "magnet" in tokenize("the magnets")
    assert normalize_numbers("1,234,567 and 3,000 but 1,23 and 2025") == (
        "1234567 and 3000 but 1,23 and 2025"
    )


def test_tokenize_query_and_document_forms_meet() -> None:
    assert set(tokenize("3000 tonnes")) <= set(tokenize("a 3,000-tonne facility")) | {"tonn"}
    assert tokenize("tonnes") == tokenize("tonne")


# ---- BM25 index --------------------------------------------------------------------------------
def test_bm25_finds_figures_and_respects_allowed_ids(world) -> None:
    _, _, lexical, _ = world
    hits = lexical.search("3,000 tonnes NdFeB", 3)
    assert {hits[0][0], hits[1][0]} == {"lynas:0", "copy:0"}
    assert lexical.search("16.1 million", 1)[0][0] == "lynas:1"
    restricted = lexical.search("NdFeB Pahang", 5, allowed_ids={"copy:0", "china:0"})
    assert [i for i, _ in restricted] == ["copy:0"] and restricted[0][1] > 0
    assert lexical.search("NdFeB", 5, allowed_ids=set()) == []
    assert lexical.search("zzzz unknownword", 5) == []
    assert lexical.search("the of and", 5) == []


def test_bm25_persists_and_rebuilds_on_new_generation(world, tmp_path: Path) -> None:
    store, manifest, lexical, _ = world
    lexical.refresh()
    assert (tmp_path / "bm25" / "CURRENT").exists()
    # a second instance loads from disk without reading the store
    class NoStore:
        def chunks(self):
            raise AssertionError("should load from disk")

    again = Bm25Index(tmp_path / "bm25", NoStore(), manifest)
    assert again.search("Khazanah", 1)[0][0] == "china:1"
    # new data + new generation -> rebuilt on next search
    store._chunks.append(make_chunk("new:0", "Iluka builds a refinery at Eneabba."))
    manifest.value += 1
    assert lexical.search("Eneabba refinery", 1)[0][0] == "new:0"
    assert lexical.generation == 2
    versions = [p for p in (tmp_path / "bm25").iterdir() if p.is_dir()]
    assert len(versions) == 1  # old build cleaned up


def test_bm25_empty_store(tmp_path: Path) -> None:
    index = Bm25Index(tmp_path / "bm25", MemoryStore([]), Generation())
    assert index.search("anything", 5) == []
    assert len(index) == 0


# ---- fusion ------------------------------------------------------------------------------------
def test_rrf_matches_formula() -> None:
    fused = dict(rrf([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert [k for k, _ in rrf([["a", "b", "c"], ["c", "a"]])] == ["a", "c", "b"]


def test_convex_missing_scores_take_the_floor() -> None:
    out = convex([[("a", 2.0), ("b", 1.5), ("x", 1.0)], [("b", 9.0), ("c", 1.0)]], [0.5, 0.5])
    assert [k for k, _ in out][:2] == ["b", "a"]
    assert dict(out) == pytest.approx({"b": 0.75, "a": 0.5, "x": 0.0, "c": 0.0})


ids = st.lists(st.sampled_from("abcdefghij"), max_size=15)
scored = st.lists(
    st.tuples(st.sampled_from("abcdefghij"), st.floats(-5, 5, allow_nan=False)), max_size=15
)
methods = st.sampled_from(
    [Fusion("rrf", 0.5), Fusion("rrf", 0.3), Fusion("minmax", 0.6), Fusion("zscore", 0.4)]
)


def _best_first(items):
    return sorted(items, key=lambda kv: -kv[1])


@settings(max_examples=200, deadline=None)
@given(scored, scored, methods)
def test_fusion_output_is_a_set_of_inputs(dense, bm25, fusion) -> None:
    dense, bm25 = _best_first(dense), _best_first(bm25)
    out = fuse(dense, bm25, fusion)
    keys = [k for k, _ in out]
    assert len(keys) == len(set(keys))
    assert set(keys) == {k for k, _ in dense} | {k for k, _ in bm25}
    assert all(a[1] >= b[1] for a, b in zip(out, out[1:], strict=False))


@settings(max_examples=200, deadline=None)
@given(scored, scored, methods)
def test_fusion_ignores_repeated_ids_after_the_first(dense, bm25, fusion) -> None:
    dense, bm25 = _best_first(dense), _best_first(bm25)
    first = {}
    for k, s in dense:
        first.setdefault(k, s)
    dedup = list(first.items())
    assert fuse(dense, bm25, fusion) == fuse(dedup, bm25, fusion)


@settings(max_examples=100, deadline=None)
@given(ids, ids)
def test_rrf_symmetric_when_weights_equal(a, b) -> None:
    assert dict(rrf([a, b])) == pytest.approx(dict(rrf([b, a])))


# ---- near-duplicates ---------------------------------------------------------------------------
def test_merge_near_duplicates() -> None:
    base = "Lynas and JS Link plan a 3,000-tonne NdFeB magnet plant in Pahang near Kuantan"
    items = [
        ("a", base),
        ("b", "Other news: " + base),  # syndicated copy with a byline change
        ("c", "China may share processing technology with Malaysia, reports say."),
        ("a", base),
        ("d", base.replace("Pahang", "Perak")),  # one word differs: 9/19 shingles differ
    ]
    out = merge_near_duplicates(items)
    assert out[0] == ("a", ("b",))
    assert ("c", ()) in out
    assert [k for k, _ in out].count("a") == 1
    assert "d" in [k for k, _ in out]  # not near-identical enough at 0.8


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.sampled_from(
    ["one two three four five six", "one two three four five six seven", "x y", "", "q r s"]
)), max_size=12))
def test_merge_partitions_the_ids(items) -> None:
    out = merge_near_duplicates(items)
    kept = [k for k, _ in out]
    merged = [d for _, ds in out for d in ds]
    assert len(kept + merged) == len(set(kept + merged)) == len({k for k, _ in items})
    assert kept == [k for k in dict.fromkeys(k for k, _ in items) if k in kept]  # order kept


def test_shingles_short_text() -> None:
    assert shingles("Hello world") == frozenset([("hello", "world")])
    assert shingles("") == frozenset()


# ---- diversity ----------------------------------------------------------------------------------
def test_diversify_caps_one_article() -> None:
    ranked = ["a1", "a2", "a3", "a4", "b1", "c1"]
    assert diversify(ranked, lambda s: s[0], 4) == ["a1", "a2", "b1", "c1"]
    # fewer articles than needed: fill from the capped one, order kept
    assert diversify(["a1", "a2", "a3", "b1"], lambda s: s[0], 4) == ["a1", "a2", "a3", "b1"]
    assert diversify(["a1"], lambda s: s[0], 0) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("abc", min_size=2, max_size=2)), st.integers(0, 8))
def test_diversify_properties(ranked, k) -> None:
    out = diversify(ranked, lambda s: s[0], k)
    assert len(out) == len(set(out)) == min(k, len(set(ranked)))
    assert set(out) <= set(ranked)
    cap = max(1, math.ceil(k / 2))
    groups = {s[0] for s in ranked}
    for g in groups:
        n = sum(1 for s in out if s[0] == g)
        others_left = any(s not in out and s[0] != g for s in ranked)
        assert n <= cap or not others_left


# ---- filters ------------------------------------------------------------------------------------
def test_matches_filters() -> None:
    c = DOCS[0]
    assert matches(c, Filters())
    assert matches(c, Filters(since=date(2025, 11, 20), until=date(2025, 11, 20)))
    assert not matches(c, Filters(since=date(2025, 11, 21)))
    assert not matches(c, Filters(until=date(2025, 11, 19)))
    assert matches(c, Filters(sources=("carboncredits.com",)))
    assert not matches(c, Filters(sources=("example.org",)))
    assert not matches(c, Filters(article_ids=("china",)))
    undated = make_chunk("u:0", "x")
    assert not matches(undated, Filters(since=date(2020, 1, 1)))
    assert not matches(undated, Filters(until=date(2020, 1, 1)))  # undated: outside any range
    assert matches(undated, Filters())


# ---- the retriever ---------------------------------------------------------------------------
def test_retriever_hybrid_merges_copies_and_scores(world) -> None:
    *_, retriever = world
    out = retriever.retrieve("3,000 tonnes of NdFeB magnets Lynas JS Link", k=3)
    assert all(isinstance(p, Passage) for p in out)
    top = out[0]
    assert "3,000" in top.chunk.text
    assert set(top.duplicates) | {top.chunk.id} == {"lynas:0", "copy:0"}
    ids = [p.chunk.id for p in out]
    assert len(ids) == len(set(ids)) and len(ids) <= 3
    assert not set(ids) & set(top.duplicates)
    assert top.bm25_score is not None and top.dense_score is not None
    assert all(a.score >= b.score for a, b in zip(out, out[1:], strict=False))


def test_retriever_filters_apply_to_both_sides(world) -> None:
    *_, retriever = world
    for mode in ("hybrid", "dense", "bm25"):
        out = retriever.retrieve("NdFeB magnets Malaysia", k=4, mode=mode,
                                 filters=Filters(sources=("example.org",)))
        assert out and {p.chunk.source for p in out} == {"example.org"}
        out = retriever.retrieve("NdFeB magnets Malaysia rare earth", k=4, mode=mode,
                                 filters=Filters(since=date(2025, 11, 1)))
        assert out and all(p.chunk.published >= date(2025, 11, 1) for p in out)
        assert retriever.retrieve("NdFeB", mode=mode, filters=Filters(sources=("nope",))) == []


def test_retriever_spreads_over_articles(world) -> None:
    *_, retriever = world
    out = retriever.retrieve("Malaysia rare earth Lynas Anwar tonnes processing", k=4)
    per_article: dict[str, int] = {}
    for p in out:
        per_article[p.chunk.article_id] = per_article.get(p.chunk.article_id, 0) + 1
    assert len(out) == 4 and max(per_article.values()) <= 2


def test_retriever_modes_and_runnable(world) -> None:
    *_, retriever = world
    dense = retriever.retrieve("Khazanah partner", k=2, mode="dense")
    bm25 = retriever.retrieve("Khazanah partner", k=2, mode="bm25")
    assert bm25[0].chunk.id == "china:1" and bm25[0].dense_score is None
    assert dense and dense[0].bm25_score is None
    with pytest.raises(ValueError):
        retriever.retrieve("x", mode="sparse")  # type: ignore[arg-type]
    assert retriever.retrieve("   ") == []
    runnable = retriever.as_runnable()
    out = runnable.invoke({"question": "Khazanah partner",
                           "filters": Filters(sources=("example.org",))})
    assert out[0].chunk.id == "china:1"
    assert runnable.invoke("Khazanah partner")[0].chunk.article_id == "china"
