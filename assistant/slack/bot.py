"""The Slack bot: a thin face over :class:`assistant.service.Assistant` (slack_bolt lives here).

``SlackBot(assistant, settings, client=None).app`` is the Bolt app with every listener
registered; :mod:`assistant.slack.server` runs it. It answers mentions, direct messages,
the assistant side panel (:mod:`~assistant.slack.panel`), replies in a thread it answered
in, and the slash command (``/rare-earth <question>`` or ``check <text>``); ``check: <text>``
is fact-checked. All of them take one path (:meth:`SlackBot.handle` -> a job): answers go in
a thread, streamed with the working status shown (:mod:`~assistant.slack.stream`), then
the flags, sources and feedback buttons (:mod:`~assistant.slack.blocks`,
:mod:`~assistant.slack.feedback`); a follow-up gets the thread as history
(:mod:`~assistant.slack.threads`).

Contract: Bolt acks first, the long work runs in a job pool after the ack; retries are
dropped, events and slash commands (a replayed signed request) de-duplicated, so a question
gets one answer; every refusal has its own short message in the thread (question too long,
empty library, rate limit; a model still loading is announced, then answered); a failure
posts :func:`~assistant.errors.user_message` or a short apology and is logged (no traces or
tokens reach Slack); bots are ignored; ``slack_channels`` allow-lists channel ids (DMs always
allowed); ``slack_rate_limit`` questions per user a minute.
Compromises: dedupe cache, threads and answers kept for feedback are in memory (a restart
forgets them); retries are dropped, not replayed. Why: ``docs/notes/slack.md``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.config import Settings, reveal
from assistant.errors import AssistantError, ConfigError, too_long, user_message
from assistant.feedback import FeedbackStore
from assistant.models import Answer, Filters, StreamEvent, Turn, final_answer
from assistant.service import Answerer
from assistant.slack import blocks as kit
from assistant.slack import threads as thread
from assistant.slack.feedback import SlackFeedback
from assistant.slack.follow import VERBS, FollowNews
from assistant.slack.infra import RateLimiter, TrackingExecutor, TtlSet
from assistant.slack.panel import MemoryContextStore, build_panel
from assistant.slack.stream import Reply, StreamSwitch
from assistant.slack.threads import (
    APOLOGY,
    ASKED,
    EMPTY_HINT,
    EMPTY_LIBRARY,
    MODEL_LOADING,
    RATE_LIMITED,
    BotThreads,
    clean,
)

logger = logging.getLogger(__name__)

__all__ = ["Job", "SlackBot", "build_app"]

CHECK_PREFIX = "check:"


@dataclass(frozen=True)
class Job:
    """One question (or ``check:`` text) to answer in a thread."""

    channel: str
    thread_ts: str
    text: str
    ts: str | None = None  # the person's message (gets the working reaction); None: a command
    history_from: str | None = None  # read the thread's earlier messages as history
    user: str = ""
    team: str = ""
    bot_user_id: str | None = None
    bot_id: str | None = None

    @property
    def is_check(self) -> bool:
        return self.text.lower().startswith(CHECK_PREFIX)


# ---- the bot -----------------------------------------------------------------------------
class SlackBot:
    """The listeners and their state. ``SlackBot(assistant, settings, client).app`` is the App.

    ``assistant`` is anything with ``ask_stream``, ``check``, ``sources`` and
    ``model_loading`` (the real :class:`~assistant.service.Assistant` or a test double).
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
        self.clock = clock
        self.seen = TtlSet(ttl=15 * 60, clock=clock)
        self.threads = BotThreads(clock=clock)
        self.limiter = RateLimiter(settings.slack_rate_limit, clock=clock)
        self.feedback = SlackFeedback(settings, feedback)
        self.streams = StreamSwitch(settings.slack_stream, clock=clock)
        self.contexts = MemoryContextStore()  # the side panel's thread contexts
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
        self.follow = FollowNews(self)  # watched questions and digests
        self._register()

    # ---- wiring ------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_retries)
        app.assistant(build_panel(self.assistant.sources, self.handle, self.contexts))
        app.event("app_mention")(self.handle)
        app.event("message")(self._on_message)
        app.command(self.settings.slack_command)(self._on_command)
        self.feedback.register(app)
        app.error(self._on_error)

    def in_flight(self) -> int:
        """Answers being worked on or waiting (health checks, shutdown)."""
        return len(self.job_pool.pending())

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

    def close(self, timeout: float | None = None) -> None:
        """Finish the answers in flight (at most ``timeout`` seconds when given), then stop."""
        if timeout is not None and not self.wait_idle(timeout):
            logger.warning("shutting down with %d answers unfinished", self.in_flight())
        self.follow.stop()
        self.listener_pool.shutdown(wait=timeout is None)
        self.job_pool.shutdown(wait=timeout is None)

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
    def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                    client: WebClient) -> None:
        if event.get("channel_type") == "im":
            self.handle(event, body, context, client)
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or (event.get("channel"), thread_ts) not in self.threads:
            return  # channel chatter: only mentions (app_mention) are for us
        bot_user = context.get("bot_user_id") or ""
        if bot_user and f"<@{bot_user}" in (event.get("text") or ""):
            return  # a mention: the app_mention event answers it
        self.handle(event, body, context, client)

    def _allowed_channel(self, channel: str, channel_type: str | None = None) -> bool:
        allowed = self.settings.slack_channels
        if not allowed or channel in allowed:
            return True
        return channel_type == "im" or channel.startswith("D")

    def handle(self, event: dict[str, Any], body: dict[str, Any], context: Any,
               client: WebClient) -> None:
        """The one path of mentions, direct messages, panel messages and thread replies."""
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
        team = event.get("team") or event.get("user_team") or body.get("team_id") or ""
        self.job_pool.submit(self._job, client, Job(
            channel, thread_ts, text, ts=ts,
            history_from=thread_ts if event.get("thread_ts") else None, user=user, team=team,
            bot_user_id=context.get("bot_user_id"), bot_id=context.get("bot_id"),
        ))

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
            ack(text=f"Usage: `{name} <question>`, `{name} check <text to fact-check>`, "
                     f"`{name} watch <question>`, `{name} watches`, `{name} unwatch <n>`")
            return
        is_dm = command.get("channel_name") == "directmessage"
        if not self._allowed_channel(channel, "im" if is_dm else None):
            ack(text="I am not enabled in this channel.")
            return
        if not self.limiter.allow(user):
            ack(text=RATE_LIMITED)
            return
        verb, _, rest = text.partition(" ")
        if verb.lower() in VERBS:
            self.follow.command(verb.lower(), rest.strip(), command, client, ack)
            return
        ack()
        check = text.lower().startswith("check ") or text.lower().startswith(CHECK_PREFIX)
        body = text[6:].strip() if check else text
        shown = (CHECK_PREFIX + " " if check else "") + body
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
        self.job_pool.submit(self._job, client, Job(
            channel, thread_ts, shown, user=user, team=command.get("team_id") or "",
            bot_user_id=context.get("bot_user_id"), bot_id=context.get("bot_id"),
        ))

    # ---- the work ----------------------------------------------------------------------
    def refusal(self, text: str) -> str | None:
        """Why ``text`` is not answered (too long, empty library), else None."""
        check = text.lower().startswith(CHECK_PREFIX)
        limit = self.settings.max_check_chars if check else self.settings.max_question_chars
        refused = too_long(text, limit, "text" if check else "question")
        if refused:
            return refused
        if not self.assistant.sources():
            return EMPTY_LIBRARY
        return None

    def _job(self, client: WebClient, job: Job) -> None:
        """Answer (or fact-check) ``job.text`` in the thread; never raises."""
        if job.ts:
            thread.react(client, "reactions_add", job.channel, job.ts)
        s = self.settings
        reply = Reply(client, job.channel, job.thread_ts, user=job.user, team=job.team,
                      switch=self.streams, chars=s.slack_stream_chars,
                      interval=s.slack_stream_interval, clock=self.clock)
        try:
            refused = self.refusal(job.text)
            if refused:
                thread.post(client, job.channel, job.thread_ts, refused)
                return
            if not job.is_check and self.assistant.model_loading():
                thread.post(client, job.channel, job.thread_ts, MODEL_LOADING)
            reply.begin(stream=not job.is_check)
            if job.is_check:
                reply.status("Checking the text...")
                reply.deliver(self._check(job.text[len(CHECK_PREFIX):].strip()))
                return
            reply.status("Searching the articles...")
            history = (self.history(client, job.channel, job.history_from, job.ts,
                                    job.bot_user_id, job.bot_id) if job.history_from else [])
            answer = self._ask(reply, job.text, history)
            key = self.feedback.remember(answer)
            full = thread.as_messages(kit.fallback_text(answer.text),
                                      kit.paginate(kit.answer_blocks(answer, key)))
            reply.finish(answer.text, full, kit.paginate(kit.answer_tail(answer, key)))
        except Exception as exc:
            logger.exception("answering in Slack failed (channel %s, thread %s)",
                             job.channel, job.thread_ts)
            reply.fail(user_message(exc) if isinstance(exc, AssistantError) else APOLOGY)
        finally:
            reply.close()
            if job.ts:
                thread.react(client, "reactions_remove", job.channel, job.ts)

    def _check(self, claim_text: str) -> list[tuple[str, list[kit.Block]]]:
        if not claim_text:
            return [(EMPTY_HINT, [])]
        report = self.assistant.check(claim_text)
        pages = kit.paginate(kit.check_blocks(report))
        summary = pages[0][0]["text"]["text"] if pages and pages[0] else "Fact-check"
        return thread.as_messages(kit.fallback_text(summary), pages)

    def _ask(self, reply: Reply | None, question: str, history: list[Turn]) -> Answer:
        def show(event: StreamEvent) -> None:
            if reply is None:
                return
            if event.kind == "sources" and event.answer is not None:
                reply.sources(event.answer.sources)
            elif event.kind == "status":
                reply.status(event.text)
            elif event.kind == "token":
                reply.append(event.text)

        stream = self.assistant.ask_stream(question, history, Filters(), None)
        return final_answer(stream, on_event=show)

    def _respond_job(self, respond: Callable[..., Any], text: str) -> None:
        """Slash command where the bot cannot post: answer privately via response_url."""
        try:
            refused = self.refusal(text)
            messages: list[tuple[str, list[kit.Block]]]
            if refused:
                messages = [(refused, [])]
            elif text.lower().startswith(CHECK_PREFIX):
                messages = self._check(text[len(CHECK_PREFIX):].strip())
            else:
                answer = self._ask(None, text, [])
                key = self.feedback.remember(answer)
                messages = thread.as_messages(kit.fallback_text(answer.text),
                                              kit.paginate(kit.answer_blocks(answer, key)))
            for body, blocks in messages:
                respond(text=body, blocks=blocks or None, response_type="ephemeral")
        except Exception as exc:
            logger.exception("answering a slash command failed")
            try:
                text = user_message(exc) if isinstance(exc, AssistantError) else APOLOGY
                respond(text=text, response_type="ephemeral")
            except Exception:
                logger.exception("could not send the apology")

    def history(self, client: WebClient, channel: str, thread_ts: str, before_ts: str | None,
                bot_user_id: str | None, bot_id: str | None) -> list[Turn]:
        """The thread's earlier messages as turns (see :func:`threads.read_history`)."""
        return thread.read_history(client, channel, thread_ts, before_ts, bot_user_id, bot_id)


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
