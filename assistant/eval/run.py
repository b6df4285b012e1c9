"""Evaluation harness: run an evaluation JSONL file through the Assistant and score it.

``evaluate(assistant, load_items(path), backend="extractive") -> Report``; the CLI
(``assistant eval EVAL.jsonl [--corpus DIR ...] [--backend B] [--limit N] [--paraphrase]
[--out R.json]``) prints :func:`summary_table` and writes ``Report.to_dict()`` as JSON. With
``--corpus`` the articles are ingested into a fresh temporary index
(:func:`temporary_assistant`), so an evaluation never touches the user's ``index/`` (nor a
configured Chroma server).

Input: the evaluation format of the design (one JSON object per line):

- ``{"kind": "question", "id", "question", "answer", "supporting_article_ids": [...],
  "supporting_quotes": [{"article_id", "quote"}]}``; an unanswerable question has
  ``"answer": "not in the sources"`` and no supporting ids. Optional fields:
  ``"history": [{"role": "user"|"assistant", "text": ...}, ...]`` - the earlier turns of a
  conversation, for follow-up questions (passed to ``Assistant.ask`` as ``Turn`` records);
  ``"key_facts": [...]`` - overrides the automatic key-fact extraction below;
  ``"tags": [...]`` - figures per tag; ``"paraphrase"`` - asked instead of ``question``
  under ``use_paraphrase`` / ``--paraphrase`` (items without one ask ``question``);
  ``"note"`` - kept, not scored.
- ``{"kind": "claim", "id", "claim", "label": "supported|contradicted|unsupported",
  "article_id", "evidence_quote"}``; ``article_id`` / ``evidence_quote`` may be empty for a
  claim that no article mentions. Optional: ``"perturbation"`` - how the claim was made
  from its source (``number``, ``entity_swap``, ``negation``, ``none``, ...; figures per
  perturbation); ``"note"`` - kept, not scored.

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
  rules. ``fact_recall`` (share of key facts present) is reported beside the strict rate,
  and ``answer_ceiling``: the share of answerable items whose key facts are all somewhere
  in the sources the answer shows (what a perfect reader of those sources could score).
  Unanswerable items are correct when the answer abstains (``Answer.abstained``).
- Abstention: ``abstain_rate`` = share of unanswerable items answered with a does-not-say
  answer; ``false_refusal_rate`` = share of answerable items refused.
- Citation precision (ALCE-style, per pair): over the non-abstained answers to answerable
  items, each (answer sentence, distinct source number it cites) is one pair, and each
  ``Answer.invalid_citations`` number that no sentence cites is one more, imprecise, pair.
  A pair is precise when (a) the cited passage holds a gold supporting quote (normalised
  substring, either way round when a chunk boundary cuts the quote) and the sentence
  (``[n]`` markers dropped) shares with that quote or with the passage a quantity or name
  of ``key_facts(gold answer)``, or at least half of its content words; or, for an item
  without gold quotes only, (b) the sentence's verdict is ``supported`` and one of its
  ``evidence`` records has that ``source_number``. ``citation_precision`` = precise pairs /
  pairs, pooled over questions.
- Citation recall: share of those answers' sentences with at least one precise pair.
- ``citation_marker_precision`` / ``citation_marker_recall`` (the marker rule): over the
  distinct source numbers an answer cites (plus its invalid ones), the share whose passage
  holds a supporting quote or a non-word key fact; share of sentences carrying a valid
  ``[n]`` (and, when verified, ``Verdict.cited_ok``).
- Flagged: share of answer sentences whose verdict is not ``supported`` (non-abstained
  answers, answerable and not).
- ``by_tag``: per tag, n, answer_correct, abstain_rate, false_refusal_rate and
  recall_at_5 over the items carrying that tag (each rule as above).

Claim metrics (``Assistant.check(claim)``; the first check-worthy claim's verdict is the
prediction, none -> ``unsupported`` without a confidence):

- Balanced accuracy of supported vs not (``(TPR + TNR) / 2``), ``accuracy_3way``, the 3-way
  confusion matrix (gold rows, predicted columns).
- ``per_label``: precision = TP / predicted as the label, recall = TP / gold label
  (``contradicted_recall`` is repeated at the top), F1 = 2 TP / (gold + predicted);
  ``macro_f1`` = mean F1 over the labels present in gold or predictions (as scikit-learn).
- ``ece``: the claims with a confidence (``Verdict.confidence``, the probability of the
  predicted label) fall into 10 equal-width bins [0, .1), ..., [.9, 1]; ECE = sum over bins
  of n_bin / n * |accuracy_bin - mean confidence_bin|, correct = predicted == gold (3-way).
  ``reliability`` lists every bin's n, mean confidence and accuracy.
- Evidence hit: over supported and contradicted items with an article id, the share whose
  returned evidence (``evidence`` + ``conflicting``) includes a passage of that article.
- ``baselines`` (balanced accuracy, macro-F1, contradicted recall; neither ever predicts
  contradicted): ``claim_length`` - supported when the claim has at most the median word
  count (whitespace split) of the evaluated claims, else unsupported; ``claim_in_evidence``
  - supported when the checker returned evidence quotes (``ClaimResult.evidence_quotes``:
  ``evidence`` + ``conflicting`` of the predicted verdict) and every content word of the
  claim is among their content words, else unsupported.
- ``by_perturbation``: per perturbation, n, accuracy_3way, share predicted as each label.

Intervals: ``<metric>_ci`` = [2.5th, 97.5th] percentile of the metric over 1000 bootstrap
resamples of the items (``random.Random(0)``; questions for question metrics - pooled
citation precision is recomputed per resample - and claims for claim metrics); resamples
where the metric is undefined are skipped. Given for recall_at_5, answer_correct,
abstain_rate, false_refusal_rate, citation_precision, citation_recall; balanced_accuracy,
macro_f1, contradicted_recall, accuracy_3way, ece, and each baseline's balanced accuracy.

Latency: wall time per question (``ask``) and per claim (``check``), median and p95, and
the same for each step the Assistant reports in ``timings`` (retrieve / generate / verify).

Compromises: answer correctness is lexical - a correct paraphrase without the number or
the name fails, and an answer that names the fact while saying something else passes; the
opener list deciding whether a sentence's first word is a name is a list. The half-the-
content-words test of citation precision can credit a sentence that swaps a name but
repeats the passage's other words. With two articles in ``corpus/`` Recall@5 is near 1 by
construction; MRR is the informative one. A question whose ``ask`` raises an
``AssistantError`` is recorded with its error and scored as wrong (the run continues); any
other exception stops the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError
from assistant.models import LABELS, Answer, CheckReport, Claim, Turn, Verdict
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
ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

__all__ = [
    "ClaimItem",
    "ClaimResult",
    "EvalProgress",
    "QuestionItem",
    "QuestionResult",
    "Report",
    "bootstrap_cis",
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
    tags: tuple[str, ...] = ()
    paraphrase: str = ""
    note: str = ""

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
    perturbation: str = ""
    note: str = ""


Item = QuestionItem | ClaimItem


def _strings(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    """``_strings({"tags": ["a", 1]}, "tags") -> ("a", "1")``; a bare string is an error."""
    value = obj.get(key) or ()
    if isinstance(value, str | dict):
        raise ValueError(f"{key} must be a list")
    return tuple(str(v) for v in value)


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
            key_facts=_strings(obj, "key_facts"),
            tags=_strings(obj, "tags"),
            paraphrase=str(obj.get("paraphrase") or ""),
            note=str(obj.get("note") or ""),
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
            perturbation=str(obj.get("perturbation") or ""),
            note=str(obj.get("note") or ""),
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
    asked: str = ""  # the text asked: the paraphrase under use_paraphrase, else the question
    tags: list[str] = field(default_factory=list)
    answerable: bool = True
    abstained: bool = False
    correct: bool = False
    key_facts: list[str] = field(default_factory=list)
    facts_found: list[str] = field(default_factory=list)
    facts_in_sources: bool = False  # every key fact is somewhere in the sources shown
    ranked_articles: list[str] = field(default_factory=list)
    recall_at_5: float | None = None
    reciprocal_rank: float | None = None
    sentences: int = 0
    sentences_cited: int = 0  # with at least one valid citation marker (marker recall)
    sentences_flagged: int = 0  # verdict present and not "supported"
    cited: int = 0  # cited source numbers, valid or not (marker precision)
    cited_precise: int = 0  # of those, passages holding a supporting quote or a key fact
    pairs: int = 0  # (sentence, cited number) pairs plus invalid numbers (citation precision)
    pairs_precise: int = 0  # of those, pairs whose passage backs the sentence
    sentences_backed: int = 0  # sentences with at least one precise pair (citation recall)
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
    perturbation: str = ""
    verdicts: int = 0  # how many check-worthy claims the checker found in the text
    confidence: float | None = None
    method: str = ""
    evidence_articles: list[str] = field(default_factory=list)
    evidence_quotes: list[str] = field(default_factory=list)  # evidence + conflicting quotes
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


# ---- scoring one question -------------------------------------------------------------------
_MARKER = re.compile(r"\[\d+\]")


def _ranked_articles(answer: Answer) -> list[str]:
    return list(dict.fromkeys(s.chunk.article_id for s in answer.sources))


def _quote_in(passage: str, quote: str) -> bool:
    """Normalised substring, either way round when a chunk boundary cuts the quote."""
    norm_passage, norm_quote = normalize(passage), normalize(quote)
    return bool(norm_quote) and (
        norm_quote in norm_passage or (len(norm_passage) > 40 and norm_passage in norm_quote)
    )


def _passage_holds(passage: str, item: QuestionItem, facts: Sequence[KeyFact]) -> bool:
    if any(_quote_in(passage, q.quote) for q in item.supporting_quotes):
        return True
    return any(f.kind != "word" and f.found_in(passage) for f in facts)


def _valid_citation(n: int, answer: Answer) -> bool:
    return 1 <= n <= len(answer.sources)


def _content(text: str) -> set[str]:
    """Content words after normalisation, ``[n]`` markers dropped and hyphens as spaces."""
    return content_words(normalize(_MARKER.sub(" ", text)).replace("-", " "))


def _shares_fact(sentence: str, backing: str, facts: Sequence[KeyFact]) -> bool:
    """The sentence and ``backing`` share a key fact, or half the sentence's content words."""
    if any(f.found_in(sentence) and f.found_in(backing) for f in facts):
        return True
    words = _content(sentence)
    return bool(words) and 2 * len(words & _content(backing)) >= len(words)


