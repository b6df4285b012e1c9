"""The Assistant's own API without loading a model: backend views, refresh, the CLI's use."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant import cli
from assistant.config import Settings
from assistant.models import Answer, Filters, IngestResult, StreamEvent, Turn
from assistant.service import Assistant


@pytest.fixture
def base(tmp_path: Path) -> Assistant:
    return Assistant(Settings(_env_file=None, index_dir=tmp_path / "index", backend="local"))


def test_with_backend_shares_collaborators(base: Assistant, monkeypatch) -> None:
    base.embedder = "loaded embedder"  # type: ignore[assignment]
    view = base.with_backend("extractive")
    assert view.settings.backend == "extractive" and base.settings.backend == "local"
    assert view.settings.index_dir == base.settings.index_dir
    assert view.embedder == "loaded embedder"
    # one view per backend; the own backend gives the Assistant itself, from a view too
    assert base.with_backend("extractive") is view and base.with_backend("local") is base
    assert view.with_backend("extractive") is view and view.with_backend("local") is base
    assert view.with_backend("openai") is base.with_backend("openai")

    # a collaborator first asked for through the view is built once, for both
    built: list[object] = []

    class FakeEncoder:
        def __init__(self, threads: int = 1) -> None:
            built.append(self)

    monkeypatch.setattr("assistant.rerank.CrossEncoder", FakeEncoder)
    assert view.cross_encoder is base.cross_encoder and len(built) == 1
    assert "cross_encoder" in base.__dict__


def test_the_verifier_follows_the_view_backend(base: Assistant, monkeypatch) -> None:
    class FakeVerifier:
        def __init__(self, embedder: Any, judge: Any = None) -> None:
            self.embedder, self.judge = embedder, judge

    monkeypatch.setattr("assistant.verify.Verifier", FakeVerifier)
    base.embedder = "emb"  # type: ignore[assignment]
    base.__dict__["verifier"] = "the local judge's verifier"
    verifier: Any = base.with_backend("extractive").verifier
    assert isinstance(verifier, FakeVerifier)
    assert verifier.judge is None and verifier.embedder == "emb"  # no judge when extractive


def test_chat_models_are_built_once_per_backend(base: Assistant, monkeypatch) -> None:
    calls: list[tuple[str, str]] = []

    def fake_build(settings: Settings, backend: str, local_model: Any = None) -> Any:
        calls.append((settings.backend, backend))
        return None if backend == "extractive" else f"{backend} model"

    monkeypatch.setattr("assistant.llm.chat.build_chat_model", fake_build)
    view = base.with_backend("openai")
    assert view.chat_model() == "openai model" and base.chat_model("openai") == "openai model"
    assert base.chat_model("extractive") is None and view.chat_model("extractive") is None
    assert calls == [("openai", "openai"), ("local", "extractive")]


def _refreshing(base: Assistant, failed: tuple[tuple[str, str], ...] = ()) -> list[Any]:
    calls: list[Any] = []

    def fake_ingest(inputs: Sequence[str], prune: bool = False, progress: Any = None) -> Any:
        calls.append((list(inputs), prune, progress))
        return IngestResult(added=("a",), unchanged=("b", "c"), failed=failed)

    base.ingest = fake_ingest  # type: ignore[method-assign]
    return calls


def test_refresh_ingests_corpus_and_uploads(tmp_path: Path, caplog) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", corpus_dir=corpus)
    a = Assistant(settings)
    calls = _refreshing(a, failed=(("corpus/bad.pdf", "unsupported file type"),))
    uploads = settings.index_dir / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "u.txt").write_text("x")
    caplog.set_level(logging.INFO, logger="assistant.service")
    result = a.refresh(progress=print)
    assert calls == [([str(corpus), str(uploads)], True, print)]
    assert result.added == ("a",) and not result.ok
    assert "not indexed: corpus/bad.pdf: unsupported file type" in caplog.text
    assert "index ready in" in caplog.text and "1 added, 0 updated, 2 unchanged" in caplog.text


def test_refresh_without_corpus_serves_the_index_as_it_is(tmp_path: Path, caplog) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index",
                        corpus_dir=tmp_path / "missing")
    a = Assistant(settings)
    calls = _refreshing(a)
    assert a.refresh() == IngestResult() and calls == []
    assert "corpus folder" in caplog.text and "not found" in caplog.text
    (settings.index_dir / "uploads").mkdir(parents=True)  # an empty uploads folder is skipped
    assert a.refresh() == IngestResult() and calls == []


class FakeAssistant:
    """Counts how often it is built; ``with_backend`` records the switch."""

    made: list[FakeAssistant] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.switched: list[str] = []
        FakeAssistant.made.append(self)

    def with_backend(self, backend: str) -> FakeAssistant:
        self.switched.append(backend)
        return self

    def ask_stream(self, question: str, history: Sequence[Turn] = (),
                   filters: Filters = Filters(), backend: str | None = None
                   ) -> Iterator[StreamEvent]:
        yield StreamEvent("status", "Searching...")
        yield StreamEvent("token", "Lynas")
        yield StreamEvent("answer", answer=Answer(question, "Lynas [1].", backend="extractive"))


def test_cli_switches_backend_without_rebuilding(tmp_path: Path, monkeypatch, capsys) -> None:
    FakeAssistant.made = []
    monkeypatch.setattr(cli, "Assistant", FakeAssistant)
    argv = ["--index", str(tmp_path / "idx"), "ask", "Who?", "--backend", "extractive"]
    assert cli.main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["text"] == "Lynas [1]." and "Searching" not in err
    [made] = FakeAssistant.made
    assert made.switched == ["extractive"]
    assert cli.main(argv) == 0  # not a tty: the status goes to stderr, the text once
    out, err = capsys.readouterr()
    assert out.strip() == "Lynas [1]." and "... Searching..." in err
