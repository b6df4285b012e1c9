"""The one decision: signals of a claim -> label, confidence, method, reason.

:func:`decide` is a pure function over :class:`Signals` (computed by the verifier) and
:class:`Thresholds` (fitted on training splits by ``bench/verify.py``; the defaults below
are those fitted values). Rules, in order - the first that fires decides:

1. ``none``: no evidence sentence at all -> unsupported.
2. ``numbers``: a number of the claim is attached to the same thing in the evidence with
   a different value (and no evidence sentence has the claim's value) -> contradicted.
3. ``similarity``: the best evidence sentence is far from the claim (cosine below
   ``reject_sim`` and coverage below ``reject_cov``) -> unsupported.
4. ``entities``: a name in the claim (``Texas``) appears in no evidence -> unsupported
   (only with ``use_entities``).
5. Clear support without the LLM:
   ``numbers``: the claim has numbers, every one is stated with its unit in the evidence,
   the best sentence is close (cosine >= ``number_support_sim``), no claim word is missing
   from the evidence (``novel <= support_novel``), not doubtful -> supported.
   ``similarity``: no claim number is missing, the best sentence is very close (cosine >=
   ``support_sim``, coverage >= ``support_cov``, ``novel <= support_novel``), not doubtful
   -> supported.
   ``role``: the claim itself reports a doubt ("X claimed ..., which REEx doubts"; "the
   claim that ... lacks published details"), its close evidence sentences are the doubting
   ones, no number disagrees and the best is reasonably close (cosine >=
   ``role_support_sim``) -> supported.
6. Otherwise the judge decides. Without a judge (the ``extractive`` backend): supported
   when the best sentence is close (cosine >= ``fallback_sim``), no claim number is
   missing, no name of the claim is absent from the evidence ("Texas") and no more than
   ``fallback_novel`` of the claim's words are missing from it, else unsupported.
   The judge gives ``probe``, the log-odds of a linear probe on a middle layer of the
   packaged model (:mod:`assistant.verify.probe`), or - other judges - ``true``, the
   log-odds of "Yes" to "Is the claim true according to the evidence?". The score is

       score = w.true * true + w.probe * probe - w.absent * [a claim number is never
               stated] + w.bound * [every claim number is stated and a bound of the claim
               holds] - w.novel * novel + w.sim * sim

   where ``novel`` is the share of the claim's content words found in no evidence
   sentence, ``sim`` the cosine of the best evidence sentence and the bound term credits
   what the 1.5B judge reads poorly: "more than 1,800 deaths" against "1,995 deaths"
   (:func:`assistant.verify.numbers.bounds_hold`); ``w`` is
   ``Thresholds.with_probe`` when the judge gave a probe score, else ``Thresholds.yes_no``
   (each a logistic regression on the training splits, so ``margin = score - w.cut`` is its
   log-odds and the confidence its sigmoid). ``margin >= 0`` -> supported. Otherwise, when
   the best evidence sentence is about the same thing (cosine >= ``contra_sim``) and the
   score clearly says no (``margin <= contra_margin``) -> contradicted, else unsupported.
7. ``role``: a "supported" whose backing sentences are all doubtful (disputed/bias
   sections, or "the claim that ... lacks ..."), or whose evidence has a doubting sentence
   near the top that restates most of the claim, becomes unsupported, "reported as
   doubtful".

Rules 1-5 are the cheap path (no LLM, a few ms); the benchmark measures each signal alone,
the cheap path alone and this combination.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = [
    "Signals", "Thresholds", "ScoreWeights", "Decision", "decide", "cheap", "judge_rule",
    "judge_score", "weights",
]


@dataclass(frozen=True)
class ScoreWeights:
    """Rule 6's score over the judge's outputs and the cheap signals (module docstring)."""

    cut: float  # supported when the score reaches this (minus the regression's intercept)
    absent: float  # penalty: a claim number is never stated in the evidence
    novel: float  # penalty per share of claim words in no evidence sentence
    sim: float  # weight of the best sentence's cosine
    true: float = 1.0  # weight of the judge's Yes/No log-odds
    probe: float = 0.0  # weight of the probe's log-odds
    bound: float = 0.0  # credit: every claim number is stated and a claim bound holds


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs of :func:`decide` (fitted on SciFact train + VitaminC train + HaluEval pairs
    that the test sample never uses; see ``bench/verify.py``)."""

    reject_sim: float = 0.15
    reject_cov: float = 0.34
    support_sim: float = 0.78
    support_cov: float = 0.7
    support_novel: float = 0.0
    number_support_sim: float = 0.75
    role_support_sim: float = 0.45  # not fitted: the role rule never fires on the bench sets
    fallback_sim: float = 0.3
    fallback_novel: float = 0.5
    yes_no: ScoreWeights = ScoreWeights(
        cut=-0.932, absent=0.231, novel=1.887, sim=-0.798, true=1.208, bound=1.56
    )
    with_probe: ScoreWeights = ScoreWeights(
        cut=-1.204, absent=0.48, novel=1.329, sim=-1.083, true=0.0, probe=1.027, bound=1.821
    )
    # (> 1: fitted off - on the training sets a low judge score does not tell contradicted
    # from unsupported, so the judge alone never reports a contradiction)
    contra_sim: float = 2.0
    contra_margin: float = -0.5
    use_entities: bool = False


