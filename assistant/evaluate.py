"""Evaluation harness: run an evaluation JSONL file through the Assistant and score it.

``evaluate(assistant, load_items(path), backend="extractive") -> Report``; the CLI
(``assistant eval EVAL.jsonl [--corpus DIR ...] [--backend B] [--limit N] [--out R.json]``)
prints :func:`summary_table` and writes ``Report.to_dict()`` as JSON. With ``--corpus`` the
articles are ingested into a fresh temporary index (:func:`temporary_assistant`), so an
evaluation never touches the user's ``index/`` (nor a configured Chroma server).

Input: the evaluation format of the design (one JSON object per line):

- ``{"kind": "question", "id", "question", "answer", "supporting_article_ids": [...],
  "supporting_quotes": [{"article_id", "quote"}]}``; an unanswerable question has
  ``"answer": "not in the sources"`` and no supporting ids. Optional fields:
  ``"history": [{"role": "user"|"assistant", "text": ...}, ...]`` - the earlier turns of a
  conversation, for follow-up questions (passed to ``Assistant.ask`` as ``Turn`` records);
  ``"key_facts": [...]`` - overrides the automatic key-fact extraction below.
- ``{"kind": "claim", "id", "claim", "label": "supported|contradicted|unsupported",
  "article_id", "evidence_quote"}``; ``article_id`` / ``evidence_quote`` may be empty for a
  claim that no article mentions.

Question metrics (answerable = gold answer is not "not in the sources"):

- Recall@5 / MRR: the ranked article ids are the articles of ``Answer.sources`` in source
  order (first occurrence); Recall@5 = share of the supporting articles among the first 5,
  MRR = 1 / rank of the first supporting article (0 if none). Answerable items only.
- Answer correctness - THE RULE: the gold answer's key facts must ALL be present in the
  answer text. Key facts are (1) every quantity found by ``verify.numbers.quantities``
  (``3,000 tonnes`` = ``3,000-tonne`` = ``3000 t``; ``RM800 billion`` = ``RM 800bn``): the
  answer must hold a quantity of a compatible unit and the same value within the gold's
  written precision; (2) every name: a capitalised word that is not a sentence opener such
  as "The", "Over", "Near" (month names count as names, so dates are covered by (1) and
  (2)); it must appear in the answer as a word, case-insensitively, after Unicode NFKC,
  ASCII quotes and dashes, possessive ``'s`` dropped; hyphens count as spaces. (3) Only when
  the gold answer has neither: its content words (``verify.numbers.content_words``:
  stop words out, crude stemming) must all appear among the answer's content words. An
  item's ``key_facts`` list replaces (1)-(3) with those phrases, each matched by the same
  rules. ``fact_recall`` (share of key facts present) is reported beside the strict rate.
  Unanswerable items are correct when the answer abstains (``Answer.abstained``).
- Abstention: ``abstain_rate`` = share of unanswerable items answered with a does-not-say
  answer; ``false_refusal_rate`` = share of answerable items refused.
- Citation precision: over the cited source numbers of non-abstained answerable answers
  (every ``[n]`` of every sentence, plus ``Answer.invalid_citations``), the share whose
  passage holds a supporting quote (normalised substring, either way round when a chunk
  boundary cuts the quote) or one of the gold answer's key facts. A number that names no
  source counts as imprecise.
- Citation recall: share of answer sentences (``Answer.claims``) that carry at least one
  valid citation (names an existing source; and, when verified, ``Verdict.cited_ok``).
- Flagged: share of answer sentences whose verdict is not ``supported`` (non-abstained
  answers, answerable and not).

Claim metrics (``Assistant.check(claim)``; the first check-worthy claim's verdict is the
prediction, none -> ``unsupported``): balanced accuracy of supported vs not
(``(TPR + TNR) / 2``), the 3-way confusion matrix (gold rows, predicted columns), and
evidence hit: over supported and contradicted items with an article id, the share whose
returned evidence (``evidence`` + ``conflicting``) includes a passage of that article.

Latency: wall time per question (``ask``) and per claim (``check``), median and p95, and
the same for each step the Assistant reports in ``timings`` (retrieve / generate / verify).

Compromises: answer correctness is lexical - a correct paraphrase without the number or
the name fails, and an answer that names the fact while saying something else passes; the
opener list deciding whether a sentence's first word is a name is a list. With two
articles in ``corpus/`` Recall@5 is near 1 by construction; MRR is the informative one.
A question whose ``ask`` raises an ``AssistantError`` is recorded with its error and scored
as wrong (the run continues); any other exception stops the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError
from assistant.models import LABELS, Answer, CheckReport, Turn, Verdict
from assistant.verify.numbers import (
    Quantity,
    content_words,
    quantities,
    units_compatible,
    values_close,
)

logger = logging.getLogger(__name__)

NOT_IN_SOURCES = "not in the sources"
RECALL_AT = 5

__all__ = [
    "ClaimItem",
    "ClaimResult",
    "EvalProgress",
    "QuestionItem",
    "QuestionResult",
    "Report",
    "evaluate",
    "key_facts",
    "load_items",
    "normalize",
    "summary_table",
    "temporary_assistant",
]


# ---- items ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quote:
    article_id: str
    quote: str


@dataclass(frozen=True)
class QuestionItem:
    id: str
    question: str
    answer: str
    supporting_article_ids: tuple[str, ...] = ()
    supporting_quotes: tuple[Quote, ...] = ()
    history: tuple[Turn, ...] = ()
    key_facts: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return normalize(self.answer).strip(" .") != NOT_IN_SOURCES


@dataclass(frozen=True)
class ClaimItem:
    id: str
    claim: str
    label: str
    article_id: str = ""
    evidence_quote: str = ""


Item = QuestionItem | ClaimItem


def parse_item(obj: dict[str, Any]) -> Item:
    """One JSON object -> an item; ``ValueError`` when a required field is missing/wrong."""
    kind = obj.get("kind")
    if kind == "question":
        history = tuple(Turn(str(t["role"]), str(t["text"])) for t in obj.get("history") or ())
        for t in history:
            if t.role not in ("user", "assistant"):
                raise ValueError(f"history role must be user or assistant, not {t.role!r}")
        return QuestionItem(
            id=str(obj["id"]),
            question=str(obj["question"]),
            answer=str(obj["answer"]),
            supporting_article_ids=tuple(str(a) for a in obj.get("supporting_article_ids") or ()),
            supporting_quotes=tuple(
                Quote(str(q["article_id"]), str(q["quote"]))
                for q in obj.get("supporting_quotes") or ()
            ),
            history=history,
            key_facts=tuple(str(f) for f in obj.get("key_facts") or ()),
        )
    if kind == "claim":
        label = str(obj["label"])
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        return ClaimItem(
            id=str(obj["id"]),
            claim=str(obj["claim"]),
            label=label,
            article_id=str(obj.get("article_id") or ""),
            evidence_quote=str(obj.get("evidence_quote") or ""),
        )
    raise ValueError(f"kind must be 'question' or 'claim', not {kind!r}")


def load_items(path: Path) -> list[Item]:
    """Items of an evaluation JSONL file; ``LoadError`` names the file and line of a bad one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LoadError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    items: list[Item] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = parse_item(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(f"{path}:{n}", f"bad evaluation item: {exc}") from exc
        if item.id in seen:
            raise LoadError(f"{path}:{n}", f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


# ---- normalisation and key facts ---------------------------------------------------------
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " "})
_WORDS = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_CAP = re.compile(r"\b[A-Z][A-Za-z0-9&'\-]*[A-Za-z0-9]|\b[A-Z]\b")
_OPENERS = frozenset(
    """
    a an the this that these those it its there here he she they we i you yes no not none
    over under about around near nearly almost only some more less most both either each
    in on at by for from with into of to as since after before during between
    consider yesterday today tomorrow foreign prime
    """.split()
)


