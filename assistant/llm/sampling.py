"""Greedy decoding on a llama.cpp context, optionally under a GBNF grammar.

``prefill(llama, tokens)`` evaluates a prompt, reusing the KV cache of the longest common
token prefix with the previous one; ``greedy_pieces(llama, max_tokens, grammar, stop, out)``
then yields the text of each next token (temperature 0) and appends the token ids to
``out``. The caller holds the model lock for both.

Why not ``create_chat_completion(grammar=...)``: llama-cpp-python puts the grammar sampler in
front of greedy sampling, so the grammar is checked against the whole vocabulary at every
step. Here, as in llama.cpp's own ``common`` sampler, the best token by logit is asked first
(a one-candidate ``llama_sampler_apply``), then the next best, and the whole vocabulary only
when none of the top 64 is allowed: the same tokens as grammar-first greedy decoding, at a
fraction of the cost (figures in ``docs/notes/llm.md``).

Compromise: it reads llama-cpp-python's private ``_ctx``/``_model``/``_input_ids`` (0.3.x).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from assistant.errors import GenerationError, ModelError

#: Best tokens by logit asked of the grammar before it is applied to the whole vocabulary.
TOP_CANDIDATES = 64


def llama_cpp_module() -> ModuleType:
    """``llama_cpp``, or :class:`ModelError` when llama-cpp-python is not installed."""
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError("llama-cpp-python is not installed (run scripts/setup.sh)") from exc
    return llama_cpp


def prefill(llama: Any, tokens: Sequence[int]) -> int:
    """Evaluate ``tokens`` after the longest prefix they share with the context's current
    tokens (at least the last token is evaluated); return the number of tokens reused."""
    cached = 0
    for a, b in zip(llama._input_ids.tolist(), tokens, strict=False):
        if a != b:
            break
        cached += 1
    cached = min(cached, len(tokens) - 1)
    llama.n_tokens = cached
    llama.eval(list(tokens[cached:]))
    return cached


def greedy_pieces(
    llama: Any,
    max_tokens: int,
    grammar: str | None = None,
    stop: Sequence[str] | None = None,
    out: list[int] | None = None,
) -> Iterator[str]:
    """Text pieces of the greedy continuation of the evaluated prompt (after :func:`prefill`).

    Stops at an end-of-generation token, after ``max_tokens`` tokens, or once the text holds
    one of ``stop``. A piece is yielded only once its bytes decode as UTF-8. The grammar
    sampler is freed when the generator ends or is closed.
    """
    llama_cpp = llama_cpp_module()
    out = [] if out is None else out
    vocab = llama._model.vocab
    n_vocab = llama.n_vocab()
    sampler = None
    try:
        if grammar:
            sampler = llama_cpp.llama_sampler_init_grammar(
                vocab, grammar.encode("utf-8"), b"root"
            )
            if not sampler:
                raise GenerationError("the GBNF grammar does not parse")
        allowed = _one_token_check(llama_cpp, sampler)
        pending = b""
        text = ""
        for _ in range(max_tokens):
            logits = np.ctypeslib.as_array(
                llama._ctx.get_logits_ith(-1), shape=(n_vocab,)
            ).copy()
            if sampler is None:
                tok = int(np.argmax(logits))
            else:
                top = np.argpartition(-logits, TOP_CANDIDATES)[:TOP_CANDIDATES]
                top = top[np.argsort(-logits[top])]
                tok = next((int(t) for t in top if allowed(int(t), float(logits[t]))), -1)
                if tok < 0:
                    tok = full_grammar_pick(sampler, logits)
                llama_cpp.llama_sampler_accept(sampler, tok)
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            out.append(tok)
            pending += llama._model.token_to_piece(tok).rstrip(b"\x00")
            try:
                piece = pending.decode("utf-8")
            except UnicodeDecodeError:
                piece = ""
            else:
                pending = b""
            if piece:
                text += piece
                yield piece
                if stop and any(s in text for s in stop):
                    break
            llama.eval([tok])
    finally:
        if sampler:
            llama_cpp.llama_sampler_free(sampler)


def _one_token_check(llama_cpp: Any, sampler: Any) -> Callable[[int, float], bool]:
    """``allowed(token, logit) -> bool``: does the grammar accept ``token`` next?"""
    one = (llama_cpp.llama_token_data * 1)()
    arr = llama_cpp.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)

    def allowed(tok: int, logit: float) -> bool:
        one[0] = llama_cpp.llama_token_data(tok, logit, 0.0)
        arr.data, arr.size, arr.selected = one, 1, -1
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
        return bool(np.isfinite(arr.data[0].logit))

    return allowed


def full_grammar_pick(sampler: Any, logits: Any) -> int:
    """Grammar over the whole vocabulary, then greedy (the slow path, rarely taken)."""
    llama_cpp = llama_cpp_module()
    n = len(logits)
    data = (llama_cpp.llama_token_data * n)()
    view = np.ctypeslib.as_array(data).view(
        np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
    )
    view["id"] = np.arange(n, dtype=np.int32)
    view["logit"] = logits
    view["p"] = 0.0
    arr = llama_cpp.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
    picked = np.ctypeslib.as_array(arr.data, shape=(arr.size,)).view(view.dtype)
    if not np.isfinite(picked["logit"]).any():
        raise GenerationError("the grammar allows no token")
    return int(picked["id"][int(np.argmax(picked["logit"]))])
