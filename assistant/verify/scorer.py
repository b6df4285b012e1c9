"""The one calibrated 3-way scorer: claim features -> P(supported, contradicted, unsupported).

``Scorer.load()`` reads ``scorer.json`` beside this module: two multinomial logistic
regressions over the features of :mod:`assistant.verify.features` - ``cheap`` (no LLM, the
extractive backend) and ``judge`` (the cheap features plus the judge's reading) - fitted
by ``bench/fit_scorer.py`` on claim pairs generated from the news corpus
(``bench/pairs.py``, split by article), with a temperature fitted on the validation
split so that ``confidence`` is a calibrated probability. The file records the data
hashes, the commit and the llama.cpp build it was fitted with.

``scorer.predict(values, judge=True) -> Prediction(label, probs)``; the label is the
most probable one. With the judge, P(supported) comes from the judge model and the cheap
model splits the rest between contradicted and unsupported (:func:`split_by_judge`; on
validation this lifts contradicted recall and macro-F1 over the judge model's own three
probabilities: figures in the fit script's output). A missing feature reads 0.

Compromise: a judge other than the packaged model's probe (the OpenAI-compatible backend's
Yes/No log-odds) is read through the same weight, fitted on the probe's scale.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Scorer", "LinearModel", "Prediction", "SCORER_PATH", "LABELS", "split_by_judge"]

SCORER_PATH = Path(__file__).with_name("scorer.json")
LABELS = ("supported", "contradicted", "unsupported")


@dataclass(frozen=True)
class Prediction:
    label: str
    probs: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.probs[self.label]


@dataclass(frozen=True)
class LinearModel:
    """Standardised features -> softmax over :data:`LABELS` (divided by ``temperature``)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    temperature: float = 1.0

    def vector(self, values: dict[str, float]) -> np.ndarray:
        x = np.array([float(values.get(f, 0.0)) for f in self.features], dtype=np.float64)
        return (x - self.mean) / self.scale

    def logits(self, values: dict[str, float]) -> np.ndarray:
        return (self.coef @ self.vector(values) + self.intercept) / self.temperature

    def proba(self, values: dict[str, float]) -> np.ndarray:
        z = self.logits(values)
        z = np.exp(z - z.max())
        return np.asarray(z / z.sum())

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(float(x), 6) for x in self.mean],
            "scale": [round(float(x), 6) for x in self.scale],
            "coef": [[round(float(x), 6) for x in row] for row in self.coef],
            "intercept": [round(float(x), 6) for x in self.intercept],
            "temperature": round(float(self.temperature), 4),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        feats = tuple(str(f) for f in data["features"])
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        coef = np.asarray(data["coef"], dtype=np.float64)
        intercept = np.asarray(data["intercept"], dtype=np.float64)
        n = len(feats)
        if mean.shape != (n,) or scale.shape != (n,) or coef.shape != (len(LABELS), n):
            raise ValueError("scorer weights do not match its feature list")
        if intercept.shape != (len(LABELS),) or not np.all(scale > 0):
            raise ValueError("scorer intercepts or scales are malformed")
        return cls(feats, mean, scale, coef, intercept, float(data.get("temperature", 1.0)))


def split_by_judge(with_judge: np.ndarray, cheap: np.ndarray) -> np.ndarray:
    """P(supported) from the model that reads the judge; the rest split between
    contradicted and unsupported as the cheap model splits it. The judge reads "is the
    claim true?", which tells supported from not, not a contradiction from a detail the
    sources lack; the structured comparisons tell those apart, and the cheap model learns
    them from every training pair rather than the few the judge read."""
    p_s = float(with_judge[0])
    rest = float(cheap[1] + cheap[2])
    share = float(cheap[1]) / rest if rest > 0 else 0.5
    return np.array([p_s, (1.0 - p_s) * share, (1.0 - p_s) * (1.0 - share)])


@dataclass(frozen=True)
class Scorer:
    cheap: LinearModel
    judge: LinearModel | None
    meta: dict[str, Any]

    def predict(self, values: dict[str, float], judge: bool = False) -> Prediction:
        p = self.cheap.proba(values)
        if judge and self.judge is not None:
            p = split_by_judge(self.judge.proba(values), p)
        probs = {lab: float(p[i]) for i, lab in enumerate(LABELS)}
        return Prediction(max(probs, key=lambda k: probs[k]), probs)

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": list(LABELS),
            "cheap": self.cheap.to_json(),
            "judge": self.judge.to_json() if self.judge is not None else None,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scorer:
        if tuple(data.get("labels", ())) != LABELS:
            raise ValueError(f"scorer labels must be {LABELS}")
        judge = LinearModel.from_json(data["judge"]) if data.get("judge") else None
        return cls(LinearModel.from_json(data["cheap"]), judge, dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: Path = SCORER_PATH) -> Scorer:
        """The packaged scorer; ``ValueError`` / ``OSError`` when it is missing or malformed
        (the verifier cannot work without it)."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
