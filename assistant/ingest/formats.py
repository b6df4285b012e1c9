"""Document formats: bytes of one document -> ``RawArticle`` records (or ``LoadError``).

``parse_bytes(data, kind, doc_id, origin, fetcher)`` parses one document of ``kind`` (a file
extension, or ``"feed"`` / ``"html"`` / ``"text"`` when sniffed); a record that fails inside
a multi-record document is returned as a ``LoadError`` in the list, the others still load.

- ``.txt`` / ``.md`` / ``.markdown``: optional YAML front matter (``---`` block) with
  ``id, title, url, published, source``. Without a title the loader leaves it empty and
  ``pipeline.prepare`` derives it from the cleaned text. Markdown keeps its ``#`` headings
  (section detection reads them); links become their text, images go. Front matter and
  metadata checks (aliases refused, fields capped, ids, dates) are :mod:`.meta`.
- ``.html`` / ``.htm``: trafilatura (main text, title, date, site name).
- ``.json`` (one record or a list) / ``.jsonl`` (one per line): ``{id, title, text, url?,
  published?, source?}``; a record's ``id`` is kept, else ``<file id>-<n>``. A bad line in a
  ``.jsonl`` is one ``LoadError`` naming the file and line; so is a record whose ``id`` an
  earlier record of the file used, and deep nesting or a 100k-digit number is a clear error.
- ``.xml`` / ``.rss`` / ``.atom`` (or sniffed as a feed): feedparser; each entry is one
  article. An entry with full ``content`` uses it; one with only a summary gets its linked
  page fetched and extracted (falling back to the summary, with a warning). Only the first
  ``max_feed_entries`` entries are read (a warning names the rest). ``keep(entry_id,
  fingerprint)``, when given, picks the entries to read (the feed watcher skips seen ones).

Decoding (:func:`decode`): UTF-16/32 with a BOM; UTF-8 (with or without BOM); a declared
HTTP charset; Windows-1252 when it reads as Western text (accented letters inside mostly
ASCII words: charset-normalizer misreads short French as Baltic); otherwise
charset-normalizer's best guess. NUL bytes, no plausible encoding,
or mostly control characters -> "binary". The only module that imports trafilatura,
feedparser and charset-normalizer (yaml is :mod:`.meta`).

Compromise: feed HTML fragments are flattened with regexes, not a parser.
"""

from __future__ import annotations

import codecs
import html as _html
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import feedparser
import trafilatura

from assistant.errors import LoadError
from assistant.ingest.fetch import Fetcher
from assistant.ingest.meta import (
    Limits,
    date_field,
    entry_key,
    id_field,
    meta_field,
    parse_date,
    split_front_matter,
    unique_ids,
)
from assistant.models import RawArticle

logger = logging.getLogger(__name__)

__all__ = [
    "FEED_EXT", "HTML_EXT", "JSONL_EXT", "JSON_EXT", "KNOWN_EXT", "TEXT_EXT", "Limits",
    "decode", "feed_doc", "parse_bytes", "parse_date", "sniff",
]

TEXT_EXT = frozenset({".txt", ".md", ".markdown"})
HTML_EXT = frozenset({".html", ".htm"})
JSON_EXT = frozenset({".json"})
JSONL_EXT = frozenset({".jsonl", ".ndjson"})
FEED_EXT = frozenset({".xml", ".rss", ".atom"})
KNOWN_EXT = TEXT_EXT | HTML_EXT | JSON_EXT | JSONL_EXT | FEED_EXT

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_CODE = re.compile(r"`([^`\n]+)`")
DEFAULT_LIMITS = Limits()
_TYPOGRAPHY = frozenset("€‚„…†‡‰‹›‘’“”•–—™°«»©®±·¹²³¼½¾§¶£¥¢×÷\xa0")


