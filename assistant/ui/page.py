"""The page's state and handlers: chat, feedback, fact-check (and the library, inherited).

Job: a thin face over :class:`assistant.service.Assistant`. :class:`Page` holds the handlers
that the layout wires to buttons; each takes plain values and a :class:`Conversation` and
returns what the page shows, so it is tested without a browser (``Page(fake_assistant)``).

Contract: chat streams (messages, sources panel, state, question box) updates, then replaces
the streamed text with the checked answer; follow-ups pass the conversation to the
assistant, which condenses them into standalone questions. Thumbs up/down and an optional
comment go to :class:`assistant.feedback.FeedbackStore`. Errors become a short message in
the page (:func:`assistant.errors.user_message`) and a ``logger.exception``, never a trace.
Limits (:mod:`assistant.ui.guard`): an over-long question or pasted text, or a text with too
many claims, gets a one-line refusal and no work; one answer or check in flight per user
(a second gets "one question at a time"); the backend is one the page may pick, else the
default. A fact-check runs claim by claim, yielding after each, so when the client leaves
(gradio stops iterating and closes the generator) no further claim is checked. The library
tab's handlers come from :class:`assistant.ui.library.LibraryHandlers`.

Compromises: the conversation lives in per-browser-tab state (gone on reload); the sources
panel lists the sources of every answer, newest first, so that older ``[n]`` links keep
working; uploads are copied to ``index/uploads/`` so that their article ids stay stable
and they survive restarts (start-up re-ingests that folder too). The chat loop drains the
answer stream itself rather than through ``models.final_answer``: it yields a page update
between events, which a callback cannot do.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import Settings
from assistant.errors import ConfigError, too_long, user_message
from assistant.feedback import FeedbackStore
from assistant.models import Answer, CheckReport, Filters, Turn
from assistant.service import Assistant
from assistant.ui.exports import write_check_exports
from assistant.ui.guard import InFlight, pick_backend, user_key
from assistant.ui.library import BACKEND_LABELS, LibraryHandlers
from assistant.ui.render import (
    check_rows,
    check_summary,
    error_html,
    esc,
    render_answer,
    render_sources,
    short,
    status_bubble,
)

logger = logging.getLogger(__name__)

__all__ = ["BACKEND_LABELS", "Conversation", "Page", "parse_date"]
BUSY = "One question at a time, please: wait for the answer being written."
_STREAM_EVERY = 0.08  # seconds between streamed updates of the answer bubble


def parse_date(value: Any, what: str) -> date | None:
    """``"2025-07-01"`` / ``"2025-07-01 00:00:00"`` / a timestamp -> date; empty -> None.

    Raises ConfigError with a readable message for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(float(value), tz=UTC).date()
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ConfigError(f"{what} date {text!r} is not a date (use YYYY-MM-DD)") from exc


@dataclass
class Conversation:
    """Per-tab state: chat messages, the Answer behind each assistant message, feedback rows."""

    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)  # message index -> Answer
    feedback: dict[int, int] = field(default_factory=dict)  # message index -> feedback row
    last_rated: int | None = None

    def answered(self) -> list[tuple[int, Answer]]:
        return sorted(self.answers.items())


