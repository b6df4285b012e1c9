"""The answer side of the records: passages, verdicts, claims, answers, check reports.

Retrieval returns ``Passage``; the chain builds an ``Answer`` made of ``Claim`` (one per
answer sentence, each with a ``Verdict``), ``Citation`` and numbered ``Source``; the stream
of ``StreamEvent`` ends in that Answer (:func:`final_answer` drains it). Views the faces
share (the source for ``[n]``, its quote, verdict counts, the evidence to show) are methods
here; markup is not (each face renders them). Offsets of ``Evidence`` and ``Citation``
index the passage's ``Chunk.text``: ``chunk.text[start:end] == quote``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from assistant.models.corpus import Chunk

Label = Literal["supported", "contradicted", "unsupported"]
LABELS: tuple[str, ...] = ("supported", "contradicted", "unsupported")


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score and the per-retriever scores/ranks."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    duplicates: tuple[str, ...] = ()  # ids of near-duplicate chunks merged into this one


@dataclass(frozen=True)
class Evidence:
    """A verbatim quote from a passage: ``passage.chunk.text[start:end] == quote``."""

    chunk_id: str
    article_id: str
    quote: str
    start: int
    end: int
    title: str = ""
    published: date | None = None
    role: str = "report"
    source_number: int | None = None  # the [n] of that passage in the answer, when any


@dataclass(frozen=True)
class Verdict:
    """The verifier's judgement of one claim against passages."""

    label: str  # one of LABELS
    confidence: float
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""
    method: str = ""  # which signal decided: "numbers", "judge", "role", ...
    conflicting: tuple[Evidence, ...] = ()  # different values for the same quantity
    cited_ok: bool = True  # False when the backing passage is not one the sentence cited

    def evidence_to_show(self) -> Evidence | None:
        """The one quote a face shows with this verdict: for a contradiction the first
        conflicting quote (else the first evidence), otherwise the first evidence; or None."""
        if self.label == "contradicted" and self.conflicting:
            return self.conflicting[0]
        return self.evidence[0] if self.evidence else None


@dataclass(frozen=True)
class Citation:
    """Source number ``n`` -> the passage it names and the quote that backs the sentence."""

    number: int
    chunk_id: str
    article_id: str
    quote: str
    start: int
    end: int


@dataclass(frozen=True)
class Copy:
    """Another outlet's copy of a source's story (a syndicated or rewritten release)."""

    article_id: str
    title: str = ""
    source: str = ""  # the outlet / distributor
    published: date | None = None
    url: str = ""


@dataclass(frozen=True)
class Source:
    """A numbered source as shown to the reader; ``copies``: the same story elsewhere
    ("also distributed by N outlets"), filled in by the retriever from the story clusters;
    ``best``: its best sentence for the question, what the faces show before the answer."""

    number: int
    passage: Passage
    copies: tuple[Copy, ...] = ()
    best: str = ""  # the passage's sentence closest to the question (shown while writing)

    @property
    def chunk(self) -> Chunk:
        return self.passage.chunk


@dataclass
class Claim:
    """One answer sentence (or one check-worthy sentence of a pasted text)."""

    text: str
    citations: list[int] = field(default_factory=list)
    verdict: Verdict | None = None

    def evidence_to_show(self) -> Evidence | None:
        """:meth:`Verdict.evidence_to_show` of this claim's verdict (None when unchecked)."""
        return self.verdict.evidence_to_show() if self.verdict else None


@dataclass(frozen=True)
class VerdictCounts:
    """How many claims got each verdict: ``counts.supported`` of ``counts.checked`` are backed."""

    supported: int = 0
    contradicted: int = 0
    unsupported: int = 0
    other: int = 0  # a label outside LABELS (none today)
    unchecked: int = 0  # claims without a verdict

    @property
    def checked(self) -> int:
        return self.supported + self.contradicted + self.unsupported + self.other

    @property
    def flagged(self) -> int:
        """Checked claims that are not backed (contradicted, unsupported or other)."""
        return self.checked - self.supported

    @classmethod
    def of(cls, claims: Iterable[Claim]) -> VerdictCounts:
        counts = dict.fromkeys((*LABELS, "other", "unchecked"), 0)
        for claim in claims:
            if claim.verdict is None:
                counts["unchecked"] += 1
            else:
                counts[claim.verdict.label if claim.verdict.label in LABELS else "other"] += 1
        return cls(**counts)


