"""The records' derived views (what every face shows) and the one drain of an answer stream."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.models import (
    Answer,
    CheckReport,
    Chunk,
    Citation,
    Claim,
    Evidence,
    Passage,
    Source,
    StreamEvent,
    Verdict,
    VerdictCounts,
    final_answer,
)

TEXT_1 = "Lynas signed a memorandum in July. The plant targets 3,000 tonnes a year."
TEXT_2 = "Analysts doubt the plant will reach 9,000 tonnes before 2030."


def _chunk(n: int, text: str) -> Chunk:
    return Chunk(id=f"a{n}:h:0", article_id=f"a{n}", index=0, text=text, start=0,
                 end=len(text), section="", role="report", title=f"Title {n}",
                 published=date(2025, 1, n))


C1, C2, C3 = _chunk(1, TEXT_1), _chunk(2, TEXT_2), _chunk(3, "An unrelated passage.")
SOURCES = [Source(1, Passage(C1, 0.9)), Source(2, Passage(C2, 0.5)), Source(3, Passage(C3, 0.1))]


def _ev(chunk: Chunk, quote: str, number: int | None, start: int | None = None) -> Evidence:
    at = chunk.text.find(quote) if start is None else start
    return Evidence(chunk.id, chunk.article_id, quote, at, at + len(quote),
                    title=chunk.title, source_number=number)


EV_1 = _ev(C1, "targets 3,000 tonnes a year", 1)
EV_2 = _ev(C2, "9,000 tonnes", 2)


def test_evidence_to_show_prefers_the_conflicting_quote_of_a_contradiction() -> None:
    assert Verdict("contradicted", 0.8, (EV_1,), conflicting=(EV_2,)).evidence_to_show() == EV_2
    assert Verdict("contradicted", 0.8, (EV_1,)).evidence_to_show() == EV_1
    # a backed claim whose sources disagree still shows its own evidence first
    assert Verdict("supported", 0.9, (EV_1,), conflicting=(EV_2,)).evidence_to_show() == EV_1
    assert Verdict("unsupported", 0.5).evidence_to_show() is None
    assert Claim("x", [1], Verdict("supported", 0.9, (EV_1,))).evidence_to_show() == EV_1
    assert Claim("unchecked").evidence_to_show() is None


def test_verdict_counts_of_an_answer_and_a_check_report() -> None:
    claims = [
        Claim("a", [1], Verdict("supported", 0.9)),
        Claim("b", [1], Verdict("supported", 0.9)),
        Claim("c", [2], Verdict("contradicted", 0.8)),
        Claim("d", [], Verdict("unsupported", 0.6)),
        Claim("e", []),
        Claim("f", [], Verdict("odd", 0.1)),
    ]
    counts = Answer("q", "t", claims=claims).verdict_counts()
    assert counts == VerdictCounts(supported=2, contradicted=1, unsupported=1, other=1,
                                   unchecked=1)
    assert (counts.checked, counts.flagged) == (5, 3)
    assert CheckReport("t", claims=claims).verdict_counts() == counts
    assert Answer("q", "t").verdict_counts() == VerdictCounts()
    assert VerdictCounts().checked == 0


def _answer() -> Answer:
    return Answer(
        question="How much?",
        text="It targets 3,000 tonnes [1]. Some say 9,000 [2]. Not a source [7].",
        claims=[
            Claim("It targets 3,000 tonnes.", [1], Verdict("supported", 0.9, (EV_1,))),
            Claim("Some say 9,000.", [2], Verdict("contradicted", 0.8, (EV_1,),
                                                  conflicting=(EV_2,))),
            Claim("Not a source.", [7]),
        ],
        citations=[
            Citation(1, C1.id, C1.article_id, EV_1.quote, EV_1.start, EV_1.end),
            Citation(2, C2.id, C2.article_id, "   ", 0, 3),
        ],
        sources=SOURCES,
    )


def test_source_and_citation_lookups() -> None:
    answer = _answer()
    assert answer.source(2) == SOURCES[1] and answer.source(9) is None
    assert [c.number for c in answer.citations_for(1)] == [1] and answer.citations_for(3) == []
    assert answer.cited_numbers() == {1, 2}


def test_cited_quote_takes_the_citation_then_the_evidence() -> None:
    answer = _answer()
    assert answer.cited_quote(1) == EV_1.quote
    # the citation of [2] holds a blank quote: the verdict evidence numbered [2] is next...
    answer.claims[0] = Claim("x", [2], Verdict("supported", 0.9, (EV_2,)))
    assert answer.cited_quote(2) == "9,000 tonnes"
    # ...unless evidence is not wanted (the passage itself is shown instead)
    assert answer.cited_quote(2, evidence=False) == ""
    assert answer.cited_quote(3) == ""


def test_referenced_numbers_are_those_a_reader_can_reach() -> None:
    answer = _answer()
    # [1], [2] cited; [7] names no source; [3] is neither cited nor quoted
    assert answer.referenced() == {1, 2}
    only_conflict = Answer("q", "no markers", claims=[
        Claim("x", [], Verdict("contradicted", 0.8, conflicting=(_ev(C3, "unrelated", 3),)))
    ], sources=SOURCES)
    assert only_conflict.referenced() == {3}
    assert Answer("q", "See [2].", sources=SOURCES).referenced() == {2}


def test_quote_spans_find_quotes_in_the_passage() -> None:
    answer = _answer()
    start = TEXT_1.index("targets")
    # the citation of [1] and the evidence of both claims quote the same words
    assert answer.quote_spans(SOURCES[0]) == [(start, start + len(EV_1.quote))] * 3
    # offsets that drifted are found again by search; a quote not in the passage is left out
    drifted = _ev(C2, "9,000 tonnes", None, start=0)
    missing = _ev(C2, "not in the text", 2, start=0)
    answer.claims = [Claim("y", [], Verdict("supported", 0.9, (drifted, missing)))]
    at = TEXT_2.index("9,000")
    # found by chunk id (no number); the blank citation quote of [2] is in no passage
    assert answer.quote_spans(SOURCES[1]) == [(at, at + 12)]
    assert answer.quote_spans(SOURCES[2]) == []


def test_final_answer_drains_the_stream() -> None:
    done = Answer("q", "a")
    seen: list[str] = []
    events = [StreamEvent("status", "Searching"), StreamEvent("token", "a"),
              StreamEvent("answer", answer=done), StreamEvent("token", "late")]
    assert final_answer(iter(events), lambda e: seen.append(e.kind)) is done
    assert seen == ["status", "token", "answer"]
    with pytest.raises(RuntimeError):
        final_answer(iter(events[:2]))


def test_to_dict_is_json_ready() -> None:
    data = _answer().to_dict()
    assert data["sources"][0]["passage"]["chunk"]["published"] == "2025-01-01"
    assert data["claims"][1]["verdict"]["conflicting"][0]["quote"] == "9,000 tonnes"
    assert CheckReport("t", claims=[Claim("c")]).to_dict()["claims"][0]["verdict"] is None
