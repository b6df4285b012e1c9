"""Follow the news in Slack: watched questions and the digest of new articles.

State lives in ``index_dir/slack.sqlite3`` (:class:`SlackState`): the watches (channel,
user, question, the thread they live in, the answer last posted there) and the articles a
digest already reported. Both jobs work from the library itself (``assistant.sources()``:
ids and content hashes), so they notice new articles however they arrived (``assistant
ingest``, the feed watcher, an upload on the page).

* :class:`Watches`: ``/rare-earth watch <question>`` stores a question for the channel with
  the answer the bot gave (its signature: the articles it cites and its text);
  :meth:`Watches.check` re-asks each watched question once the library has changed and,
  when the answer changes, posts the new answer in the watch's thread with what changed
  (sources added and dropped, the earlier answer). ``watches`` lists the channel's
  watches, ``unwatch <n>`` removes one.
* :func:`digest_entries` / :meth:`Digests.run`: the articles indexed since the last digest,
  syndicated copies merged (``assistant.clusters`` when there is one), each with one checked
  sentence and its citation (the first sentence of an answer about the article that cites
  it; its verdict shown), posted to ``slack_digest_channel``. The first run records the
  library as it is and posts nothing (no digest of the whole archive).

Compromise: a question is re-asked in full (retrieval, writer, checker) for each change of
the library; with the local model that is about half a minute per watch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import StoreError
from assistant.models import Answer, ArticleInfo, Filters, content_hash, final_answer
from assistant.service import Answerer

logger = logging.getLogger(__name__)

__all__ = ["SlackState", "Watch", "Watches", "answer_signature", "library_key", "what_changed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, user TEXT NOT NULL, question TEXT NOT NULL,
    thread_ts TEXT NOT NULL, signature TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '', sources TEXT NOT NULL DEFAULT '[]',
    library TEXT NOT NULL DEFAULT '', created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reported (article_id TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
MAX_WATCHES_PER_CHANNEL = 50


@dataclass(frozen=True)
class Watch:
    """A watched question; ``sources``: the cited articles' (id, title, date) last time."""

    id: int
    channel: str
    user: str
    question: str
    thread_ts: str
    signature: str = ""
    answer: str = ""
    sources: tuple[tuple[str, str, str], ...] = ()
    library: str = ""  # the library (its key) the stored answer was given from


def library_key(articles: Sequence[ArticleInfo]) -> str:
    """A key that changes when an article is added, changed or removed."""
    return content_hash("\n".join(sorted(f"{a.id}\t{a.hash}" for a in articles)))


def cited_articles(answer: Answer) -> tuple[tuple[str, str, str], ...]:
    """The articles an answer cites, as (id, title, date), in source order."""
    cited = answer.cited_numbers() or {s.number for s in answer.sources}
    out: dict[str, tuple[str, str, str]] = {}
    for src in answer.sources:
        if src.number in cited:
            c = src.chunk
            out.setdefault(c.article_id, (c.article_id, c.title,
                                          c.published.isoformat() if c.published else ""))
    return tuple(out.values())


def answer_signature(answer: Answer) -> str:
    """What must change for a watch to report: the cited articles, or the answer's words."""
    ids = sorted(a for a, _, _ in cited_articles(answer))
    return json.dumps([ids, " ".join(answer.text.split()).lower(), answer.abstained])


