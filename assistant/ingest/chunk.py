"""Chunking: section-aware, sentence-aligned pieces of an article, as exact slices.

``chunk_article(article, max_tokens, count_tokens, max_chunks=None) -> list[Chunk]``

- A chunk never crosses a section boundary; it carries its section's title and role
  (``chunk.section``, ``chunk.role``). The heading line is part of its section's span, so the
  first chunk of a section starts with the heading text; nothing is prepended.
- ``chunk.text == article.text[chunk.start:chunk.end]`` always: quotes found in a chunk map
  back to the article. Chunks start and end on sentence boundaries (``assistant.text``) and
  never start or end with whitespace.
- Sentences are packed greedily while the sum of their token counts stays within
  ``max_tokens`` (``count_tokens`` is the embedder's word-piece counter). Summing per-sentence
  counts is exact for a WordPiece tokenizer (it splits on whitespace first) and conservative
  when the counter adds special tokens. A single sentence over the limit is split at word
  boundaries; a single word over the limit (a long URL) at character boundaries. The pieces
  of such a sentence fill chunks of their own, so every chunk is either whole sentences or
  a piece of one sentence.
- Every non-whitespace character of the article lies in exactly one chunk.
- At most ``max_chunks`` chunks per article (default: the ``max_chunks_per_article`` setting's
  default): the rest of a longer article is dropped with a warning naming the article and
  how much of its text was kept (one 300k-word line must not become 1,500 chunks).
- Chunk ids are ``f"{article.id}:{article.hash}:{index}"`` so re-indexing the same content
  writes the same ids (idempotent), and changed content gets new ones.

Compromise: no overlap between chunks; retrieval gets neighbouring context from the chunk
order (``index``) if it needs it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from assistant.config import Settings
from assistant.ingest.sections import detect_sections
from assistant.models import Article, Chunk, Section
from assistant.text import split_sentences

__all__ = ["MAX_CHUNKS", "chunk_article"]

logger = logging.getLogger(__name__)

#: The default cap on chunks per article (``Settings.max_chunks_per_article``).
MAX_CHUNKS: int = Settings.model_fields["max_chunks_per_article"].default

_WORD = re.compile(r"\S+")


def _word_units(
    text: str, s: int, e: int, max_tokens: int, count: Callable[[str], int]
) -> list[tuple[int, int, int]]:
    """Split the over-long span ``text[s:e]`` at word boundaries into units within the limit."""
    units: list[tuple[int, int, int]] = []
    for m in _WORD.finditer(text, s, e):
        ws, we = m.span()
        n = count(text[ws:we])
        if n <= max_tokens:
            units.append((ws, we, n))
            continue
        # One word over the limit: longest prefixes that fit (binary search), at least 1 char.
        while ws < we:
            lo, hi = ws + 1, we
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if count(text[ws:mid]) <= max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            units.append((ws, lo, count(text[ws:lo])))
            ws = lo
    return units


def _units(
    text: str, section: Section, max_tokens: int, count: Callable[[str], int]
) -> list[tuple[int, int, int, int]]:
    """``(start, end, tokens, group)``: group is -1 for a whole sentence, else the index of
    the over-long sentence the piece belongs to (its pieces never share a chunk with others).
    """
    units: list[tuple[int, int, int, int]] = []
    base = section.start
    for k, (s, e) in enumerate(split_sentences(text[section.start : section.end])):
        s += base
        e += base
        n = count(text[s:e])
        if n <= max_tokens:
            units.append((s, e, n, -1))
        else:
            units.extend((a, b, m, k) for a, b, m in _word_units(text, s, e, max_tokens, count))
    return units


class _Full(Exception):
    """The article reached its chunk cap."""


def chunk_article(
    article: Article,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Chunks of ``article``, in text order.

    With a whitespace word counter and ``max_tokens=6``, the text
    ``"Bottom Line\\nThe deal is real. It is big."`` gives one chunk per sentence group:
    ``["Bottom Line\\nThe deal is real.", "It is big."]`` (section ``Bottom Line``, role
    ``analysis``).
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    cap = MAX_CHUNKS if max_chunks is None else max_chunks
    text = article.text
    sections = article.sections or detect_sections(text)
    art_hash = article.hash
    chunks: list[Chunk] = []

    def emit(section: Section, s: int, e: int) -> None:
        index = len(chunks)
        if index >= cap:
            raise _Full
        chunks.append(
            Chunk(
                id=f"{article.id}:{art_hash}:{index}",
                article_id=article.id,
                index=index,
                text=text[s:e],
                start=s,
                end=e,
                section=section.title,
                role=section.role,
                title=article.title,
                source=article.source,
                url=article.url,
                published=article.published,
            )
        )

    try:
        for section in sections:
            cur_s = cur_e = -1
            cur_n = 0
            cur_group = -1
            for s, e, n, group in _units(text, section, max_tokens, count_tokens):
                if cur_s >= 0 and (cur_n + n > max_tokens or group != cur_group):
                    emit(section, cur_s, cur_e)
                    cur_s = -1
                if cur_s < 0:
                    cur_s, cur_n, cur_group = s, 0, group
                cur_e = e
                cur_n += n
            if cur_s >= 0:
                emit(section, cur_s, cur_e)
    except _Full:
        kept = chunks[-1].end if chunks else 0
        logger.warning(
            "%s: article %r is longer than %d chunks; only its first %d of %d characters "
            "are indexed (max_chunks_per_article)",
            article.origin, article.id, cap, kept, len(text),
        )
    return chunks