def _ascii(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).split())


def normalize(text: str) -> str:
    """``normalize("Lynas’s  3,000–tonne") -> "lynas's 3,000-tonne"`` (NFKC, ASCII quotes and
    dashes, lower case, single spaces)."""
    return _ascii(text).lower()


def _words(text: str) -> list[str]:
    """``_words("Lynas's China-plus-one") -> ["lynas", "china", "plus", "one"]``."""
    text = re.sub(r"'s\b", "", normalize(text))
    return _WORDS.findall(text.replace("-", " "))


def _has_phrase(text_words: list[str], phrase: str) -> bool:
    want = _words(phrase)
    if not want:
        return True
    n = len(want)
    return any(text_words[i : i + n] == want for i in range(len(text_words) - n + 1))


def _names(text: str) -> list[str]:
    """Capitalised words that are names: ``_names("Near the Kuantan plant of Lynas.")
    -> ["Kuantan", "Lynas"]``."""
    out = []
    for m in _CAP.finditer(text):
        word = re.sub(r"'s$", "", m.group(0))
        if any(ch.isdigit() for ch in word):  # "RM800", "Q3": numbers handle them
            continue
        if word.lower() in _OPENERS:
            continue
        out.append(word)
    return out


@dataclass(frozen=True)
class KeyFact:
    """One fact of a gold answer: a quantity, a name, a content word, or a given phrase."""

    kind: str  # "quantity" | "name" | "word" | "phrase"
    text: str

    def found_in(self, text: str) -> bool:
        if self.kind == "quantity":
            gold = quantities(self.text)
            have = quantities(_ascii(text))
            return bool(gold) and all(
                any(_same_quantity(g, h) for h in have) for g in gold
            )
        if self.kind == "word":
            return self.text in content_words(normalize(text).replace("-", " "))
        return _has_phrase(_words(text), self.text)


