"""A linear probe on the judge model's hidden state: does the model take the claim as true?

``Probe.load(model.sha256)`` loads ``probe.json`` beside this module - a logistic regression on the
output of middle layers of the packaged Qwen2.5-Coder-1.5B (``layers``, read at the
prompt tokens named in ``positions`` - ``last``: the last token of the judge's Yes/No
prompt, ``claim_end``: the claim's last token - and concatenated), fitted by
``bench/verify.py --write-probe`` on training data only (SciFact train, VitaminC train,
HaluEval pairs the test sample never uses, CLIMATE-FEVER claims).
``probe.score(hidden)`` is its log-odds of "supported"; it is the judge's reading that the
fitted scorer (:mod:`assistant.verify.scorer`) takes in.

The standardisation is folded into the weights, so the file holds one weight per hidden
unit and a bias. It is tied to the model file by checksum: another model gets no probe.
Compromise: a file written with one ``"layer"`` or without ``"positions"`` (older formats:
the last token) still loads, so the loader keeps those two readings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Probe", "PROBE_PATH", "MAX_PROBE", "POSITIONS"]

PROBE_PATH = Path(__file__).with_name("probe.json")
MAX_PROBE = 12.0  # log-odds are clipped to +/- this
POSITIONS = ("last", "claim_end")  # the prompt tokens a probe can read at


@dataclass(frozen=True)
class Probe:
    layers: tuple[int, ...]  # read at each of ``positions``, concatenated in this order
    weights: np.ndarray  # float32, one per hidden unit (standardisation folded in)
    bias: float
    model_sha256: str
    meta: dict[str, Any]
    positions: tuple[str, ...] = ("last",)  # per position, the layers one after the other

    def score(self, hidden: np.ndarray) -> float:
        """Log-odds that the claim is supported, clipped to +/-``MAX_PROBE``."""
        if hidden.shape != self.weights.shape:
            raise ValueError(f"hidden state of shape {hidden.shape}, probe {self.weights.shape}")
        x = float(np.dot(self.weights, hidden.astype(np.float32))) + self.bias
        return max(-MAX_PROBE, min(MAX_PROBE, x))

    def to_json(self) -> dict[str, Any]:
        return {
            "model_sha256": self.model_sha256,
            "layers": list(self.layers),
            "positions": list(self.positions),
            "bias": round(self.bias, 6),
            "weights": [float(f"{w:.5g}") for w in self.weights.tolist()],
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        w = np.asarray(data["weights"], dtype=np.float32)
        if w.ndim != 1 or not np.isfinite(w).all() or not w.size:
            raise ValueError("probe weights must be a non-empty finite vector")
        layers = data["layers"] if "layers" in data else [data["layer"]]
        if not isinstance(layers, list) or not layers:
            raise ValueError("probe layers must be a non-empty list")
        positions = data.get("positions", ["last"])
        if not isinstance(positions, list) or not positions or not set(positions) <= set(
            POSITIONS
        ):
            raise ValueError(f"probe positions must be a non-empty list of {POSITIONS}")
        return cls(
            layers=tuple(int(la) for la in layers), weights=w, bias=float(data["bias"]),
            model_sha256=str(data["model_sha256"]), meta=dict(data.get("meta", {})),
            positions=tuple(str(p) for p in positions),
        )

    @classmethod
    def load(cls, model_sha256: str | None, path: Path = PROBE_PATH) -> Probe | None:
        """The probe in ``path`` if it was fitted for the model file with this checksum;
        None when the model is unknown (a custom ``model_path``), the file is absent,
        unreadable, or fitted for another model."""
        if model_sha256 is None:
            return None
        try:
            probe = cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring the judge probe %s: %s", path, exc)
            return None
        if probe.model_sha256 != model_sha256:
            logger.info("the judge probe was fitted for another model file; not used")
            return None
        return probe
