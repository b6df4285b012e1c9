"""Indexing end to end with the real embedding model and a real Chroma store in a temp dir.

Covers: corpus ingest (no web debris in chunks; offsets slice the cleaned article text),
idempotent re-ingest, changed articles replacing their chunks, prune, duplicate ids,
recovery from a half-written article, and an ingest SIGKILLed midway in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.index.indexer import Indexer
from assistant.index.manifest import Manifest
from assistant.ingest.load import load_inputs
from assistant.ingest.pipeline import chunk_article, prepare
from assistant.models import Filters, RawArticle
from assistant.service import Assistant
from tests.conftest import CORPUS, REPO
from tests.unit.fakes import FakeEmbedder

pytestmark = pytest.mark.slow
slow = pytest.mark.slow


def make_assistant(settings: Settings, embedder) -> Assistant:
    assistant = Assistant(settings)
    assistant.embedder = embedder  # share the session's real model (cached_property slot)
    return assistant


def cleaned_texts(inputs: list[str], settings: Settings) -> dict[str, str]:
    """article id -> cleaned text, computed independently of the indexer."""
    out = {}
    for item in load_inputs(inputs, settings):
        assert isinstance(item, RawArticle), item
        out[item.id] = prepare(item).text
    return out


def assert_consistent(assistant: Assistant) -> None:
    """Store == manifest: chunk counts agree, no duplicate (article, index), nothing pending."""
    manifest, store = assistant.manifest, assistant.store
    entries = manifest.entries()
    assert all(e.state == "done" for e in entries), [e for e in entries if e.state != "done"]
    chunks = store.chunks()
    assert len(chunks) == store.count() == sum(e.chunks for e in entries)
    pairs = Counter((c.article_id, c.index) for c in chunks)
    assert not [p for p, n in pairs.items() if n > 1]
    per_article = Counter(c.article_id for c in chunks)
    assert per_article == {e.article_id: e.chunks for e in entries}
    hashes = {e.article_id: e.hash for e in entries}
    assert all(c.id.startswith(f"{c.article_id}:{hashes[c.article_id]}:") for c in chunks)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


@slow
def test_ingest_corpus_chunks_clean_and_offsets_exact(settings, embedder):
    assistant = make_assistant(settings, embedder)
    result = assistant.ingest([str(CORPUS)])
    assert result.ok and not result.failed
    assert len(result.added) == len(list(CORPUS.glob("*.txt"))) >= 2
    chunks = assistant.store.chunks()
    assert len(chunks) == result.chunks_written > 0
    texts = cleaned_texts([str(CORPUS)], settings)
    assert {c.article_id for c in chunks} == set(texts)
    for c in chunks:
        assert "wp:paragraph" not in c.text
        assert "opens in a new tab" not in c.text
        assert texts[c.article_id][c.start : c.end] == c.text, c.id
        assert c.role and c.section and c.title
    assert any("Malaysia's latest rare earth maneuver" in c.text for c in chunks)
    assert_consistent(assistant)
    # sources / stats agree with the store
    infos = assistant.sources()
    assert {i.id for i in infos} == set(texts)
    assert sum(i.chunks for i in infos) == len(chunks)
    stats = assistant.stats()
    assert stats["articles"] == len(texts) and stats["chunks"] == len(chunks)
    assert stats["store"] == "embedded" and stats["index_size_mb"] > 0
    # the stored vectors are the model's: a query finds the magnet plant article first
    vec = embedder.encode(["NdFeB super magnet facility in Pahang with JS Link"])[0]
    (best, score), *_ = assistant.store.query(vec, 3, Filters())
    assert "magnet" in best.text and 0.3 < score <= 1.0001
    hits = assistant.store.query(vec, 3, Filters(article_ids=(chunks[-1].article_id,)))
    assert hits and all(c.article_id == chunks[-1].article_id for c, _ in hits)


@slow
def test_offsets_exact_for_many_generated_articles(settings, embedder, tmp_path):
    """Property over varied texts: every stored chunk slices its article's cleaned text."""
    rng = np.random.default_rng(7)
    words = ("rare earth magnet Lynas Pahang NdFeB tonnes refinery China export "
             "controls dysprosium terbium price").split()
    folder = tmp_path / "gen"
    folder.mkdir()
    for i in range(12):
        paras = []
        for _ in range(int(rng.integers(1, 6))):
            sents = [
                " ".join(rng.choice(words, int(rng.integers(3, 40)))).capitalize() + "."
                for _ in range(int(rng.integers(1, 9)))
            ]
            paras.append(" ".join(sents))
        heading = ["Highlights", "What Holds True", "Bottom Line"][i % 3]
        body = f"{heading}\n" + "\n\n".join(paras) + "\n"
        (folder / f"a{i:02d}.txt").write_text(body, encoding="utf-8")
    assistant = make_assistant(settings, embedder)
    result = assistant.ingest([str(folder)])
    assert result.ok, result.failed
    texts = cleaned_texts([str(folder)], settings)
    chunks = assistant.store.chunks()
    assert {c.article_id for c in chunks} == set(texts)
    for c in chunks:
        assert texts[c.article_id][c.start : c.end] == c.text
        assert embedder.count_tokens(c.text) <= embedder.max_tokens
    assert_consistent(assistant)


