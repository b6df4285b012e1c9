"""Shared fixtures. Real models are loaded once per session and only by tests that ask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402

from . import servers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SHARED = REPO.parent / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh index in a temp dir (never the user's index/)."""
    return Settings(_env_file=None, index_dir=tmp_path / "index", corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2, loaded once per session."""
    from assistant.index.embed import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def local_model():
    """The real packaged Qwen2.5 1.5B via llama.cpp, loaded once per session."""
    from assistant.llm.local import LocalModel

    s = Settings(_env_file=None)
    return LocalModel(s.model_path, s.cache_dir, s.llm_threads, s.llm_context)


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A ``chroma run`` server on 127.0.0.1 (data in ``tmp_path/server-data``, log in
    ``tmp_path/chroma.log``); yields its port and stops it by PID afterwards."""
    with servers.chroma_server(tmp_path / "server-data") as server:
        yield server.port


def shared_path(*parts: str) -> Path:
    """A path under ../shared; tests that need it skip when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared data not present: {'/'.join(parts)}")
    return path
