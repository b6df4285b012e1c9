"""The Assistant: the one API that the CLI, the page, the Slack bot and the evaluator use.

Contract: built once from Settings; heavy collaborators (embedding model, Chroma store, BM25
index, local LLM, cross-encoder, judge) are built on first use and shared, by the faces'
threads and by the views :meth:`Assistant.with_backend` returns. The faces stay thin: they
turn user input into calls here and records from here into their medium (an answer stream
ends in :func:`assistant.models.final_answer`).

Compromises: collaborators are ``functools.cached_property`` slots, so a test may put a
loaded model in one (``assistant.embedder = shared``) before anything builds it; the claim
verifier is the one collaborator a backend view does not share, since its judge follows
the backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from assistant.config import Backend, Settings
from assistant.models import (
    Answer,
    ArticleInfo,
    CheckReport,
    Filters,
    IngestProgress,
    IngestResult,
    StreamEvent,
    Turn,
    final_answer,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.answer.gate import Gate
    from assistant.index.bm25 import Bm25Index
    from assistant.index.clusters import StoryClusters
    from assistant.index.embed import Embedder
    from assistant.index.indexer import Indexer
    from assistant.index.manifest import Manifest
    from assistant.index.store import Store
    from assistant.llm.local import LocalModel
    from assistant.rerank import CrossEncoder
    from assistant.retrieve import Retriever
    from assistant.verify import Verifier
    from assistant.verify.judge import Judge

__all__ = ["Assistant", "Answerer"]

logger = logging.getLogger(__name__)


class Answerer(Protocol):
    """The seam a face answers through: an :class:`Assistant` or a test double."""

    def ask_stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: Filters = ...,
        backend: str | None = None,
    ) -> Iterator[StreamEvent]: ...

    def check(self, text: str, filters: Filters = ...) -> CheckReport: ...

    def sources(self) -> list[ArticleInfo]: ...

    def model_loading(self) -> bool: ...


class Assistant:
    """``Assistant(Settings()).ask("How big is the Pahang magnet plant?") -> Answer``."""

    def __init__(self, settings: Settings, _base: Assistant | None = None) -> None:
        self.settings = settings
        #: the Assistant a with_backend view shares its collaborators with (None: this one)
        self._base = _base
        self._views: dict[str, Assistant] = {}
        self._views_lock = threading.Lock()
        self._chat_models: dict[str, BaseChatModel | None] = (
            _base._chat_models if _base is not None else {}
        )

    def with_backend(self, backend: Backend | str) -> Assistant:
        """This Assistant answering with another default ``backend`` (``settings.backend``;
        the claim judge follows it too). The view shares every loaded or later-loaded
        collaborator except the verifier; the same backend gives ``self``, and one view per
        backend is kept."""
        if backend == self.settings.backend:
            return self
        base = self._base or self
        if backend == base.settings.backend:
            return base
        with base._views_lock:
            view = base._views.get(backend)
            if view is None:
                settings = base.settings.model_copy(update={"backend": backend})
                view = base._views[backend] = Assistant(settings, _base=base)
        return view

    # ---- collaborators, built lazily and once -------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        if self._base is not None:
            return self._base.embedder
        from assistant.index.embed import Embedder

        s = self.settings
        return Embedder(batch_size=s.embed_batch_size, backend=s.embed_backend,
                        cache_dir=s.cache_dir)

    @cached_property
    def store(self) -> Store:
        if self._base is not None:
            return self._base.store
        from assistant.index.store import Store

        return Store(self.settings, self.embedder)

    @cached_property
    def manifest(self) -> Manifest:
        if self._base is not None:
            return self._base.manifest
        from assistant.index.manifest import Manifest

        return Manifest(self.settings.manifest_path)

    @cached_property
    def lexical(self) -> Bm25Index:
        if self._base is not None:
            return self._base.lexical
        from assistant.index.bm25 import Bm25Index

        return Bm25Index(self.settings.index_dir / "bm25", self.store, self.manifest)

    @cached_property
    def indexer(self) -> Indexer:
        if self._base is not None:
            return self._base.indexer
        from assistant.index.indexer import Indexer

        lexical: Bm25Index | None
        try:
            lexical = self.lexical
        except Exception:  # noqa: BLE001 - indexing works without BM25; retrieval rebuilds it
            logger.exception("the BM25 index is unavailable; ingesting without it")
            lexical = None
        return Indexer(
            self.settings, self.embedder, self.store, self.manifest, lexical,
            clusters=self.clusters,
        )

    @cached_property
    def clusters(self) -> StoryClusters | None:
        """Syndicated / rewritten copies grouped at ingest (None: ``cluster_stories`` off)."""
        if self._base is not None:
            return self._base.clusters
        if not self.settings.cluster_stories:
            return None
        from assistant.index.clusters import StoryClusters

        return StoryClusters(self.settings.index_dir / "clusters.sqlite3", self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        if self._base is not None:
            return self._base.retriever
        from assistant.retrieve import Retriever

        return Retriever(
            self.store, self.lexical, self.embedder, self.settings, manifest=self.manifest,
            clusters=self.clusters,
        )

    @cached_property
    def local_model(self) -> LocalModel:
        if self._base is not None:
            return self._base.local_model
        from assistant.llm.local import LocalModel

        s = self.settings
        return LocalModel(s.model_path, s.cache_dir, s.llm_threads, s.llm_context)

    @cached_property
    def verifier(self) -> Verifier:
        """The claim verifier; its judge follows ``settings.backend`` (none when
        ``settings.judge`` is off or the backend is ``extractive``: cheap path only)."""
        from assistant.verify import ChatJudge, LocalJudge, Verifier

        judge: Judge | None = None
        if self.settings.judge and self.settings.backend == "local":
            from assistant.verify.probe import Probe

            model = self.local_model
            probe = Probe.load(model.sha256) if self.settings.judge_probe else None
            judge = LocalJudge(model, probe=probe)
        elif self.settings.judge and self.settings.backend == "openai":
            from assistant.llm.chat import build_judge_model

            judge = ChatJudge(build_judge_model(self.settings))
        return Verifier(self.embedder, judge=judge)

    @cached_property
    def cross_encoder(self) -> CrossEncoder:
        """The packaged cross-encoder (loaded on first use): reranks passages, feeds the gate."""
        if self._base is not None:
            return self._base.cross_encoder
        from assistant.rerank import CrossEncoder

        # as many threads as llama.cpp: it runs before the model writes, never beside it
        return CrossEncoder(threads=self.settings.llm_threads)

    @cached_property
    def gate(self) -> Gate:
        """The answerability gate (cross-encoder relevance + coverage, fitted weights)."""
        if self._base is not None:
            return self._base.gate
        from assistant.answer.gate import Gate

        return Gate(self.cross_encoder)

    # ---- library --------------------------------------------------------------------------
    def ingest(
        self,
        inputs: Sequence[str],
        prune: bool = False,
        progress: Callable[[IngestProgress], None] | None = None,
    ) -> IngestResult:
        """Load, clean, chunk, embed and store; idempotent. One bad input never stops the rest."""
        result: IngestResult = self.indexer.ingest(inputs, prune=prune, progress=progress)
        return result

    def refresh(self, progress: Callable[[IngestProgress], None] | None = None) -> IngestResult:
        """Bring the index up to date with ``settings.corpus_dir`` and earlier uploads
        (``index_dir/uploads``), pruning articles whose files are gone; idempotent. A missing
        corpus folder is a warning (the index is served as it is). Logs the outcome."""
        settings = self.settings
        inputs = []
        if settings.corpus_dir.exists():
            inputs.append(str(settings.corpus_dir))
        else:
            logger.warning("corpus folder %s not found; serving the index as it is",
                           settings.corpus_dir)
        uploads = settings.index_dir / "uploads"
        if uploads.is_dir() and any(uploads.iterdir()):
            inputs.append(str(uploads))
        if not inputs:
            return IngestResult()
        t0 = time.perf_counter()
        result = self.ingest(inputs, prune=True, progress=progress)
        for origin, reason in result.failed:
            logger.warning("not indexed: %s: %s", origin, reason)
        logger.info(
            "index ready in %.1fs: %d added, %d updated, %d unchanged, %d removed, %d failed",
            time.perf_counter() - t0, len(result.added), len(result.updated),
            len(result.unchanged), len(result.removed), len(result.failed),
        )
        return result

    def sources(self) -> list[ArticleInfo]:
        """The indexed articles, newest first."""
        infos: list[ArticleInfo] = self.indexer.articles()
        return infos

    def model_loading(self, backend: str | None = None) -> bool:
        """True while ``backend`` (default ``settings.backend``) is ``local`` and its model is
        not in memory yet (the next answer waits for it: about a minute on a small machine).
        Never loads anything."""
        if (backend or self.settings.backend) != "local":
            return False
        return not self.local_model.loaded

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: articles, chunks, index size on disk, backend, store location."""
        stats: dict[str, Any] = self.indexer.stats()
        return stats

    # ---- answering --------------------------------------------------------------------------
    def chat_model(self, backend: str | None = None) -> BaseChatModel | None:
        """The LangChain chat model for ``backend`` (default ``settings.backend``), built once
        per backend and shared with the views; ``None`` for ``extractive``. The local one
        shares :attr:`local_model`."""
        from assistant.llm.chat import build_chat_model

        backend = backend or self.settings.backend
        if backend not in self._chat_models:
            self._chat_models[backend] = build_chat_model(
                self.settings, backend, self.local_model if backend == "local" else None
            )
        return self._chat_models[backend]

    def warm(self, backend: str | None = None) -> None:
        """Load the local model and evaluate the answer prompt's fixed instructions, so that
        the first question is as fast as the next ones. A no-op for other backends."""
        from assistant.answer.chain import AnswerChain

        backend = backend or self.settings.backend
        if backend == "local":
            AnswerChain(
                self.retriever, self.chat_model(backend), None, self.settings,
                embedder=self.embedder, backend=backend,
            ).warm()

    def warm_quietly(self, backend: str | None = None) -> bool:
        """:meth:`warm` for start-up (the page, the Slack bot): a failure is logged, not
        raised, and the first question reports it. True when the model is warm."""
        try:
            self.warm(backend)
        except Exception:  # noqa: BLE001 - a warm-up failure must not stop a face
            logger.warning("warm-up failed; the first answer will load the model", exc_info=True)
            return False
        logger.info("the answer writer is warm")
        return True

    def ask_stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: Filters = Filters(),
        backend: str | None = None,
    ) -> Iterator[StreamEvent]:
        """Status lines, answer tokens, then one ``StreamEvent("answer", answer=...)``.

        ``backend`` overrides ``settings.backend`` for this question (``local``, ``openai``,
        ``extractive``). If the local model cannot load, the answer is extractive and its
        ``notice`` says why. Sentences are checked when ``settings.verify`` is on.
        """
        from assistant.answer.chain import AnswerChain

        backend = backend or self.settings.backend
        verifier = None
        if self.settings.verify:
            try:
                verifier = self.verifier
            except (ImportError, AttributeError):
                logger.warning("no claim verifier available; answers are not checked")
        chain = AnswerChain(
            self.retriever,
            self.chat_model(backend),
            verifier,
            self.settings,
            embedder=self.embedder,
            backend=backend,
            gate=self.gate,
            reranker=self.cross_encoder if self.settings.rerank else None,
            model_loading=lambda: self.model_loading(backend),
        )
        yield from chain.stream(question, history, filters)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: Filters = Filters(),
        backend: str | None = None,
    ) -> Answer:
        """The verified, cited Answer."""
        return final_answer(self.ask_stream(question, history, filters, backend))

    def check(self, text: str, filters: Filters = Filters()) -> CheckReport:
        """Fact-check mode: verdicts for each check-worthy claim of a pasted text."""
        from assistant.verify.factcheck import check_text

        return check_text(text, self.retriever, self.verifier, filters)
