"""Sentence-level evidence: rank the sentences of retrieved passages against a question.

One job, used twice: the answer chain feeds the LLM only the best sentences of each passage
(short prompts), and the ``extractive`` backend answers with them directly (no generation:
1-3 of the best sentences, verbatim, each cited ``[n]``; or "the sources do not say" below a
threshold). The extractive backend is also the fallback when the local model cannot load.

Scoring: cosine similarity of each sentence to the question (the packaged MiniLM, one batch)
plus an answer-type bonus (a "how much" question prefers sentences with figures, a "when"
question sentences with dates) plus a keyword-overlap bonus (share of the question's content
words found in the sentence, matched on crude stems so "holds" meets "hold"). Sentences that
read like instructions to an assistant (:func:`assistant.verify.injection.is_injection`) are
dropped: sources are data, and an injected order never reaches a prompt or an answer.

Compromises: keyword matching is English-only prefix matching, not stemming; the thresholds
were set by hand on the shipped corpus and a handful of unanswerable questions.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.answer.citations import markers
from assistant.models import Passage
from assistant.text import split_sentences
from assistant.verify.injection import is_injection as looks_like_injection

#: Below this combined score the extractive backend says the sources do not answer.
EXTRACTIVE_THRESHOLD = 0.45
#: Below this similarity of the best sentence no backend calls the LLM (nothing relevant).
RELEVANCE_FLOOR = 0.2
KEYWORD_WEIGHT = 0.35
#: Bonus for a sentence holding the kind of answer the question asks for (a figure, a date).
ANSWER_TYPE_BONUS = 0.15
#: Bonus for the newest passage's sentences when the question asks for the latest state
#: (linear in publication date between the oldest and the newest retrieved passage). On the
#: news eval's latest / conflicting-sources questions it changed no key fact found (neutral);
#: the "Earlier, ..." sentence it leads to found 4 more of 151.
RECENCY_BONUS = 0.1
_ASKS_FIGURE = re.compile(
    r"\b(how (much|many|big|large|long|far)|what (share|percentage|price|amount|volume)|worth|"
    r"cost|capacity|size)\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(r"\b(when|what (year|date|month))\b", re.IGNORECASE)
_HAS_FIGURE = re.compile(r"\d")
_HAS_DATE = re.compile(
    r"\b(19|20)\d\d\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
    re.IGNORECASE,
)

STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from into onto over under about as is are
    was were be been being am do does did done doing have has had having will would shall
    should can could may might must what which who whom whose when where why how that this
    these those there here it its it's they them their theirs he she his her him we our us you
    your i me my not no nor so than then too very just also any all some each every more most
    much many few such other another same own only both either neither one ones s t
    meant mean means make makes made making get got say says said tell told give gave
    year years per a-year does did happen happened according source sources article articles
    news report reports
    """.split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*|\d[\d,.]*\d|\d")


def words(text: str) -> list[str]:
    """Lower-case words and numbers: ``"China's 3,000 t" -> ["china", "3000", "t"]``."""
    out = []
    for w in _WORD.findall(text):
        w = w.lower().replace(",", "")
        if w.endswith("'s"):
            w = w[:-2]
        out.append(w.rstrip("."))
    return out


