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
    """Build the inference runtime stored in an artefact folder."""
    meta = json.loads((folder / META).read_text())
    kind = meta["runtime"]
    if kind == "sklearn":
        import joblib

        return joblib.load(folder / "model.joblib")
    if kind == "onnx":
        from model.onnx_runtime import OnnxTriageModel

        return OnnxTriageModel.load(folder)
    raise ValueError(f"{folder / META}: unknown runtime {kind!r}")
