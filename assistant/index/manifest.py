"""Ingest manifest: which articles are in the store, from where, with which content hash.

A small SQLite database (WAL mode) next to the Chroma store, at ``Settings.manifest_path``.
It makes ingestion idempotent (an article whose hash is unchanged is skipped without being
embedded again) and crash-safe: an article is marked ``pending`` (committed) before any of
its chunks is deleted or written and ``done`` (with its chunk count) after, so an ingest
killed midway leaves ``pending`` rows that the next run cleans up (see ``indexer``).
``generation()`` increases on every change; the BM25 index uses it to know when to rebuild.

Compromises: one connection per ``Manifest`` guarded by a lock (SQLite serializes writers
anyway); Chroma and SQLite cannot share a transaction, hence the pending/done protocol.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assistant.errors import StoreError
from assistant.models import Article, ArticleInfo

logger = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    raw_hash   TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    chunks     INTEGER NOT NULL DEFAULT 0,
    title      TEXT NOT NULL DEFAULT '',
    published  TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    updated    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_origin ON articles(origin);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', 0);
"""


@dataclass(frozen=True)
class Entry:
    """One manifest row."""

    article_id: str
    origin: str
    hash: str
    raw_hash: str
    state: str
    chunks: int
    title: str = ""
    published: date | None = None
    source: str = ""
    url: str = ""
    updated: float = 0.0

    def info(self) -> ArticleInfo:
        return ArticleInfo(
            id=self.article_id,
            title=self.title,
            origin=self.origin,
            hash=self.hash,
            chunks=self.chunks,
            url=self.url,
            published=self.published,
            source=self.source,
        )


def _entry(row: sqlite3.Row) -> Entry:
    pub = row["published"]
    return Entry(
        article_id=row["article_id"],
        origin=row["origin"],
        hash=row["hash"],
        raw_hash=row["raw_hash"],
        state=row["state"],
        chunks=int(row["chunks"]),
        title=row["title"],
        published=date.fromisoformat(pub) if pub else None,
        source=row["source"],
        url=row["url"],
        updated=float(row["updated"]),
    )


class Manifest:
    """``Manifest(path).get("rare-earth-001") -> Entry | None``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the manifest {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- internals --------------------------------------------------------------------------
    def _write(
        self, sql_batches: Iterable[tuple[str, Sequence[object]]], bump: bool = True
    ) -> None:
        """Run statements in one transaction and (by default) bump the generation."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, params in sql_batches:
                    self._db.execute(sql, params)
                if bump:
                    self._db.execute(
                        "UPDATE meta SET value = value + 1 WHERE key = 'generation'"
                    )
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"manifest write failed: {exc}") from exc
                raise

    def _select(self, sql: str, params: Sequence[object] = ()) -> list[Entry]:
        with self._lock:
            try:
                return [_entry(r) for r in self._db.execute(sql, params).fetchall()]
            except sqlite3.Error as exc:
                raise StoreError(f"manifest read failed: {exc}") from exc

    # ---- reads ------------------------------------------------------------------------------
    def generation(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def get(self, article_id: str) -> Entry | None:
        rows = self._select("SELECT * FROM articles WHERE article_id = ?", (article_id,))
        return rows[0] if rows else None

    def entries(self, state: str | None = None) -> list[Entry]:
        if state is None:
            return self._select("SELECT * FROM articles ORDER BY article_id")
        return self._select(
            "SELECT * FROM articles WHERE state = ? ORDER BY article_id", (state,)
        )

    def all(self) -> dict[str, Entry]:
        return {e.article_id: e for e in self.entries()}

    def pending(self) -> list[Entry]:
        return self.entries(PENDING)

    def newest_published(self) -> date | None:
        """The publication date of the newest stored (``done``) article; ``None`` when no
        stored article has one. Relative dates in questions are read against it."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT MAX(published) FROM articles WHERE state = 'done' AND published != ''"
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"manifest read failed: {exc}") from exc
        return date.fromisoformat(row[0]) if row and row[0] else None

    def total_chunks(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(chunks), 0) FROM articles WHERE state = 'done'"
            ).fetchone()
        return int(row[0])

    # ---- writes -----------------------------------------------------------------------------
    def mark_pending(self, items: Sequence[tuple[Article, str, str]]) -> None:
        """Mark articles ``pending`` in one transaction: ``[(article, origin, raw_hash)]``."""
        now = time.time()
        self._write(
            (
                """INSERT INTO articles(article_id, origin, hash, raw_hash, state, chunks,
                                        title, published, source, url, updated)
                   VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)
                   ON CONFLICT(article_id) DO UPDATE SET
                     origin=excluded.origin, hash=excluded.hash, raw_hash=excluded.raw_hash,
                     state='pending', chunks=0, title=excluded.title,
                     published=excluded.published, source=excluded.source, url=excluded.url,
                     updated=excluded.updated""",
                (
                    a.id,
                    origin,
                    a.hash,
                    raw_hash,
                    a.title,
                    a.published.isoformat() if a.published else "",
                    a.source,
                    a.url,
                    now,
                ),
            )
            for a, origin, raw_hash in items
        )

    def mark_done(self, counts: Sequence[tuple[str, int]]) -> None:
        """Mark articles ``done`` with their chunk counts: ``[(article_id, chunks)]``."""
        now = time.time()
        self._write(
            (
                "UPDATE articles SET state='done', chunks=?, updated=? WHERE article_id=?",
                (n, now, article_id),
            )
            for article_id, n in counts
        )

    def set_raw_hash(self, article_id: str, origin: str, raw_hash: str) -> None:
        """Record a new raw hash / origin for an article whose cleaned content is unchanged.

        Not a content change: the generation stays (no BM25 rebuild).
        """
        self._write(
            [
                (
                    "UPDATE articles SET raw_hash=?, origin=?, updated=? WHERE article_id=?",
                    (raw_hash, origin, time.time(), article_id),
                )
            ],
            bump=False,
        )

    def remove(self, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        self._write(
            ("DELETE FROM articles WHERE article_id = ?", (a,)) for a in article_ids
        )
