"""The evaluation report: its record, its JSON form and the terminal summary.

``Report`` holds the per-item results and the pooled metrics; ``Report.to_dict()`` is the
JSON that ``assistant eval --out`` writes; ``summary_table(report)`` is the text the CLI
prints (one screen without tags and perturbations; ``-`` for an undefined figure, a
bootstrap interval in brackets where there is one).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.eval.metrics import ECE_BINS
from assistant.eval.score import ClaimResult, QuestionResult
from assistant.models import LABELS

__all__ = ["NEWS_TAGS", "Report", "summary_table"]

#: tags printed on their own lines under the headline figures (time-aware answers)
NEWS_TAGS = ("latest", "conflicting-sources")


@dataclass
class Report:
    """Metrics plus per-item results; ``to_dict()`` is the JSON report."""

    backend: str
    questions: list[QuestionResult] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)
    question_metrics: dict[str, Any] = field(default_factory=dict)
    claim_metrics: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, dict[str, dict[str, float | int]]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "backend": self.backend,
            "question_metrics": self.question_metrics,
            "claim_metrics": self.claim_metrics,
            "latency": self.latency,
            "questions": [asdict(q) for q in self.questions],
            "claims": [asdict(c) for c in self.claims],
        }


# ---- the terminal summary ---------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _ci(metrics: dict[str, Any], key: str) -> str:
    """``0.810 [0.740, 0.880]``; just the value when there is no interval."""
    ci = metrics.get(f"{key}_ci")
    value = _fmt(metrics.get(key))
    return f"{value} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else value


def _question_lines(qm: dict[str, Any], paraphrase: bool) -> list[str]:
    asked = "   (asked: paraphrases)" if paraphrase else ""
    lines = [
        f"QUESTIONS  n={qm['n']} (answerable {qm['answerable']}, unanswerable "
        f"{qm['unanswerable']}, errors {qm['errors']}){asked}",
        f"  recall@5            {_ci(qm, 'recall_at_5'):<22}   MRR                 "
        f"{_fmt(qm['mrr'])}",
        f"  answer correct      {_ci(qm, 'answer_correct'):<22}   key-fact recall     "
        f"{_fmt(qm['fact_recall'])}",
        f"  facts in sources    {_ci(qm, 'answer_ceiling'):<22}   (the ceiling of answer correct)",
        f"  abstain (no answer) {_ci(qm, 'abstain_rate'):<22}   false refusal       "
        f"{_ci(qm, 'false_refusal_rate')}",
        f"  citation precision  {_ci(qm, 'citation_precision'):<22}   citation recall     "
        f"{_ci(qm, 'citation_recall')}",
        f"  marker precision    {_fmt(qm['citation_marker_precision']):<22}   marker recall"
        f"       {_fmt(qm['citation_marker_recall'])}",
        f"  sentences flagged   {_fmt(qm['flagged_share']):<22}   overall correct     "
        f"{_fmt(qm['overall_correct'])}",
    ]
    if "as_of_share" in qm:
        lines.append(
            f"  states 'as of'      {_fmt(qm['as_of_share']):<22}   (of {qm['as_of_n']} answers"
            f" given)"
        )
        lines.append(
            f"  top-6 copies        {_fmt(qm['duplicated_share']):<22}   (of {qm['duplicated_n']}"
            " questions: two copies of one story among the sources)"
        )
    for tag in NEWS_TAGS:
        f = (qm.get("by_tag") or {}).get(tag)
        if f:
            lines.append(
                f"  tag {tag:<20} n={f['n']:<4} correct {_fmt(f['answer_correct'])}   "
                f"abstain {_fmt(f['abstain_rate'])}   R@5 {_fmt(f['recall_at_5'])}"
            )
    if qm.get("by_tag"):
        lines += ["", "  by tag                   n  correct  abstain  false-ref   R@5"]
        for tag, f in qm["by_tag"].items():
            lines.append(
                f"  {tag:<20} {f['n']:>5} {_fmt(f['answer_correct']):>8} "
                f"{_fmt(f['abstain_rate']):>8} {_fmt(f['false_refusal_rate']):>10} "
                f"{_fmt(f['recall_at_5']):>5}"
            )
    return lines


def _claim_lines(cm: dict[str, Any]) -> list[str]:
    base = cm.get("baselines") or {}
    length, in_ev = base.get("claim_length", {}), base.get("claim_in_evidence", {})
    lines = [
        f"CLAIMS  n={cm['n']} (errors {cm['errors']}, no verdict {cm['no_verdict']})",
        "                      checker                  baseline: length         "
        "baseline: in evidence",
    ]
    for key, name in (("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
                      ("contradicted_recall", "contradicted recall")):
        lines.append(f"  {name:<19} {_ci(cm, key):<24} {_ci(length, key):<24} "
                     f"{_ci(in_ev, key)}".rstrip())
    lines += [
        f"  3-way accuracy      {_ci(cm, 'accuracy_3way'):<24} ECE ({ECE_BINS} bins) "
        f"{_ci(cm, 'ece')}",
        f"  evidence hit        {_fmt(cm['evidence_hit'])}",
        "  gold \\ predicted    supported  contradicted  unsupported",
    ]
    for gold in LABELS:
        row = cm["confusion"][gold]
        lines.append(
            f"  {gold:<18} {row['supported']:>10} {row['contradicted']:>13} "
            f"{row['unsupported']:>12}"
        )
    if cm.get("by_perturbation"):
        lines += ["", "  by perturbation          n  acc-3way  ->supp  ->contra  ->unsupp"]
        for kind, f in cm["by_perturbation"].items():
            lines.append(
                f"  {kind:<20} {f['n']:>5} {_fmt(f['accuracy_3way']):>9} "
                f"{_fmt(f['predicted_supported']):>7} {_fmt(f['predicted_contradicted']):>9} "
                f"{_fmt(f['predicted_unsupported']):>9}"
            )
    return lines


def _latency_lines(report: Report) -> list[str]:
    lines: list[str] = []
    for kind in ("question", "claim"):
        lat = report.latency.get(kind) or {}
        if not lat:
            continue
        lines += ["", f"LATENCY per {kind} (s)      median      p95"]
        order = ["total", "retrieve", "generate", "verify"]
        keys = [k for k in order if k in lat] + sorted(k for k in lat if k not in order)
        for key in keys:
            lines.append(f"  {key:<22} {lat[key]['median_s']:>8.2f} {lat[key]['p95_s']:>8.2f}")
    return lines


def summary_table(report: Report) -> str:
    """A text summary of the report (one screen without tags and perturbations)."""
    qm, cm = report.question_metrics, report.claim_metrics
    lines = [f"backend: {report.backend or '-'}   items: {report.meta.get('items', '-')}   "
             f"time: {report.meta.get('seconds', 0):.0f} s"]
    if qm.get("n"):
        lines += ["", *_question_lines(qm, bool(report.meta.get("paraphrase")))]
    if cm.get("n"):
        lines += ["", *_claim_lines(cm)]
    return "\n".join(lines + _latency_lines(report))
