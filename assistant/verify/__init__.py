"""Claim checking: is a sentence backed by the passages? (see :mod:`.verifier`).

``Verifier(embedder, judge=None).check(claim, passages, cited=()) -> Verdict``. Submodules:
``numbers`` (number normalisation and comparison), ``evidence`` (sentence selection,
verbatim quotes, injection and doubt markers), ``features`` (structured comparisons of a
claim with its evidence), ``judge`` (the LLM judge's reading), ``scorer`` (the fitted,
calibrated 3-way scorer), ``verifier`` (the facade).
"""

from assistant.verify.judge import ChatJudge, LocalJudge
from assistant.verify.scorer import Prediction, Scorer
from assistant.verify.verifier import Verifier

__all__ = ["Verifier", "LocalJudge", "ChatJudge", "Scorer", "Prediction"]
