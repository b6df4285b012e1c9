"""Slack threads as conversations: reading them as turns, writing to them, knowing which.

Reading: ``read_history(client, channel, thread_ts, before_ts, ...) -> list[Turn]`` reads a thread
(``conversations.replies``) and keeps the messages before the current one: people's
messages are ``user`` turns (the bot's mention stripped), the bot's own answers are
``assistant`` turns, the parent of a slash-command thread (``<@U123> asked: question``) is
the user's question, and the bot's placeholders, apologies and hints are left out, as are
other bots and system messages. :class:`BotThreads` remembers for a week which threads the
bot answered in, so that a plain reply there is answered too; :func:`from_bot` tells the
messages no person typed.

Writing: :func:`post`, :func:`ephemeral`, :func:`react` and :func:`apologise` are the Slack
calls that must not fail an answer (a refusal is logged, not raised); :func:`deliver` puts an
answer's pages in the thread, the first one in place of the placeholder (which
:func:`show_status` keeps up to date meanwhile). The texts the bot
posts besides answers (``PLACEHOLDER``, ``APOLOGY``, ...) are here, as history skips them.

Compromises: only the last 100 messages of a thread are read and the last
``MAX_HISTORY_TURNS`` turns kept; an unreadable thread (missing scope) means no history,
not a failure. The set of threads lives in memory (a restart forgets it).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.errors import too_long
from assistant.models import Turn
from assistant.slack.blocks import Block, escape
from assistant.slack.infra import TtlSet

logger = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_SUBTYPES",
    "APOLOGY",
    "ASKED",
    "BOT_TEXTS",
    "CONTINUED",
    "EMPTY_HINT",
    "EMPTY_LIBRARY",
    "GREETING",
    "MAX_HISTORY_TURNS",
    "MODEL_LOADING",
    "PLACEHOLDER",
    "RATE_LIMITED",
    "WORKING_REACTION",
    "BotThreads",
    "apologise",
    "as_messages",
    "clean",
    "deliver",
    "ephemeral",
    "from_bot",
    "post",
    "react",
    "read_history",
    "show_status",
    "thread_turns",
    "ts_key",
    "unescape",
]

PLACEHOLDER = "Looking through the sources..."
CONTINUED = "(continued)"
APOLOGY = (
    "Sorry, something went wrong while I was answering. The problem has been logged; "
    "please try again in a moment."
)
EMPTY_HINT = (
    "Ask me a question about the rare-earth news, e.g. `@bot Who is building magnet plants "
    "in Malaysia?`, or fact-check a text with `check: <text>`."
)
RATE_LIMITED = "You are asking faster than I can read. Please wait a minute and try again."
MODEL_LOADING = (
    "The language model is still loading (about a minute after a restart); your answer "
    "follows as soon as it is ready."
)
EMPTY_LIBRARY = (
    "The library is empty: no article has been indexed yet, so I have nothing to answer "
    "from. Ask whoever runs me to add articles (`assistant ingest <folder or URL>`)."
)
GREETING = (
    "Hi! Ask me about the rare-earth and critical-minerals news I have read. Every sentence "
    "of my answers cites its source and is checked against it; `check: <text>` fact-checks "
    "a text."
)
REFUSALS = tuple(too_long("xx", 1, what).split(" (")[0] for what in ("question", "text"))
BOT_TEXTS = (PLACEHOLDER, CONTINUED, APOLOGY, RATE_LIMITED, EMPTY_HINT, MODEL_LOADING,
             EMPTY_LIBRARY, GREETING, *REFUSALS)  # not answers
WORKING_REACTION = "eyes"
ASKED = "asked:"  # "<@U123> asked: question" - the parent message of a slash-command thread
MAX_HISTORY_TURNS = 12
ALLOWED_SUBTYPES = (None, "file_share", "thread_broadcast")  # message subtypes people send


def ts_key(ts: str) -> tuple[int, int]:
    """Slack timestamps compare as numbers: ``"1700000000.000100" -> (1700000000, 100)``."""
    whole, _, frac = (ts or "0").partition(".")
    try:
        return int(whole), int(frac or 0)
    except ValueError:
        return 0, 0


def unescape(text: str) -> str:
    """Undo Slack's escaping: ``unescape("a &lt;b&gt; &amp; c") -> "a <b> & c"``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clean(text: str, bot_user_id: str | None) -> str:
    """A message as a question: the bot's mention removed, whitespace collapsed, unescaped."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>:?", " ", text)
    return unescape(" ".join(text.split()))


class BotThreads:
    """The threads (``(channel, thread_ts)``) the bot answered in during the last week."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen = TtlSet(ttl=7 * 24 * 3600, maxsize=20000, clock=clock)

    def join(self, channel: str, thread_ts: str) -> None:
        self._seen.add_new((channel, thread_ts))

    def __contains__(self, key: tuple[str | None, str]) -> bool:
        return key in self._seen


