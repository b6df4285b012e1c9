"""The evidence scorer embeds only the lexically closest sentences (with the FakeEmbedder;
tests/integration/test_embed.py has the real model's int8 copy)."""

from __future__ import annotations

from assistant.models import Chunk, Passage
from assistant.verify.evidence import SentenceScorer
from tests.unit.fakes import CountingEmbedder


def _filler_chunk() -> Chunk:
    """Ten filler sentences, then the one that states the claim."""
    text = " ".join(
        [f"Filler sentence number {i} about the weather in Oslo." for i in range(10)]
        + ["Lynas will build a magnet plant in Malaysia."]
    )
    return Chunk(id="a:h:0", article_id="a", index=0, text=text, start=0, end=len(text),
                 section="", role="report", title="T")


def test_scorer_embeds_only_the_lexically_closest_sentences(embedder) -> None:
    chunk = _filler_chunk()
    counting = CountingEmbedder(embedder)
    scorer = SentenceScorer(counting, max_embed=3)
    sents = scorer.sentences("Lynas will build the magnet plant in Malaysia", [Passage(chunk, 1.0)])
    assert len(sents) == 11
    assert len(counting.texts) == 1 + 3  # the claim and three sentences, not eleven
    assert sents[0].text == "Lynas will build a magnet plant in Malaysia."
    assert sents[0].sim > 0.8
