"""Sentence splitter and ingest pipeline figures.

1. ``assistant.text.split_sentences`` against the gold sentence splits of the SciFact
   abstracts (../shared/bench/scifact/corpus_subset.jsonl): exact-match recall of gold
   sentences, share of abstracts split exactly like the gold, throughput.
2. ``prepare`` + ``chunk_article`` on the seed corpus: time per article, chunk counts
   (whitespace word counter; the real word-piece counter is the embedder's).

Run: ``.venv/bin/python bench/bench_text.py``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from assistant.config import Settings  # noqa: E402
from assistant.ingest.load import load_inputs  # noqa: E402
from assistant.ingest.pipeline import chunk_article, prepare  # noqa: E402
from assistant.models import RawArticle  # noqa: E402
from assistant.text import sentences  # noqa: E402


def bench_scifact() -> None:
    path = SHARED / "bench" / "scifact" / "corpus_subset.jsonl"
    if not path.exists():
        print(f"skipped: {path} not present")
        return
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    total = hit = perfect = chars = 0
    elapsed = 0.0
    for row in rows:
        gold = [s.strip() for s in row["sentences"] if s.strip()]
        text = " ".join(gold)
        t0 = time.perf_counter()
        got = sentences(text)
        elapsed += time.perf_counter() - t0
        chars += len(text)
        total += len(gold)
        hit += len(set(gold) & set(got))
        perfect += got == gold
    print(f"SciFact abstracts: {len(rows)}, gold sentences: {total}")
    print(f"  gold sentences reproduced exactly: {hit / total:.3f}")
    print(f"  abstracts split exactly like the gold: {perfect / len(rows):.3f}")
    print(f"  throughput: {chars / elapsed / 1e6:.2f} M characters/s")


def bench_pipeline() -> None:
    settings = Settings(_env_file=None)
    raws = [r for r in load_inputs([str(REPO / "corpus")], settings) if isinstance(r, RawArticle)]
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        articles = [prepare(r) for r in raws]
    t_prep = (time.perf_counter() - t0) / (rounds * len(raws))
    t0 = time.perf_counter()
    for _ in range(rounds):
        chunks = [chunk_article(a, 200, lambda t: len(t.split())) for a in articles]
    t_chunk = (time.perf_counter() - t0) / (rounds * len(raws))
    print(f"seed corpus: {len(raws)} articles")
    print(f"  prepare (clean + sections): {t_prep * 1000:.1f} ms/article")
    print(f"  chunk_article (200 words): {t_chunk * 1000:.2f} ms/article")
    for a, cs in zip(articles, chunks, strict=True):
        roles = ", ".join(f"{s.title} [{s.role}]" for s in a.sections)
        print(f"  {a.id}: {len(a.text)} chars, {len(cs)} chunks; sections: {roles}")


if __name__ == "__main__":
    bench_scifact()
    bench_pipeline()
