"""The Verifier: one claim + passages -> a Verdict with verbatim evidence.

``Verifier(embedder, judge=None).check(claim, passages, cited=(2,))``:

1. Against the cited passages first (``cited`` are 1-based positions in ``passages``). If
   they back the claim, done (``cited_ok=True``).
2. Otherwise against all passages: a claim backed only by passages it did not cite is
   ``supported`` with ``cited_ok=False`` (a right fact with the wrong citation); a claim
   contradicted anywhere is ``contradicted``.

For each attempt the passages' sentences are ranked (:mod:`assistant.verify.evidence`),
the structured features are measured (:mod:`assistant.verify.features`), the judge gives
its reading when there is one, and the fitted scorer (:mod:`assistant.verify.scorer`)
returns the label and its calibrated probability. The quote of a contradicted claim is
the sentence that contradicts it. When the evidence holds two different values for the
claim's quantity from different articles, ``Verdict.conflicting`` quotes both.

Rules that stay outside the scorer, from the design rather than from data (the generated
pairs have no doubting sections):

- a passage that reports a claim in order to doubt it (a disputed or bias section, or a
  sentence such as "X's claim that ... lacks published details") never backs that claim -
  the verdict is unsupported, quoting the doubting sentence; a claim that itself reports the
  doubt ("Azernews claimed ..., which REEx finds speculative") is backed by it;
- a contradiction needs a sentence about the same thing: one holding less than
  ``CONTRA_COVERAGE`` of the claim's words makes the claim unsupported instead;
- a differing figure stands against a doubting source (contradicted, quoting the figure);
  any other contradiction of a claim its source doubts is reported as doubted.

- a verdict is never ``supported`` beside a quote that gives other figures: when every
  sentence it would quote disagrees with the claim's figures (:func:`quote_disagrees`),
  the label becomes contradicted (unsupported when the sentence is about something else).

A claim backed by the passage it cites is still checked against every passage for another
source's different value (``Verdict.conflicting``), so the reader sees the disagreement.

Compromise: judge results are memoised per (claim, evidence) for the life of the
Verifier (bounded), so re-checking the same sentence is free but memory grows with use.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistant.models import Evidence, Passage, Verdict
from assistant.verify.evidence import (
    Sentence,
    SentenceScorer,
    reports_doubt,
    to_evidence,
)
from assistant.verify.features import Features, claim_features
from assistant.verify.numbers import (
    compare,
    quantities,
    units_compatible,
    values_close,
)
from assistant.verify.scorer import Prediction, Scorer

logger = logging.getLogger(__name__)

__all__ = ["Verifier", "Measured", "copies", "quote_disagrees"]

_CITE = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")


CONFLICT_SIM = 0.15  # a sentence this far from the claim is about something else
CONTRA_COVERAGE = 0.2  # a contradicting sentence holds at least this share of claim words
ROLE_SUPPORT_SIM = 0.45  # a claim reporting a doubt is backed by a doubting sentence this close
DOUBT_WINDOW = 4  # a doubting sentence among the best this many can target the claim
DOUBT_COVERAGE = 0.6  # ... when it holds this share of the claim's content words

_REASONS = {
    "num_mismatch": "the evidence gives a different value for the same quantity",
    "name_swap": "the evidence names another party in the claim's place",
    "month_mismatch": "the evidence gives another date",
    "polarity_mismatch": "the evidence says the opposite",
    "planned_claim_only": "the evidence states it as done, not planned",
    "planned_evidence_only": "the evidence states it only as planned, possible or pending",
    "direction_mismatch": "the evidence gives the opposite direction",
}


def _close(sents: list[Sentence]) -> list[Sentence]:
    """The best sentences: among the top 3, those within 0.1 of the best score."""
    return [s for s in sents[:3] if s.score >= sents[0].score - 0.1] if sents else []


def _doubter(close: list[Sentence], sents: list[Sentence]) -> Sentence | None:
    """The doubting sentence that makes a claim doubted, or None."""
    if close and all(s.doubtful for s in close):
        return close[0]
    for s in sents[:DOUBT_WINDOW]:
        if s.doubtful and s.coverage >= DOUBT_COVERAGE:
            return s
    return None


@dataclass
class Measured:
    """What the verifier read for one claim: features, ranked sentences, the prediction."""

    features: Features
    sents: list[Sentence]
    prediction: Prediction | None
    judged: bool = False


class Verifier:
    """Claim checker. ``judge`` is a :class:`assistant.verify.judge.Judge` or None;
    ``scorer`` defaults to the packaged one."""

    def __init__(
        self,
        embedder: Any,
        judge: Any = None,
        scorer: Scorer | None = None,
        judge_sentences: int = 3,
        skip_verbatim: bool = True,
    ) -> None:
        self.embedder = embedder
        self.judge = judge
        self.scorer = scorer if scorer is not None else Scorer.load()
        self.judge_sentences = judge_sentences
        self.skip_verbatim = skip_verbatim
        # sentence scores come from an int8 copy when the embedder offers one (~2.5x faster)
        quantized = getattr(embedder, "quantized", None)
        self.sentence_scorer = SentenceScorer(quantized() if callable(quantized) else embedder)
        self._memo: OrderedDict[tuple[str, tuple[str, ...]], dict[str, float]] = OrderedDict()
        self._memo_lock = threading.Lock()

    # ---- features -----------------------------------------------------------------------------
    def measure(
        self,
        claim: str,
        passages: Sequence[Passage],
        only: Sequence[int] | None = None,
        use_judge: bool = True,
    ) -> Measured:
        """Features and prediction for ``claim`` over the passages ``only`` (0-based; None =
        all). The judge is read whenever there is one and ``use_judge``."""
        sents = [
            s for s in self.sentence_scorer.sentences(claim, passages, only) if not s.injection
        ]
        feats = claim_features(claim, sents, passages)
        if not sents:
            return Measured(feats, sents, None)
        judged = False
        # a claim that is one of the passages' sentences word for word needs no judge: its
        # features say what it is (the doubt rules still apply); this is the extractive
        # writer's every sentence, and the model's when it copies
        if self.judge is not None and use_judge and not (self.skip_verbatim
                                                          and copies(claim, sents[0].text)):
            scores = self._judge(claim, self._judge_evidence(sents, feats.contra))
            feats.values["judge"] = scores.get("probe", scores.get("true", 0.0))
            judged = True
        return Measured(feats, sents, self.scorer.predict(feats.values, judge=judged), judged)

    def _judge_evidence(self, sents: list[Sentence], contra: int = 0) -> list[str]:
        """The best sentences, and the one the structured comparisons found contradicting
        the claim when it ranks lower: the judge reads what the verdict would quote."""
        chosen = sents[: self.judge_sentences]
        if contra >= len(chosen) and contra < len(sents):
            chosen.append(sents[contra])
        chosen.sort(key=lambda s: (s.passage, s.start))  # reading order reads better
        return [s.text for s in chosen]

    def _judge(self, claim: str, evidence: list[str]) -> dict[str, float]:
        key = (claim, tuple(evidence))
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        scores: dict[str, float] = self.judge.scores(claim, evidence)
        with self._memo_lock:
            self._memo[key] = scores
            while len(self._memo) > 4096:
                self._memo.popitem(last=False)
        return scores

    # ---- verdicts -----------------------------------------------------------------------------
    def _verdict(
        self, claim: str, passages: Sequence[Passage], only: Sequence[int] | None
    ) -> Verdict:
        m = self.measure(claim, passages, only)
        if m.prediction is None:
            return Verdict("unsupported", 0.9, reason="no evidence sentence", method="none")
        label, confidence = m.prediction.label, m.prediction.confidence
        method = "judge" if m.judged else "features"
        sents = m.sents
        if label == "contradicted" and sents[m.features.contra].coverage < CONTRA_COVERAGE:
            # a contradiction needs a sentence about the same thing
            label = "unsupported"
            confidence = m.prediction.probs["unsupported"] + m.prediction.probs["contradicted"]
        reason = _reason(label, m.features)
        picked: list[Sentence]
        if label == "contradicted":
            picked = [sents[m.features.contra]]
        elif label == "supported":
            picked = [s for s in _close(sents) if not s.doubtful][:2] or sents[:1]
        else:
            picked = sents[:1]
        doubter = _doubter(_close(sents), sents)
        restates = doubter is not None and reports_doubt(claim)
        # a differing figure stands against a doubting source; a softer contradiction
        # (stance, names) of a claim its source doubts is reported as the doubt it is
        figure_contradicts = label == "contradicted" and bool(m.features.values.get("num_mismatch"))
        if doubter is not None and (restates or not figure_contradicts):
            c = passages[doubter.passage].chunk
            where = f"{c.title or c.article_id}" + (f" ({c.section})" if c.section else "")
            if not restates:
                label, reason = "unsupported", f"reported as doubtful by {where}"
                method, picked = "role", [doubter]
            elif not m.features.values.get("num_mismatch") and doubter.sim >= ROLE_SUPPORT_SIM:
                label, reason = "supported", f"the source itself reports this doubt ({where})"
                method, picked = "role", [doubter]
        if label == "supported":
            agree = [s for s in picked if not quote_disagrees(claim, s.text)]
            if not agree:  # the quote gives other figures: never "supported" beside it
                label = "contradicted" if picked[0].coverage >= CONTRA_COVERAGE else "unsupported"
                confidence = m.prediction.probs[label] + m.prediction.probs["supported"]
                reason, method, picked = _REASONS["num_mismatch"], "figures", picked[:1]
                if label == "unsupported":
                    reason = "the quoted sentence gives other figures"
            else:
                picked = agree
        conflicting = self._conflicts(claim, sents, passages)
        if conflicting:
            reason += "; the sources disagree on the value"
        return Verdict(
            label=label,
            confidence=round(float(confidence), 3),
            evidence=tuple(to_evidence(s, passages) for s in picked),
            reason=reason,
            method=method,
            conflicting=tuple(conflicting),
        )

    def _conflicts(
        self, claim: str, sents: list[Sentence], passages: Sequence[Passage]
    ) -> list[Evidence]:
        """Two evidence sentences from different articles with different values for the
        claim's quantity (same unit, shared context words)."""
        cq = quantities(claim)
        if not cq:
            return []
        found: list[tuple[Sentence, Any]] = []
        for s in sents[:8]:
            if s.sim < CONFLICT_SIM:
                continue
            for e in quantities(s.text):
                for q in cq:
                    if units_compatible(q, e) and q.unit == e.unit and (q.context & e.context):
                        found.append((s, e))
        for i, (s1, e1) in enumerate(found):
            a1 = passages[s1.passage].chunk.article_id
            for s2, e2 in found[i + 1 :]:
                a2 = passages[s2.passage].chunk.article_id
                if a1 != a2 and not values_close(e1, e2) and not values_close(e2, e1):
                    return [to_evidence(s1, passages), to_evidence(s2, passages)]
        return []

    def check(
        self, claim: str, passages: Sequence[Passage], cited: Sequence[int] = ()
    ) -> Verdict:
        """Verdict for ``claim``; ``cited`` are 1-based positions in ``passages``.

        ``check("Malaysia has 61 million tonnes of rare earths", passages).label
        -> "contradicted"`` when a passage says 16.1 million tonnes.
        """
        claim = _CITE.sub("", claim).strip()  # "[2]" markers are not numbers of the claim
        if not passages:
            return Verdict("unsupported", 0.9, reason="no evidence passage", method="none")
        cited0 = sorted({c - 1 for c in cited if 1 <= c <= len(passages)})
        if not cited0:
            return self._verdict(claim, passages, None)
        first = self._verdict(claim, passages, cited0)
        if len(cited0) == len(passages):
            return first
        if first.label == "supported":
            # backed by what it cites; another source giving another value is still shown
            if not first.conflicting:
                sents = [s for s in self.sentence_scorer.sentences(claim, passages, None)
                         if not s.injection]
                conflicting = self._conflicts(claim, sents, passages)
                if conflicting:
                    first = replace(first, conflicting=tuple(conflicting),
                                    reason=first.reason + "; the sources disagree on the value")
            return first
        second = self._verdict(claim, passages, None)
        if second.label == "supported":
            backing = second.evidence[0] if second.evidence else None
            ok = backing is not None and (backing.source_number or 0) - 1 in cited0
            if not ok:
                second = replace(
                    second,
                    cited_ok=False,
                    reason=second.reason + "; backed by a source the sentence does not cite",
                )
            return second
        if first.label == "contradicted":
            return first
        return second


