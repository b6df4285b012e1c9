"""Story clusters: syndicated copies, re-issues and rewrites of one story, grouped at ingest.

``StoryClusters(path, settings)`` keeps, per indexed article, the hashes of its word
shingles, a MinHash signature of all of them, one of its *distinctive* shingles and its
cluster, in its own SQLite file (``index_dir/clusters.sqlite3``). ``refresh(entries, articles,
store)`` brings it in line with the manifest's ``done`` articles after every ingest (added,
updated, pruned, recovered); ``cluster_of(id)`` is the cluster's canonical article (the
earliest published, ties by id; the id itself when alone), ``members(cluster)`` its articles
(canonical first), ``copies_of(id)`` the *other* members as :class:`~assistant.models.Copy`
records.

How two articles are judged the same story:

1. Text normalised: URLs dropped, lower-cased, words (``\\w+``), so whitespace, line
   wrapping and punctuation do not matter. Word ``cluster_shingle_words``-shingles (5),
   hashed to 32 bits.
2. Stage 1, *copies*: MinHash (datasketch, 128 permutations) of the whole shingle set, LSH
   (``MinHashLSH``) at 0.85 x ``cluster_copy_jaccard`` for candidates, each candidate pair
   checked on the exact shingle sets: Jaccard at least ``cluster_copy_jaccard`` (0.8) links
   them. A release re-distributed by any number of outlets, each adding its own dateline,
   ads or footer, is near-identical text. Linked copies form *copy groups*.
3. Stage 2, *rewrites*: a shingle's document frequency counts copy groups, not articles (five
   copies of one story count once). Shingles in more than ``cluster_boilerplate_df`` (2)
   groups are boilerplate: newswire series repeat company descriptions, sponsor disclosures
   and "Read More>>" footers in three or more releases. MinHash of each article's remaining
   *distinctive* set, LSH at a Jaccard threshold low enough for the containment target; a
   candidate pair is linked when its estimated containment ``|A & B| / min(|A|, |B|)`` (from
   the Jaccard estimate and the two set sizes) is at least ``cluster_containment`` (0.5:
   "shares at least half its distinctive text").
4. Clusters are the connected components of the stage 1 and stage 2 links.

Why two stages: with a cap counted over articles, the cap must exceed the number of outlets
carrying a story (or the story loses all its text), and a cap that high (the first version
used 6) lets a company description repeated in 3-6 releases count as distinctive, so
different news of one issuer was clustered (on the news corpus 24 linked pairs, about 7 the
same story). Counting copy groups lets the cap drop to 2 without losing syndicated stories.

Measured on ``../shared/news/articles`` (``bench/clusters.py``): whole-text Jaccard of the 3
exact re-distributions 0.98-1.00, highest pair of different releases 0.73 (two items of one
IBN series), so 0.8 separates them. Result: 11 clusters of 2 (11 pairs, 3 of them stage 1
copies); the 5 README pairs listed as exact/near-exact duplicates all found, the 2 listed as
20-50% overlap not; hand check 5 of 11 pairs the same story (the 5 README pairs), the 6
others two different releases of one issuer (or two sponsored pieces of one publisher) whose
long shared description occurs in only those 2 groups.

Incremental and crash-safe: document frequencies change when articles come and go, so every
refresh recomputes the copy groups (whole-text signatures are stored, re-signed only when an
article's text changes) and the distinctive sets from the stored shingle hashes (numpy), but
re-signs only the articles whose distinctive set changed, then re-links all clusters in one
transaction (~2.5 s for 365 articles, ~1 s after one article is added or removed). A missing
or corrupt file is rebuilt from the store's chunks; an article whose manifest hash differs
from the one recorded here is re-shingled; a file from before stage 1 gains its column.

Compromises: a description shared by exactly two releases of one issuer still counts as
distinctive and links them when it is over half of the shorter one (the 6 false pairs above);
LSH finds rewrites by Jaccard, so a short teaser wholly contained in a much longer article
(Jaccard below ~0.25) can be missed; a rewrite carried by three or more outlets that are not
near-identical to each other loses its shared text; links are transitive (A~B and B~C put A
and C together).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from assistant.models import Article, Copy

logger = logging.getLogger(__name__)

NUM_PERM = 128
SEED = 1
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"\w+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    article_id TEXT PRIMARY KEY,
    hash       TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT '',
    published  TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    shingles   BLOB NOT NULL,
    sig_key    TEXT NOT NULL DEFAULT '',
    signature  BLOB,
    size       INTEGER NOT NULL DEFAULT 0,
    cluster    TEXT NOT NULL DEFAULT '',
    whole_sig  BLOB
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def shingle_hashes(text: str, words: int = 5) -> np.ndarray:
    """Sorted unique 32-bit hashes of the normalised text's word ``words``-shingles."""
    tokens = _WORD.findall(_URL.sub(" ", text).lower())
    if not tokens:
        return np.zeros(0, dtype=np.uint32)
    n = max(1, len(tokens) - words + 1)
    grams = (" ".join(tokens[i : i + words]).encode() for i in range(n))
    return np.unique(np.fromiter((zlib.crc32(g) for g in grams), dtype=np.uint32))


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    """``|A & B| / min(|A|, |B|)`` from a Jaccard value and the two set sizes."""
    if not size_a or not size_b:
        return 0.0
    inter = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, inter / min(size_a, size_b))


