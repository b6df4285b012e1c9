"""The Slack bot against a fake Slack Web API on 127.0.0.1 (tests/integration/fake_slack.py).

Requests are signed like Slack signs them (v0 HMAC-SHA256 of ``v0:timestamp:body``) and
go through the bot's real HTTP server (Bolt's Starlette adapter under uvicorn, as ``run``
builds it in HTTP mode), or through a local websocket server in Socket Mode. These use the
fake Assistant with canned answers (tests/unit/fakes.py); answers stream (chat.startStream /
appendStream / stopStream) unless a test turns that off. The last test runs the real
Assistant and the real local model end to end, streaming. tests/integration/test_slack_ai.py
has the AI-app parts (fallback, status, side panel, feedback form, health, shutdown);
tests/unit/test_slack.py the bot's pure parts.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk import WebClient

from assistant.config import Settings, reveal
from assistant.feedback import FeedbackStore
from assistant.models import (
    Answer,
    CheckReport,
    StreamEvent,
    Turn,
)
from assistant.slack import blocks as kit
from assistant.slack.bot import SlackBot
from assistant.slack.infra import install_token_filter
from assistant.slack.server import make_http_server
from assistant.slack.threads import APOLOGY, CONTINUED, MODEL_LOADING, PLACEHOLDER, RATE_LIMITED
from tests.conftest import CORPUS
from tests.integration.fake_slack import BOT_ID, BOT_USER_ID, FakeSlack
from tests.unit.fakes import APP_TOKEN, BOT_TOKEN, SECRET, URL
from tests.unit.fakes import SlackAssistant as FakeAssistant

pytestmark = pytest.mark.slow


# ---- fixtures --------------------------------------------------------------------------------
def make_settings(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = dict(
        _env_file=None, index_dir=tmp_path / "index", corpus_dir=CORPUS,
        slack_signing_secret=SECRET, slack_bot_token=BOT_TOKEN, slack_rate_limit=100,
        slack_stream_chars=16,  # several chat.appendStream calls for the short canned answer
    )
    base.update(kw)
    return Settings(**base)


class Harness:
    """A bot over the fake Slack API, served by the real HTTP-mode server on a free port."""

    def __init__(self, fake: FakeSlack, settings: Settings, assistant: Any) -> None:
        self.fake = fake
        self.assistant = assistant
        client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
        self.bot = SlackBot(assistant, settings, client=client)
        self.server = make_http_server(self.bot.app, "127.0.0.1", 0,
                                       in_flight=self.bot.in_flight, on_shutdown=self.bot.close)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.bot.close()

    def post(self, body: str, content_type: str = "application/json", *,
             timestamp: int | None = None, secret: str = SECRET,
             headers: dict[str, str] | None = None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = f"v0:{ts}:{body}".encode()
        sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                       "X-Slack-Signature": sig, **(headers or {})}
        return httpx.post(self.url, content=body.encode(), headers=all_headers, timeout=10)

    def event(self, event: dict[str, Any], event_id: str | None = None,
              **kw: Any) -> httpx.Response:
        return self.post(json.dumps(event_body(event, event_id)), **kw)

    def command(self, text: str, **extra: str) -> httpx.Response:
        form = {"token": "x", "team_id": "T0001", "channel_id": "C1", "channel_name": "general",
                "user_id": "U123", "user_name": "ana", "command": "/rare-earth", "text": text,
                "response_url": self.fake.api_url + "response_url", "trigger_id": "t1",
                "api_app_id": "A1", **extra}
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def idle(self) -> None:
        assert self.bot.wait_idle(30), "the bot did not finish in time"


@pytest.fixture
def harness(fake: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(fake, make_settings(tmp_path), FakeAssistant())
    yield h
    h.close()


def event_body(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "x", "team_id": "T0001", "api_app_id": "A1", "type": "event_callback",
        "event": event, "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0001", "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(text: str, ts: str = "1690000000.000100", thread_ts: str | None = None,
            channel: str = "C1", user: str = "U123") -> dict[str, Any]:
    ev = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
          "channel": channel, "event_ts": ts, "client_msg_id": str(uuid.uuid4())}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def answer_update(fake: FakeSlack) -> dict[str, Any]:
    """The chat.update that replaced the placeholder with the answer (has blocks)."""
    updates = [c.args for c in fake.calls_to("chat.update") if c.args.get("blocks")]
    assert updates, [c.method for c in fake.calls]
    return updates[-1]


def streamed(fake: FakeSlack, n: int = -1) -> dict[str, Any]:
    """The ``n``-th streamed answer as the fake stores it (``text``: what was streamed,
    ``blocks``: what ``chat.stopStream`` attached), with ``ts``."""
    starts = fake.calls_to("chat.startStream")
    assert starts, [c.method for c in fake.calls]
    stops = fake.calls_to("chat.stopStream")
    ts = stops[n].args["ts"]
    return fake.message(ts)


# ---- HTTP mode: events ------------------------------------------------------------------------
def test_mention_answers_in_thread_with_answer_source_link_and_flag(harness: Harness) -> None:
    ts = "1690000000.000100"
    resp = harness.event(mention("How big is the Pahang magnet plant?", ts=ts))
    assert resp.status_code == 200
    harness.idle()
    fake = harness.fake

    # streamed into the thread: one start (to the asker, as Slack requires in channels),
    # several appends, one stop; no placeholder
    assert not fake.calls_to("chat.postMessage")
    start, = fake.calls_to("chat.startStream")
    assert (start.args["channel"], start.args["thread_ts"]) == ("C1", ts)
    assert (start.args["recipient_user_id"], start.args["recipient_team_id"]) == ("U123", "T0001")
    assert start.token == BOT_TOKEN
    assert len(fake.calls_to("chat.appendStream")) >= 2
    stop, = fake.calls_to("chat.stopStream")
    message = streamed(fake)
    assert message["thread_ts"] == ts and not message["streaming"]
    text = " ".join(message["text"].split())
    assert text == "Lynas and JS Link plan a 3,000-tonne magnet plant in Pahang [1]. " \
                   "The plant will open in 2026 [1]."
    # the stop carries what goes under the text: the flag, the source with its quote, feedback
    blocks = all_text(stop.args["blocks"])
    assert ":warning: not backed by the sources" in blocks
    assert "The plant will open in 2026" in blocks
    assert "Lynas and JS Link plan" not in blocks  # the text is not repeated under itself
    assert f"<{URL}|Malaysia's magnet deal>" in blocks  # the source as a link
    assert "REEx" in blocks and "2025-11-20" in blocks and "3,000 tonnes of NdFeB" in blocks
    assert stop.args["blocks"][-1]["type"] == "context_actions"
    assert stop.args["blocks"][-1]["elements"][0]["type"] == "feedback_buttons"
    # the working status was shown, then cleared; the :eyes: reaction likewise
    statuses = [c.args["status"] for c in fake.calls_to("assistant.threads.setStatus")]
    assert statuses[0] == "Searching the articles..." and "Searching 2 articles..." in statuses
    assert statuses[-1] == ""
    assert {c.args["thread_ts"] for c in fake.calls_to("assistant.threads.setStatus")} == {ts}
    assert [c.args["name"] for c in fake.calls_to("reactions.add")] == ["eyes"]
    assert fake.calls_to("reactions.add")[0].args["timestamp"] == ts
    assert len(fake.calls_to("reactions.remove")) == 1
    # the question reached the assistant without the mention, with no history
    assert harness.assistant.asked == [("How big is the Pahang magnet plant?", [])]
    assert not fake.calls_to("conversations.replies")


def test_follow_up_in_thread_uses_history(harness: Harness) -> None:
    fake = harness.fake
    root = "1690000000.000100"
    first_q = "Who is building the Pahang magnet plant?"
    # Slack keeps the user's question in the thread; the fake stores the bot's posts itself
    fake.add_message("C1", root, {"type": "message", "user": "U123", "ts": root,
                                  "text": f"<@{BOT_USER_ID}> {first_q}"})
    harness.event(mention(first_q, ts=root))
    harness.idle()
    first_answer = streamed(fake)["text"]

    follow_ts = "1790000000.000200"
    fake.add_message("C1", root, {"type": "message", "user": "U123", "ts": follow_ts,
                                  "thread_ts": root, "text": f"<@{BOT_USER_ID}> How big is it?"})
    harness.event(mention("How big is it?", ts=follow_ts, thread_ts=root))
    harness.idle()

    replies = fake.calls_to("conversations.replies")
    assert len(replies) == 1 and replies[0].args["ts"] == root
    assert replies[0].args["channel"] == "C1"
    question, history = harness.assistant.asked[-1]
    assert question == "How big is it?"
    assert history == [Turn("user", first_q), Turn("assistant", first_answer)]
    # both answers went to the same thread
    starts = fake.calls_to("chat.startStream")
    assert len(starts) == 2 and {c.args["thread_ts"] for c in starts} == {root}


def test_plain_reply_in_a_thread_the_bot_answered_is_a_follow_up(harness: Harness) -> None:
    root = "1690000000.000100"
    question = f"<@{BOT_USER_ID}> Who builds magnets in Pahang?"
    harness.fake.add_message("C1", root,
                             {"type": "message", "user": "U123", "ts": root, "text": question})
    harness.event(mention("Who builds magnets in Pahang?", ts=root))
    harness.idle()
    reply = {"type": "message", "channel_type": "channel", "user": "U123", "channel": "C1",
             "text": "And how many tonnes?", "ts": "1790000000.000300", "thread_ts": root}
    harness.event(reply)
    # a plain message in some other thread is channel chatter, not for the bot
    other = dict(reply, ts="1790000000.000400", thread_ts="1111111111.000100",
                 text="unrelated chatter")
    harness.event(other)
    harness.idle()
    assert [q for q, _ in harness.assistant.asked] == [
        "Who builds magnets in Pahang?", "And how many tonnes?"]
    assert harness.assistant.asked[1][1][0] == Turn("user", "Who builds magnets in Pahang?")


def test_retry_delivery_never_yields_a_second_answer(harness: Harness) -> None:
    ev = mention("How big is the plant?")
    body = json.dumps(event_body(ev, "EvSAME"))
    assert harness.post(body).status_code == 200
    retry = harness.post(body, headers={"X-Slack-Retry-Num": "1",
                                        "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    # a re-delivery without the retry header (e.g. after a reconnect) is de-duplicated too
    assert harness.post(body).status_code == 200
    # and a retry is dropped on its header alone, even when this process never saw the event
    fresh = json.dumps(event_body(mention("A new question?", ts="1690000000.000900"), "EvNEW"))
    assert harness.post(fresh, headers={"X-Slack-Retry-Num": "2"}).status_code == 200
    harness.idle()
    assert len(harness.fake.calls_to("chat.startStream")) == 1
    assert len(harness.assistant.asked) == 1


def test_bad_signature_and_stale_timestamp_get_401_and_no_post(harness: Harness) -> None:
    body = json.dumps(event_body(mention("How big is the plant?")))
    assert harness.post(body, secret="wrong-secret").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert harness.post(body, timestamp=stale).status_code == 401
    unsigned = httpx.post(harness.url, content=body, timeout=10,
                          headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    harness.idle()
    assert not harness.fake.calls_to("chat.postMessage")
    assert not harness.fake.calls_to("chat.startStream")
    assert not harness.fake.calls_to("reactions.add")
    assert harness.assistant.asked == []


def test_messages_from_bots_including_itself_are_ignored(harness: Harness) -> None:
    own = {"type": "message", "channel_type": "im", "channel": "D1", "user": BOT_USER_ID,
           "bot_id": BOT_ID, "text": "Lynas builds it [1].", "ts": "1690000000.000500"}
    other_bot = {"type": "message", "subtype": "bot_message", "channel_type": "im",
                 "channel": "D1", "bot_id": "BOTHER", "text": "beep", "ts": "1690000000.000600"}
    bot_mention = dict(mention("answer me", ts="1690000000.000700"), bot_id="BOTHER")
    edited = {"type": "message", "subtype": "message_changed", "channel_type": "im",
              "channel": "D1", "ts": "1690000000.000800",
              "message": {"user": "U123", "text": "edited"}}
    for ev in (own, other_bot, bot_mention, edited):
        assert harness.event(ev).status_code == 200
    harness.idle()
    assert not harness.fake.calls_to("chat.postMessage")
    assert not harness.fake.calls_to("chat.startStream")
    assert harness.assistant.asked == []

    # a person's direct message is answered, in a thread
    dm = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U123",
          "text": "How big is the plant?", "ts": "1690000000.000900",
          "client_msg_id": "m-1"}
    harness.event(dm)
    harness.idle()
    starts = harness.fake.calls_to("chat.startStream")
    assert len(starts) == 1 and starts[0].args["thread_ts"] == "1690000000.000900"
    assert harness.assistant.asked == [("How big is the plant?", [])]


def test_check_prefix_in_a_mention_fact_checks(harness: Harness) -> None:
    harness.event(mention("check: Lynas will build 99,000 tonnes of magnets a year."))
    harness.idle()
    assert harness.assistant.checked == ["Lynas will build 99,000 tonnes of magnets a year."]
    assert harness.assistant.asked == []
    blocks = all_text(answer_update(harness.fake)["blocks"])
    assert ":x:" in blocks and "contradicted" in blocks and "3,000 tonnes of NdFeB" in blocks
    assert "Malaysia's magnet deal, 2025-11-20" in blocks


def test_chain_failure_posts_a_short_apology_and_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="assistant.slack.bot")
    harness.event(mention("boom: break it"))
    harness.idle()
    posts = harness.fake.calls_to("chat.postMessage")  # it failed before the first word
    assert [c.args["text"] for c in posts] == [APOLOGY]
    assert harness.fake.calls_to("assistant.threads.setStatus")[-1].args["status"] == ""
    for call in harness.fake.calls:
        dumped = json.dumps(call.args)
        assert "Traceback" not in dumped and "exploded" not in dumped and BOT_TOKEN not in dumped
    assert any(r.exc_info and "answering in Slack failed" in r.getMessage()
               for r in caplog.records)
    assert len(harness.fake.calls_to("reactions.remove")) == 1


def test_a_long_answer_is_split_over_messages_in_the_thread(harness: Harness) -> None:
    ts = "1690000000.000100"
    harness.event(mention("Tell me everything at length", ts=ts))
    harness.idle()
    # the text outgrew one streamed message: the stream stopped and was replaced by the
    # paginated answer, the first page in its place, the rest after it in the thread
    update = answer_update(harness.fake)
    assert update["ts"] == streamed(harness.fake)["ts"]
    more = [c.args for c in harness.fake.calls_to("chat.postMessage")]
    assert more and all(m["thread_ts"] == ts and m["text"] == CONTINUED for m in more)
    pages = [update["blocks"]] + [m["blocks"] for m in more]
    for blocks in pages:
        assert len(blocks) <= kit.MAX_BLOCKS
        for b in blocks:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= kit.MAX_SECTION_CHARS
    assert len(update["text"]) <= kit.MAX_TEXT_CHARS
    assert pages[-1][-1]["type"] == "context_actions"  # feedback buttons under the last part
    shown = all_text([b for p in pages for b in p])
    assert "Sentence 0 about magnets" in shown and "Sentence 2999 about magnets" in shown


def test_slash_command_answers_and_checks(harness: Harness) -> None:
    resp = harness.command("How big is the Pahang magnet plant?")
    assert resp.status_code == 200
    harness.idle()
    fake = harness.fake
    posts = fake.calls_to("chat.postMessage")
    parent = posts[0]
    assert "thread_ts" not in parent.args
    assert parent.args["text"] == "<@U123> asked: How big is the Pahang magnet plant?"
    parent_ts = next(m["ts"] for msgs in fake.messages.values() for m in msgs
                     if m["text"].startswith("<@U123> asked:"))
    start, = fake.calls_to("chat.startStream")
    assert start.args["thread_ts"] == parent_ts and len(posts) == 1
    assert (start.args["recipient_user_id"], start.args["recipient_team_id"]) == ("U123", "T0001")
    assert "*[1]*" in all_text(streamed(fake)["blocks"]) and "[1]" in streamed(fake)["text"]
    assert harness.assistant.asked == [("How big is the Pahang magnet plant?", [])]

    resp = harness.command("check Malaysia holds 99 million tonnes of rare earths.")
    assert resp.status_code == 200
    harness.idle()
    assert harness.assistant.checked == ["Malaysia holds 99 million tonnes of rare earths."]
    assert fake.calls_to("chat.postMessage")[-1].args["text"] == PLACEHOLDER  # not streamed
    assert ":x:" in all_text(answer_update(fake)["blocks"])

    usage = harness.command("")
    assert usage.status_code == 200 and "Usage" in usage.text


def test_slash_command_in_a_channel_the_bot_cannot_post_to_answers_privately(
    harness: Harness
) -> None:
    harness.fake.fail["chat.postMessage"] = "not_in_channel"
    assert harness.command("How big is the plant?").status_code == 200
    harness.idle()
    private = harness.fake.calls_to("response_url")
    assert private and private[-1].args["response_type"] == "ephemeral"
    assert "[1]" in all_text(private[-1].args["blocks"])


def test_allow_list_and_rate_limit(fake: FakeSlack, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, slack_channels=("C1",), slack_rate_limit=1)
    h = Harness(fake, settings, FakeAssistant())
    try:
        h.event(mention("first from elsewhere", channel="C2", ts="1690000000.000100"))
        h.idle()
        assert not fake.calls_to("chat.postMessage") and h.assistant.asked == []
        assert not fake.calls_to("chat.startStream")
        h.event(mention("first", ts="1690000000.000200"))
        h.event(mention("second", ts="1690000000.000300"))
        h.idle()
        assert [q for q, _ in h.assistant.asked] == ["first"]
        eph = fake.calls_to("chat.postEphemeral")
        assert len(eph) == 1 and eph[0].args["text"] == RATE_LIMITED
        assert eph[0].args["user"] == "U123"
    finally:
        h.close()


def test_feedback_buttons_and_the_comment_form_go_to_the_shared_feedback_store(
    harness: Harness, tmp_path: Path
) -> None:
    ts = "1690000000.000100"
    harness.event(mention("How big is the plant?", ts=ts))
    harness.idle()
    message = streamed(harness.fake)
    buttons = message["blocks"][-1]["elements"][0]
    assert buttons["type"] == "feedback_buttons" and buttons["action_id"] == kit.FEEDBACK_ACTION

    def click(which: str, trigger_id: str) -> httpx.Response:
        payload = {
            "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U777"},
            "api_app_id": "A1", "trigger_id": trigger_id, "channel": {"id": "C1"},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": "C1"},
            "message": {"ts": message["ts"], "thread_ts": ts, "text": message["text"]},
            "actions": [{"action_id": kit.FEEDBACK_ACTION, "block_id": "feedback",
                         "type": "feedback_buttons", "value": buttons[which]["value"],
                         "action_ts": "1"}],
            "response_url": harness.fake.api_url + "response_url",
        }
        return harness.post(urlencode({"payload": json.dumps(payload)}),
                            "application/x-www-form-urlencoded")

    def submit(view: dict[str, Any], user: str, comment: str) -> httpx.Response:
        state = {"values": {"comment": {"text": {"type": "plain_text_input", "value": comment}}}}
        payload = {"type": "view_submission", "team": {"id": "T0001"}, "user": {"id": user},
                   "api_app_id": "A1", "trigger_id": "t9",
                   "view": {"id": "V1", "type": "modal", "callback_id": view["callback_id"],
                            "private_metadata": view["private_metadata"], "state": state}}
        return harness.post(urlencode({"payload": json.dumps(payload)}),
                            "application/x-www-form-urlencoded")

    store_path = tmp_path / "index" / "feedback.sqlite3"
    assert click("negative_button", "trig-1").status_code == 200
    harness.idle()
    rows = FeedbackStore(store_path).rows()
    assert len(rows) == 1
    assert (rows[0].face, rows[0].rating, rows[0].user) == ("slack", "down", "U777")
    assert rows[0].question == "How big is the plant?"
    assert rows[0].sources[0]["url"] == URL
    # the thumbs-down opened the comment form on the click's trigger
    opened, = harness.fake.calls_to("views.open")
    assert opened.args["trigger_id"] == "trig-1"
    view = opened.args["view"]
    assert view["callback_id"] == "feedback_comment"
    # someone else cannot put words on this row; the rater can
    assert submit(view, "U999", "spam").status_code == 200
    assert submit(view, "U777", "The opening year is not in the article.").status_code == 200
    harness.idle()
    rows = FeedbackStore(store_path).rows()
    assert [(r.rating, r.comment) for r in rows] == [
        ("down", "The opening year is not in the article.")]
    # changing one's mind: the same row, rated up, no form
    assert click("positive_button", "trig-2").status_code == 200
    harness.idle()
    rows = FeedbackStore(store_path).rows()
    assert [r.rating for r in rows] == ["up"] and len(harness.fake.calls_to("views.open")) == 1
    thanks = harness.fake.calls_to("chat.postEphemeral")
    assert len(thanks) == 2 and {t.args["user"] for t in thanks} == {"U777"}
    assert all(t.args["thread_ts"] == ts for t in thanks)


# ---- Socket Mode -------------------------------------------------------------------------------
def test_socket_mode_round_trip(fake: FakeSlack, tmp_path: Path) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from websockets.sync.server import serve

    settings = make_settings(tmp_path, slack_signing_secret=None, slack_app_token=APP_TOKEN,
                             slack_api_url=fake.api_url)
    assistant = FakeAssistant()
    bot = SlackBot(assistant, settings)  # the client comes from settings, as in `run`
    acks: list[dict[str, Any]] = []
    got_ack = threading.Event()
    ts = "1690000000.000100"
    envelope = {"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                "retry_attempt": 0, "retry_reason": "",
                "payload": event_body(mention("How big is the plant?", ts=ts), "EvSOCK")}

    def handler(ws: Any) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A1"}, "debug_info": {}}))
        ws.send(json.dumps(envelope))
        for message in ws:
            data = json.loads(message)
            acks.append(data)
            if data.get("envelope_id") == "env-1":
                got_ack.set()

    server = serve(handler, "127.0.0.1", 0)
    server_thread = threading.Thread(target=server.serve_forever, daemon=True)
    server_thread.start()
    fake.socket_url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/link/?ticket=t1"
    socket_handler = SocketModeHandler(bot.app, reveal(settings.slack_app_token))
    try:
        socket_handler.connect()
        assert got_ack.wait(15), "the envelope was not acknowledged"
        fake.wait_for("chat.stopStream", 1, timeout=15)
        assert bot.wait_idle(30)
    finally:
        socket_handler.close()
        server.shutdown()
        bot.close()
    opened = fake.calls_to("apps.connections.open")
    assert opened and opened[0].token == APP_TOKEN
    starts = fake.calls_to("chat.startStream")
    assert len(starts) == 1 and starts[0].args["thread_ts"] == ts
    assert "*[1]*" in all_text(streamed(fake)["blocks"])
    assert assistant.asked == [("How big is the plant?", [])]


def test_no_token_reaches_the_logs_even_at_debug(fake: FakeSlack, tmp_path: Path) -> None:
    """A full run at DEBUG (Bolt, slack_sdk, ours; a failure whose traceback quotes a token)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        install_token_filter()
        h = Harness(fake, make_settings(tmp_path), FakeAssistant())
        h.event(mention("boom: fail with a token in the error"))
        h.event(mention("How big is the plant?", ts="1690000000.000300"))
        h.idle()
        h.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    logged = buf.getvalue()
    assert "answering in Slack failed" in logged and "Traceback" in logged
    assert "xoxb-***" in logged  # the token in the traceback was there, masked
    assert BOT_TOKEN not in logged and "testtokenvalue" not in logged


