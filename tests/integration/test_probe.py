"""The layer tap on the real model: it must not change what the model computes, and the
packaged probe tells a backed claim from an unbacked one (tests/unit/test_probe.py has the
file format and the tie to the model)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.verify import LocalJudge
from assistant.verify.probe import Probe

pytestmark = pytest.mark.slow


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
