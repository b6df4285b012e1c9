"""How one answer reaches a thread (assistant/slack/stream.py) with a recording Web API client
(slack_sdk's own ChatStream on top of it), and the AI-app helpers: feedback values, the
blocks under streamed text, suggested prompts, the too-long wording."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.chat_stream import ChatStream

from assistant.errors import too_long
from assistant.models import ArticleInfo
from assistant.slack import blocks as kit
from assistant.slack.panel import MemoryContextStore, suggested_prompts
from assistant.slack.stream import MAX_STREAM_CHARS, Reply, StreamSwitch
from assistant.slack.threads import CONTINUED, PLACEHOLDER
from tests.unit.fakes import canned_answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Client:
    """Records Web API calls; ``fail`` maps a method to the error it answers with."""

    def __init__(self, fail: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail or {}
        self.n = 0

    def _call(self, method: str, **args: Any) -> dict[str, Any]:
        self.calls.append((method, args))
        if method in self.fail:
            raise SlackApiError(method, {"ok": False, "error": self.fail[method]})
        self.n += 1
        return {"ok": True, "ts": f"1.{self.n}"}

    def chat_stream(self, **kw: Any) -> ChatStream:
        return ChatStream(self, logger=logging.getLogger("test"), **kw)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return lambda **args: self._call(name, **args)

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def streamed(self) -> str:
        return "".join(c.text for m, a in self.calls if m.endswith("Stream")
                       for c in a.get("chunks") or [])


def reply(client: Client, switch: StreamSwitch | None = None, **kw: Any) -> Reply:
    return Reply(client, "C1", "9.1", user="U1", team="T1",  # type: ignore[arg-type]
                 switch=switch or StreamSwitch(True), **kw)


FULL = [("the answer", [kit.section("the answer")])]


def test_text_streams_in_pieces_by_size_and_time_then_stops_with_the_tail() -> None:
    client, clock = Client(), Clock()
    r = reply(client, chars=50, interval=1.0, clock=clock)
    r.begin()
    assert client.methods() == []  # no placeholder when streaming
    for word in ["Lynas ", "builds ", "magnets "]:  # 21 < 50 characters: kept
        r.append(word)
    assert client.methods() == []
    clock.now = 1.5
    r.append("<b> ")  # still under 50 characters, but a second went by: the stream starts
    assert client.methods() == ["chat_startStream"]
    r.append("[1].")  # sent when the answer ends
    tail = [[kit.context("flags")], [kit.context("more")]]
    r.finish("Lynas builds magnets <b> [1].", FULL, tail)
    methods = client.methods()
    assert methods[0] == "chat_startStream" and methods.count("chat_appendStream") == 1
    start = client.calls[0][1]
    assert (start["recipient_user_id"], start["recipient_team_id"], start["thread_ts"]) == (
        "U1", "T1", "9.1")
    assert client.streamed() == "Lynas builds magnets &lt;b&gt; [1]."  # escaped for Slack
    stop = next(a for m, a in client.calls if m == "chat_stopStream")
    assert stop["blocks"] == tail[0]
    posted = [a for m, a in client.calls if m == "chat_postMessage"]
    assert [(p["text"], p["blocks"]) for p in posted] == [(CONTINUED, tail[1])]
    assert "chat_update" not in methods


def test_a_final_text_unlike_the_stream_replaces_the_message() -> None:
    client = Client()
    r = reply(client, chars=1)
    r.begin()
    r.append("A figure the checker withdrew.")
    r.finish("The sources do not say.", FULL, [[kit.context("tail")]])
    stop = next(a for m, a in client.calls if m == "chat_stopStream")
    assert stop.get("blocks") is None  # nothing attached to text that is about to go
    update = next(a for m, a in client.calls if m == "chat_update")
    assert update["ts"] == "1.1" and update["blocks"] == FULL[0][1]


def test_a_refused_start_falls_back_and_the_switch_stays_off_for_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    clock = Clock()
    switch = StreamSwitch(True, retry_after=60, clock=clock)
    client = Client({"chat_startStream": "not_allowed"})
    r = reply(client, switch, chars=1)
    r.begin()
    r.append("Lynas")
    assert not switch.available()
    r.append(" builds")  # no second try within this answer either
    r.status("Checking 1 sentence...")
    r.finish("Lynas builds", FULL, [])
    assert client.methods().count("chat_startStream") == 1
    assert [a["text"] for m, a in client.calls if m == "chat_postMessage"] == [PLACEHOLDER]
    updates = [a for m, a in client.calls if m == "chat_update"]
    assert "Checking 1 sentence" in updates[0]["text"] and updates[-1]["blocks"] == FULL[0][1]
    # the next answers take the older path at once; the refusal was logged once
    r2 = reply(client, switch)
    r2.begin()
    assert client.methods().count("chat_startStream") == 1
    switch.failed("not_allowed")
    assert len([r for r in caplog.records if "refused to stream" in r.getMessage()]) == 1
    clock.now = 200  # after retry_after, streaming is tried again
    assert switch.available()
    assert not StreamSwitch(False).available()


def test_text_over_one_message_stops_streaming_and_is_paginated_at_the_end() -> None:
    client = Client()
    r = reply(client, chars=1000)
    r.begin()
    for _ in range(MAX_STREAM_CHARS // 1000 + 3):
        r.append("x" * 1000)
    assert len(client.streamed()) <= MAX_STREAM_CHARS
    r.finish("x" * (MAX_STREAM_CHARS + 3000), FULL, [[kit.context("tail")]])
    assert client.methods()[-1] == "chat_update"


def test_failures_replace_what_was_shown_and_the_status_is_cleared() -> None:
    client = Client()
    r = reply(client, chars=1)
    r.begin()
    r.status("Searching the articles...")
    r.append("Half an ans")
    r.fail("Sorry.")
    r.close()
    update = next(a for m, a in client.calls if m == "chat_update")
    assert (update["ts"], update["text"], update["blocks"]) == ("1.2", "Sorry.", [])
    statuses = [a["status"] for m, a in client.calls if m == "assistant_threads_setStatus"]
    assert statuses == ["Searching the articles...", ""]
    # nothing shown yet: the message is posted; a refused status is not retried or cleared
    quiet = Client({"assistant_threads_setStatus": "not_allowed"})
    r = reply(quiet)
    r.begin()
    r.status("one")
    r.status("two")
    r.fail("Sorry.")
    r.close()
    assert quiet.methods() == ["assistant_threads_setStatus", "chat_postMessage"]


def test_the_status_names_the_sources_before_the_answer_is_written() -> None:
    client = Client()
    r = reply(client, chars=1)
    r.begin()
    answer = canned_answer("q")
    r.sources(answer.sources)
    r.status("Checking 2 sentences...")
    r.append("Lynas")
    r.close()
    statuses = [a["status"] for m, a in client.calls if m == "assistant_threads_setStatus"]
    title = answer.sources[0].chunk.title
    assert statuses[0].startswith(f"Found 1 source: {title[:40]}")
    assert str(answer.sources[0].chunk.published) in statuses[0]
    assert statuses[1].endswith("Checking 2 sentences...") and title[:40] in statuses[1]
    assert statuses[-1] == ""  # cleared at the end
    first_status = client.methods().index("assistant_threads_setStatus")
    assert first_status < client.methods().index("chat_startStream")


def test_feedback_values_and_the_blocks_under_streamed_text() -> None:
    block = kit.feedback_actions("k1")
    buttons = block["elements"][0]
    assert (block["type"], buttons["type"]) == ("context_actions", "feedback_buttons")
    assert kit.feedback_rating({"action_id": kit.FEEDBACK_ACTION,
                                "value": buttons["negative_button"]["value"]}) == ("down", "k1")
    assert kit.feedback_rating({"action_id": kit.FEEDBACK_ACTION,
                                "value": buttons["positive_button"]["value"]}) == ("up", "k1")
    assert kit.feedback_rating({"action_id": kit.FEEDBACK_UP, "value": "k2"}) == ("up", "k2")
    answer = canned_answer("q")
    whole, tail = kit.answer_blocks(answer, "k1"), kit.answer_tail(answer, "k1")
    assert whole[len(whole) - len(tail):] == tail and "Lynas and JS Link plan" not in str(tail)
    assert too_long("x" * 30, 20, "question").startswith("The question is too long (30 ")
    assert too_long("x" * 20, 20, "question") == ""


def test_suggested_prompts_come_from_the_newest_titles() -> None:
    arts = [ArticleInfo(str(i), f"Title {i}", "o", "h", 1, published=date(2025, 1, i + 1))
            for i in range(6)] + [ArticleInfo("x", "title 5", "o", "h", 1)]
    prompts = suggested_prompts(arts)
    assert [p["title"] for p in prompts] == ["Title 5", "Title 4", "Title 3", "Title 2"]
    assert prompts[0]["message"] == "What does the news say about: Title 5?"
    assert len(suggested_prompts([])) == 1
    store = MemoryContextStore(maxsize=2)
    for i in range(3):
        store.save(channel_id="D1", thread_ts=str(i), context={"channel_id": f"C{i}"})
    assert store.find(channel_id="D1", thread_ts="0") is None
    found = store.find(channel_id="D1", thread_ts="2")
    assert found is not None and found.channel_id == "C2"


def test_every_face_says_how_current_an_answer_is() -> None:
    from assistant.ui.render import render_answer

    answer = canned_answer("q")
    answer.as_of = date(2025, 11, 20)
    assert ":calendar: as of 20 Nov 2025 (the newest source used)" in str(kit.answer_tail(answer))
    assert '<b class="as-of">as of 20 Nov 2025</b>' in render_answer(answer, 1)
    answer.abstained = True  # a refusal has no date to stand by
    assert "as of" not in str(kit.answer_tail(answer)) and "as-of" not in render_answer(answer, 1)
