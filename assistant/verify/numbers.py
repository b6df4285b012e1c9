"""Compare the numbers of a claim with the numbers of evidence sentences.

:func:`compare` checks every claim quantity (:func:`.quantities.quantities`) against the
quantities of evidence sentences:

- ``match``: some evidence quantity of a compatible unit has the same value (within the
  precision the claim was written with; bounds such as ``more than 1,800 t`` are honoured);
  years and dates compare by year, and by month and day where both sides give them;
- ``mismatch``: no match, but an evidence quantity of the same kind is attached to the same
  thing (same unit and at least one shared context word nearby, or the same unit in the
  sentence that is closest to the claim) - a different value for the same quantity; or the
  same value in another unit of the same dimension or for another period (acres vs
  hectares, mg/L vs ug/L, per month vs per year), which outweighs figures in sentences
  further down. ``NumberCheck.strength`` says how firmly the differing figure attaches;
- ``absent``: nothing comparable.

Compromises: rounding tolerance is the claim's last significant digit, and 5 % when the
claim hedges (``about``, ``nearly``, ``estimated``, ``some``, ``roughly``); units are not
converted: a figure in another unit of the same dimension counts (as a unit swap) only when
its value is the same, otherwise it is not compared.

``Quantity``, ``quantities`` and ``content_words`` are re-exported from
:mod:`.quantities` for the callers that import them from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.verify.quantities import Quantity, content_words, quantities

__all__ = [
    "NumberCheck", "Quantity", "bounds_hold", "compare", "content_words", "quantities",
    "units_compatible", "values_close",
]


def units_compatible(a: Quantity, b: Quantity) -> bool:
    """Same unit (and the same period when both are rates), or one side has none while
    both are plain counts."""
    if a.kind in ("year", "date") or b.kind in ("year", "date"):
        return a.kind in ("year", "date") and b.kind in ("year", "date")
    if a.unit == b.unit:
        return not (a.per and b.per and a.per != b.per)
    if a.kind == "money" and b.kind == "money":
        return False
    return (not a.unit or not b.unit) and a.kind == b.kind == "count"


def _unit_swapped(a: Quantity, b: Quantity) -> bool:
    """The same figure in another unit of the same dimension, or for another period:
    ``8,000 t per month`` vs ``8,000 t per year``, ``4,200 acres`` vs ``4,200 ha``."""
    if not a.dimension or a.dimension != b.dimension:
        return False
    if not math.isclose(a.value, b.value, rel_tol=1e-9):
        return False
    return a.unit != b.unit or (bool(a.per and b.per) and a.per != b.per)


def values_close(claim: Quantity, ev: Quantity) -> bool:
    """Does the evidence value satisfy the claim value (precision, hedges, bounds)?

    ``values_close(q("16 million tonnes"), q("16.1 million tonnes")) -> False`` (16 million is
    written to the million: 16.1 is within 0.5 of it only when hedged);
    ``values_close(q("more than 1,800 t"), q("1,950 t")) -> True``.
    """
    a, b = claim.value, ev.value
    if claim.kind in ("year", "date") and not claim.bound:
        if claim.month and ev.month and claim.month != ev.month:
            return False
        if claim.day and ev.day and claim.month == ev.month and claim.day != ev.day:
            return False
        return int(a) == int(b)
    same = math.isclose(a, b, rel_tol=1e-9)
    if claim.bound and ev.bound == claim.bound:
        # "up to US$40 billion" vs "up to US$40 million": the same bound on both sides
        # states the same quantity, so its values are compared, not the bound's satisfaction
        return same or abs(a - b) <= max(claim.precision / 2, 1e-9 * max(abs(a), abs(b)))
    if claim.bound == ">":  # "more than 500" needs more than 500 (or "over 500")
        return b > a or (same and ev.bound == ">")
    if claim.bound == "<":
        return b < a or (same and ev.bound == "<")
    tol = claim.precision / 2
    if claim.hedged:
        tol = max(tol, 0.05 * abs(a))
    tol = max(tol, 1e-9 * max(abs(a), abs(b)))
    if abs(a - b) <= tol:
        return True
    # evidence written more coarsely than the claim ("$600M" vs "$600.0 million")
    return abs(a - b) <= ev.precision / 2 and ev.hedged


@dataclass(frozen=True)
class NumberCheck:
    """Result of :func:`compare` for one claim quantity.

    ``status`` is ``"match"``, ``"mismatch"`` or ``"absent"``; ``sentence`` the index of the
    evidence sentence that matched or conflicted (or -1); ``other`` the evidence quantity.
    :attr:`by_bound` is a match through the claim's bound (``more than 115 reviews`` vs
    ``116 reviews``).
    """

    claim: Quantity
    status: str
    sentence: int = -1
    other: Quantity | None = None
    strength: float = 0.0  # a mismatch: context words shared (+1 same unit); 99 unit swap

    @property
    def by_bound(self) -> bool:
        return self.status == "match" and bool(self.claim.bound)


def bounds_hold(checks: Sequence[NumberCheck]) -> bool:
    """Every claim number is stated and at least one is a bound the evidence satisfies:
    ``more than 1,800 deaths`` against ``1,995 deaths``. The judge model reads such
    comparisons poorly; this check reads them exactly."""
    return bool(checks) and all(c.status == "match" for c in checks) and any(
        c.by_bound for c in checks
    )


def compare(
    claim: str, sentences: Sequence[str], best: int | None = None
) -> list[NumberCheck]:
    """Check each number of ``claim`` against the numbers of evidence ``sentences``.

    ``best`` is the index of the sentence closest to the claim (by meaning); a same-unit
    number there counts as "attached to the same thing" even without shared context words.
    """
    cq = quantities(claim)
    if not cq:
        return []
    claim_words = content_words(claim)
    eqs = [quantities(s) for s in sentences]
    out: list[NumberCheck] = []
    for q in cq:
        match: NumberCheck | None = None
        unconfirmable = False
        mismatch: NumberCheck | None = None
        mismatch_score = -1.0
        weak: NumberCheck | None = None
        for i, qs in enumerate(eqs):
            for e in qs:
                if not units_compatible(q, e):
                    if _unit_swapped(q, e) and mismatch_score < 99.0:
                        mismatch = NumberCheck(q, "mismatch", i, e, 99.0)  # 4,200 acres vs ha
                        mismatch_score = 99.0
                    continue
                if q.bound and not (q.context & e.context) and not (
                    q.bound == e.bound and q.unit and q.unit == e.unit
                ):
                    continue  # a bound is only checked against the same quantity
                if values_close(q, e):
                    if e.bound and not q.bound and not q.hedged:
                        unconfirmable = True  # "$95 million" vs "over $95 million"
                        continue
                    if q.unit and not e.unit:
                        # "2,500 metres" vs a bare "2,500": a match only when nothing states
                        # the same figure in another unit
                        weak = weak or NumberCheck(q, "match", i, e)
                        continue
                    match = NumberCheck(q, "match", i, e)
                    break
                if (q.bound and e.bound and q.bound != e.bound
                        and math.isclose(q.value, e.value, rel_tol=1e-9)):
                    mismatch = NumberCheck(q, "mismatch", i, e, 99.0)  # under X vs over X
                    mismatch_score = 99.0
                    continue
                shared = len((q.context & e.context) | (claim_words & e.context & q.context))
                ctx_overlap = len(q.context & e.context)
                same_unit = bool(q.unit) and q.unit == e.unit
                attached = ctx_overlap >= 1 and (same_unit or q.kind == e.kind)
                if not attached and best is not None and i == best and same_unit:
                    attached = True
                if attached:
                    score = shared + (1.0 if same_unit else 0.0) + (0.5 if i == best else 0.0)
                    if score > mismatch_score:
                        mismatch_score = score
                        mismatch = NumberCheck(q, "mismatch", i, e, score)
            if match or mismatch_score >= 99.0:
                break  # a unit swap in a closer sentence outweighs a figure further down
        if match is None and unconfirmable and mismatch_score < 99.0:
            mismatch = None
        if match is None and weak is not None and mismatch_score < 99.0:
            match = weak
        out.append(match or mismatch or NumberCheck(q, "absent"))
    return out
