"""Integration fixtures: the real models (loaded once per session, only by tests that ask)
and a ``chroma run`` server. Every module here is marked ``slow``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import cli
from assistant.config import Settings
from assistant.service import Assistant

from . import servers
from .fake_slack import FakeSlack


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


@pytest.fixture
def run_cli(monkeypatch, tmp_path, embedder, capsys):
    """Run ``assistant ARGS`` in-process over a temp index, sharing the session's model."""
    monkeypatch.chdir(tmp_path)  # no stray .env; relative origins resolve here
    monkeypatch.setattr(Assistant, "embedder", property(lambda self: embedder))
    index = tmp_path / "index"

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--index", str(index), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """The fake Slack Web API (fake_slack.py) on 127.0.0.1, stopped after the test."""
    server = FakeSlack().start()
    yield server
    server.stop()