@dataclass(frozen=True)
class Signals:
    """What the verifier measured for one claim (all cheap except ``judge``)."""

    has_evidence: bool
    sim: float = 0.0  # cosine of the best evidence sentence with the claim
    coverage: float = 0.0  # share of the claim's content words in that sentence
    novel: float = 0.0  # share of the claim's content words in no evidence sentence
    numbers: tuple[str, ...] = ()  # per claim number: match / mismatch / absent
    bounds_hold: bool = False  # all numbers match, one through a bound ("more than 1,800")
    missing_entities: tuple[str, ...] = ()
    doubtful: bool = False  # every close sentence doubts, or a top one restates and doubts
    doubt_source: str = ""
    restates_doubt: bool = False  # the claim reports the doubt its close evidence expresses
    judge: dict[str, float] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    label: str
    confidence: float
    method: str
    reason: str


def _names_missing(s: Signals) -> Decision:
    return Decision(
        "unsupported", 0.75, "entities",
        "the sources never mention " + ", ".join(s.missing_entities),
    )


def cheap(s: Signals, t: Thresholds = Thresholds()) -> Decision | None:
    """Rules 1-5: a decision without the LLM, or None when the case is not clear."""
    if not s.has_evidence:
        return Decision("unsupported", 0.9, "none", "no evidence passage")
    if "mismatch" in s.numbers:
        return Decision(
            "contradicted", 0.8, "numbers",
            "the evidence gives a different value for the same quantity",
        )
    if s.sim < t.reject_sim and s.coverage < t.reject_cov:
        return Decision(
            "unsupported", 0.8, "similarity", "no evidence sentence is close to the claim"
        )
    if t.use_entities and s.missing_entities:
        return _names_missing(s)
    if (
        s.numbers
        and all(n == "match" for n in s.numbers)
        and not s.doubtful
        and s.sim >= t.number_support_sim
        and s.novel <= t.support_novel
    ):
        return Decision(
            "supported", min(0.95, 0.5 + s.sim / 2), "numbers",
            "an evidence sentence states the same figures",
        )
    if s.restates_doubt and "absent" not in s.numbers and s.sim >= t.role_support_sim:
        return Decision(
            "supported", min(0.9, s.sim), "role", "the source itself reports this doubt"
        )
    if (
        "absent" not in s.numbers
        and not s.doubtful
        and s.sim >= t.support_sim
        and s.coverage >= t.support_cov
        and s.novel <= t.support_novel
    ):
        how = "numbers" if s.numbers else "similarity"
        return Decision("supported", min(0.95, s.sim), how, "an evidence sentence states it")
    return None


def weights(s: Signals, t: Thresholds = Thresholds()) -> ScoreWeights:
    """The score weights that apply to this judge output (with or without a probe)."""
    return t.with_probe if s.judge is not None and "probe" in s.judge else t.yes_no


def judge_score(s: Signals, t: Thresholds = Thresholds()) -> float:
    """Rule 6's score: the judge's log-odds (and probe) less the penalties (needs
    ``s.judge``); compare it with ``weights(s, t).cut``."""
    assert s.judge is not None
    w = weights(s, t)
    score = w.true * s.judge.get("true", 0.0) + w.probe * s.judge.get("probe", 0.0)
    score += -w.novel * s.novel + w.sim * s.sim
    if "absent" in s.numbers:
        score -= w.absent
    if s.bounds_hold:
        score += w.bound
    return score


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, x))))


def judge_rule(s: Signals, t: Thresholds = Thresholds()) -> Decision:
    """Rule 6 with a judge (needs ``s.judge``): supported, contradicted or unsupported."""
    margin = judge_score(s, t) - weights(s, t).cut
    p = _sigmoid(margin)
    if margin >= 0:
        return Decision("supported", p, "judge", "the judge finds it stated")
    if s.sim >= t.contra_sim and margin <= t.contra_margin:
        return Decision(
            "contradicted", 1 - p, "judge", "the judge finds the evidence says otherwise"
        )
    return Decision("unsupported", 1 - p, "judge", "the evidence does not state it")


def _without_judge(s: Signals, t: Thresholds) -> Decision:
    """Rule 6 without a judge (the ``extractive`` backend)."""
    if s.missing_entities:
        return _names_missing(s)
    if s.sim >= t.fallback_sim and "absent" not in s.numbers and s.novel <= t.fallback_novel:
        return Decision("supported", s.sim, "similarity", "close evidence sentence")
    if s.novel > t.fallback_novel:
        return Decision(
            "unsupported", 1 - s.sim, "words", "the sources never use some of the claim's words"
        )
    return Decision("unsupported", 1 - s.sim, "similarity", "no close evidence")


def decide(s: Signals, t: Thresholds = Thresholds()) -> Decision:
    """Apply rules 1-7 (see the module docstring). Pure; tested in tests/test_verify.py."""
    d = cheap(s, t)
    if d is None:
        d = _without_judge(s, t) if s.judge is None else judge_rule(s, t)
    if d.label == "supported" and s.doubtful:
        src = f" by {s.doubt_source}" if s.doubt_source else ""
        return Decision("unsupported", 0.7, "role", f"reported as doubtful{src}")
    return d
