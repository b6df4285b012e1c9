"""Running the Slack bot: ``run(settings, assistant=None)`` starts it and blocks.

Socket Mode by default (``SLACK_APP_TOKEN``, an outgoing websocket, no public URL); with
``slack_mode="http"``, a small threaded WSGI server takes ``POST /slack/events`` and Bolt
checks Slack's request signatures (``SLACK_SIGNING_SECRET``; a bad signature or a timestamp
older than 5 minutes -> 401). Missing tokens and a failing ``auth.test`` are
:class:`~assistant.errors.ConfigError` with the tokens masked; the token filter is put on
the root logger's handlers before anything is logged.

Compromise: the WSGI server is the standard library's (threaded, no TLS): put it behind a
reverse proxy that terminates HTTPS.
"""

from __future__ import annotations

import logging
import socketserver
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.service import Answerer
from assistant.slack.bot import SlackBot
from assistant.slack.infra import install_token_filter, mask_tokens

logger = logging.getLogger(__name__)

__all__ = ["make_http_server", "run"]


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
    server = make_http_server(bot.app, settings.slack_host, settings.slack_port)
    logger.warning("Slack bot listening on http://%s:%d/slack/events",
                   settings.slack_host, settings.slack_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        bot.close()