_SPACE = re.compile(r"\s+")


def _plain(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _SPACE.sub(" ", text).strip().rstrip(".").strip().lower()


def copies(claim: str, sentence: str) -> bool:
    """The claim is the sentence, word for word (spacing, curly quotes, case and the final
    full stop aside): ``copies("The plant makes 3,000 t.", "The plant makes 3,000 t")``."""
    return bool(claim.strip()) and _plain(claim) == _plain(sentence)


def quote_disagrees(claim: str, quote: str) -> bool:
    """The quote states another value for one of the claim's figures and not the claim's
    own (:func:`assistant.verify.numbers.compare`): ``quote_disagrees("The plant makes
    9,000 tonnes a year", "The plant makes 3,000 tonnes a year.") -> True``."""
    return any(c.status == "mismatch" for c in compare(claim, [quote], best=0))


def _reason(label: str, f: Features) -> str:
    """A plain reason naming the strongest structured signal behind the label."""
    v = f.values
    if label == "contradicted":
        for name, text in _REASONS.items():
            if v.get(name):
                return text
        return "the evidence says otherwise"
    if label == "supported":
        if v.get("num_match"):
            return "an evidence sentence states the same figures"
        return "an evidence sentence states it"
    if v.get("names_missing"):
        return "the sources never mention some of the claim's names"
    if v.get("num_absent"):
        return "the sources do not state the claim's figures"
    return "the evidence does not state it"
