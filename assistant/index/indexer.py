"""Incremental ingestion: load -> clean -> chunk -> embed -> store, keyed by content hashes.

``Indexer.ingest(inputs)`` walks every loaded article and decides, from the manifest:

- **unchanged** (same id, same hash, state ``done``): skipped without cleaning or embedding
  when the raw loaded content is byte-identical (:func:`.fingerprint.raw_hash`, which also
  covers the cleaning/chunking code and settings), otherwise after cleaning when the cleaned hash is
  equal. An unchanged re-ingest therefore costs a file read and a hash per article.
- **added / updated**: cleaned, chunked and embedded *before* anything in the store is
  touched (a failure there never harms indexed data); then, per batch of articles, the
  manifest marks them ``pending`` (committed), their old chunks are deleted, the new chunks
  are upserted and the manifest marks them ``done`` with their chunk counts.
- **failed**: load errors, articles that yield no text, and a second input claiming an
  article id that another file already owns (never silently overwritten). The id is free
  to take over when its old file is gone or no longer contains that id.

Crash recovery (decision): at the start of every ingest, each ``pending`` article (an earlier
run was killed between marking it and finishing) has all its chunks deleted and its
manifest row removed. If its input is part of this run it is indexed again (reported as
updated); otherwise it stays out of the index, is reported as removed and a warning says
to ingest its origin again. Chunk ids are ``article:hash:index`` and writes are upserts, so
the store ends with exactly the chunks of the ``done`` articles, without duplicates.

``prune=True`` removes articles whose origin lies under one of the given local paths (or is
one of the given URLs) but not seen in this run (files gone; failed loads are kept).

Embedding is batched across articles while pending/done stays per article; one ingest at a
time per index (:class:`.lock.IngestLock`); then :mod:`.clusters` follows the done articles.

Compromise: all inputs are loaded into memory first (who owns an id needs the whole run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import AssistantError, LoadError, StoreError
from assistant.index.fingerprint import raw_hash
from assistant.index.lock import IngestLock, busy_message, describe, holder
from assistant.index.manifest import DONE, Entry, Manifest
from assistant.models import (
    Article,
    ArticleInfo,
    Chunk,
    IngestProgress,
    IngestResult,
    RawArticle,
)

logger = logging.getLogger(__name__)

#: Chunks embedded per batch (per ``encode`` call and per pending/done transaction).
BATCH_CHUNKS = 512
Loader = Callable[[Sequence[str], Settings], Iterable[RawArticle | LoadError]]


def _is_url(origin: str) -> bool:
    return "://" in origin


def normalize_origin(origin: str) -> str:
    """Absolute path for a local origin (a ``#fragment`` kept), URLs unchanged."""
    if _is_url(origin):
        return origin
    base, sep, frag = origin, "", ""
    if not Path(origin).exists() and "#" in origin:
        base, sep, frag = origin.rpartition("#")
    return str(Path(base).resolve()) + sep + frag


def origin_file(origin: str) -> Path | None:
    """The local file an (normalized) origin names, or ``None`` for a URL."""
    if _is_url(origin):
        return None
    p = Path(origin)
    if not p.exists() and "#" in origin:
        p = Path(origin.rpartition("#")[0])
    return p


@dataclass
class _Pending:
    article: Article
    origin: str
    raw_hash: str
    chunks: list[Chunk]
    existed: bool


@dataclass
class _Run:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0
    recovered: set[str] = field(default_factory=set)
    seen: dict[str, str] = field(default_factory=dict)  # article id -> origin this run
    failed_ids: set[str] = field(default_factory=set)
    failed_origins: set[str] = field(default_factory=set)
    claims: set[tuple[str, str]] = field(default_factory=set)  # (origin, id) loaded this run
    origins: set[str] = field(default_factory=set)  # origins that loaded this run
    written: list[Article] = field(default_factory=list)  # articles stored this run

    def fail(self, origin: str, reason: str, article_id: str | None = None) -> None:
        logger.debug("ingest failed: %s: %s", origin, reason)  # the result carries it; faces report
        self.failed.append((origin, reason))
        self.failed_origins.add(normalize_origin(origin))
        if article_id:
            self.failed_ids.add(article_id)

    def result(self) -> IngestResult:
        return IngestResult(
            added=tuple(self.added),
            updated=tuple(self.updated),
            unchanged=tuple(self.unchanged),
            removed=tuple(self.removed),
            failed=tuple(self.failed),
            chunks_written=self.chunks_written,
        )


class Indexer:
    """``Indexer(settings, embedder, store, manifest, lexical).ingest(["corpus/"])``."""

    def __init__(
        self,
        settings: Settings,
        embedder: Any,
        store: Any,
        manifest: Manifest,
        lexical: Any = None,
        batch_chunks: int = BATCH_CHUNKS,
        clusters: Any = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.manifest = manifest
        self.lexical = lexical
        self.batch_chunks = batch_chunks
        self.clusters = clusters  # StoryClusters, refreshed after each ingest (None: off)
        self._lock = threading.Lock()

    # ---- ingest -----------------------------------------------------------------------------
    def ingest(
        self,
        inputs: Sequence[str],
        prune: bool = False,
        progress: Callable[[IngestProgress], None] | None = None,
        loader: Loader | None = None,
    ) -> IngestResult:
        """Index files, folders, URLs and feeds; idempotent; one bad input never stops the rest.
        ``loader(inputs, settings)`` replaces :func:`load_inputs` (the feed watcher's articles).

        One ingest at a time per index: a thread lock here and an advisory file lock on
        ``index_dir/ingest.lock`` against a second process (released by the OS if killed).
        Each is waited for at most ``settings.lock_wait`` seconds, then an ``AssistantError``
        says what the other ingest is doing and since when.
        """
        path = self.settings.index_dir / "ingest.lock"
        wait = self.settings.lock_wait
        if not self._lock.acquire(timeout=wait):
            raise AssistantError(f"{busy_message(holder(path))}; try again when it has finished")
        try:
            with IngestLock(path, wait=wait, doing=describe(inputs)):
                return self._ingest(inputs, prune, progress, loader)
        finally:
            self._lock.release()

    def _ingest(
        self, inputs: Sequence[str], prune: bool,
        progress: Callable[[IngestProgress], None] | None, loader: Loader | None,
    ) -> IngestResult:
        from assistant.ingest.load import load_inputs

        t0 = time.perf_counter()
        run = _Run()
        self._recover(run)
        if progress:
            progress(IngestProgress(0, 0, "loading inputs"))
        items = list((loader or load_inputs)(list(inputs), self.settings))
        for item in items:
            if isinstance(item, RawArticle):
                origin = normalize_origin(item.origin)
                run.claims.add((origin, item.id))
                run.origins.add(origin)
        total = len(items)
        if progress:
            progress(IngestProgress(0, total, "loaded"))
        known = self.manifest.all()
        batch: list[_Pending] = []
        batch_size = 0
        model = getattr(self.embedder, "name", "embedder")
        for n, item in enumerate(items, 1):
            if isinstance(item, LoadError):
                run.fail(item.origin, item.reason)
            else:
                pending = self._classify(item, known, run, model)
                if pending is not None:
                    batch.append(pending)
                    batch_size += len(pending.chunks)
                    if batch_size >= self.batch_chunks:
                        self._flush(batch, run)
                        batch, batch_size = [], 0
            if progress:
                progress(IngestProgress(n, total, item.origin))
        if batch:
            self._flush(batch, run)
        if prune:
            self._prune(inputs, run)
        for article_id in sorted(run.recovered - set(run.updated)):
            run.removed.append(article_id)
        if run.added or run.updated or run.removed:
            self._refresh_lexical()
        if self.clusters is not None:  # never raises; rebuilds a missing file from the store
            self.clusters.refresh(self.manifest.entries(DONE), run.written, self.store)
        result = run.result()
        logger.info(
            "ingest: %d added, %d updated, %d unchanged, %d removed, %d failed, "
            "%d chunks in %.2fs",
            len(result.added), len(result.updated), len(result.unchanged),
            len(result.removed), len(result.failed), result.chunks_written,
            time.perf_counter() - t0,
        )
        return result

    def _recover(self, run: _Run) -> None:
        """Clean up articles an earlier, killed ingest left ``pending``."""
        stale = self.manifest.pending()
        if not stale:
            return
        for entry in stale:
            logger.warning(
                "article %s (%s) was left half-written by an interrupted ingest: "
                "removing its chunks; ingest its origin again if it is not in this run",
                entry.article_id, entry.origin,
            )
            self.store.delete_article(entry.article_id)
            run.recovered.add(entry.article_id)
        self.manifest.remove([e.article_id for e in stale])

    def _classify(
        self, raw: RawArticle, known: dict[str, Entry], run: _Run, model: str
    ) -> _Pending | None:
        """Unchanged -> None (recorded); failing -> None (recorded); else prepared + chunked."""
        from assistant.ingest.pipeline import chunk_article, prepare

        origin = normalize_origin(raw.origin)
        if raw.id in run.seen:
            run.fail(
                raw.origin,
                f"article id {raw.id!r} is already claimed by {run.seen[raw.id]} in this run",
            )
            return None
        run.seen[raw.id] = origin
        entry = known.get(raw.id)
        if entry is not None and entry.origin != origin and self._still_claims(entry, run):
            run.fail(
                raw.origin,
                f"article id {raw.id!r} is already indexed from {entry.origin}; "
                "give this article another id (or remove the other file and use --prune)",
                raw.id,
            )
            return None
        rhash = raw_hash(raw, self.settings, model)
        if entry is not None and entry.state == DONE and entry.raw_hash == rhash:
            run.unchanged.append(raw.id)
            return None
        try:
            article = prepare(raw)
            if entry is not None and entry.state == DONE and entry.hash == article.hash:
                self.manifest.set_raw_hash(raw.id, origin, rhash)
                run.unchanged.append(raw.id)
                return None
            chunks = chunk_article(
                article, self.settings.chunk_max_tokens, self.embedder.count_tokens,
                self.settings.max_chunks_per_article,
            )
        except AssistantError as exc:
            run.fail(raw.origin, str(exc), raw.id)
            return None
        except Exception as exc:  # noqa: BLE001 - reported as this input's failure, logged
            logger.debug("cleaning/chunking %s failed", raw.origin, exc_info=True)
            run.fail(raw.origin, f"cannot clean or chunk: {type(exc).__name__}: {exc}", raw.id)
            return None
        if not chunks:
            run.fail(raw.origin, "no text left after cleaning", raw.id)
            return None
        return _Pending(article, origin, rhash, chunks, existed=entry is not None)

    @staticmethod
    def _still_claims(entry: Entry, run: _Run) -> bool:
        """Does the entry's origin still own its id? Not if that file is gone, or if it was
        loaded in this run without that id (the id moved to another file)."""
        path = origin_file(entry.origin)
        if path is not None and not path.exists():
            return False
        if entry.origin in run.origins and (entry.origin, entry.article_id) not in run.claims:
            return False
        return True

    def _flush(self, batch: list[_Pending], run: _Run) -> None:
        """Embed a batch of articles, then replace their chunks under pending/done."""
        chunks = [c for p in batch for c in p.chunks]
        try:
            vectors = self.embedder.encode([c.text for c in chunks])
        except AssistantError as exc:
            for p in batch:
                run.fail(p.article.origin, f"embedding failed: {exc}", p.article.id)
            return
        self.manifest.mark_pending([(p.article, p.origin, p.raw_hash) for p in batch])
        try:
            for p in batch:
                if p.existed or p.article.id in run.recovered:
                    self.store.delete_article(p.article.id)
            self.store.add(chunks, vectors)
        except StoreError as exc:  # left pending: the next ingest cleans them up
            for p in batch:
                run.fail(p.article.origin, f"store write failed: {exc}", p.article.id)
            return
        self.manifest.mark_done([(p.article.id, len(p.chunks)) for p in batch])
        run.chunks_written += len(chunks)
        run.written.extend(p.article for p in batch)
        for p in batch:
            if p.existed or p.article.id in run.recovered:
                run.updated.append(p.article.id)
            else:
                run.added.append(p.article.id)
        logger.debug("wrote %d chunks of %d articles", len(chunks), len(batch))

    def _prune(self, inputs: Sequence[str], run: _Run) -> None:
        roots = [Path(i).resolve() for i in inputs if not _is_url(i)]
        urls = {i for i in inputs if _is_url(i)}
        gone: list[str] = []
        for entry in self.manifest.entries():
            if entry.article_id in run.seen or entry.article_id in run.failed_ids:
                continue
            if entry.origin in run.failed_origins:
                continue
            path = origin_file(entry.origin)
            if path is None:
                under = entry.origin in urls
            else:
                if str(path) in run.failed_origins:
                    continue
                under = any(path == r or r in path.parents for r in roots)
            if under:
                gone.append(entry.article_id)
        for article_id in gone:
            logger.info("pruning %s: its input is gone", article_id)
            self.store.delete_article(article_id)
        self.manifest.remove(gone)
        run.removed.extend(gone)

    def _refresh_lexical(self) -> None:
        if self.lexical is None:
            logger.warning("no lexical (BM25) index configured; skipping its refresh")
            return
        try:
            self.lexical.refresh()
        except Exception:  # noqa: BLE001 - the vector index is fine; BM25 rebuilds later
            logger.exception("refreshing the BM25 index failed; it will rebuild on next use")

    # ---- library ----------------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        """Indexed articles, newest first (undated last), then by title."""
        infos = [e.info() for e in self.manifest.entries(DONE)]
        infos.sort(key=lambda i: i.title.lower())
        infos.sort(key=lambda i: i.published.toordinal() if i.published else 0, reverse=True)
        return infos

    def stats(self) -> dict[str, Any]:
        """Counts and sizes for ``assistant stats``."""
        entries = self.manifest.entries()
        index_dir = self.settings.index_dir
        size = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) if (
            index_dir.exists()
        ) else 0
        return {
            "articles": sum(1 for e in entries if e.state == DONE),
            "pending": sum(1 for e in entries if e.state != DONE),
            "chunks": self.store.count(),
            "manifest_chunks": self.manifest.total_chunks(),
            "store": getattr(self.store, "mode", "embedded"),
            "location": getattr(self.store, "location", str(index_dir)),
            "collection": self.settings.collection,
            "index_size_mb": round(size / 1e6, 2),
            "embedding_model": getattr(self.embedder, "name", "?"),
            "chunk_max_tokens": self.settings.chunk_max_tokens,
            "manifest_generation": self.manifest.generation(),
        }
