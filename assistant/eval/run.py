"""Running an evaluation: ask every question, check every claim, score them.

``evaluate(assistant, load_items(path), backend="extractive") -> Report``; the CLI
(``assistant eval EVAL.jsonl [--corpus DIR ...] [--backend B] [--limit N] [--paraphrase]
[--out R.json]``) prints ``report.summary_table`` and writes ``Report.to_dict()`` as JSON.
With ``--corpus`` the articles go into a fresh temporary index (:func:`temporary_assistant`),
so an evaluation never touches the user's ``index/`` (nor a configured Chroma server).

The rules: key facts in :mod:`~assistant.eval.facts`, per-item scoring in
:mod:`~assistant.eval.score`, pooled metrics and intervals in :mod:`~assistant.eval.metrics`.

Compromises: a question or claim whose call raises an ``AssistantError`` is recorded with
its error and scored as wrong (the run continues); any other exception stops the run.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError
from assistant.eval.items import ClaimItem, Item, QuestionItem
from assistant.eval.metrics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    ECE_BINS,
    claim_metrics,
    latency,
    question_metrics,
)
from assistant.eval.report import Report
from assistant.eval.score import (
    RECALL_AT,
    ClaimResult,
    QuestionResult,
    duplicated,
    score_claim,
    score_question,
)
from assistant.models import Filters

logger = logging.getLogger(__name__)

__all__ = ["EvalProgress", "evaluate", "temporary_assistant"]


@dataclass(frozen=True)
class EvalProgress:
    """Reported after each item: ``done`` of ``total``, and the item id."""

    done: int
    total: int
    current: str = ""


# ---- running ----------------------------------------------------------------------------------
def _ask(
    assistant: Any, q: QuestionItem, backend: str | None, use_paraphrase: bool
) -> QuestionResult:
    text = q.paraphrase if use_paraphrase and q.paraphrase else q.question
    t0 = time.perf_counter()
    try:
        answer = assistant.ask(text, q.history, Filters(), backend)
    except AssistantError as exc:
        logger.exception("question %s failed", q.id)
        return QuestionResult(id=q.id, question=q.question, gold=q.answer, asked=text,
                              tags=list(q.tags), answerable=q.answerable,
                              error=f"{type(exc).__name__}: {exc}")
    res = score_question(q, answer, time.perf_counter() - t0)
    res.asked = text
    clusters = getattr(assistant, "clusters", None)
    res.sources_duplicated = duplicated(
        [s.chunk.article_id for s in answer.sources],
        getattr(clusters, "cluster_of", None) if clusters is not None else None,
    )
    return res


def _check(assistant: Any, c: ClaimItem) -> ClaimResult:
    t0 = time.perf_counter()
    try:
        check = assistant.check(c.claim)
    except AssistantError as exc:
        logger.exception("claim %s failed", c.id)
        return ClaimResult(id=c.id, claim=c.claim, label=c.label, perturbation=c.perturbation,
                           error=f"{type(exc).__name__}: {exc}")
    return score_claim(c, check, time.perf_counter() - t0)


def evaluate(
    assistant: Any,
    items: Sequence[Item],
    backend: str | None = None,
    limit: int | None = None,
    progress: Callable[[EvalProgress], None] | None = None,
    use_paraphrase: bool = False,
) -> Report:
    """Ask every question and check every claim; score them.

    ``assistant`` needs ``ask(question, history, filters, backend) -> Answer`` and
    ``check(text) -> CheckReport`` (the :class:`assistant.service.Assistant` API). ``limit``
    keeps the first N questions and the first N claims; ``use_paraphrase`` asks each
    question's ``paraphrase`` when it has one.
    """
    questions = [i for i in items if isinstance(i, QuestionItem)]
    claims = [i for i in items if isinstance(i, ClaimItem)]
    if limit is not None:
        questions, claims = questions[:limit], claims[:limit]
    total = len(questions) + len(claims)
    settings = getattr(assistant, "settings", None)
    report = Report(backend=backend or str(getattr(settings, "backend", "") or ""))
    started = time.perf_counter()
    for q in questions:
        res = _ask(assistant, q, backend, use_paraphrase)
        logger.info("question %s: correct=%s abstained=%s %.1fs", q.id, res.correct,
                    res.abstained, res.seconds)
        report.questions.append(res)
        if progress:
            progress(EvalProgress(len(report.questions), total, q.id))
    for c in claims:
        cres = _check(assistant, c)
        logger.info("claim %s: %s -> %s", c.id, c.label, cres.predicted)
        report.claims.append(cres)
        if progress:
            progress(EvalProgress(len(report.questions) + len(report.claims), total, c.id))
    report.question_metrics = question_metrics(report.questions)
    report.claim_metrics = claim_metrics(report.claims)
    report.latency = {"question": latency(report.questions), "claim": latency(report.claims)}
    report.meta = {
        "items": total,
        "seconds": time.perf_counter() - started,
        "recall_at": RECALL_AT,
        "paraphrase": use_paraphrase,
        "paraphrased": sum(1 for r in report.questions if r.asked != r.question),
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED,
                      "interval": [2.5, 97.5]},
        "ece_bins": ECE_BINS,
        "backends_used": sorted({r.backend for r in report.questions if r.backend}),
    }
    return report


@contextlib.contextmanager
def temporary_assistant(
    settings: Settings,
    corpus: Sequence[str],
    progress: Callable[[Any], None] | None = None,
    factory: Callable[[Settings], Any] | None = None,
) -> Iterator[Any]:
    """An Assistant over a fresh temporary index holding ``corpus`` (removed afterwards).

    The temporary settings are ``settings`` with ``index_dir`` in a temp dir and no Chroma
    server, so neither ``index/`` nor a shared server is touched.
    """
    if factory is None:
        from assistant.service import Assistant

        factory = Assistant
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        tmp_settings = settings.model_copy(
            update={"index_dir": Path(tmp) / "index", "chroma_host": None, "feedback_db": None}
        )
        assistant = factory(tmp_settings)
        result = assistant.ingest(list(corpus), progress=progress)
        if result.failed:
            failed = "; ".join(f"{o}: {r}" for o, r in result.failed)
            raise LoadError(", ".join(corpus), f"ingest failed: {failed}")
        if not (result.added or result.updated or result.unchanged):
            raise LoadError(", ".join(corpus), "no article found to evaluate against")
        yield assistant