def _pair_precise(
    claim: Claim, n: int, answer: Answer, item: QuestionItem, facts: Sequence[KeyFact]
) -> bool:
    """Does passage ``[n]`` back the sentence? Rule (a), else rule (b) of the docstring."""
    if not _valid_citation(n, answer):
        return False
    passage = answer.sources[n - 1].chunk.text
    for q in item.supporting_quotes:
        if _quote_in(passage, q.quote) and any(
            _shares_fact(claim.text, backing, facts) for backing in (q.quote, passage)
        ):
            return True
    if item.supporting_quotes:  # judged against the gold quotes where they exist
        return False
    v = claim.verdict
    return v is not None and v.label == "supported" and any(
        e.source_number == n for e in v.evidence
    )


def _score_pairs(res: QuestionResult, item: QuestionItem, answer: Answer) -> None:
    """Sentence-citation pairs of a non-abstained answer to an answerable item."""
    facts = [f for f in key_facts(item.answer) if f.kind in ("quantity", "name")]
    for claim in answer.claims:
        flags = [_pair_precise(claim, n, answer, item, facts)
                 for n in dict.fromkeys(claim.citations)]
        res.pairs += len(flags)
        res.pairs_precise += sum(flags)
        res.sentences_backed += any(flags)
    in_claims = {n for c in answer.claims for n in c.citations}
    res.pairs += sum(1 for n in answer.invalid_citations if n not in in_claims)


