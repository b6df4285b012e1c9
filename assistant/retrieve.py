"""Hybrid retrieval: dense (Chroma) + BM25, fused; filters; near-duplicates merged; spread.

Job: ``Retriever.retrieve(question, k, filters, mode) -> list[Passage]``. In ``hybrid`` mode
the question is embedded and the store returns ``settings.candidates`` nearest chunks; BM25
returns as many; the two candidate lists are fused (:func:`fuse`: a convex combination of
z-scored candidate scores, dense weight 0.6), near-duplicate passages are merged into the
best of them (:func:`merge_near_duplicates`), passages of other copies of an already ranked
story are dropped (:func:`one_copy_per_story`, story clusters from ``index.clusters``; several
passages of the best-ranked copy stay), and the top ``k`` are picked with at most
``ceil(k / 2)`` from one article while other articles have candidates (:func:`diversify`).
The pure functions are shared with ``bench/retrieval.py`` so that its figures measure this
very code (the fusion choice and its measurements: ``docs/notes/ingest-index-verify.md``).

Filters apply to both sides: the store turns them into a Chroma ``where``; the BM25 side
gets the allow-list of chunk ids whose metadata pass :func:`matches` (the same rules:
dates inclusive on ``published``, an undated chunk fails a date bound; sources and
article ids matched exactly).

Chunks of articles the manifest marks ``pending`` (being rewritten, or left half-written by
a killed ingest until the next one cleans up) are never returned: the set of pending ids is
read from the manifest only when its generation changed (one one-row query per question).

Compromises: near-duplicates are found by word 5-shingle Jaccard over the candidates only
(no vectors come back from the store); a chunk seen only by BM25 has no dense score (and
vice versa) - fusion treats a missing score as the bottom of that list.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from assistant.index.stories import one_copy_per_story
from assistant.models import Chunk, Filters, Passage, date_to_int

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
Scored = Sequence[tuple[str, float]]
T = TypeVar("T", bound=Hashable)

RRF_K = 60


# ---- fusion -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fusion:
    """How two ranked lists are combined.

    ``method``: ``"rrf"`` (weighted reciprocal rank fusion, ``sum w / (rrf_k + rank)``),
    ``"minmax"`` or ``"zscore"`` (convex combination ``w_d * norm(dense) + w_b * norm(bm25)``
    of per-list normalised scores). ``dense_weight`` is ``w_d``; ``w_b = 1 - w_d``.
    """

    method: Literal["rrf", "minmax", "zscore"] = "rrf"
    dense_weight: float = 0.5
    rrf_k: int = RRF_K


#: The fusion used by ``Retriever`` (chosen on the bench, see the module docstring).
DEFAULT_FUSION = Fusion("zscore", 0.6)


def first_occurrences(items: Iterable[tuple[T, float]]) -> list[tuple[T, float]]:
    """Keep each id's first (best-ranked) entry: ``[(a,3),(b,2),(a,1)] -> [(a,3),(b,2)]``."""
    seen: set[T] = set()
    out = []
    for key, score in items:
        if key not in seen:
            seen.add(key)
            out.append((key, score))
    return out