def _same_quantity(gold: Quantity, have: Quantity) -> bool:
    return units_compatible(gold, have) and values_close(gold, have) and (
        not gold.unit or gold.unit == have.unit or gold.kind in ("year", "date")
    )


def key_facts(answer: str, given: Sequence[str] = ()) -> list[KeyFact]:
    """The facts an answer must hold (see the module docstring for the rule).

    ``key_facts("3,000 tonnes, built by Lynas in July.")
    -> [KeyFact("quantity", "3,000 tonnes"), KeyFact("name", "Lynas"), KeyFact("name", "July")]``
    """
    if given:
        facts = []
        for phrase in given:
            kind = "quantity" if quantities(phrase) and not _names(phrase) else "phrase"
            facts.append(KeyFact(kind, phrase))
        return facts
    facts = [KeyFact("quantity", q.text) for q in quantities(answer)]
    facts += [KeyFact("name", n) for n in dict.fromkeys(_names(answer))]
    if not facts:
        words = content_words(normalize(answer).replace("-", " "))
        facts = [KeyFact("word", w) for w in sorted(words)]
    return facts


# ---- results ------------------------------------------------------------------------------
@dataclass
class QuestionResult:
    id: str
    question: str
    gold: str
    answer: str = ""
    answerable: bool = True
    abstained: bool = False
    correct: bool = False
    key_facts: list[str] = field(default_factory=list)
    facts_found: list[str] = field(default_factory=list)
    ranked_articles: list[str] = field(default_factory=list)
    recall_at_5: float | None = None
    reciprocal_rank: float | None = None
    sentences: int = 0
    sentences_cited: int = 0  # with at least one valid citation
    sentences_flagged: int = 0  # verdict present and not "supported"
    cited: int = 0  # cited source numbers (valid or not)
    cited_precise: int = 0  # of those, passages holding a supporting quote or a key fact
    backend: str = ""
    notice: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass
class ClaimResult:
    id: str
    claim: str
    label: str
    predicted: str = "unsupported"
    verdicts: int = 0  # how many check-worthy claims the checker found in the text
    confidence: float | None = None
    method: str = ""
    evidence_articles: list[str] = field(default_factory=list)
    evidence_hit: bool | None = None  # None: not applicable (no article expected)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class EvalProgress:
    """Reported after each item: ``done`` of ``total``, and the item id."""

    done: int
    total: int
    current: str = ""


