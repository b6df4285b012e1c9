"""A small deterministic stand-in for ``Assistant``, for the page's fast unit tests only.

The tests that claim the page works with the real assistant (tests/test_ui_api.py's slow
test, tests/test_ui_browser.py) use the real one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.models import (
    Answer,
    ArticleInfo,
    CheckReport,
    Chunk,
    Citation,
    Claim,
    Evidence,
    Filters,
    IngestProgress,
    IngestResult,
    Passage,
    Source,
    StreamEvent,
    Turn,
    Verdict,
)

PASSAGE = (
    "The deal builds on the July memorandum between Lynas and JS Link, which targets "
    "3,000 tonnes of NdFeB magnets annually near Kuantan. <script>alert('x')</script>"
)
NO_FILTERS = Filters()
QUOTE = "targets 3,000 tonnes of NdFeB magnets annually"


def _chunk(n: int, text: str = PASSAGE) -> Chunk:
    return Chunk(
        id=f"art{n}:h:0", article_id=f"art{n}", index=0, text=text, start=0, end=len(text),
        section="", role="report", title=f"Malaysia <b>magnets</b> {n}", source="REEx",
        url="https://example.org/a" if n == 1 else "javascript:alert(1)",
        published=date(2025, 11, 20),
    )


def make_answer(question: str) -> Answer:
    c1, c2 = _chunk(1), _chunk(2)
    q_start = PASSAGE.index(QUOTE)
    ev = Evidence(
        chunk_id=c1.id, article_id="art1", quote=QUOTE, start=q_start,
        end=q_start + len(QUOTE), title=c1.title, published=c1.published, source_number=1,
    )
    ev_contra = Evidence(
        chunk_id=c2.id, article_id="art2", quote="3,000 tonnes", start=PASSAGE.index("3,000"),
        end=PASSAGE.index("3,000") + 12, title=c2.title, published=c2.published,
        source_number=2,
    )
    # like the chain: claims are plain sentences, the text carries the [n] markers
    s1 = "The Pahang plant targets 3,000 tonnes of NdFeB magnets a year."
    s2 = "It will open in 2026."
    s3 = "It will make 9,000 tonnes."
    claims = [
        Claim(s1, [1], Verdict("supported", 0.9, (ev,), reason="numbers match")),
        Claim(s2, [2], Verdict("unsupported", 0.6, (), reason="no source gives an opening date")),
        Claim(s3, [1], Verdict("contradicted", 0.8, (ev_contra,), reason="9,000 vs 3,000",
                               conflicting=(ev_contra,))),
    ]
    return Answer(
        question=question,
        text=(
            "The Pahang plant targets 3,000 tonnes of NdFeB magnets a year [1]. "
            "It will open in 2026 [2].\n\nIt will make 9,000 tonnes [1]."
        ),
        claims=claims,
        citations=[Citation(1, c1.id, "art1", QUOTE, q_start, q_start + len(QUOTE))],
        sources=[Source(1, Passage(c1, 0.9)), Source(2, Passage(c2, 0.5))],
        backend="extractive",
    )


class FakeAssistant:
    """Streams a fixed answer; records the calls it gets."""

    def __init__(self, settings: Settings, delay: float = 0.0, fail: bool = False) -> None:
        self.settings = settings
        self.delay = delay
        self.fail = fail
        self.calls: list[tuple[str, list[Turn], Filters, str | None]] = []
        self.ingested: list[list[str]] = []
        self.articles = [
            ArticleInfo("art1", "Malaysia <b>magnets</b> 1", "corpus/a.txt", "h", 3,
                        published=date(2025, 11, 20), source="REEx"),
            ArticleInfo("art2", "China and Malaysia", "corpus/b.txt", "h", 4, source="Azernews"),
        ]

    def ask_stream(
        self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS,
        backend: str | None = None,
    ) -> Iterator[StreamEvent]:
        self.calls.append((question, list(history), filters, backend))
        yield StreamEvent("status", "Searching 2 articles…")
        if self.fail:
            raise GenerationError("llama exploded: secret stack detail")
        answer = make_answer(question)
        for word in answer.text.split(" "):
            if self.delay:
                time.sleep(self.delay)
            yield StreamEvent("token", word + " ")
        yield StreamEvent("answer", answer=answer)

    def ask(self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS,
            backend: str | None = None) -> Answer:
        for ev in self.ask_stream(question, history, filters, backend):
            if ev.answer is not None:
                return ev.answer
        raise AssertionError("no answer")

    def check(self, text: str, filters: Filters = NO_FILTERS) -> CheckReport:
        return CheckReport(text=text, claims=make_answer(text).claims)

    def sources(self) -> list[ArticleInfo]:
        return list(self.articles)

    def ingest(self, inputs: Sequence[str], prune: bool = False, progress=None) -> IngestResult:
        self.ingested.append(list(inputs))
        failed = []
        added = []
        for i, inp in enumerate(inputs):
            if progress:
                progress(IngestProgress(i + 1, len(inputs), inp))
            data = Path(inp).read_bytes()
            if b"\x00" in data:
                failed.append((inp, "binary file (contains NUL bytes), not a text document"))
            else:
                added.append(Path(inp).stem)
                self.articles.append(ArticleInfo(Path(inp).stem, Path(inp).stem, inp, "h", 1))
        return IngestResult(added=tuple(added), failed=tuple(failed), chunks_written=len(added))
