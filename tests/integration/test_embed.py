"""The embedding model's backends (real MiniLM): the int8 torch copy that scores evidence
sentences, and the ONNX Runtime paths (exported once from the packaged weights) that embed
what the index stores."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from assistant.index import embed, onnx_embed
from assistant.index.embed import MODEL_NAME, Embedder, default_model_path
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


# ---- ONNX Runtime backends ------------------------------------------------------------------
TEXTS = [
    "Malaysia has 16.1 million tonnes of rare earths",
    *SENTENCES,
    "",
    "Ｒａｒｅ ÉARTHS — naïve café prices 稀土 rose 12% in Q3",
    # longer than the 256 word pieces the model reads: truncated alike by both paths
    " ".join(f"Neodymium oxide shipment {i} left Kuantan for Japan." for i in range(60)),
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder of this module's own: the export runs here from scratch."""
    return tmp_path_factory.mktemp("cache")


def test_onnx_vectors_match_the_torch_model(torch_embedder, onnx_cache) -> None:
    e = Embedder(backend="onnx", cache_dir=onnx_cache)
    assert e.active_backend == "onnx" and e.name == MODEL_NAME == torch_embedder.name
    got, want = e.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(TEXTS), 384)
    assert float(np.max(np.abs(got - want))) < 1e-5  # stored vectors stay interchangeable
    assert np.allclose(e.embed_query(TEXTS[0]), want[0], atol=1e-5)
    assert [e.count_tokens(t) for t in TEXTS] == [torch_embedder.count_tokens(t) for t in TEXTS]
    assert e.count_tokens(TEXTS[-1]) > e.max_tokens  # counted whole, not truncated
    assert e.dimension == torch_embedder.dimension == 384
    assert e._model is None  # the torch model was never loaded for this embedder


def test_int8_vectors_stay_close_and_rank_alike(torch_embedder, onnx_cache) -> None:
    e = Embedder(backend="onnx-int8", cache_dir=onnx_cache)
    assert e.active_backend == "onnx-int8" and e.name == f"{MODEL_NAME}-int8"
    got, want = e.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(got * want, axis=1))) > 0.97
    sims_q, sims_f = got[1:4] @ got[0], want[1:4] @ want[0]
    assert list(np.argsort(-sims_q)) == list(np.argsort(-sims_f))
    # one text per run: a vector does not depend on what else was embedded with it
    assert np.array_equal(e.encode(TEXTS[2:4]), got[2:4])


def test_export_happens_once_and_is_reused(onnx_cache, monkeypatch) -> None:
    path = onnx_embed.export(default_model_path(), onnx_cache, "int8")
    folder, before = path.parent, {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()}
    assert {"model.onnx", "model.int8.onnx"} <= set(before)

    def again(*args: object) -> None:
        raise AssertionError("exported a second time")

    monkeypatch.setattr(onnx_embed, "_export_fp32", again)
    monkeypatch.setattr(onnx_embed, "_quantize", again)
    for backend in ("onnx", "onnx-int8"):
        e = Embedder(backend=backend, cache_dir=onnx_cache)
        assert e.active_backend == backend and e.encode(["rare earths"]).shape == (1, 384)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_two_processes_export_once(tmp_path) -> None:
    """Started together on an empty cache: one exports, the other waits and reuses the file."""
    script = textwrap.dedent("""
        import logging, sys
        from pathlib import Path
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from assistant.index.embed import default_model_path
        from assistant.index.onnx_embed import export
        print(export(default_model_path(), Path(sys.argv[1]), "fp32"))
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert sum(err.count("exporting the embedding model to ONNX") for _, err in outs) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_onnxruntime_failure_falls_back_to_torch(torch_embedder, onnx_cache, monkeypatch,
                                                 caplog) -> None:
    def broken(path: Path) -> None:
        raise RuntimeError("onnxruntime cannot load the model")

    monkeypatch.setattr(onnx_embed, "_session", broken)
    monkeypatch.setattr(embed, "_warned", set())
    with caplog.at_level("WARNING", logger="assistant.index.embed"):
        e = Embedder(backend="onnx-int8", cache_dir=onnx_cache)
        vecs = e.encode(SENTENCES)
        Embedder(backend="onnx", cache_dir=onnx_cache).encode(SENTENCES)
    assert e.active_backend == "torch" and e.name == MODEL_NAME
    assert np.allclose(vecs, torch_embedder.encode(SENTENCES), atol=1e-6)
    warnings = [r for r in caplog.records if "ONNX embedding unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "cannot load the model" in warnings[0].getMessage()
