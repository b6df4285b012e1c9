"""Unit tests never load a model: their ``embedder`` is the deterministic FakeEmbedder."""

from __future__ import annotations

import pytest

from tests.unit.fakes import FakeEmbedder


@pytest.fixture(scope="session")
def embedder() -> FakeEmbedder:
    """A hashed bag of word stems standing in for MiniLM (tests/unit/fakes.py)."""
    return FakeEmbedder()
