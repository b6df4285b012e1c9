"""Metadata of one document: front matter, field checks, dates, ids, and their limits.

- ``split_front_matter(text, origin, limits)``: a leading ``---`` YAML block -> (mapping, body).
  Loaded safely: YAML aliases are refused ("front matter uses YAML aliases"; no alias bombs),
  timestamps stay text (a bad date is our one-line error, not a ``ValueError``), deep
  nesting and over-long integers are clear errors, and the block is capped at
  10 x ``max_meta_chars`` characters.
- ``meta_field`` / ``date_field`` / ``id_field``: a metadata value as text, date or id.
  Decision: a field over ``max_meta_chars`` characters, or not a scalar, is *refused* (its
  record fails with a clear reason), not truncated: a cut url or id would be wrong data. A
  present date that does not parse fails the record too. An ``id`` is a non-empty string
  without control characters (an integer is accepted as its digits).
- ``unique_ids``: within one JSON document a repeated ``id`` fails the later record.
- ``parse_date``: ``"2025-01-31T10:00:00Z" -> date(2025, 1, 31)``; RFC 822, struct_time.
- ``entry_key``: a feed entry's article id and the fingerprint that says it changed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import yaml

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.ingest.fetch import url_id
from assistant.models import RawArticle, content_hash

logger = logging.getLogger(__name__)

__all__ = [
    "Limits", "date_field", "entry_key", "id_field", "meta_field", "parse_date",
    "split_front_matter", "unique_ids",
]

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Limits:
    """Caps on one document: characters per metadata field, entries read per feed."""

    meta_chars: int = Settings.model_fields["max_meta_chars"].default
    feed_entries: int = Settings.model_fields["max_feed_entries"].default

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_meta_chars, settings.max_feed_entries)


class _AliasRefused(yaml.YAMLError):
    pass


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and leaves timestamps as text."""

    yaml_implicit_resolvers = {
        k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused("alias")
        return super().compose_node(parent, index)


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


def split_front_matter(text: str, origin: str, limits: Limits) -> tuple[dict[str, Any], str]:
    """``"---\\ntitle: A\\n---\\nBody"`` -> ``({"title": "A"}, "Body")``; LoadError if unsafe."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    cap = 10 * limits.meta_chars
    if len(m.group(1)) > cap:
        raise LoadError(origin, f"front matter too long ({len(m.group(1)):,} characters; "
                                f"the limit is {cap:,})")
    try:
        meta = yaml.load(m.group(1), Loader=_FrontMatterLoader) or {}  # noqa: S506 - safe
    except _AliasRefused as exc:
        raise LoadError(origin, "front matter uses YAML aliases (not allowed)") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 2})" if line is not None else ""
        raise LoadError(origin, f"invalid YAML front matter{where}") from exc
    except RecursionError as exc:
        raise LoadError(origin, "invalid YAML front matter (nested too deeply)") from exc
    except ValueError as exc:  # an integer too long to convert
        reason = str(exc).split(":")[0]
        raise LoadError(origin, f"invalid value in YAML front matter ({reason})") from exc
    if not isinstance(meta, dict):
        raise LoadError(origin, "front matter is not a mapping of keys to values")
    return meta, text[m.end() :]


def meta_field(obj: dict[str, Any], key: str, origin: str, where: str, limits: Limits) -> str:
    """A metadata field as text: refused when not a scalar or over ``limits.meta_chars``."""
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, date)):
        raise LoadError(origin, f"{where}'{key}' must be text, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > limits.meta_chars:
        raise LoadError(origin, f"{where}'{key}' too long ({len(text):,} characters; "
                                f"the limit is {limits.meta_chars:,})")
    return text


def date_field(obj: dict[str, Any], keys: tuple[str, ...], origin: str, where: str) -> date | None:
    """The first present key of ``keys`` as a date; present but unparseable -> LoadError."""
    for key in keys:
        value = obj.get(key)
        if value is None or value == "":
            continue
        parsed = parse_date(value) if isinstance(value, (str, date)) else None
        if parsed is None:
            raise LoadError(origin, f"{where}'{key}' is not a date: {str(value)[:40]!r}")
        return parsed
    return None


def id_field(obj: dict[str, Any], fallback: str, origin: str, where: str, limits: Limits) -> str:
    """``id``: absent -> ``fallback``; else a non-empty string (or integer) without controls."""
    value = obj.get("id")
    if value is None:
        return fallback
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LoadError(origin, f"{where}'id' must be a string, not {type(value).__name__}")
    text = meta_field(obj, "id", origin, where, limits)
    if not text:
        raise LoadError(origin, f"{where}'id' is empty")
    if _CONTROL.search(text):
        raise LoadError(origin, f"{where}'id' contains control characters")
    return text


def unique_ids(items: list[RawArticle | LoadError], wheres: list[str], origin: str
                ) -> list[RawArticle | LoadError]:
    """A record whose id an earlier record of the same document used fails, with its reason."""
    first: dict[str, str] = {}
    out: list[RawArticle | LoadError] = []
    for item, where in zip(items, wheres, strict=True):
        if isinstance(item, RawArticle):
            if item.id in first:
                item = LoadError(origin, f"{where}: id {item.id!r} repeated "
                                         f"(first used by {first[item.id]}); record not loaded")
            else:
                first[item.id] = where
        out.append(item)
    return out


def entry_key(entry: Any, n: int, feed_id: str) -> tuple[str, str]:
    """``(article id, fingerprint)`` of feed entry ``n``: the id its article gets, and a hash of
    the entry's fields (a changed title, date, summary or content changes it)."""
    link = str(entry.get("link") or "").strip()
    guid = str(entry.get("id") or link or f"{feed_id}#{n}")
    fields = [entry.get(k) for k in ("id", "link", "title", "published", "updated", "summary")]
    fields.append([c.get("value") for c in entry.get("content") or []])
    fingerprint = content_hash(json.dumps(fields, default=str))
    return (url_id(link) if link else f"{feed_id}-{content_hash(guid)[:8]}"), fingerprint