@dataclass
class Report:
    """Metrics plus per-item results; ``to_dict()`` is the JSON report."""

    backend: str
    questions: list[QuestionResult] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)
    question_metrics: dict[str, float | int | None] = field(default_factory=dict)
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


# ---- scoring one question -------------------------------------------------------------------
def _ranked_articles(answer: Answer) -> list[str]:
    return list(dict.fromkeys(s.chunk.article_id for s in answer.sources))


def _passage_holds(passage: str, item: QuestionItem, facts: Sequence[KeyFact]) -> bool:
    norm_passage = normalize(passage)
    for q in item.supporting_quotes:
        nq = normalize(q.quote)
        if nq and (nq in norm_passage or (len(norm_passage) > 40 and norm_passage in nq)):
            return True
    return any(f.kind != "word" and f.found_in(passage) for f in facts)


def _valid_citation(n: int, answer: Answer) -> bool:
    return 1 <= n <= len(answer.sources)


def score_question(item: QuestionItem, answer: Answer, seconds: float) -> QuestionResult:
    """Score one Answer against its gold item (pure: no model calls)."""
    res = QuestionResult(
        id=item.id,
        question=item.question,
        gold=item.answer,
        answer=answer.text,
        answerable=item.answerable,
        abstained=bool(answer.abstained),
        backend=answer.backend,
        notice=answer.notice,
        seconds=seconds,
        timings={k: float(v) for k, v in answer.timings.items()},
    )
    res.ranked_articles = _ranked_articles(answer)
    if not answer.abstained:
        res.sentences = len(answer.claims)
        for claim in answer.claims:
            valid = [n for n in claim.citations if _valid_citation(n, answer)]
            ok = claim.verdict is None or claim.verdict.cited_ok
            if valid and ok:
                res.sentences_cited += 1
            if claim.verdict is not None and claim.verdict.label != "supported":
                res.sentences_flagged += 1
    if not item.answerable:
        res.correct = res.abstained
        return res
    facts = key_facts(item.answer, item.key_facts)
    res.key_facts = [f.text for f in facts]
    if not answer.abstained:
        res.facts_found = [f.text for f in facts if f.found_in(answer.text)]
        res.correct = bool(facts) and len(res.facts_found) == len(facts)
        cited = sorted({n for c in answer.claims for n in c.citations})
        cited += [n for n in answer.invalid_citations if n not in cited]
        res.cited = len(cited)
        res.cited_precise = sum(
            1
            for n in cited
            if _valid_citation(n, answer)
            and _passage_holds(answer.sources[n - 1].chunk.text, item, facts)
        )
    wanted = set(item.supporting_article_ids)
    if wanted:
        top = res.ranked_articles[:RECALL_AT]
        res.recall_at_5 = len(wanted & set(top)) / len(wanted)
        rank = next((i for i, a in enumerate(res.ranked_articles, 1) if a in wanted), None)
        res.reciprocal_rank = 1.0 / rank if rank else 0.0
    return res


# ---- scoring one claim ------------------------------------------------------------------------
def _verdict_articles(verdict: Verdict) -> list[str]:
    return list(dict.fromkeys(e.article_id for e in (*verdict.evidence, *verdict.conflicting)))


def score_claim(item: ClaimItem, report: CheckReport, seconds: float) -> ClaimResult:
    res = ClaimResult(
        id=item.id,
        claim=item.claim,
        label=item.label,
        seconds=seconds,
        timings={k: float(v) for k, v in report.timings.items()},
    )
    verdicts = [c.verdict for c in report.claims if c.verdict is not None]
    res.verdicts = len(verdicts)
    if verdicts:
        v = verdicts[0]
        res.predicted = v.label if v.label in LABELS else "unsupported"
        res.confidence = float(v.confidence)
        res.method = v.method
        res.evidence_articles = _verdict_articles(v)
    if item.article_id and item.label in ("supported", "contradicted"):
        res.evidence_hit = item.article_id in res.evidence_articles
    return res


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


