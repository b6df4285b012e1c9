"""The numbered sources of an answer: which passage is ``[n]``, what the prompt shows of it,
and, after generation, which source a sentence really cites and the quote it gets.

``number_sources(passages, ranked, relevance) -> (sources, shown)`` numbers the passages best
evidence first and picks, within a character budget, the 1-2 best sentences of the first few
(``shown``); ``source_block(sources, shown)`` is the text the prompt gets.
``repair_citations(claims, sources)`` moves a number to the source that holds the sentence's
names and figures; ``quote_citations(claims, sources, ranked, embedder)`` gives each cited
number the verbatim passage sentence that best matches the claim
(``chunk.text[start:end] == quote``).

Compromise: repair matches names and figures by word (5-letter prefixes), not by meaning; a
sentence whose terms no source holds keeps its numbers and is left to verification.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.answer.prompts import source_line
from assistant.answer.rank import ScoredSentence, encode_cached, words
from assistant.models import DOUBTING_ROLES, Citation, Claim, Copy, Passage, Source
from assistant.text import sentences, split_sentences

logger = logging.getLogger(__name__)

__all__ = [
    "SOURCE_CHAR_BUDGET",
    "MAX_PROMPT_SOURCES",
    "SENTENCES_PER_SOURCE",
    "header",
    "number_sources",
    "preview_sources",
    "source_block",
    "repair_citations",
    "quote_citations",
]

#: Prompt budget for source sentences (characters; ~4 characters a token).
SOURCE_CHAR_BUDGET = 450  # Settings.prompt_chars (the product reads the setting)
MAX_PROMPT_SOURCES = 3  # Settings.prompt_sources
SENTENCES_PER_SOURCE = 2


def header(p: Passage) -> str:
    """``"title; outlet; 2025-10-10; role"`` (a doubting section's role reads ``DOUBTED``)."""
    c = p.chunk
    title = c.title if len(c.title) <= 48 else c.title[:45].rstrip() + "..."
    role = "DOUBTED" if c.role in DOUBTING_ROLES else c.role
    parts = [title, c.source, c.published.isoformat() if c.published else "", role]
    return "; ".join(p for p in parts if p)


def _order(passages: Sequence[Passage], relevance: Sequence[float] | None,
           fallback: Sequence[float]) -> list[int]:
    """Passage indices best first: by cross-encoder ``relevance`` when there is one for
    each passage, else by ``fallback`` (one score per passage)."""
    scores = relevance if relevance is not None and len(relevance) == len(passages) else fallback
    return sorted(range(len(passages)), key=lambda i: -scores[i])


def preview_sources(
    passages: Sequence[Passage],
    question: str,
    relevance: Sequence[float] | None = None,
    clusters: Any = None,
) -> list[Source]:
    """The sources numbered as :func:`number_sources` numbers them when ``relevance`` is
    given, each with its sentence sharing most words with the question as ``best``: what the
    faces show the moment retrieval is done, before the sentences are ranked with the
    embedding model and before the model writes."""
    asked = {w for w in words(question) if len(w) > 2}
    out = []
    for n, pi in enumerate(_order(passages, relevance, [0.0] * len(passages)), start=1):
        sents = sentences(passages[pi].chunk.text)
        best = max(sents, key=lambda t: len(asked & set(words(t))), default="")
        out.append(Source(n, passages[pi], _copies(clusters, passages[pi]), best.strip()))
    return out


def number_sources(
    passages: Sequence[Passage],
    ranked: Sequence[ScoredSentence],
    relevance: Sequence[float] | None = None,
    clusters: Any = None,
    budget: int = SOURCE_CHAR_BUDGET,
    max_sources: int = MAX_PROMPT_SOURCES,
) -> tuple[list[Source], dict[int, list[ScoredSentence]]]:
    """Number the passages (best evidence first: by cross-encoder ``relevance`` when
    there is one, else by their best sentence) and choose the sentences to show.

    Returns the sources and, for the first few, the sentences the prompt shows
    (``{source number: [sentences in text order]}``): at most ``max_sources`` sources and
    ``budget`` characters of sentences (the prompt's length, hence the time to the first
    token: ``Settings.prompt_chars`` / ``prompt_sources``).
    Renumbers ``ranked`` in place: ``passage_index`` becomes the 1-based source number.
    ``clusters`` (``copies_of(article_id)``, the story clusters) fills ``Source.copies``.
    """
    best: dict[int, float] = {}
    for r in ranked:
        best.setdefault(r.passage_index, r.score)
    order = _order(passages, relevance, [best.get(i, -1.0) for i in range(len(passages))])
    number = {pi: n for n, pi in enumerate(order, start=1)}
    for r in ranked:
        r.passage_index = number[r.passage_index]  # now the 1-based source number
    sources = [
        Source(n, passages[pi], _copies(clusters, passages[pi]))
        for n, pi in enumerate(order, start=1)
    ]
    shown: dict[int, list[ScoredSentence]] = {}
    for r in ranked:
        n = r.passage_index
        if n not in shown and len(shown) >= max_sources:
            continue
        if len(shown.get(n, [])) >= SENTENCES_PER_SOURCE:
            continue
        if len(r.text) > budget:
            continue
        if shown and r.score < 0.5 * ranked[0].score:
            break
        shown.setdefault(n, []).append(r)
        budget -= len(r.text)
    for sents in shown.values():
        sents.sort(key=lambda r: r.start)
    return sources, dict(sorted(shown.items()))


def _copies(clusters: Any, passage: Passage) -> tuple[Copy, ...]:
    """The other copies of a passage's story; none when clusters are off or unreadable."""
    if clusters is None:
        return ()
    try:
        return tuple(clusters.copies_of(passage.chunk.article_id))
    except Exception:  # noqa: BLE001 - copies are a note on the card; the answer goes on
        logger.exception("story clusters unavailable for %s", passage.chunk.article_id)
        return ()


def source_block(sources: Sequence[Source], shown: dict[int, list[ScoredSentence]]) -> str:
    """The prompt's source lines: ``"[1] (header) sentence sentence"``, one per shown source."""
    return "\n".join(
        source_line(n, header(sources[n - 1].passage), " ".join(r.text for r in sents))
        for n, sents in shown.items()
    )


# ---- after generation ----------------------------------------------------------------------
def _haystack(passages: Sequence[Passage]) -> set[str]:
    hay: set[str] = set()
    for p in passages:
        c = p.chunk
        meta = f"{c.text} {c.title} {c.source} {c.section}"
        if c.published:
            meta += f" {c.published.isoformat()} {c.published.year}"
        for w in words(meta.replace("-", " ")):
            hay.add(w)
            if not w[0].isdigit():
                hay.add(w[:5])
    return hay


def _claim_terms(text: str) -> list[str]:
    """Figures and proper names of a sentence (not its first word), lower-case:
    ``_claim_terms("JS Link targets 3,000 tonnes in Pahang.") -> ["link", "3000", "pahang"]``."""
    toks = re.findall(r"[A-Za-z][A-Za-z0-9\-]*|\d[\d,.]*\d|\d", text)
    out: list[str] = []
    for i, tok in enumerate(toks):
        w = words(tok)
        if not w:
            continue
        if tok[0].isdigit() or (i > 0 and tok[0].isupper()):
            if w[0] not in out and w[0] not in {"i", "a"}:
                out.append(w[0])
    return out


def repair_citations(claims: list[Claim], sources: Sequence[Source]) -> None:
    """Move a citation to the source that holds the sentence's names and figures.

    A small model sometimes cites a neighbouring source: "JS Link is the Korean partner
    [3]" where only [1] names JS Link. If the cited source lacks some of the claim's
    figures or proper names and another source holds all of them, the number is replaced.
    Claims whose terms no source holds keep their numbers (verification flags them).
    """
    texts = [s.chunk.text for s in sources]
    hays = [_haystack([s.passage]) for s in sources]
    for claim in claims:
        terms = _claim_terms(claim.text)
        if not terms or not claim.citations:
            continue

        def cover(i: int, terms: list[str] = terms) -> float:
            hay = hays[i]
            return sum(1 for t in terms if t in hay or t[:5] in hay) / len(terms)

        fixed: list[int] = []
        for n in claim.citations:
            if cover(n - 1) < 1.0:
                full = [i + 1 for i in range(len(texts)) if cover(i) == 1.0]
                if full:
                    m = next((x for x in full if x not in claim.citations), full[0])
                    logger.info("citation [%d] -> [%d] for %r", n, m, claim.text)
                    n = m
            if n not in fixed:
                fixed.append(n)
        claim.citations = fixed


def quote_citations(
    claims: Sequence[Claim],
    sources: Sequence[Source],
    ranked: Sequence[ScoredSentence],
    embedder: Any,
) -> list[Citation]:
    """For each cited number, the verbatim passage sentence that best matches the claim."""
    by_source: dict[int, list[ScoredSentence]] = {}
    for r in ranked:
        by_source.setdefault(r.passage_index, []).append(r)
    cited_claims = [c for c in claims if c.citations]
    if not cited_claims:
        return []
    vecs = encode_cached(embedder, [c.text for c in cited_claims])
    out: list[Citation] = []
    seen: set[tuple[int, int, int]] = set()
    for claim, vec in zip(cited_claims, vecs, strict=True):
        claim_nums = {w for w in words(claim.text) if w[0].isdigit()}
        for n in claim.citations:
            chunk = sources[n - 1].chunk
            cands = by_source.get(n, [])
            if cands:
                fits = [
                    float(r.vector @ vec)
                    + 0.3 * len(claim_nums & {w for w in words(r.text) if w[0].isdigit()})
                    for r in cands
                ]
                r = cands[int(np.argmax(fits))]
                start, end = r.start, r.end
            else:  # no usable sentence: quote the chunk's first sentence
                spans = split_sentences(chunk.text) or [(0, len(chunk.text))]
                start, end = spans[0]
            key = (n, start, end)
            if key in seen:
                continue
            seen.add(key)
            out.append(
                Citation(n, chunk.id, chunk.article_id, chunk.text[start:end], start, end)
            )
    return out
