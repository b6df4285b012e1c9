"""The Assistant: the one API that the CLI, the page, the Slack bot and the evaluator use.

Built once from Settings; heavy collaborators (embedding model, Chroma client, BM25 index,
local LLM, judge) are created on first use and shared. The faces stay thin: they translate
user input into calls here and records from here into their medium.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any

from assistant.config import Settings
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

logger = logging.getLogger(__name__)


class Assistant:
    """``Assistant(Settings()).ask("How big is the Pahang magnet plant?") -> Answer``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ---- collaborators, built lazily and once -------------------------------------------
    @cached_property
    def embedder(self) -> Any:
        from assistant.index.embed import Embedder

        return Embedder(batch_size=self.settings.embed_batch_size)

    @cached_property
    def store(self) -> Any:
        from assistant.index.store import Store

        return Store(self.settings, self.embedder)

    @cached_property
    def manifest(self) -> Any:
        from assistant.index.manifest import Manifest

        return Manifest(self.settings.manifest_path)

    @cached_property
    def lexical(self) -> Any:
        from assistant.index.bm25 import Bm25Index

        return Bm25Index(self.settings.index_dir / "bm25", self.store, self.manifest)

    @cached_property
    def indexer(self) -> Any:
        from assistant.index.indexer import Indexer

        try:
            lexical = self.lexical
        except Exception:  # noqa: BLE001 - indexing works without BM25; retrieval rebuilds it
            logger.exception("the BM25 index is unavailable; ingesting without it")
            lexical = None
        return Indexer(self.settings, self.embedder, self.store, self.manifest, lexical)

    @cached_property
    def retriever(self) -> Any:
        from assistant.retrieve import Retriever

        return Retriever(self.store, self.lexical, self.embedder, self.settings)

    @cached_property
    def local_model(self) -> Any:
        from assistant.llm.local import LocalModel

        s = self.settings
        return LocalModel(s.model_path, s.cache_dir, s.llm_threads, s.llm_context)

    @cached_property
    def verifier(self) -> Any:
        """The claim verifier; its judge follows ``settings.backend`` (none when
        ``settings.judge`` is off or the backend is ``extractive``: cheap path only)."""
        from assistant.verify import ChatJudge, LocalJudge, Verifier

        judge: Any = None
        if self.settings.judge and self.settings.backend == "local":
            from assistant.verify.probe import Probe

            model = self.local_model
            probe = Probe.load(model.sha256) if self.settings.judge_probe else None
            judge = LocalJudge(model, probe=probe)
        elif self.settings.judge and self.settings.backend == "openai":
            from assistant.llm.local import build_judge_model

            judge = ChatJudge(build_judge_model(self.settings))
        return Verifier(self.embedder, judge=judge)

    @cached_property
    def cross_encoder(self) -> Any:
        """The packaged cross-encoder (loaded on first use): reranks passages, feeds the gate."""
        from assistant.rerank import CrossEncoder

        return CrossEncoder()

    @cached_property
    def gate(self) -> Any:
        """The answerability gate (cross-encoder relevance + coverage, fitted weights)."""
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
        return self.indexer.ingest(inputs, prune=prune, progress=progress)

    def sources(self) -> list[ArticleInfo]:
        """The indexed articles, newest first."""
        return self.indexer.articles()

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: articles, chunks, index size on disk, backend, store location."""
        return self.indexer.stats()

    # ---- answering --------------------------------------------------------------------------
    def chat_model(self, backend: str | None = None) -> Any:
        """The LangChain chat model for ``backend`` (default ``settings.backend``), built once
        per backend; ``None`` for ``extractive``. The local one shares :attr:`local_model`."""
        from assistant.llm.local import build_chat_model

        backend = backend or self.settings.backend
        models = self.__dict__.setdefault("_chat_models", {})
        if backend not in models:
            models[backend] = build_chat_model(
                self.settings, backend, self.local_model if backend == "local" else None
            )
        return models[backend]

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
