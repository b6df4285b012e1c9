"""The Slack bot: a thin face over :class:`assistant.service.Assistant` (slack_bolt lives here).

``SlackBot(assistant, settings, client=None).app`` is the Bolt app with every listener
registered; :mod:`assistant.slack.server` runs it. It answers mentions, direct messages,
replies in a thread it answered in, and the slash command (``/rare-earth <question>`` or
``check <text>``); ``check: <text>`` is fact-checked. Answers go in a thread: :eyes: and a
placeholder while working, then the answer (:mod:`~assistant.slack.blocks`); a follow-up gets
the thread as history (:mod:`~assistant.slack.threads`).

Contract: Bolt acks first, the long work runs in a job pool after the ack; retries are
dropped, events and slash commands (a replayed signed request) de-duplicated, so a question
gets one answer; a failure posts a short apology and is logged (no traces or tokens reach
Slack); bots are ignored; ``slack_channels`` allow-lists channel ids (DMs always allowed);
``slack_rate_limit`` questions per user a minute.
Compromises: dedupe cache, threads and answers kept for feedback are in memory (a restart
forgets them); retries are dropped, not replayed. Why: ``docs/notes/slack.md``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import wait as wait_futures
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.feedback import FeedbackStore
from assistant.models import Answer, Filters, StreamEvent, Turn, final_answer
from assistant.service import Answerer
from assistant.slack import blocks as kit
from assistant.slack import threads as thread
from assistant.slack.infra import RateLimiter, TrackingExecutor, TtlSet
from assistant.slack.threads import (
    APOLOGY,
    ASKED,
    EMPTY_HINT,
    PLACEHOLDER,
    RATE_LIMITED,
    BotThreads,
    clean,
    unescape,
)

logger = logging.getLogger(__name__)

__all__ = ["SlackBot", "build_app"]

STATUS_INTERVAL = 2.0  # seconds between placeholder status updates (chat.update is tier 3)


# ---- the bot -----------------------------------------------------------------------------
class SlackBot:
    """The listeners and their state. ``SlackBot(assistant, settings, client).app`` is the App.

    ``assistant`` is anything with ``ask_stream(question, history, filters, backend)`` and
    ``check(text)`` (the real :class:`~assistant.service.Assistant` or a test double).
    """

    def __init__(
        self,
        assistant: Answerer,
        settings: Settings,
        client: WebClient | None = None,
        feedback: FeedbackStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assistant = assistant
        self.settings = settings
        self._feedback = feedback
        self.clock = clock
        self.seen = TtlSet(ttl=15 * 60, clock=clock)
        self.threads = BotThreads(clock=clock)
        self.limiter = RateLimiter(settings.slack_rate_limit, clock=clock)
        self.answers: OrderedDict[str, Answer] = OrderedDict()
        self._feedback_rows: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._answers_lock = threading.Lock()
        self.listener_pool = TrackingExecutor(8, "slack-listener")
        self.job_pool = TrackingExecutor(max(1, settings.concurrency), "slack-job")
        auth: dict[str, Any] = {"client": client}
        if client is None:
            if not reveal(settings.slack_bot_token):
                raise ConfigError("SLACK_BOT_TOKEN is not set (a bot token, xoxb-...)")
            if settings.slack_api_url:
                base_url = settings.slack_api_url.rstrip("/") + "/"
                token = reveal(settings.slack_bot_token)
                auth = {"client": WebClient(token=token, base_url=base_url)}
            else:  # Bolt builds its own client (and warns if given both a client and a token)
                auth = {"token": reveal(settings.slack_bot_token)}
        self.app = App(
            **auth,
            # "" (not None) so that Bolt does not read the environment itself
            signing_secret=reveal(settings.slack_signing_secret) or "",
            process_before_response=False,
            listener_executor=self.listener_pool,
            raise_error_for_unhandled_request=False,
            name="rare-earth-assistant",
        )
        self._register()

    # ---- wiring ------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_retries)
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.command(self.settings.slack_command)(self._on_command)
        app.action(kit.FEEDBACK_UP)(self._on_feedback)
        app.action(kit.FEEDBACK_DOWN)(self._on_feedback)
        app.error(self._on_error)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every listener and job submitted so far has finished (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self.listener_pool.pending() + self.job_pool.pending()
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait_futures(pending, timeout=left)

    def close(self) -> None:
        self.listener_pool.shutdown(wait=True)
        self.job_pool.shutdown(wait=True)

    def _drop_retries(self, req: Any, resp: Any, next: Callable[[], Any]) -> Any:
        retry = str((req.headers.get("x-slack-retry-num") or ["0"])[0] or "0")
        if retry.strip() not in ("", "0"):
            reason = (req.headers.get("x-slack-retry-reason") or ["?"])[0]
            logger.info("dropping Slack retry %s (%s)", retry, reason)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()

    def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        logger.error("Slack listener error: %s", type(error).__name__, exc_info=error)

    # ---- events ------------------------------------------------------------------------
    def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                    client: WebClient) -> None:
        self._handle(event, body, context, client)

    def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                    client: WebClient) -> None:
        if event.get("channel_type") == "im":
            self._handle(event, body, context, client)
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or (event.get("channel"), thread_ts) not in self.threads:
            return  # channel chatter: only mentions (app_mention) are for us
        bot_user = context.get("bot_user_id") or ""
        if bot_user and f"<@{bot_user}" in (event.get("text") or ""):
            return  # a mention: the app_mention event answers it
        self._handle(event, body, context, client)

    def _allowed_channel(self, channel: str, channel_type: str | None = None) -> bool:
        allowed = self.settings.slack_channels
        if not allowed or channel in allowed:
            return True
        return channel_type == "im" or channel.startswith("D")

    def _handle(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                client: WebClient) -> None:
        if thread.from_bot(event, context.get("bot_user_id")):
            return
        channel = event.get("channel") or ""
        ts = event.get("ts") or ""
        if not self.seen.add_new(
            body.get("event_id"), event.get("client_msg_id") or None, f"{channel}:{ts}"
        ):
            logger.info("duplicate delivery of %s:%s ignored", channel, ts)
            return
        if not self._allowed_channel(channel, event.get("channel_type")):
            logger.info("message in channel %s ignored (not in slack_channels)", channel)
            return
        thread_ts = event.get("thread_ts") or ts
        user = event.get("user") or ""
        text = clean(event.get("text") or "", context.get("bot_user_id"))
        if not text:
            thread.post(client, channel, thread_ts, EMPTY_HINT)
            return
        if not self.limiter.allow(user):
            thread.ephemeral(client, channel, user, thread_ts, RATE_LIMITED)
            return
        self.threads.join(channel, thread_ts)
        history_from = thread_ts if event.get("thread_ts") else None
        self.job_pool.submit(
            self._job, client, channel, ts, thread_ts, text, history_from,
            context.get("bot_user_id"), context.get("bot_id"),
        )

    # ---- slash command -----------------------------------------------------------------
    def _on_command(self, ack: Callable[..., None], command: dict[str, Any], client: WebClient,
                    respond: Callable[..., Any], context: Any, request: BoltRequest) -> None:
        if not self.seen.add_new(*command_keys(command, request)):
            ack()  # a replay of a signed request (same body and timestamp): answered once
            logger.info("repeated slash command from %s ignored", command.get("user_id"))
            return
        text = " ".join((command.get("text") or "").split())
        channel = command.get("channel_id") or ""
        user = command.get("user_id") or ""
        name = command.get("command") or self.settings.slack_command
        if not text or text.lower() in ("help", "?"):
            ack(text=f"Usage: `{name} <question>` or `{name} check <text to fact-check>`")
            return
        is_dm = command.get("channel_name") == "directmessage"
        if not self._allowed_channel(channel, "im" if is_dm else None):
            ack(text="I am not enabled in this channel.")
            return
        if not self.limiter.allow(user):
            ack(text=RATE_LIMITED)
            return
        ack()
        check = text.lower().startswith("check ") or text.lower().startswith("check:")
        body = text[6:].strip() if check else text
        shown = ("check: " if check else "") + body
        try:  # a visible parent message, so that the answer has a thread to live in
            parent = client.chat_postMessage(
                channel=channel, text=f"<@{user}> {ASKED} {kit.trim(shown, 2900)}"
            )
        except SlackApiError as exc:
            logger.warning("cannot post in %s (%s); answering privately", channel,
                           exc.response.get("error"))
            self.job_pool.submit(self._respond_job, respond, shown)
            return
        thread_ts = parent["ts"]
        self.threads.join(channel, thread_ts)
        self.job_pool.submit(
            self._job, client, channel, None, thread_ts, shown, None,
            context.get("bot_user_id"), context.get("bot_id"),
        )

    # ---- the work ----------------------------------------------------------------------
    def _job(self, client: WebClient, channel: str, ts: str | None, thread_ts: str, text: str,
             history_from: str | None, bot_user_id: str | None, bot_id: str | None) -> None:
        """Answer (or fact-check) ``text`` in the thread; never raises."""
        if ts:
            thread.react(client, "reactions_add", channel, ts)
        placeholder: str | None = None
        try:
            placeholder = thread.post(client, channel, thread_ts, PLACEHOLDER)
            messages = self._compute(
                client, channel, thread_ts, ts, text, history_from, bot_user_id, bot_id,
                placeholder,
            )
            thread.deliver(client, channel, thread_ts, placeholder, messages)
        except Exception:
            logger.exception("answering in Slack failed (channel %s, thread %s)",
                             channel, thread_ts)
            thread.apologise(client, channel, thread_ts, placeholder)
        finally:
            if ts:
                thread.react(client, "reactions_remove", channel, ts)

    def _compute(self, client: WebClient | None, channel: str, thread_ts: str, ts: str | None,
                 text: str, history_from: str | None, bot_user_id: str | None,
                 bot_id: str | None, placeholder: str | None
                 ) -> list[tuple[str, list[kit.Block]]]:
        if text.lower().startswith("check:"):
            claim_text = text[len("check:"):].strip()
            if not claim_text:
                return [(EMPTY_HINT, [])]
            report = self.assistant.check(claim_text)
            pages = kit.paginate(kit.check_blocks(report))
            summary = pages[0][0]["text"]["text"] if pages and pages[0] else "Fact-check"
            return thread.as_messages(kit.fallback_text(summary), pages)
        history = (
            self.history(client, channel, history_from, ts, bot_user_id, bot_id)
            if history_from and client is not None else []
        )
        answer = self._ask(client, channel, placeholder, text, history)
        key = self._remember(answer)
        pages = kit.paginate(kit.answer_blocks(answer, feedback_value=key))
        return thread.as_messages(kit.fallback_text(answer.text), pages)

    def _ask(self, client: WebClient | None, channel: str, placeholder: str | None, question: str,
             history: list[Turn]) -> Answer:
        last_update = self.clock()

        def show_status(event: StreamEvent) -> None:
            nonlocal last_update
            if event.kind != "status" or not (client and placeholder and event.text):
                return
            now = self.clock()
            if now - last_update >= STATUS_INTERVAL:
                last_update = now
                thread.show_status(client, channel, placeholder, event.text)

        stream = self.assistant.ask_stream(question, history, Filters(), None)
        return final_answer(stream, on_event=show_status)

    def _respond_job(self, respond: Callable[..., Any], text: str) -> None:
        """Slash command where the bot cannot post: answer privately via response_url."""
        try:
            messages = self._compute(None, "", "", None, text, None, None, None, None)
            for body, blocks in messages:
                respond(text=body, blocks=blocks or None, response_type="ephemeral")
        except Exception:
            logger.exception("answering a slash command failed")
            try:
                respond(text=APOLOGY, response_type="ephemeral")
            except Exception:
                logger.exception("could not send the apology")

    def history(self, client: WebClient, channel: str, thread_ts: str, before_ts: str | None,
                bot_user_id: str | None, bot_id: str | None) -> list[Turn]:
        """The thread's earlier messages as turns (see :func:`threads.read_history`)."""
        return thread.read_history(client, channel, thread_ts, before_ts, bot_user_id, bot_id)

    # ---- feedback ----------------------------------------------------------------------
    def _remember(self, answer: Answer) -> str:
        """Keep the answer for its feedback buttons; returns the key the buttons carry."""
        key = uuid.uuid4().hex[:16]
        with self._answers_lock:
            self.answers[key] = answer
            while len(self.answers) > 1000:
                self.answers.popitem(last=False)
        return key

    def _on_feedback(self, ack: Callable[..., None], body: dict[str, Any],
                     action: dict[str, Any], client: WebClient) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        message = body.get("message") or {}
        key = action.get("value") or ""
        rating = "up" if action.get("action_id") == kit.FEEDBACK_UP else "down"
        with self._answers_lock:
            answer = self.answers.get(key)
        if answer is None:  # the bot restarted since: keep what the message still shows
            answer = Answer(question="", text=unescape(message.get("text") or ""))
        try:
            self.record_feedback(key, user, answer, rating)
        except Exception:
            logger.exception("storing Slack feedback failed")
            return
        thread_ts = message.get("thread_ts") or message.get("ts")
        thread.ephemeral(client, channel, user, thread_ts, "Thanks, your feedback was recorded.")

    def record_feedback(self, key: str, user: str, answer: Answer, rating: str) -> int:
        """Store a click in the shared feedback store (the page's); a second click by the
        same user on the same answer changes that row's rating instead of adding a row."""
        store = self._feedback_store()
        with self._answers_lock:
            previous = self._feedback_rows.get((key, user))
        row = store.rate(answer, rating, previous=previous, face="slack", user=user)
        with self._answers_lock:
            self._feedback_rows[(key, user)] = row
            while len(self._feedback_rows) > 5000:
                self._feedback_rows.popitem(last=False)
        return row

    def _feedback_store(self) -> FeedbackStore:
        if self._feedback is None:
            self._feedback = FeedbackStore(self.settings.feedback_path)
        return self._feedback


def command_keys(command: dict[str, Any], request: BoltRequest) -> tuple[str | None, ...]:
    """De-duplication keys of a slash command: a hash of the signed timestamp and raw body (a
    replayed request), and one of (team, channel, user, text, trigger_id) (Socket Mode)."""
    keys: list[str | None] = [None, None]
    if request.raw_body:
        stamp = (request.headers.get("x-slack-request-timestamp") or [""])[0]
        keys[0] = "cmd-body:" + hashlib.sha256(f"{stamp}:{request.raw_body}".encode()).hexdigest()
    if command.get("trigger_id"):
        fields = (command.get(k) or "" for k in ("team_id", "channel_id", "user_id", "text",
                                                "trigger_id"))
        keys[1] = "cmd:" + hashlib.sha256("\x1f".join(fields).encode()).hexdigest()
    return tuple(keys)


# ---- entry points ------------------------------------------------------------------------
def build_app(assistant: Answerer, settings: Settings, client: WebClient | None = None) -> App:
    """The Bolt app with every listener registered (``SlackBot(...).app``)."""
    return SlackBot(assistant, settings, client).app