def content_words(text: str) -> list[str]:
    """Words of ``text`` minus stop words, in order, unique."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w not in STOPWORDS and len(w) > 1:
            seen.setdefault(w, None)
    return list(seen)


def _stem(word: str) -> str:
    """Crude English stem: ``"holds" -> "hold"``, ``"magnets" -> "magne"``, numbers as is."""
    if word[0].isdigit():
        return word
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def overlap(question_terms: Sequence[str], sentence: str) -> float:
    """Share of ``question_terms`` whose stem is the stem of a word of ``sentence``."""
    if not question_terms:
        return 0.0
    stems = {_stem(w) for w in words(sentence)}
    return sum(1 for t in question_terms if _stem(t) in stems) / len(question_terms)


@dataclass
class ScoredSentence:
    """One sentence of one passage: ``passage.chunk.text[start:end] == text``."""

    passage_index: int  # position in the passage list given to ``rank_sentences``
    start: int
    end: int
    text: str
    similarity: float
    keywords: float
    vector: Any = field(default=None, repr=False)
    answer_type: float = 0.0  # 1.0 when it holds the kind of answer asked for
    recency: float = 0.0  # "latest" questions: 1.0 for the newest passage, 0.0 the oldest

    @property
    def score(self) -> float:
        return (
            self.similarity
            + KEYWORD_WEIGHT * self.keywords
            + ANSWER_TYPE_BONUS * self.answer_type
        )

    @property
    def preference(self) -> float:
        """The order of :func:`rank_sentences`: ``score`` plus the recency bonus (thresholds
        read ``score``, so recency reorders relevant sentences but never makes one relevant)."""
        return self.score + RECENCY_BONUS * self.recency


def passage_sentences(passage: Passage) -> list[tuple[int, int, str]]:
    """Usable sentences of a passage: spans into ``chunk.text``, no headings or injections."""
    text = passage.chunk.text
    out = []
    for s, e in split_sentences(text):
        sent = text[s:e]
        if len(sent.split()) < 5 or looks_like_injection(sent):
            continue
        out.append((s, e, sent))
    return out


_CACHE_SIZE = 20_000
_vector_cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def encode_cached(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """``embedder.encode(texts)`` with an LRU cache of sentence vectors (per embedder).

    Passages come back again and again (follow-ups, popular articles), and embedding their
    sentences is the largest cost of an extractive answer.
    """
    key = id(embedder)
    with _cache_lock:
        missing = [t for t in dict.fromkeys(texts) if (key, t) not in _vector_cache]
    if missing:
        vecs = np.asarray(embedder.encode(missing), dtype=np.float32)
        with _cache_lock:
            for t, v in zip(missing, vecs, strict=True):
                _vector_cache[(key, t)] = v
            while len(_vector_cache) > _CACHE_SIZE:
                _vector_cache.popitem(last=False)
    with _cache_lock:
        out = []
        for t in texts:
            v = _vector_cache.get((key, t))
            if v is None:  # evicted by another thread meanwhile
                v = np.asarray(embedder.encode([t]), dtype=np.float32)[0]
            else:
                _vector_cache.move_to_end((key, t))
            out.append(v)
    return np.stack(out) if out else np.zeros((0, 384), dtype=np.float32)


def _wanted(question: str) -> re.Pattern[str] | None:
    if _ASKS_FIGURE.search(question):
        return _HAS_FIGURE
    return _HAS_DATE if _ASKS_DATE.search(question) else None


def answer_candidates(question: str, ranked: Sequence[ScoredSentence], n: int) -> list[str]:
    """The first ``n`` of ``ranked`` that could hold the answer: those holding the kind of
    answer the question asks for (a figure, a date), or any when it asks for no kind."""
    asks = _wanted(question) is not None
    return [r.text for r in ranked if r.answer_type or not asks][:n]


def recency(passages: Sequence[Passage]) -> list[float]:
    """Per passage: 1.0 for the newest publication date, 0.0 for the oldest, linear between
    (undated: 0.0; all one date: 1.0 for every dated one)."""
    days = [p.chunk.published.toordinal() if p.chunk.published else None for p in passages]
    known = [d for d in days if d is not None]
    if not known:
        return [0.0] * len(passages)
    lo, hi = min(known), max(known)
    return [0.0 if d is None else 1.0 if hi == lo else (d - lo) / (hi - lo) for d in days]


def rank_sentences(
    question: str, passages: Sequence[Passage], embedder: Any, context: str = "",
    prefer_recent: bool = False,
) -> list[ScoredSentence]:
    """Every usable sentence of ``passages`` scored against ``question``, best first.

    With ``context`` (the earlier question of a follow-up) similarity is
    ``0.7 * sim(question) + 0.3 * sim(context + question)``: the follow-up decides, the
    conversation breaks ties. With ``prefer_recent`` sentences are ordered by
    ``ScoredSentence.preference`` (newer passages first among close scores).
    """
    items: list[tuple[int, int, int, str]] = []
    for i, p in enumerate(passages):
        for s, e, sent in passage_sentences(p):
            items.append((i, s, e, sent))
    if not items:
        return []
    queries = [question] + ([f"{context} {question}"] if context else [])
    qv = np.asarray(embedder.encode(queries), dtype=np.float32)
    vecs = encode_cached(embedder, [it[3] for it in items])
    sims = vecs @ qv[0]
    if context:
        sims = 0.7 * sims + 0.3 * (vecs @ qv[1])
    terms = content_words(question)
    if context:
        terms += [t for t in content_words(context) if t not in terms]
    wanted = _wanted(question)
    ranked = [
        ScoredSentence(
            i, s, e, sent, float(sim), overlap(terms, sent), vecs[k],
            1.0 if wanted is not None and wanted.search(sent) else 0.0,
        )
        for k, ((i, s, e, sent), sim) in enumerate(zip(items, sims, strict=True))
    ]
    if prefer_recent:
        fresh = recency(passages)
        for r in ranked:
            r.recency = fresh[r.passage_index]
    ranked.sort(key=lambda r: r.preference, reverse=True)
    return ranked


def _jaccard(a: str, b: str) -> float:
    wa, wb = set(words(a)), set(words(b))
    return len(wa & wb) / max(1, len(wa | wb))


def cite(sentence: str, numbers: Sequence[int]) -> str:
    """``cite("- Lynas grew.", [2]) -> "Lynas grew [2]."`` (list marker dropped)."""
    s = re.sub(r"^[-*•]\s+", "", sentence.strip())
    s = s.rstrip()
    end = ""
    while s and s[-1] in ".!?;:":
        end = s[-1] if not end else end
        s = s[:-1]
    return f"{s} {markers(numbers)}{end if end in '.!?' and end else '.'}"


def pick_extractive(
    ranked: Sequence[ScoredSentence],
    max_sentences: int = 3,
    threshold: float = EXTRACTIVE_THRESHOLD,
) -> list[ScoredSentence]:
    """The 1-3 sentences an extractive answer is made of (empty: abstain).

    The best sentence must reach ``threshold``; further ones must be close to it (80 %) and
    not near-duplicates of one already picked (syndicated highlights repeat the body).
    """
    eligible = [r for r in ranked if r.score >= threshold]
    if not eligible:
        return []
    best = max(r.score for r in eligible)
    picked = [eligible[0]]
    for r in eligible[1:]:
        if len(picked) >= max_sentences:
            break
        if r.score < 0.8 * best:
            continue
        if any(_jaccard(r.text, p.text) > 0.5 for p in picked):
            continue
        picked.append(r)
    return picked


_FIGURE = re.compile(r"\d[\d,.]*\d|\d")


def figures(text: str) -> set[str]:
    """The numbers of a sentence, commas dropped: ``"3,000 t in 2025" -> {"3000", "2025"}``."""
    return {f.replace(",", "").rstrip(".") for f in _FIGURE.findall(text)}


#: An older sentence is "about the same thing" as the newest one above this cosine.
SAME_TOPIC = 0.6


def earlier_figure(
    newest: ScoredSentence,
    ranked: Sequence[ScoredSentence],
    dates: dict[int, Any],
    threshold: float = EXTRACTIVE_THRESHOLD,
) -> ScoredSentence | None:
    """A relevant sentence of an OLDER source about the same thing as ``newest`` (cosine of
    their vectors >= ``SAME_TOPIC``) that gives different figures; ``None`` when there is
    none. ``dates`` maps a sentence's ``passage_index`` to its source's publication date."""
    when = dates.get(newest.passage_index)
    mine = figures(newest.text)
    if when is None or not mine or newest.vector is None:
        return None
    for r in ranked:
        other = dates.get(r.passage_index)
        if other is None or other >= when or r.score < threshold or r.vector is None:
            continue
        theirs = figures(r.text)
        if not theirs or theirs == mine:
            continue
        if float(np.dot(r.vector, newest.vector)) >= SAME_TOPIC:
            return r
    return None


def earlier_sentence(text: str) -> str:
    """``"The plant made 3 t." -> "Earlier, the plant made 3 t."`` (names keep their case)."""
    text = text.strip()
    first = text.split(maxsplit=1)[0] if text else ""
    if first.lower() in STOPWORDS and first[:1].isupper() and first[1:2].islower():
        text = text[0].lower() + text[1:]
    return f"Earlier, {text}"
