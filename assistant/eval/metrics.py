"""Pooled metrics over scored items, their bootstrap intervals, and the claim baselines.

``question_metrics(results)`` / ``claim_metrics(results)`` -> the report's metric dicts;
``latency(rows)`` -> median and p95 seconds per step. Undefined figures are ``None``.

Questions: ``recall_at_5`` and ``mrr`` over answerable items; ``answer_correct``,
``fact_recall`` (share of key facts present) and ``answer_ceiling`` (share of answerable
items whose key facts are all in the sources shown: what a perfect reader of those sources
could score); ``abstain_rate`` = unanswerable items abstained on, ``false_refusal_rate`` =
answerable items refused; ``citation_precision`` = precise pairs / pairs and
``citation_recall`` = backed sentences / sentences, pooled over the non-abstained answers
to answerable items; ``citation_marker_precision`` / ``_recall``; ``flagged_share`` over
all non-abstained answers; ``by_tag``: n, answer_correct, abstain_rate,
false_refusal_rate, recall_at_5 per tag.

Claims: ``balanced_accuracy`` of supported vs not (``(TPR + TNR) / 2``), ``accuracy_3way``,
the confusion matrix (gold rows, predicted columns); ``per_label`` precision = TP /
predicted, recall = TP / gold, F1 = 2 TP / (gold + predicted) (``contradicted_recall``
repeated at the top); ``macro_f1`` = mean F1 over the labels present in gold or predictions
(as scikit-learn). ``ece``: claims with a confidence (of the predicted label) fall into 10
equal-width bins [0, .1), ..., [.9, 1]; ECE = sum of n_bin / n * |accuracy_bin - mean
confidence_bin|, correct = 3-way match; ``reliability`` lists every bin. ``baselines``
(never predict contradicted): ``claim_length`` - supported when the claim has at most the
median word count of the evaluated claims; ``claim_in_evidence`` - supported when the
checker returned evidence quotes holding every content word of the claim.
``by_perturbation``: n, accuracy_3way and share predicted as each label.

Intervals: ``<metric>_ci`` = [2.5th, 97.5th] percentile, for the figures of
``QUESTION_HEADLINE``, ``CLAIM_HEADLINE`` and each baseline's balanced accuracy, over 1000
bootstrap resamples of the items (``random.Random(0)``; pooled figures recomputed per
resample); resamples where the metric is undefined are skipped. Latency: wall time per item
(errors left out) and each step the Assistant reports in ``timings``.

Compromise: with two articles in ``corpus/`` recall@5 is near 1 by construction; MRR is the
informative one.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from assistant.eval.facts import content
from assistant.eval.score import ClaimResult, QuestionResult
from assistant.models import LABELS

ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "ECE_BINS",
    "baseline_predictions",
    "bootstrap_cis",
    "claim_metrics",
    "expected_calibration_error",
    "latency",
    "percentile",
    "question_metrics",
]


# ---- aggregation ------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile: ``percentile([1, 2, 3, 4], 50) -> 2.5``."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency(
    rows: Sequence[QuestionResult] | Sequence[ClaimResult],
) -> dict[str, dict[str, float | int]]:
    series: dict[str, list[float]] = {"total": [r.seconds for r in rows if not r.error]}
    for r in rows:
        if r.error:
            continue
        for key, value in r.timings.items():
            name = key.removesuffix("_s")  # "retrieve_s" and "retrieve" are one step
            if name != "total":  # the wall time measured here is the total
                series.setdefault(name, []).append(float(value))
    return {
        key: {"n": len(v), "median_s": statistics.median(v), "p95_s": percentile(v, 95)}
        for key, v in series.items()
        if v
    }


# ---- bootstrap intervals ----------------------------------------------------------------------
T = TypeVar("T")


def bootstrap_cis(
    rows: Sequence[T],
    stats: Mapping[str, Callable[[Sequence[T]], float | None]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, list[float] | None]:
    """Percentile 95% interval of each statistic over bootstrap resamples of ``rows``.

    Every statistic sees the same resamples; one undefined (``None``) on a resample skips
    it; ``None`` when it is never defined.
    """
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {name: [] for name in stats}
    for _ in range(resamples if rows else 0):
        sample = rng.choices(rows, k=len(rows))
        for name, stat in stats.items():
            value = stat(sample)
            if value is not None:
                draws[name].append(value)
    return {
        name: [percentile(v, 2.5), percentile(v, 97.5)] if v else None
        for name, v in draws.items()
    }


def _with_cis(
    rows: Sequence[T], stats: Mapping[str, Callable[[Sequence[T]], float | None]]
) -> dict[str, float | list[float] | None]:
    """``{"m": value, "m_ci": [lo, hi], ...}`` for every statistic."""
    cis = bootstrap_cis(rows, stats)
    out: dict[str, float | list[float] | None] = {}
    for name, stat in stats.items():
        out[name] = stat(rows)
        out[f"{name}_ci"] = cis[name]
    return out


# ---- question metrics ---------------------------------------------------------------------------
def recall_at_5(rows: Sequence[QuestionResult]) -> float | None:
    return _mean([r.recall_at_5 for r in rows if r.answerable and r.recall_at_5 is not None])


def answer_correct(rows: Sequence[QuestionResult]) -> float | None:
    ans = [r for r in rows if r.answerable]
    return _ratio(sum(r.correct for r in ans), len(ans))


def answer_ceiling(rows: Sequence[QuestionResult]) -> float | None:
    """Share of answerable items whose key facts are all in the sources shown: what any
    reader of those sources could score at best under the answer rule."""
    ans = [r for r in rows if r.answerable]
    return _ratio(sum(r.facts_in_sources for r in ans), len(ans))


def abstain_rate(rows: Sequence[QuestionResult]) -> float | None:
    unans = [r for r in rows if not r.answerable]
    return _ratio(sum(r.abstained for r in unans), len(unans))


def false_refusal_rate(rows: Sequence[QuestionResult]) -> float | None:
    ans = [r for r in rows if r.answerable]
    return _ratio(sum(r.abstained for r in ans), len(ans))


def _answered(rows: Sequence[QuestionResult]) -> list[QuestionResult]:
    return [r for r in rows if r.answerable and not r.abstained]


def citation_precision(rows: Sequence[QuestionResult]) -> float | None:
    answered = _answered(rows)
    return _ratio(sum(r.pairs_precise for r in answered), sum(r.pairs for r in answered))


def citation_recall(rows: Sequence[QuestionResult]) -> float | None:
    answered = _answered(rows)
    return _ratio(sum(r.sentences_backed for r in answered), sum(r.sentences for r in answered))


QUESTION_HEADLINE: dict[str, Callable[[Sequence[QuestionResult]], float | None]] = {
    "recall_at_5": recall_at_5,
    "answer_correct": answer_correct,
    "answer_ceiling": answer_ceiling,
    "abstain_rate": abstain_rate,
    "false_refusal_rate": false_refusal_rate,
    "citation_precision": citation_precision,
    "citation_recall": citation_recall,
}


def _tag_figures(results: Sequence[QuestionResult]) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        rows = [r for r in results if tag in r.tags]
        out[tag] = {"n": len(rows), "answer_correct": answer_correct(rows),
                    "abstain_rate": abstain_rate(rows),
                    "false_refusal_rate": false_refusal_rate(rows),
                    "recall_at_5": recall_at_5(rows)}
    return out


def question_metrics(results: Sequence[QuestionResult]) -> dict[str, Any]:
    ans = [r for r in results if r.answerable]
    answered = _answered(results)
    spoken = [r for r in results if not r.abstained]
    facts_total = sum(len(r.key_facts) for r in answered)
    return {
        "n": len(results),
        "answerable": len(ans),
        "unanswerable": len(results) - len(ans),
        "errors": sum(1 for r in results if r.error),
        **_with_cis(results, QUESTION_HEADLINE),
        "mrr": _mean([r.reciprocal_rank for r in ans if r.reciprocal_rank is not None]),
        "fact_recall": _ratio(sum(len(r.facts_found) for r in answered), facts_total),
        "overall_correct": _ratio(sum(r.correct for r in results), len(results)),
        "citation_marker_precision": _ratio(sum(r.cited_precise for r in answered),
                                            sum(r.cited for r in answered)),
        "citation_marker_recall": _ratio(sum(r.sentences_cited for r in answered),
                                         sum(r.sentences for r in answered)),
        "flagged_share": _ratio(sum(r.sentences_flagged for r in spoken),
                                sum(r.sentences for r in spoken)),
        "by_tag": _tag_figures(results),
        **news_figures(results),
    }


def news_figures(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """``as_of_share``: non-abstained answers (without error) that state an "as of" date;
    ``duplicated_share``: questions (without error) whose top-6 sources hold two copies of
    one story. Each with its denominator."""
    spoken = [r for r in results if not r.abstained and not r.error]
    asked = [r for r in results if not r.error]
    return {
        "as_of_share": _ratio(sum(bool(r.as_of) for r in spoken), len(spoken)),
        "as_of_n": len(spoken),
        "duplicated_share": _ratio(sum(r.sources_duplicated for r in asked), len(asked)),
        "duplicated_n": len(asked),
    }


# ---- claim metrics ------------------------------------------------------------------------------
Pair = tuple[str, str]  # (gold label, predicted label)


def _pairs(results: Sequence[ClaimResult]) -> list[Pair]:
    return [(r.label, r.predicted) for r in results]


def balanced_accuracy(pairs: Sequence[Pair]) -> float | None:
    """``(TPR + TNR) / 2`` of supported vs not; ``None`` without both classes."""
    pos = [p for g, p in pairs if g == "supported"]
    neg = [p for g, p in pairs if g != "supported"]
    if not pos or not neg:
        return None
    tpr = sum(p == "supported" for p in pos) / len(pos)
    tnr = sum(p != "supported" for p in neg) / len(neg)
    return (tpr + tnr) / 2


def accuracy(pairs: Sequence[Pair]) -> float | None:
    return _ratio(sum(g == p for g, p in pairs), len(pairs))


def label_scores(pairs: Sequence[Pair], label: str) -> dict[str, float | int | None]:
    """``n`` (gold), ``predicted``, precision, recall and F1 of one label."""
    gold = sum(g == label for g, _ in pairs)
    pred = sum(p == label for _, p in pairs)
    tp = sum(g == p == label for g, p in pairs)
    return {"n": gold, "predicted": pred, "precision": _ratio(tp, pred),
            "recall": _ratio(tp, gold), "f1": _ratio(2 * tp, gold + pred)}


def macro_f1(pairs: Sequence[Pair]) -> float | None:
    f1s = [label_scores(pairs, lab)["f1"] for lab in LABELS]
    return _mean([float(f) for f in f1s if f is not None])


def contradicted_recall(pairs: Sequence[Pair]) -> float | None:
    recall = label_scores(pairs, "contradicted")["recall"]
    return None if recall is None else float(recall)


def reliability(results: Sequence[ClaimResult]) -> list[dict[str, Any]]:
    """Every confidence bin: its bounds, n, mean confidence and 3-way accuracy."""
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(ECE_BINS)]
    for r in results:
        if r.confidence is not None:
            i = min(int(max(r.confidence, 0.0) * ECE_BINS), ECE_BINS - 1)
            bins[i].append((r.confidence, r.predicted == r.label))
    return [
        {"bin": [i / ECE_BINS, (i + 1) / ECE_BINS], "n": len(b),
         "confidence": _mean([c for c, _ in b]), "accuracy": _mean([float(ok) for _, ok in b])}
        for i, b in enumerate(bins)
    ]


def expected_calibration_error(results: Sequence[ClaimResult]) -> float | None:
    bins = [b for b in reliability(results) if b["n"]]
    n = sum(b["n"] for b in bins)
    if not n:
        return None
    return sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins)


CLAIM_HEADLINE: dict[str, Callable[[Sequence[ClaimResult]], float | None]] = {
    "balanced_accuracy": lambda rows: balanced_accuracy(_pairs(rows)),
    "macro_f1": lambda rows: macro_f1(_pairs(rows)),
    "contradicted_recall": lambda rows: contradicted_recall(_pairs(rows)),
    "accuracy_3way": lambda rows: accuracy(_pairs(rows)),
    "ece": expected_calibration_error,
}


def _in_evidence(r: ClaimResult) -> bool:
    quoted = set().union(*(content(q) for q in r.evidence_quotes))
    return bool(r.evidence_quotes) and content(r.claim) <= quoted


def baseline_predictions(results: Sequence[ClaimResult]) -> dict[str, list[str]]:
    """The two trivial baselines' labels, one per claim (see the module docstring)."""
    words = [len(r.claim.split()) for r in results]
    median = statistics.median(words) if words else 0
    return {
        "claim_length": ["supported" if w <= median else "unsupported" for w in words],
        "claim_in_evidence": ["supported" if _in_evidence(r) else "unsupported"
                              for r in results],
    }


