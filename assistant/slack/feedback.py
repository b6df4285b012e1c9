"""Feedback from Slack: the thumbs under an answer and a comment after a thumbs-down.

:class:`SlackFeedback` keeps the answers the bot posted (by the key their buttons carry),
records clicks in the shared feedback store (the page's, face ``slack``) and, on a
thumbs-down, opens a short modal (``views.open``) asking what was wrong; the submitted
comment is stored on the same row. A second click by the same user on the same answer
changes that row instead of adding one. ``register(app)`` wires the listeners.

Compromise: the answers are kept in memory (the last 1,000); after a restart a click on an
older answer stores what its message still shows.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.config import Settings
from assistant.errors import StoreError
from assistant.feedback import FeedbackStore
from assistant.models import Answer
from assistant.slack import blocks as kit
from assistant.slack import threads as thread

logger = logging.getLogger(__name__)

__all__ = ["COMMENT_VIEW", "SlackFeedback", "comment_view"]

COMMENT_VIEW = "feedback_comment"  # the modal's callback_id
COMMENT_BLOCK, COMMENT_INPUT = "comment", "text"
MAX_COMMENT_CHARS = 2000
THANKS = "Thanks, your feedback was recorded."


def comment_view(metadata: dict[str, Any]) -> dict[str, Any]:
    """The thumbs-down modal; ``metadata`` (row, user, channel, thread) rides along."""
    def plain(text: str) -> dict[str, str]:
        return {"type": "plain_text", "text": text}

    return {
        "type": "modal",
        "callback_id": COMMENT_VIEW,
        "title": plain("What was not right?"),
        "submit": plain("Send"),
        "close": plain("Skip"),
        "private_metadata": json.dumps(metadata),
        "blocks": [{
            "type": "input",
            "block_id": COMMENT_BLOCK,
            "label": plain("A wrong figure, a missing source, a claim the article does not make?"),
            "element": {"type": "plain_text_input", "action_id": COMMENT_INPUT,
                        "multiline": True, "max_length": MAX_COMMENT_CHARS},
        }],
    }


class SlackFeedback:
    """The answers behind the buttons and the listeners for clicks and comments."""

    def __init__(self, settings: Settings, store: FeedbackStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self.answers: OrderedDict[str, Answer] = OrderedDict()
        self._rows: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, app: App) -> None:
        for action_id in (kit.FEEDBACK_ACTION, kit.FEEDBACK_UP, kit.FEEDBACK_DOWN):
            app.action(action_id)(self.on_click)
        app.view(COMMENT_VIEW)(self.on_comment)

    def remember(self, answer: Answer) -> str:
        """Keep the answer for its feedback buttons; returns the key the buttons carry."""
        key = uuid.uuid4().hex[:16]
        with self._lock:
            self.answers[key] = answer
            while len(self.answers) > 1000:
                self.answers.popitem(last=False)
        return key

    def store(self) -> FeedbackStore:
        if self._store is None:
            self._store = FeedbackStore(self.settings.feedback_path)
        return self._store

    def record(self, key: str, user: str, answer: Answer, rating: str) -> int:
        """Store a click (see the module doc); returns the row id."""
        with self._lock:
            previous = self._rows.get((key, user))
        row = self.store().rate(answer, rating, previous=previous, face="slack", user=user)
        with self._lock:
            self._rows[(key, user)] = row
            while len(self._rows) > 5000:
                self._rows.popitem(last=False)
        return row

    # ---- listeners ---------------------------------------------------------------------
    def on_click(self, ack: Callable[..., None], body: dict[str, Any], action: dict[str, Any],
                 client: WebClient) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        message = body.get("message") or {}
        rating, key = kit.feedback_rating(action)
        with self._lock:
            answer = self.answers.get(key)
        if answer is None:  # the bot restarted since: keep what the message still shows
            answer = Answer(question="", text=thread.unescape(message.get("text") or ""))
        try:
            row = self.record(key, user, answer, rating)
        except Exception:
            logger.exception("storing Slack feedback failed")
            return
        thread_ts = message.get("thread_ts") or message.get("ts")
        if rating == "down" and body.get("trigger_id"):
            meta = {"row": row, "user": user, "channel": channel, "thread": thread_ts}
            try:
                client.views_open(trigger_id=body["trigger_id"], view=comment_view(meta))
                return  # thanked when the comment arrives (or not at all when skipped)
            except SlackApiError as exc:
                logger.warning("could not open the feedback form: %s", exc.response.get("error"))
        thread.ephemeral(client, channel, user, thread_ts, THANKS)

    def on_comment(self, ack: Callable[..., None], body: dict[str, Any], view: dict[str, Any],
                   client: WebClient) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            row = int(meta["row"])
            values = view["state"]["values"][COMMENT_BLOCK][COMMENT_INPUT]
            comment = str(values.get("value") or "")[:MAX_COMMENT_CHARS]
        except (ValueError, KeyError, TypeError):
            logger.warning("a feedback form came back without its row or comment")
            return
        if meta.get("user") != user:
            logger.warning("feedback comment from %s for a row rated by someone else ignored",
                           user)
            return
        try:
            self.store().set_comment(row, comment)
        except StoreError:
            logger.exception("storing a Slack feedback comment failed")
            return
        channel = str(meta.get("channel") or "")
        if channel:
            thread.ephemeral(client, channel, user, meta.get("thread"), THANKS)
