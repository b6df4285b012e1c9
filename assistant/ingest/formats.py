"""Document formats: bytes of one document -> ``RawArticle`` records (or ``LoadError``).

``parse_bytes(data, kind, doc_id, origin, fetcher)`` parses one document of ``kind`` (a file
extension, or ``"feed"`` / ``"html"`` / ``"text"`` when sniffed); a record that fails inside
a multi-record document is returned as a ``LoadError`` in the list, the others still load.

- ``.txt`` / ``.md`` / ``.markdown``: optional YAML front matter (``---`` block) with
  ``id, title, url, published, source``. Without a title the loader leaves it empty and
  ``pipeline.prepare`` derives it from the cleaned text. Markdown keeps its ``#`` headings
  (section detection reads them); links become their text, images go.
- ``.html`` / ``.htm``: trafilatura (main text, title, date, site name).
- ``.json`` (one record or a list) / ``.jsonl`` (one per line): ``{id, title, text, url?,
  published?, source?}``; a record's ``id`` is kept, else ``<file id>-<n>``. A bad line in a
  ``.jsonl`` is one ``LoadError`` naming the file and line.
- ``.xml`` / ``.rss`` / ``.atom`` (or sniffed as a feed): feedparser; each entry is one
  article. An entry with full ``content`` uses it; one with only a summary gets its linked
  page fetched and extracted (falling back to the summary, with a warning).

Decoding (:func:`decode`): UTF-16/32 with a BOM; UTF-8 (with or without BOM); a declared
HTTP charset; otherwise charset-normalizer's best guess. NUL bytes, no plausible encoding,
or mostly control characters -> "binary". The only module that imports trafilatura,
feedparser, charset-normalizer and yaml.

Compromise: feed HTML fragments are flattened with regexes, not a parser.
"""

from __future__ import annotations

import codecs
import html as _html
import json
import logging
import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import feedparser
import trafilatura
import yaml

from assistant.errors import LoadError
from assistant.ingest.fetch import Fetcher, url_id
from assistant.models import RawArticle, content_hash

logger = logging.getLogger(__name__)

__all__ = [
    "FEED_EXT", "HTML_EXT", "JSONL_EXT", "JSON_EXT", "KNOWN_EXT", "TEXT_EXT",
    "decode", "feed_doc", "parse_bytes", "parse_date", "sniff",
]

TEXT_EXT = frozenset({".txt", ".md", ".markdown"})
HTML_EXT = frozenset({".html", ".htm"})
JSON_EXT = frozenset({".json"})
JSONL_EXT = frozenset({".jsonl", ".ndjson"})
FEED_EXT = frozenset({".xml", ".rss", ".atom"})
KNOWN_EXT = TEXT_EXT | HTML_EXT | JSON_EXT | JSONL_EXT | FEED_EXT

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_CODE = re.compile(r"`([^`\n]+)`")


