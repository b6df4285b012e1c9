"""The assistant side panel (Slack's AI-app container) on ``slack_bolt.Assistant``.

``build_panel(sources, handle)`` returns the middleware the bot registers:

* ``assistant_thread_started``: a greeting and up to four suggested prompts drawn from the
  newest articles in the library (their titles); the thread's
  context (the channel the user is looking at) is saved;
* ``assistant_thread_context_changed``: the new context is saved;
* a user's message in a panel thread goes to ``handle(event, body, context, client)``, the
  bot's one path for mentions and direct messages (thread history, streaming, checks).

The contexts live in :class:`MemoryContextStore` (bounded, in memory; a restart forgets
them, and Slack sends the context again when the user switches channel).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Assistant
from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.assistant.thread_context_store.store import AssistantThreadContextStore
from slack_sdk.errors import SlackApiError

from assistant.models import ArticleInfo
from assistant.slack.blocks import trim
from assistant.slack.threads import GREETING

logger = logging.getLogger(__name__)

__all__ = ["MemoryContextStore", "build_panel", "suggested_prompts"]

MAX_PROMPTS = 4  # Slack shows at most four
FALLBACK_PROMPT = {"title": "What is new?", "message": "What are the latest developments?"}
Handle = Callable[[dict[str, Any], dict[str, Any], Any, Any], None]


class MemoryContextStore(AssistantThreadContextStore):
    """Thread contexts by ``(channel_id, thread_ts)``, the last ``maxsize`` kept."""

    def __init__(self, maxsize: int = 10000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def save(self, *, channel_id: str, thread_ts: str, context: dict[str, str]) -> None:
        with self._lock:
            self._items[(channel_id, thread_ts)] = dict(context)
            self._items.move_to_end((channel_id, thread_ts))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def find(self, *, channel_id: str, thread_ts: str) -> AssistantThreadContext | None:
        with self._lock:
            found = self._items.get((channel_id, thread_ts))
        return AssistantThreadContext(found) if found and found.get("channel_id") else None


def suggested_prompts(articles: Sequence[ArticleInfo]) -> list[dict[str, str]]:
    """Prompts for the newest articles (titles, newest first, one per title):
    ``[{"title": "...", "message": "What does the news say about: ...?"}]``; a generic one
    for an empty library."""
    prompts: list[dict[str, str]] = []
    seen: set[str] = set()
    ordered = sorted(articles, key=lambda a: a.published.toordinal() if a.published else 0,
                     reverse=True)
    for article in ordered:
        title = " ".join(article.title.split())
        if not title or title.lower() in seen:
            continue
        seen.add(title.lower())
        prompts.append({"title": trim(title, 70),
                        "message": f"What does the news say about: {trim(title, 300)}?"})
        if len(prompts) == MAX_PROMPTS:
            break
    return prompts or [FALLBACK_PROMPT]


def build_panel(sources: Callable[[], Sequence[ArticleInfo]], handle: Handle,
                store: AssistantThreadContextStore | None = None) -> Assistant:
    """The side panel's listeners (module doc)."""
    panel = Assistant(thread_context_store=store or MemoryContextStore())

    @panel.thread_started
    def started(say: Callable[..., Any], set_suggested_prompts: Callable[..., Any],
                save_thread_context: Callable[..., Any], payload: dict[str, Any]) -> None:
        context = (payload.get("assistant_thread") or {}).get("context") or {}
        if context.get("channel_id"):
            save_thread_context(context)
        say(GREETING)
        try:
            articles = list(sources())
        except Exception:  # an unreadable index still gets a greeting
            logger.exception("listing the library for suggested prompts failed")
            articles = []
        try:
            set_suggested_prompts(prompts=suggested_prompts(articles),
                                  title="Try one of these:")
        except SlackApiError as exc:
            logger.warning("could not set suggested prompts: %s", exc.response.get("error"))

    @panel.thread_context_changed
    def context_changed(save_thread_context: Callable[..., Any],
                        payload: dict[str, Any]) -> None:
        context = (payload.get("assistant_thread") or {}).get("context") or {}
        if context.get("channel_id"):
            save_thread_context(context)

    @panel.user_message
    def user_message(event: dict[str, Any], body: dict[str, Any], context: Any,
                     client: Any) -> None:
        handle(event, body, context, client)

    return panel
