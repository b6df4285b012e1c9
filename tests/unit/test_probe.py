"""The judge's middle-layer probe: the file format, the tie to the model, the layer tap on
the real model (it must not change what the model computes) and that the packaged probe
tells a backed claim from an unbacked one."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from assistant.verify import LocalJudge
from assistant.verify.probe import MAX_PROBE, POSITIONS, PROBE_PATH, Probe

SHA = "ab" * 32


def _probe(weights=(1.0, -2.0, 0.5), bias=0.25, sha=SHA) -> Probe:
    return Probe(layers=(3,), weights=np.asarray(weights, np.float32), bias=bias,
                 model_sha256=sha, meta={"C": 0.01})


def test_probe_scores_round_trips_and_clips(tmp_path: Path) -> None:
    p = _probe()
    assert p.score(np.array([1.0, 1.0, 2.0])) == pytest.approx(1.0 - 2.0 + 1.0 + 0.25)
    assert p.score(np.array([100.0, 0.0, 0.0])) == MAX_PROBE
    with pytest.raises(ValueError):
        p.score(np.zeros(4))
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(p.to_json()))
    q = Probe.load(SHA, path)
    assert q is not None and q.layers == (3,) and q.meta == {"C": 0.01}
    assert q.score(np.array([1.0, 1.0, 2.0])) == pytest.approx(p.score(np.array([1.0, 1.0, 2.0])))
    assert q.positions == ("last",)
    # several positions round-trip; a file without "positions" reads at the last token
    two = Probe(layers=(3,), weights=np.ones(4, np.float32), bias=0.0, model_sha256=SHA,
                meta={}, positions=("claim_end", "last"))
    path.write_text(json.dumps(two.to_json()))
    back = Probe.load(SHA, path)
    assert back is not None and back.positions == ("claim_end", "last")
    assert np.array_equal(back.weights, two.weights)
    old = two.to_json()
    del old["positions"]
    path.write_text(json.dumps(old))
    assert Probe.load(SHA, path).positions == ("last",)


def test_probe_is_only_used_with_its_own_model(tmp_path: Path, caplog) -> None:
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(_probe().to_json()))
    assert Probe.load("cd" * 32, path) is None  # fitted for another model file
    assert Probe.load(None, path) is None  # a model of the user's: unknown
    assert Probe.load(SHA, tmp_path / "absent.json") is None
    for bad in ("{not json", json.dumps({"layer": 1}), json.dumps(
            {"layer": 1, "bias": 0, "model_sha256": SHA, "weights": ["x"]}),
            json.dumps({"layer": 1, "bias": 0, "model_sha256": SHA, "weights": [1, None]}),
            json.dumps({"layers": [1], "bias": 0, "model_sha256": SHA, "weights": [1],
                        "positions": ["first"]})):
        path.write_text(bad)
        with caplog.at_level(logging.WARNING):
            assert Probe.load(SHA, path) is None
    assert "ignoring the judge probe" in caplog.text


def test_the_packaged_probe_belongs_to_the_packaged_model() -> None:
    from assistant.llm.local import MODEL_SHA256

    probe = Probe.load(MODEL_SHA256)
    assert probe is not None, f"{PROBE_PATH.name} missing or not for the packaged model"
    # Qwen2.5-1.5B hidden size, per layer and per token read
    assert probe.weights.shape == (1536 * len(probe.layers) * len(probe.positions),)
    assert set(probe.positions) <= set(POSITIONS)
    assert all(0 < la < 28 for la in probe.layers)
    assert probe.meta["n_train"] >= 300
    # fitted out of fold to rank better than the Yes/No log-odds on average
    oof, yes_no = probe.meta["oof_auc"], probe.meta["yes_no_auc"]
    sets = {"scifact", "vitc", "halu"}  # (plus CLIMATE-FEVER, training data only)
    assert sets <= set(oof) and set(yes_no) == sets
    assert sum(oof[g] for g in sets) > sum(yes_no.values())


class _FakeTap:
    layers = (3,)

    def __init__(self, hidden):
        self.reading, self.seen = hidden, []

    def hidden(self, tokens, at=()):
        from assistant.errors import GenerationError

        self.seen.append(list(tokens))
        self.at = list(at)
        if self.reading is None:
            raise GenerationError("the layer tap captured nothing")
        return self.reading


class _FakeModel:
    def __init__(self, hidden):
        from tests.unit.fakes import FakeLlama

        self.llama = FakeLlama({1: 2.0, 2: -0.5})
        self.lock = threading.RLock()
        self._tap = _FakeTap(hidden)

    def tap(self, layers):
        assert tuple(layers) == (3,)
        return self._tap


def test_local_judge_with_a_probe_reads_the_tapped_layer_only() -> None:
    model = _FakeModel(np.array([1.0, 1.0, 2.0], np.float32))
    judge = LocalJudge(model, probe=_probe())
    assert judge.scores("A claim.", ["Evidence."]) == {"probe": pytest.approx(0.25)}
    assert model._tap.seen and not model.llama.prompts  # no completion: no logits needed
    assert model._tap.at == [len(model._tap.seen[-1]) - 1]  # the last token
    assert judge.last_hidden is not None
    # without a probe: the Yes/No log-odds of a one-token completion
    assert LocalJudge(model).scores("A claim.", ["Evidence."]) == {"true": pytest.approx(2.5)}
    assert len(model.llama.prompts) == 1


def test_local_judge_refuses_a_missing_capture() -> None:
    from assistant.errors import GenerationError

    with pytest.raises(GenerationError, match="captured nothing"):
        LocalJudge(_FakeModel(None), probe=_probe()).scores("A claim.", ["Evidence."])
