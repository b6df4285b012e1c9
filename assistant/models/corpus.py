"""The corpus side of the records: articles as loaded and cleaned, their chunks, the library.

Loaders produce ``RawArticle``; cleaning and section detection turn it into an ``Article``;
chunking yields ``Chunk`` (stored in Chroma via :meth:`Chunk.metadata`); ``ArticleInfo`` is
one row of the library; ``Filters`` narrow retrieval; ``IngestProgress``/``IngestResult``
report an ingest. Offsets: ``article.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
