"""Claim checking: is a sentence backed by the passages? (see :mod:`.verifier`).

``Verifier(embedder, judge=None).check(claim, passages, cited=()) -> Verdict``. Submodules:
``numbers`` (number normalisation and comparison), ``evidence`` (sentence selection,
verbatim quotes, injection and doubt markers), ``judge`` (the LLM judge as three label
probabilities), ``decide`` (the one decision function), ``verifier`` (the facade).
"""

from assistant.verify.decide import Decision, Signals, Thresholds, decide
from assistant.verify.judge import ChatJudge, LocalJudge
from assistant.verify.verifier import Verifier

__all__ = ["Verifier", "LocalJudge", "ChatJudge", "Thresholds", "Signals", "Decision", "decide"]