@slow
def test_reingest_unchanged_adds_nothing(settings, embedder):
    assistant = make_assistant(settings, embedder)
    first = assistant.ingest([str(CORPUS)])
    ids = sorted(assistant.store.ids())
    generation = assistant.manifest.generation()
    again = assistant.ingest([str(CORPUS)])
    assert again.added == () and again.updated == () and again.chunks_written == 0
    assert sorted(again.unchanged) == sorted(first.added)
    assert sorted(assistant.store.ids()) == ids
    assert assistant.manifest.generation() == generation
    # a fresh process-level object over the same index sees the same thing
    other = make_assistant(settings, embedder)
    assert other.ingest([str(CORPUS)]).unchanged == again.unchanged
    assert sorted(other.store.ids()) == ids


@slow
def test_changed_article_replaces_its_chunks(settings, embedder, corpus_copy):
    assistant = make_assistant(settings, embedder)
    assistant.ingest([str(corpus_copy)])
    target, other = sorted(corpus_copy.glob("*.txt"))[:2]
    old_target = set(assistant.store.ids(target.stem))
    old_other = set(assistant.store.ids(other.stem))
    with target.open("a", encoding="utf-8") as fh:
        fh.write("\nLynas also said the Kuantan plant will triple its dysprosium output.\n")
    result = assistant.ingest([str(corpus_copy)])
    assert result.updated == (target.stem,) and result.unchanged == (other.stem,)
    new_target = set(assistant.store.ids(target.stem))
    assert new_target and not (new_target & old_target)
    assert set(assistant.store.ids(other.stem)) == old_other
    assert any("triple its dysprosium" in c.text for c in assistant.store.chunks(target.stem))
    assert_consistent(assistant)


@slow
def test_prune_removes_articles_whose_files_are_gone(settings, embedder, corpus_copy):
    assistant = make_assistant(settings, embedder)
    assistant.ingest([str(corpus_copy)])
    gone = sorted(corpus_copy.glob("*.txt"))[0]
    gone.unlink()
    kept = assistant.ingest([str(corpus_copy)])  # without --prune nothing is removed
    assert kept.removed == () and gone.stem in {i.id for i in assistant.sources()}
    result = assistant.ingest([str(corpus_copy)], prune=True)
    assert result.removed == (gone.stem,)
    assert assistant.store.ids(gone.stem) == []
    assert gone.stem not in {i.id for i in assistant.sources()}
    assert_consistent(assistant)


