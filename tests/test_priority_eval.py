"""Priority evaluation: the documented triage figures on a small hand-made set, and the
threshold tuning that keeps P1 small while holding the urgent mentions."""

from __future__ import annotations

import numpy as np
import pytest

from model.dataset import Row
from model.priority import Policy
from training.priority_eval import figures, policy_figures, scores, tiers_from, tune


def _row(i: int, urgency: str, reply: str) -> Row:
    return Row(id=f"r{i}", text="t", lang="nl", source="real-orangebe", sample="random",
               labels={"intent": "complaint", "sentiment": "negative", "needs_reply": reply,
                       "urgency": urgency})  # fmt: skip


def test_figures_hand_computed() -> None:
    rows = [_row(0, "high", "yes"), _row(1, "high", "yes"), _row(2, "normal", "yes"),
            _row(3, "low", "no"), _row(4, "low", "no")]  # fmt: skip
    tiers = ["P1", "P3", "P1", "P4", "P2"]
    f = figures(rows, tiers)
    assert f["share.P1"] == pytest.approx(0.4) and f["share.P4"] == pytest.approx(0.2)
    assert f["high_recall.P1"] == pytest.approx(0.5)  # one of two urgent in P1
    assert f["high_recall.P1_P2"] == pytest.approx(0.5)
    assert f["precision.P1"] == pytest.approx(0.5)  # P1 holds one urgent, one normal
    assert f["no_reply_in_P4"] == pytest.approx(0.5)


def _probas(p_high: np.ndarray, p_reply: np.ndarray) -> dict[str, np.ndarray]:
    n = len(p_high)
    rest = (1 - p_high) / 2
    return {
        "intent": np.tile([1.0, 0, 0, 0, 0, 0], (n, 1)),
        "sentiment": np.tile([0.2, 0.7, 0.1], (n, 1)),
        "needs_reply": np.column_stack([p_reply, 1 - p_reply]),
        "urgency": np.column_stack([p_high, rest, rest]),
    }


def test_tuning_moves_p1_to_the_urgent_mentions() -> None:
    rng = np.random.default_rng(3)
    n = 400
    urgent = rng.uniform(size=n) < 0.15
    p_high = np.clip(np.where(urgent, rng.normal(0.8, 0.1, n), rng.normal(0.35, 0.15, n)), 0.01, 0.99)
    probas = _probas(p_high, np.full(n, 0.95))
    rows = [_row(i, "high" if u else "normal", "yes") for i, u in enumerate(urgent)]
    policy = Policy.load(None)
    tuned = tune(rows, probas, policy)
    assert tuned.meets_targets, tuned.validation
    assert tuned.validation["share.P1"] <= 0.20
    t = tuned.thresholds
    again = figures(rows, tiers_from(*scores(probas, policy), t["P1"], t["P2"], t["P3"]))
    assert again == pytest.approx(tuned.validation, nan_ok=True)
    assert set(policy_figures(rows, probas, policy)) == set(again)
