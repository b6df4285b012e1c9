"""The Slack bot: a thin face over :class:`assistant.service.Assistant` (slack_bolt lives here).

``build_app(assistant, settings, client=None) -> slack_bolt.App`` registers the listeners;
``run(settings)`` starts it in Socket Mode (``SLACK_APP_TOKEN``, no public URL) or, with
``slack_mode="http"``, behind a small threaded WSGI server that checks Slack's request
signatures (``SLACK_SIGNING_SECRET``; bad signature or a timestamp older than 5 minutes ->
401, done by Bolt's ``RequestVerification``).

What it answers: ``app_mention`` in channels, direct messages (``message.im``), replies in
a thread it already answered in (``message.channels``, optional), and the slash command
(``/rare-earth <question>``, ``/rare-earth check <text>``). A text starting with ``check:``
is fact-checked instead of answered. Answers always go in a thread (``thread_ts`` = the
event's ``thread_ts`` or its ``ts``); a follow-up in a thread gets the thread's earlier
messages as history (``conversations.replies``; the bot's own messages are assistant
turns). While working it puts :eyes: on the question and a "Looking through the sources..."
placeholder in the thread, which is then updated with the answer (Block Kit, see
:mod:`assistant.slack.blocks`).

Robustness: Bolt acks first and the listeners run after the ack
(``process_before_response=False``); the long work runs in a small job pool so that slow
answers never hold up the 3-second ack of a command or button. Slack retries
(``X-Slack-Retry-Num``; Socket Mode's ``retry_attempt`` is mapped to the same header) are
acknowledged and dropped, and events are also de-duplicated by ``event_id``,
``client_msg_id`` and channel+ts in a small TTL cache, so one question never gets two
answers. A failure while answering posts a short apology in the thread and goes to
``logger.exception`` (no stack traces or tokens reach Slack). Messages from bots (``bot_id``,
``subtype``, the bot's own user id) are ignored. ``settings.slack_channels`` is an
allow-list of channel ids (DMs are always allowed); ``settings.slack_rate_limit`` questions
per user per minute. Tokens are never logged: :class:`TokenMaskingFilter` masks anything
that looks like a Slack token in log records.

Compromises: the dedupe cache, the set of threads the bot is in and the answers kept for
feedback live in memory (a restart forgets them; a retry that reaches a freshly restarted
bot is still dropped because of its retry header). Slack retries are dropped outright
rather than replayed: with listeners running after the ack, Slack only retries when it did
not hear the ack in time, and then the first delivery is almost always being processed.
The allow-list takes channel ids, not names (no extra ``channels:read`` scope needed).
"""

from __future__ import annotations

import logging
import re
import socketserver
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.feedback import FeedbackStore
from assistant.models import Answer, Filters, Turn
from assistant.slack import blocks as kit

logger = logging.getLogger(__name__)

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
ASKED = "asked:"  # "<@U123> asked: question" - the parent message of a slash-command thread
WORKING_REACTION = "eyes"
MAX_HISTORY_TURNS = 12
STATUS_INTERVAL = 2.0  # seconds between placeholder status updates (chat.update is tier 3)
_BOT_TEXTS = (PLACEHOLDER, CONTINUED, APOLOGY, RATE_LIMITED, EMPTY_HINT)
_ALLOWED_SUBTYPES = (None, "file_share", "thread_broadcast")
_TOKEN_RE = re.compile(r"\b(xox[a-z]-|xapp-)[A-Za-z0-9-]+")


# ---- secrets in logs ---------------------------------------------------------------------
def mask_tokens(text: str) -> str:
    """``mask_tokens("token xoxb-123-abc") -> "token xoxb-***"``."""
    return _TOKEN_RE.sub(lambda m: m.group(1) + "***", text)