def _score_markers(
    res: QuestionResult, item: QuestionItem, answer: Answer, facts: Sequence[KeyFact]
) -> None:
    """Marker precision: the distinct numbers cited anywhere (plus the invalid ones)."""
    cited = sorted({n for c in answer.claims for n in c.citations})
    cited += [n for n in answer.invalid_citations if n not in cited]
    res.cited = len(cited)
    res.cited_precise = sum(
        1
        for n in cited
        if _valid_citation(n, answer)
        and _passage_holds(answer.sources[n - 1].chunk.text, item, facts)
    )


def _score_sentences(res: QuestionResult, answer: Answer) -> None:
    res.sentences = len(answer.claims)
    for claim in answer.claims:
        valid = [n for n in claim.citations if _valid_citation(n, answer)]
        ok = claim.verdict is None or claim.verdict.cited_ok
        if valid and ok:
            res.sentences_cited += 1
        if claim.verdict is not None and claim.verdict.label != "supported":
            res.sentences_flagged += 1


def _score_retrieval(res: QuestionResult, item: QuestionItem) -> None:
    wanted = set(item.supporting_article_ids)
    if wanted:
        top = res.ranked_articles[:RECALL_AT]
        res.recall_at_5 = len(wanted & set(top)) / len(wanted)
        rank = next((i for i, a in enumerate(res.ranked_articles, 1) if a in wanted), None)
        res.reciprocal_rank = 1.0 / rank if rank else 0.0


