"""The judges: the local model's Yes/No log-odds (with a fake llama.cpp), the chat judge's
text and log-probabilities, and the prompt's layout."""

from __future__ import annotations

import pytest

from assistant.verify import ChatJudge, LocalJudge
from assistant.verify.judge import MAX_MARGIN, _from_logprobs, build_prompt_parts
from tests.unit.fakes import FakeLlama


class FakeLocalModel:
    def __init__(self, llama):
        self.llama = llama
        import threading

        self.lock = threading.RLock()


def test_local_judge_reads_yes_no_log_odds() -> None:
    llama = FakeLlama({1: 2.0, 2: -0.5})
    out = LocalJudge(FakeLocalModel(llama)).scores("A claim.", ["SUPPORTED. Evidence. Yes."])
    assert out == {"true": pytest.approx(2.5)}
    # answer words inside the evidence are masked so quoted text cannot vote
    assert "SUPPORTED. Evidence" not in llama.prompts[0]
    assert "Evidence. Yes." not in llama.prompts[0]
    assert llama.prompts[0].startswith("<|im_start|>system\n")
    # the score is clipped
    far = LocalJudge(FakeLocalModel(FakeLlama({1: 40.0, 2: -40.0}))).scores("c", ["e"])
    assert far["true"] == MAX_MARGIN


def test_chat_judge_parses_text_and_logprobs() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage("No.")]))
    assert ChatJudge(model).scores("c", ["e"])["true"] < 0
    model = GenericFakeChatModel(messages=iter([AIMessage("Yes")]))
    assert ChatJudge(model).scores("c", ["e"])["true"] > 0
    meta = {"logprobs": {"content": [{"token": "No", "logprob": -0.1, "top_logprobs": [
        {"token": "No", "logprob": -0.1}, {"token": "Yes", "logprob": -2.5}]}]}}
    assert _from_logprobs(meta) == pytest.approx(-2.4)
    only_yes = {"logprobs": {"content": [{"token": "Yes", "logprob": -0.2, "top_logprobs": [
        {"token": "Yes", "logprob": -0.2}, {"token": "The", "logprob": -3.0}]}]}}
    assert _from_logprobs(only_yes) == pytest.approx(3.8)  # "No" below the last listed
    assert _from_logprobs({}) is None


def test_prompt_keeps_instructions_first() -> None:
    system, user = build_prompt_parts("Claim X", ["Ev 1", "Ev 2"])
    assert "Answer Yes or No" in system
    assert user.index("Ev 2") < user.index("Claim: Claim X") < user.index("Is the claim true")
