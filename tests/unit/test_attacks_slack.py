"""Issue 20 item 8, the pure parts: which parsed Slack bodies the HTTP guard refuses
(:func:`assistant.slack.server.malformed`) and the keys a replayed slash command is
de-duplicated on (:func:`assistant.slack.bot.command_keys`). The server itself, signed
requests and the fake Slack API: tests/integration/test_attacks_slack.py."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt import BoltRequest

from assistant.slack.bot import command_keys
from assistant.slack.infra import TtlSet
from assistant.slack.server import malformed

COMMAND = {"command": "/rare-earth", "text": "How big?", "channel_id": "C1", "user_id": "U1",
           "team_id": "T1", "trigger_id": "t-1"}
MENTION = {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.1", "channel": "C1"}


@pytest.mark.parametrize("body", [
    COMMAND,
    {"type": "event_callback", "event_id": "Ev1", "event": MENTION},
    {"type": "event_callback", "event": {"type": "reaction_added", "item": {"x": 1}}},
    {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "a"}]},
    {"type": "url_verification", "challenge": "abc"},
    {"ssl_check": "1", "token": "x"},
])
def test_bodies_the_listeners_read_pass(body: dict[str, Any]) -> None:
    assert malformed(body) is None


@pytest.mark.parametrize("body, why", [
    ([1, 2], "JSON list"),
    (None, "JSON NoneType"),
    ({}, "neither a command nor a type"),
    ({"type": 5}, "neither a command nor a type"),
    ({"type": "event_callback", "event": "x"}, "event"),
    ({"type": "event_callback"}, "event"),
    ({"type": "event_callback", "event": {}}, "without a type"),
    ({"type": "event_callback", "event": dict(MENTION, text=5)}, "event.text"),
    ({"type": "event_callback", "event": {"type": "message"}}, "event."),
    ({"type": "block_actions", "user": {"id": "U1"}, "actions": "x"}, "actions"),
    ({"type": "block_actions", "user": {"id": "U1"}, "actions": []}, "without actions"),
    ({"type": "block_actions", "actions": [{"action_id": "a"}]}, "user"),
    ({k: v for k, v in COMMAND.items() if k != "user_id"}, "user_id"),
    (dict(COMMAND, text=["a"]), "text"),
])
def test_malformed_bodies_get_one_line_reason(body: Any, why: str) -> None:
    reason = malformed(body)
    assert reason is not None and why in reason and "\n" not in reason


def signed_request(body: str, stamp: str = "1700000000") -> BoltRequest:
    return BoltRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded",
                                           "x-slack-request-timestamp": stamp})


def test_a_replayed_command_has_the_same_keys_and_is_seen() -> None:
    seen = TtlSet(ttl=15 * 60)
    raw = "command=%2Frare-earth&text=How+big%3F&trigger_id=t-1"
    first = command_keys(COMMAND, signed_request(raw))
    assert all(first)
    assert seen.add_new(*first)
    assert not seen.add_new(*command_keys(COMMAND, signed_request(raw)))  # replayed
    # a person asking the same again is a new invocation (new trigger id, new body)
    again = dict(COMMAND, trigger_id="t-2")
    assert seen.add_new(*command_keys(again, signed_request(raw.replace("t-1", "t-2"),
                                                             "1700000003")))


def test_socket_mode_commands_are_keyed_on_their_fields() -> None:
    socket = BoltRequest(body=dict(COMMAND), mode="socket_mode")
    body_key, field_key = command_keys(COMMAND, socket)
    assert body_key is None and field_key
    assert command_keys({"command": "/x"}, socket) == (None, None)
