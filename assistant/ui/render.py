"""Pure HTML from records: the checked answer, its source cards, the tables' rows.

Job: turn an :class:`~assistant.models.Answer` (or a check report, or library rows) into the
HTML the page shows. No gradio import and no state: every function takes records and returns
a string (or rows), so it is tested without a browser.

Contract: everything that comes from an article (titles, passages, quotes, URLs) is
untrusted and goes through :func:`esc`; only ``http(s)`` URLs become links. Each ``[n]`` in
an answer becomes a link to the card ``#src-<turn>-<n>`` (hover shows the quote); each
sentence carries its verdict (``✓`` backed; ``⚠`` + a short reason; ``✗`` + the
contradicting quote). An answer is one HTML block without blank lines, so the chat's
markdown leaves it alone.

Compromise: paragraph breaks of the answer text are found again in the claims by a
best-effort prefix match.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from assistant.answer.citations import MARKER
from assistant.index.stories import outlet_name
from assistant.models import Answer, ArticleInfo, CheckReport, Claim, Copy, Evidence, Source

LEGEND = (
    '<div class="legend"><span class="lg ok">✓ backed</span>'
    '<span class="lg unsup">⚠ not backed by the sources, or the sources disagree</span>'
    '<span class="lg contra">✗ contradicted by a source</span>'
    '<span class="lg">[n] source n (hover for the quote, click to open)</span></div>'
)
VERDICT_TEXT = {
    "supported": "✓ supported",
    "unsupported": "⚠ unsupported",
    "contradicted": "✗ contradicted",
}



# ---- small helpers ---------------------------------------------------------------------------
def esc(text: object) -> str:
    """HTML-escape untrusted text: ``esc('<b>"x"</b>') -> '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'``."""
    return html.escape(str(text), quote=True)


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: str) -> str:
    """Only http(s) URLs become links (no ``javascript:``); others give ``""``."""
    url = (url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


def fmt_date(d: date | None) -> str:
    return d.isoformat() if d else "undated"


def error_html(message: str) -> str:
    return f'<div class="err">⚠ {esc(message)}</div>'


# ---- rendering answers -----------------------------------------------------------------------
def _cite_link(answer: Answer, turn: int, number: int) -> str:
    src = answer.source(number)
    if src is None:
        return f'<span class="cite bad" title="no source [{number}] was given">[{number}]</span>'
    chunk = src.chunk
    quote = answer.cited_quote(number) or chunk.text
    tip = f"{chunk.title} ({chunk.source or 'unknown outlet'}, {fmt_date(chunk.published)})"
    tip += f" - “{short(quote, 220)}”"
    return (
        f'<a class="cite" href="#src-{turn}-{number}" title="{esc(tip)}">[{number}]</a>'
    )


def link_markers(escaped: str, answer: Answer, turn: int) -> str:
    """Turn ``[1]`` / ``[1, 2]`` in already-escaped text into links to the source cards."""

    def repl(m: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
        return "".join(_cite_link(answer, turn, n) for n in numbers)

    return MARKER.sub(repl, escaped)


def _evidence_note(ev: Evidence, answer: Answer, turn: int) -> str:
    ref = ""
    if ev.source_number:
        ref = _cite_link(answer, turn, ev.source_number) + " "
    elif ev.title:
        ref = f"<i>{esc(ev.title)}</i>: "
    return f"{ref}“{esc(short(ev.quote, 220))}”"


def _claim_body(claim: Claim, answer: Answer, turn: int) -> str:
    """The sentence with its [n] links; links go before the final full stop (``... year [1].``)."""
    text = claim.text.strip()
    if MARKER.search(text) or not claim.citations:
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
    reason = short(verdict.reason, 160) if verdict.reason else ""
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
    meta = []
    if answer.as_of_text():
        meta.append(f'<b class="as-of">as of {answer.as_of_text()}</b>')
    meta.append(f"answered by {esc(answer.backend or 'unknown backend')}")
    cited = answer.referenced()
    if answer.sources:
        meta.append(f"{len(cited)} of {len(answer.sources)} sources cited")
    counts = answer.verdict_counts()
    if counts.checked:
        meta.append(f"{counts.supported} of {counts.checked} sentences backed")
    total = answer.timings.get("total")
    if total:
        meta.append(f"{total:.1f} s")
    notice = f'<div class="notice">ⓘ {esc(answer.notice)}</div>' if answer.notice else ""
    standalone = (answer.standalone_question or "").strip()
    if standalone and standalone != answer.question.strip():
        notice += f'<div class="readas">Read as: “{esc(short(standalone, 160))}”</div>'
    return (
        f'<div class="{cls}" data-turn="{turn}">{body}</div>{notice}'
        f'<div class="meta">{" · ".join(meta)}</div>'
    )


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


def copies_html(copies: Sequence[Copy], limit: int = 3) -> str:
    """``also distributed by 2 outlets: <a>Outlet</a> (2024-04-09), …`` (escaped, safe links)."""
    names = []
    for c in copies[:limit]:
        name, url = esc(outlet_name(c.source)), safe_url(c.url)
        title = esc(c.title or c.article_id)
        if url:
            name = (f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer" '
                    f'title="{title}">{name}</a>')
        names.append(f"{name} ({esc(fmt_date(c.published))})")
    more = f" and {len(copies) - limit} more" if len(copies) > limit else ""
    noun = "outlet" if len(copies) == 1 else "outlets"
    return (f'<span class="copies">also distributed by {len(copies)} {noun}: '
            f'{", ".join(names)}{more}</span>')


def render_source_card(answer: Answer, src: Source, turn: int, pending: bool = False) -> str:
    """One source card; ``pending`` (the answer is still being written): its best sentence
    for the question is the one highlighted."""
    chunk = src.chunk
    url = safe_url(chunk.url)
    title = esc(chunk.title or chunk.article_id)
    head = (
        f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        if url
        else title
    )
    meta = [esc(chunk.source or "unknown outlet"), esc(fmt_date(chunk.published))]
    if chunk.section:
        meta.append(f"section “{esc(chunk.section)}”")
    if chunk.role in ("disputed", "bias"):
        meta.append('<span class="role">doubts what it reports</span>')
    if src.copies:
        meta.append(copies_html(src.copies))
    spans = answer.quote_spans(src)
    if pending and src.best and (at := chunk.text.find(src.best)) >= 0:
        spans = [(at, at + len(src.best))]
    passage = _marked_passage(chunk.text, spans)
    link = (
        f'<div class="src-link"><a href="{esc(url)}" target="_blank" '
        f'rel="noopener noreferrer">{esc(short(url, 70))}</a></div>'
        if url
        else ""
    )
    return (
        f'<div class="src" id="src-{turn}-{src.number}">'
        f'<div class="src-head"><span class="num">[{src.number}]</span> {head}</div>'
        f'<div class="src-meta">{" · ".join(meta)}</div>{link}'
        f'<blockquote class="src-quote">{passage}</blockquote></div>'
    )


def render_pending(answer: Answer, turn: int) -> str:
    """The sources of an answer still being written: every card, its best sentence marked."""
    cards = "".join(render_source_card(answer, s, turn, pending=True) for s in answer.sources)
    noun = "source" if len(answer.sources) == 1 else "sources"
    return (
        '<div class="src-group pending"><div class="src-q">Found '
        f"{len(answer.sources)} {noun} for “{esc(short(answer.question, 90))}” "
        f"– the answer is being written</div>{cards}</div>"
    )


def render_sources(
    answers: Sequence[tuple[int, Answer]], pending: tuple[int, Answer] | None = None
) -> str:
    """The sources panel: for each answer (newest first), its numbered source cards;
    ``pending`` (turn, answer with sources and no text yet) goes first."""
    if not answers and pending is None:
        return (
            '<div class="sources empty"><div class="src-title">Sources</div>Each answer\'s '
            "numbered passages appear here, with title, outlet, date, link and the quoted "
            "words highlighted.</div>"
        )
    groups = [render_pending(pending[1], pending[0])] if pending is not None else []
    for turn, answer in sorted(answers, key=lambda ta: -ta[0]):
        used = answer.referenced()
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
            f"“{esc(short(answer.question, 90))}”</div>{cards}</div>"
        )
    return '<div class="sources"><div class="src-title">Sources</div>' + "".join(groups) + "</div>"


def status_bubble(status: str, partial: str) -> str:
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
        ev = claim.evidence_to_show()
        label = VERDICT_TEXT.get(v.label, v.label) if v else "not checked"
        if v is not None and v.reason and v.label != "supported":
            label += f" - {short(v.reason, 100)}"
        rows.append(
            [
                claim.text,
                label,
                ev.quote if ev else "",
                (ev.title or ev.article_id) if ev else "",
                fmt_date(ev.published) if ev and ev.published else "",
            ]
        )
    return rows


def library_rows(infos: Sequence[ArticleInfo]) -> list[list[Any]]:
    return [
        [i.title or i.id, i.source or "", fmt_date(i.published), i.chunks] for i in infos
    ]


def check_summary(report: CheckReport) -> str:
    """One line over the fact-check table: how many claims, and how many of each verdict."""
    if not report.claims:
        return '<div class="fb">No check-worthy claim was found in that text.</div>'
    counts = {label: 0 for label in VERDICT_TEXT}
    for claim in report.claims:
        if claim.verdict and claim.verdict.label in counts:
            counts[claim.verdict.label] += 1
    return (
        f'<div class="fb">{len(report.claims)} claims: '
        f'<span class="lg ok">✓ {counts["supported"]} supported</span> '
        f'<span class="lg unsup">⚠ {counts["unsupported"]} unsupported</span> '
        f'<span class="lg contra">✗ {counts["contradicted"]} contradicted</span></div>'
    )