def _baseline_figures(pairs: Sequence[Pair]) -> dict[str, Any]:
    ba = {"balanced_accuracy": balanced_accuracy}
    return {**_with_cis(pairs, ba), "macro_f1": macro_f1(pairs),
            "contradicted_recall": contradicted_recall(pairs)}


def _perturbation_figures(results: Sequence[ClaimResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted({r.perturbation for r in results if r.perturbation}):
        pairs = _pairs([r for r in results if r.perturbation == kind])
        out[kind] = {"n": len(pairs), "accuracy_3way": accuracy(pairs)}
        for lab in LABELS:
            out[kind][f"predicted_{lab}"] = sum(p == lab for _, p in pairs) / len(pairs)
    return out


def claim_metrics(results: Sequence[ClaimResult]) -> dict[str, Any]:
    pairs = _pairs(results)
    confusion = {g: {p: 0 for p in LABELS} for g in LABELS}
    for gold, pred in pairs:
        confusion[gold][pred] += 1
    pos = [p for g, p in pairs if g == "supported"]
    neg = [p for g, p in pairs if g != "supported"]
    hits = [r.evidence_hit for r in results if r.evidence_hit is not None]
    baselines = {
        name: _baseline_figures([(r.label, p) for r, p in zip(results, preds, strict=True)])
        for name, preds in baseline_predictions(results).items()
    }
    return {
        "n": len(results),
        "errors": sum(1 for r in results if r.error),
        **_with_cis(results, CLAIM_HEADLINE),
        "supported_recall": _ratio(sum(p == "supported" for p in pos), len(pos)),
        "not_supported_recall": _ratio(sum(p != "supported" for p in neg), len(neg)),
        "per_label": {lab: label_scores(pairs, lab) for lab in LABELS},
        "confusion": confusion,
        "reliability": reliability(results),
        "evidence_hit": _ratio(sum(hits), len(hits)),
        "no_verdict": sum(1 for r in results if r.verdicts == 0),
        "baselines": baselines,
        "by_perturbation": _perturbation_figures(results),
    }