@slow
def test_second_file_claiming_an_id_fails(settings, embedder, tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    rec = {"id": "same-id", "title": "Lynas", "text": "Lynas ships rare earth oxides to Japan."}
    (folder / "a.json").write_text(json.dumps(rec), encoding="utf-8")
    (folder / "b.json").write_text(
        json.dumps(rec | {"text": "A different article about terbium."}), encoding="utf-8"
    )
    assistant = make_assistant(settings, embedder)
    result = assistant.ingest([str(folder)])
    assert result.added == ("same-id",)
    assert len(result.failed) == 1 and "b.json" in result.failed[0][0]
    assert "same-id" in result.failed[0][1]
    # a later run with only the second file must not overwrite the first file's article
    result = assistant.ingest([str(folder / "b.json")])
    assert result.added == () and result.updated == () and len(result.failed) == 1
    (chunk,) = assistant.store.chunks("same-id")
    assert "Japan" in chunk.text
    # once the first file no longer carries that id, the other file may take it over
    (folder / "a.json").write_text(json.dumps(rec | {"id": "renamed"}), encoding="utf-8")
    result = assistant.ingest([str(folder)])
    assert result.ok and result.updated == ("same-id",) and result.added == ("renamed",)
    (chunk,) = assistant.store.chunks("same-id")
    assert "terbium" in chunk.text
    assert_consistent(assistant)


@slow
def test_half_written_article_is_recovered(settings, embedder, corpus_copy):
    """A `pending` row (a run killed mid-write) is cleaned up and re-done by the next run."""
    assistant = make_assistant(settings, embedder)
    assistant.ingest([str(corpus_copy)])
    raw = next(r for r in load_inputs([str(corpus_copy)], settings) if isinstance(r, RawArticle))
    article = prepare(raw)
    # simulate: marked pending, old chunks not yet deleted, half of a new version written
    changed = RawArticle(**{**raw.__dict__, "text": raw.text + "\nExtra closing sentence."})
    new = prepare(changed)
    new_chunks = chunk_article(new, settings.chunk_max_tokens, embedder.count_tokens)
    half = new_chunks[: max(1, len(new_chunks) // 2)]
    assistant.manifest.mark_pending([(new, str(Path(raw.origin).resolve()), "x")])
    assistant.store.add(half, embedder.encode([c.text for c in half]))
    assert assistant.store.count() > assistant.manifest.total_chunks()
    # an ingest of other inputs removes the broken article and says so
    result = assistant.ingest([])
    assert result.removed == (article.id,)
    assert assistant.store.ids(article.id) == []
    assert_consistent(assistant)
    # ingesting its folder brings it back
    result = assistant.ingest([str(corpus_copy)])
    assert article.id in result.added
    assert_consistent(assistant)


def _manifest_done(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM articles WHERE state='done'").fetchone()[0]
    except sqlite3.Error:
        return 0


_KILL_SCRIPT = """
import sys
from pathlib import Path
from assistant.config import Settings
from assistant.service import Assistant
from assistant.index.indexer import Indexer
a = Assistant(Settings(_env_file=None, index_dir=Path(sys.argv[1])))
ix = Indexer(a.settings, a.embedder, a.store, a.manifest, None, batch_chunks=6)
ix.ingest([sys.argv[2]])
"""


@slow
def test_killed_ingest_recovers(settings, embedder, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(3)
    words = "rare earth magnets Lynas refinery export quota dysprosium price tonnes".split()
    for i in range(40):
        sents = [" ".join(rng.choice(words, 12)).capitalize() + "." for _ in range(30)]
        (folder / f"n{i:02d}.txt").write_text(" ".join(sents) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(settings.index_dir), str(folder)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while _manifest_done(settings.manifest_path) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the ingest subprocess made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    done_at_kill = _manifest_done(settings.manifest_path)
    assert 3 <= done_at_kill < 40, "the kill did not land midway"
    assistant = make_assistant(settings, embedder)
    result = assistant.ingest([str(folder)])
    assert result.ok
    assert len(result.unchanged) >= done_at_kill - 1
    assert len(result.added) + len(result.updated) + len(result.unchanged) == 40
    assert_consistent(assistant)
    assert len(assistant.sources()) == 40


@slow
def test_indexer_without_lexical_and_with_failing_lexical(settings, embedder, caplog):
    class Broken:
        def refresh(self) -> None:
            raise RuntimeError("bm25 exploded")

    assistant = make_assistant(settings, embedder)
    ix = Indexer(settings, embedder, assistant.store, assistant.manifest, Broken())
    result = ix.ingest([str(CORPUS)])
    assert result.ok and result.added
    assert "bm25 exploded" in caplog.text
    assert_consistent(assistant)


def test_fast_ingest_cycle_with_tiny_embedder(settings, corpus_copy):
    """The indexer's bookkeeping on real Chroma, with the fake embedder (fast)."""
    from assistant.index.store import Store

    tiny = FakeEmbedder()
    store = Store(settings, tiny)
    ix = Indexer(settings, tiny, store, Manifest(settings.manifest_path), None)
    first = ix.ingest([str(corpus_copy)])
    assert first.ok and len(first.added) == 2 and store.count() == first.chunks_written
    again = ix.ingest([str(corpus_copy)])
    assert again.unchanged and not again.added and again.chunks_written == 0
    victim = sorted(corpus_copy.glob("*.txt"))[0]
    victim.unlink()
    pruned = ix.ingest([str(corpus_copy)], prune=True)
    assert pruned.removed == (victim.stem,)
    assert store.count() == ix.manifest.total_chunks()
    assert [i.id for i in ix.articles()] == [p.stem for p in corpus_copy.glob("*.txt")]
    assert ix.stats()["chunks"] == store.count()


def test_store_refuses_a_non_cosine_collection(settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from assistant.errors import StoreError
    from assistant.index.store import Store

    path = settings.index_dir / "chroma"
    path.mkdir(parents=True)
    client = chromadb.PersistentClient(str(path), ChromaSettings(anonymized_telemetry=False))
    client.get_or_create_collection(settings.collection, embedding_function=None)
    with pytest.raises(StoreError, match="cosine"):
        Store(settings, FakeEmbedder(), client=client)