@dataclass
class Answer:
    """What the assistant returns for a question."""

    question: str
    text: str
    standalone_question: str = ""
    claims: list[Claim] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    abstained: bool = False
    invalid_citations: list[int] = field(default_factory=list)
    backend: str = ""
    notice: str = ""  # e.g. why the extractive fallback was used
    timings: dict[str, float] = field(default_factory=dict)
    as_of: date | None = None  # the publication date of the newest evidence the answer uses

    def as_of_text(self) -> str:
        """How every face writes :attr:`as_of`: ``"9 Aug 2026"``; ``""`` when there is none or
        the answer abstained (a refusal has no date to stand by)."""
        if self.as_of is None or self.abstained:
            return ""
        return f"{self.as_of.day} {self.as_of.strftime('%b %Y')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the schema of ``assistant ask --json``)."""
        return _jsonable_dict(asdict(self))

    # derived views the faces share (no markup here: the faces render them)
    def source(self, number: int) -> Source | None:
        """Source ``[number]``, or None when the answer has no such source."""
        return next((s for s in self.sources if s.number == number), None)

    def citations_for(self, number: int) -> list[Citation]:
        """The citations (sentence quotes) that name source ``[number]``, in order."""
        return [c for c in self.citations if c.number == number]

    def cited_numbers(self) -> set[int]:
        """Source numbers named by the answer's citations."""
        return {c.number for c in self.citations}

    def cited_quote(self, number: int, evidence: bool = True) -> str:
        """The words of source ``[number]`` the answer leans on: the first non-blank quote of
        a citation of it, else (``evidence=True``) the first verdict evidence numbered so;
        ``""`` when there is none (faces then show the passage itself)."""
        for c in self.citations:
            if c.number == number and c.quote.strip():
                return c.quote
        for claim in self.claims if evidence else ():
            for ev in claim.verdict.evidence if claim.verdict else ():
                if ev.source_number == number and ev.quote:
                    return ev.quote
        return ""

    def referenced(self) -> set[int]:
        """Source numbers a reader can reach: cited in the text, by a citation or a claim, or
        quoted by a verdict (evidence or conflicting); only numbers that name a source."""
        numbers = self.cited_numbers()
        numbers.update(int(n) for n in _ONE_MARKER.findall(self.text or ""))
        for claim in self.claims:
            numbers.update(claim.citations)
            v = claim.verdict
            numbers.update(e.source_number for e in (v.evidence + v.conflicting if v else ())
                           if e.source_number)
        return {n for n in numbers if self.source(n) is not None}

    def quote_spans(self, source: Source) -> list[tuple[int, int]]:
        """Character spans of ``source.chunk.text`` quoted by a citation of it or by verdict
        evidence from it (by number or chunk id); a quote whose offsets drifted is found by
        search, one that is not in the passage is left out. Unsorted, may overlap."""
        text = source.chunk.text
        quotes = [(c.quote, c.start, c.end) for c in self.citations_for(source.number)]
        for claim in self.claims:
            for ev in claim.verdict.evidence if claim.verdict else ():
                if ev.source_number == source.number or ev.chunk_id == source.chunk.id:
                    quotes.append((ev.quote, ev.start, ev.end))
        spans = []
        for quote, start, end in quotes:
            if not quote:
                continue
            if 0 <= start < end <= len(text) and text[start:end] == quote:
                spans.append((start, end))
            elif (at := text.find(quote)) >= 0:
                spans.append((at, at + len(quote)))
        return spans

    def verdict_counts(self) -> VerdictCounts:
        return VerdictCounts.of(self.claims)


@dataclass
class CheckReport:
    """Fact-check of a pasted text: one claim per check-worthy sentence."""

    text: str
    claims: list[Claim] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable_dict(asdict(self))

    def verdict_counts(self) -> VerdictCounts:
        return VerdictCounts.of(self.claims)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: ``Turn("user", "Who builds it?")``."""

    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class StreamEvent:
    """What ``Assistant.ask_stream`` yields: status lines, answer tokens, then the Answer.

    kind: "status" (e.g. "Searching 2 articles..."), "sources" (retrieval is done:
    ``answer`` holds the numbered sources, before any text is written), "token" (a piece of
    answer text), "answer" (the final, verified Answer in ``answer``).
    """

    kind: str
    text: str = ""
    answer: Answer | None = None


def final_answer(
    events: Iterable[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> Answer:
    """Drain an answer stream and return its Answer; ``on_event`` sees every event on the way.

    The one drain of the project: the service, the chain and the faces all end a stream here.
    Raises ``RuntimeError`` when the stream ends without an answer (a bug, not a user error).
    """
    for event in events:
        if on_event is not None:
            on_event(event)
        if event.kind == "answer" and event.answer is not None:
            return event.answer
    raise RuntimeError("the answer stream ended without an answer")


#: A single ``[n]`` marker in answer text (the full format lives in assistant.answer.citations)
_ONE_MARKER = re.compile(r"\[(\d+)\]")


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _jsonable_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in value.items()}
