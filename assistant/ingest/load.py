"""Loaders: files, folders, URLs and RSS/Atom feeds -> ``RawArticle`` (or ``LoadError``).

``load_inputs(inputs, settings)`` yields one ``RawArticle`` per document, or one ``LoadError``
per input that cannot be read; it never raises for a single bad input, so one broken file
never stops a batch. This is the only module that imports trafilatura, feedparser and httpx.

Inputs:
- a directory: walked recursively in sorted order; hidden files and folders (``.name``) are
  skipped; files with a known extension are loaded, others only when their first bytes sniff
  as a feed (or HTML); anything else is skipped (logged at debug level).
- ``.txt`` / ``.md`` / ``.markdown``: optional YAML front matter (``---`` block) with
  ``id, title, url, published, source``. Without a title the loader leaves it empty and
  ``pipeline.prepare`` derives it from the cleaned text (first Highlights bullet, else the
  first sentence), because the seed ``.txt`` files have no title line. Markdown keeps its
  ``#`` headings (section detection reads them); links become their text, images go.
- ``.html`` / ``.htm``: trafilatura (main text, title, date, site name).
- ``.json`` (one record or a list) / ``.jsonl`` (one per line): ``{id, title, text, url?,
  published?, source?}``; a record's ``id`` is kept. A bad line in a ``.jsonl`` is one
  ``LoadError`` naming the file and line; the other lines still load.
- ``.xml`` / ``.rss`` / ``.atom`` (or a file that sniffs as a feed): feedparser; each entry is
  one article. An entry with full ``content`` uses it; an entry with only a summary gets its
  linked page fetched and extracted (falling back to the summary, with a warning, when the
  page cannot be fetched).
- ``http(s)://`` URLs: fetched with httpx (``settings.fetch_timeout``; bodies larger than
  ``settings.max_file_bytes`` are refused while streaming). A body that parses as RSS/Atom is
  a feed; HTML is extracted with trafilatura; ``text/plain`` and JSON are read as files are.
  A URL whose path says feed (``.xml .rss .atom``, ``/feed``, ``/rss``) but that returns
  something else is an error.

Ids and origins:
- a file's id is its path relative to the input root without the extension
  (``corpus/000_b2982247c88755c3.txt`` -> ``000_b2982247c88755c3``; ``sub/a.md`` -> ``sub/a``);
  if two files map to the same id in one run, the later one keeps its extension.
  Front matter / JSON ``id`` wins. JSON records without an id get ``<file id>-<n>``.
- a URL article's id is a slug of the URL plus 8 hex of its hash.
- ``origin`` is the file path relative to the working directory (absolute when outside it),
  or the URL; feed entries use their link (else ``<feed>#<n>``); all records of one JSON
  file share the file's origin.

Decoding: UTF-16/32 with a BOM; UTF-8 (with or without BOM); otherwise charset-normalizer's
best guess. NUL bytes, no plausible encoding, or mostly control characters -> "binary".
The size limit is checked with ``stat`` before a file is read.
"""

from __future__ import annotations

import codecs
import html as _html
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import feedparser
import httpx
import trafilatura
import yaml

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.models import RawArticle, content_hash

logger = logging.getLogger(__name__)

__all__ = ["load_inputs", "parse_date"]

TEXT_EXT = frozenset({".txt", ".md", ".markdown"})
HTML_EXT = frozenset({".html", ".htm"})
JSON_EXT = frozenset({".json"})
JSONL_EXT = frozenset({".jsonl", ".ndjson"})
FEED_EXT = frozenset({".xml", ".rss", ".atom"})
KNOWN_EXT = TEXT_EXT | HTML_EXT | JSON_EXT | JSONL_EXT | FEED_EXT

_USER_AGENT = "rare-earth-assistant/0.1 (+news ingest)"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_CODE = re.compile(r"`([^`\n]+)`")
_FEED_PATH = re.compile(r"(?:\.(?:xml|rss|atom)$|/(?:feed|rss|atom)(?:/|$|\.))", re.I)
_SLUG = re.compile(r"[^a-z0-9]+")


class _Skip(Exception):
    """A file in a walked directory that is not a document (unknown type)."""


