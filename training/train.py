"""Fit a model family, evaluate it on held-out data and log everything to MLflow."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from model.dataset import Row, fingerprint
from model.pyfunc import TriagePyfunc, probas_frame
from model.settings import EXPERIMENT, Settings, configure_mlflow
from training.data import load_splits
from training.evaluate import confusion_images, head_metrics
from training.families import Family, texts_of
from training.registry import assign_new_version


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    alias: str | None
    metrics: dict[str, float]


def _counts(rows: Sequence[Row]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, n in Counter(r.lang for r in rows).items():
        out[f"lang.{key}"] = n
    for key, n in Counter(r.source for r in rows).items():
        out[f"source.{key}"] = n
    return out


def ensure_experiment(settings: Settings) -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    location = None
    if settings.resolved_tracking_uri().startswith("sqlite:"):
        location = settings.artifact_root()
    return mlflow.create_experiment(EXPERIMENT, artifact_location=location)


def train(
    family: Family,
    sources: Sequence[Path],
    settings: Settings,
    *,
    register: bool = True,
    log: callable = print,
) -> TrainResult:
    import mlflow
    from mlflow.models import infer_signature

    configure_mlflow(settings)
    parts = load_splits(sources)
    train_rows, val_rows, test_rows = parts["train"], parts["validation"], parts["test"]
    if not train_rows or not test_rows:
        raise ValueError("not enough data: need rows in both the train and test split")
    experiment_id = ensure_experiment(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{family.name}") as run:
        mlflow.set_tags({"family": family.name, "sources": ",".join(str(s) for s in sources)})
        mlflow.log_params(family.params())
        mlflow.log_params(
            {
                "data.fingerprint": fingerprint(sources),
                "data.sources": ",".join(Path(s).name for s in sources),
                "data.train": len(train_rows),
                "data.validation": len(val_rows),
                "data.test": len(test_rows),
            }
        )
        mlflow.log_metrics({f"data.train.{k}": v for k, v in _counts(train_rows).items()})
        log(f"training {family.name} on {len(train_rows)} rows ({len(val_rows)} validation)")
        started = time.perf_counter()
        model = family.fit(train_rows, val_rows)
        train_seconds = time.perf_counter() - started
        metrics: dict[str, float] = {"train_seconds": train_seconds}
        for name, rows in (("validation", val_rows), ("test", test_rows)):
            if rows:
                probas = model.predict_proba(texts_of(rows))
                metrics.update(head_metrics(rows, probas, prefix=name))
        test_probas = model.predict_proba(texts_of(test_rows))
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            for image in confusion_images(test_rows, test_probas, Path(tmp) / "img"):
                mlflow.log_artifact(str(image), artifact_path="confusion")
            folder = Path(tmp) / "artefact"
            family.save(model, folder)
            example = pd.DataFrame({"text": [r.text for r in test_rows[:2]]})
            signature = infer_signature(example, probas_frame(model.predict_proba(example["text"])))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=TriagePyfunc(),
                artifacts={"model": str(folder)},
                pip_requirements=family.pip_requirements(),
                signature=signature,
                input_example=example,
                registered_model_name=settings.registered_model if register else None,
            )
        version = str(info.registered_model_version) if register else None
        alias = None
        if version is not None:
            alias = assign_new_version(settings.registered_model, version, family.name, metrics)
        return TrainResult(run.info.run_id, version, alias, metrics)
