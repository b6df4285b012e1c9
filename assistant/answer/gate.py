"""The answerability gate: can the retrieved passages answer this question at all?

``Gate(reranker).features(question, passages, best_sim, count_tokens, ...) -> (features,
missing terms)``; ``gate.decide(features) -> (answerable?, probability)``. A logistic
regression (``gate.json`` beside this module, fitted by ``bench/fit_gate.py`` on questions the
local model wrote, never on the development set) over :data:`FEATURES`: cross-encoder
relevance of the best two passages, the best sentence cosine, the share of the question's
words, rare words and figures found in no passage, and the cross-encoder score of the best
sentence that could hold the answer (a figure for "how much", a date for "when"). Words
match on 5-letter prefixes; initials match the names they stand for ("NMDA" meets "Northern
Metals Development Agency").

Compromises: the threshold is read off the development set (at most 8% of its answerable
questions refused), not learned; a detail the passages never state about an entity they
cover is refused only when no close sentence could hold it. Without the cross-encoder the
relevance features read 0 (logged); without ``gate.json`` every question passes. History
and figures: ``docs/notes/answer.md``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.models import Passage

logger = logging.getLogger(__name__)

__all__ = ["Gate", "GateModel", "GATE_PATH", "FEATURES", "question_terms", "expand_initials"]

GATE_PATH = Path(__file__).with_name("gate.json")
FEATURES = ("ce_max", "ce_second", "sim_max", "missing", "missing_rare", "missing_numbers",
            "answer_ce")
CE_PASSAGES = 6  # passages the cross-encoder reads (about 19 ms each)
ANSWER_SENTENCES = 12  # candidate answer sentences the cross-encoder reads
NO_SENTENCE = -12.0  # answer_ce when no sentence could hold the answer (logits reach ~ -11)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&'-]*|\d[\d,.]*\d|\d")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9&]{1,7}s?\b")
_NAME_RUN = re.compile(r"\b[A-Z][\w&'-]*(?:\s+(?:of|and|for|the|de|du|&)?\s*[A-Z][\w&'-]*)+")
_QUESTION_STOP = frozenset(
    """
    a an the and or but if of to in on at by for with from into about as is are was were be
    been being do does did has have had will would shall should can could may might must what
    which who whom whose when where why how that this these those it its they them their
    there here than then so such any all some each more most much many other another same
    own only also very just not no nor one ones s t did does say said tell give gave
    according company company's firm
    """.split()
)


def _words(text: str) -> list[str]:
    return [w.lower().strip("'-") for w in _WORD.findall(text.replace("\u2019", "'"))]


def question_terms(question: str) -> list[str]:
    """Content words and figures of a question: ``question_terms("What did the NMDA
    invest in 2024?") -> ["nmda", "invest", "2024"]`` (figures last)."""
    words = [w.removesuffix("'s") for w in _words(question)]
    kept = [w for w in dict.fromkeys(words) if w and w not in _QUESTION_STOP and len(w) > 1]
    return [w for w in kept if not w[0].isdigit()] + [w for w in kept if w[0].isdigit()]


_NOT_INITIAL = frozenset({"The", "A", "An", "Of", "And", "For", "De", "Du", "&"})


def _initials(phrase: str) -> str:
    caps = [w[0] for w in phrase.split() if w[:1].isupper() and w not in _NOT_INITIAL]
    return "".join(caps).lower()


def _stem(word: str) -> str:
    """``_stem("holds") -> "hold"``: a few English endings off, for matching only."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def expand_initials(text: str) -> set[str]:
    """The initials of the capitalised name runs of ``text``, lower-case:
    ``expand_initials("the Northern Metals Development Agency")
    -> {"nmda", ...}``; and the all-capital abbreviations it holds."""
    out = {_initials(m.group(0)) for m in _NAME_RUN.finditer(text)}
    out |= {m.group(0).rstrip("s").lower() for m in _ACRONYM.finditer(text)}
    return {x for x in out if len(x) >= 2}


def _haystack(passages: Sequence[Passage]) -> tuple[set[str], set[str]]:
    """The passages' words (with 5-letter prefixes and stems; figures without commas) and
    the initials of their names."""
    words: set[str] = set()
    text_all = []
    for p in passages:
        c = p.chunk
        text = f"{c.title} {c.text} {c.source} {c.section}"
        if c.published:
            text += f" {c.published.isoformat()} {c.published.year}"
        text_all.append(text)
        for w in _words(text.replace("-", " ")):
            w = w.removesuffix("'s")
            if w[0].isdigit():
                words.add(w.replace(",", ""))
                continue
            words.add(w)
            words.add(w[:5])
            words.add(_stem(w))
    return words, expand_initials(" ".join(text_all))


def _found(term: str, words: set[str], initials: set[str]) -> bool:
    if term[0].isdigit():
        return term.replace(",", "") in words
    parts = [p for p in term.split("-") if p]
    if all(p in words or p[:5] in words or _stem(p) in words for p in parts):
        return True
    if term in initials:  # "nmda" where the passages spell the name out
        return True
    return False


@dataclass(frozen=True)
class GateModel:
    """Logistic regression over :data:`FEATURES`; ``threshold`` on P(answerable)."""

    weights: dict[str, float]
    bias: float
    threshold: float
    meta: dict[str, Any]

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * float(features.get(k, 0.0)) for k, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold,
                "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateModel:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        if not set(weights) <= set(FEATURES):
            raise ValueError(f"gate features must be among {FEATURES}")
        return cls(weights, float(data["bias"]), float(data["threshold"]),
                   dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: Path = GATE_PATH) -> GateModel | None:
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            logger.warning("no answerability gate at %s: every question is answered", path)
            return None


class Gate:
    """Features and decision; ``reranker`` is a :class:`assistant.rerank.CrossEncoder`
    (or None: relevance features read 0)."""

    def __init__(self, reranker: Any = None, model: GateModel | None = None) -> None:
        self.reranker = reranker
        self.model = model if model is not None else GateModel.load()

    def features(
        self,
        question: str,
        passages: Sequence[Passage],
        best_sim: float,
        count_tokens: Callable[[str], int],
        context: str = "",
        relevance: Sequence[float] | None = None,
        candidates: Sequence[str] = (),
    ) -> tuple[dict[str, float], list[str]]:
        """The gate's features and the question terms found in no passage. ``context`` is
        the earlier question of a follow-up: it joins the relevance query, while coverage
        is measured on the question's own terms. ``relevance``: the passages' cross-encoder
        scores when the caller has them already (the chain's reranking). ``candidates``:
        the sentences that could hold the answer, best first
        (:func:`assistant.answer.rank.answer_candidates`); the cross-encoder reads the first
        :data:`ANSWER_SENTENCES` for ``answer_ce``."""
        terms = question_terms(question)
        words, initials = _haystack(passages)
        # a name the question spells out whose initials the passages use ("Northern Metals
        # Development Agency" -> "NMDA") counts as found, word by word
        aliased = {
            w.lower()
            for m in _NAME_RUN.finditer(question)
            if _initials(m.group(0)) in initials
            for w in m.group(0).split()
        }
        missing = [t for t in terms if t not in aliased and not _found(t, words, initials)]
        words_only = [t for t in terms if not t[0].isdigit()]
        numbers = [t for t in terms if t[0].isdigit()]
        rare = [t for t in words_only if len(t) >= 4 and count_tokens(t) >= 2]
        f = {
            "sim_max": float(best_sim),
            "missing": len([t for t in missing if not t[0].isdigit()]) / max(1, len(words_only)),
            "missing_rare": len([t for t in rare if t in missing]) / max(1, len(rare)),
            "missing_numbers": len([t for t in numbers if t in missing]) / max(1, len(numbers)),
            "ce_max": 0.0,
            "ce_second": 0.0,
            "answer_ce": 0.0,
        }
        query = f"{context} {question}".strip()
        scores = [float(x) for x in relevance] if relevance is not None else []
        if not scores:
            scores = self._scores(query, [p.chunk.text for p in passages[:CE_PASSAGES]])
        if scores:
            scores.sort(reverse=True)
            f["ce_max"] = scores[0]
            f["ce_second"] = scores[1] if len(scores) > 1 else scores[0]
        if self.reranker is not None:
            # no sentence that could hold the answer: the floor score; a failure: 0
            answer = self._scores(query, list(candidates[:ANSWER_SENTENCES]))
            f["answer_ce"] = max(answer, default=0.0) if candidates else NO_SENTENCE
        return f, missing

    def _scores(self, query: str, texts: list[str]) -> list[float]:
        """Cross-encoder scores of ``texts``; none without the model or texts. A failing
        model is logged and dropped: the gate reads no relevance, the answer goes on."""
        if self.reranker is None or not texts:
            return []
        try:
            return [float(x) for x in self.reranker.scores(query, texts)]
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            logger.warning("cross-encoder unavailable, gate reads no relevance: %s", exc)
            self.reranker = None
            return []

    def decide(self, features: dict[str, float]) -> tuple[bool, float]:
        """(answerable, P(answerable)); answerable when there is no fitted model."""
        if self.model is None:
            return True, 1.0
        p = self.model.probability(features)
        return p >= self.model.threshold, p
