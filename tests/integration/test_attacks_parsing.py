"""Issue 20, parsing and errors, end to end: the real embedder, Chroma and the real indexer.

A hostile folder (alias bomb, a link to /etc/passwd, nested JSON, a 100k-digit id, a bad
front-matter date, repeated and blank ids, a file name with a newline and an ANSI escape)
is ingested next to an existing index: one escaped error line per failure, no traceback,
the good records land, and nothing indexed before is lost (counts before and after). A
subprocess run checks the same with logging as a real process sets it up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO
from tests.unit.test_attacks_parsing import ALIAS_BOMB, GOOD

pytestmark = pytest.mark.slow


def _hostile_folder(root: Path) -> tuple[Path, int]:
    """The folder and how many failures it holds."""
    docs = root / "hostile"
    docs.mkdir()
    (docs / "good.md").write_text(f"---\nid: good-md\ntitle: Good\n---\n{GOOD}")
    (docs / "bomb.md").write_text(ALIAS_BOMB)
    (docs / "evil\nname\x1b[31m.txt").write_text("")
    os.symlink("/etc/passwd", docs / "passwd.txt")
    (docs / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (docs / "bigid.json").write_text('{"id": ' + "1" * 100_000 + ', "text": "x"}')
    (docs / "baddate.md").write_text(f"---\npublished: 2025-13-45\n---\n{GOOD}")
    (docs / "dups.json").write_text(json.dumps([
        {"id": "dup", "text": "Neodymium oxide prices rose 4% in June, traders said."},
        {"id": "dup", "text": "A second record with the same id."},
        {"id": " ", "text": "Blank id."},
        {"id": ["x"], "text": "List id."},
    ]))
    return docs, 9



def test_hostile_folder_fails_line_by_line_and_loses_nothing(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("ingest", "-q", str(CORPUS))
    assert code == 0, err
    before = json.loads(run_cli("stats", "--json")[1])
    docs, n_failures = _hostile_folder(tmp_path)

    code, out, err = run_cli("ingest", "-q", str(docs))
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == n_failures and all(ln.startswith("error: ") for ln in lines), err
    assert "Traceback" not in err and "\x1b" not in err and "unexpected error" not in err
    assert any("front matter uses YAML aliases" in ln for ln in lines)
    assert any("passwd.txt: symbolic link to outside the folder" in ln for ln in lines)
    assert any("evil\\nname\\x1b[31m.txt" in ln for ln in lines)
    assert any("record 2: id 'dup' repeated" in ln for ln in lines)
    assert f"failed {n_failures}" in out and "added 2" in out

    sources = json.loads(run_cli("sources", "--json")[1])
    ids = {s["id"] for s in sources}
    assert {p.stem for p in CORPUS.glob("*.txt")} | {"good-md", "dup"} == ids
    assert all("root:" not in s["title"] for s in sources)
    after = json.loads(run_cli("stats", "--json")[1])
    assert after["articles"] == before["articles"] + 2
    assert after["chunks"] > before["chunks"] and after["chunks"] == after["manifest_chunks"]
    assert after["pending"] == 0


def test_a_real_process_prints_one_line_per_failure(tmp_path: Path) -> None:
    docs, n_failures = _hostile_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "--index", str(tmp_path / "index"),
         "ingest", "-q", str(docs)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == n_failures, proc.stderr  # no "WARNING ... ingest failed" twin
    assert all(ln.startswith("error: ") for ln in lines)
    assert "\x1b" not in proc.stderr and "Traceback" not in proc.stderr
