"""The claim metrics, their baselines, the figures per perturbation and the bootstrap
intervals, on hand-built results about invented companies (hand-computed figures)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from assistant.eval.metrics import (
    baseline_predictions,
    bootstrap_cis,
    claim_metrics,
    expected_calibration_error,
)
from assistant.eval.report import Report, summary_table
from assistant.eval.score import ClaimResult


# ---- claim metrics ------------------------------------------------------------------------
def _invented_claims() -> list[ClaimResult]:
    """(claim, gold, predicted, confidence, evidence quotes, perturbation); invented firms."""
    rows = [
        ("Borealis opened Varden plant.", "supported", "supported", 0.95,
         ["Borealis Magnetics opened its Varden plant in May."], "none"),
        ("Quillon sold lithium last year.", "supported", "supported", 0.85,
         ["Quillon Metals sold lithium to buyers last year."], "none"),
        ("Borealis hired three hundred workers there.", "supported", "unsupported", 0.55,
         ["Borealis hired three hundred workers there in May."], ""),
        ("Quillon Metals closed its Varden plant last month.", "contradicted", "contradicted",
         0.75, [], "number"),
        ("Borealis Magnetics said output fell sharply during the winter months.",
         "contradicted", "supported", 0.65,
         ["Borealis Magnetics said output fell sharply during the winter months, citing cuts."],
         "negation"),
        ("Varden workers went on strike in June.", "contradicted", "unsupported", 0.45,
         ["Workers at Varden went on strike in July."], "number"),
        ("Quillon plans a new refinery.", "unsupported", "unsupported", 0.62,
         ["Quillon announced plans for a new refinery."], "added_figure"),
        ("Borealis and Quillon will merge next spring, according to several people familiar.",
         "unsupported", "supported", 0.91, ["Borealis denied merger talks."], ""),
    ]
    return [
        ClaimResult(id=f"c{i}", claim=claim, label=gold, predicted=pred, confidence=conf,
                       verdicts=1, evidence_quotes=quotes, perturbation=pert)
        for i, (claim, gold, pred, conf, quotes, pert) in enumerate(rows, 1)
    ]


def test_claim_metrics_hand_computed() -> None:
    rows = _invented_claims()
    cm = claim_metrics(rows)
    # TPR 2/3; not-supported predicted for 3 of the 5 others
    assert cm["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 5) / 2)
    assert cm["accuracy_3way"] == pytest.approx(4 / 8)
    per = cm["per_label"]
    assert per["supported"] == pytest.approx(
        {"n": 3, "predicted": 4, "precision": 2 / 4, "recall": 2 / 3, "f1": 4 / 7})
    assert per["contradicted"] == pytest.approx(
        {"n": 3, "predicted": 1, "precision": 1.0, "recall": 1 / 3, "f1": 2 / 4})
    assert per["unsupported"] == pytest.approx(
        {"n": 2, "predicted": 3, "precision": 1 / 3, "recall": 1 / 2, "f1": 2 / 5})
    assert cm["contradicted_recall"] == pytest.approx(1 / 3)
    assert cm["macro_f1"] == pytest.approx((4 / 7 + 1 / 2 + 2 / 5) / 3)
    # bins: .9 {.95 right, .91 wrong}, .8 {.85 right}, .7 {.75 right},
    # .6 {.65 wrong, .62 right}, .5 {.55 wrong}, .4 {.45 wrong}
    ece = (2 * 0.43 + 0.15 + 0.25 + 2 * 0.135 + 0.55 + 0.45) / 8
    assert cm["ece"] == pytest.approx(ece)
    rel = cm["reliability"]
    assert len(rel) == 10 and rel[0] == {"bin": [0.0, 0.1], "n": 0, "confidence": None,
                                         "accuracy": None}
    assert rel[9]["n"] == 2 and rel[9]["confidence"] == pytest.approx(0.93)
    assert rel[9]["accuracy"] == pytest.approx(0.5) and rel[9]["bin"] == [0.9, 1.0]
    assert rel[6]["n"] == 2 and rel[6]["confidence"] == pytest.approx(0.635)
    # a claim without a verdict has no confidence and stays out of the ECE
    no_verdict = ClaimResult(id="c9", claim="x", label="supported")
    assert expected_calibration_error([*rows, no_verdict]) == pytest.approx(ece)
    assert expected_calibration_error([no_verdict]) is None


def test_claim_baselines_hand_computed() -> None:
    rows = _invented_claims()
    # words 4 5 6 8 10 7 5 12 -> median 6.5; supported: c1 c2 c3 c7
    # claim-in-evidence supported: c1 c2 c3 c5 c7 (c4 has no quotes, c6 says July, c8 no)
    assert baseline_predictions(rows) == {
        "claim_length": ["supported"] * 3 + ["unsupported"] * 3 + ["supported", "unsupported"],
        "claim_in_evidence": ["supported"] * 3 + ["unsupported", "supported", "unsupported",
                                                  "supported", "unsupported"],
    }
    base = claim_metrics(rows)["baselines"]
    length, in_ev = base["claim_length"], base["claim_in_evidence"]
    assert length["balanced_accuracy"] == pytest.approx((1 + 4 / 5) / 2)
    assert length["macro_f1"] == pytest.approx((6 / 7 + 0 + 2 / 6) / 3)
    assert in_ev["balanced_accuracy"] == pytest.approx((1 + 3 / 5) / 2)
    assert in_ev["macro_f1"] == pytest.approx((6 / 8 + 0 + 2 / 5) / 3)
    assert length["contradicted_recall"] == in_ev["contradicted_recall"] == 0.0
    for figures in (length, in_ev):
        lo, hi = figures["balanced_accuracy_ci"]
        assert 0.0 <= lo <= hi <= 1.0


def test_figures_per_perturbation() -> None:
    by = claim_metrics(_invented_claims())["by_perturbation"]
    assert list(by) == ["added_figure", "negation", "none", "number"]  # "" is left out
    assert by["number"] == pytest.approx({
        "n": 2, "accuracy_3way": 0.5, "predicted_supported": 0.0,
        "predicted_contradicted": 0.5, "predicted_unsupported": 0.5})
    assert by["negation"]["accuracy_3way"] == 0.0 and by["negation"]["predicted_supported"] == 1
    assert by["none"]["n"] == 2 and by["none"]["accuracy_3way"] == 1.0
    report = Report(backend="fake", claims=_invented_claims(),
                       claim_metrics=claim_metrics(_invented_claims()))
    table = summary_table(report)
    assert "by perturbation" in table and re.search(r"negation +1 +0\.000 +1\.000", table)


# ---- bootstrap intervals ------------------------------------------------------------------
def test_bootstrap_intervals() -> None:
    def mean(xs: Sequence[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    def never(xs: Sequence[float]) -> float | None:
        return None

    cis = bootstrap_cis([0.0, 1.0], {"mean": mean, "never": never})
    # resample means are 0, 0.5, 1 (1/4, 1/2, 1/4): the 2.5th/97.5th percentiles are 0 and 1
    assert cis == {"mean": [0.0, 1.0], "never": None}
    assert bootstrap_cis([0.7] * 5, {"mean": mean}) == {"mean": [pytest.approx(0.7)] * 2}
    assert bootstrap_cis([], {"mean": mean}) == {"mean": None}
    rows = [float(i % 3 == 0) for i in range(30)]
    first = bootstrap_cis(rows, {"mean": mean})
    assert first == bootstrap_cis(rows, {"mean": mean})  # fixed seed: the same interval
    lo, hi = first["mean"] or (0.0, 0.0)
    assert lo < 10 / 30 < hi
    cm = claim_metrics(_invented_claims())
    for key in ("balanced_accuracy", "macro_f1", "contradicted_recall", "accuracy_3way", "ece"):
        lo, hi = cm[f"{key}_ci"]
        assert lo <= hi, key
