"""Temperature scaling: fitted on a synthetic over-confident model it lowers ECE, keeps the
arg-max, and a runtime loaded from an artefact with temperatures applies them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.calibration import (
    CalibratedModel,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
)


def overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True p(class 1) uniform; the 'model' reports those probabilities sharpened by T = 1/3."""
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.05, 0.95, size=n)
    y = (rng.uniform(size=n) < true_p).astype(int)
    honest = np.column_stack([1 - true_p, true_p])
    return apply_temperature(honest, 1 / 3), y


def test_temperature_fixes_overconfidence() -> None:
    p, y = overconfident()
    t = fit_temperature(p, y)
    assert 2.5 < t < 3.5  # undoes the sharpening
    calibrated = apply_temperature(p, t)
    before, after = expected_calibration_error(p, y), expected_calibration_error(calibrated, y)
    assert before > 0.1 and after < 0.03 and after < before / 3
    assert (calibrated.argmax(axis=1) == p.argmax(axis=1)).all()


def test_ece_hand_computed() -> None:
    # two bins used: conf 0.9 (2 rows, 1 correct) and 0.6 (2 rows, 2 correct)
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 0, 0, 1])
    assert abs(expected_calibration_error(p, y, bins=10) - (0.5 * 0.4 + 0.5 * 0.4)) < 1e-9


class _Fixed:
    def predict_proba(self, texts):  # noqa: ANN001, ANN201
        return {"needs_reply": np.tile([0.1, 0.9], (len(texts), 1)),
                "intent": np.tile([0.5, 0.5], (len(texts), 1))}  # fmt: skip


def test_calibrated_model_applies_only_its_heads() -> None:
    out = CalibratedModel(_Fixed(), {"needs_reply": 2.0}).predict_proba(["a"])
    assert abs(out["needs_reply"][0, 1] - 0.75) < 1e-6  # 0.9^(1/2) / (0.9^(1/2) + 0.1^(1/2))
    assert out["intent"][0, 0] == 0.5


def test_artefact_with_temperatures_loads_calibrated(tmp_path: Path) -> None:
    import joblib

    from model.runtime import load_runtime, update_meta

    (tmp_path / "meta.json").write_text(json.dumps({"runtime": "sklearn", "family": "baseline"}))
    joblib.dump(_Fixed(), tmp_path / "model.joblib")
    update_meta(tmp_path, "calibration", {"method": "temperature", "temperatures": {"needs_reply": 2.0}})
    runtime = load_runtime(tmp_path)
    assert isinstance(runtime, CalibratedModel)
    assert abs(runtime.predict_proba(["x"])["needs_reply"][0, 1] - 0.75) < 1e-6
