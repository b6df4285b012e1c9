"""Issue 20 item 8 through the real HTTP-mode server on loopback, with requests signed like
Slack's (the harness of tests/integration/test_slack.py, the fake Slack Web API): a replayed
slash command is answered once; a signed but malformed body gets 400 and no traceback; a body
over ``slack_max_body_bytes`` gets 413 unread; a bad signature still gets 401."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk import WebClient

from assistant.config import Settings, reveal
from assistant.slack.bot import SlackBot
from assistant.slack.server import make_http_server
from tests.integration.fake_slack import FakeSlack
from tests.integration.test_slack import Harness, event_body, make_settings, mention
from tests.unit.fakes import BOT_TOKEN
from tests.unit.fakes import SlackAssistant as FakeAssistant

pytestmark = pytest.mark.slow

FORM = "application/x-www-form-urlencoded"


class GuardedHarness(Harness):
    """The harness with the server built as ``run`` builds it (secret and size limit)."""

    def __init__(self, fake: FakeSlack, settings: Settings, assistant: Any) -> None:
        self.fake = fake
        self.assistant = assistant
        self.bot = SlackBot(assistant, settings,
                            client=WebClient(token=BOT_TOKEN, base_url=fake.api_url))
        self.server = make_http_server(
            self.bot.app, "127.0.0.1", 0,
            signing_secret=reveal(settings.slack_signing_secret) or "",
            max_body_bytes=settings.slack_max_body_bytes, in_flight=self.bot.in_flight,
            on_shutdown=self.bot.close)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/slack/events"


@pytest.fixture
def harness(fake: FakeSlack, tmp_path: Path) -> Iterator[GuardedHarness]:
    h = GuardedHarness(fake, make_settings(tmp_path, slack_max_body_bytes=4096), FakeAssistant())
    yield h
    h.close()


def posted(harness: GuardedHarness) -> list[str]:
    """The Web API methods the bot called since it started (auth.test is its start-up)."""
    return [c.method for c in harness.fake.calls if c.method != "auth.test"]


def command_form(text: str, trigger_id: str = "t-1", **extra: str) -> str:
    return urlencode({
        "token": "x", "team_id": "T0001", "channel_id": "C1", "channel_name": "general",
        "user_id": "U123", "user_name": "ana", "command": "/rare-earth", "text": text,
        "response_url": "http://127.0.0.1:9/response_url", "trigger_id": trigger_id,
        "api_app_id": "A1", **extra})


# ---- replay ----------------------------------------------------------------------------------
def test_replayed_slash_command_is_answered_once(harness: GuardedHarness) -> None:
    body = command_form("How big is the Pahang magnet plant?",
                        response_url=harness.fake.api_url + "response_url")
    stamp = int(time.time())
    for _ in range(3):  # the same signed request, replayed within Slack's 5-minute window
        assert harness.post(body, FORM, timestamp=stamp).status_code == 200
    harness.idle()
    posts = harness.fake.calls_to("chat.postMessage")
    assert len(posts) == 1  # the visible parent, once
    assert len(harness.fake.calls_to("chat.startStream")) == 1  # the answer in its thread
    assert harness.assistant.asked == [("How big is the Pahang magnet plant?", [])]
    # replaying it a second later (a new timestamp needs a new signature: the attacker has
    # none, but the same fields and trigger_id are refused too)
    assert harness.post(body, FORM, timestamp=stamp + 1).status_code == 200
    harness.idle()
    assert len(harness.assistant.asked) == 1
    # the same question asked again by the person (a new invocation) is answered
    again = command_form("How big is the Pahang magnet plant?", trigger_id="t-2",
                         response_url=harness.fake.api_url + "response_url")
    assert harness.post(again, FORM, timestamp=stamp).status_code == 200
    harness.idle()
    assert len(harness.assistant.asked) == 2
    assert len(harness.fake.calls_to("chat.postMessage")) == 2
    assert len(harness.fake.calls_to("chat.startStream")) == 2


def test_replayed_private_slash_command_responds_once(harness: GuardedHarness) -> None:
    harness.fake.fail["chat.postMessage"] = "not_in_channel"
    body = command_form("How big is the plant?",
                        response_url=harness.fake.api_url + "response_url")
    stamp = int(time.time())
    for _ in range(2):
        assert harness.post(body, FORM, timestamp=stamp).status_code == 200
    harness.idle()
    assert len(harness.fake.calls_to("response_url")) == 1
    assert len(harness.assistant.asked) == 1


# ---- malformed signed bodies -------------------------------------------------------------------
MALFORMED: dict[str, tuple[str, str]] = {
    "not json": ("not json at all", "application/json"),
    "broken json": ('{"type": "event_callback", ', "application/json"),
    "json list": ("[1, 2, 3]", "application/json"),
    "json string": ('"hello"', "application/json"),
    "json null": ("null", "application/json"),
    "empty object": ("{}", "application/json"),
    "not utf-8": ("\udcff\udcfe", "application/json"),
    "event not an object": (json.dumps({"type": "event_callback", "event": "x"}),
                            "application/json"),
    "event a list": (json.dumps({"type": "event_callback", "event": [1]}), "application/json"),
    "event without type": (json.dumps({"type": "event_callback", "event": {}}),
                           "application/json"),
    "mention without fields": (json.dumps({"type": "event_callback",
                                           "event": {"type": "app_mention"}}), "application/json"),
    "mention text a number": (json.dumps(event_body(dict(mention("hi"), text=5))),
                              "application/json"),
    "authorizations a string": (json.dumps(dict(event_body(mention("hi")), authorizations="x")),
                                "application/json"),
    "payload not json": (urlencode({"payload": "nope{"}), FORM),
    "payload a list": (urlencode({"payload": "[1]"}), FORM),
    "actions a string": (urlencode({"payload": json.dumps({"type": "block_actions",
                                                           "user": {"id": "U1"},
                                                           "actions": "x"})}), FORM),
    "actions empty": (urlencode({"payload": json.dumps({"type": "block_actions",
                                                        "user": {"id": "U1"}, "actions": []})}),
                      FORM),
    "form garbage": ("\x00\x01binary&&==", FORM),
    "command without fields": (urlencode({"command": "/rare-earth", "text": "hello"}), FORM),
    "command as json, text a number": (json.dumps({"command": "/rare-earth", "text": 5,
                                                   "channel_id": "C1", "user_id": "U1",
                                                   "team_id": "T1", "trigger_id": "t"}),
                                       "application/json"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_signed_body_gets_400_without_a_traceback(
    harness: GuardedHarness, case: str, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    body, content_type = MALFORMED[case]
    if case == "not utf-8":  # bytes that are not UTF-8, signed as bytes
        resp = post_bytes(harness, b"\xff\xfe{", content_type)
    else:
        resp = harness.post(body, content_type)
    assert resp.status_code == 400, resp.text
    assert "Traceback" not in resp.text
    harness.idle()
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    refusals = [r for r in caplog.records if "refused (400)" in r.getMessage()]
    assert len(refusals) == 1 and "\n" not in refusals[0].getMessage()
    assert not posted(harness) and harness.assistant.asked == []


def post_bytes(harness: GuardedHarness, raw: bytes, content_type: str) -> httpx.Response:
    import hashlib
    import hmac

    from tests.unit.fakes import SECRET

    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + raw,
                           hashlib.sha256).hexdigest()
    return httpx.post(harness.url, content=raw, timeout=10, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})


def test_well_formed_requests_still_work_behind_the_guard(harness: GuardedHarness) -> None:
    assert harness.event(mention("How big is the plant?")).status_code == 200
    challenge = harness.post(json.dumps({"type": "url_verification", "challenge": "abc",
                                         "token": "x"}))
    assert challenge.status_code == 200 and "abc" in challenge.text
    harness.idle()
    assert harness.assistant.asked == [("How big is the plant?", [])]


# ---- size ------------------------------------------------------------------------------------
def test_oversized_body_is_refused_with_413_before_parsing(harness: GuardedHarness) -> None:
    big = json.dumps(event_body(mention("How big is the plant? " + "x" * 6000)))
    started = time.monotonic()
    resp = harness.post(big)  # validly signed, 6 KB over a 4 KB limit
    assert resp.status_code == 413
    assert time.monotonic() - started < 2
    # a claimed 1 GB body is refused on its header, without waiting for the bytes
    with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{")
        started = time.monotonic()
        reply = sock.recv(4096)
        assert time.monotonic() - started < 2
    assert reply.startswith(b"HTTP/1.0 413") or reply.startswith(b"HTTP/1.1 413"), reply
    harness.idle()
    assert not posted(harness) and harness.assistant.asked == []
    # a body under the limit still gets through
    assert harness.event(mention("How big is the plant?")).status_code == 200
    harness.idle()
    assert len(harness.assistant.asked) == 1


# ---- signatures ------------------------------------------------------------------------------
def test_bad_signature_still_gets_401_even_on_garbage(harness: GuardedHarness) -> None:
    good = json.dumps(event_body(mention("How big is the plant?")))
    for body in (good, "not json at all", "[1, 2]", urlencode({"payload": "nope{"})):
        assert harness.post(body, secret="wrong-secret").status_code == 401
        assert harness.post(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
        unsigned = httpx.post(harness.url, content=body, timeout=10,
                              headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
    odd_stamp = harness.post(good, headers={"X-Slack-Request-Timestamp": "soon"})
    assert odd_stamp.status_code == 401
    harness.idle()
    assert not posted(harness) and harness.assistant.asked == []
