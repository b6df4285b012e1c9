"""Vector store: Chroma, embedded under ``index/chroma`` or a Chroma server.

``Store`` is the only place that imports chromadb and langchain_chroma. It speaks in
``Chunk`` records (never raw Chroma results), stores precomputed vectors from our
``Embedder`` and always hands Chroma our own embedding function (Chroma's default would
try to download an ONNX model). Telemetry is off. Distances are cosine; ``query`` returns
similarities (``1 - distance``).

Compromises: ``chunks()`` and ``article_ids()`` read the whole collection (fine for the
tens of thousands of chunks this assistant is meant for); Chroma has no transactions, so
the per-article consistency is kept by the ingest manifest (see ``indexer``), and writes
are upserts keyed by content-derived chunk ids so that a repeated write never duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant.config import Settings
from assistant.errors import StoreError
from assistant.models import Chunk, Filters, date_to_int

logger = logging.getLogger(__name__)

MAX_BATCH = 5000  # Chroma refuses batches above ~5,461


@register_embedding_function
class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Adapter: our ``Embedder`` as a Chroma embedding function (for Chroma-side queries)."""

    def __init__(self, embedder: Any = None) -> None:
        if embedder is None:  # rebuilt by Chroma from the collection config
            from assistant.index.embed import Embedder

            embedder = Embedder()
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's signature
        return list(self.embedder.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "rare_earth_assistant_minilm"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> list[Any]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction()


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _where(filters: Filters | None, article_id: str | None = None) -> dict[str, Any] | None:
    """Chroma where-clause: ``Filters(sources=("a",)) -> {"source": {"$in": ["a"]}}``."""
    conds: list[dict[str, Any]] = []
    if filters is not None:
        if filters.since or filters.until:  # a date filter leaves undated articles out
            conds.append({"published_int": {"$gte": max(1, date_to_int(filters.since))}})
        if filters.until:
            conds.append({"published_int": {"$lte": date_to_int(filters.until)}})
        if filters.sources:
            conds.append({"source": {"$in": list(filters.sources)}})
        if filters.article_ids:
            conds.append({"article_id": {"$in": list(filters.article_ids)}})
    if article_id is not None:
        conds.append({"article_id": article_id})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


class Store:
    """``Store(settings, embedder).query(vec, 5, Filters()) -> [(Chunk, 0.71), ...]``."""

    def __init__(self, settings: Settings, embedder: Any, client: Any = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.collection_name = settings.collection
        try:
            if client is not None:
                self.client = client
                self.mode = "custom"
            elif settings.chroma_host:
                self.client = chromadb.HttpClient(
                    host=settings.chroma_host,
                    port=settings.chroma_port,
                    settings=_chroma_settings(),
                )
                self.mode = "server"
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(
                    path=str(self.path), settings=_chroma_settings()
                )
                self.mode = "embedded"
            self.collection = self.client.get_or_create_collection(
                name=self.collection_name,
                embedding_function=ChromaEmbeddingFunction(embedder),
                configuration={"hnsw": {"space": "cosine"}},
            )
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - any client failure is a StoreError
            raise StoreError(f"cannot open the Chroma store at {self.location}: {exc}") from exc
        space = ((getattr(self.collection, "configuration", None) or {}).get("hnsw") or {}).get(
            "space", "cosine"
        )
        if space != "cosine":
            raise StoreError(
                f"collection {self.collection_name!r} at {self.location} uses {space!r} "
                "distance, not cosine; use another collection name or a fresh index"
            )

    # ---- where ------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.settings.index_dir / "chroma"

    @property
    def location(self) -> str:
        if self.settings.chroma_host:
            return f"http://{self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(self.path)

    def size_bytes(self) -> int:
        """Bytes on disk of the embedded store (0 for a server)."""
        if self.settings.chroma_host or not self.path.exists():
            return 0
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    # ---- writes -----------------------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray | Sequence[Sequence[float]]) -> None:
        """Upsert chunks with their precomputed vectors (batches of at most 5,000)."""
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        arr = np.asarray(vectors, dtype=np.float32)
        for lo in range(0, len(chunks), MAX_BATCH):
            part = chunks[lo : lo + MAX_BATCH]
            try:
                self.collection.upsert(
                    ids=[c.id for c in part],
                    embeddings=arr[lo : lo + MAX_BATCH],
                    documents=[c.text for c in part],
                    metadatas=[c.metadata() for c in part],
                )
            except Exception as exc:  # noqa: BLE001
                raise StoreError(f"cannot write {len(part)} chunks: {exc}") from exc

    def delete_article(self, article_id: str) -> None:
        """Remove every chunk of one article (no error when there is none)."""
        try:
            self.collection.delete(where={"article_id": article_id})
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"cannot delete chunks of {article_id}: {exc}") from exc

    def delete(self, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        try:
            for lo in range(0, len(chunk_ids), MAX_BATCH):
                self.collection.delete(ids=list(chunk_ids[lo : lo + MAX_BATCH]))
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"cannot delete chunks: {exc}") from exc

    # ---- reads ------------------------------------------------------------------------------
    def query(
        self, vector: Sequence[float] | np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks with cosine similarity, best first."""
        if k <= 0:
            return []
        try:
            res = self.collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=k,
                where=_where(filters),
                include=["documents", "metadatas", "distances"],
            )
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"query failed: {exc}") from exc
        ids = res["ids"][0]
        docs = (res.get("documents") or [[]])[0]
        metas = (res.get("metadatas") or [[]])[0]
        dists = (res.get("distances") or [[]])[0]
        return [
            (Chunk.from_metadata(i, d or "", dict(m or {})), 1.0 - float(dist))
            for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def _get(self, **kwargs: Any) -> list[Chunk]:
        try:
            res = self.collection.get(include=["documents", "metadatas"], **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"read failed: {exc}") from exc
        docs = res.get("documents") or []
        metas = res.get("metadatas") or []
        return [
            Chunk.from_metadata(i, d or "", dict(m or {}))
            for i, d, m in zip(res["ids"], docs, metas, strict=True)
        ]

    def get(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked (unknown ids are skipped)."""
        if not chunk_ids:
            return []
        found = {c.id: c for c in self._get(ids=list(chunk_ids))}
        return [found[i] for i in chunk_ids if i in found]

    def chunks(self, article_id: str | None = None) -> list[Chunk]:
        """All chunks (or one article's), ordered by article id then index."""
        where = _where(None, article_id)
        out = self._get(where=where) if where else list(self._iter_all())
        return sorted(out, key=lambda c: (c.article_id, c.index))

    def _iter_all(self, page: int = 5000) -> Iterator[Chunk]:
        offset = 0
        while True:
            part = self._get(limit=page, offset=offset)
            yield from part
            if len(part) < page:
                return
            offset += page

    def ids(self, article_id: str | None = None) -> list[str]:
        """Chunk ids (all, or one article's)."""
        where = _where(None, article_id)
        try:
            res = self.collection.get(include=[], where=where) if where else self.collection.get(
                include=[]
            )
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"read failed: {exc}") from exc
        return list(res["ids"])

    def article_ids(self) -> set[str]:
        """Ids of the articles that have at least one chunk stored."""
        try:
            res = self.collection.get(include=["metadatas"])
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"read failed: {exc}") from exc
        return {str(m["article_id"]) for m in (res.get("metadatas") or []) if m}

    def count(self) -> int:
        try:
            return int(self.collection.count())
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"count failed: {exc}") from exc

    # ---- LangChain --------------------------------------------------------------------------
    def as_langchain(self) -> Any:
        """A ``langchain_chroma.Chroma`` over the same client and collection."""
        from langchain_chroma import Chroma

        return Chroma(
            client=self.client,
            collection_name=self.collection_name,
            embedding_function=self.embedder,
        )
