"""The packaged cross-encoder, really loaded: it orders passages by relevance to the question
and :func:`assistant.rerank.rerank` keeps the article cap the retriever uses."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.models import Chunk, Passage
from assistant.rerank import CrossEncoder, rerank

pytestmark = pytest.mark.slow

Q = "How many tonnes of magnets a year will the Kuantan plant make?"
ANSWER = ("The Kuantan plant will make 3,000 tonnes of NdFeB magnets a year once the second "
          "line is running, the company said.")
NEAR = "The Kuantan plant employs 400 people and is powered by a solar farm nearby."
FAR = "Shares of the gold miner rose after it reported higher quarterly output in Ghana."


def _p(article: str, i: int, text: str) -> Passage:
    chunk = Chunk(id=f"{article}:h:{i}", article_id=article, index=i, text=text, start=0,
                  end=len(text), section="Body", role="report", title="t", source="s",
                  url="https://x", published=date(2025, 1, 1))
    return Passage(chunk=chunk, score=0.0)


def test_cross_encoder_puts_the_answering_passage_first() -> None:
    encoder = CrossEncoder()
    scores = encoder.scores(Q, [FAR, NEAR, ANSWER])
    assert scores[2] > scores[1] > scores[0]
    assert scores[2] > 0 > scores[0]  # relevant pairs score above zero, unrelated below


def test_rerank_orders_the_pool_and_caps_one_article() -> None:
    pool = [_p("far", 0, FAR), _p("a", 0, NEAR), _p("a", 1, ANSWER), _p("a", 2, NEAR + " Yes.")]
    picked, scores = rerank(CrossEncoder(), Q, pool, k=2)
    assert picked[0].chunk.text == ANSWER
    # at most ceil(2/2) = 1 passage of article "a" while another article has one
    assert [p.chunk.article_id for p in picked] == ["a", "far"]
    assert len(scores) == 2 and scores[0] > scores[1]
