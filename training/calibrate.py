"""Fit the served model's temperatures on validation rows and measure ECE before and after."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.base import Probas
from model.calibration import CALIBRATED_HEADS, expected_calibration_error, fit_temperature
from model.dataset import Row
from model.taxonomy import BY_NAME


def _labelled(rows: Sequence[Row], head: str) -> tuple[np.ndarray, np.ndarray]:
    idx = np.array([i for i, r in enumerate(rows) if r.labels.get(head) is not None], dtype=int)
    y = np.array([BY_NAME[head].index(rows[i].labels[head]) for i in idx], dtype=int)
    return idx, y


def fit_temperatures(rows: Sequence[Row], probas: Probas) -> dict[str, float]:
    """One temperature per calibrated head, from the validation rows that label it."""
    out: dict[str, float] = {}
    for head in CALIBRATED_HEADS:
        idx, y = _labelled(rows, head)
        if head in probas and len(idx) >= 20:
            out[head] = round(fit_temperature(probas[head][idx], y), 4)
    return out


def ece_metrics(rows: Sequence[Row], before: Probas, after: Probas, prefix: str) -> dict[str, float]:
    """``{prefix}.{head}.ece_before`` / ``ece_after`` for each calibrated head the rows label."""
    out: dict[str, float] = {}
    for head in CALIBRATED_HEADS:
        idx, y = _labelled(rows, head)
        if head in before and len(idx):
            out[f"{prefix}.{head}.ece_before"] = expected_calibration_error(before[head][idx], y)
            out[f"{prefix}.{head}.ece_after"] = expected_calibration_error(after[head][idx], y)
    return out
