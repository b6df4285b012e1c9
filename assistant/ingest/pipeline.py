"""From a loaded document to a cleaned, sectioned Article (and its chunks).

``prepare(raw) -> Article``: cleans the text and the title (``clean.clean_text`` /
``clean_line``), detects sections, and derives a title when the document has none:

- the first line, when the text opens with a title-like line that names no role
  (``Lynas Signs Magnet Deal``), else
- the first bullet of a leading summary section (the seed ``.txt`` articles open with
  ``Highlights`` and three bullets; the first bullet is the article's gist), else
- the first sentence of the first non-heading line.

A derived title longer than 140 characters is cut at a clause break (``, `` or `` - ``) or a
word boundary (with an ellipsis). The title is metadata only; it is not added to the text.

``chunk_article`` is re-exported so callers need only this module:
``chunks = chunk_article(prepare(raw), settings.chunk_max_tokens, embedder.count_tokens,
settings.max_chunks_per_article)``; past the cap the rest of the article is dropped with a
warning (without the fourth argument the setting's default cap applies).

Compromise: a derived title is a rule over the document's opening lines, not a summary; it
is only as good as that opening.
"""

from __future__ import annotations

import re

from assistant.ingest.chunk import chunk_article
from assistant.ingest.clean import clean_line, clean_text
from assistant.ingest.sections import detect_sections
from assistant.models import Article, RawArticle, Section
from assistant.text import split_sentences

__all__ = ["prepare", "chunk_article", "derive_title"]

_BULLET = re.compile(r"^(?:[-*•+–—]|\d{1,3}[.)])\s+")
_MAX_TITLE = 140


def _shorten(title: str) -> str:
    title = title.strip().rstrip(".").strip()
    if len(title) <= _MAX_TITLE:
        return title
    window = title[: _MAX_TITLE + 10]
    for sep in (", ", " — ", " – ", " - ", "; ", ": "):
        cut = window.rfind(sep)
        if cut >= 40:
            return title[:cut].rstrip()
    cut = title.rfind(" ", 0, _MAX_TITLE)
    return (title[:cut] if cut > 40 else title[:_MAX_TITLE]).rstrip(" ,;:") + "…"


def derive_title(text: str, sections: tuple[Section, ...]) -> str:
    """A title for an untitled article.

    ``derive_title("Highlights\\n- Lynas signs a deal.\\nBody.", sections) -> "Lynas signs a deal"``
    """
    if sections and sections[0].role == "report" and sections[0].title != "Body":
        return _shorten(sections[0].title)  # the text opens with a title line
    for sec in sections:
        body = text[sec.start : sec.end]
        lines = [ln.strip() for ln in body.split("\n") if ln.strip()]
        if sec.title != "Body" and lines and lines[0] == sec.title.strip():
            lines = lines[1:]  # skip the heading line itself
        if not lines:
            continue
        if sec.role == "summary":
            for ln in lines:
                if _BULLET.match(ln):
                    return _shorten(_BULLET.sub("", ln, count=1))
        first = lines[0]
        first = _BULLET.sub("", first, count=1)
        spans = split_sentences(first)
        if spans:
            s, e = spans[0]
            return _shorten(first[s:e])
    return ""


def prepare(raw: RawArticle) -> Article:
    """Clean ``raw`` and cut it into sections.

    ``prepare(RawArticle("a", "", "Highlights\\n- Lynas signs.\\nBody.", "a.txt"))`` ->
    ``Article(id="a", title="Lynas signs", sections=(Highlights/summary, Body/report), ...)``
    """
    text = clean_text(raw.text)
    sections = detect_sections(text)
    title = clean_line(raw.title) if raw.title else ""
    if not title:
        title = derive_title(text, sections)
    return Article(
        id=raw.id,
        title=title,
        text=text,
        origin=raw.origin,
        url=raw.url.strip(),
        published=raw.published,
        source=clean_line(raw.source) if raw.source else "",
        sections=sections,
    )