def score_question(item: QuestionItem, answer: Answer, seconds: float) -> QuestionResult:
    """Score one Answer against its gold item (pure: no model calls)."""
    res = QuestionResult(
        id=item.id,
        question=item.question,
        gold=item.answer,
        answer=answer.text,
        asked=answer.question or item.question,
        tags=list(item.tags),
        answerable=item.answerable,
        abstained=bool(answer.abstained),
        backend=answer.backend,
        notice=answer.notice,
        seconds=seconds,
        timings={k: float(v) for k, v in answer.timings.items()},
    )
    res.ranked_articles = _ranked_articles(answer)
    if not answer.abstained:
        _score_sentences(res, answer)
    if not item.answerable:
        res.correct = res.abstained
        return res
    facts = key_facts(item.answer, item.key_facts)
    res.key_facts = [f.text for f in facts]
    shown = " ".join(s.chunk.text for s in answer.sources)
    res.facts_in_sources = bool(facts) and all(f.found_in(shown) for f in facts)
    if not answer.abstained:
        res.facts_found = [f.text for f in facts if f.found_in(answer.text)]
        res.correct = bool(facts) and len(res.facts_found) == len(facts)
        _score_markers(res, item, answer, facts)
        _score_pairs(res, item, answer)
    _score_retrieval(res, item)
    return res


# ---- scoring one claim ------------------------------------------------------------------------
def _verdict_articles(verdict: Verdict) -> list[str]:
    return list(dict.fromkeys(e.article_id for e in (*verdict.evidence, *verdict.conflicting)))


def score_claim(item: ClaimItem, report: CheckReport, seconds: float) -> ClaimResult:
    res = ClaimResult(
        id=item.id,
        claim=item.claim,
        label=item.label,
        perturbation=item.perturbation,
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
        res.evidence_quotes = [e.quote for e in (*v.evidence, *v.conflicting)]
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
    quoted = set().union(*(_content(q) for q in r.evidence_quotes))
    return bool(r.evidence_quotes) and _content(r.claim) <= quoted


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


# ---- running ----------------------------------------------------------------------------------
def _ask(
    assistant: Any, q: QuestionItem, backend: str | None, use_paraphrase: bool
) -> QuestionResult:
    from assistant.models import Filters

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
    report.latency = {"question": _latency(report.questions), "claim": _latency(report.claims)}
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