def lsh_threshold(target: float) -> float:
    """The LSH Jaccard threshold for a containment target: equal-sized sets sharing
    ``target`` of their shingles have Jaccard ``t / (2 - t)``; 0.75 of that leaves room for
    unequal sizes and the estimate's noise (0.5 -> 0.25)."""
    return max(0.05, 0.75 * target / (2.0 - target))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


class StoryClusters:
    """``StoryClusters(index_dir / "clusters.sqlite3", settings)``; see the module docstring."""

    def __init__(self, path: Path, settings: Any = None) -> None:
        self.path = Path(path)
        self.words = int(getattr(settings, "cluster_shingle_words", 5))
        self.copy_jaccard = float(getattr(settings, "cluster_copy_jaccard", 0.8))
        self.max_df = int(getattr(settings, "cluster_boilerplate_df", 2))
        self.target = float(getattr(settings, "cluster_containment", 0.5))
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._seen = -1
        self._cluster: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}
        self._info: dict[str, Copy] = {}

    @property
    def params(self) -> str:
        return (f"w{self.words}-j{self.copy_jaccard}-df{self.max_df}-c{self.target}"
                f"-p{NUM_PERM}-s{SEED}")

    # ---- storage --------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
            except sqlite3.DatabaseError:
                logger.warning("story clusters file %s is unreadable: rebuilding it", self.path)
                for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                    p.unlink(missing_ok=True)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        columns = {r[1] for r in db.execute("PRAGMA table_info(stories)").fetchall()}
        if "whole_sig" not in columns:  # a file written before the copy stage
            db.execute("ALTER TABLE stories ADD COLUMN whole_sig BLOB")
        db.execute("SELECT count(*) FROM stories").fetchone()
        return db

    def _generation(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _load(self) -> None:
        """Re-read the cluster map when another writer (or this one) changed it."""
        with self._lock:
            gen = self._generation()
            if gen == self._seen:
                return
            rows = self._conn().execute(
                "SELECT article_id, cluster, title, source, published, url FROM stories"
            ).fetchall()
            self._cluster = {r[0]: r[1] or r[0] for r in rows}
            self._info = {r[0]: Copy(r[0], r[2], r[3], _day(r[4]), r[5]) for r in rows}
            members: dict[str, list[str]] = {}
            for aid, cid in self._cluster.items():
                members.setdefault(cid, []).append(aid)
            for ids in members.values():
                ids.sort(key=self._order)
            self._members = members
            self._seen = gen

    def _order(self, article_id: str) -> tuple[int, str]:
        info = self._info.get(article_id)
        day = info.published if info is not None else None
        return (day.toordinal() if day else date.max.toordinal(), article_id)

    # ---- reading ----------------------------------------------------------------------------
    def cluster_of(self, article_id: str) -> str:
        """The canonical article id of ``article_id``'s story (itself when alone or unknown)."""
        self._load()
        return self._cluster.get(article_id, article_id)

    def members(self, cluster_id: str) -> list[str]:
        """The articles of a cluster, canonical (earliest) first; ``[cluster_id]`` if unknown."""
        self._load()
        return list(self._members.get(self.cluster_of(cluster_id), [cluster_id]))

    def copies_of(self, article_id: str) -> tuple[Copy, ...]:
        """The other members of ``article_id``'s cluster, earliest first."""
        self._load()
        others = [a for a in self.members(article_id) if a != article_id]
        return tuple(self._info[a] for a in others if a in self._info)

    def clusters(self) -> dict[str, list[str]]:
        """Every cluster of two or more articles: canonical id -> members."""
        self._load()
        return {c: list(m) for c, m in self._members.items() if len(m) > 1}

    # ---- writing ----------------------------------------------------------------------------
    def refresh(
        self, entries: Iterable[Any], articles: Iterable[Article] = (), store: Any = None
    ) -> bool:
        """Match the manifest's ``done`` ``entries`` (``article_id``, ``hash``, metadata):
        shingle ``articles`` just written, fetch any other missing/changed article's text
        from ``store.chunks(article_id)``, drop the rest, re-cluster. Never raises: a failure
        is logged and the next refresh tries again. True when the clusters were rewritten."""
        try:
            with self._lock:
                return self._refresh(list(entries), {a.id: a for a in articles}, store)
        except Exception:  # noqa: BLE001 - clusters are an extra; ingest must not fail on them
            logger.exception("updating the story clusters failed; retried at the next ingest")
            return False

    def _refresh(self, entries: list[Any], fresh: dict[str, Article], store: Any) -> bool:
        db = self._conn()
        known = dict(db.execute("SELECT article_id, hash FROM stories").fetchall())
        stored_params = db.execute("SELECT value FROM meta WHERE key='params'").fetchone()
        same_params = stored_params is not None and stored_params[0] == self.params
        wanted = {e.article_id: e for e in entries}
        gone = [a for a in known if a not in wanted]
        todo = [e for e in entries if known.get(e.article_id) != e.hash or not same_params]
        if not gone and not todo:
            return False
        rows = []
        for e in todo:
            art = fresh.get(e.article_id)
            if art is not None and art.hash == e.hash:
                text = art.text
            elif store is not None:
                text = " ".join(c.text for c in sorted(store.chunks(e.article_id),
                                                       key=lambda c: c.index))
            else:
                continue
            rows.append((
                e.article_id, e.hash, e.title or "", e.source or "",
                e.published.isoformat() if e.published else "", e.url or "",
                shingle_hashes(text, self.words).tobytes(),
            ))
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM stories WHERE article_id = ?", [(a,) for a in gone])
            db.executemany(
                "INSERT INTO stories(article_id, hash, title, source, published, url, shingles)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(article_id) DO UPDATE SET hash=excluded.hash,"
                " title=excluded.title, source=excluded.source, published=excluded.published,"
                " url=excluded.url, shingles=excluded.shingles, sig_key='', signature=NULL,"
                " whole_sig=NULL",
                rows,
            )
            self._relink(db)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('params', ?)",
                       (self.params,))
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        logger.info("story clusters: %d articles (re)shingled, %d dropped", len(rows), len(gone))
        return True

    def _relink(self, db: sqlite3.Connection) -> None:
        """Copy groups (whole text) -> distinctive sets (document frequency over groups) ->
        (re)signed MinHashes -> LSH pairs -> components -> rows."""
        from datasketch import MinHash, MinHashLSH

        rows = db.execute(
            "SELECT article_id, shingles, sig_key, signature, published, whole_sig FROM stories"
        ).fetchall()
        if not rows:
            return
        ids = [r[0] for r in rows]
        sets = {r[0]: np.frombuffer(r[1], dtype=np.uint32) for r in rows}
        parent = {aid: aid for aid in ids}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        # The seed's permutations, drawn once: MinHash() draws them anew on every call (~1 ms).
        perms = MinHash(num_perm=NUM_PERM, seed=SEED).permutations

        def signature(blob: bytes | None, hashes: np.ndarray) -> tuple[MinHash, bool]:
            if blob is not None:
                return MinHash(num_perm=NUM_PERM, seed=SEED, permutations=perms,
                               hashvalues=np.frombuffer(blob, dtype=np.uint64)), False
            m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=int, permutations=perms)
            m.update_batch(hashes.tolist())
            return m, True

        # Stage 1, copies: near-identical whole texts (exact Jaccard of LSH candidates).
        whole_updates = []
        copy_lsh = MinHashLSH(threshold=max(0.05, 0.85 * self.copy_jaccard), num_perm=NUM_PERM)
        whole: dict[str, MinHash] = {}
        for aid, _, _, _, _, blob in rows:
            if not len(sets[aid]):
                continue
            m, new = signature(blob, sets[aid])
            if new:
                whole_updates.append((m.hashvalues.astype(np.uint64).tobytes(), aid))
            whole[aid] = m
            copy_lsh.insert(aid, m)
        for aid, m in whole.items():
            for other in copy_lsh.query(m):
                if other <= aid:
                    continue
                a, b = sets[aid], sets[other]
                inter = len(np.intersect1d(a, b, assume_unique=True))
                if inter / (len(a) + len(b) - inter) >= self.copy_jaccard:
                    parent[find(other)] = find(aid)

        # Stage 2, rewrites: a shingle counts once per copy group; in more than max_df
        # groups it is boilerplate. Pairs sharing enough distinctive text are linked.
        groups: dict[str, list[str]] = {}
        for aid in ids:
            groups.setdefault(find(aid), []).append(aid)
        group_sets = [np.unique(np.concatenate([sets[a] for a in g])) if len(g) > 1
                      else sets[g[0]] for g in groups.values()]
        allh, counts = np.unique(np.concatenate(group_sets), return_counts=True)
        common = allh[counts > self.max_df]
        lsh = MinHashLSH(threshold=lsh_threshold(self.target), num_perm=NUM_PERM)
        sigs: dict[str, tuple[MinHash, int]] = {}
        updates = []
        for aid, _, key, blob, _, _ in rows:
            distinct = np.setdiff1d(sets[aid], common, assume_unique=True)
            new_key = hashlib.blake2b(distinct.tobytes(), digest_size=8).hexdigest()
            m, new = signature(blob if key == new_key else None, distinct)
            if new:
                updates.append((new_key, m.hashvalues.astype(np.uint64).tobytes(), aid))
            sigs[aid] = (m, len(distinct))
            if len(distinct):
                lsh.insert(aid, m)
        for aid, (m, size) in sigs.items():
            if not size:
                continue
            for other in lsh.query(m):
                if other <= aid or find(other) == find(aid):
                    continue
                om, osize = sigs[other]
                if containment(m.jaccard(om), size, osize) >= self.target:
                    parent[find(other)] = find(aid)
        published = {r[0]: _day(r[4]) for r in rows}

        def order(a: str) -> tuple[int, str]:
            d = published[a]
            return (d.toordinal() if d else date.max.toordinal(), a)

        stories: dict[str, list[str]] = {}
        for aid in ids:
            stories.setdefault(find(aid), []).append(aid)
        canon = {a: min(g, key=order) for g in stories.values() for a in g}
        db.executemany("UPDATE stories SET whole_sig=? WHERE article_id=?", whole_updates)
        db.executemany("UPDATE stories SET sig_key=?, signature=? WHERE article_id=?",
                       updates)
        db.executemany("UPDATE stories SET cluster=?, size=? WHERE article_id=?",
                       [(canon[a], sigs[a][1], a) for a in ids])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
