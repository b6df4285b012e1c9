"""Time-aware answers: periods and "the latest" read against the newest article's date.

The phrasings below are invented for these tests (a fictional "Borealis Metals" series);
none comes from an evaluation file.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from assistant.answer.chain import AnswerChain
from assistant.answer.rank import (
    earlier_figure,
    earlier_sentence,
    figures,
    pick_extractive,
    rank_sentences,
    recency,
)
from assistant.answer.timeframe import TimeFrame, as_of, newest_date, resolve
from assistant.config import Settings
from assistant.eval.metrics import news_figures
from assistant.eval.score import QuestionResult, duplicated
from assistant.models import Chunk, Claim, Filters, Passage, Source

NEWEST = date(2026, 8, 19)
D = date


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("What did Borealis announce this year?", D(2026, 1, 1), NEWEST),
        ("Which permits were granted so far this year?", D(2026, 1, 1), NEWEST),
        ("Borealis year-to-date shipments?", D(2026, 1, 1), NEWEST),
        ("What did the ministry decide last year?", D(2025, 1, 1), D(2026, 4, 2)),
        ("What happened to tungsten prices last month?", D(2026, 7, 1), None),
        ("What did Borealis do this month?", D(2026, 8, 1), NEWEST),
        ("What did the board approve last quarter?", D(2026, 4, 1), None),
        ("How has the offtake changed since March?", D(2026, 3, 1), None),
        ("How has the offtake changed since September?", D(2025, 9, 1), None),
        ("Which deals were signed since March 2025?", D(2025, 3, 1), None),
        ("What did Borealis report in Q3 2025?", D(2025, 7, 1), D(2025, 12, 31)),
        ("What did Borealis report in q1 of 2026?", D(2026, 1, 1), D(2026, 7, 1)),
        ("What happened in the third quarter of 2024?", D(2024, 7, 1), D(2024, 12, 31)),
        ("What happened in the second half of 2025?", D(2025, 7, 1), D(2026, 4, 2)),
        ("Which grants were awarded in 2024?", D(2024, 1, 1), D(2025, 4, 2)),
        ("Which mines opened during 2025?", D(2025, 1, 1), D(2026, 4, 2)),
        ("Which smelters closed in 2024 due to tariffs?", D(2024, 1, 1), D(2025, 4, 2)),
        ("What was agreed in June 2025?", D(2025, 6, 1), D(2025, 9, 30)),
        ("What happened in November?", D(2025, 11, 1), D(2026, 3, 2)),
        ("What changed over the past six months?", D(2026, 2, 20), NEWEST),
        ("Anything new in the last 30 days?", D(2026, 7, 21), NEWEST),
        ("What did Borealis publish in the past two weeks?", D(2026, 8, 6), NEWEST),
        ("What did they do in the past year?", D(2025, 8, 20), NEWEST),
        ("Which drilling results came out in the last 3 months?", D(2026, 5, 20), NEWEST),
        ("Which tariffs were announced before 2025?", None, D(2024, 12, 31)),
        ("Which deals came after March 2026?", D(2026, 4, 1), None),
        ("What was reported between 2024 and 2025?", D(2024, 1, 1), D(2026, 4, 2)),
        ("What happened since last year?", D(2025, 1, 1), NEWEST),
    ],
)
def test_periods_resolve_against_the_newest_article(question, since, until) -> None:
    # a closed period's range runs REPORT_LAG (92 days) past its end, for the news about it
    # published later; no end when that reaches past the newest article
    frame = resolve(question, NEWEST)
    assert (frame.since, frame.until) == (since, until), frame.why
    assert frame.why


@pytest.mark.parametrize(
    "question",
    [
        "What is the latest on the Borealis smelter?",
        "What is the most recent resource estimate for the Tarn deposit?",
        "Who currently leads Borealis Metals?",
        "What is the current price of NdPr oxide?",
        "Is the Tarn mine still in care and maintenance?",
        "As it stands, who owns the Tarn project?",
        "What has Borealis achieved to date?",
        "Which is the newest offtake partner?",
        "How much does Borealis hold now?",
    ],
)
def test_latest_questions_prefer_recent_without_a_range(question) -> None:
    frame = resolve(question, NEWEST)
    assert frame.prefer_recent and not frame.has_range


@pytest.mark.parametrize(
    "question",
    [
        "Who is the chief executive of Borealis Metals?",
        "How much will the Tarn plant produce in 2027?",  # a target year, not a period
        "What output is expected in 2026?",  # forward-looking: no publication range
        "What does Borealis plan to mine by 2026?",
        "Which Borealis mine is due in 2025?",
        "What happened in May?",  # "may" is too ambiguous without a year
        "How many tonnes does the 2025 feasibility study give?",
        "Did Borealis know about the newer findings?",  # "know" / "newer" are not cues
    ],
)
def test_no_reading_where_none_is_meant(question) -> None:
    frame = resolve(question, NEWEST)
    assert not frame.has_range and not frame.prefer_recent


def test_as_of_a_period_bounds_it_and_prefers_recent() -> None:
    frame = resolve("As of March 2025, what was the Tarn mine's status?", NEWEST)
    assert frame.until == D(2025, 3, 31) and frame.since is None and frame.prefer_recent


def test_a_period_with_latest_keeps_both() -> None:
    frame = resolve("What is the latest Borealis news this year?", NEWEST)
    assert frame.since == D(2026, 1, 1) and frame.prefer_recent


def test_a_period_after_the_newest_article_is_no_filter() -> None:
    frame = resolve("What happened in Q4 2026?", NEWEST)
    assert not frame.has_range


def test_relative_periods_need_a_newest_date_explicit_ones_do_not() -> None:
    assert not resolve("What happened last month?", None).has_range
    assert resolve("What happened in 2024?", None).since == D(2024, 1, 1)


def test_narrow_never_widens_the_callers_filters() -> None:
    frame = TimeFrame(since=D(2025, 1, 1), until=D(2025, 12, 31))
    caller = Filters(since=D(2025, 6, 1), sources=("REEx",))
    narrowed = frame.narrow(caller)
    assert narrowed == Filters(since=D(2025, 6, 1), until=D(2025, 12, 31), sources=("REEx",))
    assert frame.narrow(Filters(since=D(2026, 2, 1))) is None  # disjoint: the caller's stand
    assert TimeFrame(prefer_recent=True).narrow(caller) == caller


def test_the_same_index_gives_the_same_reading_on_any_day() -> None:
    # no wall clock: the reading depends on the question and the newest article only
    assert resolve("What happened last year?", D(2025, 3, 1)).since == D(2024, 1, 1)
    assert resolve("What happened last year?", NEWEST).since == D(2025, 1, 1)


# ---- dates on answers ------------------------------------------------------------------------
def _passage(i: int, text: str, published: date | None) -> Passage:
    chunk = Chunk(id=f"b{i}:h:0", article_id=f"b{i}", index=0, text=text, start=0,
                  end=len(text), section="Body", role="report", title="Borealis",
                  source="Wire", url=f"https://x/{i}", published=published)
    return Passage(chunk=chunk, score=1.0)


def test_as_of_is_the_newest_cited_source_else_the_newest_shown() -> None:
    sources = [Source(1, _passage(1, "a", D(2025, 1, 5))),
               Source(2, _passage(2, "b", D(2026, 2, 1))), Source(3, _passage(3, "c", None))]
    assert as_of([Claim("x", [1])], sources) == D(2025, 1, 5)
    assert as_of([Claim("x", [1, 3])], sources) == D(2025, 1, 5)
    assert as_of([Claim("x", [])], sources) == D(2026, 2, 1)
    assert as_of([], [Source(1, _passage(1, "a", None))]) is None


def test_newest_date_reads_the_manifest_and_survives_its_failure() -> None:
    class Ok:
        def newest_published(self) -> date:
            return NEWEST

    class Broken:
        def newest_published(self) -> date:
            raise OSError("disk gone")

    assert newest_date(Ok()) == NEWEST
    assert newest_date(Broken()) is None and newest_date(None) is None


def test_manifest_newest_published(tmp_path) -> None:
    from assistant.index.manifest import Manifest
    from assistant.models import Article

    m = Manifest(tmp_path / "m.sqlite3")
    assert m.newest_published() is None
    arts = [Article(id=f"x{i}", origin="o", title="t", text="body", published=d, source="s")
            for i, d in enumerate([D(2025, 4, 2), D(2026, 1, 9), None])]
    m.mark_pending([(a, "origin", "hash") for a in arts])
    assert m.newest_published() is None  # only stored ("done") articles count
    m.mark_done([(a.id, 1) for a in arts])
    assert m.newest_published() == D(2026, 1, 9)
    m.close()


# ---- "the latest": sentence order and the earlier figure -------------------------------------
OLD = "Borealis Metals said the Tarn plant will produce 4,000 tonnes of oxide a year."
NEW = "Borealis Metals said the Tarn plant will produce 6,500 tonnes of oxide a year."


def test_recency_is_linear_between_the_oldest_and_newest() -> None:
    ps = [_passage(1, OLD, D(2025, 1, 1)), _passage(2, NEW, D(2026, 1, 1)),
          _passage(3, OLD, None)]
    assert recency(ps) == [0.0, 1.0, 0.0]


def test_latest_prefers_the_newer_of_two_equally_relevant_sentences(embedder) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 1)), _passage(2, NEW, D(2026, 1, 1))]
    q = "How much oxide will the Tarn plant produce a year?"
    plain = rank_sentences(q, ps, embedder)
    latest = rank_sentences(q, ps, embedder, prefer_recent=True)
    assert latest[0].passage_index == 1
    assert [r.score for r in sorted(plain, key=lambda r: r.passage_index)] == [
        r.score for r in sorted(latest, key=lambda r: r.passage_index)
    ]  # scores (thresholds) unchanged: only the order moves


def test_earlier_figure_finds_the_older_differing_statement(embedder) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 1)), _passage(2, NEW, D(2026, 1, 1))]
    ranked = rank_sentences("How much oxide will the Tarn plant produce a year?", ps, embedder,
                            prefer_recent=True)
    dates = {0: D(2025, 1, 1), 1: D(2026, 1, 1)}
    newest = ranked[0]
    older = earlier_figure(newest, ranked, dates, threshold=0.0)
    assert older is not None and "4,000" in older.text
    # the same figures, or no older source: nothing to add
    assert earlier_figure(ranked[1], ranked, dates, threshold=0.0) is None
    assert figures("3,000 t in 2025.") == {"3000", "2025"}


def test_earlier_sentence_keeps_names() -> None:
    assert earlier_sentence("The plant made 3 t.") == "Earlier, the plant made 3 t."
    assert earlier_sentence("Borealis made 3 t.") == "Earlier, Borealis made 3 t."


def test_pick_extractive_reads_scores_not_preference(embedder) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 1)), _passage(2, NEW, D(2026, 1, 1))]
    ranked = rank_sentences("Unrelated question about zebra migration?", ps, embedder,
                            prefer_recent=True)
    assert pick_extractive(ranked) == []  # recency never makes a sentence relevant


# ---- the chain ------------------------------------------------------------------------------
class DatedRetriever:
    """Applies date filters like the real retriever; has a manifest with a newest date."""

    def __init__(self, passages: list[Passage], embedder: Any) -> None:
        self.passages, self.embedder = passages, embedder
        self.filters: list[Filters] = []
        newest = max(p.chunk.published for p in passages if p.chunk.published)
        self.manifest = type("M", (), {"newest_published": lambda _self: newest})()

    def retrieve(self, query: str, k: int | None = None, filters: Filters | None = None,
                 mode: str = "hybrid") -> list[Passage]:
        f = filters or Filters()
        self.filters.append(f)

        def ok(p: Passage) -> bool:
            d = p.chunk.published
            if f.since and (d is None or d < f.since):
                return False
            return not (f.until and (d is None or d > f.until))

        return [p for p in self.passages if ok(p)][: k or 6]


def _chain(embedder, tmp_path, passages, **kw: Any) -> tuple[AnswerChain, DatedRetriever]:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", verify=False, **kw)
    retriever = DatedRetriever(passages, embedder)
    return AnswerChain(retriever, None, None, settings, embedder=embedder), retriever


def test_chain_filters_a_named_period_and_dates_the_answer(embedder, tmp_path) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 10)), _passage(2, NEW, D(2026, 3, 2))]
    chain, retriever = _chain(embedder, tmp_path, ps)
    answer = chain.answer("What annual oxide output did Borealis give for the Tarn plant in 2025?")
    assert retriever.filters[0].since == D(2025, 1, 1)
    assert not answer.abstained and "4,000" in answer.text and "6,500" not in answer.text
    assert answer.as_of == D(2025, 1, 10)


def test_chain_falls_back_to_the_whole_index_when_a_period_is_empty(embedder, tmp_path) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 10)), _passage(2, NEW, D(2026, 3, 2))]
    chain, retriever = _chain(embedder, tmp_path, ps)
    answer = chain.answer(
        "How many tonnes of oxide a year did Borealis Metals say for the Tarn plant in 2023?"
    )
    assert retriever.filters[0].until == D(2024, 4, 1)  # 2023 plus the reporting lag
    assert retriever.filters[-1] == Filters()  # fallback: no range, newest first
    assert not answer.abstained and answer.text.startswith(NEW.split(" 6,500")[0])
    assert "6,500" in answer.text.split("Earlier")[0]
    assert answer.as_of == D(2026, 3, 2)


def test_chain_latest_gives_the_newest_then_the_earlier_figure(embedder, tmp_path) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 10)), _passage(2, NEW, D(2026, 3, 2))]
    chain, _ = _chain(embedder, tmp_path, ps)
    answer = chain.answer("What is the latest annual oxide output planned for the Tarn plant?")
    assert not answer.abstained
    first, _, rest = answer.text.partition("Earlier,")
    assert "6,500" in first and "4,000" in rest
    assert len(answer.claims) == 2 and all(c.citations for c in answer.claims)
    assert answer.as_of == D(2026, 3, 2)


def test_chain_time_aware_off_reads_the_whole_index(embedder, tmp_path) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 10)), _passage(2, NEW, D(2026, 3, 2))]
    chain, retriever = _chain(embedder, tmp_path, ps, time_aware=False)
    chain.answer("What annual oxide output did Borealis give for the Tarn plant in 2025?")
    assert retriever.filters == [Filters()]


def test_chain_keeps_the_callers_filters_when_disjoint(embedder, tmp_path) -> None:
    ps = [_passage(1, OLD, D(2025, 1, 10)), _passage(2, NEW, D(2026, 3, 2))]
    chain, retriever = _chain(embedder, tmp_path, ps)
    caller = Filters(since=D(2026, 1, 1))
    chain.answer("What oxide output was reported for the Tarn plant in 2025?", filters=caller)
    assert retriever.filters[0] == caller


# ---- evaluation figures ---------------------------------------------------------------------
def test_duplicated_counts_two_articles_of_one_story() -> None:
    stories = {"a": "a", "b": "a", "c": "c"}
    assert duplicated(["a", "b"], stories.get)  # type: ignore[arg-type]
    assert not duplicated(["a", "a", "c"], stories.get)  # type: ignore[arg-type]
    assert not duplicated(["a", "b"], None)  # no clusters: each article its own story
    assert not duplicated(["a", "c", "x", "y", "z", "w", "b"], lambda a: stories.get(a, a))


def test_news_figures_shares() -> None:
    rows = [QuestionResult(id="1", question="q", gold="g", as_of="2026-01-01"),
            QuestionResult(id="2", question="q", gold="g", sources_duplicated=True),
            QuestionResult(id="3", question="q", gold="g", abstained=True)]
    figs = news_figures(rows)
    assert figs["as_of_share"] == 0.5 and figs["as_of_n"] == 2
    assert figs["duplicated_share"] == pytest.approx(1 / 3) and figs["duplicated_n"] == 3