def _latency(
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


def question_metrics(results: Sequence[QuestionResult]) -> dict[str, float | int | None]:
    ans = [r for r in results if r.answerable]
    unans = [r for r in results if not r.answerable]
    answered = [r for r in ans if not r.abstained]
    spoken = [r for r in results if not r.abstained]
    facts_total = sum(len(r.key_facts) for r in answered)
    return {
        "n": len(results),
        "answerable": len(ans),
        "unanswerable": len(unans),
        "errors": sum(1 for r in results if r.error),
        "recall_at_5": _mean([r.recall_at_5 for r in ans if r.recall_at_5 is not None]),
        "mrr": _mean([r.reciprocal_rank for r in ans if r.reciprocal_rank is not None]),
        "answer_correct": _ratio(sum(r.correct for r in ans), len(ans)),
        "fact_recall": _ratio(sum(len(r.facts_found) for r in answered), facts_total),
        "overall_correct": _ratio(sum(r.correct for r in results), len(results)),
        "abstain_rate": _ratio(sum(r.abstained for r in unans), len(unans)),
        "false_refusal_rate": _ratio(sum(r.abstained for r in ans), len(ans)),
        "citation_precision": _ratio(sum(r.cited_precise for r in answered),
                                     sum(r.cited for r in answered)),
        "citation_recall": _ratio(sum(r.sentences_cited for r in answered),
                                  sum(r.sentences for r in answered)),
        "flagged_share": _ratio(sum(r.sentences_flagged for r in spoken),
                                sum(r.sentences for r in spoken)),
    }


def claim_metrics(results: Sequence[ClaimResult]) -> dict[str, Any]:
    confusion = {g: {p: 0 for p in LABELS} for g in LABELS}
    for r in results:
        confusion[r.label][r.predicted] += 1
    pos = [r for r in results if r.label == "supported"]
    neg = [r for r in results if r.label != "supported"]
    tpr = _ratio(sum(r.predicted == "supported" for r in pos), len(pos))
    tnr = _ratio(sum(r.predicted != "supported" for r in neg), len(neg))
    hits = [r.evidence_hit for r in results if r.evidence_hit is not None]
    return {
        "n": len(results),
        "errors": sum(1 for r in results if r.error),
        "balanced_accuracy": (tpr + tnr) / 2 if tpr is not None and tnr is not None else None,
        "supported_recall": tpr,
        "not_supported_recall": tnr,
        "accuracy_3way": _ratio(sum(r.predicted == r.label for r in results), len(results)),
        "confusion": confusion,
        "evidence_hit": _ratio(sum(hits), len(hits)),
        "no_verdict": sum(1 for r in results if r.verdicts == 0),
    }


# ---- running ----------------------------------------------------------------------------------
def evaluate(
    assistant: Any,
    items: Sequence[Item],
    backend: str | None = None,
    limit: int | None = None,
    progress: Callable[[EvalProgress], None] | None = None,
) -> Report:
    """Ask every question and check every claim; score them.

    ``assistant`` needs ``ask(question, history, filters, backend) -> Answer`` and
    ``check(text) -> CheckReport`` (the :class:`assistant.service.Assistant` API). ``limit``
    keeps the first N questions and the first N claims.
    """
    from assistant.models import Filters

    questions = [i for i in items if isinstance(i, QuestionItem)]
    claims = [i for i in items if isinstance(i, ClaimItem)]
    if limit is not None:
        questions, claims = questions[:limit], claims[:limit]
    total = len(questions) + len(claims)
    settings = getattr(assistant, "settings", None)
    name = backend or str(getattr(settings, "backend", "") or "")
    report = Report(backend=name)
    done = 0
    started = time.perf_counter()
    for q in questions:
        t0 = time.perf_counter()
        try:
            answer = assistant.ask(q.question, q.history, Filters(), backend)
        except AssistantError as exc:
            logger.exception("question %s failed", q.id)
            res = QuestionResult(id=q.id, question=q.question, gold=q.answer,
                                 answerable=q.answerable, error=f"{type(exc).__name__}: {exc}")
        else:
            res = score_question(q, answer, time.perf_counter() - t0)
        logger.info("question %s: correct=%s abstained=%s %.1fs", q.id, res.correct,
                    res.abstained, res.seconds)
        report.questions.append(res)
        done += 1
        if progress:
            progress(EvalProgress(done, total, q.id))
    for c in claims:
        t0 = time.perf_counter()
        try:
            check = assistant.check(c.claim)
        except AssistantError as exc:
            logger.exception("claim %s failed", c.id)
            cres = ClaimResult(id=c.id, claim=c.claim, label=c.label,
                               error=f"{type(exc).__name__}: {exc}")
        else:
            cres = score_claim(c, check, time.perf_counter() - t0)
        logger.info("claim %s: %s -> %s", c.id, c.label, cres.predicted)
        report.claims.append(cres)
        done += 1
        if progress:
            progress(EvalProgress(done, total, c.id))
    report.question_metrics = question_metrics(report.questions)
    report.claim_metrics = claim_metrics(report.claims)
    report.latency = {"question": _latency(report.questions), "claim": _latency(report.claims)}
    report.meta = {
        "items": total,
        "seconds": time.perf_counter() - started,
        "recall_at": RECALL_AT,
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


# ---- the terminal summary ---------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def summary_table(report: Report) -> str:
    """A one-screen text summary of the report."""
    qm, cm = report.question_metrics, report.claim_metrics
    lines = [f"backend: {report.backend or '-'}   items: {report.meta.get('items', '-')}   "
             f"time: {report.meta.get('seconds', 0):.0f} s"]
    if qm.get("n"):
        lines += [
            "",
            f"QUESTIONS  n={qm['n']} (answerable {qm['answerable']}, unanswerable "
            f"{qm['unanswerable']}, errors {qm['errors']})",
            f"  recall@5            {_fmt(qm['recall_at_5']):>7}   MRR                 "
            f"{_fmt(qm['mrr']):>7}",
            f"  answer correct      {_fmt(qm['answer_correct']):>7}   key-fact recall     "
            f"{_fmt(qm['fact_recall']):>7}",
            f"  abstain (no answer) {_fmt(qm['abstain_rate']):>7}   false refusal       "
            f"{_fmt(qm['false_refusal_rate']):>7}",
            f"  citation precision  {_fmt(qm['citation_precision']):>7}   citation recall     "
            f"{_fmt(qm['citation_recall']):>7}",
            f"  sentences flagged   {_fmt(qm['flagged_share']):>7}   overall correct     "
            f"{_fmt(qm['overall_correct']):>7}",
        ]
    if cm.get("n"):
        lines += [
            "",
            f"CLAIMS  n={cm['n']} (errors {cm['errors']}, no verdict {cm['no_verdict']})",
            f"  balanced accuracy   {_fmt(cm['balanced_accuracy']):>7}   3-way accuracy      "
            f"{_fmt(cm['accuracy_3way']):>7}",
            f"  evidence hit        {_fmt(cm['evidence_hit']):>7}",
            "  gold \\ predicted    supported  contradicted  unsupported",
        ]
        for gold in LABELS:
            row = cm["confusion"][gold]
            lines.append(
                f"  {gold:<18} {row['supported']:>10} {row['contradicted']:>13} "
                f"{row['unsupported']:>12}"
            )
    for kind in ("question", "claim"):
        lat = report.latency.get(kind) or {}
        if not lat:
            continue
        lines += ["", f"LATENCY per {kind} (s)      median      p95"]
        order = ["total", "retrieve", "generate", "verify"]
        keys = [k for k in order if k in lat] + sorted(k for k in lat if k not in order)
        for key in keys:
            lines.append(f"  {key:<22} {lat[key]['median_s']:>8.2f} {lat[key]['p95_s']:>8.2f}")
    return "\n".join(lines)
