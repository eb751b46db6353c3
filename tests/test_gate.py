"""The promotion gate's statistics: paired bootstrap intervals per head, overall and Dutch."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from model.dataset import Row
from model.taxonomy import HEADS
from training.registry import Comparison, _macro_f1, compare_predictions


def _rows(n: int, rng: np.random.Generator) -> tuple[list[Row], dict[str, np.ndarray]]:
    rows, truth = [], {h.name: rng.integers(0, len(h.labels), n) for h in HEADS}
    for i in range(n):
        labels = {h.name: h.labels[truth[h.name][i]] for h in HEADS}
        rows.append(Row(id=str(i), text="t", lang="nl" if i % 2 else "en", labels=labels))
    return rows, truth


K = {h.name: len(h.labels) for h in HEADS}


def _onehot(pred: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {h.name: np.eye(len(h.labels))[pred[h.name]] for h in HEADS}


def test_macro_f1_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 4, 300)
    assert abs(_macro_f1(y, p, 6) - f1_score(y, p, average="macro")) < 1e-12


def test_identical_challenger_passes_and_worse_on_dutch_is_refused() -> None:
    rng = np.random.default_rng(0)
    rows, truth = _rows(600, rng)
    good = {k: np.where(rng.uniform(size=600) < 0.8, v, rng.integers(0, K[k], 600)) for k, v in truth.items()}
    same = compare_predictions(rows, _onehot(good), _onehot(good))
    assert Comparison("1", "2", same, len(rows)).worse_heads == []
    assert all(c.low == 0 and c.high == 0 for c in same.values())
    # challenger: same on English rows, random on Dutch rows
    dutch = np.array([r.lang == "nl" for r in rows])
    worse = {k: np.where(dutch, rng.integers(0, K[k], 600), v) for k, v in good.items()}
    cmp = Comparison("1", "2", compare_predictions(rows, _onehot(good), _onehot(worse)), len(rows))
    assert "intent (nl)" in cmp.worse_heads and "sentiment (nl)" in cmp.worse_heads
    assert cmp.scores[("nl", "intent")].high < 0 < cmp.scores[("nl", "intent")].champion
    # a small, noisy difference is tolerated
    noisy = {k: np.where(rng.uniform(size=600) < 0.02, rng.integers(0, K[k], 600), v)
             for k, v in good.items()}  # fmt: skip
    cmp = Comparison("1", "2", compare_predictions(rows, _onehot(good), _onehot(noisy)), len(rows))
    assert cmp.worse_heads == []