def from_bot(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """True for messages no person typed: bots, this bot, edits, joins and other subtypes."""
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    if event.get("subtype") not in ALLOWED_SUBTYPES:
        return True  # bot_message, message_changed, channel_join, ...
    user = event.get("user")
    return not user or user == bot_user_id


# ---- reading -----------------------------------------------------------------------------
def thread_turns(messages: Iterable[dict[str, Any]], before_ts: str | None,
                 bot_user_id: str | None, bot_id: str | None) -> list[Turn]:
    """A thread's messages as turns (the bot's own as ``assistant``).

    ``before_ts`` is the current message: it and later messages are left out. The bot's
    messages that are not answers (``BOT_TEXTS``) are not turns.
    """
    turns: list[Turn] = []
    limit = ts_key(before_ts) if before_ts else None
    for msg in messages:
        if limit is not None and ts_key(msg.get("ts", "")) >= limit:
            continue
        text = msg.get("text") or ""
        own = bool(
            (bot_user_id and msg.get("user") == bot_user_id)
            or (bot_id and msg.get("bot_id") == bot_id)
        )
        if own:
            asked = re.match(rf"<@\w+>\s+{re.escape(ASKED)}\s*(.*)", text, re.S)
            if asked:
                turns.append(Turn("user", unescape(asked.group(1).strip())))
            elif text and not text.startswith(BOT_TEXTS):
                turns.append(Turn("assistant", unescape(text)))
        elif msg.get("bot_id") or msg.get("subtype") not in ALLOWED_SUBTYPES:
            continue  # other bots and system messages are not part of the conversation
        else:
            cleaned = clean(text, bot_user_id)
            if cleaned:
                turns.append(Turn("user", cleaned))
    return turns[-MAX_HISTORY_TURNS:]


def read_history(client: WebClient, channel: str, thread_ts: str, before_ts: str | None,
                 bot_user_id: str | None, bot_id: str | None) -> list[Turn]:
    """:func:`thread_turns` of the thread ``thread_ts``; ``[]`` when Slack refuses to read it."""
    try:
        resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
    except SlackApiError as exc:
        logger.warning("cannot read thread history (%s); answering without it",
                       exc.response.get("error"))
        return []
    return thread_turns(resp.get("messages") or [], before_ts, bot_user_id, bot_id)


# ---- writing (Slack calls that must not fail the job) ------------------------------------
def post(client: WebClient, channel: str, thread_ts: str, text: str) -> str | None:
    """Post ``text`` in the thread; its ``ts``, or None when Slack refused."""
    try:
        resp = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        return str(resp["ts"])
    except SlackApiError as exc:
        logger.warning("chat.postMessage in %s failed: %s", channel, exc.response.get("error"))
        return None


def ephemeral(client: WebClient, channel: str, user: str, thread_ts: str | None,
              text: str) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
    except SlackApiError as exc:
        logger.warning("chat.postEphemeral failed: %s", exc.response.get("error"))


def react(client: WebClient, method: str, channel: str, ts: str) -> None:
    """``method`` is ``reactions_add`` or ``reactions_remove`` (the working reaction)."""
    try:
        getattr(client, method)(channel=channel, timestamp=ts, name=WORKING_REACTION)
    except SlackApiError as exc:  # missing reactions:write, already_reacted, ...
        logger.debug("%s failed: %s", method, exc.response.get("error"))


def apologise(client: WebClient, channel: str, thread_ts: str, placeholder: str | None,
              text: str = APOLOGY) -> None:
    """``text`` (a short apology by default) in place of ``placeholder``, or posted."""
    try:
        if placeholder:
            client.chat_update(channel=channel, ts=placeholder, text=text, blocks=[])
        else:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    except Exception:
        logger.exception("could not post the apology in %s", channel)


def show_status(client: WebClient, channel: str, placeholder: str, status: str) -> None:
    """The placeholder with the answer's progress: ``Looking through the sources... _status_``."""
    try:
        client.chat_update(channel=channel, ts=placeholder,
                           text=f"{PLACEHOLDER} _{escape(status)}_")
    except SlackApiError as exc:
        logger.debug("status update failed: %s", exc.response.get("error"))


def as_messages(first_text: str, pages: list[list[Block]]) -> list[tuple[str, list[Block]]]:
    """Pages as ``(text, blocks)`` messages: the first carries ``first_text``, the rest
    ``CONTINUED``."""
    return [(first_text if i == 0 else CONTINUED, page) for i, page in enumerate(pages)]


def deliver(client: WebClient, channel: str, thread_ts: str, placeholder: str | None,
            messages: Sequence[tuple[str, list[Block]]]) -> None:
    """Post ``(text, blocks)`` messages in the thread, the first in place of the placeholder."""
    for i, (text, blocks) in enumerate(messages):
        extra: dict[str, Any] = {"blocks": blocks} if blocks else {}
        if i == 0 and placeholder:
            client.chat_update(channel=channel, ts=placeholder, text=text, **extra)
        else:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                    unfurl_links=False, unfurl_media=False, **extra)
