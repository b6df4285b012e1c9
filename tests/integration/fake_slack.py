"""A small fake Slack Web API on 127.0.0.1 that records every call (for offline tests).

``FakeSlack().start()`` serves ``http://127.0.0.1:PORT/api/<method>`` in a thread;
``WebClient(token, base_url=fake.api_url)`` talks to it. It understands JSON, form and
query-string arguments, the way slack_sdk sends them, and answers like Slack does:

* ``auth.test`` -> the bot's identity (``bot_user_id`` / ``bot_id``);
* ``chat.postMessage`` / ``chat.update`` / ``chat.postEphemeral`` -> ``ok`` with a fresh
  ``ts``; posted messages are also stored in their thread, so ``conversations.replies``
  returns them (plus whatever the test seeded with :meth:`add_message`);
* ``chat.startStream`` / ``appendStream`` / ``stopStream`` -> a streamed message in its
  thread whose text grows with the markdown chunks and which gets ``blocks`` when it stops
  (``streaming`` is True until then); :meth:`FakeSlack.message` finds it by ``ts``;
* ``assistant.threads.setStatus`` / ``setSuggestedPrompts`` / ``setTitle``, ``views.open``
  -> ``ok`` (recorded);
* ``reactions.add`` / ``reactions.remove`` -> ``ok``;
* ``apps.connections.open`` -> ``{"url": fake.socket_url}`` (a local websocket server);
* a method listed in ``fake.fail`` -> ``{"ok": false, "error": ...}``; unknown -> error.

Run it alone with ``python tests/integration/fake_slack.py --port 8123`` (it prints its URL).
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""


@dataclass
class FakeSlack:
    """The fake; ``calls`` holds every request in order."""

    socket_url: str = ""
    calls: list[Call] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)
    messages: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # ---- test helpers ------------------------------------------------------------------
    def add_message(self, channel: str, thread_ts: str, message: dict[str, Any]) -> None:
        """Seed a message (``{"user", "text", "ts"}``) into a thread for conversations.replies."""
        with self._lock:
            self.messages.setdefault((channel, thread_ts), []).append(dict(message))

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
        """Poll until ``count`` calls to ``method`` arrived (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise TimeoutError(f"{method}: {len(self.calls_to(method))} of {count} calls")

    def message(self, ts: str) -> dict[str, Any]:
        """The stored message with this ``ts`` (posted, streamed or updated)."""
        with self._lock:
            for thread in self.messages.values():
                for msg in thread:
                    if msg.get("ts") == ts:
                        return dict(msg)
        raise KeyError(ts)

    def next_ts(self) -> str:
        return f"1700000{next(self._ts):03d}.000100"

    # ---- the API -----------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(req.path)
        method = parsed.path.rsplit("/", 1)[-1]
        args: dict[str, Any] = dict(parse_qsl(parsed.query))
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        ctype = req.headers.get("Content-Type") or ""
        if raw:
            if "json" in ctype:
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw.decode("utf-8"))))
        for key in ("blocks", "attachments", "view", "prompts", "chunks"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = req.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or str(args.pop("token", ""))
        with self._lock:
            self.calls.append(Call(method, args, token))
        body = self._respond(method, args)
        data = json.dumps(body).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _respond(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self.fail:
            return {"ok": False, "error": self.fail[method]}
        if method == "auth.test":
            return {
                "ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "rare-earth",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = self.next_ts()
            channel = str(args.get("channel", ""))
            msg = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts,
                   "text": args.get("text", ""), "blocks": args.get("blocks", [])}
            thread = str(args.get("thread_ts") or ts)
            if args.get("thread_ts"):
                msg["thread_ts"] = thread
            with self._lock:
                self.messages.setdefault((channel, thread), []).append(msg)
            return {"ok": True, "channel": channel, "ts": ts, "message": msg}
        if method == "chat.update":
            channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
            with self._lock:
                for thread in self.messages.values():
                    for msg in thread:
                        if msg.get("ts") == ts:
                            msg["text"] = args.get("text", msg.get("text", ""))
                            if "blocks" in args:
                                msg["blocks"] = args["blocks"]
            return {"ok": True, "channel": channel, "ts": ts, "text": args.get("text", "")}
        if method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            return self._stream(method, args)
        if method in ("assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts",
                      "assistant.threads.setTitle", "views.open"):
            return {"ok": True}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.next_ts()}
        if method in ("reactions.add", "reactions.remove"):
            return {"ok": True}
        if method == "conversations.replies":
            key = (str(args.get("channel", "")), str(args.get("ts", "")))
            with self._lock:
                msgs = sorted(self.messages.get(key, []), key=lambda m: float(m["ts"]))
            return {"ok": True, "messages": msgs, "has_more": False}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        return {"ok": False, "error": "unknown_method"}


    def _stream(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        text = str(args.get("markdown_text") or "") + "".join(
            str(c.get("text", "")) for c in args.get("chunks") or []
            if c.get("type") == "markdown_text")
        if method == "chat.startStream":
            if not args.get("thread_ts"):
                return {"ok": False, "error": "invalid_arguments"}
            if not channel.startswith("D") and not (
                    args.get("recipient_user_id") and args.get("recipient_team_id")):
                return {"ok": False, "error": "missing_recipient_user_id"}
            ts = self.next_ts()
            msg = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts,
                   "thread_ts": str(args["thread_ts"]), "text": text, "blocks": [],
                   "streaming": True}
            with self._lock:
                self.messages.setdefault((channel, str(args["thread_ts"])), []).append(msg)
            return {"ok": True, "channel": channel, "ts": ts}
        ts = str(args.get("ts", ""))
        with self._lock:
            found = [m for thread in self.messages.values() for m in thread
                     if m.get("ts") == ts and "streaming" in m]
            if not found or not found[0]["streaming"]:
                return {"ok": False, "error": "message_not_in_streaming_state"}
            found[0]["text"] += text
            if method == "chat.stopStream":
                found[0]["streaming"] = False
                found[0]["blocks"] = args.get("blocks") or []
        return {"ok": True, "channel": channel, "ts": ts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeSlack().start(args.port)
    print(fake.api_url, flush=True)  # noqa: T201
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