class TokenMaskingFilter(logging.Filter):
    """A logging filter (for handlers) that masks Slack tokens in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        masked = mask_tokens(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:  # tracebacks may quote tokens too
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_tokens(record.stack_info)
        return True


def install_token_filter(log: logging.Logger | None = None) -> None:
    """Add :class:`TokenMaskingFilter` to every handler of ``log`` (default: the root)."""
    target = log or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, TokenMaskingFilter) for f in handler.filters):
            handler.addFilter(TokenMaskingFilter())


# ---- small state helpers -----------------------------------------------------------------
class TtlSet:
    """A bounded set whose members expire: ``add_new(key) -> True`` only the first time."""

    def __init__(
        self, ttl: float, maxsize: int = 10000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._items: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._items:
            key, at = next(iter(self._items.items()))
            if now - at <= self.ttl and len(self._items) <= self.maxsize:
                break
            self._items.popitem(last=False)

    def add_new(self, *keys: Hashable) -> bool:
        """Add all keys; True when none of them was present (i.e. this is new)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            seen = any(k in self._items for k in keys if k is not None)
            for k in keys:
                if k is not None:
                    self._items[k] = now
                    self._items.move_to_end(k)
            return not seen

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            self._expire(self.clock())
            return key in self._items


class RateLimiter:
    """``limit`` events per ``window`` seconds per key; ``limit <= 0`` disables it."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that can wait until everything submitted so far (and after) is done."""

    def __init__(self, max_workers: int, name: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._futures: set[Future[Any]] = set()
        self._flock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._flock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._flock:
            self._futures.discard(future)

    def pending(self) -> list[Future[Any]]:
        with self._flock:
            return [f for f in self._futures if not f.done()]


def _ts_key(ts: str) -> tuple[int, int]:
    """Slack timestamps compare as numbers: ``"1700000000.000100" -> (1700000000, 100)``."""
    whole, _, frac = (ts or "0").partition(".")
    try:
        return int(whole), int(frac or 0)
    except ValueError:
        return 0, 0


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# ---- the bot -----------------------------------------------------------------------------
class SlackBot:
    """The listeners and their state. ``SlackBot(assistant, settings, client).app`` is the App.

    ``assistant`` is anything with ``ask_stream(question, history, filters, backend)`` and
    ``check(text)`` (the real :class:`~assistant.service.Assistant` or a test double).
    """

    def __init__(
        self,
        assistant: Any,
        settings: Settings,
        client: WebClient | None = None,
        feedback: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assistant = assistant
        self.settings = settings
        self._feedback = feedback
        self.clock = clock
        self.seen = TtlSet(ttl=15 * 60, clock=clock)
        self.threads = TtlSet(ttl=7 * 24 * 3600, maxsize=20000, clock=clock)
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

    def _is_from_bot(self, event: dict[str, Any], context: Any) -> bool:
        if event.get("bot_id") or event.get("bot_profile"):
            return True
        if event.get("subtype") not in _ALLOWED_SUBTYPES:
            return True  # bot_message, message_changed, channel_join, ...
        user = event.get("user")
        return not user or user == context.get("bot_user_id")

    def _allowed_channel(self, channel: str, channel_type: str | None = None) -> bool:
        allowed = self.settings.slack_channels
        if not allowed or channel in allowed:
            return True
        return channel_type == "im" or channel.startswith("D")

    def _handle(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                client: WebClient) -> None:
        if self._is_from_bot(event, context):
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
        text = self._clean(event.get("text") or "", context.get("bot_user_id"))
        if not text:
            self._post(client, channel, thread_ts, EMPTY_HINT)
            return
        if not self.limiter.allow(user):
            self._ephemeral(client, channel, user, thread_ts, RATE_LIMITED)
            return
        self.threads.add_new((channel, thread_ts))
        history_from = thread_ts if event.get("thread_ts") else None
        self.job_pool.submit(
            self._job, client, channel, ts, thread_ts, text, history_from,
            context.get("bot_user_id"), context.get("bot_id"),
        )

    @staticmethod
    def _clean(text: str, bot_user_id: str | None) -> str:
        if bot_user_id:
            text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>:?", " ", text)
        return _unescape(" ".join(text.split()))

    # ---- slash command -----------------------------------------------------------------
    def _on_command(self, ack: Callable[..., None], command: dict[str, Any], client: WebClient,
                    respond: Callable[..., Any], context: Any) -> None:
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
        self.threads.add_new((channel, thread_ts))
        self.job_pool.submit(
            self._job, client, channel, None, thread_ts, shown, None,
            context.get("bot_user_id"), context.get("bot_id"),
        )

    # ---- the work ----------------------------------------------------------------------
    def _job(self, client: WebClient, channel: str, ts: str | None, thread_ts: str, text: str,
             history_from: str | None, bot_user_id: str | None, bot_id: str | None) -> None:
        """Answer (or fact-check) ``text`` in the thread; never raises."""
        if ts:
            self._react(client, "reactions_add", channel, ts)
        placeholder: str | None = None
        try:
            placeholder = self._post(client, channel, thread_ts, PLACEHOLDER)
            messages = self._compute(
                client, channel, thread_ts, ts, text, history_from, bot_user_id, bot_id,
                placeholder,
            )
            self._deliver(client, channel, thread_ts, placeholder, messages)
        except Exception:
            logger.exception("answering in Slack failed (channel %s, thread %s)",
                             channel, thread_ts)
            self._apologise(client, channel, thread_ts, placeholder)
        finally:
            if ts:
                self._react(client, "reactions_remove", channel, ts)

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
            return self._messages(kit.fallback_text(summary), pages)
        history = (
            self.history(client, channel, history_from, ts, bot_user_id, bot_id)
            if history_from and client is not None else []
        )
        answer = self._ask(client, channel, placeholder, text, history)
        key = self._remember(answer)
        pages = kit.paginate(kit.answer_blocks(answer, feedback_value=key))
        return self._messages(kit.fallback_text(answer.text), pages)

    @staticmethod
    def _messages(first_text: str, pages: list[list[kit.Block]]
                  ) -> list[tuple[str, list[kit.Block]]]:
        return [(first_text if i == 0 else CONTINUED, page) for i, page in enumerate(pages)]

    def _ask(self, client: WebClient | None, channel: str, placeholder: str | None, question: str,
             history: list[Turn]) -> Answer:
        last_update = self.clock()
        answer: Answer | None = None
        for event in self.assistant.ask_stream(question, history, Filters(), None):
            if event.kind == "answer" and event.answer is not None:
                answer = event.answer
            elif event.kind == "status" and client and placeholder and event.text:
                now = self.clock()
                if now - last_update >= STATUS_INTERVAL:
                    last_update = now
                    try:
                        client.chat_update(channel=channel, ts=placeholder,
                                           text=f"{PLACEHOLDER} _{kit.escape(event.text)}_")
                    except SlackApiError as exc:
                        logger.debug("status update failed: %s", exc.response.get("error"))
        if answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        return answer

    def _deliver(self, client: WebClient, channel: str, thread_ts: str, placeholder: str | None,
                 messages: list[tuple[str, list[kit.Block]]]) -> None:
        for i, (text, blocks) in enumerate(messages):
            extra: dict[str, Any] = {"blocks": blocks} if blocks else {}
            if i == 0 and placeholder:
                client.chat_update(channel=channel, ts=placeholder, text=text, **extra)
            else:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                        unfurl_links=False, unfurl_media=False, **extra)

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
        """The thread's earlier messages as turns (the bot's own as ``assistant``).

        ``before_ts`` is the current message: it and later messages are left out.
        """
        try:
            resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
        except SlackApiError as exc:
            logger.warning("cannot read thread history (%s); answering without it",
                           exc.response.get("error"))
            return []
        turns: list[Turn] = []
        limit = _ts_key(before_ts) if before_ts else None
        for msg in resp.get("messages") or []:
            if limit is not None and _ts_key(msg.get("ts", "")) >= limit:
                continue
            text = msg.get("text") or ""
            own = bool(
                (bot_user_id and msg.get("user") == bot_user_id)
                or (bot_id and msg.get("bot_id") == bot_id)
            )
            if own:
                asked = re.match(rf"<@\w+>\s+{re.escape(ASKED)}\s*(.*)", text, re.S)
                if asked:
                    turns.append(Turn("user", _unescape(asked.group(1).strip())))
                elif text and not text.startswith(_BOT_TEXTS):
                    turns.append(Turn("assistant", _unescape(text)))
            elif msg.get("bot_id") or msg.get("subtype") not in _ALLOWED_SUBTYPES:
                continue  # other bots and system messages are not part of the conversation
            else:
                cleaned = self._clean(text, bot_user_id)
                if cleaned:
                    turns.append(Turn("user", cleaned))
        return turns[-MAX_HISTORY_TURNS:]

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
            answer = Answer(question="", text=_unescape(message.get("text") or ""))
        try:
            self.record_feedback(key, user, answer, rating)
        except Exception:
            logger.exception("storing Slack feedback failed")
            return
        thread_ts = message.get("thread_ts") or message.get("ts")
        self._ephemeral(client, channel, user, thread_ts, "Thanks, your feedback was recorded.")

    def record_feedback(self, key: str, user: str, answer: Answer, rating: str) -> int:
        """Store a click in the shared feedback store (the page's); a second click by the
        same user on the same answer changes that row's rating instead of adding a row."""
        store = self._feedback_store()
        with self._answers_lock:
            row = self._feedback_rows.get((key, user))
        if row is not None:
            store.set_rating(row, rating)
            return row
        row = int(store.add(answer, rating, face="slack", user=user))
        with self._answers_lock:
            self._feedback_rows[(key, user)] = row
            while len(self._feedback_rows) > 5000:
                self._feedback_rows.popitem(last=False)
        return row

    def _feedback_store(self) -> Any:
        if self._feedback is None:
            self._feedback = FeedbackStore(self.settings.feedback_path)
        return self._feedback

    # ---- Slack calls that must not fail the job -----------------------------------------
    def _post(self, client: WebClient, channel: str, thread_ts: str, text: str) -> str | None:
        try:
            resp = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
            return str(resp["ts"])
        except SlackApiError as exc:
            logger.warning("chat.postMessage in %s failed: %s", channel, exc.response.get("error"))
            return None

    def _ephemeral(self, client: WebClient, channel: str, user: str, thread_ts: str | None,
                   text: str) -> None:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            logger.warning("chat.postEphemeral failed: %s", exc.response.get("error"))

    def _react(self, client: WebClient, method: str, channel: str, ts: str) -> None:
        try:
            getattr(client, method)(channel=channel, timestamp=ts, name=WORKING_REACTION)
        except SlackApiError as exc:  # missing reactions:write, already_reacted, ...
            logger.debug("%s failed: %s", method, exc.response.get("error"))

    def _apologise(self, client: WebClient, channel: str, thread_ts: str,
                   placeholder: str | None) -> None:
        try:
            if placeholder:
                client.chat_update(channel=channel, ts=placeholder, text=APOLOGY, blocks=[])
            else:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=APOLOGY)
        except Exception:
            logger.exception("could not post the apology in %s", channel)