def rrf(
    rankings: Sequence[Sequence[T]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[T, float]]:
    """Weighted reciprocal rank fusion: ``rrf([["a","b"], ["b"]]) -> [("b", ..), ("a", ..)]``.

    A repeated id inside one ranking counts once, at its best rank.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    scores: dict[T, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        seen: set[T] = set()
        rank = 0
        for key in ranking:
            if key in seen:
                continue
            seen.add(key)
            rank += 1
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return _sorted(scores)


def _normalise(scored: Sequence[tuple[T, float]], how: str) -> dict[T, float]:
    if not scored:
        return {}
    values = [s for _, s in scored]
    if how == "minmax":
        lo, hi = min(values), max(values)
        span = hi - lo
        return {key: (s - lo) / span if span > 0 else 1.0 for key, s in scored}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {key: (s - mean) / std if std > 0 else 0.0 for key, s in scored}


def convex(
    lists: Sequence[Sequence[tuple[T, float]]], weights: Sequence[float], how: str = "minmax"
) -> list[tuple[T, float]]:
    """Convex combination of normalised scores (``how``: ``minmax`` or ``zscore``).

    An id missing from a list gets that list's lowest normalised value.
    ``convex([[("a", 2), ("b", 1.5), ("x", 1)], [("b", 9), ("c", 1)]], [0.5, 0.5])``
    -> ``[("b", 0.75), ("a", 0.5), ("x", 0.0), ("c", 0.0)]``.
    """
    norms = [_normalise(first_occurrences(lst), how) for lst in lists]
    keys: list[T] = []
    seen: set[T] = set()
    for lst in lists:
        for key, _ in lst:
            if key not in seen:
                seen.add(key)
                keys.append(key)
    floors = [min(n.values()) if n else 0.0 for n in norms]
    scores = {
        key: sum(w * n.get(key, floor) for w, n, floor in zip(weights, norms, floors, strict=True))
        for key in keys
    }
    return _sorted(scores)


def _sorted(scores: dict[T, float]) -> list[tuple[T, float]]:
    # stable: ties keep first-seen order
    return sorted(scores.items(), key=lambda kv: -kv[1])


def fuse(
    dense: Sequence[tuple[T, float]],
    bm25: Sequence[tuple[T, float]],
    fusion: Fusion = DEFAULT_FUSION,
) -> list[tuple[T, float]]:
    """Fuse two best-first ``(id, score)`` lists into one best-first list without repeats."""
    w = (fusion.dense_weight, 1.0 - fusion.dense_weight)
    if fusion.method == "rrf":
        return rrf([[key for key, _ in dense], [key for key, _ in bm25]], fusion.rrf_k, w)
    return convex([dense, bm25], w, fusion.method)


# ---- near-duplicates ----------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    """Word n-shingles of a lower-cased text (the whole word tuple when shorter than n)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def merge_near_duplicates(
    items: Sequence[tuple[T, str]], threshold: float = 0.8
) -> list[tuple[T, tuple[T, ...]]]:
    """Merge best-first ``(id, text)`` items whose 5-shingle Jaccard >= ``threshold``.

    Each kept item lists the ids merged into it:
    ``[("a", "x y z w v u"), ("b", "x y z w v u"), ("c", "other")]``
    -> ``[("a", ("b",)), ("c", ())]``. Repeated ids are dropped.
    """
    kept: list[tuple[T, frozenset[Any], list[T]]] = []
    seen: set[T] = set()
    for key, text in items:
        if key in seen:
            continue
        seen.add(key)
        sh = shingles(text)
        for _, other, dups in kept:
            # |A & B| / |A | B| <= min / max: skip pairs whose sizes alone rule it out
            small, large = sorted((len(sh), len(other)))
            if large and small < threshold * large:
                continue
            if jaccard(sh, other) >= threshold:
                dups.append(key)
                break
        else:
            kept.append((key, sh, []))
    return [(key, tuple(dups)) for key, _, dups in kept]


# ---- diversity ------------------------------------------------------------------------------
def diversify(
    ranked: Sequence[T], group_of: Callable[[T], Hashable], k: int, cap: int | None = None
) -> list[T]:
    """Best-first ids, at most ``cap`` (default ``ceil(k/2)``) per group while others remain.

    Items skipped for the cap fill the remaining slots when fewer groups have candidates;
    the result keeps the input order and has no repeats:
    ``diversify(["a1","a2","a3","b1"], lambda s: s[0], 2) -> ["a1", "b1"]``.
    """
    if k <= 0:
        return []
    cap = cap if cap is not None else max(1, math.ceil(k / 2))
    unique = list(dict.fromkeys(ranked))
    chosen: set[T] = set()
    counts: dict[Hashable, int] = {}
    for item in unique:
        if len(chosen) >= k:
            break
        g = group_of(item)
        if counts.get(g, 0) < cap:
            counts[g] = counts.get(g, 0) + 1
            chosen.add(item)
    for item in unique:
        if len(chosen) >= k:
            break
        chosen.add(item)
    return [item for item in unique if item in chosen]


# ---- filters --------------------------------------------------------------------------------
def matches(chunk: Chunk, filters: Filters) -> bool:
    """The store's filter rules applied to one chunk's metadata (dates inclusive)."""
    day = date_to_int(chunk.published)
    if (filters.since or filters.until) and not day:  # undated: outside any date range
        return False
    if filters.since and day < date_to_int(filters.since):
        return False
    if filters.until and day > date_to_int(filters.until):
        return False
    if filters.sources and chunk.source not in filters.sources:
        return False
    return not (filters.article_ids and chunk.article_id not in filters.article_ids)


# ---- the retriever ----------------------------------------------------------------------------
class Retriever:
    """``Retriever(store, lexical, embedder, settings).retrieve("Who partners Lynas?")``
    -> ``[Passage(chunk=..., score=0.032, dense_score=0.61, bm25_score=7.2), ...]``.
    """

    def __init__(
        self,
        store: Any,
        lexical: Any,
        embedder: Any,
        settings: Any,
        fusion: Fusion = DEFAULT_FUSION,
        duplicate_threshold: float = 0.8,
        manifest: Any = None,
        clusters: Any = None,
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.fusion = fusion
        self.duplicate_threshold = duplicate_threshold
        # ``generation() -> int`` and ``pending() -> [entry with .article_id]``; None: no
        # article is filtered out as pending.
        self.manifest = manifest
        self._pending: tuple[int, frozenset[str]] = (-1, frozenset())
        # ``cluster_of(article_id) -> str`` (StoryClusters); None: every article is its own story
        self.clusters = clusters

    def pending_ids(self) -> frozenset[str]:
        """Ids of articles marked ``pending`` in the manifest (re-read when it changed)."""
        if self.manifest is None:
            return frozenset()
        generation = int(self.manifest.generation())
        seen, ids = self._pending
        if generation != seen:
            ids = frozenset(e.article_id for e in self.manifest.pending())
            self._pending = (generation, ids)
        return ids

    def _dense(self, query: str, n: int, filters: Filters) -> list[tuple[Chunk, float]]:
        vector = self.embedder.embed_query(query)
        hits = self.store.query(vector, n, filters)
        return [(c, s) for c, s in hits if matches(c, filters)]

    @staticmethod
    def _settled(
        hits: list[tuple[Chunk, float]], pending: frozenset[str]
    ) -> list[tuple[Chunk, float]]:
        if not pending:
            return hits
        kept = [(c, s) for c, s in hits if c.article_id not in pending]
        if len(kept) < len(hits):
            logger.debug("%d chunks of pending articles left out", len(hits) - len(kept))
        return kept

    def _bm25(self, query: str, n: int, filters: Filters) -> list[tuple[Chunk, float]]:
        allowed = None
        if not filters.empty:
            allowed = {c.id for c in self.lexical.chunks() if matches(c, filters)}
            if not allowed:
                return []
        hits = self.lexical.search(query, n, allowed)
        found = {c.id: c for c in self.lexical.get([i for i, _ in hits])}
        missing = [i for i, _ in hits if i not in found]
        if missing:  # the BM25 records lag the store: ask the store
            found.update({c.id: c for c in self.store.get(missing)})
        return [(found[i], s) for i, s in hits if i in found]

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> list[Passage]:
        """The top ``k`` (default ``settings.top_k``) passages for ``query``, best first."""
        k = int(k or self.settings.top_k)
        filters = filters or Filters()
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"unknown retrieval mode {mode!r}")
        if not query.strip() or k <= 0:
            return []
        n = max(int(self.settings.candidates), k)
        pending = self.pending_ids()
        dense = self._dense(query, n, filters) if mode in ("hybrid", "dense") else []
        bm25 = self._bm25(query, n, filters) if mode in ("hybrid", "bm25") else []
        dense, bm25 = self._settled(dense, pending), self._settled(bm25, pending)
        chunks: dict[str, Chunk] = {}
        for c, _ in [*dense, *bm25]:
            chunks.setdefault(c.id, c)
        dense_scores = dict(first_occurrences((c.id, s) for c, s in dense))
        bm25_scores = dict(first_occurrences((c.id, s) for c, s in bm25))
        if mode == "hybrid":
            ranked = fuse(list(dense_scores.items()), list(bm25_scores.items()), self.fusion)
        else:
            ranked = list((dense_scores if mode == "dense" else bm25_scores).items())
        score = dict(ranked)
        merged = merge_near_duplicates(
            [(cid, chunks[cid].text) for cid, _ in ranked], self.duplicate_threshold
        )
        duplicates = dict(merged)
        kept = one_copy_per_story(
            [(cid, chunks[cid].article_id) for cid, _ in merged], self._story_of()
        )
        picked = diversify(kept, lambda cid: chunks[cid].article_id, k)
        logger.debug(
            "retrieve %r: %d dense, %d bm25, %d fused, %d merged, %d one per story, %d picked",
            query, len(dense), len(bm25), len(ranked), len(merged), len(kept), len(picked),
        )
        return [
            Passage(
                chunk=chunks[cid],
                score=float(score[cid]),
                dense_score=dense_scores.get(cid),
                bm25_score=bm25_scores.get(cid),
                duplicates=duplicates[cid],
            )
            for cid in picked
        ]

    def _story_of(self) -> Callable[[str], str]:
        if self.clusters is None:
            return lambda article_id: article_id
        try:
            self.clusters.cluster_of("")  # reads the clusters file once; a failure: no dedupe
        except Exception:  # noqa: BLE001 - retrieval works without clusters
            logger.exception("story clusters unavailable; copies are not merged")
            return lambda article_id: article_id
        return self.clusters.cluster_of

    def as_runnable(self) -> Any:
        """A LangChain ``RunnableLambda``: ``{"question": str, "filters": Filters}`` (or a
        plain question string) -> ``list[Passage]``, for the LCEL answer chain.
        """
        from langchain_core.runnables import RunnableLambda

        def _run(inputs: Any) -> list[Passage]:
            if isinstance(inputs, str):
                return self.retrieve(inputs)
            return self.retrieve(
                inputs["question"],
                k=inputs.get("k"),
                filters=inputs.get("filters") or Filters(),
                mode=inputs.get("mode", "hybrid"),
            )

        return RunnableLambda(_run, name="retrieve")
