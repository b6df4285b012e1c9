"""Walking inputs: files, folders and URLs -> ``RawArticle`` (or ``LoadError``), with ids.

``load_inputs(inputs, settings)`` yields one ``RawArticle`` per document, or one ``LoadError``
per input that cannot be read; it never raises for a single bad input (each one runs
guarded), so one broken file never stops a batch. Parsing is :mod:`.formats`, HTTP is
:mod:`.fetch`.

Inputs:
- a directory: walked recursively in sorted order; hidden files and folders (``.name``) are
  skipped; files with a known extension are loaded, others only when their first bytes sniff
  as a feed (or HTML); anything else is skipped (logged at debug level). Symlink loops are
  cut; a symlink whose target lies outside the given folder is not followed (one
  ``LoadError`` naming the link). A single file of unknown type is read as text.
- ``http(s)://`` URLs: a body that parses as RSS/Atom is a feed; HTML is extracted;
  ``text/plain`` and JSON are read as files are. A URL whose path says feed (``.xml .rss
  .atom``, ``/feed``, ``/rss``) but that returns something else is an error.
  :func:`poll_url` is one conditional load of a watched URL (the feed watcher's).
- The size limit is checked with ``stat`` before a file is read.

Ids and origins:
- a file's id is its path relative to the input root without the extension
  (``corpus/000_b2982247c88755c3.txt`` -> ``000_b2982247c88755c3``; ``sub/a.md`` -> ``sub/a``);
  if two files map to the same id in one run, the later one keeps its extension.
  Front matter / JSON ``id`` wins. An article seen twice with the same id and origin (the
  same link in two feeds) is loaded once.
- a URL article's id is a slug of the URL plus 8 hex of its hash (:func:`.fetch.url_id`).
- ``origin`` is the file path relative to the working directory (absolute when outside it),
  or the URL; feed entries use their link (else ``<feed>#<n>``); all records of one JSON
  file share the file's origin.

Compromise: error reasons are collapsed to one line each, so multi-line parser messages lose
their layout.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.ingest.fetch import Fetched, Fetcher, url_id
from assistant.ingest.formats import (
    FEED_EXT,
    KNOWN_EXT,
    Limits,
    feed_doc,
    parse_bytes,
    parse_date,
    sniff,
)
from assistant.models import RawArticle

logger = logging.getLogger(__name__)

#: ``parse_date`` lives in :mod:`.formats`; it is re-exported here for callers of the loader.
__all__ = ["load_inputs", "parse_date", "poll_url"]

_FEED_PATH = re.compile(r"(?:\.(?:xml|rss|atom)$|/(?:feed|rss|atom)(?:/|$|\.))", re.I)


class _Skip(Exception):
    """A file in a walked directory that is not a document (unknown type)."""


def _origin(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


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


def _load_file(
    path: Path, doc_id: str, settings: Settings, fetcher: Fetcher, in_walk: bool
) -> list[RawArticle | LoadError]:
    origin = _origin(path)
    ext = path.suffix.lower()
    data = _read_file(path, origin, settings)
    kind = ext
    if ext not in KNOWN_EXT:
        sniffed = sniff(data)
        if sniffed:
            kind = sniffed
        elif in_walk:
            raise _Skip(origin)
        else:
            kind = "text"
    elif ext in FEED_EXT and sniff(data) == "html":
        kind = "html"
    return parse_bytes(data, kind, doc_id, origin, fetcher, limits=Limits.of(settings))


def _load_url(url: str, fetcher: Fetcher, limits: Limits) -> list[RawArticle | LoadError]:
    return _parse_url(url, fetcher.fetch(url), fetcher, limits)


def _parse_url(
    url: str, got: Fetched, fetcher: Fetcher, limits: Limits,
    keep: Callable[[str, str], bool] | None = None,
) -> list[RawArticle | LoadError]:
    body, ctype, final, charset = got.body, got.content_type, got.final_url, got.charset
    if not body.strip():
        raise LoadError(url, "empty response")
    sniffed = sniff(body)
    doc_id = url_id(url)
    expects_feed = bool(_FEED_PATH.search(urlsplit(url).path)) or any(
        t in ctype for t in ("rss", "atom")
    )
    if sniffed == "feed" or "rss" in ctype or "atom" in ctype:
        return feed_doc(body, doc_id, url, fetcher, limits, keep)
    if expects_feed:
        raise LoadError(url, f"expected an RSS/Atom feed, got {ctype or 'unknown content'}")
    if sniffed == "html" or "html" in ctype:
        return parse_bytes(
            body, "html", doc_id, url, fetcher, url=final, charset=charset, limits=limits
        )
    if "json" in ctype:
        kind = ".jsonl" if "ndjson" in ctype or "jsonl" in ctype else ".json"
        return parse_bytes(body, kind, doc_id, url, fetcher, charset=charset, limits=limits)
    if ctype.startswith("text/") or not ctype:
        kind = ".md" if ctype == "text/markdown" else ".txt"
        items = parse_bytes(body, kind, doc_id, url, fetcher, charset=charset, limits=limits)
        return [replace(a, url=a.url or url) if isinstance(a, RawArticle) else a for a in items]
    raise LoadError(url, f"unsupported content type {ctype}")


def _link_origin(path: Path) -> str:
    """A symlink named as it is (not its target), relative to the working directory."""
    try:
        return path.absolute().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.absolute().as_posix()


def _walk(
    root: Path, _seen: set[Path] | None = None, _top: Path | None = None
) -> Iterator[Path | LoadError]:
    """Files under ``root``, sorted; hidden files and folders skipped; symlink loops cut;
    symlinks whose target lies outside the top folder refused."""
    seen = _seen if _seen is not None else set()
    try:
        real = root.resolve()
        top = _top if _top is not None else real
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
        if p.is_symlink():
            try:
                target = p.resolve()
            except (OSError, RuntimeError):
                yield LoadError(_link_origin(p), "symbolic link that cannot be resolved")
                continue
            if target != top and top not in target.parents:
                yield LoadError(
                    _link_origin(p), "symbolic link to outside the folder, not followed"
                )
                continue
        if p.is_dir():
            yield from _walk(p, seen, top)
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
        logger.debug("unexpected error while loading %s", origin, exc_info=True)
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
    fetcher = Fetcher(settings)
    seen: dict[str, str] = {}
    try:
        for raw_input in inputs:
            inp = str(raw_input).strip()
            try:
                yield from _load_one(inp, settings, fetcher, seen)
            except Exception as exc:  # noqa: BLE001 - never stop the batch for one input
                logger.debug("unexpected error while loading %s", inp, exc_info=True)
                yield LoadError(inp, f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        fetcher.close()


def poll_url(
    url: str, fetcher: Fetcher, etag: str = "", last_modified: str = "",
    keep: Callable[[str, str], bool] | None = None,
) -> tuple[Fetched, list[RawArticle | LoadError]]:
    """One conditional load of a watched URL (a feed or a page) for the feed watcher.

    ``(fetched, [])`` when the server answers 304; else the URL's articles as
    :func:`load_inputs` would give them (feed entries filtered by ``keep``). Raises
    ``LoadError`` when the URL itself fails (HTTP error, deadline, not a feed, garbage).
    """
    got = fetcher.fetch(url, etag=etag, last_modified=last_modified)
    if got.not_modified:
        return got, []
    items = _parse_url(url, got, fetcher, Limits.of(fetcher.settings), keep)
    return got, list(_guarded(url, lambda: items, {}))


def _load_one(
    inp: str, settings: Settings, fetcher: Fetcher, seen: dict[str, str]
) -> Iterator[RawArticle | LoadError]:
    if _is_url(inp):
        limits = Limits.of(settings)
        yield from _guarded(inp, lambda: _load_url(inp, fetcher, limits), seen)
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
