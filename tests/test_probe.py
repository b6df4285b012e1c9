"""The judge's middle-layer probe: the file format, the tie to the model, the layer tap on
the real model (it must not change what the model computes) and that the packaged probe
tells a backed claim from an unbacked one."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from assistant.verify import LocalJudge
from assistant.verify.probe import MAX_PROBE, PROBE_PATH, Probe

SHA = "ab" * 32


def _probe(weights=(1.0, -2.0, 0.5), bias=0.25, sha=SHA) -> Probe:
    return Probe(layer=3, weights=np.asarray(weights, np.float32), bias=bias,
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
    assert q is not None and q.layer == 3 and q.meta == {"C": 0.01}
    assert q.score(np.array([1.0, 1.0, 2.0])) == pytest.approx(p.score(np.array([1.0, 1.0, 2.0])))


def test_probe_is_only_used_with_its_own_model(tmp_path: Path, caplog) -> None:
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(_probe().to_json()))
    assert Probe.load("cd" * 32, path) is None  # fitted for another model file
    assert Probe.load(None, path) is None  # a model of the user's: unknown
    assert Probe.load(SHA, tmp_path / "absent.json") is None
    for bad in ("{not json", json.dumps({"layer": 1}), json.dumps(
            {"layer": 1, "bias": 0, "model_sha256": SHA, "weights": ["x"]}),
            json.dumps({"layer": 1, "bias": 0, "model_sha256": SHA, "weights": [1, None]})):
        path.write_text(bad)
        with caplog.at_level(logging.WARNING):
            assert Probe.load(SHA, path) is None
    assert "ignoring the judge probe" in caplog.text


def test_the_packaged_probe_belongs_to_the_packaged_model() -> None:
    from assistant.llm import MODEL_SHA256

    probe = Probe.load(MODEL_SHA256)
    assert probe is not None, f"{PROBE_PATH.name} missing or not for the packaged model"
    assert probe.weights.shape == (1536,)  # Qwen2.5-1.5B hidden size
    assert 0 < probe.layer < 28
    assert probe.meta["n_train"] >= 300
    # fitted out of fold to rank better than the Yes/No log-odds on average
    oof, yes_no = probe.meta["oof_auc"], probe.meta["yes_no_auc"]
    assert set(oof) == {"scifact", "vitc", "halu"}
    assert sum(oof.values()) > sum(yes_no.values())


class _FakeTap:
    layer = 3

    def __init__(self, hidden):
        self.hidden, self.last = hidden, None

    @contextlib.contextmanager
    def armed(self):
        self.last = None
        yield self
        self.last = self.hidden


class _FakeModel:
    def __init__(self, hidden):
        from tests.test_verify import FakeLlama

        self.llama = FakeLlama({1: 2.0, 2: -0.5})
        self.lock = threading.RLock()
        self._tap = _FakeTap(hidden)

    def tap(self, layer):
        assert layer == 3
        return self._tap


def test_local_judge_adds_the_probe_score() -> None:
    model = _FakeModel(np.array([1.0, 1.0, 2.0], np.float32))
    out = LocalJudge(model, probe=_probe()).scores("A claim.", ["Evidence."])
    assert out == {"true": pytest.approx(2.5), "probe": pytest.approx(0.25)}
    assert LocalJudge(model).scores("A claim.", ["Evidence."]) == {"true": pytest.approx(2.5)}


def test_local_judge_refuses_a_missing_capture() -> None:
    from assistant.errors import GenerationError

    with pytest.raises(GenerationError, match="captured nothing"):
        LocalJudge(_FakeModel(None), probe=_probe()).scores("A claim.", ["Evidence."])


# ---- the real model -----------------------------------------------------------------------------
EVIDENCE = [
    "Malaysia has an estimated 16.1 million tonnes of rare earth elements, according to the "
    "Department of Mineral and Geoscience.",
    "Lynas said the new magnet plant would be built in Kuantan, Pahang.",
]
BACKED = [
    "Malaysia has about 16.1 million tonnes of rare earth elements.",
    "Lynas plans to build the magnet plant in Pahang.",
]
UNBACKED = [
    "Malaysia has about 61 million tonnes of rare earth elements.",
    "Lynas plans to build the magnet plant in Texas.",
]


@pytest.mark.slow
def test_the_tap_reads_the_layer_without_changing_the_model(local_model) -> None:
    plain = LocalJudge(local_model)
    before = [plain.scores(c, EVIDENCE)["true"] for c in BACKED + UNBACKED]
    probed = LocalJudge(local_model, probe=Probe.load(local_model.sha256))
    after = [probed.scores(c, EVIDENCE) for c in BACKED + UNBACKED]
    hidden = probed.last_hidden
    assert hidden is not None and hidden.shape == (1536,) and np.isfinite(hidden).all()
    # the same logits with the tap installed (prefix-cache batching moves them by < 0.05)
    assert [a["true"] for a in after] == pytest.approx(before, abs=0.05)
    # an exact repeat still gets a reading (its last token is evaluated alone, and
    # llama.cpp's one-token kernels round differently from batched ones: < 0.25)
    again = probed.scores(UNBACKED[-1], EVIDENCE)
    assert again["probe"] == pytest.approx(after[-1]["probe"], abs=0.25)
    # the packaged probe scores a backed claim above its unbacked twin
    for b, u in zip(after[: len(BACKED)], after[len(BACKED):], strict=True):
        assert b["probe"] > u["probe"]
    # answer generation still works on the tapped context (the tap is disarmed)
    text = "".join(local_model.chat_stream(
        [{"role": "user", "content": "Say the word rare."}], max_tokens=4))
    assert text.strip()
