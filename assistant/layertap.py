"""Read one transformer layer's hidden state at the last prompt token from llama.cpp.

The claim judge's probe (:mod:`assistant.verify.probe`) reads what the model "thinks" in a
middle layer rather than the word it would say: on the packaged 1.5B model a linear probe
on layer 16 ranks claims as well as the logits of "Yes"/"No" on SciFact and VitaminC and far
better on HaluEval (figures in ``bench/verify.py`` and the probe file's ``meta``).

How: llama.cpp calls a scheduler callback (``cb_eval``) for every graph node, first asking
whether we want to see it, then - for the nodes we said yes to - once it is computed. The
layer outputs are named ``l_out-<layer>``; they hold ``n_embd`` floats per token and the
last column is the last token of the batch. The tap is *armed* only around a judge call, so
answer generation runs the graph unsplit; it still pays one Python call per node (generation
x0.92, judge call x1.17: ``bench/tap.py``).

Compromise: ``llama_cpp.Llama`` takes no ``cb_eval`` argument, so :func:`install` creates a
second llama.cpp context with the callback from the ``Llama``'s own context parameters and
swaps it in before first use (``Llama._ctx`` is private API of llama-cpp-python 0.3.x;
``tests/test_probe.py`` checks the tap against the real model).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from typing import Any

import numpy as np

from assistant.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = ["LayerTap"]


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
    """``tap = LayerTap(16); tap.install(llama)``; then ``with tap.armed(): llama.eval(...)``
    and ``tap.last`` is layer 16's output at the batch's last token (float32, ``n_embd``)."""

    def __init__(self, layer: int) -> None:
        self.layer = layer
        self._name = f"l_out-{layer}".encode()
        self._armed = False
        self.last: np.ndarray | None = None
        self._lib: Any = None
        self._callback: Any = None  # the ctypes function object must outlive the context

    def _on_node(self, tensor: int, ask: bool, _user: int) -> bool:
        if not self._armed:
            return not ask  # nothing wanted; "continue" when called after compute
        try:
            name = self._lib.ggml_get_name(tensor)
            if ask:
                return bool(name == self._name)
            if name == self._name:
                n = int(self._lib.ggml_nelements(tensor))
                rows = int(self._lib.ggml_nrows(tensor))
                width = n // max(rows, 1)
                data = np.ctypeslib.as_array(self._lib.ggml_get_data_f32(tensor), shape=(n,))
                self.last = data[(rows - 1) * width :].copy()
        except Exception:  # noqa: BLE001 - never let an exception cross into C
            logger.exception("layer tap failed")
            self.last = None
        return True

    def install(self, llama: Any) -> None:
        """Give ``llama`` a fresh context whose scheduler calls this tap (before first use)."""
        import llama_cpp
        from llama_cpp import _internals

        n_layer = int(llama_cpp.llama_model_n_layer(llama._model.model))
        if not 0 <= self.layer < n_layer:
            raise ModelError(f"the model has {n_layer} layers; cannot tap layer {self.layer}")
        self._lib = _ggml()
        self._callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)
        llama.context_params.cb_eval = self._callback
        old = llama._ctx
        llama._ctx = llama._stack.enter_context(
            contextlib.closing(
                _internals.LlamaContext(
                    model=llama._model, params=llama.context_params, verbose=llama.verbose
                )
            )
        )
        with contextlib.suppress(Exception):
            old.close()
        llama.n_tokens = 0
        logger.debug("layer tap on l_out-%d installed", self.layer)

    @contextlib.contextmanager
    def armed(self) -> Any:
        """Capture during the block; :attr:`last` is reset first."""
        self.last = None
        self._armed = True
        try:
            yield self
        finally:
            self._armed = False
