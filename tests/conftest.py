"""Shared fixtures and paths. Unit tests (tests/unit) use the fakes in tests/unit/fakes.py;
the real models and servers are fixtures of tests/integration/conftest.py only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SHARED = REPO.parent / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh index in a temp dir (never the user's index/)."""
    return Settings(_env_file=None, index_dir=tmp_path / "index", corpus_dir=CORPUS)


def shared_path(*parts: str) -> Path:
    """A path under ../shared; tests that need it skip when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared data not present: {'/'.join(parts)}")
    return path
