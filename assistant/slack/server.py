"""Running the Slack bot: ``run(settings, assistant=None)`` starts it and blocks.

Socket Mode by default (``SLACK_APP_TOKEN``, an outgoing websocket, no public URL); with
``slack_mode="http"``, Bolt's Starlette adapter under uvicorn takes ``POST /slack/events``
(``SLACK_SIGNING_SECRET``; a bad signature or a timestamp older than 5 minutes -> 401) and
answers ``GET /healthz`` (``{"status": "ok", "in_flight": n}``). On SIGTERM/SIGINT uvicorn
stops taking requests and the bot finishes the answers in flight (at most
``slack_shutdown_grace`` seconds) before the process exits. Missing tokens and a failing
``auth.test`` are :class:`~assistant.errors.ConfigError` with the tokens masked; the token
filter is put on the root logger's handlers before anything is logged; the local model is
loaded in the background at start, so that the first question does not wait for it, and
``settings.feeds`` are watched (:mod:`assistant.feeds`).

:class:`GuardedHandler` (a subclass of the adapter's handler) checks, in this order: a
``Content-Length`` over ``slack_max_body_bytes`` -> 413 with the body unread (a body that
grows past it while read, too); a body not read within ``READ_TIMEOUT`` -> 408; a bad
signature -> 401 (checked on the raw bytes, before anything is parsed); a signed body Bolt
cannot parse or whose fields the listeners could not read (:func:`malformed`) -> 400 and one
warning line, no traceback. Only then does Bolt dispatch it (in a worker thread).

Compromise: no TLS: put it behind a reverse proxy that terminates HTTPS.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Required

import uvicorn
from pydantic import TypeAdapter, ValidationError
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler, to_starlette_response
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from typing_extensions import TypedDict

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.service import Answerer
from assistant.slack.bot import SlackBot
from assistant.slack.infra import install_token_filter, mask_tokens

logger = logging.getLogger(__name__)

__all__ = ["GuardedHandler", "HttpServer", "make_http_server", "malformed", "run"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024  # Settings.slack_max_body_bytes' default
READ_TIMEOUT = 15.0  # seconds to read a request body (a slow-drip body is cut off)


# ---- the shapes the listeners read (strict: a number is not a string) --------------------
class _Command(TypedDict, total=False):  # Slack sends every one of the required fields
    command: Required[str]
    text: Required[str]
    channel_id: Required[str]
    channel_name: str
    user_id: Required[str]
    team_id: Required[str]
    trigger_id: Required[str]
    response_url: str


class _Event(TypedDict, total=False):
    type: Required[str]
    subtype: str
    user: str
    bot_id: str
    text: str
    ts: Required[str]
    thread_ts: str
    channel: Required[str]
    channel_type: str
    client_msg_id: str


class _Ref(TypedDict, total=False):
    id: str


class _Message(TypedDict, total=False):
    text: str
    ts: str
    thread_ts: str


class _Action(TypedDict, total=False):
    action_id: str
    value: str


class _BlockActions(TypedDict, total=False):
    type: str
    user: Required[_Ref]
    channel: _Ref
    message: _Message
    actions: Required[list[_Action]]


class _View(TypedDict, total=False):
    callback_id: str
    private_metadata: str
    state: Required[dict[str, Any]]


class _ViewSubmission(TypedDict, total=False):
    type: str
    user: Required[_Ref]
    view: Required[_View]


class _EventCallback(TypedDict, total=False):
    type: str
    event_id: str
    event: Required[dict[str, Any]]


_COMMAND = TypeAdapter(_Command)
_EVENT = TypeAdapter(_Event)
_CALLBACK = TypeAdapter(_EventCallback)
_BLOCK_ACTIONS = TypeAdapter(_BlockActions)
_VIEW_SUBMISSION = TypeAdapter(_ViewSubmission)


def malformed(body: Any) -> str | None:
    """Why a parsed Slack body is one the listeners could not read (one line), else None.

    Only the fields the bot reads are checked, and only for the kinds it listens to; other
    kinds go to Bolt, which answers them as unhandled.
    """
    if not isinstance(body, dict):
        return f"the body is a JSON {type(body).__name__}, not an object"
    if not ("command" in body or "ssl_check" in body or isinstance(body.get("type"), str)):
        return "neither a command nor a type"
    where = ""
    try:
        if "command" in body:
            _COMMAND.validate_python(body, strict=True)
        elif body.get("type") == "event_callback":
            _CALLBACK.validate_python(body, strict=True)
            where = "event."
            kind = body["event"].get("type")
            if not isinstance(kind, str):
                return "an event without a type"
            if kind in ("app_mention", "message"):
                _EVENT.validate_python(body["event"], strict=True)
        elif body.get("type") == "block_actions":
            _BLOCK_ACTIONS.validate_python(body, strict=True)
            if not body["actions"]:
                return "a block_actions payload without actions"
        elif body.get("type") == "view_submission":
            _VIEW_SUBMISSION.validate_python(body, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        return where + ".".join(str(part) for part in first["loc"]) + f": {first['msg']}"
    return None


# ---- the guard in front of Bolt -----------------------------------------------------------
class _Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


class GuardedHandler(SlackRequestHandler):
    """Bolt's Starlette adapter with the size, signature and shape checks first (module doc)."""

    def __init__(self, app: App, signing_secret: str, max_body_bytes: int,
                 read_timeout: float = READ_TIMEOUT) -> None:
        if not signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode)")
        super().__init__(app)
        self.verifier = SignatureVerifier(signing_secret)
        self._secret = signing_secret.encode()
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout

    async def handle(self, req: Request,
                     addition_context_properties: dict[str, Any] | None = None) -> Response:
        try:
            return await self._guarded(req)
        except _Refused as refused:
            logger.warning("Slack request refused (%d): %s", refused.status, refused.why)
            reasons = {400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large"}
            return PlainTextResponse(reasons.get(refused.status, "Refused"), refused.status)
        except Exception:  # a bug of ours or Bolt's: logged once, no traceback to the client
            logger.exception("handling a Slack request failed")
            return PlainTextResponse("Internal Server Error", 500)

    async def _read(self, req: Request) -> bytes:
        declared = (req.headers.get("content-length") or "").strip()
        if declared and not declared.isdigit():
            raise _Refused(400, "a Content-Length that is not a number")
        if declared and int(declared) > self.max_body_bytes:
            raise _Refused(413, f"a body of {declared} bytes, over the "
                                f"{self.max_body_bytes}-byte limit")
        raw = bytearray()

        async def collect() -> None:
            async for chunk in req.stream():
                raw.extend(chunk)
                if len(raw) > self.max_body_bytes:
                    raise _Refused(413, f"a body over the {self.max_body_bytes}-byte limit")

        try:
            await asyncio.wait_for(collect(), self.read_timeout)
        except TimeoutError:
            raise _Refused(408, f"the body was not read within {self.read_timeout:.0f} s") \
                from None
        return bytes(raw)

    async def _guarded(self, req: Request) -> Response:
        raw = await self._read(req)
        headers: dict[str, str | Sequence[str]] = dict(req.headers.items())
        if not self._signed(raw, headers):
            logger.info("Slack request with an invalid signature refused")
            return JSONResponse({"error": "invalid request"}, 401)
        try:
            bolt_request = BoltRequest(body=raw.decode("utf-8"), query=req.url.query,
                                       headers=headers)
        except Exception as exc:  # Bolt parses and reads the body in its constructor
            raise _Refused(400, f"a signed body that is not readable ({type(exc).__name__})") \
                from None
        problem = malformed(bolt_request.body)
        if problem:
            raise _Refused(400, f"a signed body with {problem}")
        response = await run_in_threadpool(self.app.dispatch, bolt_request)
        return to_starlette_response(response)

    def _signed(self, raw: bytes, headers: dict[str, str | Sequence[str]]) -> bool:
        timestamp = str(headers.get("x-slack-request-timestamp") or "")
        signature = str(headers.get("x-slack-signature") or "")
        if not timestamp.isdigit() or not signature:
            return False
        try:
            return self.verifier.is_valid(raw, timestamp, signature)
        except UnicodeDecodeError:  # the library signs text; Slack signs the bytes
            if abs(time.time() - int(timestamp)) > 5 * 60:
                return False
            base = b"v0:" + timestamp.encode() + b":" + raw
            expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)


