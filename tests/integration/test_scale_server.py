"""Scale-out: the assistant end to end against a real Chroma server on loopback.

Starts ``chroma run`` (the server inside the chromadb wheel) on 127.0.0.1 and a free port,
with its data in a temp dir, points ``Settings(chroma_host=..., chroma_port=...)`` at it,
and runs ingest of ``corpus/`` + ask (extractive backend, no LLM) + check. The server is
stopped by PID with SIGTERM. Never ``chroma update`` (it calls the internet). The servers
come from ``tests/integration/servers.py`` (the ``chroma_server`` fixture is in
``tests/integration/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from tests.conftest import CORPUS

from .servers import llama_server

pytestmark = pytest.mark.slow


def test_ingest_ask_check_against_a_chroma_server(chroma_server: int, tmp_path: Path) -> None:
    from assistant.service import Assistant

    settings = Settings(
        _env_file=None,
        index_dir=tmp_path / "index",
        corpus_dir=CORPUS,
        chroma_host="127.0.0.1",
        chroma_port=chroma_server,
        backend="extractive",
    )
    assistant = Assistant(settings)
    result = assistant.ingest([str(CORPUS)])
    assert result.ok and len(result.added) == 2 and result.chunks_written > 0
    assert assistant.store.mode == "server"
    # the chunks live on the server, not in an embedded store under index_dir
    assert not (tmp_path / "index" / "chroma").exists()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host="127.0.0.1", port=chroma_server,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    assert client.get_collection(settings.collection).count() == result.chunks_written

    # a second ingest is idempotent through the server too
    again = assistant.ingest([str(CORPUS)])
    assert len(again.unchanged) == 2 and again.chunks_written == 0

    answer = assistant.ask("How many tonnes of NdFeB magnets a year does the Lynas and "
                           "JS Link memorandum target?", backend="extractive")
    assert not answer.abstained
    assert "3,000" in answer.text
    assert answer.sources and answer.sources[0].chunk.article_id.startswith("000_")
    assert any(c.citations for c in answer.claims)

    report = assistant.check("Lynas and JS Link plan to produce 5,000 tonnes of NdFeB "
                             "magnets a year.")
    assert report.claims and report.claims[0].verdict is not None
    assert report.claims[0].verdict.label != "supported"

    # a fresh Assistant (another process in production) sees the same data on the server
    other = Assistant(settings.model_copy(update={"index_dir": tmp_path / "other"}))
    passages = other.retriever.retrieve("Khazanah Nasional local partner", k=3)
    assert passages and passages[0].chunk.article_id.startswith("003_")


@pytest.fixture
def llm_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``python -m llama_cpp.server`` with the packaged model on 127.0.0.1 (OpenAI API)."""
    pytest.importorskip("llama_cpp")
    from assistant.llm.local import assemble_model

    base = Settings(_env_file=None)
    model = assemble_model(base.cache_dir)
    with llama_server(model, tmp_path / "llm.log", threads=2, alias=base.openai_model) as server:
        yield server.port, server.log


def test_openai_backend_answers_and_judges_through_one_server(
    llm_server: tuple[int, Path], tmp_path: Path
) -> None:
    """Answers and the claim judge both go to the OpenAI-compatible server; no model
    is loaded in-process, so the page and the bot do not queue behind one local model."""
    from assistant.service import Assistant

    port, log_path = llm_server
    settings = Settings(
        _env_file=None,
        index_dir=tmp_path / "index",
        corpus_dir=CORPUS,
        backend="openai",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        llm_max_tokens=120,
    )
    assistant = Assistant(settings)
    assert assistant.ingest([str(CORPUS)]).ok
    answer = assistant.ask("How many tonnes of NdFeB magnets a year does the Lynas and JS Link "
                           "memorandum target?")
    assert answer.backend == "openai", answer.notice
    assert answer.text.strip() and answer.sources
    after_answer = log_path.read_text().count("POST /v1/chat/completions")
    assert after_answer >= 1

    judge = assistant.verifier.judge
    assert judge is not None and type(judge).__name__ == "ChatJudge"
    scores = judge.scores(
        "Lynas and JS Link target 3,000 tonnes of magnets a year.",
        ["The memorandum between Lynas and JS Link targets 3,000 tonnes of NdFeB magnets "
         "annually."],
    )
    # the log-odds of "Yes" from the server's logprobs (not the +/-4 of a parsed word)
    assert set(scores) == {"true"} and scores["true"] > 0 and abs(scores["true"]) != 4.0
    report = assistant.check("China offered to share rare earth processing technology "
                             "with Malaysia.")
    assert report.claims and report.claims[0].verdict is not None
    assert log_path.read_text().count("POST /v1/chat/completions") > after_answer
    assert "local_model" not in assistant.__dict__  # nothing loaded in-process