def parse_date(value: Any) -> date | None:
    """``"2025-01-31T10:00:00Z" -> date(2025, 1, 31)``; RFC 822 and struct_time too; else None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if hasattr(value, "tm_year"):  # time.struct_time from feedparser
        try:
            return date(value.tm_year, value.tm_mon, value.tm_mday)
        except ValueError:
            return None
    s = str(value).strip()
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    m = re.fullmatch(r"(\d{4})/(\d{2})/(\d{2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    try:
        return parsedate_to_datetime(s).date()
    except (TypeError, ValueError, IndexError):
        logger.debug("unparseable date %r", s)
        return None


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


def _split_front_matter(text: str, origin: str) -> tuple[dict[str, Any], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 2})" if line is not None else ""
        raise LoadError(origin, f"invalid YAML front matter{where}") from exc
    if not isinstance(meta, dict):
        raise LoadError(origin, "front matter is not a mapping of keys to values")
    return meta, text[m.end() :]


def _strip_markdown(text: str) -> str:
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    return _MD_CODE.sub(r"\1", text)


def _meta_str(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return "" if value is None else str(value).strip()


def _text_doc(text: str, file_id: str, origin: str, markdown: bool) -> list[RawArticle]:
    meta, body = _split_front_matter(text, origin)
    if markdown:
        body = _strip_markdown(body)
    if not body.strip():
        raise LoadError(origin, "empty document (no text after the front matter)")
    return [
        RawArticle(
            id=_meta_str(meta, "id") or file_id,
            title=_meta_str(meta, "title"),
            text=body,
            origin=origin,
            url=_meta_str(meta, "url"),
            published=parse_date(meta.get("published") or meta.get("date")),
            source=_meta_str(meta, "source"),
        )
    ]


def _html_doc(html: str, doc_id: str, origin: str, url: str = "") -> list[RawArticle]:
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
    return [
        RawArticle(
            id=doc_id,
            title=title,
            text=text,
            origin=origin,
            url=url or (getattr(doc, "url", None) or ""),
            published=parse_date(getattr(doc, "date", None)),
            source=(getattr(doc, "sitename", None) or getattr(doc, "hostname", None) or ""),
        )
    ]


def _record(obj: Any, file_id: str, origin: str, n: int, where: str) -> RawArticle:
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise LoadError(origin, f"{where}: expected an object with 'text', got {kind}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadError(origin, f"{where}: record has no 'text'")
    rid = obj.get("id")
    return RawArticle(
        id=str(rid).strip() if rid not in (None, "") else f"{file_id}-{n}",
        title=str(obj.get("title") or "").strip(),
        text=text,
        origin=origin,
        url=str(obj.get("url") or "").strip(),
        published=parse_date(obj.get("published")),
        source=str(obj.get("source") or "").strip(),
    )


def _json_doc(text: str, file_id: str, origin: str) -> list[RawArticle | LoadError]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(origin, f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    records = data if isinstance(data, list) else [data]
    if not records:
        raise LoadError(origin, "empty JSON list (no records)")
    out: list[RawArticle | LoadError] = []
    for n, obj in enumerate(records, 1):
        where = f"record {n}" if isinstance(data, list) else "record"
        try:
            out.append(_record(obj, file_id, origin, n, where))
        except LoadError as err:
            out.append(err)
    return out


def _jsonl_doc(text: str, file_id: str, origin: str) -> list[RawArticle | LoadError]:
    out: list[RawArticle | LoadError] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(LoadError(origin, f"line {lineno}: invalid JSON: {exc.msg}"))
            continue
        try:
            out.append(_record(obj, file_id, origin, lineno, f"line {lineno}"))
        except LoadError as err:
            out.append(err)
    if not out:
        raise LoadError(origin, "no JSON records")
    return out


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
    data: bytes, feed_id: str, origin: str, fetcher: Fetcher
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
    out: list[RawArticle | LoadError] = []
    for n, entry in enumerate(parsed.entries, 1):
        try:
            out.append(_feed_entry(entry, n, feed_id, origin, feed_title, fetcher))
        except LoadError as err:
            out.append(err)
    return out


def _feed_entry(
    entry: Any, n: int, feed_id: str, origin: str, feed_title: str, fetcher: Fetcher
) -> RawArticle:
    link = str(entry.get("link") or "").strip()
    title = str(entry.get("title") or "").strip()
    published = parse_date(entry.get("published_parsed") or entry.get("updated_parsed"))
    if published is None:
        published = parse_date(entry.get("published") or entry.get("updated"))
    guid = str(entry.get("id") or link or f"{feed_id}#{n}")
    entry_origin = link or f"{origin}#{n}"
    entry_id = url_id(link) if link else f"{feed_id}-{content_hash(guid)[:8]}"
    contents = entry.get("content") or []
    text = ""
    if contents:
        text = "\n".join(_html_fragment_text(str(c.get("value") or "")) for c in contents)
    source = feed_title
    if not text.strip() and link:
        try:
            body, ctype, final = fetcher.get(link)
            page = decode(body, link, fetcher.charsets.get(final, ""))
            doc = _html_doc(page, entry_id, entry_origin, url=final)[0]
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
    return RawArticle(
        id=entry_id,
        title=title,
        text=text,
        origin=entry_origin,
        url=link,
        published=published,
        source=source or (urlsplit(link).hostname or "" if link else ""),
    )


def parse_bytes(
    data: bytes,
    kind: str,
    doc_id: str,
    origin: str,
    fetcher: Fetcher,
    url: str = "",
    charset: str = "",
) -> list[RawArticle | LoadError]:
    """Parse a document of ``kind`` (an extension, or "feed"/"html"/"text")."""
    if kind in FEED_EXT or kind == "feed":
        return feed_doc(data, doc_id, origin, fetcher)
    text = decode(data, origin, charset)
    if not text.strip():
        raise LoadError(origin, "empty file (only whitespace)")
    if kind in HTML_EXT or kind == "html":
        return list(_html_doc(text, doc_id, origin, url=url))
    if kind in JSON_EXT:
        return _json_doc(text, doc_id, origin)
    if kind in JSONL_EXT:
        return _jsonl_doc(text, doc_id, origin)
    return list(_text_doc(text, doc_id, origin, markdown=kind in {".md", ".markdown"}))
