"""``assistant eval`` for real, in a subprocess, over ``corpus/`` with the extractive backend
(tests/unit/test_evaluate.py has the dev set, the scoring rules and the run with a fake)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
DEV = REPO / "eval" / "dev.jsonl"


# ---- the real thing ----------------------------------------------------------------------------
@pytest.mark.slow
def test_assistant_eval_runs_for_real_over_corpus(tmp_path: Path) -> None:
    """``assistant eval`` on the first 6 questions and 6 claims of the dev set, extractive."""
    out = tmp_path / "report.json"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "ASSISTANT_INDEX_DIR": str(tmp_path / "user-index")}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "eval", str(DEV), "--corpus", str(REPO / "corpus"),
         "--backend", "extractive", "--limit", "6", "--out", str(out), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for word in ("QUESTIONS", "recall@5", "MRR", "CLAIMS", "balanced accuracy", "LATENCY"):
        assert word in proc.stdout
    data = json.loads(out.read_text())
    qm, cm = data["question_metrics"], data["claim_metrics"]
    assert qm["n"] == 6 and cm["n"] == 6 and qm["errors"] == 0 and cm["errors"] == 0
    # both corpus articles are indexed, so the supporting article is always in the top 5
    assert qm["recall_at_5"] == 1.0 and qm["mrr"] >= 0.5
    for key in ("answer_correct", "citation_precision", "citation_recall", "flagged_share"):
        assert key in qm
    assert set(cm["confusion"]) == {"supported", "contradicted", "unsupported"}
    assert data["latency"]["question"]["total"]["n"] == 6
    assert all(q["backend"] for q in data["questions"])
    assert not (tmp_path / "user-index").exists() and not (tmp_path / "index").exists()
