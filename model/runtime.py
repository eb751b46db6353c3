"""Build an inference runtime from an artefact folder, without importing MLflow.

The folder's ``meta.json`` names the runtime (``sklearn`` or ``onnx``); the API
loads runtimes through here so that it can start from a local copy at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.base import TriageModel

META = "meta.json"


def load_runtime(folder: Path) -> TriageModel:
    """Build the inference runtime stored in an artefact folder, with its calibration."""
    meta = json.loads((folder / META).read_text())
    runtime = _load_raw(folder, meta)
    temperatures = meta.get("calibration", {}).get("temperatures")
    if temperatures:
        from model.calibration import CalibratedModel

        return CalibratedModel(runtime, {k: float(v) for k, v in temperatures.items()})
    return runtime


def update_meta(folder: Path, key: str, value: object) -> None:
    """Record what training fitted beside the model (calibration, tier thresholds) in meta.json."""
    path = folder / META
    meta = json.loads(path.read_text())
    meta[key] = value
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(path)


def tier_thresholds(folder: Path) -> dict[str, float] | None:
    """Tier min_scores tuned for this model on real validation rows, if training fitted them."""
    fitted = json.loads((folder / META).read_text()).get("priority", {}).get("min_score")
    return {k: float(v) for k, v in fitted.items()} if fitted else None


def _load_raw(folder: Path, meta: dict) -> TriageModel:
    kind = meta["runtime"]
    if kind == "sklearn":
        import joblib

        return joblib.load(folder / "model.joblib")
    if kind == "onnx":
        from model.onnx_runtime import OnnxTriageModel

        return OnnxTriageModel.load(folder)
    raise ValueError(f"{folder / META}: unknown runtime {kind!r}")
