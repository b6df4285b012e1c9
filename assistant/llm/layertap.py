"""Transformer layers' hidden states at chosen prompt tokens, from llama.cpp.

``LocalModel.tap(layers).hidden(tokens, at)`` returns the tapped layers' outputs at the token
indices ``at``: what the claim judge's probe (:mod:`assistant.verify.probe`) reads instead of
the word the model would say. llama.cpp calls a scheduler callback (``cb_eval``) for every
graph node; the tap copies the rows of ``l_out-<layer>`` it wants, then answers "stop", so
the layers above the highest tapped one and the output head are skipped.

Contract: the tap owns a second llama.cpp context on the same weights (its own KV cache,
``n_ctx`` at most 2048) and never serves generation (the skipped layers' KV entries are never
written); the answer writer's context has no callback and pays nothing. It re-evaluates
from the first token that differs from its last prompt, or from the first token it reads
at if that comes earlier.

Compromise: ``llama_cpp.Llama`` takes no ``cb_eval``, so the context is built with
llama-cpp-python's private ``_internals`` (0.3.x; ``tests/integration/test_probe.py`` checks
it against the real model). Figures: ``docs/notes/llm.md``.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.errors import GenerationError, ModelError

logger = logging.getLogger(__name__)

__all__ = ["LayerTap", "MAX_TAP_CONTEXT"]

MAX_TAP_CONTEXT = 2048  # tokens: judge prompts are a few hundred


def _ggml() -> Any:
    import llama_cpp

    lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    lib.ggml_get_name.restype = ctypes.c_char_p
    lib.ggml_get_name.argtypes = [ctypes.c_void_p]
    lib.ggml_nelements.restype = ctypes.c_int64
    lib.ggml_nelements.argtypes = [ctypes.c_void_p]
    lib.ggml_nrows.restype = ctypes.c_int64
    lib.ggml_nrows.argtypes = [ctypes.c_void_p]
    lib.ggml_get_data_f32.restype = ctypes.POINTER(ctypes.c_float)
    lib.ggml_get_data_f32.argtypes = [ctypes.c_void_p]
    return lib


class LayerTap:
    """``LayerTap(llama, (16,)).hidden(tokens)`` -> layer 16's output at the last of
    ``tokens`` (float32, ``n_embd``); with several layers or token indices (``at``), their
    outputs one after the other.
    Not thread-safe: callers hold the model's lock."""

    def __init__(self, llama: Any, layers: Sequence[int]) -> None:
        import llama_cpp
        from llama_cpp import _internals

        n_layer = int(llama_cpp.llama_model_n_layer(llama._model.model))
        if not layers or not all(0 <= la < n_layer for la in layers):
            raise ModelError(f"the model has {n_layer} layers; cannot tap layers {layers}")
        self.layers = tuple(layers)
        self._names = {f"l_out-{la}".encode(): la for la in self.layers}
        self._top = max(self.layers)
        self._read: dict[tuple[int, int], np.ndarray] = {}  # (layer, token index) -> state
        self._want: list[tuple[int, int]] = []  # (token index, row in the current batch)
        self._chunk_len = 0  # tokens in the current batch
        self._lib = _ggml()
        # the ctypes function object must outlive the context
        self._callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_ctx = min(int(llama.n_ctx()), MAX_TAP_CONTEXT)
        params.n_batch = min(int(params.n_batch), params.n_ctx)
        params.n_ubatch = min(int(params.n_ubatch), params.n_batch)
        params.cb_eval = self._callback
        params.cb_eval_user_data = None
        try:
            self._ctx: Any = _internals.LlamaContext(
                model=llama._model, params=params, verbose=False
            )
            self._batch = _internals.LlamaBatch(
                n_tokens=int(params.n_batch), embd=0, n_seq_max=1, verbose=False
            )
        except Exception as exc:  # llama.cpp reports allocation failures as ValueError
            raise ModelError(f"could not create the layer tap's context: {exc}") from exc
        self.n_ctx = int(params.n_ctx)
        self._n_batch = int(params.n_batch)
        self._tokens: list[int] = []  # what the KV cache holds (layers <= the highest tapped)
        logger.debug("layer tap on %s ready (n_ctx %d)", self.layers, self.n_ctx)

    def _on_node(self, tensor: int, ask: bool, _user: int) -> bool:
        try:
            layer = self._names.get(self._lib.ggml_get_name(tensor))
            if ask:
                return layer is not None
            if layer is not None:
                n = int(self._lib.ggml_nelements(tensor))
                rows = int(self._lib.ggml_nrows(tensor))
                width = n // max(rows, 1)
                data = np.ctypeslib.as_array(self._lib.ggml_get_data_f32(tensor), shape=(n,))
                # the top layer keeps only the output rows (the batch's last token)
                skipped = self._chunk_len - rows
                for pos, row in self._want:
                    if 0 <= row - skipped < rows:
                        r = row - skipped
                        self._read[(layer, pos)] = data[r * width : (r + 1) * width].copy()
                return layer != self._top  # stop: the layers above are not needed
        except Exception:  # noqa: BLE001 - never let an exception cross into C
            logger.exception("layer tap failed")
            self._read.clear()
        return True

    def reset(self) -> None:
        """Forget the cached prompt: the next call evaluates every token."""
        self._ctx.kv_cache_clear()
        self._tokens = []

    def hidden(self, tokens: Sequence[int], at: Sequence[int] = ()) -> np.ndarray:
        """Evaluate ``tokens`` up to the highest tapped layer; the tapped layers' outputs at
        the token indices ``at`` (default: the last token), for each index in that order
        the layers in the order of :attr:`layers`, concatenated."""
        tokens = list(tokens)
        if not tokens:
            raise GenerationError("the layer tap got an empty prompt")
        if len(tokens) > self.n_ctx:
            raise GenerationError(
                f"judge prompt of {len(tokens)} tokens exceeds the tap's {self.n_ctx}"
            )
        at = [len(tokens) - 1] if not at else [int(i) for i in at]
        if not all(0 <= i < len(tokens) for i in at):
            raise GenerationError(f"token indices {at} outside a prompt of {len(tokens)}")
        keep = 0
        for a, b in zip(self._tokens, tokens[: min(at)], strict=False):
            if a != b:
                break
            keep += 1
        self._ctx.kv_cache_seq_rm(-1, keep, -1)
        self._tokens = tokens[:keep]
        self._read.clear()
        try:
            for i in range(keep, len(tokens), self._n_batch):
                chunk = tokens[i : i + self._n_batch]
                self._want = [(p, p - i) for p in at if i <= p < i + len(chunk)]
                self._chunk_len = len(chunk)
                self._batch.set_batch(chunk, n_past=i, logits_all=False)
                self._ctx.decode(self._batch)
                self._tokens.extend(chunk)
        except Exception as exc:  # llama.cpp raises plain RuntimeError
            self.reset()
            raise GenerationError(f"layer tap evaluation failed: {exc}") from exc
        finally:
            self._want = []
        missing = [(la, p) for p in at for la in self.layers if (la, p) not in self._read]
        if missing:
            raise GenerationError("the layer tap captured nothing")
        return np.concatenate([self._read[(la, p)] for p in at for la in self.layers])
