"""The MLflow pyfunc that wraps every model family.

The registered artefact is a folder with ``meta.json`` naming the runtime
(``sklearn`` or ``onnx``); the wrapper itself holds no heavy state, so MLflow
can pickle it, and the runtime is built in ``load_context``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from model.base import Probas, TriageModel
from model.base import model_input as mask_input
from model.runtime import load_runtime
from model.taxonomy import HEADS


def probas_frame(probas: Probas) -> pd.DataFrame:
    """One column per head (arg-max label) and one per head/label probability."""
    cols: dict[str, Any] = {}
    for h in HEADS:
        if h.name not in probas:
            continue
        p = probas[h.name]
        cols[h.name] = [h.labels[i] for i in p.argmax(axis=1)]
        for j, label in enumerate(h.labels):
            cols[f"{h.name}.{label}"] = p[:, j].astype(np.float64)
    return pd.DataFrame(cols)


def texts_from_input(model_input: Any) -> list[str]:
    """Accept a DataFrame with a ``text`` (and optional ``context``) column, a list of strings or
    one string; built into model inputs exactly as the API builds them (personal data masked)."""
    if isinstance(model_input, pd.DataFrame):
        if "text" not in model_input.columns:
            raise ValueError("input DataFrame needs a 'text' column")
        if "context" in model_input.columns:
            contexts = model_input["context"].where(model_input["context"].notna(), None)
            return [mask_input(t, c) for t, c in zip(model_input["text"].astype(str), contexts, strict=True)]
        return [mask_input(t) for t in model_input["text"].astype(str)]
    if isinstance(model_input, str):
        return [mask_input(model_input)]
    if isinstance(model_input, dict) and "text" in model_input:
        value = model_input["text"]
        return [mask_input(v) for v in ([value] if isinstance(value, str) else list(value))]
    return [mask_input(str(t)) for t in model_input]


class TriagePyfunc(mlflow.pyfunc.PythonModel):
    runtime: TriageModel | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.runtime = load_runtime(Path(context.artifacts["model"]))

    def __getstate__(self) -> dict:
        return {}

    # model_input is left unannotated on purpose: MLflow would try to derive a schema from it
    def predict(self, context: Any, model_input, params: dict | None = None) -> pd.DataFrame:  # noqa: ANN001
        assert self.runtime is not None, "load_context was not called"
        return probas_frame(self.runtime.predict_proba(texts_from_input(model_input)))
