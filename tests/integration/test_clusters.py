"""Story clusters in a real index: synthetic syndicated copies and a rewrite are ingested
with the real embedder and Chroma; the retriever's top-k holds no two copies of one story."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.service import Assistant
from tests.unit.test_clusters import OTHER, REWRITE, STORY

pytestmark = pytest.mark.slow


def _write(folder: Path, aid: str, text: str, day: str, source: str) -> None:
    record = {"id": aid, "title": f"Northbay report {aid}", "url": f"https://n.example/{aid}",
              "published": day, "source": source, "text": text}
    (folder / f"{aid}.json").write_text(json.dumps(record), encoding="utf-8")


def test_top_k_holds_one_copy_per_story(settings, embedder, tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    _write(folder, "wire-b", STORY, "2025-03-05", "Wire B")
    _write(folder, "wire-a", STORY, "2025-03-04", "Wire A")
    _write(folder, "wire-c", REWRITE, "2025-03-09", "Wire C")
    _write(folder, "lakeshore", OTHER, "2025-03-04", "Wire D")
    _write(folder, "lakeshore-2", OTHER.replace("14 holes", "22 holes").replace(
        "Nevada", "Utah").replace("Marten", "Osprey") + " Unrelated to the first program.",
        "2025-04-01", "Wire D")
    assistant = Assistant(settings)
    assistant.embedder = embedder
    result = assistant.ingest([str(folder)])
    assert len(result.added) == 5 and not result.failed
    clusters = assistant.clusters
    assert clusters is not None
    assert clusters.members("wire-c") == ["wire-a", "wire-b", "wire-c"]
    out = assistant.retriever.retrieve("Northbay Kestrel plant neodymium oxide tonnes", k=4)
    ids = [p.chunk.article_id for p in out]
    story = [a for a in ids if clusters.cluster_of(a) == "wire-a"]
    assert len(set(story)) == 1, ids
    assert len(out) >= 2  # k is filled from the other stories
    # a copy is pruned: the cluster follows the manifest
    (folder / "wire-a.json").unlink()
    assistant.ingest([str(folder)], prune=True)
    assert clusters.cluster_of("wire-c") == "wire-b"
    assert [c.article_id for c in clusters.copies_of("wire-b")] == ["wire-c"]
