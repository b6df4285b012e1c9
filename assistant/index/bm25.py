"""BM25 keyword index over the stored chunks (the only module that imports bm25s).

Job: keyword retrieval that catches what embeddings blur - figures ("3,000 tonnes",
"16.1 million"), names ("NdFeB", "JS Link"), years. ``Bm25Index`` is built from
``store.chunks()``, saved under ``index/bm25/`` and kept in step with the store through the
manifest generation: ``Indexer`` calls :meth:`Bm25Index.refresh` after an ingest that changed
something, and :meth:`Bm25Index.search` rebuilds by itself when it finds that the saved index
was built at another generation (e.g. another process ingested).

Tokenisation (:func:`tokenize`) is ours, not bm25s's default (which drops one-character
tokens and splits "3,000" into "3" + "000"): lower-case; thousands separators dropped
("3,000" -> "3000"); decimals kept whole ("16.1"); the Lucene English stop words removed;
words stemmed with the Snowball English stemmer (PyStemmer), numbers left as they are.
Each chunk is indexed with its article title and section heading in front of its text, so
that a query naming the article's subject also finds its body chunks.

Persistence: each build is written into a fresh ``v-<uuid>`` folder (the bm25s arrays plus
``meta.json``: chunk ids, chunk records, the generation built at), then the ``CURRENT``
file is switched to it with an atomic ``os.replace``; a reader never sees a half-written
index. Older folders are removed after the switch (a reader
in another process that loses its folder mid-load simply rebuilds).

Compromises: the chunk records are kept in ``meta.json`` too (so BM25-only hits and filter
checks need no store round trip); that duplicates the chunk text on disk. A rebuild is
full, not incremental - bm25s has no incremental update; at a few thousand chunks it takes
well under a second. Scoring is exhaustive (all documents scored, then masked and sorted),
which is simple and exact for allow-list filters and fast enough at this scale.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from assistant.errors import StoreError
from assistant.models import Chunk

logger = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG at import, which lets its chatter through every
# handler; put it back to the usual threshold.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_STOPWORDS = frozenset(STOPWORDS_EN)
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0'](?=\d{3}(?!\d))")
_TOKEN = re.compile(r"\d+(?:\.\d+)+|\w+")
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_CURRENT = "CURRENT"
_META = "meta.json"


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return Stemmer.Stemmer("english")


def normalize_numbers(text: str) -> str:
    """Drop thousands separators: ``"3,000-tonne" -> "3000-tonne"``, ``"16.1" -> "16.1"``."""
    return _THOUSANDS.sub("", text)


def tokenize(text: str) -> list[str]:
    """Index/query tokens: ``"Lynas's 3,000 tonnes of NdFeB in 2025"`` ->
    ``["lynas", "3000", "tonn", "ndfeb", "2025"]``.
    """
    text = _POSSESSIVE.sub("", normalize_numbers(text.lower()))
    raw = [t.strip("_") for t in _TOKEN.findall(text)]
    words = [t for t in raw if t and t not in _STOPWORDS]
    stemmer = _stemmer()
    return [t if t[0].isdigit() else stemmer.stemWord(t) for t in words]


def chunk_document(chunk: Chunk) -> str:
    """The text indexed for a chunk: its title and section heading, then its text."""
    return "\n".join(part for part in (chunk.title, chunk.section, chunk.text) if part)


def _chunk_record(chunk: Chunk) -> dict[str, Any]:
    return {"id": chunk.id, "text": chunk.text, "meta": chunk.metadata()}


class Bm25Index:
    """``Bm25Index(settings.index_dir / "bm25", store, manifest).search("NdFeB 3,000", 5)``
    -> ``[("art:hash:3", 7.1), ...]`` (chunk ids, best first).

    ``store`` needs ``chunks() -> list[Chunk]``; ``manifest`` needs ``generation() -> int``
    (``None`` for a manifest-less index: built on first use and on :meth:`refresh` only).
    """

    def __init__(self, directory: Path, store: Any, manifest: Any = None) -> None:
        self.directory = Path(directory)
        self.store = store
        self.manifest = manifest
        self._lock = threading.RLock()
        self._bm25: Any = None
        self._ids: list[str] = []
        self._chunks: dict[str, Chunk] = {}
        self._generation: int | None = None
        self._loaded = False

    # ---- state ------------------------------------------------------------------------------
    def _manifest_generation(self) -> int | None:
        if self.manifest is None:
            return None
        return int(self.manifest.generation())

    def _ensure_current(self) -> None:
        """Load from disk on first use; rebuild when the manifest moved on."""
        wanted = self._manifest_generation()
        if not self._loaded:
            self._load()
        if not self._loaded or (wanted is not None and wanted != self._generation):
            logger.info(
                "BM25 index at generation %s, manifest at %s: rebuilding",
                self._generation,
                wanted,
            )
            self._build(wanted)

    def _load(self) -> None:
        pointer = self.directory / _CURRENT
        if not pointer.exists():
            return
        folder = self.directory / pointer.read_text(encoding="utf-8").strip()
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
            bm25 = bm25s.BM25.load(str(folder), show_progress=False) if meta["ids"] else None
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("BM25 index in %s unreadable (%s); rebuilding", folder, exc)
            return
        self._set(bm25, meta["ids"], meta.get("chunks", []), meta.get("generation"))

    def _set(
        self,
        bm25: Any,
        ids: list[str],
        records: Iterable[dict[str, Any]],
        generation: int | None,
    ) -> None:
        self._bm25 = bm25
        self._ids = list(ids)
        self._chunks = {
            r["id"]: Chunk.from_metadata(r["id"], r["text"], r["meta"]) for r in records
        }
        self._generation = generation
        self._loaded = True

    def _build(self, generation: int | None) -> None:
        try:
            chunks = list(self.store.chunks())
        except Exception as exc:  # the store's own errors are already StoreError
            raise StoreError(f"cannot read chunks for the BM25 index: {exc}") from exc
        chunks.sort(key=lambda c: c.id)
        ids = [c.id for c in chunks]
        bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index([tokenize(chunk_document(c)) for c in chunks], show_progress=False)
        records = [_chunk_record(c) for c in chunks]
        self._save(bm25, ids, records, generation)
        self._set(bm25, ids, records, generation)
        logger.info("BM25 index built: %d chunks, generation %s", len(ids), generation)

    def _save(
        self, bm25: Any, ids: list[str], records: list[dict[str, Any]], generation: int | None
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"v-{uuid.uuid4().hex[:12]}"
        tmp = self.directory / f".tmp-{name}"
        tmp.mkdir()
        try:
            if bm25 is not None:
                bm25.save(str(tmp), show_progress=False)
            meta = {"generation": generation, "ids": ids, "chunks": records}
            (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
            tmp.rename(self.directory / name)
            pointer_tmp = self.directory / f".{_CURRENT}.{name}"
            pointer_tmp.write_text(name, encoding="utf-8")
            os.replace(pointer_tmp, self.directory / _CURRENT)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # keep ours and whatever CURRENT names now (another process may have switched it)
        keep = {name, (self.directory / _CURRENT).read_text(encoding="utf-8").strip()}
        for old in self.directory.iterdir():
            if old.is_dir() and old.name not in keep and old.name.startswith("v-"):
                shutil.rmtree(old, ignore_errors=True)

    # ---- API ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild from ``store.chunks()`` and save (call after an ingest that changed data)."""
        with self._lock:
            self._build(self._manifest_generation())

    def search(
        self, query: str, k: int, allowed_ids: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by BM25 score (> 0), restricted to ``allowed_ids`` if given."""
        with self._lock:
            self._ensure_current()
            bm25, ids = self._bm25, self._ids
        tokens = tokenize(query)
        if bm25 is None or not tokens or k <= 0:
            return []
        scores = np.asarray(bm25.get_scores(tokens), dtype=np.float32)
        if allowed_ids is not None:
            mask = np.fromiter((i in allowed_ids for i in ids), dtype=bool, count=len(ids))
            scores = np.where(mask, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return []
        top = positive[np.argsort(-scores[positive], kind="stable")[:k]]
        return [(ids[i], float(scores[i])) for i in top]

    def chunks(self) -> list[Chunk]:
        """The chunk records the current index was built from."""
        with self._lock:
            self._ensure_current()
            return list(self._chunks.values())

    def get(self, chunk_ids: Iterable[str]) -> list[Chunk]:
        """Chunk records by id (unknown ids are skipped)."""
        with self._lock:
            self._ensure_current()
            return [self._chunks[i] for i in chunk_ids if i in self._chunks]

    @property
    def generation(self) -> int | None:
        """The manifest generation the loaded index was built at."""
        return self._generation

    def __len__(self) -> int:
        with self._lock:
            self._ensure_current()
            return len(self._ids)
