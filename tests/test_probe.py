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
        from tests.test_verify import FakeLlama

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
def test_the_tap_reads_the_layer_and_leaves_the_model_alone(local_model) -> None:
    ask = [{"role": "user", "content": "Say the word rare."}]
    text_before = "".join(local_model.chat_stream(ask, max_tokens=6))
    plain = LocalJudge(local_model)
    yes_no_before = [plain.scores(c, EVIDENCE)["true"] for c in BACKED + UNBACKED]
    probe = Probe.load(local_model.sha256)
    assert probe is not None
    probed = LocalJudge(local_model, probe=probe)
    after = [probed.scores(c, EVIDENCE) for c in BACKED + UNBACKED]
    assert all(set(a) == {"probe"} for a in after)
    hidden = probed.last_hidden
    width = 1536 * len(probe.layers) * len(probe.positions)
    assert hidden is not None and hidden.shape == (width,) and np.isfinite(hidden).all()
    # an exact repeat still gets a reading (its last token is evaluated alone, and
    # llama.cpp's one-token kernels round differently from batched ones: < 0.25)
    again = probed.scores(UNBACKED[-1], EVIDENCE)
    assert again["probe"] == pytest.approx(after[-1]["probe"], abs=0.25)
    # a cold reading (the whole prompt in one batch) agrees with the prefix-cached one
    local_model.tap(probe.layers).reset()
    cold = probed.scores(BACKED[0], EVIDENCE)
    assert cold["probe"] == pytest.approx(after[0]["probe"], abs=0.25)
    # the packaged probe scores a backed claim above its unbacked twin
    for b, u in zip(after[: len(BACKED)], after[len(BACKED):], strict=True):
        assert b["probe"] > u["probe"]
    # a tap on two layers reads both in one pass; its top layer agrees with the single tap
    from assistant.llm.layertap import LayerTap

    tokens = local_model.llama.tokenize(b"Lynas makes magnets in Malaysia.", add_bos=False)
    top = max(probe.layers)
    two = LayerTap(local_model.llama, (top - 4, top)).hidden(tokens)
    one = LayerTap(local_model.llama, (top,)).hidden(tokens)
    assert two.shape == (2 * one.size,) and np.isfinite(two).all()
    assert np.allclose(two[one.size:], one, atol=1e-3)
    assert not np.allclose(two[: one.size], one, atol=1e-1)
    # a reading at an earlier token too: the model is causal, so that reading is the last
    # token's of the prompt cut there (up to the rounding of another batch size); an exact
    # repeat re-evaluates from the earliest token read
    tap = LayerTap(local_model.llama, (top,))
    k = len(tokens) - 3
    both = tap.hidden(tokens, [k, len(tokens) - 1])
    assert both.shape == (2 * one.size,)
    assert np.allclose(both[one.size:], one, atol=1e-3)
    cut = LayerTap(local_model.llama, (top,)).hidden(tokens[: k + 1])
    assert np.abs(both[: one.size] - cut).max() < 0.05 * np.abs(cut).max()
    assert not np.allclose(both[: one.size], one, atol=1e-1)
    again_both = tap.hidden(tokens, [k, len(tokens) - 1])
    assert np.abs(again_both - both).max() < 0.05 * np.abs(both).max()
    # the judge's "claim_end" position is the claim's last token
    llama = local_model.llama
    prompt = probed._prompt(BACKED[0], EVIDENCE)
    ptoks = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    i = LocalJudge._token_index(llama, prompt, ptoks, "claim_end")
    upto = llama.detokenize(ptoks[: i + 1], special=True).decode()
    assert upto.rstrip("\n").endswith(BACKED[0]) and i < len(ptoks) - 5
    # the tap stops at its layer in its own context: the answer writer's context and the
    # Yes/No judge compute exactly what they did before
    # (up to llama.cpp's rounding, which depends on how the prompt splits into batches)
    yes_no_after = [plain.scores(c, EVIDENCE)["true"] for c in BACKED + UNBACKED]
    assert yes_no_after == pytest.approx(yes_no_before, abs=0.25)
    assert "".join(local_model.chat_stream(ask, max_tokens=6)) == text_before
