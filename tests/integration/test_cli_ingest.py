"""`assistant ingest / sources / stats` through the CLI, with the real model and real Chroma.

Bad inputs in one batch with good files: each gets a one-line error naming it, the good
files land, the exit code is 1, and what was indexed before is still there.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import CORPUS

pytestmark = pytest.mark.slow



def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/news/article"  # nothing listens there any more


def test_ingest_sources_stats(run_cli):
    code, out, err = run_cli("ingest", "-q", str(CORPUS))
    assert code == 0, err
    assert "added 2, updated 0, unchanged 0" in out and "failed 0" in out
    code, out, _ = run_cli("ingest", "-q", str(CORPUS))
    assert code == 0 and "added 0, updated 0, unchanged 2" in out
    assert "(0 chunks written)" in out
    code, out, _ = run_cli("sources")
    assert code == 0 and "NdFeB super magnet facility" in out and "chunks" in out
    code, out, _ = run_cli("sources", "--json")
    infos = json.loads(out)
    assert len(infos) == 2 and all(i["chunks"] > 0 for i in infos)
    code, out, _ = run_cli("stats", "--json")
    stats = json.loads(out)
    assert stats["articles"] == 2 and stats["chunks"] == sum(i["chunks"] for i in infos)
    assert stats["store"] == "embedded" and stats["embedding_model"] == "all-MiniLM-L6-v2"


def test_bad_inputs_each_fail_alone(run_cli, tmp_path: Path):
    code, _, err = run_cli("ingest", "-q", str(CORPUS))
    assert code == 0, err
    _, before, _ = run_cli("stats", "--json")
    before_chunks = json.loads(before)["chunks"]

    batch = tmp_path / "batch"
    batch.mkdir()
    good = {
        "good.md": "---\nid: good-md\ntitle: Lynas expands\npublished: 2025-03-01\n---\n"
        "Lynas expands its Kuantan refinery to process heavy rare earths.\n",
        "good.jsonl": json.dumps(
            {"id": "good-jsonl", "title": "Terbium", "text": "Terbium prices doubled in May."}
        )
        + "\n",
    }
    for name, text in good.items():
        (batch / name).write_text(text, encoding="utf-8")
    bad = {
        "binary.txt": bytes(range(256)) * 40,
        "empty.txt": b"",
        "invalid.json": b'{"id": "broken", "text": ',
        "undecodable.txt": b"\xfe\xff" + b"\xd8\x00" * 10 + b"\x00a",
        "feed.xml": b"this is not xml at all {",
    }
    for name, data in bad.items():
        (batch / name).write_bytes(data)
    huge = batch / "huge.txt"
    with huge.open("wb") as fh:  # 50 MB of real text
        line = b"Rare earth magnets are made in Pahang by Lynas and JS Link. " * 16 + b"\n"
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            fh.write(line)
    url = _refused_url()

    code, out, err = run_cli("ingest", "-q", str(batch), url)
    assert code == 1
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    named = [*bad, "huge.txt", url]
    for name in named:
        lines = [ln for ln in errors if name in ln]
        assert len(lines) == 1, (name, errors)
        assert len(lines[0].split(": ", 2)[-1]) > 3  # a reason follows the name
    assert len(errors) == len(named), errors
    assert f"failed {len(named)}" in out and "added 2" in out

    _, out, _ = run_cli("sources", "--json")
    ids = {i["id"] for i in json.loads(out)}
    assert {"good-md", "good-jsonl"} <= ids
    assert {p.stem for p in CORPUS.glob("*.txt")} <= ids  # earlier articles untouched
    _, after, _ = run_cli("stats", "--json")
    stats = json.loads(after)
    assert stats["chunks"] > before_chunks and stats["chunks"] == stats["manifest_chunks"]
    assert stats["pending"] == 0


def test_unknown_path_is_an_error_not_a_crash(run_cli, tmp_path):
    code, out, err = run_cli("ingest", "-q", str(tmp_path / "nope.txt"))
    assert code == 1 and "nope.txt" in err
