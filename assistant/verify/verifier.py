"""The Verifier: one claim + passages -> a Verdict with verbatim evidence.

``Verifier(embedder, judge=None).check(claim, passages, cited=(2,))``:

1. Against the cited passages first (``cited`` are 1-based positions in ``passages``). If
   they back the claim, done (``cited_ok=True``).
2. Otherwise against all passages: a claim backed only by passages it did not cite is
   ``supported`` with ``cited_ok=False`` (a right fact with the wrong citation); a claim
   contradicted anywhere is ``contradicted``.

For each attempt the signals (:class:`assistant.verify.decide.Signals`) are measured on
the sentences of the passages (:mod:`assistant.verify.evidence`), numbers are compared
with what they attach to (:mod:`assistant.verify.numbers`), the judge is asked only when
the cheap rules leave the case open, and :func:`assistant.verify.decide.decide` returns the
label. When the evidence holds two different values for the claim's quantity from
different articles, ``Verdict.conflicting`` quotes both.

Compromise: judge results are memoised per (claim, evidence) for the life of the
Verifier (bounded), so re-checking the same sentence is free but memory grows with use.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from assistant.models import Evidence, Passage, Verdict
from assistant.verify.decide import Signals, Thresholds, decide
from assistant.verify.evidence import (
    Sentence,
    SentenceScorer,
    missing_entities,
    reports_doubt,
    to_evidence,
)
from assistant.verify.numbers import (
    bounds_hold,
    compare,
    content_words,
    quantities,
    units_compatible,
    values_close,
)

logger = logging.getLogger(__name__)

__all__ = ["Verifier"]

_CITE = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")


DOUBT_WINDOW = 4  # a doubting sentence among the best this many can target the claim
DOUBT_COVERAGE = 0.6  # ... when it holds this share of the claim's content words


def _close(sents: list[Sentence]) -> list[Sentence]:
    """The best sentences: among the top 3, those within 0.1 of the best score."""
    return [s for s in sents[:3] if s.score >= sents[0].score - 0.1] if sents else []


def _doubter(close: list[Sentence], sents: list[Sentence]) -> Sentence | None:
    """The doubting sentence that makes a claim doubted, or None (see ``measure``)."""
    if close and all(s.doubtful for s in close):
        return close[0]
    for s in sents[:DOUBT_WINDOW]:
        if s.doubtful and s.coverage >= DOUBT_COVERAGE:
            return s
    return None


class Verifier:
    """Claim checker. ``judge`` is a :class:`assistant.verify.judge.Judge` or None."""

    def __init__(
        self,
        embedder: Any,
        judge: Any = None,
        thresholds: Thresholds | None = None,
        judge_sentences: int = 3,
    ) -> None:
        self.embedder = embedder
        self.judge = judge
        self.thresholds = thresholds or Thresholds()
        self.judge_sentences = judge_sentences
        # sentence scores come from an int8 copy when the embedder offers one (~2.5x faster)
        quantized = getattr(embedder, "quantized", None)
        self.scorer = SentenceScorer(quantized() if callable(quantized) else embedder)
        self._memo: OrderedDict[tuple[str, tuple[str, ...]], dict[str, float]] = OrderedDict()
        self._memo_lock = threading.Lock()

    # ---- signals ------------------------------------------------------------------------------
    def measure(
        self,
        claim: str,
        passages: Sequence[Passage],
        only: Sequence[int] | None = None,
        use_judge: bool = True,
        force_judge: bool = False,
    ) -> tuple[Signals, list[Sentence]]:
        """Signals for ``claim`` over the passages ``only`` (0-based; None = all).

        The judge is asked when ``force_judge`` or when the cheap rules cannot decide.
        """
        sents = [s for s in self.scorer.sentences(claim, passages, only) if not s.injection]
        if not sents:
            return Signals(has_evidence=False), []
        best = sents[0]
        top = sents[:8]
        checks = compare(claim, [s.text for s in top], best=0)
        # names are looked for in the titles and the non-injection sentences only
        titles = {passages[s.passage].chunk.title for s in sents}
        evidence_text = " ".join([*titles, *(s.text for s in sents)])
        claim_words = content_words(claim)
        have = content_words(evidence_text)
        novel = (
            sum(w not in have for w in claim_words) / len(claim_words) if claim_words else 0.0
        )
        close = _close(sents)
        # a doubting passage never backs the claim it doubts, but it does back a sentence
        # that itself reports the doubt ("X's claim ... lacks published details"). The
        # claim is doubted when every close sentence doubts, or when a doubting sentence
        # near the top restates most of it ("Anwar's claim that the new Pahang facility is
        # already underway lacks ...") - whatever the other sentences seem to say.
        doubter = _doubter(close, sents)
        restates = doubter is not None and reports_doubt(claim)
        doubtful = doubter is not None and not restates
        doubt_source = ""
        if doubtful and doubter is not None:
            c = passages[doubter.passage].chunk
            doubt_source = f"{c.title or c.article_id}" + (f" ({c.section})" if c.section else "")
        signals = Signals(
            has_evidence=True,
            sim=best.sim,
            coverage=best.coverage,
            novel=novel,
            numbers=tuple(c.status for c in checks),
            bounds_hold=bounds_hold(checks),
            missing_entities=tuple(missing_entities(claim, evidence_text)),
            doubtful=doubtful,
            doubt_source=doubt_source,
            restates_doubt=restates,
        )
        from assistant.verify.decide import cheap

        if self.judge is not None and use_judge and (
            force_judge or cheap(signals, self.thresholds) is None
        ):
            signals = replace(signals, judge=self._judge(claim, self._judge_evidence(sents)))
        return signals, sents

    def _judge_evidence(self, sents: list[Sentence]) -> list[str]:
        chosen = sents[: self.judge_sentences]
        chosen.sort(key=lambda s: (s.passage, s.start))  # reading order reads better
        return [s.text for s in chosen]

    def _judge(self, claim: str, evidence: list[str]) -> dict[str, float]:
        key = (claim, tuple(evidence))
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        scores = self.judge.scores(claim, evidence)
        with self._memo_lock:
            self._memo[key] = scores
            while len(self._memo) > 4096:
                self._memo.popitem(last=False)
        return scores

    # ---- verdicts -----------------------------------------------------------------------------
    def _verdict(
        self, claim: str, passages: Sequence[Passage], only: Sequence[int] | None
    ) -> Verdict:
        signals, sents = self.measure(claim, passages, only)
        d = decide(signals, self.thresholds)
        evidence = self._evidence(claim, d.label, d.method, sents, passages)
        conflicting = self._conflicts(claim, sents, passages)
        reason = d.reason
        if conflicting:
            reason += "; the sources disagree on the value"
        return Verdict(
            label=d.label,
            confidence=round(float(d.confidence), 3),
            evidence=tuple(evidence),
            reason=reason,
            method=d.method,
            conflicting=tuple(conflicting),
        )

    def _evidence(
        self,
        claim: str,
        label: str,
        method: str,
        sents: list[Sentence],
        passages: Sequence[Passage],
    ) -> list[Evidence]:
        if not sents:
            return []
        if label == "contradicted" and method == "numbers":
            checks = compare(claim, [s.text for s in sents[:8]], best=0)
            picked = [sents[c.sentence] for c in checks if c.status == "mismatch"][:1]
        elif method == "role" and label == "unsupported":
            doubter = _doubter(_close(sents), sents)  # the sentence that made it doubted
            picked = [doubter] if doubter is not None else sents[:1]
        elif label == "supported":
            picked = [s for s in _close(sents) if not s.doubtful][:2] or sents[:1]
        else:
            picked = sents[:1]
        return [to_evidence(s, passages) for s in picked]

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
            if s.sim < self.thresholds.reject_sim:
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
        if first.label == "supported" or len(cited0) == len(passages):
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
