"""The Gradio page: chat with cited, checked answers; a fact-check tab; the library.

Job: a thin face over :class:`assistant.service.Assistant`. ``python app.py`` calls
:func:`main`: settings are read once, the index is brought up to date from ``corpus/`` (an
idempotent ingest, fast when nothing changed), and the page is served on
``settings.host:settings.port`` with the request queue limited to ``settings.concurrency``
workers per event. This is the only module that imports gradio.

What the page shows:

- Chat: the answer streams in, then is replaced by the checked answer: every ``[n]`` is a
  link to source card ``n`` in the sources panel (hover shows the quote), every sentence
  carries its verdict (``✓`` backed; ``⚠`` + a short reason when the sources do not back
  it; ``✗`` + the contradicting quote). Thumbs up/down on each answer (and an optional
  comment) go to :class:`assistant.feedback.FeedbackStore`. Follow-ups pass the
  conversation to the assistant, which condenses them into standalone questions.
- Fact-check: paste text, get one row per claim, export CSV/JSON.
- Library: indexed articles; upload files or fetch a URL/feed, with per-file errors.

Everything that comes from an article (titles, passages, quotes, URLs) is untrusted and is
HTML-escaped here; only ``http(s)`` URLs become links. Errors become a short friendly
message in the page and a ``logger.exception`` - never a stack trace.

Compromises: the conversation lives in per-browser-tab state (gone on reload); the sources
panel lists the sources of every answer of the conversation, newest first, so that older
``[n]`` links keep working; uploads are copied to ``index/uploads/`` so that their article
ids stay stable and they survive restarts (``main`` re-ingests that folder too).
"""

from __future__ import annotations

import os

# Gradio reads this when it is imported: no telemetry, no version check calls.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import csv  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from assistant.config import Settings, reveal  # noqa: E402
from assistant.errors import (  # noqa: E402
    AssistantError,
    ConfigError,
    GenerationError,
    LoadError,
    ModelError,
    StoreError,
)
from assistant.feedback import FeedbackStore  # noqa: E402
from assistant.models import (  # noqa: E402
    Answer,
    ArticleInfo,
    CheckReport,
    Claim,
    Evidence,
    Filters,
    IngestProgress,
    Source,
    Turn,
)
from assistant.service import Assistant  # noqa: E402

logger = logging.getLogger(__name__)

UPLOAD_TYPES: tuple[str, ...] = (
    ".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"
)
BACKEND_LABELS = {
    "local": "local model (Qwen2.5 1.5B on this machine)",
    "openai": "OpenAI-compatible endpoint",
    "extractive": "extractive (quotes the best passages, no LLM)",
}
LEGEND = (
    '<div class="legend"><span class="lg ok">✓ backed</span>'
    '<span class="lg unsup">⚠ not backed by the sources, or the sources disagree</span>'
    '<span class="lg contra">✗ contradicted by a source</span>'
    '<span class="lg">[n] source n (hover for the quote, click to open)</span></div>'
)
LIBRARY_HEADERS = ["Title", "Outlet", "Date", "Chunks"]
CHECK_HEADERS = ["Claim", "Verdict", "Evidence quote", "Article", "Date"]
VERDICT_TEXT = {
    "supported": "✓ supported",
    "unsupported": "⚠ unsupported",
    "contradicted": "✗ contradicted",
}

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_STREAM_EVERY = 0.08  # seconds between streamed updates of the answer bubble


