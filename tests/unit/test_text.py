"""Sentence splitting: spans, abbreviations, numbers, headings and list items."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.text import sentences, split_sentences
from tests.conftest import CORPUS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lynas grew. Iluka fell.", ["Lynas grew.", "Iluka fell."]),
        (
            "The U.S. and Malaysia agreed. The deal cost US$600 million.",
            ["The U.S. and Malaysia agreed.", "The deal cost US$600 million."],
        ),
        ("Malaysia holds 16.1 million tonnes. It plans more.", ["Malaysia holds 16.1 million tonnes.", "It plans more."]),  # noqa: E501
        ("Dr. Li met Mr. Tan in St. Louis. They agreed.", ["Dr. Li met Mr. Tan in St. Louis.", "They agreed."]),  # noqa: E501
        (
            "It signed with Lynas Rare Earths Ltd. The plant opens in 2026.",
            ["It signed with Lynas Rare Earths Ltd.", "The plant opens in 2026."],
        ),
        ("Lynas Rare Earths Ltd. Malaysia runs it.", ["Lynas Rare Earths Ltd. Malaysia runs it."]),
        ("It exports to the U.S. The talks continue.", ["It exports to the U.S.", "The talks continue."]),  # noqa: E501
        ('"This is not true." He said it twice!', ['"This is not true."', "He said it twice!"]),
        ("Is it real? Nobody knows... Maybe.", ["Is it real?", "Nobody knows...", "Maybe."]),
        ("J. R. Smith agreed. e.g. this stays.", ["J. R. Smith agreed. e.g. this stays."]),
        ("See No. 3 for details.", ["See No. 3 for details."]),
        ("He said no. Then he left.", ["He said no.", "Then he left."]),
        ("Sales hit $2 bn. The firm grew.", ["Sales hit $2 bn.", "The firm grew."]),
        ("They met at 10 a.m. Malaysian time.", ["They met at 10 a.m. Malaysian time."]),
        (
            "Bottom Line\nThe story rests on leaks.",
            ["Bottom Line", "The story rests on leaks."],
        ),
        (
            "Highlights\n- First point here\n- Second point.\nBody text.",
            ["Highlights", "- First point here", "- Second point.", "Body text."],
        ),
        ("1. First item\n2. Second item", ["1. First item", "2. Second item"]),
        ("a wrapped line\ncontinues here. Next one.", ["a wrapped line\ncontinues here.", "Next one."]),  # noqa: E501
        ("  padded sentence.   \n\n  ", ["padded sentence."]),
        ("Lynas grew. [1] Iluka fell [2]. Done. [2, 4]", ["Lynas grew. [1]", "Iluka fell [2].", "Done. [2, 4]"]),  # noqa: E501
        ("", []),
        ("   \n\t ", []),
    ],
)
def test_examples(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_spans_are_offsets() -> None:
    text = "Highlights\n- Lynas signs.\nIt grew 16.1%. Dr. Li agreed."
    assert split_sentences(text) == [(0, 10), (11, 25), (26, 40), (41, 55)]


def test_seed_article_sentences() -> None:
    text = (CORPUS / "003_189b76db5b34766f.txt").read_text(encoding="utf-8")
    sents = sentences(text)
    assert sents[0] == "Highlights"
    assert "What Holds True" in sents
    assert "Two elements stand on firm ground:" in sents
    assert any(s.startswith("- China’s processing dominance") for s in sents)
    assert "Although again, REEx has an anonymous source confirming the leak." in sents


_ALPHABET = st.sampled_from(
    list("ab Z.!?\n\t\"')-1$,:;") + ["U.S.", "Ltd.", "Dr.", "16.1", " - ", "\u00a0", "\u2028", "…"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=80).map("".join))
def test_span_properties_on_tricky_text(text: str) -> None:
    _check_spans(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_span_properties_on_any_text(text: str) -> None:
    _check_spans(text)


def _check_spans(text: str) -> None:
    spans = split_sentences(text)
    prev_end = 0
    for s, e in spans:
        assert 0 <= prev_end <= s < e <= len(text)
        piece = text[s:e]
        assert piece == piece.strip()
        prev_end = e
    # Every non-whitespace character is in some sentence.
    assert sum(1 for c in text if not c.isspace()) == sum(
        1 for s, e in spans for c in text[s:e] if not c.isspace()
    )


def test_fast_enough() -> None:
    text = (CORPUS / "003_189b76db5b34766f.txt").read_text(encoding="utf-8") * 50  # ~190 kB
    t0 = time.perf_counter()
    n = len(split_sentences(text))
    elapsed = time.perf_counter() - t0
    assert n > 1000
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(text)} characters"
