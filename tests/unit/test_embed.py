"""The evidence scorer embeds only the lexically closest sentences (with the FakeEmbedder;
tests/integration/test_embed.py has the real model's int8 copy); the embedder's backends
(ONNX export once, fallback to torch, names) with stand-ins for the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.index import embed, onnx_embed
from assistant.index.embed import (
    BACKENDS,
    DEFAULT_BACKEND,
    MODEL_NAME,
    Embedder,
    QuantizedEmbedder,
)
from assistant.index.onnx_embed import export, export_dir
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


# ---- the embedder's backends, without loading a model -------------------------------------
# (tests/integration/test_embed.py runs the real export and compares real vectors)


def test_settings_default_backend_is_the_embedders() -> None:
    assert Settings(_env_file=None).embed_backend == DEFAULT_BACKEND
    assert set(BACKENDS) == {"onnx-int8", "onnx", "torch"}


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        Embedder(backend="tensorflow")


def test_onnx_failure_falls_back_to_torch_and_warns_once(monkeypatch, caplog, tmp_path) -> None:
    class Broken:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("no ONNX Runtime here")

    monkeypatch.setattr(onnx_embed, "OnnxEncoder", Broken)
    monkeypatch.setattr(embed, "_warned", set())
    first = Embedder(model_path=tmp_path / "all-MiniLM-L6-v2", backend="onnx-int8",
                     cache_dir=tmp_path)
    second = Embedder(model_path=tmp_path / "all-MiniLM-L6-v2", backend="onnx",
                      cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="assistant.index.embed"):
        assert first.active_backend == "torch" and second.active_backend == "torch"
        assert first.active_backend == "torch"  # settled once
    # the name is the float model's: the torch vectors are what gets stored
    assert first.name == MODEL_NAME and second.name == MODEL_NAME
    warnings = [r for r in caplog.records if "ONNX embedding unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no ONNX Runtime here" in warnings[0].getMessage()


def test_the_int8_backend_has_its_own_name(monkeypatch, tmp_path) -> None:
    class Ready:
        dimension = 384

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    monkeypatch.setattr(onnx_embed, "OnnxEncoder", Ready)
    assert Embedder(backend="onnx-int8", cache_dir=tmp_path).name == f"{MODEL_NAME}-int8"
    assert Embedder(backend="onnx", cache_dir=tmp_path).name == MODEL_NAME
    assert Embedder(backend="torch").name == MODEL_NAME
    assert Embedder(backend="onnx", cache_dir=tmp_path).dimension == 384
    # the verifier's int8 copy stays the torch one, whatever the base embedder runs
    q = QuantizedEmbedder(Embedder(backend="onnx-int8", cache_dir=tmp_path))
    assert q.backend == "torch" and q.active_backend == "torch"


def _fake_export(monkeypatch, calls: list[str], probe: list[float] | None = None) -> None:
    """Replace the torch export, the quantizer and the probe runs by cheap stand-ins."""


    def write(kind: str):
        def run(*args: object) -> None:
            calls.append(kind)
            Path(str(args[-1])).write_bytes(kind.encode())
        return run

    monkeypatch.setattr(onnx_embed, "_export_fp32", write("fp32"))
    monkeypatch.setattr(onnx_embed, "_quantize", write("int8"))
    vec = np.asarray(probe or [1.0, 0.0], dtype=np.float32)
    monkeypatch.setattr(onnx_embed, "_run_file", lambda *a: vec[None, :])
    monkeypatch.setattr(onnx_embed, "_torch_vector", lambda *a: np.asarray([1.0, 0.0]))


def test_export_runs_once_then_reuses_the_file(monkeypatch, tmp_path) -> None:
    model = tmp_path / "all-MiniLM-L6-v2"
    model.mkdir()
    (model / "config.json").write_text("{}")
    calls: list[str] = []
    _fake_export(monkeypatch, calls)
    cache = tmp_path / "cache"
    int8 = export(model, cache, "int8")
    assert calls == ["fp32", "int8"]  # the int8 file is made from the float export
    assert export(model, cache, "int8") == int8 and export(model, cache, "fp32").is_file()
    assert calls == ["fp32", "int8"]  # reused, not exported again
    assert int8.parent == export_dir(model, cache)
    assert int8.parent.parent == cache / "onnx" and int8.parent.name.startswith(model.name)
    assert not [p for p in int8.parent.iterdir() if p.name.endswith(".tmp")]
    (model / "config.json").write_text('{"changed": true}')  # other weights: another folder
    assert export_dir(model, cache) != int8.parent


def test_export_that_does_not_match_torch_is_not_kept(monkeypatch, tmp_path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    calls: list[str] = []
    _fake_export(monkeypatch, calls, probe=[0.0, 1.0])  # the exported model says otherwise
    with pytest.raises(ModelError, match="differs from the torch model"):
        export(model, tmp_path, "fp32")
    assert calls == ["fp32"]
    assert not [p for p in export_dir(model, tmp_path).iterdir() if p.suffix in {".onnx", ".tmp"}]
