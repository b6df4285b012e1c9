"""The int8 copy of the embedding model that scores evidence sentences (real MiniLM)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.models import Passage
from assistant.verify.evidence import SentenceScorer
from tests.unit.test_embed import _filler_chunk

pytestmark = pytest.mark.slow

SENTENCES = [
    "Malaysia holds an estimated 16.1 million tonnes of rare earth elements.",
    "Lynas runs a processing plant in Pahang.",
    "The weather in Oslo was cold in January.",
]


def test_quantized_copy_agrees_with_the_float_model(embedder) -> None:
    q = embedder.quantized()
    claim = "Malaysia has 16.1 million tonnes of rare earths"
    f_vecs = embedder.encode([claim, *SENTENCES])
    q_vecs = q.encode([claim, *SENTENCES])
    assert q_vecs.shape == f_vecs.shape and q_vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(q_vecs, axis=1), 1.0, atol=1e-4)
    # each vector stays close to its float twin, and the ranking of sentences is the same
    assert float(np.min(np.sum(q_vecs * f_vecs, axis=1))) > 0.9
    f_sims, q_sims = f_vecs[1:] @ f_vecs[0], q_vecs[1:] @ q_vecs[0]
    assert list(np.argsort(-f_sims)) == list(np.argsort(-q_sims))
    assert q.model is not embedder.model  # a copy: the index keeps the float vectors
    assert embedder.quantized() is q  # built once per embedder


def test_scorer_scores_do_not_depend_on_what_was_checked_before(embedder) -> None:
    chunk = _filler_chunk()
    claim = "Lynas will build the magnet plant in Malaysia"
    cold = SentenceScorer(embedder, max_embed=3).sentences(claim, [Passage(chunk, 1.0)])
    warm_scorer = SentenceScorer(embedder, max_embed=3)
    # an earlier check that embedded every filler sentence
    warm_scorer.sentences("the weather in Oslo, sentence number 4", [Passage(chunk, 1.0)])
    warm_scorer.embed([chunk.text[s.start:s.end] for s in cold])
    warm = warm_scorer.sentences(claim, [Passage(chunk, 1.0)])
    assert [(s.start, round(s.sim, 5)) for s in warm] == [(s.start, round(s.sim, 5)) for s in cold]