# ---------------------------------------------------------------------------------------------
# helpers


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


def _origin(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _url_id(url: str) -> str:
    parts = urlsplit(url)
    tail = [p for p in parts.path.split("/") if p]
    base = f"{parts.hostname or 'url'}-{tail[-1] if tail else 'index'}"
    base = re.sub(r"\.(?:html?|php|aspx?)$", "", base.lower())
    slug = _SLUG.sub("-", base).strip("-")[:60].strip("-")
    return f"{slug}-{content_hash(url)[:8]}"


def _decode(data: bytes, origin: str, declared: str = "") -> str:
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


def _read_file(path: Path, origin: str, settings: Settings) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(origin, f"cannot read: {exc.strerror or exc}") from exc
    if size > settings.max_file_bytes:
        raise LoadError(
            origin,
            f"file too large ({size:,} bytes; the limit is {settings.max_file_bytes:,} bytes)",
        )
    if size == 0:
        raise LoadError(origin, "empty file")
    try:
        with path.open("rb") as fh:
            data = fh.read(settings.max_file_bytes + 1)
    except OSError as exc:
        raise LoadError(origin, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > settings.max_file_bytes:
        raise LoadError(origin, f"file too large (over {settings.max_file_bytes:,} bytes)")
    return data


def _sniff(data: bytes) -> str:
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


# ---------------------------------------------------------------------------------------------
# document parsers (bytes/text -> RawArticle list)


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


class _Fetcher:
    """One httpx client per ``load_inputs`` call, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self.charsets: dict[str, str] = {}  # final URL -> declared charset
        # Hosts that could not be connected to once in this run are not tried again (a feed
        # of 50 summary-only entries on a dead host would otherwise wait 50 timeouts).
        self.dead_hosts: dict[str, str] = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def get(self, url: str) -> tuple[bytes, str, str]:
        """``(body, content_type, final_url)``; LoadError on any failure."""
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.settings.fetch_timeout,
                follow_redirects=True,
                headers={"User-Agent": _USER_AGENT},
            )
        client = self._client
        cap = self.settings.max_file_bytes
        host = urlsplit(url).netloc.lower()
        if host in self.dead_hosts:
            raise LoadError(url, self.dead_hosts[host])
        try:
            return self._get(client, url, cap)
        except LoadError as err:
            if err.reason.startswith("cannot connect"):
                self.dead_hosts[host] = err.reason
            raise

    def _get(self, client: httpx.Client, url: str, cap: int) -> tuple[bytes, str, str]:
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    reason = resp.reason_phrase or ""
                    raise LoadError(url, f"HTTP {resp.status_code} {reason}".strip())
                length = resp.headers.get("content-length")
                if length and length.isdigit() and int(length) > cap:
                    raise LoadError(
                        url, f"response too large ({int(length):,} bytes; limit {cap:,})"
                    )
                chunks: list[bytes] = []
                total = 0
                for piece in resp.iter_bytes():
                    total += len(piece)
                    if total > cap:
                        raise LoadError(url, f"response too large (over {cap:,} bytes)")
                    chunks.append(piece)
                header = resp.headers.get("content-type", "")
                ctype = header.split(";")[0].strip().lower()
                m = re.search(r"charset=[\"']?([\w.:-]+)", header, re.I)
                self.charsets[str(resp.url)] = m.group(1) if m else ""
                return b"".join(chunks), ctype, str(resp.url)
        except httpx.ConnectTimeout as exc:
            raise LoadError(
                url, f"cannot connect: timed out after {self.settings.fetch_timeout:g} s"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LoadError(url, f"timed out after {self.settings.fetch_timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise LoadError(url, f"cannot connect: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise LoadError(url, f"invalid URL: {exc}") from exc
        except httpx.HTTPError as exc:
            raise LoadError(url, f"fetch failed: {type(exc).__name__}: {exc}") from exc


def _feed_doc(
    data: bytes, feed_id: str, origin: str, fetcher: _Fetcher
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
    entry: Any, n: int, feed_id: str, origin: str, feed_title: str, fetcher: _Fetcher
) -> RawArticle:
    link = str(entry.get("link") or "").strip()
    title = str(entry.get("title") or "").strip()
    published = parse_date(entry.get("published_parsed") or entry.get("updated_parsed"))
    if published is None:
        published = parse_date(entry.get("published") or entry.get("updated"))
    guid = str(entry.get("id") or link or f"{feed_id}#{n}")
    entry_origin = link or f"{origin}#{n}"
    entry_id = _url_id(link) if link else f"{feed_id}-{content_hash(guid)[:8]}"
    contents = entry.get("content") or []
    text = ""
    if contents:
        text = "\n".join(_html_fragment_text(str(c.get("value") or "")) for c in contents)
    source = feed_title
    if not text.strip() and link:
        try:
            body, ctype, final = fetcher.get(link)
            page = _decode(body, link, fetcher.charsets.get(final, ""))
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


# ---------------------------------------------------------------------------------------------
# dispatch


def _parse_bytes(
    data: bytes,
    kind: str,
    doc_id: str,
    origin: str,
    fetcher: _Fetcher,
    url: str = "",
    charset: str = "",
) -> list[RawArticle | LoadError]:
    """Parse a document of ``kind`` (an extension, or "feed"/"html"/"text")."""
    if kind in FEED_EXT or kind == "feed":
        return _feed_doc(data, doc_id, origin, fetcher)
    text = _decode(data, origin, charset)
    if not text.strip():
        raise LoadError(origin, "empty file (only whitespace)")
    if kind in HTML_EXT or kind == "html":
        return list(_html_doc(text, doc_id, origin, url=url))
    if kind in JSON_EXT:
        return _json_doc(text, doc_id, origin)
    if kind in JSONL_EXT:
        return _jsonl_doc(text, doc_id, origin)
    return list(_text_doc(text, doc_id, origin, markdown=kind in {".md", ".markdown"}))


def _load_file(
    path: Path, doc_id: str, settings: Settings, fetcher: _Fetcher, in_walk: bool
) -> list[RawArticle | LoadError]:
    origin = _origin(path)
    ext = path.suffix.lower()
    data = _read_file(path, origin, settings)
    kind = ext
    if ext not in KNOWN_EXT:
        sniffed = _sniff(data)
        if sniffed:
            kind = sniffed
        elif in_walk:
            raise _Skip(origin)
        else:
            kind = "text"
    elif ext in FEED_EXT and _sniff(data) == "html":
        kind = "html"
    return _parse_bytes(data, kind, doc_id, origin, fetcher)


def _load_url(url: str, fetcher: _Fetcher) -> list[RawArticle | LoadError]:
    body, ctype, final = fetcher.get(url)
    charset = fetcher.charsets.get(final, "")
    if not body.strip():
        raise LoadError(url, "empty response")
    sniffed = _sniff(body)
    doc_id = _url_id(url)
    expects_feed = bool(_FEED_PATH.search(urlsplit(url).path)) or any(
        t in ctype for t in ("rss", "atom")
    )
    if sniffed == "feed" or "rss" in ctype or "atom" in ctype:
        return _feed_doc(body, doc_id, url, fetcher)
    if expects_feed:
        raise LoadError(url, f"expected an RSS/Atom feed, got {ctype or 'unknown content'}")
    if sniffed == "html" or "html" in ctype:
        return _parse_bytes(body, "html", doc_id, url, fetcher, url=final, charset=charset)
    if "json" in ctype:
        kind = ".jsonl" if "ndjson" in ctype or "jsonl" in ctype else ".json"
        return _parse_bytes(body, kind, doc_id, url, fetcher, charset=charset)
    if ctype.startswith("text/") or not ctype:
        kind = ".md" if ctype == "text/markdown" else ".txt"
        items = _parse_bytes(body, kind, doc_id, url, fetcher, charset=charset)
        return [replace(a, url=a.url or url) if isinstance(a, RawArticle) else a for a in items]
    raise LoadError(url, f"unsupported content type {ctype}")


def _walk(root: Path, _seen: set[Path] | None = None) -> Iterator[Path | LoadError]:
    """Files under ``root``, sorted; hidden files and folders skipped; symlink loops cut."""
    seen = _seen if _seen is not None else set()
    try:
        real = root.resolve()
        if real in seen:
            return
        seen.add(real)
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        yield LoadError(_origin(root), f"cannot list directory: {exc.strerror or exc}")
        return
    for p in entries:
        if p.name.startswith("."):
            continue
        if p.is_dir():
            yield from _walk(p, seen)
        elif p.is_file():
            yield p


def _file_id(path: Path, root: Path | None) -> str:
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _one_line(err: LoadError) -> LoadError:
    """Errors are shown one per line: collapse any line breaks in the reason."""
    if "\n" not in err.reason and "\r" not in err.reason:
        return err
    return LoadError(err.origin, " ".join(err.reason.split()))


def _guarded(
    origin: str,
    produce: Any,
    seen: dict[str, str],
    derived_id: str | None = None,
    alt_id: str | None = None,
) -> Iterable[RawArticle | LoadError]:
    """Run ``produce()``; turn any failure into a LoadError; de-duplicate ids.

    ``seen`` maps the ids yielded so far in this run to their origins. A derived file id
    that is already taken becomes ``alt_id``; an article seen before with the same id *and*
    origin (the same link in two feeds) is dropped.
    """
    try:
        items = produce()
    except _Skip:
        logger.debug("skipped %s (not a document type)", origin)
        return []
    except LoadError as err:
        return [_one_line(err)]
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
        logger.exception("unexpected error while loading %s", origin)
        return [_one_line(LoadError(origin, f"unexpected error: {type(exc).__name__}: {exc}"))]
    out: list[RawArticle | LoadError] = []
    for item in items:
        if isinstance(item, LoadError):
            item = _one_line(item)
        elif isinstance(item, RawArticle):
            if seen.get(item.id) == item.origin:
                logger.warning("%s: %r already loaded in this run, skipped", item.origin, item.id)
                continue
            if alt_id and item.id == derived_id and item.id in seen:
                logger.warning("%s: id %r already used; using %r", origin, item.id, alt_id)
                item = replace(item, id=alt_id)
            seen[item.id] = item.origin
        out.append(item)
    return out


def load_inputs(inputs: Sequence[str], settings: Settings) -> Iterator[RawArticle | LoadError]:
    """Yield a ``RawArticle`` per document found in ``inputs`` (or a ``LoadError``).

    ``list(load_inputs(["corpus"], settings))`` ->
    ``[RawArticle(id="000_b2982247c88755c3", origin="corpus/000_b2982247c88755c3.txt", ...), ...]``
    """
    fetcher = _Fetcher(settings)
    seen: dict[str, str] = {}
    try:
        for raw_input in inputs:
            inp = str(raw_input).strip()
            try:
                yield from _load_one(inp, settings, fetcher, seen)
            except Exception as exc:  # noqa: BLE001 - never stop the batch for one input
                logger.exception("unexpected error while loading %s", inp)
                yield LoadError(inp, f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        fetcher.close()


def _load_one(
    inp: str, settings: Settings, fetcher: _Fetcher, seen: dict[str, str]
) -> Iterator[RawArticle | LoadError]:
    if _is_url(inp):
        yield from _guarded(inp, lambda: _load_url(inp, fetcher), seen)
        return
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", inp):
        yield LoadError(inp, "unsupported URL scheme (only http:// and https://)")
        return
    if not inp:
        yield LoadError("(empty input)", "no file, folder or URL given")
        return
    path = Path(inp).expanduser()
    if not path.exists():
        yield LoadError(inp, "no such file or directory")
        return
    if path.is_dir():
        for f in _walk(path):
            if isinstance(f, LoadError):
                yield f
                continue
            fid = _file_id(f, path)
            yield from _guarded(
                _origin(f),
                lambda f=f, fid=fid: _load_file(f, fid, settings, fetcher, True),
                seen,
                derived_id=fid,
                alt_id=f.relative_to(path).as_posix(),
            )
        return
    fid = _file_id(path, None)
    yield from _guarded(
        _origin(path),
        lambda: _load_file(path, fid, settings, fetcher, False),
        seen,
        derived_id=fid,
        alt_id=path.name,
    )