def asgi_app(handler: GuardedHandler, *, path: str = "/slack/events",
             in_flight: Callable[[], int] | None = None,
             on_shutdown: Callable[[], None] | None = None) -> Starlette:
    """The ASGI app: ``POST path`` -> ``handler``; ``GET /healthz``; ``on_shutdown`` runs (in
    a thread) when the server stops, after it stopped taking requests."""
    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "in_flight": in_flight() if in_flight else 0})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    return Starlette(routes=[Route(path, events, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])], lifespan=lifespan)


class HttpServer:
    """uvicorn serving :func:`asgi_app` on a socket bound at construction (so ``port=0``
    works and ``server_address`` is known at once). ``serve_forever()`` blocks (in the main
    thread it handles SIGTERM/SIGINT: a graceful stop); ``shutdown()`` stops it from another
    thread the same way and waits; ``server_close()`` closes the socket."""

    def __init__(self, app: Starlette, host: str, port: int, grace: float = 120.0) -> None:
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=max(1, round(grace)),
                                timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self._done = threading.Event()

    def serve_forever(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self._done.set()

    def shutdown(self, timeout: float = 180.0) -> None:
        self.server.should_exit = True
        self._done.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_http_server(app: App, host: str, port: int, *, signing_secret: str | None = None,
                     max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                     in_flight: Callable[[], int] | None = None,
                     on_shutdown: Callable[[], None] | None = None,
                     grace: float = 120.0) -> HttpServer:
    """The HTTP-mode server: ``POST /slack/events`` behind :class:`GuardedHandler`, health.

    ``signing_secret`` defaults to the one the Bolt app was built with.
    """
    secret = signing_secret if signing_secret is not None else getattr(app, "_signing_secret", "")
    handler = GuardedHandler(app, secret or "", max_body_bytes)
    return HttpServer(asgi_app(handler, in_flight=in_flight, on_shutdown=on_shutdown),
                      host, port, grace)


def run(settings: Settings, assistant: Answerer | None = None) -> None:
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
        from assistant.feeds.watch import watch_in_background
        from assistant.service import Assistant

        real = Assistant(settings)
        threading.Thread(target=real.warm_quietly, name="model-warm", daemon=True).start()
        watch_in_background(real)  # settings.feeds, polled every settings.feed_interval
        assistant = real
    try:
        bot = SlackBot(assistant, settings)
    except Exception as exc:  # auth.test failed: bad token, no network
        raise ConfigError(f"cannot connect to Slack: {mask_tokens(str(exc))}") from exc
    bot.follow.start(bot.app.client)  # watched questions, digests
    if settings.slack_mode == "socket":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        logger.warning("Slack bot connecting in Socket Mode")
        SocketModeHandler(bot.app, reveal(settings.slack_app_token)).start()
        return
    server = make_http_server(
        bot.app, settings.slack_host, settings.slack_port,
        signing_secret=reveal(settings.slack_signing_secret) or "",
        max_body_bytes=settings.slack_max_body_bytes, in_flight=bot.in_flight,
        on_shutdown=lambda: bot.close(settings.slack_shutdown_grace),
        grace=settings.slack_shutdown_grace)
    logger.warning("Slack bot listening on http://%s:%d/slack/events",
                   settings.slack_host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()

