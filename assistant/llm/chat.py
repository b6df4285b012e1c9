"""Chat models as LangChain sees them: the local model's adapter and the backend factories.

``build_chat_model(settings, "local" | "openai" | "extractive")`` returns a LangChain chat
model (``None`` for ``extractive``); ``build_judge_model(settings)`` the short-answer model the
claim judge uses on the ``openai`` backend. :class:`LocalChatModel` wraps
:class:`~assistant.llm.local.LocalModel`: temperature 0, streamed, a GBNF ``grammar`` bound
per call, its KV-cache state kept under ``cache_key`` between calls.

Compromise: the openai backend gets no grammar (endpoints differ in how they take one); its
answers are parsed and repaired instead. This package never imports :mod:`assistant.answer`:
the grammar is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from assistant.errors import ConfigError, ModelError
from assistant.llm.local import LocalModel

__all__ = ["LocalChatModel", "build_chat_model", "build_judge_model"]


def _message_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over :class:`LocalModel` (llama.cpp ``create_chat_completion``).

    Temperature 0, streaming; the model lock is held for the whole call. ``grammar`` (a GBNF
    string, e.g. :func:`assistant.answer.citations.citation_grammar`) may be bound per call:
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

