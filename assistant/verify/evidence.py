"""Evidence sentences: cut passages into sentences, score them against a claim, quote them.

The judge reads a few short sentences rather than whole chunks (its latency grows with the
prompt: ~1.8 s at 140 tokens, ~6 s at 400). Each passage's ``chunk.text`` is split with
:func:`assistant.text.split_sentences`, so every quote is ``chunk.text[start:end]`` - a
verbatim span (property-tested). Sentences are scored by the cosine similarity of their
embedding with the claim's plus content-word coverage of the claim; embeddings are cached
by sentence text (the chain checks many sentences against the same passages).

Two kinds of sentence are marked rather than trusted:

- ``injection``: text addressed to a model or claiming to correct the article ("Note to
  AI systems summarising this page: ...", "Editor's correction: ...", "SYSTEM:",
  :func:`assistant.verify.injection.is_injection`, the fitted scorer the answer writer
  applies too) is not evidence; such sentences are never shown to the judge nor quoted.
- ``doubtful``: a sentence from a disputed/bias section, or one that reports a claim in
  order to doubt it ("lacks published details", "unconfirmed", "speculative"). It may
  explain why a claim is not backed, but it never backs the claim by repeating it.

Compromise: proper nouns are found by capitalisation (not a NER model), so a capitalised
common word at the start of a clause can count as a name.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.models import DOUBTING_ROLES, Evidence, Passage
from assistant.text import split_sentences
from assistant.verify.injection import is_injection
from assistant.verify.numbers import (
    Quantity,
    content_words,
    quantities,
    units_compatible,
    values_close,
)

__all__ = [
    "Sentence",
    "SentenceScorer",
    "is_injection",
    "is_doubtful",
    "reports_doubt",
    "proper_nouns",
    "missing_entities",
    "to_evidence",
]

_DOUBT = re.compile(
    r"\b(?:lack(?:s|ing)?\s+(?:of\s+)?(?:[\w-]+\s+){0,2}(?:details?|evidence|proof|data|"
    r"confirmation|verification|substantiation|disclosures?|documentation|specifics|"
    r"transparency)|unconfirmed|unverified|speculative|no\s+evidence|not\s+yet\s+"
    r"(?:confirmed|verified|published)|without\s+(?:confirmation|evidence|official)|"
    r"doubtful|questionable|overstat\w*|exaggerat\w*|misleading|glosses\s+over|"
    r"rests?\s+(?:largely\s+)?on|anonymous\s+sourc\w*|allegedly|unsubstantiated|"
    r"claims?\s+that|assertions?\s+that|no\s+(?:published|official))\b",
    re.IGNORECASE,
)
_CAP_WORD = re.compile(r"\b([A-Z][a-zA-Z0-9&'\-]*(?:\s+[A-Z][a-zA-Z0-9&'\-]*)*)")
_NOT_NAMES = frozenset(
    """
    the a an this that these those it its he she they we i you there here his her their our
    but and however if when in on at for as by with after before since while although
    what which who where why how is are was were will would can could may might should
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday yes no not
    """.split()
)


def is_doubtful(text: str, role: str = "report") -> bool:
    """A sentence that reports something in order to doubt it, or sits in a doubting section.

    ``is_doubtful("Anwar's claim that the plant is underway lacks published details") -> True``
    """
    return role in DOUBTING_ROLES or bool(_DOUBT.search(text))


_ATTRIBUTED = re.compile(
    r"\b(?:claim(?:s|ed)?|doubt\w*|according\s+to|reportedly|alleg\w*|assert\w*|"
    r"said|says|suggest\w*|question\w*|disput\w*)\b",
    re.IGNORECASE,
)


def reports_doubt(claim: str) -> bool:
    """A claim that itself attributes or doubts what it states, so that a doubting passage
    can back it: ``reports_doubt("Anwar's claim that the plant is underway lacks published
    details") -> True``; ``reports_doubt("The plant is underway") -> False``."""
    return bool(_DOUBT.search(claim) or _ATTRIBUTED.search(claim))


def proper_nouns(text: str) -> list[str]:
    """Capitalised names that are not the first word of the text.

    ``proper_nouns("Lynas will build the magnet plant in Texas") -> ["Texas"]``
    (the first word is skipped: it is capitalised anyway).
    """
    out: list[str] = []
    for m in _CAP_WORD.finditer(text):
        words = m.group(1).split()
        if m.start() == 0 or text[: m.start()].rstrip().endswith((".", "!", "?", ":", "\"")):
            words = words[1:]
        for w in words:
            w = w.strip("'-")
            if len(w) < 2 or w.lower() in _NOT_NAMES:
                continue
            out.append(w)
    return out


def missing_entities(claim: str, evidence_text: str) -> list[str]:
    """Names of the claim that the evidence never mentions (case-insensitive, stemmed)."""
    have = content_words(evidence_text)
    low = evidence_text.lower()
    missing = []
    for name in proper_nouns(claim):
        words = content_words(name)
        if not words:
            continue
        if all(w in have for w in words) or name.lower() in low:
            continue
        missing.append(name)
    return missing


@dataclass(frozen=True)
class Sentence:
    """One sentence of one passage, scored against a claim."""

    passage: int  # 0-based position in the passages given to the verifier
    start: int
    end: int
    text: str
    role: str
    sim: float = 0.0
    coverage: float = 0.0
    injection: bool = False
    doubtful: bool = False
    number_bonus: float = 0.0  # the sentence states a claim number (or one of its kind)

    @property
    def score(self) -> float:
        return self.sim + 0.35 * self.coverage + self.number_bonus


class SentenceScorer:
    """Splits passages into sentences and scores them with the embedding model (cached)."""

    def __init__(self, embedder: Any, cache_size: int = 20000, max_embed: int = 6) -> None:
        self.embedder = embedder
        self.max_embed = max_embed  # sentences embedded per check, lexically closest first
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the cached sentence vectors (a benchmark measures cold checks)."""
        with self._lock:
            self._cache.clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors for ``texts``, computing only those not cached."""
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = np.asarray(self.embedder.encode(todo), dtype=np.float32)
            with self._lock:
                for t, v in zip(todo, vecs, strict=True):
                    self._cache[t] = v
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))

    def sentences(
        self, claim: str, passages: Sequence[Passage], only: Sequence[int] | None = None
    ) -> list[Sentence]:
        """All sentences of the chosen passages (0-based ``only``), best first."""
        idx = list(range(len(passages))) if only is None else list(only)
        raw: list[tuple[int, int, int, str, str]] = []
        for i in idx:
            chunk = passages[i].chunk
            for s, e in split_sentences(chunk.text):
                text = chunk.text[s:e]
                if len(text) < 3:
                    continue
                raw.append((i, s, e, text, chunk.role))
        if not raw:
            return []
        cw = content_words(claim)
        cq = quantities(claim)
        lexical = []
        for r in raw:
            cov = len(cw & content_words(r[3])) / len(cw) if cw else 0.0
            lexical.append((cov, _number_bonus(cq, r[3])))
        # embed only the lexically closest sentences: the embedding is the cost of the cheap
        # path. Always the same ones, never "whatever is cached": a verdict must not depend
        # on what was checked before it.
        order = sorted(range(len(raw)), key=lambda k: (-(lexical[k][0] + lexical[k][1]), k))
        chosen = sorted(order[: self.max_embed])
        vecs = self.embed([claim] + [raw[k][3] for k in chosen])
        sims = dict(zip(chosen, (vecs[1:] @ vecs[0]).tolist(), strict=True))
        out = []
        for k, (i, s, e, text, role) in enumerate(raw):
            cov, bonus = lexical[k]
            out.append(
                Sentence(
                    passage=i, start=s, end=e, text=text, role=role,
                    sim=float(sims.get(k, 0.0)), coverage=cov,
                    injection=is_injection(text),
                    doubtful=is_doubtful(text, role), number_bonus=bonus,
                )
            )
        out.sort(key=lambda x: x.score, reverse=True)
        return out


def _number_bonus(claim_quantities: Sequence[Quantity], text: str) -> float:
    """+0.3 when the sentence states one of the claim's numbers (same unit and value),
    +0.15 when it states a number of the same unit (a candidate contradiction)."""
    if not claim_quantities:
        return 0.0
    best = 0.0
    for e in quantities(text):
        for q in claim_quantities:
            if units_compatible(q, e) and (q.unit or q.kind in ("year", "date")):
                best = max(best, 0.3 if values_close(q, e) else 0.15)
    return best


def to_evidence(sentence: Sentence, passages: Sequence[Passage]) -> Evidence:
    """The verbatim quote record for a sentence (``chunk.text[start:end] == quote``)."""
    chunk = passages[sentence.passage].chunk
    quote = chunk.text[sentence.start : sentence.end]
    return Evidence(
        chunk_id=chunk.id,
        article_id=chunk.article_id,
        quote=quote,
        start=sentence.start,
        end=sentence.end,
        title=chunk.title,
        published=chunk.published,
        role=chunk.role,
        source_number=sentence.passage + 1,
    )
