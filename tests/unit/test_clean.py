"""Cleaning and section detection on the seed articles and on small examples."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.ingest.clean import clean_line, clean_text, repair_cp874
from assistant.ingest.pipeline import prepare
from assistant.ingest.sections import detect_sections, heading_role
from assistant.models import RawArticle
from tests.conftest import CORPUS

SEED_000 = CORPUS / "000_b2982247c88755c3.txt"
SEED_003 = CORPUS / "003_189b76db5b34766f.txt"
DEBRIS = ("wp:paragraph", "opens in a new tab", "0 Comments", "Table of Contents", "<!--", "-->")


def _clean(path) -> str:
    return clean_text(path.read_text(encoding="utf-8"))


def test_cp874_mojibake_sentence_repaired() -> None:
    text = _clean(SEED_000)
    assert "Malaysia's latest rare earth maneuver reads like a diplomatic balancing act" in text
    # No Thai characters survive in this English article.
    assert not re.search(r"[\u0e00-\u0e7f]", text)
    # The lost em dashes and quotes come back from context.
    assert "local rare earth production—an announcement" in text
    assert '"This is not true," Anwar declared' in text
    assert 'an additional "super magnet" facility' in text
    assert "Malaysia won't be cornered" in text
    assert "the Achilles' heel—Malaysia lacks" in text
    assert "know-how. As discussed earlier" in text
    assert 'Assertions of "no restriction" on exports' in text


@pytest.mark.parametrize("path", [SEED_000, SEED_003], ids=["000", "003"])
def test_no_debris_left(path) -> None:
    text = _clean(path)
    for bit in DEBRIS:
        assert bit not in text
    assert "©" not in text
    assert "’" not in text and "“" not in text  # quotes normalised to ASCII
    assert "  " not in text
    assert "\n\n\n" not in text
    assert all(line == line.strip() for line in text.split("\n"))


def test_line_structure_kept() -> None:
    lines = _clean(SEED_003).split("\n")
    assert lines[0] == "Highlights"
    for heading in (
        "What Holds True",
        "Where Shadows Appear",
        "Bias Between the Lines",
        "Why It Matters for the Supply Chain",
        "Bottom Line",
    ):
        assert heading in lines
    assert lines[-1].endswith("GLTA – REI")


def test_real_thai_text_left_alone() -> None:
    thai = "ประเทศไทยมีแร่หายาก และมาเลเซียก็มีเช่นกัน"
    assert repair_cp874(thai) == thai
    assert clean_text(thai) == thai


def test_thai_word_inside_english_left_alone() -> None:
    assert clean_text("The Thai word ไทย means Thai.") == "The Thai word ไทย means Thai."


@pytest.mark.parametrize("path", [SEED_000, SEED_003], ids=["000", "003"])
def test_clean_is_idempotent_on_seeds(path) -> None:
    once = _clean(path)
    assert clean_text(once) == once


def test_cp874_round_trip_pieces() -> None:
    # "ยฉ" is the cp874 reading of C2 A9 (©); a lone "ย" lost its no-break space.
    assert repair_cp874("Copyright ยฉ 2025") == "Copyright © 2025"
    assert repair_cp874("know-how.ย As") == "know-how.  As"
    assert clean_text("know-how.ย As discussed") == "know-how. As discussed"
    assert clean_text("1990โ2000 and โquotedโ and itโs") == '1990–2000 and "quoted" and it\'s'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Lynas deal (opens in a new tab) signed.", "Lynas deal signed."),
        ("A <b>bold</b> move &amp; more.", "A bold move & more."),
        ("Before <!-- wp:paragraph -->\n<p>After</p>", "Before\nAfter"),
        ("Text\n\n\n\n\nMore text", "Text\n\nMore text"),
        ("Text\nShare this article\nSubscribe to our newsletter\n12 Comments\nEnd.", "Text\nEnd."),
        ("Caf\u00c3\u00a9 prices rose.", "Café prices rose."),  # latin-1 mojibake via ftfy
        ("Zero\u200bwidth\u00a0space \t tabs", "Zerowidth space tabs"),
        ("“Curly” and ‘single’ quotes", "\"Curly\" and 'single' quotes"),
    ],
)
def test_clean_examples(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_boilerplate_only_removed_as_whole_lines() -> None:
    prose = "Analysts share this view, and the table of contents of the report lists 0 Comments."
    assert clean_text(prose) == prose


def test_clean_line_for_titles() -> None:
    assert clean_line("  Lynas &amp; JS Link\n <i>sign</i>  deal ") == "Lynas & JS Link sign deal"


def test_sections_seed_003() -> None:
    text = _clean(SEED_003)
    secs = detect_sections(text)
    got = [(s.title, s.role) for s in secs]
    assert got == [
        ("Highlights", "summary"),
        ("Body", "report"),
        ("What Holds True", "verified"),
        ("Where Shadows Appear", "disputed"),
        ("Bias Between the Lines", "bias"),
        ("Why It Matters for the Supply Chain", "analysis"),
        ("Bottom Line", "analysis"),
    ]
    _assert_cover(text, secs)
    shadows = next(s for s in secs if s.title == "Where Shadows Appear")
    assert "leans heavily on anonymous sourcing" in text[shadows.start : shadows.end]


def test_sections_seed_000() -> None:
    text = _clean(SEED_000)
    secs = detect_sections(text)
    got = [(s.title, s.role) for s in secs]
    assert got == [
        ("Highlights", "summary"),
        ("Body", "report"),
        ("Malaysia's Balancing Act: Between Washington and Beijing", "report"),
        ("Between Pragmatism and Overreach", "disputed"),
    ]
    _assert_cover(text, secs)
    overreach = secs[-1]
    assert (
        "Anwar's claim that the new Pahang facility is already underway lacks published"
        in text[overreach.start : overreach.end]
    )


def _assert_cover(text: str, secs) -> None:
    assert secs[0].start == 0 and secs[-1].end == len(text)
    for a, b in zip(secs, secs[1:], strict=False):
        assert a.end == b.start
        assert a.start < a.end


@pytest.mark.parametrize(
    ("heading", "role"),
    [
        ("Highlights", "summary"),
        ("Key Points", "summary"),
        ("What Holds True", "verified"),
        ("Verified Facts", "verified"),
        ("Where Shadows Appear", "disputed"),
        ("Where It Falls Short", "disputed"),
        ("Questionable Claims", "disputed"),
        ("Bias Between the Lines", "bias"),
        ("Framing", "bias"),
        ("Bottom Line", "analysis"),
        ("Why It Matters for the Supply Chain", "analysis"),
        ("Outlook", "analysis"),
        ("Opinion", "opinion"),
        ("Disclosure", "disclosure"),
        ("About the Author", "disclosure"),
        ("Between Pragmatism and Overreach", "disputed"),
        ("Malaysia's Balancing Act: Between Washington and Beijing", "report"),
    ],
)
def test_heading_roles(heading: str, role: str) -> None:
    assert heading_role(heading) == role


def test_markdown_headings_and_untitled_body() -> None:
    text = "Intro line without heading.\n## what the data says\nNumbers rose.\n# Bottom line\nOk."
    secs = detect_sections(text)
    assert [(s.title, s.role) for s in secs] == [
        ("Body", "report"),
        ("what the data says", "report"),
        ("Bottom line", "analysis"),
    ]
    _assert_cover(text, secs)


def test_sentence_lines_are_not_headings() -> None:
    text = "Two elements stand on firm ground:\n- one.\nThe talks go on\nand on."
    assert [s.title for s in detect_sections(text)] == ["Body"]


def test_prepare_seed_titles_and_sections() -> None:
    raw = RawArticle(
        id="000_b2982247c88755c3",
        title="",
        text=SEED_000.read_text(encoding="utf-8"),
        origin="corpus/000_b2982247c88755c3.txt",
    )
    art = prepare(raw)
    assert art.title == (
        "Malaysia and South Korea agree to develop a 3,000-tonne NdFeB super magnet facility"
        " in Pahang"
    )
    assert art.sections[0].role == "summary"
    assert art.text.startswith("Highlights\n- Malaysia and South Korea")
    kept = prepare(RawArticle(id="x", title=" Given &amp; kept ", text="Body.", origin="x"))
    assert kept.title == "Given & kept"


def test_title_from_title_line_and_captions_not_headings() -> None:
    art = prepare(
        RawArticle(
            id="t",
            title="",
            text="Lynas Signs Magnet Deal\nLynas signed it. More follows.\n"
            "Where Shadows Appear\nThe deal lacks detail.\nPhoto: Reuters Staff\nStill doubtful.",
            origin="t.txt",
        )
    )
    assert art.title == "Lynas Signs Magnet Deal"
    assert [(s.title, s.role) for s in art.sections] == [
        ("Lynas Signs Magnet Deal", "report"),
        ("Where Shadows Appear", "disputed"),
    ]


_PIECES = st.sampled_from(
    ["Highlights", "- point.", "Bottom Line", "Malaysiaโs", "ยฉ!-- /wp:paragraph -->", "<b>x</b>",
     "&amp;", " ", "\n", "\n\n\n", "\u00a0", "0 Comments", "Text here.", "\u200b", "“q”", "\t"]
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=25).map("".join)))
def test_clean_and_prepare_invariants(raw: str) -> None:
    text = clean_text(raw)
    assert "  " not in text and "\n\n\n" not in text
    assert all(line == line.strip() for line in text.split("\n"))
    assert text == text.strip()
    art = prepare(RawArticle(id="h", title="", text=raw, origin="h"))
    assert art.text == text
    if text:
        _assert_cover(text, art.sections)
    else:
        assert art.sections == ()
