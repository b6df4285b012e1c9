"""The ``openai`` backend against a real OpenAI-compatible server on loopback.

Starts ``python -m llama_cpp.server`` with the packaged model on a free 127.0.0.1 port,
polls ``/v1/models`` until it answers, asks a question through ``Assistant`` with
``backend="openai"`` and stops the server by PID. No grammar on this path: the answer is
parsed and repaired, so the test checks that a cited answer comes back and that every
citation number it keeps names a real source.
"""

from __future__ import annotations

import re

import pytest

from assistant.config import Settings
from assistant.llm.local import assemble_model
from assistant.service import Assistant
from tests.conftest import CORPUS

from .servers import llama_server

pytestmark = pytest.mark.slow

Q3000 = "How many tonnes of NdFeB magnets a year is the Lynas / JS Link facility meant to make?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app")
    base = Settings(_env_file=None)
    model = base.model_path or assemble_model(base.cache_dir)
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with llama_server(model, log, threads=base.llm_threads, stop_timeout=20) as srv:
        yield f"{srv.url}/v1"


def test_openai_backend_gives_a_cited_answer(server, tmp_path, embedder) -> None:
    settings = Settings(
        _env_file=None, index_dir=tmp_path / "index", backend="openai", verify=False,
        openai_base_url=server, openai_api_key="not-needed", openai_model="local",
    )
    assistant = Assistant(settings)
    assistant.embedder = embedder
    assert assistant.ingest([str(CORPUS)]).ok
    events = list(assistant.ask_stream(Q3000))
    answer = events[-1].answer
    assert answer is not None and answer.backend == "openai"
    assert not answer.abstained, answer.text
    assert re.search(r"3,000|3000", answer.text), answer.text
    assert any(c.citations for c in answer.claims), answer.text
    for c in answer.citations:
        assert 1 <= c.number <= len(answer.sources)
        assert answer.sources[c.number - 1].chunk.text[c.start : c.end] == c.quote
    assert any(e.kind == "token" for e in events)