# ---- entry points ------------------------------------------------------------------------
def build_app(assistant: Any, settings: Settings, client: WebClient | None = None) -> App:
    """The Bolt app with every listener registered (``SlackBot(...).app``)."""
    return SlackBot(assistant, settings, client).app


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http: " + format, *args)


def make_http_server(app: App, host: str, port: int) -> WSGIServer:
    """A threaded WSGI server for HTTP mode: ``POST /slack/events`` (signatures checked)."""
    handler = SlackRequestHandler(app, path="/slack/events")
    return make_server(host, port, handler, server_class=_ThreadingWSGIServer,
                       handler_class=_QuietHandler)


def run(settings: Settings, assistant: Any | None = None) -> None:
    """Start the bot and block: Socket Mode by default, HTTP mode when configured."""
    install_token_filter()
    if not reveal(settings.slack_bot_token):
        raise ConfigError("SLACK_BOT_TOKEN is not set (a bot token, xoxb-...)")
    if settings.slack_mode == "socket" and not reveal(settings.slack_app_token):
        raise ConfigError("SLACK_APP_TOKEN is not set (an app-level token, xapp-..., "
                          "with connections:write) - or use HTTP mode")
    if settings.slack_mode == "http" and not reveal(settings.slack_signing_secret):
        raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode)")
    if assistant is None:
        from assistant.service import Assistant

        assistant = Assistant(settings)
    try:
        bot = SlackBot(assistant, settings)
    except Exception as exc:  # auth.test failed: bad token, no network
        raise ConfigError(f"cannot connect to Slack: {mask_tokens(str(exc))}") from exc
    if settings.slack_mode == "socket":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        logger.warning("Slack bot connecting in Socket Mode")
        SocketModeHandler(bot.app, reveal(settings.slack_app_token)).start()
        return
    server = make_http_server(bot.app, settings.slack_host, settings.slack_port)
    logger.warning("Slack bot listening on http://%s:%d/slack/events",
                   settings.slack_host, settings.slack_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        bot.close()
