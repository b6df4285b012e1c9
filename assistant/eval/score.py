"""Scoring one item: an Answer against its gold question, a CheckReport against its claim.

``score_question(item, answer, seconds) -> QuestionResult`` and ``score_claim(item, report,
seconds) -> ClaimResult`` are pure (no model calls); :mod:`assistant.eval.metrics` pools
the results. Per question (answerable = gold is not ``UNANSWERABLE_GOLD``):

- Retrieval: the ranked articles are those of ``Answer.sources`` in source order (first
  occurrence); recall@5 = share of the supporting articles among the first 5, reciprocal
  rank = 1 / rank of the first supporting one (0 if none).
- Correct: an answerable item when every key fact (:mod:`assistant.eval.facts`) is in the
  answer text; an unanswerable one when the answer abstains (``Answer.abstained``).
  ``facts_in_sources``: every key fact is somewhere in the sources shown.
- Dates and copies: ``as_of`` is the answer's ``Answer.as_of``; ``sources_duplicated``
  (set by the runner, which knows the story clusters, :func:`duplicated`): two different
  articles of one story among the first 6 sources.
- Citation pairs (ALCE-style; non-abstained answers to answerable items): each (sentence,
  distinct number it cites) is a pair, and each ``Answer.invalid_citations`` number no
  sentence cites is one more, imprecise, pair. A pair is precise when (a) the cited passage
  holds a gold supporting quote (normalised substring, either way round when a chunk
  boundary cuts the quote) and the sentence (markers dropped) shares with that quote or
  with the passage a quantity or name of ``key_facts(gold)``, or at least half its content
  words; or, only for an item without gold quotes, (b) the sentence's verdict is
  ``supported`` with an ``evidence`` record of that ``source_number``. A sentence is
  backed when one of its pairs is precise.
- Markers: of the distinct numbers cited (plus invalid ones), those whose passage holds a
  supporting quote or a non-word key fact; sentences carrying a valid ``[n]`` (and, when
  verified, ``Verdict.cited_ok``). Flagged: sentences whose verdict is not ``supported``.

Per claim: the first check-worthy claim's verdict is the prediction (none ->
``unsupported``, no confidence); evidence hit (supported / contradicted items with an
article id): the returned ``evidence`` + ``conflicting`` include a passage of that article.

Compromise: the half-the-content-words test can credit a sentence that swaps a name but
repeats the passage's other words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.eval.facts import KeyFact, content, key_facts, normalize
from assistant.eval.items import ClaimItem, QuestionItem
from assistant.models import LABELS, Answer, CheckReport, Claim, Verdict

RECALL_AT = 5
#: sources counted when looking for two copies of one story (the answer's source list)
DUPLICATE_TOP = 6

__all__ = [
    "DUPLICATE_TOP", "RECALL_AT", "ClaimResult", "QuestionResult", "duplicated", "score_claim",
    "score_question",
]


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
    as_of: str = ""  # Answer.as_of (ISO date): the newest evidence the answer states
    sources_duplicated: bool = False  # two copies of one story among the top-6 sources


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


# ---- scoring one question -------------------------------------------------------------------
def _ranked_articles(answer: Answer) -> list[str]:
    return list(dict.fromkeys(s.chunk.article_id for s in answer.sources))


def duplicated(article_ids: Sequence[str], cluster_of: Callable[[str], str] | None,
               top: int = DUPLICATE_TOP) -> bool:
    """Two different articles of one story among the first ``top`` sources.

    ``cluster_of(article_id) -> canonical id`` (``Assistant.clusters.cluster_of``); without
    it every article is its own story. ``duplicated(["a", "b"], {"a": "a", "b": "a"}.get)
    -> True``."""
    ids = list(dict.fromkeys(article_ids[:top]))
    stories = [cluster_of(a) if cluster_of is not None else a for a in ids]
    return len(set(stories)) < len(stories)


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


def _shares_fact(sentence: str, backing: str, facts: Sequence[KeyFact]) -> bool:
    """The sentence and ``backing`` share a key fact, or half the sentence's content words."""
    if any(f.found_in(sentence) and f.found_in(backing) for f in facts):
        return True
    words = content(sentence)
    return bool(words) and 2 * len(words & content(backing)) >= len(words)


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
    res.as_of = answer.as_of.isoformat() if answer.as_of else ""
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