class Page(LibraryHandlers):
    """The handlers behind the page, testable without a browser (``Page(fake_assistant)``)."""

    def __init__(self, assistant: Assistant, feedback: FeedbackStore | None = None) -> None:
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        self.feedback = feedback or FeedbackStore(self.settings.feedback_path)
        self.uploads_dir = self.settings.index_dir / "uploads"
        self.in_flight = InFlight(self.settings.user_concurrency)

    # -- chat ---------------------------------------------------------------------------------
    def filters(self, since: Any, until: Any, outlets: Sequence[str] | None) -> Filters:
        start = parse_date(since, "The “from”")
        end = parse_date(until, "The “to”")
        if start and end and start > end:
            raise ConfigError("The “from” date is after the “to” date.")
        return Filters(since=start, until=end, sources=tuple(outlets or ()))

    def chat(
        self,
        question: str,
        conv: Conversation,
        since: Any = None,
        until: Any = None,
        outlets: Sequence[str] | None = None,
        backend: str | None = None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict[str, str]], str, Conversation, str]]:
        """Stream (messages, sources panel, state, question box) updates for one question.

        An over-long question, or a second one while this user's answer is being written,
        gets a one-line refusal and no work; when the client leaves, gradio stops iterating
        and the answer stream is not read further.
        """
        question = (question or "").strip()
        refusal = too_long(question, self.settings.max_question_chars, "question")
        key = user_key(request)
        if not refusal and not self.in_flight.enter(key):
            refusal = BUSY
        if not question or refusal:
            # shown, not kept: the conversation may be in use by the answer being written
            shown = list(conv.messages)
            if refusal:
                shown += [
                    {"role": "user", "content": short(question, 200)},
                    {"role": "assistant", "content": error_html(refusal)},
                ]
            yield shown, render_sources(conv.answered()), conv, ""
            return
        try:
            yield from self._chat(question, conv, since, until, outlets, backend)
        finally:
            self.in_flight.leave(key)

    def _chat(
        self, question: str, conv: Conversation, since: Any, until: Any,
        outlets: Sequence[str] | None, backend: str | None,
    ) -> Iterator[tuple[list[dict[str, str]], str, Conversation, str]]:
        conv.messages = [
            *conv.messages,
            {"role": "user", "content": question},
            {"role": "assistant", "content": status_bubble("Searching the articles…", "")},
        ]
        idx = len(conv.messages) - 1
        panel = render_sources(conv.answered())
        yield list(conv.messages), panel, conv, ""
        started = time.perf_counter()
        partial, status, last = "", "", 0.0
        try:
            filters = self.filters(since, until, outlets)
            stream = self.assistant.ask_stream(
                question, list(conv.turns), filters, pick_backend(backend, self.settings)
            )
            answer: Answer | None = None
            for event in stream:
                if event.kind == "answer" and event.answer is not None:
                    answer = event.answer
                    break
                if event.kind == "sources" and event.answer is not None:
                    # shown at once, before the model writes
                    panel = render_sources(conv.answered(), pending=(idx, event.answer))
                    status = f"{event.text} Reading them…"
                    last = 0.0
                elif event.kind == "status":
                    status = event.text
                elif event.kind == "token":
                    partial += event.text
                now = time.perf_counter()
                if now - last >= _STREAM_EVERY:
                    last = now
                    conv.messages[idx] = {
                        "role": "assistant",
                        "content": status_bubble(status, partial),
                    }
                    yield list(conv.messages), panel, conv, ""
            if answer is None:
                raise RuntimeError("the answer stream ended without an answer")
        except Exception as exc:  # noqa: BLE001 - the edge: log it, show a short message
            if isinstance(exc, ConfigError):
                logger.info("chat: %s", exc)
            else:
                logger.exception("answering %r failed", question)
            conv.messages[idx] = {"role": "assistant", "content": error_html(user_message(exc))}
            yield list(conv.messages), panel, conv, ""
            return
        if "total" not in answer.timings:
            answer.timings["total"] = time.perf_counter() - started
        conv.answers[idx] = answer
        conv.turns = [*conv.turns, Turn("user", question), Turn("assistant", answer.text)]
        conv.messages[idx] = {"role": "assistant", "content": render_answer(answer, idx)}
        yield list(conv.messages), render_sources(conv.answered()), conv, ""

    def clear(self) -> tuple[list[dict[str, str]], str, Conversation, str]:
        conv = Conversation()
        return [], render_sources([]), conv, ""

    def ask_json(
        self,
        question: str,
        since: str = "",
        until: str = "",
        sources: list[str] | None = None,
        backend: str = "",
        request: gr.Request | None = None,
    ) -> dict[str, Any]:
        """API: one question, no conversation -> the Answer as JSON (``assistant ask --json``);
        the chat's limits apply."""
        question = (question or "").strip()
        refusal = too_long(question, self.settings.max_question_chars, "question")
        if refusal:
            raise gr.Error(refusal)
        key = user_key(request)
        if not self.in_flight.enter(key):
            raise gr.Error(BUSY)
        try:
            filters = self.filters(since, until, sources)
            chosen = pick_backend(backend, self.settings)
            return self.assistant.ask(question, (), filters, chosen).to_dict()
        except Exception as exc:
            logger.exception("API ask %r failed", short(question, 200))
            raise gr.Error(user_message(exc)) from None
        finally:
            self.in_flight.leave(key)

    # -- feedback -----------------------------------------------------------------------------
    def rate(
        self, conv: Conversation, comment: str, index: Any, liked: Any
    ) -> tuple[str, Conversation]:
        """Store a thumbs up/down for the answer at chat message ``index``."""
        if isinstance(index, list | tuple):
            index = index[0]
        answer = conv.answers.get(int(index)) if index is not None else None
        if answer is None:
            return '<div class="fb">Only answers can be rated.</div>', conv
        if liked is True or liked == "Like":
            rating = "up"
        elif liked is False or liked == "Dislike":
            rating = "down"
        else:
            # un-clicking a thumb: the stored rating stays until the other thumb is clicked
            return '<div class="fb">Your earlier rating is kept.</div>', conv
        idx = int(index)
        try:
            conv.feedback[idx] = self.feedback.rate(
                answer, rating, previous=conv.feedback.get(idx), comment=comment or "", face="web"
            )
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("storing feedback failed")
            return error_html(user_message(exc)), conv
        conv.last_rated = idx
        verdict = "helpful" if rating == "up" else "not helpful"
        return (
            f'<div class="fb ok" data-rating="{rating}">Saved: “{esc(short(answer.question, 60))}”'
            f" rated {verdict}. Add a comment below if you like.</div>",
            conv,
        )

    def comment(self, conv: Conversation, text: str) -> tuple[str, Conversation, str]:
        """Attach a comment to the answer rated last."""
        text = (text or "").strip()
        if not text:
            return '<div class="fb">Write a comment first.</div>', conv, ""
        if conv.last_rated is None or conv.last_rated not in conv.feedback:
            return (
                '<div class="fb">Rate an answer with the thumbs under it first; the comment '
                "goes with that rating.</div>",
                conv,
                text,
            )
        try:
            self.feedback.set_comment(conv.feedback[conv.last_rated], text)
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("storing a feedback comment failed")
            return error_html(user_message(exc)), conv, text
        return '<div class="fb ok">Comment saved. Thank you.</div>', conv, ""

    # -- fact-check ---------------------------------------------------------------------------
    def check(self, text: str) -> tuple[list[list[str]], str, list[str] | None]:
        """Fact-check pasted text -> the final (table rows, summary HTML, export files)."""
        *_, last = self.check_stream(text)
        return last

    def check_stream(
        self, text: str, request: gr.Request | None = None
    ) -> Iterator[tuple[list[list[str]], str, list[str] | None]]:
        """Fact-check pasted text, claim by claim -> (table rows, summary HTML, export files).

        A text over ``max_check_chars`` or with more than ``max_check_claims`` claims is
        refused with a message and nothing is checked. Each claim's verdict is shown as it
        comes; when the client leaves, gradio stops iterating and no further claim is checked.
        """
        text = (text or "").strip()
        if not text:
            yield [], '<div class="fb">Paste a text to check first.</div>', None
            return
        refusal = too_long(text, self.settings.max_check_chars, "text")
        if refusal:
            yield [], error_html(refusal), None
            return
        from assistant.verify.factcheck import split_claims

        claims = split_claims(text)
        limit = self.settings.max_check_claims
        if len(claims) > limit:
            yield [], error_html(
                f"The text has {len(claims)} claims to check; the limit is {limit}. "
                "Please check a shorter part of it."
            ), None
            return
        key = user_key(request)
        if not self.in_flight.enter(key):
            yield [], error_html(BUSY), None
            return
        report = CheckReport(text=text)
        try:
            for n, claim in enumerate(claims, 1):
                report.claims.extend(self.assistant.check(claim).claims)
                if n < len(claims):
                    progress = f'<div class="fb">Checked {n} of {len(claims)} claims…</div>'
                    yield check_rows(report), progress, None
            files = write_check_exports(report, Path(tempfile.mkdtemp(prefix="factcheck-")))
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("fact-check failed")
            yield [], error_html(user_message(exc)), None
            return
        finally:
            self.in_flight.leave(key)
        yield check_rows(report), check_summary(report), files