def decode(data: bytes, origin: str, declared: str = "") -> str:
    """Bytes -> text, or LoadError for binary / undecodable content.

    ``declared`` is an HTTP ``charset``; it is tried right after the BOM check.
    """
    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as exc:
                raise LoadError(origin, f"undecodable {enc} text: {exc.reason}") from exc
    if b"\x00" in data[:65536]:
        raise LoadError(origin, "binary file (contains NUL bytes), not a text document")
    if declared:
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            logger.info("%s: declared charset %s does not fit; guessing", origin, declared)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    western = _western(data)
    if western is not None:
        logger.info("%s: not UTF-8, decoded as cp1252", origin)
        return western
    best = charset_normalizer.from_bytes(data[:1_000_000]).best()
    if best is None or best.encoding is None:
        raise LoadError(origin, "binary or undecodable file (no text encoding fits)")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise LoadError(origin, f"undecodable text (guessed {best.encoding})") from exc
    controls = sum(1 for c in text[:20000] if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > 0.02 * max(1, len(text[:20000])):
        raise LoadError(origin, "binary file (mostly control characters), not a text document")
    logger.info("%s: not UTF-8, decoded as %s", origin, best.encoding)
    return text


def _western(data: bytes) -> str | None:
    """``data`` as Windows-1252 when that reads as Western text, else None: every non-ASCII
    character a letter or typography, and accented letters a small share of all letters."""
    try:
        text = data[:1_000_000].decode("cp1252")
    except UnicodeDecodeError:
        return None
    high = [c for c in text if ord(c) > 127]
    if any(not c.isalpha() and c not in _TYPOGRAPHY for c in high):
        return None
    letters = sum(1 for c in text if c.isalpha())
    if sum(1 for c in high if c.isalpha()) > 0.25 * max(1, letters):
        return None  # Cyrillic text read as cp1252 is mostly accented "letters"
    return data.decode("cp1252")


def sniff(data: bytes) -> str:
    """``"feed"``, ``"html"`` or ``""`` from the first bytes of a document."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed"):
        if b"<html" in head[:500]:
            return "html"
        if b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head or b"<channel" in head:
            return "feed"
        return "feed" if head.startswith(b"<?xml") else ""
    if head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<body" in head:
        return "html"
    return ""


def _strip_markdown(text: str) -> str:
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    return _MD_CODE.sub(r"\1", text)


def _text_doc(
    text: str, file_id: str, origin: str, markdown: bool, limits: Limits
) -> list[RawArticle]:
    meta, body = split_front_matter(text, origin, limits)
    where = "front matter "
    if markdown:
        body = _strip_markdown(body)
    if not body.strip():
        raise LoadError(origin, "empty document (no text after the front matter)")
    return [
        RawArticle(
            id=id_field(meta, file_id, origin, where, limits),
            title=meta_field(meta, "title", origin, where, limits),
            text=body,
            origin=origin,
            url=meta_field(meta, "url", origin, where, limits),
            published=date_field(meta, ("published", "date"), origin, where),
            source=meta_field(meta, "source", origin, where, limits),
        )
    ]


def _html_doc(
    html: str, doc_id: str, origin: str, url: str = "", limits: Limits = DEFAULT_LIMITS
) -> list[RawArticle]:
    doc = trafilatura.bare_extraction(
        html, url=url or None, with_metadata=True, include_comments=False, include_tables=True
    )
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if not text:
        raise LoadError(origin, "no article text found in the HTML page")
    title = (getattr(doc, "title", None) or "").strip()
    first, _, rest = text.partition("\n")
    if title and first.strip() == title and rest.strip():
        text = rest  # trafilatura repeats the headline as the first line
    site = getattr(doc, "sitename", None) or getattr(doc, "hostname", None) or ""
    meta = {"title": title, "source": site, "url": url or getattr(doc, "url", None) or ""}
    return [
        RawArticle(
            id=doc_id,
            title=meta_field(meta, "title", origin, "page ", limits),
            text=text,
            origin=origin,
            url=meta_field(meta, "url", origin, "page ", limits),
            published=parse_date(getattr(doc, "date", None)),
            source=meta_field(meta, "source", origin, "page ", limits),
        )
    ]


def _record(
    obj: Any, file_id: str, origin: str, n: int, where: str, limits: Limits
) -> RawArticle:
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise LoadError(origin, f"{where}: expected an object with 'text', got {kind}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadError(origin, f"{where}: record has no 'text'")
    at = f"{where}: "
    return RawArticle(
        id=id_field(obj, f"{file_id}-{n}", origin, at, limits),
        title=meta_field(obj, "title", origin, at, limits),
        text=text,
        origin=origin,
        url=meta_field(obj, "url", origin, at, limits),
        published=date_field(obj, ("published",), origin, at),
        source=meta_field(obj, "source", origin, at, limits),
    )


def _json_loads(text: str, origin: str, where: str) -> Any:
    """``json.loads`` with our reasons: invalid, nested too deeply, a number too long."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(origin, f"{where}invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise LoadError(origin, f"{where}invalid JSON (nested too deeply)") from exc
    except ValueError as exc:  # an integer over Python's 4300-digit conversion limit
        raise LoadError(origin, f"{where}invalid JSON ({str(exc).split(':')[0]})") from exc


def _json_doc(
    text: str, file_id: str, origin: str, limits: Limits
) -> list[RawArticle | LoadError]:
    data = _json_loads(text, origin, "")
    records = data if isinstance(data, list) else [data]
    if not records:
        raise LoadError(origin, "empty JSON list (no records)")
    out: list[RawArticle | LoadError] = []
    wheres: list[str] = []
    for n, obj in enumerate(records, 1):
        where = f"record {n}" if isinstance(data, list) else "record"
        wheres.append(where)
        try:
            out.append(_record(obj, file_id, origin, n, where, limits))
        except LoadError as err:
            out.append(err)
    return unique_ids(out, wheres, origin)


def _jsonl_doc(
    text: str, file_id: str, origin: str, limits: Limits
) -> list[RawArticle | LoadError]:
    out: list[RawArticle | LoadError] = []
    wheres: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        wheres.append(f"line {lineno}")
        try:
            obj = _json_loads(line, origin, f"line {lineno}: ")
            out.append(_record(obj, file_id, origin, lineno, f"line {lineno}", limits))
        except LoadError as err:
            out.append(err)
    if not out:
        raise LoadError(origin, "no JSON records")
    return unique_ids(out, wheres, origin)


def _html_fragment_text(fragment: str) -> str:
    """Feed ``content``/``summary`` HTML -> plain text with paragraph breaks."""
    if "<" not in fragment:
        return fragment
    text = re.sub(r"(?i)<br\s*/?>", "\n", fragment)
    text = re.sub(r"(?i)</(?:p|div|h[1-6]|li|blockquote|tr|section|article)\s*>", "\n", text)
    text = re.sub(r"(?i)<li\b[^>]*>", "\n- ", text)
    text = re.sub(r"<[^>]+>", "", text)
    return _html.unescape(text)


def feed_doc(
    data: bytes, feed_id: str, origin: str, fetcher: Fetcher, limits: Limits = DEFAULT_LIMITS,
    keep: Callable[[str, str], bool] | None = None,
) -> list[RawArticle | LoadError]:
    parsed = feedparser.parse(data)
    if not parsed.entries:
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            raise LoadError(origin, f"not a valid RSS/Atom feed ({exc})")
        if parsed.get("version"):
            raise LoadError(origin, "feed has no entries")
        raise LoadError(origin, "not an RSS/Atom feed")
    feed_title = str(parsed.feed.get("title") or "").strip()
    entries = parsed.entries
    if len(entries) > limits.feed_entries:
        logger.warning("%s: the feed has %d entries; only the first %d are read "
                       "(max_feed_entries)", origin, len(entries), limits.feed_entries)
        entries = entries[: limits.feed_entries]
    out: list[RawArticle | LoadError] = []
    for n, entry in enumerate(entries, 1):
        if keep is not None and not keep(*entry_key(entry, n, feed_id)):
            continue
        try:
            out.append(_feed_entry(entry, n, feed_id, origin, feed_title, fetcher, limits))
        except LoadError as err:
            out.append(err)
    return out


def _feed_entry(
    entry: Any, n: int, feed_id: str, origin: str, feed_title: str, fetcher: Fetcher,
    limits: Limits,
) -> RawArticle:
    link = str(entry.get("link") or "").strip()
    title = str(entry.get("title") or "").strip()
    published = parse_date(entry.get("published_parsed") or entry.get("updated_parsed"))
    if published is None:
        published = parse_date(entry.get("published") or entry.get("updated"))
    entry_origin = link or f"{origin}#{n}"
    entry_id = entry_key(entry, n, feed_id)[0]
    contents = entry.get("content") or []
    text = ""
    if contents:
        text = "\n".join(_html_fragment_text(str(c.get("value") or "")) for c in contents)
    source = feed_title
    if not text.strip() and link:
        try:
            body, ctype, final = fetcher.get(link)
            page = decode(body, link, fetcher.charsets.get(final, ""))
            doc = _html_doc(page, entry_id, entry_origin, url=final, limits=limits)[0]
            text = doc.text
            title = title or doc.title
            published = published or doc.published
            source = source or doc.source
        except LoadError as err:
            logger.warning("%s: linked page not loaded (%s); using the feed summary", link, err)
    if not text.strip():
        text = _html_fragment_text(str(entry.get("summary") or ""))
    if not text.strip():
        raise LoadError(entry_origin, f"feed entry {n} has no text")
    meta = {"title": title, "url": link,
            "source": source or (urlsplit(link).hostname or "" if link else "")}
    where = f"feed entry {n}: "
    return RawArticle(
        id=entry_id,
        title=meta_field(meta, "title", entry_origin, where, limits),
        text=text,
        origin=entry_origin,
        url=meta_field(meta, "url", entry_origin, where, limits),
        published=published,
        source=meta_field(meta, "source", entry_origin, where, limits),
    )


def parse_bytes(
    data: bytes,
    kind: str,
    doc_id: str,
    origin: str,
    fetcher: Fetcher,
    url: str = "",
    charset: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> list[RawArticle | LoadError]:
    """Parse a document of ``kind`` (an extension, or "feed"/"html"/"text")."""
    if kind in FEED_EXT or kind == "feed":
        return feed_doc(data, doc_id, origin, fetcher, limits)
    text = decode(data, origin, charset)
    if not text.strip():
        raise LoadError(origin, "empty file (only whitespace)")
    if kind in HTML_EXT or kind == "html":
        return list(_html_doc(text, doc_id, origin, url=url, limits=limits))
    if kind in JSON_EXT:
        return _json_doc(text, doc_id, origin, limits)
    if kind in JSONL_EXT:
        return _jsonl_doc(text, doc_id, origin, limits)
    return list(_text_doc(text, doc_id, origin, kind in {".md", ".markdown"}, limits))
