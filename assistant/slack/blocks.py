"""Block Kit formatting for the Slack bot: Answer / CheckReport records -> Slack messages.

Pure functions, no Slack client and no I/O, so they are easy to test. ``assistant.slack.bot``
posts what these return.

What a reader sees for an answer:

* the answer text with its ``[n]`` markers; a sentence the checker flagged gets an inline
  ``:warning:`` (not backed by the sources) or ``:x:`` (contradicted) right after it;
* one line per flagged sentence: ``:warning: not backed by the sources: _sentence_`` or
  ``:x: contradicted by [n]: "quote"``;
* the sources as context blocks: ``[n] <url|title> · outlet · date`` and the quoted passage;
* Slack's feedback buttons (thumbs up / down, :func:`feedback_actions`).

Slack limits (https://docs.slack.dev/reference/block-kit/blocks): a section's text holds at
most 3000 characters, a message at most 50 blocks, the ``text`` field at most 40000
characters. Long answers are split over several sections and, past 50 blocks, several
messages; past ``max_messages`` the rest is dropped with a visible note.
Compromise: a sentence is located in the answer text by exact match; when the chain
rewrites a sentence (so the claim text is not a substring), only the flag line below the
answer marks it, not the inline icon.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant.answer.citations import MARKER_SPACED
from assistant.index.stories import copies_line
from assistant.models import Answer, CheckReport, Claim, Evidence, Source

Block = dict[str, Any]

MAX_SECTION_CHARS = 3000
MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40000
MAX_CONTEXT_ELEMENTS = 10
FALLBACK_CHARS = 3000  # the notification/fallback text we send (well under 40000)
QUOTE_CHARS = 280  # quoted passage length under a source
MAX_MESSAGES = 4

FEEDBACK_ACTION = "answer_feedback"  # the feedback_buttons element
FEEDBACK_UP = "feedback_up"  # the older two buttons (messages posted before it)
FEEDBACK_DOWN = "feedback_down"
TRAILING = ("actions", "context_actions")  # block types paginate keeps last
FEEDBACK_BLOCK_ID = "feedback"

ICONS = {"supported": ":white_check_mark:", "contradicted": ":x:", "unsupported": ":warning:"}
LABEL_TEXT = {
    "supported": "backed by the sources",
    "contradicted": "contradicted by the sources",
    "unsupported": "not backed by the sources",
}
TRIM_NOTE = "_(trimmed: the rest did not fit in Slack)_"


# ---- text helpers ------------------------------------------------------------------------
def escape(text: str) -> str:
    """Escape Slack's control characters: ``escape("a<b & c>") -> "a&lt;b &amp; c&gt;"``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``link("https://x.org/a", "A|B") -> "<https://x.org/a|A¦B>"``; no URL -> the label."""
    label = escape(label).replace("|", "¦")
    if not url or not re.match(r"https?://", url):
        return label
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe}|{label}>"


