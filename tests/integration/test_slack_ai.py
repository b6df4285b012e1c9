"""The Slack bot as an AI app, against the fake Slack Web API on 127.0.0.1 with signed requests
through the real HTTP-mode server (Bolt's Starlette adapter under uvicorn): the fallback when
streaming is refused or breaks, a streamed draft the checker withdrew, the status line,
refusals a user can act on, the assistant side panel, health and graceful shutdown.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.errors import GenerationError
from assistant.models import StreamEvent
from assistant.slack.threads import EMPTY_LIBRARY, GREETING, MODEL_LOADING, PLACEHOLDER
from tests.integration.fake_slack import FakeSlack
from tests.integration.test_slack import (
    Harness,
    all_text,
    answer_update,
    make_settings,
    mention,
    streamed,
)
from tests.unit.fakes import SlackAssistant

pytestmark = pytest.mark.slow

FINAL = "Lynas and JS Link plan a 3,000-tonne magnet plant in Pahang [1]."


@pytest.fixture
def make(fake: FakeSlack, tmp_path: Path) -> Iterator[Any]:
    made: list[Harness] = []

    def build(assistant: Any = None, **settings: Any) -> Harness:
        h = Harness(fake, make_settings(tmp_path, **settings), assistant or SlackAssistant())
        made.append(h)
        return h

    yield build
    for h in made:
        h.close()


# ---- streaming and its fallbacks ---------------------------------------------------------------
def test_refused_stream_falls_back_to_placeholder_and_update_logged_once(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.slack.stream")
    h = make()
    h.fake.fail["chat.startStream"] = "team_not_allowed"
    h.event(mention("How big is the plant?", ts="1690000000.000100"))
    h.idle()
    h.event(mention("And who builds it?", ts="1690000000.000200"))
    h.idle()
    fake = h.fake
    # the first answer tried once, then took the older path; the second did not try again
    assert len(fake.calls_to("chat.startStream")) == 1
    placeholders = [c.args for c in fake.calls_to("chat.postMessage")]
    assert [(p["text"], p["thread_ts"]) for p in placeholders] == [
        (PLACEHOLDER, "1690000000.000100"), (PLACEHOLDER, "1690000000.000200")]
    update = answer_update(fake)
    blocks = all_text(update["blocks"])
    assert FINAL in blocks and "The plant will open in 2026 [1]. :warning:" in blocks
    assert update["blocks"][-1]["type"] == "context_actions"
    refusals = [r for r in caplog.records if "refused to stream" in r.getMessage()]
    assert len(refusals) == 1 and "team_not_allowed" in refusals[0].getMessage()
    assert fake.calls_to("assistant.threads.setStatus")[-1].args["status"] == ""
    assert len(h.assistant.asked) == 2


def test_a_stream_that_breaks_midway_is_replaced_by_the_whole_answer(make: Any) -> None:
    h = make()
    h.fake.fail["chat.appendStream"] = "message_not_in_streaming_state"
    h.event(mention("How big is the plant?"))
    h.idle()
    start_ts = h.fake.calls_to("chat.stopStream")[0].args["ts"]
    update = answer_update(h.fake)
    assert update["ts"] == start_ts  # the streamed message itself now shows the answer
    final = h.fake.message(start_ts)
    assert FINAL in all_text(final["blocks"]) and final["text"].startswith("Lynas and JS Link")


def test_a_streamed_draft_the_checker_withdrew_does_not_stay_on_screen(make: Any) -> None:
    draft = "Lynas will build 99,000 tonnes of magnets a year [1]."
    h = make(SlackAssistant(tokens=lambda answer: [w + " " for w in draft.split()]))
    h.event(mention("How big is the plant?"))
    h.idle()
    start_ts = h.fake.calls_to("chat.stopStream")[0].args["ts"]
    assert "99,000" in "".join(c["text"] for call in h.fake.calls_to("chat.appendStream")
                               for c in call.args["chunks"]) + h.fake.calls_to(
        "chat.startStream")[0].args["chunks"][0]["text"]
    final = h.fake.message(start_ts)
    assert "99,000" not in final["text"] + all_text(final["blocks"])
    assert FINAL in all_text(final["blocks"])


# ---- what a user sees instead of a silent failure ---------------------------------------------
def test_each_refusal_has_its_own_message_in_the_thread(make: Any) -> None:
    assistant = SlackAssistant()
    h = make(assistant, max_question_chars=200)
    fake = h.fake

    def thread_texts(ts: str) -> list[str]:
        return [c.args["text"] for c in fake.calls_to("chat.postMessage")
                if c.args.get("thread_ts") == ts]

    h.event(mention("How big is the plant? " + "x" * 300, ts="1690000000.000100"))
    h.idle()
    too_long, = thread_texts("1690000000.000100")
    assert too_long.startswith("The question is too long (") and "the limit is 200" in too_long

    assistant.articles = []
    h.event(mention("How big is the plant?", ts="1690000000.000200"))
    h.idle()
    assert thread_texts("1690000000.000200") == [EMPTY_LIBRARY]
    assert assistant.asked == []

    assistant.articles = SlackAssistant().articles
    assistant.loading = True
    h.event(mention("How big is the plant?", ts="1690000000.000300"))
    h.idle()
    assert thread_texts("1690000000.000300") == [MODEL_LOADING]  # then the answer streams
    assert streamed(fake)["thread_ts"] == "1690000000.000300"

    assistant.loading, assistant.fail = False, True  # the model fails while answering
    h.event(mention("How big is the plant?", ts="1690000000.000400"))
    h.idle()
    failed, = thread_texts("1690000000.000400")
    assert failed.startswith("The language model failed while answering")
    assert "exploded" not in failed and "Traceback" not in failed
    assert fake.calls_to("assistant.threads.setStatus")[-1].args["status"] == ""


def test_a_failure_after_the_stream_started_replaces_the_partial_text(make: Any) -> None:
    def tokens_then_fail(answer: Any) -> list[str]:
        return ["Lynas ", "and ", "JS ", "Link ", "plan ", "a ", "plant. "]

    class Breaks(SlackAssistant):
        def ask_stream(self, *args: Any, **kw: Any) -> Iterator[StreamEvent]:
            for event in super().ask_stream(*args, **kw):
                if event.kind == "answer":
                    raise GenerationError("llama exploded")
                yield event

    h = make(Breaks(tokens=tokens_then_fail))
    h.event(mention("How big is the plant?"))
    h.idle()
    start_ts = h.fake.calls_to("chat.stopStream")[0].args["ts"]
    final = h.fake.message(start_ts)
    assert final["text"].startswith("The language model failed while answering")
    assert not final["streaming"]


# ---- the assistant side panel ---------------------------------------------------------------
def test_side_panel_thread_start_context_and_messages(make: Any) -> None:
    h = make()
    fake = h.fake
    root = "1690000000.000100"

    def panel_event(kind: str, channel_seen: str) -> dict[str, Any]:
        return {"type": kind, "event_ts": "1690000000.000150", "assistant_thread": {
            "user_id": "U123", "channel_id": "D1", "thread_ts": root,
            "context": {"channel_id": channel_seen, "team_id": "T0001"}}}

    assert h.event(panel_event("assistant_thread_started", "C9")).status_code == 200
    h.idle()
    greeting, = fake.calls_to("chat.postMessage")
    assert (greeting.args["channel"], greeting.args["thread_ts"]) == ("D1", root)
    assert greeting.args["text"] == GREETING
    prompts, = fake.calls_to("assistant.threads.setSuggestedPrompts")
    titles = [p["title"] for p in prompts.args["prompts"]]
    assert titles == ["Malaysia <b>magnets</b> 1", "China and Malaysia"]  # newest first
    assert prompts.args["prompts"][0]["message"].startswith("What does the news say about")
    assert h.bot.contexts.find(channel_id="D1", thread_ts=root)["channel_id"] == "C9"

    assert h.event(panel_event("assistant_thread_context_changed", "C10")).status_code == 200
    h.idle()
    assert h.bot.contexts.find(channel_id="D1", thread_ts=root)["channel_id"] == "C10"

    # the user's message in the panel thread takes the mentions' path: streamed, in the thread
    fake.add_message("D1", root, {"type": "message", "user": "U123", "ts": "1690000000.000200",
                                  "thread_ts": root, "text": "How big is the plant?"})
    msg = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U123",
           "text": "How big is the plant?", "ts": "1690000000.000200", "thread_ts": root,
           "client_msg_id": "m-1"}
    assert h.event(msg).status_code == 200
    h.idle()
    start, = fake.calls_to("chat.startStream")
    assert (start.args["channel"], start.args["thread_ts"]) == ("D1", root)
    assert h.assistant.asked == [("How big is the plant?", [])]  # the greeting is no turn
    assert "*[1]*" in all_text(streamed(fake)["blocks"])


# ---- the server: health, graceful shutdown ---------------------------------------------------
def test_health_endpoint(make: Any) -> None:
    h = make()
    health = httpx.get(h.url.replace("/slack/events", "/healthz"), timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok", "in_flight": 0}
    assert httpx.get(h.url, timeout=10).status_code == 405  # events are POSTed only


def test_shutdown_finishes_the_answers_in_flight(make: Any) -> None:
    h = make(SlackAssistant(delay=0.1))  # about 1.5 s of streaming
    h.event(mention("How big is the plant?"))
    h.fake.wait_for("chat.startStream", 1, timeout=15)
    assert not h.fake.calls_to("chat.stopStream")
    stopper = threading.Thread(target=h.server.shutdown)
    started = time.monotonic()
    stopper.start()
    stopper.join(60)
    assert not stopper.is_alive()
    # the server stopped taking requests, but the answer was finished before it exited
    assert h.fake.calls_to("chat.stopStream"), [c.method for c in h.fake.calls]
    assert json.dumps(streamed(h.fake)["blocks"]).count("feedback_buttons") == 1
    assert time.monotonic() - started < 30
    with pytest.raises(httpx.TransportError):
        httpx.post(h.url, content=b"{}", timeout=3)
