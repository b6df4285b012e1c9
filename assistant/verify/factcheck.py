"""Fact-check mode: a pasted article or paragraph -> a verdict per check-worthy claim.

``check_text(text, retriever, verifier, filters) -> CheckReport``: the text is cut into
sentences (:func:`assistant.text.split_sentences`), the check-worthy ones are kept
(:func:`is_check_worthy`: numbers, names, dates, causal or attributed statements), evidence
for each is retrieved from the whole corpus (respecting ``filters``) and the verifier
returns a Verdict with verbatim quotes. :func:`sections` groups the claims the way the
corpus articles read: what holds, what is contradicted, what the sources do not cover.

Compromises: check-worthiness is a rule (no model), so an opinion sentence that names a
company is checked too (it usually comes back "not covered"); headings, questions and
sentences under four words are skipped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from assistant.models import CheckReport, Claim, Filters
from assistant.text import split_sentences
from assistant.verify.evidence import proper_nouns

logger = logging.getLogger(__name__)

__all__ = ["check_text", "is_check_worthy", "split_claims", "sections", "SECTION_TITLES"]

_DIGIT = re.compile(r"\d")
_MONTH = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b"
)
_CAUSAL_ATTRIB = re.compile(
    r"\b(?:because|due\s+to|led\s+to|leads\s+to|caused?|causing|result(?:ed|s)?\s+in|"
    r"thanks\s+to|drove|driven\s+by|so\s+that|therefore|said|says|told|announced|"
    r"reported|according\s+to|claim(?:s|ed)?|stated|confirmed|denied|plans?\s+to|"
    r"will|agreed|signed|launched|built|holds?|owns?|produces?|exports?|imports?)\b",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^(?:[-*•–]\s+|\d{1,3}[.)]\s+)")

#: Titles of the three report sections, keyed by verdict label.
SECTION_TITLES = {
    "supported": "What holds",
    "contradicted": "Contradicted",
    "unsupported": "Not covered by the sources",
}


def is_check_worthy(sentence: str) -> bool:
    """A sentence that states something checkable.

    ``is_check_worthy("Lynas will build the plant in Texas.") -> True``;
    ``is_check_worthy("What a time to be alive!") -> False``.
    """
    s = sentence.strip()
    if len(s.split()) < 4 or s.endswith("?"):
        return False
    if not re.search(r"[.!:;\"”)]$", s) and len(s.split()) < 8:
        return False  # a heading
    return bool(
        _DIGIT.search(s) or _MONTH.search(s) or proper_nouns(s) or _CAUSAL_ATTRIB.search(s)
    )


def split_claims(text: str) -> list[str]:
    """Check-worthy sentences of ``text``, list markers removed, in reading order.

    A text of one sentence is the claim the user wants checked: it is kept unless it is a
    question (``split_claims("Malaysia lacks processing expertise.")`` -> that sentence).
    """
    sents = [_LIST_MARK.sub("", text[s:e]).strip() for s, e in split_sentences(text)]
    sents = [s for s in sents if s]
    if len(sents) == 1 and not sents[0].endswith("?"):
        return sents
    return [s for s in sents if is_check_worthy(s)]


def check_text(
    text: str,
    retriever: Any,
    verifier: Any,
    filters: Filters | None = None,
    k: int | None = None,
) -> CheckReport:
    """Verdicts for the check-worthy claims of ``text`` against the whole (filtered) corpus.

    ``check_text("Malaysia has 61 million tonnes of rare earths.", r, v).claims[0]
    .verdict.label -> "contradicted"`` (the corpus says 16.1 million tonnes).
    """
    filters = filters or Filters()
    t0 = time.perf_counter()
    claims = split_claims(text)
    t_split = time.perf_counter() - t0
    report = CheckReport(text=text)
    t_retrieve = t_verify = 0.0
    for claim in claims:
        t1 = time.perf_counter()
        passages = retriever.retrieve(claim, k=k, filters=filters)
        t2 = time.perf_counter()
        verdict = verifier.check(claim, passages)
        t3 = time.perf_counter()
        t_retrieve += t2 - t1
        t_verify += t3 - t2
        cited = sorted({e.source_number for e in verdict.evidence if e.source_number})
        report.claims.append(Claim(text=claim, citations=cited, verdict=verdict))
        logger.debug("checked %r -> %s (%s)", claim, verdict.label, verdict.method)
    report.timings = {
        "split_s": round(t_split, 4),
        "retrieve_s": round(t_retrieve, 4),
        "verify_s": round(t_verify, 4),
        "total_s": round(time.perf_counter() - t0, 4),
    }
    return report


def sections(report: CheckReport) -> list[tuple[str, list[Claim]]]:
    """The report's claims grouped as (title, claims) in the order: holds, contradicted,
    not covered. Empty groups are kept so that faces can say "nothing here"."""
    groups: dict[str, list[Claim]] = {lab: [] for lab in SECTION_TITLES}
    for c in report.claims:
        label = c.verdict.label if c.verdict else "unsupported"
        groups.setdefault(label, []).append(c)
    return [(SECTION_TITLES[lab], groups[lab]) for lab in SECTION_TITLES]


def format_claim_lines(claim: Claim) -> Sequence[str]:
    """Plain-text lines for one checked claim (used by the CLI and the Slack bot)."""
    v = claim.verdict
    lines = [f"- {claim.text}"]
    if v is None:
        return lines
    lines.append(f"  verdict: {v.label} ({v.confidence:.2f}, {v.method}): {v.reason}")
    if not v.cited_ok:
        lines.append("  note: backed by a source other than the one cited")
    for e in v.evidence[:2]:
        when = e.published.isoformat() if e.published else "undated"
        lines.append(f"  evidence: \"{e.quote}\"")
        lines.append(f"    - {e.title or e.article_id} ({when}) [{e.article_id}]")
    for e in v.conflicting:
        when = e.published.isoformat() if e.published else "undated"
        lines.append(f"  conflicting: \"{e.quote}\" - {e.title or e.article_id} ({when})")
    return lines