def trim(text: str, limit: int, suffix: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, adding ``suffix``."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(suffix))]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + suffix


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Split into pieces of at most ``limit`` chars: at paragraphs, then sentences, then words.

    ``split_text("One. Two.", 5) -> ["One.", "Two."]``; no word is lost.
    """
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sep, unit in _units(text, limit):
        if current and len(current) + len(sep) + len(unit) > limit:
            pieces.append(current)
            current = unit
        else:
            current = current + sep + unit if current else unit
    if current:
        pieces.append(current)
    return pieces


def _units(text: str, limit: int) -> list[tuple[str, str]]:
    """(separator, unit) pairs: paragraphs, or their sentences / words when too long."""
    units: list[tuple[str, str]] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        sep = "\n\n"
        sentences = re.split(r"(?<=[.!?])\s+", para) if len(para) > limit else [para]
        for sent in sentences:
            for piece in _words(sent, limit) if len(sent) > limit else [sent]:
                units.append((sep, piece))
                sep = " "
    return units


def _words(sentence: str, limit: int) -> list[str]:
    out: list[str] = []
    chunk = ""
    for word in sentence.split():
        while len(word) > limit:  # one absurdly long token
            if chunk:
                out.append(chunk)
                chunk = ""
            out.append(word[:limit])
            word = word[limit:]
        if chunk and len(chunk) + 1 + len(word) > limit:
            out.append(chunk)
            chunk = word
        else:
            chunk = f"{chunk} {word}" if chunk else word
    if chunk:
        out.append(chunk)
    return out


def fallback_text(text: str, limit: int = FALLBACK_CHARS) -> str:
    """The message ``text`` (notifications, clients without blocks), trimmed with a note."""
    text = text.strip() or "(empty answer)"
    if len(text) <= limit:
        return text
    return trim(text, limit - 12) + " (trimmed)"


# ---- blocks ------------------------------------------------------------------------------
def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim(text, MAX_SECTION_CHARS)}}


def context(*texts: str) -> Block:
    elements = [
        {"type": "mrkdwn", "text": trim(t, MAX_SECTION_CHARS)}
        for t in texts[:MAX_CONTEXT_ELEMENTS]
        if t.strip()
    ]
    return {"type": "context", "elements": elements}


def feedback_actions(value: str) -> Block:
    """Slack's thumbs up/down (a ``feedback_buttons`` element in a ``context_actions`` block);
    each button's ``value`` is ``up:KEY`` / ``down:KEY``, KEY being the stored answer's key."""
    def button(rating: str, label: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": label},
                "value": f"{rating}:{value}"[:2000], "accessibility_label": label}

    return {
        "type": "context_actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [{
            "type": "feedback_buttons",
            "action_id": FEEDBACK_ACTION,
            "positive_button": button("up", "Helpful"),
            "negative_button": button("down", "Not right"),
        }],
    }


def feedback_rating(action: dict[str, Any]) -> tuple[str, str]:
    """``(rating, key)`` of a click: ``{"value": "down:ab12"} -> ("down", "ab12")``; the
    older two-button layout (``feedback_up``/``feedback_down``, value = key) still reads."""
    value = str(action.get("value") or "")
    if action.get("action_id") in (FEEDBACK_UP, FEEDBACK_DOWN):
        return ("up" if action.get("action_id") == FEEDBACK_UP else "down"), value
    rating, _, key = value.partition(":")
    return ("up" if rating == "up" else "down"), key


def _quote(evidence: Evidence | None) -> str:
    if evidence is None or not evidence.quote:
        return ""
    return "“" + escape(trim(" ".join(evidence.quote.split()), QUOTE_CHARS)) + "”"


def flag_line(claim: Claim) -> str | None:
    """The line shown for a flagged claim, ``None`` for a backed one.

    ``unsupported`` -> ``":warning: not backed by the sources: _sentence_"``;
    ``contradicted`` -> ``":x: contradicted by [2]: “quote” (_sentence_)"``.
    """
    v = claim.verdict
    if v is None or v.label == "supported":
        return None
    sentence = escape(trim(claim.text, 600))
    if v.label == "contradicted":
        ev = v.evidence_to_show()
        by = f"[{ev.source_number}]" if ev and ev.source_number else _title_of(ev)
        quote = _quote(ev)
        head = f":x: contradicted by {by}" if by else ":x: contradicted by the sources"
        body = f"{head}: {quote}" if quote else head
        return f"{body}\n_{sentence}_"
    reason = f" ({escape(trim(v.reason, 300))})" if v.reason else ""
    return f":warning: not backed by the sources{reason}:\n_{sentence}_"


def _title_of(ev: Evidence | None) -> str:
    if ev is None:
        return ""
    return escape(ev.title or ev.article_id)


def mark_sentences(text: str, claims: Sequence[Claim]) -> str:
    """Escape ``text`` and put ``:warning:`` / ``:x:`` right after each flagged sentence.

    ``mark_sentences("A [1]. B [2].", [Claim("B [2].", verdict=unsupported)])
    -> "A [1]. B [2]. :warning:"``
    """
    out = escape(text)
    cursor = 0
    for claim in claims:
        v = claim.verdict
        span = _locate(out, escape(claim.text.strip()), cursor)
        if span is None:
            continue
        end = span[1]
        if v is not None and v.label != "supported":
            icon = " " + ICONS.get(v.label, ":warning:")
            out = out[:end] + icon + out[end:]
            end += len(icon)
        cursor = end
    return out


_TAIL = re.compile(rf"(?:{MARKER_SPACED.pattern})*[.!?]?(?:{MARKER_SPACED.pattern})*")


def _locate(text: str, sentence: str, start: int) -> tuple[int, int] | None:
    """Where ``sentence`` sits in ``text`` (from ``start``), tolerating moved ``[n]`` markers:
    the claim "It opens in 2026." matches "It opens in 2026 [1]." including its marker."""
    if not sentence:
        return None
    pos = text.find(sentence, start)
    if pos >= 0:
        end = pos + len(sentence)
    else:
        core = MARKER_SPACED.sub("", sentence).strip().rstrip(".!?").strip()
        if len(core) < 8:
            return None
        pos = text.find(core, start)
        if pos < 0:
            return None
        end = pos + len(core)
    tail = _TAIL.match(text, end)
    return pos, (tail.end() if tail else end)


def source_line(source: Source) -> str:
    """``*[1]* <url|Title> · Outlet · 2025-01-31``."""
    chunk = source.chunk
    parts = [f"*[{source.number}]* " + link(chunk.url, chunk.title or chunk.article_id)]
    if chunk.section and chunk.section.strip() != chunk.title.strip():
        parts.append("_" + escape(trim(chunk.section, 80)) + "_")
    if chunk.source:
        parts.append(escape(chunk.source))
    if chunk.published:
        parts.append(chunk.published.isoformat())
    if source.copies:
        parts.append("_" + escape(copies_line(source.copies)) + "_")
    return " · ".join(parts)


def _source_quote(answer: Answer, source: Source) -> str:
    text = answer.cited_quote(source.number, evidence=False) or source.chunk.text
    return "> “" + escape(trim(" ".join(text.split()), QUOTE_CHARS)) + "”"


def answer_blocks(answer: Answer, feedback_value: str | None = None) -> list[Block]:
    """All blocks of an answer, in order (may exceed 50; see :func:`paginate`)."""
    body = mark_sentences(answer.text, answer.claims) if answer.text.strip() else "_(no answer)_"
    return [section(piece) for piece in split_text(body)] + answer_tail(answer, feedback_value)


def answer_tail(answer: Answer, feedback_value: str | None = None) -> list[Block]:
    """What comes under the answer text: flag lines, notes, sources with quotes, feedback
    (a streamed answer's text is already in the message; these are attached when it stops)."""
    blocks: list[Block] = []
    checked = [c for c in answer.claims if c.verdict is not None]
    flags = [line for c in answer.claims if (line := flag_line(c))]
    for line in flags:
        blocks.append(section(line))
    notes: list[str] = []
    if answer.as_of_text():
        notes.append(f":calendar: as of {answer.as_of_text()} (the newest source used)")
    if checked and not answer.abstained:
        backed = answer.verdict_counts().supported
        notes.append(f":mag: {backed} of {len(checked)} sentences backed by the sources")
    elif answer.claims and not checked and not answer.abstained:
        notes.append(":grey_question: sentences not checked against the sources")
    if answer.invalid_citations:
        bad = ", ".join(f"[{n}]" for n in answer.invalid_citations)
        notes.append(f":warning: cited sources that do not exist: {bad}")
    if answer.notice:
        notes.append(":information_source: " + escape(trim(answer.notice, 500)))
    if notes:
        blocks.append(context(*notes))

    if answer.sources:
        blocks.append(context("*Sources*"))
        for src in answer.sources:
            blocks.append(context(source_line(src), _source_quote(answer, src)))
    if feedback_value is not None:
        blocks.append(feedback_actions(feedback_value))
    return blocks


def check_blocks(report: CheckReport) -> list[Block]:
    """Blocks of a fact-check: a summary line, then one section per claim with its evidence."""
    if not report.claims:
        return [section("I found no check-worthy claims in that text.")]
    counts = report.verdict_counts()
    summary = (
        f"*Fact-check* of {len(report.claims)} claim(s): "
        f"{counts.supported} backed, {counts.contradicted} contradicted, "
        f"{counts.unsupported} not backed by the sources"
    )
    blocks: list[Block] = [section(summary)]
    for claim in report.claims:
        v = claim.verdict
        if v is None:
            sentence = escape(trim(claim.text, 1500))
            blocks.append(section(f":grey_question: not checked\n_{sentence}_"))
            continue
        head = f"{ICONS.get(v.label, ':grey_question:')} *{LABEL_TEXT.get(v.label, v.label)}*"
        reason = f" ({escape(trim(v.reason, 400))})" if v.reason else ""
        blocks.append(section(f"{head}{reason}\n_{escape(trim(claim.text, 1500))}_"))
        ev = v.evidence_to_show()
        if ev is not None and ev.quote:
            where = _title_of(ev)
            if ev.published:
                where += f", {ev.published.isoformat()}"
            blocks.append(context(f"> {_quote(ev)}" + (f" — {where}" if where else "")))
    return blocks


def paginate(
    blocks: Sequence[Block], max_blocks: int = MAX_BLOCKS, max_messages: int = MAX_MESSAGES
) -> list[list[Block]]:
    """Pack blocks into messages of at most ``max_blocks``; keep a trailing actions block last.

    Past ``max_messages`` messages the remaining blocks are dropped and the last message
    ends with a visible trim note (and still carries the feedback buttons).
    """
    items = list(blocks)
    tail: list[Block] = []
    if items and items[-1].get("type") in TRAILING:
        tail = [items.pop()]
    pages: list[list[Block]] = []
    per_page = max_blocks
    while items:
        pages.append(items[:per_page])
        items = items[per_page:]
    if not pages:
        pages = [[]]
    if len(pages) > max_messages:
        pages = pages[:max_messages]
        last = pages[-1]
        room = max_blocks - len(tail) - 1
        pages[-1] = last[:room] + [context(TRIM_NOTE)]
    last = pages[-1]
    if tail:
        if len(last) + len(tail) > max_blocks:
            pages.append(tail)
        else:
            pages[-1] = last + tail
    return pages
