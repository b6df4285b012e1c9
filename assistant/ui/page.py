"""The page's state and handlers: chat, feedback, fact-check, library.

Job: a thin face over :class:`assistant.service.Assistant`. :class:`Page` holds the handlers
that the layout wires to buttons; each takes plain values and a :class:`Conversation` and
returns what the page shows, so it is tested without a browser (``Page(fake_assistant)``).

Contract: chat streams (messages, sources panel, state, question box) updates, then replaces
the streamed text with the checked answer; follow-ups pass the conversation to the
assistant, which condenses them into standalone questions. Thumbs up/down and an optional
comment go to :class:`assistant.feedback.FeedbackStore`. Errors become a short message in
the page (:func:`assistant.errors.user_message`) and a ``logger.exception``, never a trace.

Compromises: the conversation lives in per-browser-tab state (gone on reload); the sources
panel lists the sources of every answer, newest first, so that older ``[n]`` links keep
working; uploads are copied to ``index/uploads/`` so that their article ids stay stable
and they survive restarts (start-up re-ingests that folder too). The chat loop drains the
answer stream itself rather than through ``models.final_answer``: it yields a page update
between events, which a callback cannot do.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import Settings
from assistant.errors import ConfigError, user_message
from assistant.feedback import FeedbackStore
from assistant.models import Answer, ArticleInfo, Filters, IngestProgress, IngestResult, Turn
from assistant.service import Assistant
from assistant.ui.exports import check_upload, result_summary, safe_filename, write_check_exports
from assistant.ui.render import (
    VERDICT_TEXT,
    check_rows,
    error_html,
    esc,
    library_rows,
    render_answer,
    render_sources,
    short,
    status_bubble,
)

logger = logging.getLogger(__name__)

BACKEND_LABELS = {
    "local": "local model (Qwen2.5 1.5B on this machine)",
    "openai": "OpenAI-compatible endpoint",
    "extractive": "extractive (quotes the best passages, no LLM)",
}
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


class Page:
    """The handlers behind the page, testable without a browser (``Page(fake_assistant)``)."""

    def __init__(self, assistant: Assistant, feedback: FeedbackStore | None = None) -> None:
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        self.feedback = feedback or FeedbackStore(self.settings.feedback_path)
        self.uploads_dir = self.settings.index_dir / "uploads"

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
    ) -> Iterator[tuple[list[dict[str, str]], str, Conversation, str]]:
        """Stream (messages, sources panel, state, question box) updates for one question."""
        question = (question or "").strip()
        if not question:
            yield list(conv.messages), render_sources(conv.answered()), conv, ""
            return
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
                question, list(conv.turns), filters, backend or None
            )
            answer: Answer | None = None
            for event in stream:
                if event.kind == "answer" and event.answer is not None:
                    answer = event.answer
                    break
                if event.kind == "status":
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
    ) -> dict[str, Any]:
        """API: one question, no conversation -> the Answer as JSON (``assistant ask --json``)."""
        try:
            filters = self.filters(since, until, sources)
            return self.assistant.ask(question, (), filters, backend or None).to_dict()
        except Exception as exc:
            logger.exception("API ask %r failed", question)
            raise gr.Error(user_message(exc)) from None

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
        """Fact-check pasted text -> (table rows, summary HTML, export files)."""
        text = (text or "").strip()
        if not text:
            return [], '<div class="fb">Paste a text to check first.</div>', None
        try:
            report = self.assistant.check(text)
            rows = check_rows(report)
            files = write_check_exports(report, Path(tempfile.mkdtemp(prefix="factcheck-")))
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("fact-check failed")
            return [], error_html(user_message(exc)), None
        counts = {label: 0 for label in VERDICT_TEXT}
        for claim in report.claims:
            if claim.verdict and claim.verdict.label in counts:
                counts[claim.verdict.label] += 1
        if not report.claims:
            summary = '<div class="fb">No check-worthy claim was found in that text.</div>'
        else:
            summary = (
                f'<div class="fb">{len(report.claims)} claims: '
                f'<span class="lg ok">✓ {counts["supported"]} supported</span> '
                f'<span class="lg unsup">⚠ {counts["unsupported"]} unsupported</span> '
                f'<span class="lg contra">✗ {counts["contradicted"]} contradicted</span></div>'
            )
        return rows, summary, files

    # -- library ------------------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        try:
            return list(self.assistant.sources())
        except Exception:  # noqa: BLE001 - the edge: an empty list, and the log says why
            logger.exception("listing the library failed")
            return []

    def library(self) -> list[list[Any]]:
        return library_rows(self.articles())

    def outlets(self, infos: Sequence[ArticleInfo] | None = None) -> list[str]:
        infos = self.articles() if infos is None else infos
        return sorted({i.source for i in infos if i.source})

    def header(self, infos: Sequence[ArticleInfo] | None = None) -> str:
        infos = self.articles() if infos is None else infos
        chunks = sum(i.chunks for i in infos)
        backend = BACKEND_LABELS.get(self.settings.backend, self.settings.backend)
        return (
            '<div class="hdr"><div class="hdr-title">Rare-earth news assistant</div>'
            '<div class="hdr-sub">Answers only from the collected articles; every sentence '
            "cited and checked.</div>"
            f'<div class="hdr-stats"><span class="pill">{len(infos)} articles</span>'
            f'<span class="pill">{chunks} passages</span>'
            f'<span class="pill backend">answers: {esc(backend)}</span></div></div>'
        )

    def _ingest(self, inputs: list[str], progress: Any) -> tuple[IngestResult | None, str]:
        def report(p: IngestProgress) -> None:
            if progress is not None and p.total:
                progress((p.done, p.total), desc=f"Indexing {Path(p.current).name or '…'}")

        try:
            return self.assistant.ingest(inputs, progress=report), ""
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("ingest of %s failed", inputs)
            return None, user_message(exc)

    def _library_outputs(self, report_html: str) -> tuple[str, list[list[Any]], Any, str]:
        infos = self.articles()
        return (
            report_html,
            library_rows(infos),
            gr.update(choices=self.outlets(infos)),
            self.header(infos),
        )

    def upload(
        self, files: Sequence[Any] | None, progress: Any = None
    ) -> tuple[str, list[list[Any]], Any, str]:
        """Validate, copy to ``index/uploads/`` and ingest uploaded files; per-file report."""
        paths = [Path(getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            return self._library_outputs('<div class="fb">Choose one or more files first.</div>')
        lines: list[str] = []
        accepted: dict[str, tuple[str, Path]] = {}  # stored path -> (shown name, stored path)
        for path in paths:
            shown = path.name
            problem = check_upload(path, self.settings.upload_max_bytes)
            if problem:
                logger.info("upload %s %s", shown, problem)
                lines.append(f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(problem)}</li>')
                continue
            try:
                self.uploads_dir.mkdir(parents=True, exist_ok=True)
                target = self.uploads_dir / safe_filename(shown)
                shutil.copyfile(path, target)
            except OSError as exc:
                logger.exception("storing upload %s failed", shown)
                lines.append(
                    f'<li class="bad">✗ <b>{esc(shown)}</b>: could not be stored '
                    f"({esc(exc.strerror or exc)})</li>"
                )
                continue
            accepted[str(target.resolve())] = (shown, target)
        if accepted:
            result, error = self._ingest([str(t) for _, t in accepted.values()], progress)
            if result is None:
                for shown, target in accepted.values():
                    target.unlink(missing_ok=True)
                    lines.append(f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(error)}</li>')
            else:
                failed = {
                    (o if "://" in o else str(Path(o).resolve())): r for o, r in result.failed
                }
                for key, (shown, target) in accepted.items():
                    reason = failed.get(key) or next(
                        (r for o, r in result.failed if Path(o).name == target.name), None
                    )
                    if reason:
                        target.unlink(missing_ok=True)
                        lines.append(f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(reason)}</li>')
                    else:
                        lines.append(f'<li class="good">✓ <b>{esc(shown)}</b>: indexed</li>')
                lines.append(f'<li class="sum">{esc(result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')

    def fetch(self, url: str, progress: Any = None) -> tuple[str, list[list[Any]], Any, str]:
        """Ingest a web page or an RSS/Atom feed by URL."""
        url = (url or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            return self._library_outputs(
                error_html("Enter a web address starting with http:// or https://")
            )
        result, error = self._ingest([url], progress)
        if result is None:
            return self._library_outputs(error_html(error))
        lines = [
            f'<li class="bad">✗ <b>{esc(o)}</b>: {esc(r)}</li>' for o, r in result.failed
        ]
        lines.append(f'<li class="sum">{esc(result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')