class SlackState:
    """``index_dir/slack.sqlite3``: watches, reported articles, job markers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the Slack state {self.path}: {exc}") from exc
        try:
            with self._lock:
                if not self._ready:
                    conn.executescript(_SCHEMA)
                    self._ready = True
            with conn:
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"the Slack state {self.path} failed: {exc}") from exc
        finally:
            conn.close()

    # ---- watches -------------------------------------------------------------------------
    def add_watch(self, channel: str, user: str, question: str, thread_ts: str,
                  answer: Answer, library: str) -> Watch:
        with self._db() as db:
            count = db.execute("SELECT COUNT(*) FROM watches WHERE channel = ?",
                               (channel,)).fetchone()[0]
            if count >= MAX_WATCHES_PER_CHANNEL:
                raise StoreError(f"this channel already has {count} watches; remove one first "
                                 "(`unwatch <n>`)")
            cur = db.execute(
                "INSERT INTO watches (channel, user, question, thread_ts, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (channel, user, question, thread_ts, datetime.now(UTC).isoformat()))
            watch_id = int(cur.lastrowid or 0)
        self.update_watch(watch_id, answer, library)
        return self.watches(channel=channel)[-1]

    def update_watch(self, watch_id: int, answer: Answer | None, library: str) -> None:
        """Store the answer a watch was last given (None: only the library it saw)."""
        with self._db() as db:
            if answer is None:
                db.execute("UPDATE watches SET library = ? WHERE id = ?", (library, watch_id))
                return
            db.execute("UPDATE watches SET signature = ?, answer = ?, sources = ?, library = ? "
                       "WHERE id = ?", (answer_signature(answer), answer.text,
                                        json.dumps(cited_articles(answer)), library, watch_id))

    def watches(self, channel: str | None = None) -> list[Watch]:
        """Watches by creation order (one channel's, or all)."""
        query = "SELECT id, channel, user, question, thread_ts, signature, answer, sources, " \
                "library FROM watches"
        args: tuple[str, ...] = ()
        if channel is not None:
            query, args = query + " WHERE channel = ?", (channel,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [Watch(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                      tuple(tuple(s) for s in json.loads(r[7] or "[]")), r[8]) for r in rows]

    def remove_watch(self, watch_id: int) -> None:
        with self._db() as db:
            db.execute("DELETE FROM watches WHERE id = ?", (watch_id,))

    # ---- digests and markers -------------------------------------------------------------
    def reported(self) -> dict[str, str]:
        with self._db() as db:
            return dict(db.execute("SELECT article_id, hash FROM reported").fetchall())

    def mark_reported(self, articles: Sequence[ArticleInfo]) -> None:
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO reported (article_id, hash) VALUES (?, ?)",
                           [(a.id, a.hash) for a in articles])

    def get(self, key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, value: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class Watches:
    """Watched questions (module doc): ``add``, ``for_channel``, ``remove``, ``check``."""

    def __init__(self, assistant: Answerer, state: SlackState) -> None:
        self.assistant = assistant
        self.state = state
        self._check_lock = threading.Lock()

    def ask(self, question: str) -> Answer:
        return final_answer(self.assistant.ask_stream(question, (), Filters(), None))

    def library(self) -> str:
        return library_key(self.assistant.sources())

    def check(self) -> list[tuple[Watch, Answer]]:
        """Re-ask every watch whose answer was given from another library than today's;
        returns the watches whose answer changed, as (the watch as it was, the new answer)."""
        with self._check_lock:
            key = self.library()
            changed: list[tuple[Watch, Answer]] = []
            for watch in self.state.watches():
                if watch.library == key:
                    continue
                try:
                    answer = self.ask(watch.question)
                except Exception:  # one failing question never stops the others
                    logger.exception("re-asking watched question %d failed", watch.id)
                    continue
                if answer_signature(answer) != watch.signature:
                    self.state.update_watch(watch.id, answer, key)
                    changed.append((watch, answer))
                else:
                    self.state.update_watch(watch.id, None, key)
            return changed


def what_changed(old: Watch, answer: Answer) -> list[str]:
    """Lines saying how the answer moved: sources added and dropped (title, date)."""
    now = {a: (a, t, d) for a, t, d in cited_articles(answer)}
    before = {s[0]: s for s in old.sources}
    lines = [f"new source: {t} ({d})" if d else f"new source: {t}"
             for a, t, d in now.values() if a not in before]
    lines += [f"no longer cited: {t} ({d})" if d else f"no longer cited: {t}"
              for a, t, d in before.values() if a not in now]
    return lines or ["the answer's wording changed"]
