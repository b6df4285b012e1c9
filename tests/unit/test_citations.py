"""The [n] citation format: parsing and repairing an answer's markers, the stream filter that
never shows an invalid one, the grammar that lists only the sources shown, and placing markers
before the final stop."""

from __future__ import annotations

from assistant.answer.citations import StreamFilter, citation_grammar, parse_answer
from assistant.answer.rank import cite


# ---- pure functions -------------------------------------------------------------------------
def test_parse_answer_removes_invalid_numbers_and_splits_claims() -> None:
    text, claims, invalid = parse_answer(
        "Lynas and JS Link target 3,000 tonnes a year [1][9]. The plant is in Pahang [0]. "
        "Talks continue [2, 3].", 2
    )
    assert invalid == [9, 0, 3]
    assert "[9]" not in text and "[0]" not in text and "[3]" not in text
    assert text.startswith("Lynas and JS Link target 3,000 tonnes a year [1].")
    assert [c.citations for c in claims] == [[1], [], [2]]
    assert claims[0].text == "Lynas and JS Link target 3,000 tonnes a year."
    assert claims[1].text == "The plant is in Pahang."


def test_parse_answer_attaches_trailing_markers() -> None:
    _, claims, _ = parse_answer("The plant makes magnets. [1]", 1)
    assert len(claims) == 1 and claims[0].citations == [1]


def test_stream_filter_never_shows_invalid_markers() -> None:
    flt = StreamFilter(2)
    pieces = ["Lynas ", "makes ", "magnets [", "1", "][", "9", "]. ", "More [2]."]
    shown = "".join(flt.feed(p) for p in pieces) + flt.flush()
    assert shown == "Lynas makes magnets [1]. More [2]."
    flt = StreamFilter(2)
    assert "".join(flt.feed(p) for p in ["NOT", "_IN", "_SOURCES"]) + flt.flush() == ""
    assert flt.abstain


def test_citation_grammar_lists_only_the_sources_shown() -> None:
    g = citation_grammar([1, 3])
    assert 'num ::= "1" | "3"' in g
    assert 'root ::= "NOT_IN_SOURCES" | answer' in g
    assert citation_grammar([]) == 'root ::= "NOT_IN_SOURCES"\n'


def test_cite_puts_markers_before_the_final_stop() -> None:
    assert cite("- Lynas grew.", [2]) == "Lynas grew [2]."
    assert cite("Lynas grew", [1, 3]) == "Lynas grew [1][3]."