# ---- the real thing ----------------------------------------------------------------------------
@pytest.mark.slow
def test_real_assistant_streams_a_mention_end_to_end(fake: FakeSlack, tmp_path: Path) -> None:
    """Real index over corpus/, real embedding model, real local LLM, real verifier; the
    answer streams into the thread as the model writes it."""
    from assistant.service import Assistant

    settings = make_settings(tmp_path, backend="local", slack_stream_chars=24)
    assistant = Assistant(settings)
    result = assistant.ingest([str(CORPUS)])
    assert result.ok and result.chunks_written > 0
    answers: list[Answer] = []

    class Spy:  # the real Assistant, remembering what it answered
        def ask_stream(self, *args: Any, **kw: Any) -> Iterator[StreamEvent]:
            for event in assistant.ask_stream(*args, **kw):
                if event.kind == "answer" and event.answer is not None:
                    answers.append(event.answer)
                yield event

        def check(self, text: str) -> CheckReport:
            return assistant.check(text)

        def sources(self) -> list[Any]:
            return assistant.sources()

        def model_loading(self) -> bool:
            return assistant.model_loading()

    h = Harness(fake, settings, Spy())
    try:
        ts = "1690000000.000100"
        h.event(mention("Which company is partnering with JS Link on a magnet facility?", ts=ts))
        assert h.bot.wait_idle(900)
        start, = fake.calls_to("chat.startStream")
        assert start.args["thread_ts"] == ts and start.args["recipient_user_id"] == "U123"
        appends = fake.calls_to("chat.appendStream")
        assert len(appends) >= 2, "the answer did not arrive piece by piece"
        assert fake.calls_to("chat.stopStream")
        # the model was not loaded yet when the question came: the thread was told so
        assert [c.args["text"] for c in fake.calls_to("chat.postMessage")] == [MODEL_LOADING]
        assert len(answers) == 1 and answers[0].backend == "local", answers
        assert all(c.verdict is not None for c in answers[0].claims)  # every sentence checked
        final = fake.message(start_ts := fake.calls_to("chat.stopStream")[0].args["ts"])
        replaced = [c for c in fake.calls_to("chat.update") if c.args["ts"] == start_ts]
        shown = final["text"] + all_text(final["blocks"])
        assert APOLOGY not in shown and "Lynas" in shown
        assert "*Sources*" in shown and "[1]" in shown and kit.FEEDBACK_ACTION in shown
        if not replaced:  # the streamed text was the final text
            assert " ".join(final["text"].split()) == " ".join(
                kit.escape(answers[0].text).split())
        src = answers[0].sources[0].chunk
        assert f"*[1]* {kit.link(src.url, src.title)}" in shown or not src.url
        statuses = [c.args["status"] for c in fake.calls_to("assistant.threads.setStatus")]
        assert any("Checking" in s for s in statuses) and statuses[-1] == ""
        Path(tmp_path / "message.json").write_text(json.dumps(final, indent=1))
    finally:
        h.close()
