"""Feedback on answers: a small SQLite store shared by the faces (page, Slack bot).

Job: keep one row per rating a reader gives an answer - the question, the answer text, the
per-sentence verdicts and the numbered sources (both as JSON), the rating (``up``/``down``),
an optional comment, which face it came from (``web``/``slack``), an optional user and a UTC
timestamp - and export the rows as CSV or JSON for whoever reviews them.

``FeedbackStore(settings.feedback_path).add(answer, "down", comment="wrong year")`` returns
the row id; ``rate(answer, rating, previous=row_id)`` is the rule the faces share (a second
click by the same reader on the same answer changes that row instead of adding one);
``set_comment(row_id, text)`` adds a comment to a row later (the page lets a reader rate
first and explain afterwards); ``export("csv")`` returns the whole table as text.

Compromises: one connection per call (SQLite, WAL mode) so that the page's worker threads
never share a connection; the verdicts and sources are snapshots of what the reader saw, not
references into the index (an article may since have changed or gone).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.errors import StoreError
from assistant.models import Answer

logger = logging.getLogger(__name__)

RATINGS: tuple[str, ...] = ("up", "down")
FACES: tuple[str, ...] = ("web", "slack")
FORMATS: tuple[str, ...] = ("csv", "json")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    created   TEXT NOT NULL,
    face      TEXT NOT NULL,
    user      TEXT NOT NULL DEFAULT '',
    rating    TEXT NOT NULL,
    comment   TEXT NOT NULL DEFAULT '',
    question  TEXT NOT NULL,
    answer    TEXT NOT NULL,
    backend   TEXT NOT NULL DEFAULT '',
    verdicts  TEXT NOT NULL DEFAULT '[]',
    sources   TEXT NOT NULL DEFAULT '[]'
)
"""
COLUMNS: tuple[str, ...] = (
    "id", "created", "face", "user", "rating", "comment", "question", "answer", "backend",
    "verdicts", "sources",
)


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored rating. ``verdicts`` and ``sources`` are the decoded JSON lists."""

    id: int
    created: str
    face: str
    user: str
    rating: str
    comment: str
    question: str
    answer: str
    backend: str
    verdicts: list[dict[str, Any]]
    sources: list[dict[str, Any]]


def answer_verdicts(answer: Answer) -> list[dict[str, Any]]:
    """Per-sentence verdicts as the reader saw them.

    ``[{"sentence": "Lynas ... [1]", "citations": [1], "label": "supported", "reason": "",
    "evidence": [{"quote": "...", "article_id": "...", "source_number": 1}]}]``
    """
    rows = []
    for claim in answer.claims:
        verdict = claim.verdict
        rows.append(
            {
                "sentence": claim.text,
                "citations": list(claim.citations),
                "label": verdict.label if verdict else None,
                "reason": verdict.reason if verdict else "",
                "evidence": [
                    {
                        "quote": ev.quote,
                        "article_id": ev.article_id,
                        "source_number": ev.source_number,
                    }
                    for ev in (verdict.evidence if verdict else ())
                ],
            }
        )
    return rows


def answer_sources(answer: Answer) -> list[dict[str, Any]]:
    """The numbered sources: ``[{"number": 1, "article_id", "title", "source", "url",
    "published", "chunk_id", "passage"}]``."""
    rows = []
    for src in answer.sources:
        chunk = src.chunk
        rows.append(
            {
                "number": src.number,
                "article_id": chunk.article_id,
                "title": chunk.title,
                "source": chunk.source,
                "url": chunk.url,
                "published": chunk.published.isoformat() if chunk.published else None,
                "chunk_id": chunk.id,
                "passage": chunk.text,
            }
        )
    return rows


class FeedbackStore:
    """``FeedbackStore(path)``: the table is created on first use; the folder too."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._ready = False
        # switching to WAL takes an exclusive lock that ignores the busy timeout: the first
        # connections of several threads must not race to do it
        self._init_lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the feedback store {self.path}: {exc}") from exc
        try:
            if not self._ready:
                with self._init_lock:
                    if not self._ready:
                        conn.execute("PRAGMA journal_mode=WAL")
                        conn.execute(_SCHEMA)
                        self._ready = True
            with conn:
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"feedback store {self.path}: {exc}") from exc
        finally:
            conn.close()

    def add(
        self,
        answer: Answer,
        rating: str,
        comment: str = "",
        face: str = "web",
        user: str = "",
    ) -> int:
        """Store a rating of ``answer``; returns the new row id.

        ``rating`` is ``"up"`` or ``"down"``; ``face`` is ``"web"`` or ``"slack"``.
        """
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        if face not in FACES:
            raise ValueError(f"face must be one of {FACES}, not {face!r}")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created, face, user, rating, comment, question, answer,"
                " backend, verdicts, sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    created,
                    face,
                    user,
                    rating,
                    comment.strip(),
                    answer.question,
                    answer.text,
                    answer.backend,
                    json.dumps(answer_verdicts(answer), ensure_ascii=False),
                    json.dumps(answer_sources(answer), ensure_ascii=False),
                ),
            )
            row_id = int(cur.lastrowid or 0)
        logger.info("feedback %d: %s on %r (%s)", row_id, rating, answer.question[:60], face)
        return row_id

    def set_comment(self, row_id: int, comment: str) -> None:
        """Replace the comment of row ``row_id``. Raises StoreError when there is no such row."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE feedback SET comment = ? WHERE id = ?", (comment.strip(), row_id)
            )
            if cur.rowcount == 0:
                raise StoreError(f"no feedback row {row_id}")

    def set_rating(self, row_id: int, rating: str) -> None:
        """Change the rating of row ``row_id`` (a reader who clicks the other thumb)."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        with self._connect() as conn:
            cur = conn.execute("UPDATE feedback SET rating = ? WHERE id = ?", (rating, row_id))
            if cur.rowcount == 0:
                raise StoreError(f"no feedback row {row_id}")

    def rate(
        self,
        answer: Answer,
        rating: str,
        previous: int | None = None,
        comment: str = "",
        face: str = "web",
        user: str = "",
    ) -> int:
        """The feedback rule of every face: a reader's first click on an answer adds a row;
        a later click by the same reader on the same answer (``previous``: the row id that
        first click returned) changes that row's rating instead, and its comment when
        ``comment`` is not blank. Returns the row id to remember for the next click.

        The caller keeps the ``(answer, reader) -> row`` map: a page tab keys it by chat
        message, the Slack bot by (button value, user).
        """
        if previous is None:
            return self.add(answer, rating, comment, face=face, user=user)
        self.set_rating(previous, rating)
        if comment.strip():
            self.set_comment(previous, comment)
        return previous

    def rows(self) -> list[FeedbackRecord]:
        """Every row, oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id")
            raw = cur.fetchall()
        return [
            FeedbackRecord(
                id=r[0],
                created=r[1],
                face=r[2],
                user=r[3],
                rating=r[4],
                comment=r[5],
                question=r[6],
                answer=r[7],
                backend=r[8],
                verdicts=json.loads(r[9] or "[]"),
                sources=json.loads(r[10] or "[]"),
            )
            for r in raw
        ]

    def export(self, fmt: str = "csv") -> str:
        """All rows as CSV (verdicts/sources as JSON strings in their cells) or a JSON list."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
        records = self.rows()
        if fmt == "json":
            return json.dumps([asdict(r) for r in records], ensure_ascii=False, indent=2)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for r in records:
            row = asdict(r)
            row["verdicts"] = json.dumps(r.verdicts, ensure_ascii=False)
            row["sources"] = json.dumps(r.sources, ensure_ascii=False)
            writer.writerow([row[c] for c in COLUMNS])
        return out.getvalue()
