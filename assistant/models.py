"""Typed records that cross module borders.

Every module speaks in these records: loaders produce ``RawArticle``; cleaning and section
detection turn it into an ``Article``; chunking yields ``Chunk``; retrieval returns
``Passage``; the chain builds an ``Answer`` made of ``Claim`` (one per answer sentence, each
with a ``Verdict``), ``Citation`` and ``Source``. No dicts or raw Chroma results leave the
module that made them.

Offsets: ``Chunk.start``/``Chunk.end`` index the cleaned ``Article.text``
(``article.text[chunk.start:chunk.end] == chunk.text``). ``Evidence.start``/``Evidence.end``
and ``Citation.start``/``Citation.end`` index ``Chunk.text`` of the passage they quote
(``chunk.text[start:end] == quote``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

Role = Literal[
    "summary", "report", "verified", "disputed", "bias", "analysis", "opinion", "disclosure"
]
ROLES: tuple[str, ...] = (
    "summary", "report", "verified", "disputed", "bias", "analysis", "opinion", "disclosure"
)
#: Roles whose passages *report* a claim in order to doubt it: they never back that claim.
DOUBTING_ROLES: frozenset[str] = frozenset({"disputed", "bias"})

Label = Literal["supported", "contradicted", "unsupported"]
LABELS: tuple[str, ...] = ("supported", "contradicted", "unsupported")


def content_hash(text: str) -> str:
    """Stable hash of a text: ``content_hash("a") -> "ca978112ca1bbdca"`` (sha256, 16 hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def date_to_int(d: date | None) -> int:
    """``date(2025, 1, 31) -> 20250131``; ``None -> 0`` (Chroma range filters need numbers)."""
    return d.year * 10000 + d.month * 100 + d.day if d else 0


@dataclass(frozen=True)
class RawArticle:
    """One document as a loader found it, before cleaning.

    ``origin`` is where it came from (a path relative to the working dir, or a URL); it keys
    the manifest so that ``--prune`` can tell which articles' files are gone.
    """

    id: str
    title: str
    text: str
    origin: str
    url: str = ""
    published: date | None = None
    source: str = ""


@dataclass(frozen=True)
class Section:
    """A titled span of the cleaned article text, with the role it plays."""

    title: str
    role: str
    start: int
    end: int


@dataclass(frozen=True)
class Article:
    """A cleaned article: ``text`` is what chunks slice and quotes point into."""

    id: str
    title: str
    text: str
    origin: str
    url: str = ""
    published: date | None = None
    source: str = ""
    sections: tuple[Section, ...] = ()

    @property
    def hash(self) -> str:
        """Content hash over everything that ends up in the store."""
        meta = f"{self.title}\x1f{self.url}\x1f{self.published}\x1f{self.source}\x1f"
        return content_hash(meta + self.text)


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned piece of one section of one article."""

    id: str
    article_id: str
    index: int
    text: str
    start: int
    end: int
    section: str
    role: str
    title: str
    source: str = ""
    url: str = ""
    published: date | None = None

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata as stored in Chroma (dates as ISO and as int for range filters)."""
        return {
            "article_id": self.article_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "section": self.section,
            "role": self.role,
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "published": self.published.isoformat() if self.published else "",
            "published_int": date_to_int(self.published),
        }

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        """Inverse of :meth:`metadata`."""
        pub = str(meta.get("published") or "")
        return cls(
            id=chunk_id,
            article_id=str(meta["article_id"]),
            index=int(meta.get("index", 0)),
            text=text,
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            section=str(meta.get("section", "")),
            role=str(meta.get("role", "report")),
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            url=str(meta.get("url", "")),
            published=date.fromisoformat(pub) if pub else None,
        )


@dataclass(frozen=True)
class ArticleInfo:
    """One row of the library: an indexed article and its chunk count."""

    id: str
    title: str
    origin: str
    hash: str
    chunks: int
    url: str = ""
    published: date | None = None
    source: str = ""


@dataclass(frozen=True)
class Filters:
    """Retrieval filters; all optional. Dates are inclusive; an article without a
    publication date is outside every date range (it still matches when no date is set)."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.sources or self.article_ids)


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
class Source:
    """A numbered source as shown to the reader."""

    number: int
    passage: Passage

    @property
    def chunk(self) -> Chunk:
        return self.passage.chunk


@dataclass
class Claim:
    """One answer sentence (or one check-worthy sentence of a pasted text)."""

    text: str
    citations: list[int] = field(default_factory=list)
    verdict: Verdict | None = None


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the schema of ``assistant ask --json``)."""
        return _jsonable(asdict(self))


@dataclass
class CheckReport:
    """Fact-check of a pasted text: one claim per check-worthy sentence."""

    text: str
    claims: list[Claim] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: ``Turn("user", "Who builds it?")``."""

    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class StreamEvent:
    """What ``Assistant.ask_stream`` yields: status lines, answer tokens, then the Answer.

    kind: "status" (e.g. "Searching 2 articles..."), "token" (a piece of answer text),
    "answer" (the final, verified Answer in ``answer``).
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


@dataclass(frozen=True)
class IngestProgress:
    """Progress of an ingest, reported to a callback: ``done`` of ``total`` inputs."""

    done: int
    total: int
    current: str = ""


@dataclass(frozen=True)
class IngestResult:
    """Summary of one ingest run."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (file or url, reason)
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
