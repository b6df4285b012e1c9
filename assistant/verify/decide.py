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
   (only with ``use_entities``; the fit on the training splits turned it off).
5. ``numbers``: the claim has numbers, every one is stated with its unit in the evidence,
   the best sentence is reasonably close (cosine >= ``number_support_sim``), no name is
   missing and the sentence is not doubtful -> supported.
   ``similarity``: no claim number is missing and the best sentence is very close
   (cosine >= ``support_sim``, coverage >= ``support_cov``), not doubtful -> supported.
   ``role``: the claim itself reports a doubt ("X claimed ..., which REEx doubts"; "the
   claim that ... lacks published details"), its close evidence sentences are the doubting
   ones, no number disagrees and the best is reasonably close (cosine >=
   ``number_support_sim``) -> supported: the judge reads such sentences as contradicted.
6. Otherwise the judge decides (when there is no judge: ``fallback_sim`` on similarity):
   ``p(supported) >= judge_support`` -> supported, else ``p(contradicted) >=
   judge_contra`` -> contradicted, else unsupported. A claim number that the evidence
   never states lowers ``p(supported)`` by ``absent_penalty``.
7. ``role``: a "supported" whose backing sentences are all doubtful (disputed/bias
   sections, or "the claim that ... lacks ...") becomes unsupported, "reported as doubtful".

Rules 1-5 are the cheap path (no LLM, a few ms); the benchmark measures each signal alone,
the cheap path alone and this combination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Signals", "Thresholds", "Decision", "decide", "cheap"]


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs of :func:`decide` (fitted on SciFact train + VitaminC train)."""

    reject_sim: float = 0.15
    reject_cov: float = 0.34
    support_sim: float = 0.78
    support_cov: float = 0.70
    number_support_sim: float = 0.60
    fallback_sim: float = 0.64
    judge_support: float = 0.15  # the 1.5B judge rarely gives SUPPORTED more than 0.6
    judge_contra: float = 0.25
    absent_penalty: float = 0.0
    use_entities: bool = False  # fitted off: demonyms/partial names cost more than they catch


@dataclass(frozen=True)
class Signals:
    """What the verifier measured for one claim (all cheap except ``judge``)."""

    has_evidence: bool
    sim: float = 0.0  # cosine of the best evidence sentence with the claim
    coverage: float = 0.0  # share of the claim's content words in that sentence
    numbers: tuple[str, ...] = ()  # per claim number: match / mismatch / absent
    missing_entities: tuple[str, ...] = ()
    doubtful: bool = False  # every close evidence sentence is doubtful
    doubt_source: str = ""
    restates_doubt: bool = False  # the claim reports the doubt its close evidence expresses
    judge: dict[str, float] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    label: str
    confidence: float
    method: str
    reason: str


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
        return Decision(
            "unsupported", 0.75, "entities",
            "the sources never mention " + ", ".join(s.missing_entities),
        )
    if (
        s.numbers
        and all(n == "match" for n in s.numbers)
        and not s.doubtful
        and s.sim >= t.number_support_sim
    ):
        return Decision(
            "supported", min(0.95, 0.5 + s.sim / 2), "numbers",
            "an evidence sentence states the same figures",
        )
    if s.restates_doubt and "absent" not in s.numbers and s.sim >= t.number_support_sim:
        return Decision(
            "supported", min(0.9, s.sim), "role", "the source itself reports this doubt"
        )
    if (
        "absent" not in s.numbers
        and not s.doubtful
        and s.sim >= t.support_sim
        and s.coverage >= t.support_cov
    ):
        how = "numbers" if s.numbers else "similarity"
        return Decision("supported", min(0.95, s.sim), how, "an evidence sentence states it")
    return None


def decide(s: Signals, t: Thresholds = Thresholds()) -> Decision:
    """Apply rules 1-7 (see the module docstring). Pure; tested in tests/test_verify.py."""
    d = cheap(s, t)
    if d is None:
        if s.judge is None:
            if s.sim >= t.fallback_sim and "absent" not in s.numbers:
                d = Decision("supported", s.sim, "similarity", "close evidence sentence")
            else:
                d = Decision("unsupported", 1 - s.sim, "similarity", "no close evidence")
        else:
            p = dict(s.judge)
            if "absent" in s.numbers:
                p["supported"] = max(0.0, p["supported"] - t.absent_penalty)
            if p["supported"] >= t.judge_support:
                d = Decision("supported", p["supported"], "judge", "the judge finds it stated")
            elif p["contradicted"] >= t.judge_contra:
                d = Decision(
                    "contradicted", p["contradicted"], "judge", "the judge finds it contradicted"
                )
            else:
                d = Decision(
                    "unsupported", max(p["unsupported"], 1 - p["supported"]), "judge",
                    "the evidence does not state it",
                )
    if d.label == "supported" and s.doubtful:
        src = f" by {s.doubt_source}" if s.doubt_source else ""
        return Decision("unsupported", 0.7, "role", f"reported as doubtful{src}")
    return d
