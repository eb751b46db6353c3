"""Temperature scaling for the heads whose probabilities the policy consumes.

The priority score multiplies p(needs_reply) by the urgency probabilities and
the needs_reply threshold is a probability, so those numbers must mean what
they say. One temperature per head, fitted on validation rows, keeps each
head's arg-max label and fixes over- or under-confidence (Guo et al., 2017).
The temperatures live in the artefact's ``meta.json`` and every runtime loaded
from it applies them, so the API, the pyfunc and evaluation see the same
probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.base import Probas, TriageModel

CALIBRATED_HEADS: tuple[str, ...] = ("needs_reply", "urgency")
ECE_BINS = 15
_EPS = 1e-7


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): T > 1 softens over-confident probabilities, T < 1 sharpens."""
    logits = np.log(np.clip(p, _EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of labels ``y`` (class indices)."""
    from scipy.optimize import minimize_scalar

    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        q = apply_temperature(p, float(np.exp(log_t)))
        return float(-np.log(np.clip(q[np.arange(len(y)), y], _EPS, 1.0)).mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: |accuracy - confidence| per equal-width confidence bin, weighted by size."""
    if len(y) == 0:
        return float("nan")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


@dataclass
class CalibratedModel:
    """A runtime with per-head temperatures applied to its probabilities."""

    runtime: TriageModel
    temperatures: Mapping[str, float]

    def predict_proba(self, texts: Sequence[str]) -> Probas:
        probas = self.runtime.predict_proba(texts)
        return {
            head: apply_temperature(p, self.temperatures[head]) if head in self.temperatures else p
            for head, p in probas.items()
        }

    def __getattr__(self, name: str):  # noqa: ANN204 - expose the wrapped runtime's extras
        if name in ("runtime", "temperatures"):
            raise AttributeError(name)
        return getattr(self.runtime, name)