# ---- small helpers ---------------------------------------------------------------------------
def esc(text: object) -> str:
    """HTML-escape untrusted text: ``esc('<b>"x"</b>') -> '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'``."""
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _safe_url(url: str) -> str:
    """Only http(s) URLs become links (no ``javascript:``); others give ``""``."""
    url = (url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


def _fmt_date(d: date | None) -> str:
    return d.isoformat() if d else "undated"


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


def friendly_error(exc: BaseException) -> str:
    """What a reader sees instead of a stack trace (the details go to the log)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ModelError):
        return (
            "The language model could not be loaded, so no answer was written. "
            "Choose the extractive answer writer, or ask an administrator to check the model "
            "installation."
        )
    if isinstance(exc, GenerationError):
        return (
            "The language model failed while answering. Please try again, or choose the "
            "extractive answer writer."
        )
    if isinstance(exc, StoreError):
        return "The article index could not be read. Please try again in a moment."
    if isinstance(exc, LoadError):
        return f"{exc.origin}: {exc.reason}"
    if isinstance(exc, AssistantError):
        return str(exc) or "The request could not be completed."
    return "Something went wrong on our side; the details were logged. Please try again."


def _error_html(message: str) -> str:
    return f'<div class="err">⚠ {esc(message)}</div>'


# ---- rendering answers -----------------------------------------------------------------------
def _sources_by_number(answer: Answer) -> dict[int, Source]:
    return {s.number: s for s in answer.sources}


def _cited_quote(answer: Answer, number: int) -> str:
    for c in answer.citations:
        if c.number == number and c.quote:
            return c.quote
    for claim in answer.claims:
        for ev in claim.verdict.evidence if claim.verdict else ():
            if ev.source_number == number and ev.quote:
                return ev.quote
    return ""


def _cite_link(answer: Answer, turn: int, number: int) -> str:
    src = _sources_by_number(answer).get(number)
    if src is None:
        return f'<span class="cite bad" title="no source [{number}] was given">[{number}]</span>'
    chunk = src.chunk
    quote = _cited_quote(answer, number) or chunk.text
    tip = f"{chunk.title} ({chunk.source or 'unknown outlet'}, {_fmt_date(chunk.published)})"
    tip += f" - “{_short(quote, 220)}”"
    return (
        f'<a class="cite" href="#src-{turn}-{number}" title="{esc(tip)}">[{number}]</a>'
    )


def link_markers(escaped: str, answer: Answer, turn: int) -> str:
    """Turn ``[1]`` / ``[1, 2]`` in already-escaped text into links to the source cards."""

    def repl(m: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
        return "".join(_cite_link(answer, turn, n) for n in numbers)

    return _MARKER.sub(repl, escaped)


def _evidence_note(ev: Evidence, answer: Answer, turn: int) -> str:
    ref = ""
    if ev.source_number:
        ref = _cite_link(answer, turn, ev.source_number) + " "
    elif ev.title:
        ref = f"<i>{esc(ev.title)}</i>: "
    return f"{ref}“{esc(_short(ev.quote, 220))}”"


def _claim_body(claim: Claim, answer: Answer, turn: int) -> str:
    """The sentence with its [n] links; links go before the final full stop (``... year [1].``)."""
    text = claim.text.strip()
    if _MARKER.search(text) or not claim.citations:
        return link_markers(esc(text), answer, turn)
    links = "".join(_cite_link(answer, turn, n) for n in claim.citations)
    if text and text[-1] in ".!?":
        return f"{esc(text[:-1].rstrip())} {links}{esc(text[-1])}"
    return f"{esc(text)} {links}"


def render_claim(claim: Claim, answer: Answer, turn: int) -> str:
    """One answer sentence with its [n] links and its verdict mark."""
    body = _claim_body(claim, answer, turn)
    verdict = claim.verdict
    if verdict is None:
        return f'<span class="claim">{body}</span>'
    reason = _short(verdict.reason, 160) if verdict.reason else ""
    if verdict.label == "supported" and verdict.conflicting:
        # backed, but another article gives a different value: the reader must see both
        others = "; ".join(_evidence_note(e, answer, turn) for e in verdict.conflicting[:3])
        return (
            f'<span class="claim conflict" data-verdict="supported">{body}'
            f'<span class="mark conflict" aria-label="sources disagree">⚠</span></span>'
            f'<span class="why conflict">the sources disagree on this figure: {others}</span>'
        )
    if verdict.label == "supported":
        note = ""
        if not verdict.cited_ok and verdict.evidence:
            note = (
                '<span class="why other">backed by another source: '
                f"{_evidence_note(verdict.evidence[0], answer, turn)}</span>"
            )
        tip = esc(reason or "backed by the cited source")
        return (
            f'<span class="claim ok" data-verdict="supported" title="{tip}">{body}'
            f'<span class="mark ok" aria-label="supported">✓</span></span>{note}'
        )
    if verdict.label == "contradicted":
        quotes = verdict.conflicting or verdict.evidence
        detail = (
            f"contradicted by {_evidence_note(quotes[0], answer, turn)}"
            if quotes
            else esc(reason or "a source says otherwise")
        )
        if quotes and reason:
            detail = f"{esc(reason)} - {detail}"
        return (
            f'<span class="claim contra" data-verdict="contradicted">{body}'
            f'<span class="mark contra" aria-label="contradicted">✗</span></span>'
            f'<span class="why contra">{detail}</span>'
        )
    detail = esc(reason or "the sources do not back this sentence")
    return (
        f'<span class="claim unsup" data-verdict="unsupported">{body}'
        f'<span class="mark unsup" aria-label="unsupported">⚠</span></span>'
        f'<span class="why unsup">{detail}</span>'
    )


def _paragraph_breaks(text: str, claims: Sequence[Claim]) -> set[int]:
    """Indices of claims that start a new paragraph in ``text`` (best effort)."""
    breaks, pos = set(), 0
    for i, claim in enumerate(claims):
        head = claim.text.strip().rstrip(".!?")[:30]
        at = text.find(head, pos) if head else -1
        if at < 0:
            continue
        if i and "\n\n" in text[pos:at]:
            breaks.add(i)
        pos = at + len(head)
    return breaks


def render_answer(answer: Answer, turn: int) -> str:
    """The checked answer as one HTML block (no blank lines, so markdown leaves it alone).

    Built from the claims (one per sentence, each with its links and verdict); paragraph
    breaks of ``answer.text`` are kept. An answer without claims shows its text with links.
    """
    if answer.claims:
        breaks = _paragraph_breaks(answer.text or "", answer.claims)
        parts = []
        for i, claim in enumerate(answer.claims):
            if i in breaks:
                parts.append('<span class="para"></span>')
            elif i:
                parts.append(" ")
            parts.append(render_claim(claim, answer, turn))
        body = "".join(parts)
    else:
        body = link_markers(esc((answer.text or "").strip()), answer, turn)
        body = re.sub(r"\n\s*\n", '<span class="para"></span>', body).replace("\n", "<br>")
    if not body:
        body = "<i>(no answer)</i>"
    cls = "answer abstained" if answer.abstained else "answer"
    meta = [f"answered by {esc(answer.backend or 'unknown backend')}"]
    cited = _referenced(answer)
    if answer.sources:
        meta.append(f"{len(cited)} of {len(answer.sources)} sources cited")
    labels = [c.verdict.label for c in answer.claims if c.verdict]
    flagged = sum(1 for label in labels if label != "supported")
    if labels:
        meta.append(f"{len(labels) - flagged} of {len(labels)} sentences backed")
    total = answer.timings.get("total")
    if total:
        meta.append(f"{total:.1f} s")
    notice = f'<div class="notice">ⓘ {esc(answer.notice)}</div>' if answer.notice else ""
    standalone = (answer.standalone_question or "").strip()
    if standalone and standalone != answer.question.strip():
        notice += f'<div class="readas">Read as: “{esc(_short(standalone, 160))}”</div>'
    return (
        f'<div class="{cls}" data-turn="{turn}">{body}</div>{notice}'
        f'<div class="meta">{" · ".join(meta)}</div>'
    )


def _referenced(answer: Answer) -> set[int]:
    """Source numbers the reader can reach: cited in the text or quoted by a verdict."""
    numbers = {c.number for c in answer.citations}
    numbers.update(int(n) for n in re.findall(r"\[(\d+)\]", answer.text or ""))
    for claim in answer.claims:
        numbers.update(claim.citations)
        for ev in claim.verdict.evidence + claim.verdict.conflicting if claim.verdict else ():
            if ev.source_number:
                numbers.add(ev.source_number)
    return {n for n in numbers if any(s.number == n for s in answer.sources)}


def _marked_passage(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escape ``text`` with the given character spans wrapped in ``<mark>``."""
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(esc(text[pos:s]))
        out.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def _quote_spans(answer: Answer, src: Source) -> list[tuple[int, int]]:
    text = src.chunk.text
    quotes: list[tuple[str, int, int]] = [
        (c.quote, c.start, c.end) for c in answer.citations if c.number == src.number
    ]
    for claim in answer.claims:
        for ev in claim.verdict.evidence if claim.verdict else ():
            if ev.source_number == src.number or ev.chunk_id == src.chunk.id:
                quotes.append((ev.quote, ev.start, ev.end))
    spans = []
    for quote, start, end in quotes:
        if not quote:
            continue
        if 0 <= start < end <= len(text) and text[start:end] == quote:
            spans.append((start, end))
        elif (at := text.find(quote)) >= 0:
            spans.append((at, at + len(quote)))
    return spans


def render_source_card(answer: Answer, src: Source, turn: int) -> str:
    chunk = src.chunk
    url = _safe_url(chunk.url)
    title = esc(chunk.title or chunk.article_id)
    head = (
        f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        if url
        else title
    )
    meta = [esc(chunk.source or "unknown outlet"), esc(_fmt_date(chunk.published))]
    if chunk.section:
        meta.append(f"section “{esc(chunk.section)}”")
    if chunk.role in ("disputed", "bias"):
        meta.append('<span class="role">doubts what it reports</span>')
    passage = _marked_passage(chunk.text, _quote_spans(answer, src))
    link = (
        f'<div class="src-link"><a href="{esc(url)}" target="_blank" '
        f'rel="noopener noreferrer">{esc(_short(url, 70))}</a></div>'
        if url
        else ""
    )
    return (
        f'<div class="src" id="src-{turn}-{src.number}">'
        f'<div class="src-head"><span class="num">[{src.number}]</span> {head}</div>'
        f'<div class="src-meta">{" · ".join(meta)}</div>{link}'
        f'<blockquote class="src-quote">{passage}</blockquote></div>'
    )


def render_sources(answers: Sequence[tuple[int, Answer]]) -> str:
    """The sources panel: for each answer (newest first), its numbered source cards."""
    if not answers:
        return (
            '<div class="sources empty"><div class="src-title">Sources</div>Each answer\'s '
            "numbered passages appear here, with title, outlet, date, link and the quoted "
            "words highlighted.</div>"
        )
    groups = []
    for turn, answer in sorted(answers, key=lambda ta: -ta[0]):
        used = _referenced(answer)
        cards = "".join(
            render_source_card(answer, s, turn) for s in answer.sources if s.number in used
        )
        rest = [s for s in answer.sources if s.number not in used]
        opened = ""
        if not cards:
            cards = '<div class="src none">No source was cited in this answer.</div>'
            opened = " open"  # "the nearest sources are listed below": show them
        if rest:
            cards += (
                f'<details class="more"{opened}><summary>{len(rest)} more passages were '
                "retrieved but not cited</summary>"
                + "".join(render_source_card(answer, s, turn) for s in rest)
                + "</details>"
            )
        groups.append(
            '<div class="src-group"><div class="src-q">Sources for '
            f"“{esc(_short(answer.question, 90))}”</div>{cards}</div>"
        )
    return '<div class="sources"><div class="src-title">Sources</div>' + "".join(groups) + "</div>"


def _status_bubble(status: str, partial: str) -> str:
    parts = []
    if partial:
        parts.append(f'<div class="streaming">{esc(partial)}<span class="cursor">▌</span></div>')
    if status:
        parts.append(f'<div class="status">{esc(status)}</div>')
    return "".join(parts) or '<div class="status">Thinking…</div>'


# ---- fact-check and library tables ----------------------------------------------------------
def check_rows(report: CheckReport) -> list[list[str]]:
    """One row per claim: claim, verdict, evidence quote, article, date."""
    rows = []
    for claim in report.claims:
        v = claim.verdict
        ev = None
        if v is not None:
            pool = (v.conflicting or v.evidence) if v.label == "contradicted" else v.evidence
            ev = pool[0] if pool else None
        label = VERDICT_TEXT.get(v.label, v.label) if v else "not checked"
        if v is not None and v.reason and v.label != "supported":
            label += f" - {_short(v.reason, 100)}"
        rows.append(
            [
                claim.text,
                label,
                ev.quote if ev else "",
                (ev.title or ev.article_id) if ev else "",
                _fmt_date(ev.published) if ev and ev.published else "",
            ]
        )
    return rows


def write_check_exports(report: CheckReport, folder: Path) -> list[str]:
    """``factcheck.csv`` and ``factcheck.json`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "factcheck.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["claim", "verdict", "evidence_quote", "article", "date", "reason"])
        for claim, row in zip(report.claims, check_rows(report), strict=True):
            v = claim.verdict
            writer.writerow(
                [row[0], v.label if v else "", row[2], row[3], row[4], v.reason if v else ""]
            )
    json_path = folder / "factcheck.json"
    json_path.write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return [str(csv_path), str(json_path)]


def library_rows(infos: Sequence[ArticleInfo]) -> list[list[Any]]:
    return [
        [i.title or i.id, i.source or "", _fmt_date(i.published), i.chunks] for i in infos
    ]


def check_upload(path: Path, max_bytes: int) -> str:
    """Why an uploaded file is refused, or ``""`` when it may be ingested."""
    suffix = path.suffix.lower()
    if suffix not in UPLOAD_TYPES:
        kind = f"“{suffix}” files" if suffix else "files without an extension"
        return f"refused: {kind} are not accepted (allowed: {' '.join(UPLOAD_TYPES)})"
    try:
        size = path.stat().st_size
    except OSError:
        return "refused: the upload could not be read"
    if size > max_bytes:
        return (
            f"refused: {size / 1e6:.1f} MB is over the upload limit of "
            f"{max_bytes / 1e6:.1f} MB"
        )
    if size == 0:
        return "refused: the file is empty"
    return ""


def _safe_filename(name: str) -> str:
    stem = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "upload"
    return stem[:120]


# ---- the page's state and handlers ----------------------------------------------------------
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
            {"role": "assistant", "content": _status_bubble("Searching the articles…", "")},
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
                        "content": _status_bubble(status, partial),
                    }
                    yield list(conv.messages), panel, conv, ""
            if answer is None:
                raise RuntimeError("the answer stream ended without an answer")
        except Exception as exc:  # noqa: BLE001 - the edge: log it, show a short message
            if isinstance(exc, ConfigError):
                logger.info("chat: %s", exc)
            else:
                logger.exception("answering %r failed", question)
            conv.messages[idx] = {"role": "assistant", "content": _error_html(friendly_error(exc))}
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
            raise gr.Error(friendly_error(exc)) from None

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
            if idx in conv.feedback:
                self.feedback.set_rating(conv.feedback[idx], rating)
                if comment and comment.strip():
                    self.feedback.set_comment(conv.feedback[idx], comment)
            else:
                conv.feedback[idx] = self.feedback.add(answer, rating, comment or "", face="web")
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("storing feedback failed")
            return _error_html(friendly_error(exc)), conv
        conv.last_rated = idx
        verdict = "helpful" if rating == "up" else "not helpful"
        return (
            f'<div class="fb ok" data-rating="{rating}">Saved: “{esc(_short(answer.question, 60))}”'
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
            return _error_html(friendly_error(exc)), conv, text
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
            return [], _error_html(friendly_error(exc)), None
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

    def _ingest(self, inputs: list[str], progress: Any) -> tuple[Any, str]:
        def report(p: IngestProgress) -> None:
            if progress is not None and p.total:
                progress((p.done, p.total), desc=f"Indexing {Path(p.current).name or '…'}")

        try:
            return self.assistant.ingest(inputs, progress=report), ""
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("ingest of %s failed", inputs)
            return None, friendly_error(exc)

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
                target = self.uploads_dir / _safe_filename(shown)
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
                lines.append(f'<li class="sum">{esc(_result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')

    def fetch(self, url: str, progress: Any = None) -> tuple[str, list[list[Any]], Any, str]:
        """Ingest a web page or an RSS/Atom feed by URL."""
        url = (url or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            return self._library_outputs(
                _error_html("Enter a web address starting with http:// or https://")
            )
        result, error = self._ingest([url], progress)
        if result is None:
            return self._library_outputs(_error_html(error))
        lines = [
            f'<li class="bad">✗ <b>{esc(o)}</b>: {esc(r)}</li>' for o, r in result.failed
        ]
        lines.append(f'<li class="sum">{esc(_result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')


def _result_summary(result: Any) -> str:
    return (
        f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.failed)} failed "
        f"({result.chunks_written} passages written)"
    )


# ---- the page --------------------------------------------------------------------------------
CSS = """
.gradio-container { max-width: 1400px !important; margin: 0 auto; }
footer { opacity: .6; }
.hdr { padding: 6px 2px 2px; }
.hdr-title { font-size: 1.45rem; font-weight: 700; letter-spacing: -.01em; }
.hdr-sub { color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.pill { display: inline-block; border: 1px solid var(--border-color-primary); border-radius: 999px;
        padding: 1px 10px; margin-right: 6px; font-size: .85rem;
        background: var(--background-fill-secondary); }
.pill.backend { border-color: #0d9488; color: #0f766e; }
.legend { font-size: .82rem; color: var(--body-text-color-subdued); display: flex; flex-wrap: wrap;
          gap: 4px 14px; padding: 0 2px 4px; }
.lg.ok { color: #15803d; } .lg.unsup { color: #b45309; } .lg.contra { color: #b91c1c; }
#chat .answer { line-height: 1.6; }
#chat .answer .para { display: block; height: .6em; }
#chat .claim.ok .mark { color: #15803d; font-size: .8em; margin-left: 2px; }
#chat .claim.unsup { background: rgba(245, 158, 11, .22); border-bottom: 2px solid #f59e0b;
                     border-radius: 3px; padding: 0 2px; }
#chat .claim.contra { background: rgba(239, 68, 68, .18); border-bottom: 2px solid #ef4444;
                      border-radius: 3px; padding: 0 2px; }
#chat .mark.unsup { color: #b45309; margin-left: 3px; }
#chat .mark.contra { color: #b91c1c; margin-left: 3px; font-weight: 700; }
#chat .why { display: block; font-size: .82em; margin: 1px 0 6px 4px; font-style: italic; }
#chat .why.unsup { color: #92400e; } #chat .why.contra { color: #991b1b; }
#chat .claim.conflict { background: rgba(245, 158, 11, .22); border-bottom: 2px dashed #f59e0b; }
#chat .mark.conflict { color: #b45309; margin-left: 3px; } #chat .why.conflict { color: #92400e; }
#chat .why.conflict::before { content: "⚠ "; }
#chat .why.unsup::before { content: "⚠ "; } #chat .why.contra::before { content: "✗ "; }
.dark #chat .why.unsup { color: #fcd34d; } .dark #chat .why.contra { color: #fca5a5; }
a.cite { text-decoration: none; font-weight: 600; font-size: .85em; vertical-align: super;
         color: #0f766e !important; padding: 0 1px; }
a.cite:hover { text-decoration: underline; }
.cite.bad { color: #b91c1c; font-size: .85em; vertical-align: super; }
#chat .meta { font-size: .78rem; color: var(--body-text-color-subdued); margin-top: 6px; }
#chat .notice { font-size: .82rem; margin-top: 6px; color: #92400e; }
#chat .readas { font-size: .8rem; margin-top: 4px; color: var(--body-text-color-subdued); }
#chat .status { font-size: .85rem; color: var(--body-text-color-subdued); font-style: italic; }
#chat .cursor { animation: blink 1s steps(2) infinite; }
@keyframes blink { to { opacity: 0; } }
.err { border-left: 4px solid #ef4444; background: rgba(239, 68, 68, .1); padding: 6px 10px;
       border-radius: 4px; }
#sources-panel .sources { max-height: 700px; overflow-y: auto; padding-right: 4px; }
.sources.empty { color: var(--body-text-color-subdued); font-size: .9rem; }
.src-title { font-weight: 700; font-size: 1rem; padding: 2px 0 6px; position: sticky; top: 0;
             z-index: 1; background: var(--background-fill-primary);
             color: var(--body-text-color); }
.src-group { margin-bottom: 10px; }
.src-q { font-weight: 600; font-size: .85rem; margin: 4px 0 6px;
         color: var(--body-text-color-subdued); }
.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
       margin-bottom: 8px; background: var(--background-fill-secondary); scroll-margin-top: 12px; }
.src:target { outline: 2px solid #0d9488; }
.src-head { font-weight: 600; }
.src-head .num { color: #0f766e; margin-right: 4px; }
.src-meta, .src-link { font-size: .8rem; color: var(--body-text-color-subdued); }
.src-link a { word-break: break-all; }
.src .role { color: #b45309; }
.src-quote { margin: 6px 0 0; padding: 4px 8px; border-left: 3px solid #99f6e4; font-size: .86rem;
             max-height: 220px; overflow-y: auto; }
.src-quote mark { background: rgba(250, 204, 21, .45); color: inherit; padding: 0 1px; }
details.more summary { cursor: pointer; font-size: .82rem; color: var(--body-text-color-subdued);
                       margin: 2px 0 8px; }
.fb { font-size: .9rem; padding: 4px 2px; }
.hint { font-size: .8rem; color: var(--body-text-color-subdued); padding: 0 2px; }
#library-table table, #check-table table { font-family: var(--font); font-size: .9rem; }
.fb.ok { color: #15803d; }
.ingest-report { list-style: none; padding-left: 2px; margin: 4px 0; }
.ingest-report li { padding: 2px 0; }
.ingest-report .bad { color: #b91c1c; } .ingest-report .good { color: #15803d; }
.ingest-report .sum { color: var(--body-text-color-subdued); font-size: .85rem; }
"""


def _theme() -> Any:
    # System fonts only: the default theme pulls web fonts from Google, and the page must not
    # make outbound requests.
    return gr.themes.Default(
        primary_hue="teal",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"],
    )


def build_app(assistant: Assistant, feedback: FeedbackStore | None = None) -> gr.Blocks:
    """The page's Blocks, wired to ``assistant``. Launch it with :func:`launch`."""
    page = Page(assistant, feedback)
    settings = page.settings
    infos = page.articles()
    backends = ["local", "extractive"] + (["openai"] if settings.openai_base_url else [])
    if settings.backend not in backends:
        backends.insert(0, settings.backend)

    with gr.Blocks(title="Rare-earth news assistant", analytics_enabled=False) as app:
        conv = gr.State(Conversation())
        header = gr.HTML(page.header(infos))
        with gr.Tabs():
            # ---- chat ----
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        gr.HTML(LEGEND)
                        chatbot = gr.Chatbot(
                            elem_id="chat",
                            label="Conversation",
                            show_label=False,
                            height=560,
                            latex_delimiters=[],
                            feedback_options=("Like", "Dislike"),
                            placeholder=(
                                "<b>Ask about the collected rare-earth news.</b><br>"
                                "For example: <i>How large is the planned NdFeB magnet plant "
                                "in Pahang?</i>"
                            ),
                            buttons=["copy"],
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                elem_id="question",
                                show_label=False,
                                placeholder="Ask a question, or a follow-up…",
                                lines=1,
                                max_lines=4,
                                scale=6,
                                autofocus=True,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                            clear = gr.Button("New chat", scale=1, elem_id="new-chat")
                        with gr.Row():
                            comment = gr.Textbox(
                                elem_id="fb-comment",
                                show_label=False,
                                placeholder="Optional comment on the answer you rated (thumbs "
                                "under it)",
                                scale=6,
                            )
                            send_comment = gr.Button("Send comment", scale=1, elem_id="fb-send")
                        fb_status = gr.HTML(elem_id="fb-status")
                    with gr.Column(scale=2, min_width=320):
                        with gr.Accordion("Filters and answer writer", open=False):
                            with gr.Row():
                                since = gr.DateTime(
                                    label="From", include_time=False, type="string"
                                )
                                until = gr.DateTime(
                                    label="To", include_time=False, type="string"
                                )
                            outlets = gr.Dropdown(
                                choices=page.outlets(infos),
                                multiselect=True,
                                label="Only these outlets",
                                info="Leave empty for every outlet.",
                            )
                            backend = gr.Dropdown(
                                choices=[(BACKEND_LABELS.get(b, b), b) for b in backends],
                                value=settings.backend,
                                label="Answer writer",
                            )
                        sources_panel = gr.HTML(
                            render_sources([]), elem_id="sources-panel", label="Sources"
                        )

            # ---- fact-check ----
            with gr.Tab("Fact-check", id="check-tab"):
                gr.Markdown(
                    "Paste a text (a press release, a post, a draft). Each check-worthy "
                    "sentence is checked against the collected articles."
                )
                check_text = gr.Textbox(
                    lines=7, label="Text to check", elem_id="check-text",
                    placeholder="e.g. Lynas and JS Link plan a 5,000-tonne magnet plant in "
                    "Pahang.",
                )
                check_btn = gr.Button("Check claims", variant="primary", elem_id="check-btn")
                check_summary = gr.HTML()
                check_table = gr.Dataframe(
                    headers=CHECK_HEADERS,
                    datatype=["str"] * 5,
                    interactive=False,
                    wrap=True,
                    elem_id="check-table",
                    column_widths=["30%", "14%", "32%", "16%", "8%"],
                )
                check_files = gr.File(label="Export (CSV, JSON)", file_count="multiple")

            # ---- library ----
            with gr.Tab("Library", id="library-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        library = gr.Dataframe(
                            value=library_rows(infos),
                            headers=LIBRARY_HEADERS,
                            datatype=["str", "str", "str", "number"],
                            interactive=False,
                            wrap=True,
                            elem_id="library-table",
                            label="Indexed articles",
                        )
                        refresh = gr.Button("Refresh list", size="sm")
                    with gr.Column(scale=2):
                        uploads = gr.File(
                            label="Add files", file_count="multiple", elem_id="upload"
                        )
                        gr.HTML(
                            '<div class="hint">Accepted: '
                            f"{esc(' '.join(UPLOAD_TYPES))}; up to "
                            f"{settings.upload_max_bytes / 1e6:.0f} MB per file. JSON/JSONL "
                            "records: {id, title, text, url?, published?, source?}.</div>"
                        )
                        upload_btn = gr.Button("Add to library", variant="primary",
                                               elem_id="upload-btn")
                        url = gr.Textbox(
                            label="Or a web page / RSS or Atom feed",
                            placeholder="https://…",
                            elem_id="url",
                        )
                        fetch_btn = gr.Button("Fetch and add", elem_id="fetch-btn")
                        ingest_report = gr.HTML(elem_id="ingest-report")

        # ---- wiring ----
        chat_io = dict(
            inputs=[question, conv, since, until, outlets, backend],
            outputs=[chatbot, sources_panel, conv, question],
        )
        send.click(page.chat, api_name="chat", **chat_io)  # type: ignore[arg-type]
        question.submit(
            page.chat, api_visibility="private", **chat_io  # type: ignore[arg-type]
        )
        clear.click(
            page.clear, outputs=[chatbot, sources_panel, conv, question],
            api_visibility="private",
        )

        def on_like(state: Conversation, text: str, data: gr.LikeData) -> tuple[str, Conversation]:
            return page.rate(state, text, data.index, data.liked)

        chatbot.like(
            on_like, inputs=[conv, comment], outputs=[fb_status, conv], api_visibility="private"
        )
        send_comment.click(
            page.comment, inputs=[conv, comment], outputs=[fb_status, conv, comment],
            api_name="comment",
        )
        check_btn.click(
            page.check, inputs=[check_text], outputs=[check_table, check_summary, check_files],
            api_name="check",
        )
        lib_out = [ingest_report, library, outlets, header]

        def on_upload(
            files: list[str] | None, progress: gr.Progress = gr.Progress()  # noqa: B008
        ) -> Any:
            return (*page.upload(files, progress), None)  # None clears the upload box

        def on_fetch(link: str, progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008
            return page.fetch(link, progress)

        upload_btn.click(
            on_upload, inputs=[uploads], outputs=[*lib_out, uploads], api_name="upload",
            concurrency_limit=1, concurrency_id="ingest",
        )
        fetch_btn.click(
            on_fetch, inputs=[url], outputs=lib_out, api_name="fetch",
            concurrency_limit=1, concurrency_id="ingest",
        )
        refresh.click(page.library, outputs=[library], api_name="library")
        gr.api(page.ask_json, api_name="ask")
    return app


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for ``Blocks.launch``: loopback by default, never a share link."""
    auth = None
    password = reveal(settings.auth_password)
    if settings.auth_user and password:
        auth = (settings.auth_user, password)
    elif settings.auth_user or password:
        raise ConfigError("set both ASSISTANT_AUTH_USER and ASSISTANT_AUTH_PASSWORD, or neither")
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "auth": auth,
        "auth_message": "Sign in to the rare-earth news assistant." if auth else None,
        "max_file_size": settings.upload_max_bytes,
        "ssr_mode": False,
        "show_error": False,
        "theme": _theme(),
        "css": CSS,
        "footer_links": ["api"],
    }


def launch(app: gr.Blocks, settings: Settings, **extra: Any) -> Any:
    """Queue with the configured concurrency and serve; ``extra`` overrides launch args."""
    kwargs = launch_kwargs(settings)
    kwargs.update(extra)
    return app.queue(default_concurrency_limit=settings.concurrency).launch(**kwargs)


def refresh_index(assistant: Assistant, settings: Settings) -> None:
    """Bring the index up to date with ``corpus/`` (and earlier uploads); idempotent."""
    inputs = []
    if settings.corpus_dir.exists():
        inputs.append(str(settings.corpus_dir))
    else:
        logger.warning("corpus folder %s not found; serving the index as it is",
                       settings.corpus_dir)
    uploads = settings.index_dir / "uploads"
    if uploads.is_dir() and any(uploads.iterdir()):
        inputs.append(str(uploads))
    if not inputs:
        return
    t0 = time.perf_counter()
    result = assistant.ingest(inputs, prune=True)
    for origin, reason in result.failed:
        logger.warning("not indexed: %s: %s", origin, reason)
    logger.info(
        "index ready in %.1fs: %d added, %d updated, %d unchanged, %d removed, %d failed",
        time.perf_counter() - t0, len(result.added), len(result.updated),
        len(result.unchanged), len(result.removed), len(result.failed),
    )


def _warm(assistant: Assistant) -> None:
    """Load the local model and its fixed instructions while the page starts, so the first
    question does not pay for it. A model that cannot load is reported when asked."""
    try:
        assistant.warm()
        logger.info("the answer writer is warm")
    except Exception:  # noqa: BLE001 - a warm-up failure must not stop the page
        logger.warning("warm-up failed; the first answer will load the model", exc_info=True)


def main() -> None:
    """``python app.py``: refresh the index from corpus/, then serve the page."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    assistant = Assistant(settings)
    try:
        refresh_index(assistant, settings)
    except AssistantError:
        logger.exception("the index could not be refreshed; serving it as it is")
    threading.Thread(target=_warm, args=(assistant,), name="warm-up", daemon=True).start()
    app = build_app(assistant)
    logger.info("serving on http://%s:%d (backend %s, concurrency %d)",
                settings.host, settings.port, settings.backend, settings.concurrency)
    launch(app, settings)
