"""Running the Slack bot: ``run(settings, assistant=None)`` starts it and blocks.

Socket Mode by default (``SLACK_APP_TOKEN``, an outgoing websocket, no public URL); with
``slack_mode="http"``, a small threaded WSGI server takes ``POST /slack/events`` and Bolt
checks Slack's request signatures (``SLACK_SIGNING_SECRET``; a bad signature or a timestamp
older than 5 minutes -> 401). Missing tokens and a failing ``auth.test`` are
:class:`~assistant.errors.ConfigError` with the tokens masked; the token filter is put on
the root logger's handlers before anything is logged.

HTTP mode puts :class:`GuardedHandler` in front of Bolt's WSGI adapter, in this order: a
``Content-Length`` over ``slack_max_body_bytes`` -> 413 with the body unread; a bad signature
-> 401 (checked on the raw bytes, before anything is parsed); a signed body Bolt cannot parse
or whose fields the listeners could not read (:func:`malformed`) -> 400 and one warning line,
no traceback. Only then does Bolt dispatch it.

Compromise: the WSGI server is the standard library's (threaded, no TLS): put it behind a
reverse proxy that terminates HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socketserver
import time
from typing import Any, Required
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic import TypeAdapter, ValidationError
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from typing_extensions import TypedDict

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.service import Answerer
from assistant.slack.bot import SlackBot
from assistant.slack.infra import install_token_filter, mask_tokens

logger = logging.getLogger(__name__)

__all__ = ["GuardedHandler", "make_http_server", "malformed", "run"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024  # Settings.slack_max_body_bytes' default
READ_TIMEOUT = 15.0  # seconds a connection may stay silent (a slow-drip body is cut off)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http: " + format, *args)


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


class _EventCallback(TypedDict, total=False):
    type: str
    event_id: str
    event: Required[dict[str, Any]]


_COMMAND = TypeAdapter(_Command)
_EVENT = TypeAdapter(_Event)
_CALLBACK = TypeAdapter(_EventCallback)
_BLOCK_ACTIONS = TypeAdapter(_BlockActions)


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
    except ValidationError as exc:
        first = exc.errors()[0]
        return where + ".".join(str(part) for part in first["loc"]) + f": {first['msg']}"
    return None


# ---- the guard in front of Bolt -----------------------------------------------------------
def _plain(status: int, text: str) -> WsgiHttpResponse:
    return WsgiHttpResponse(status=status, headers={"content-type": ["text/plain;charset=utf-8"]},
                            body=text)


class GuardedHandler(SlackRequestHandler):
    """Bolt's WSGI adapter with the size, signature and shape checks first (module doc)."""

    def __init__(self, app: App, signing_secret: str, max_body_bytes: int,
                 path: str = "/slack/events") -> None:
        if not signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode)")
        super().__init__(app, path=path)
        self.verifier = SignatureVerifier(signing_secret)
        self._secret = signing_secret.encode()
        self.max_body_bytes = max_body_bytes

    def _get_http_response(self, request: WsgiHttpRequest) -> WsgiHttpResponse:
        if request.method != "POST" or request.path != self.path:
            return super()._get_http_response(request)
        try:
            return self._guarded(request)
        except Exception:  # a bug of ours or Bolt's: logged once, never wsgiref's stderr dump
            logger.exception("handling a Slack request failed")
            return _plain(500, "Internal Server Error")

    def _guarded(self, request: WsgiHttpRequest) -> WsgiHttpResponse:
        declared = str(request.environ.get("CONTENT_LENGTH") or "0").strip()
        if not declared.isdigit():
            return self._refuse(400, "a Content-Length that is not a number")
        length = int(declared)
        if length > self.max_body_bytes:
            return self._refuse(413, f"a body of {length} bytes, over the "
                                     f"{self.max_body_bytes}-byte limit")
        try:
            raw: bytes = request.environ["wsgi.input"].read(length) if length else b""
        except OSError as exc:  # the client stalled or went away mid-body
            return self._refuse(408, f"the body could not be read ({type(exc).__name__})")
        headers = request.get_headers()
        if not self._signed(raw, headers):
            logger.info("Slack request with an invalid signature refused")
            return _plain(401, '{"error": "invalid request"}')
        try:
            bolt_request = BoltRequest(body=raw.decode("utf-8"), query=request.query_string,
                                       headers=headers)
        except Exception as exc:  # Bolt parses and reads the body in its constructor
            return self._refuse(400, f"a signed body that is not readable ({type(exc).__name__})")
        problem = malformed(bolt_request.body)
        if problem:
            return self._refuse(400, f"a signed body with {problem}")
        response = self.app.dispatch(bolt_request)
        return WsgiHttpResponse(status=response.status, headers=response.headers,
                                body=response.body)

    def _signed(self, raw: bytes, headers: dict[str, Any]) -> bool:
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

    @staticmethod
    def _refuse(status: int, why: str) -> WsgiHttpResponse:
        logger.warning("Slack request refused (%d): %s", status, why)
        reasons = {400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large"}
        return _plain(status, reasons.get(status, "Refused"))


def make_http_server(app: App, host: str, port: int, *, signing_secret: str | None = None,
                     max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> WSGIServer:
    """A threaded WSGI server for HTTP mode: ``POST /slack/events`` behind :class:`GuardedHandler`.

    ``signing_secret`` defaults to the one the Bolt app was built with.
    """
    secret = signing_secret if signing_secret is not None else getattr(app, "_signing_secret", "")
    handler = GuardedHandler(app, secret or "", max_body_bytes)
    return make_server(host, port, handler, server_class=_ThreadingWSGIServer,
                       handler_class=_QuietHandler)


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
    server = make_http_server(bot.app, settings.slack_host, settings.slack_port,
                              signing_secret=reveal(settings.slack_signing_secret) or "",
                              max_body_bytes=settings.slack_max_body_bytes)
    logger.warning("Slack bot listening on http://%s:%d/slack/events",
                   settings.slack_host, settings.slack_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        bot.close()
