"""Fit a model family, evaluate it on held-out data and log everything to MLflow."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.base import Probas, TriageModel, model_input
from model.calibration import CalibratedModel, apply_temperature
from model.dataset import Row, fingerprint, load_dataset
from model.dataset_versions import mlflow_params
from model.pyfunc import TriagePyfunc, probas_frame
from model.real_labels import RealRows, file_sha256, load_real, read_labels
from model.reply_history import CENSOR_HOURS, for_training, load_replied
from model.runtime import update_meta
from model.settings import EXPERIMENT, Settings, configure_mlflow
from training.adapters import dataset_version, load_public, parse_names
from training.calibrate import ece_metrics, fit_temperatures
from training.data import split_rows
from training.evaluate import complaint_metrics, confusion_images, head_metrics
from training.families import Family, texts_of
from training.priority_eval import figures, policy_figures, scores, tiers_from, tune
from training.registry import assign_new_version

MIN_REAL_CALIBRATION = 200
"""Real validation rows needed before calibration is fitted on them alone."""


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    alias: str | None
    metrics: dict[str, float]
    model: TriageModel | None = None
    """The calibrated runtime that was logged (what the registry serves)."""


def _counts(rows: Sequence[Row]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, n in Counter(r.lang for r in rows).items():
        out[f"lang.{key}"] = n
    for key, n in Counter(r.source for r in rows).items():
        out[f"source.{key}"] = n
    return out


def source_metrics(rows: Sequence[Row], probas: Probas, prefix: str = "test") -> dict[str, float]:
    """Per-head (and complaint-vs-not) metrics for each Row.source, e.g.
    ``test.source.airline.sentiment.macro_f1``: one pooled figure hides a set that got worse."""
    out: dict[str, float] = {}
    sources = np.array([r.source for r in rows])
    for source in sorted(set(sources)):
        idx = np.flatnonzero(sources == source)
        sub_rows = [rows[i] for i in idx]
        sub = {head: p[idx] for head, p in probas.items()}
        key = f"{prefix}.source.{source}"
        out.update(head_metrics(sub_rows, sub, prefix=key))
        out.update(complaint_metrics(sub_rows, sub, prefix=key))
    return out


def real_metrics(rows: Sequence[Row], probas: Probas, prefix: str = "test") -> dict[str, float]:
    """Head metrics on the real rows drawn at random (``test.real.intent.lang.nl.macro_f1``):
    the figure that estimates quality on a team's traffic, rare-fill rows left out."""
    idx = [i for i, r in enumerate(rows) if r.source.startswith("real-") and r.sample == "random"]
    if not idx:
        return {}
    sub = {head: p[idx] for head, p in probas.items()}
    return head_metrics([rows[i] for i in idx], sub, prefix=f"{prefix}.real")


def _real_random(rows: Sequence[Row]) -> list[int]:
    return [i for i, r in enumerate(rows) if r.source.startswith("real-") and r.sample == "random"]


def priority_metrics(
    val_rows: Sequence[Row], val_probas: Probas | None, test_rows: Sequence[Row], test_probas: Probas,
    log: callable = print,
) -> dict[str, float]:
    """The shipped policy's triage figures on the real test rows, and tier thresholds tuned
    on the real validation rows (printed as a suggestion, logged as ``*.priority.tuned.*``)."""
    from model.priority import Policy

    policy = Policy.load(None)
    out: dict[str, float] = {}
    test_idx = _real_random(test_rows)
    if not test_idx:
        return out
    sub = {h: p[test_idx] for h, p in test_probas.items()}
    test_sub = [test_rows[i] for i in test_idx]
    out.update({f"test.real.priority.{k}": v for k, v in policy_figures(test_sub, sub, policy).items()})
    val_idx = _real_random(val_rows) if val_probas is not None else []
    if val_idx:
        tuned = tune([val_rows[i] for i in val_idx], {h: p[val_idx] for h, p in val_probas.items()}, policy)
        t = tuned.thresholds
        on_test = figures(test_sub, tiers_from(*scores(sub, policy), t["P1"], t["P2"], t["P3"]))
        out.update({f"validation.real.priority.tuned.{k}": v for k, v in tuned.validation.items()})
        out.update({f"test.real.priority.tuned.{k}": v for k, v in on_test.items()})
        out.update({f"priority.tuned.{k}.min_score": v for k, v in t.items()})
        log(f"priority on real test ({policy.version}): P1 {out['test.real.priority.share.P1']:.1%}, "
            f"urgent in P1+P2 {out['test.real.priority.high_recall.P1_P2']:.1%}, "
            f"P1 precision {out['test.real.priority.precision.P1']:.1%}; thresholds tuned on real "
            f"validation P1>={t['P1']:.0f} P2>={t['P2']:.0f} give on test: P1 {on_test['share.P1']:.1%}, "
            f"urgent in P1+P2 {on_test['high_recall.P1_P2']:.1%}, P1 precision {on_test['precision.P1']:.1%}")
    return out


def load_real_rows(settings: Settings, log: callable = print) -> RealRows:
    """The real labelled mentions, or none with the reason printed (never silently)."""
    real = load_real(settings.real_labels, settings.shared_datasets)
    log(real.summary())
    return real


def replied_rows(
    names: Sequence[str], settings: Settings, parts: dict[str, list[Row]], *,
    censor_hours: float = CENSOR_HOURS, log: callable = print,
) -> list[Row]:
    """Weak needs_reply rows from reply histories (model.reply_history), for TRAINING only.

    They never join validation or test (so no metric, calibration or gate row is weak), and
    turns the team labelled or that share a text with a held-out row are left out; the held-out
    set includes the real validation/test rows even under ``--no-real``, because the gate
    judges on them."""
    histories = load_replied(names, settings.shared_datasets, censor_hours=censor_hours)
    for history in histories:
        log(history.summary())
    held_out = [*parts["validation"], *parts["test"]]
    labelled: set[str] = set()
    if settings.real_labels.is_file():
        labelled = {label.key for label in read_labels(settings.real_labels)}
        real = split_rows(load_real(settings.real_labels, settings.shared_datasets).rows)
        held_out += [*real["validation"], *real["test"]]
    rows, dropped = for_training(histories, held_out, labelled)
    log(f"replied: {len(rows)} weak needs_reply rows added to training only ({dropped} left out: "
        "labelled by the team or sharing a text with a validation/test row)")
    return rows


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
    public: Sequence[str] | str = (),
    real: bool = True,
    replied: Sequence[str] = (),
    censor_hours: float = CENSOR_HOURS,
) -> TrainResult:
    """``public`` names sets from training.adapters (e.g. ``["airline", "complaints"]``)
    whose rows are added to every split, read from ``settings.shared_datasets``; ``real``
    adds the team's labelled real mentions (``settings.real_labels``) when they load;
    ``replied`` (``orangebe``, ``twcs`` or history CSV paths) adds weak needs_reply rows
    from what the team answered to the training split only (see :func:`replied_rows`)."""
    import mlflow
    from mlflow.models import infer_signature

    configure_mlflow(settings)
    public_names = parse_names(public)
    public_rows = load_public(public_names, settings.shared_datasets)
    versions = {n: dataset_version(n, settings.shared_datasets) for n in public_names}
    real_rows = load_real_rows(settings, log) if real else RealRows(skipped="disabled (--no-real)")
    parts = split_rows(load_dataset(sources) + public_rows + real_rows.rows)
    weak_rows = replied_rows(replied, settings, parts, censor_hours=censor_hours, log=log) if replied else []
    parts["train"] += weak_rows
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
        if public_names:
            mlflow.log_params(
                {"data.public": ",".join(public_names)}
                | {f"data.public.{n}.sha256": v for n, v in versions.items()}
            )
        mlflow.log_dict(
            {
                "fingerprint": fingerprint(sources),
                "sources": [str(s) for s in sources],
                "public": {
                    n: {"sha256": v, "rows": sum(r.source == n for r in public_rows)}
                    for n, v in versions.items()
                },
                "split_counts": {
                    split: dict(Counter(r.source for r in rows)) for split, rows in parts.items()
                },
            },
            "data_versions.json",
        )
        if real_rows.rows:
            mlflow.log_params(
                {
                    "data.real.sha256": file_sha256(settings.real_labels),
                    "data.real.rows": len(real_rows.rows),
                    "data.real.missing_ids": real_rows.missing_ids,
                }
            )
            mlflow.log_metrics({f"data.real.{k}": v for k, v in _counts(real_rows.rows).items()})
        else:
            mlflow.set_tag("data.real.skipped", real_rows.skipped or "")
        if replied:
            mlflow.log_params({"data.replied": ",".join(replied), "data.replied.rows": len(weak_rows),
                               "data.replied.censor_hours": censor_hours})  # fmt: skip
        mlflow.log_params(mlflow_params(sources))  # exported versions and their sha256
        mlflow.log_metrics({f"data.train.{k}": v for k, v in _counts(train_rows).items()})
        log(f"training {family.name} on {len(train_rows)} rows ({len(val_rows)} validation)")
        started = time.perf_counter()
        raw_model = family.fit(train_rows, val_rows)
        train_seconds = time.perf_counter() - started
        metrics: dict[str, float] = {"train_seconds": train_seconds}
        temperatures: dict[str, float] = {}
        if val_rows:
            raw_val = raw_model.predict_proba(texts_of(val_rows))
            # calibrate to the traffic the model serves: the real validation rows when there
            # are enough of them, else every validation row
            real_val = _real_random(val_rows)
            cal_idx = real_val if len(real_val) >= MIN_REAL_CALIBRATION else list(range(len(val_rows)))
            temperatures = fit_temperatures([val_rows[i] for i in cal_idx],
                                            {h: p[cal_idx] for h, p in raw_val.items()})  # fmt: skip
            val_probas = {h: apply_temperature(p, temperatures[h]) if h in temperatures else p
                          for h, p in raw_val.items()}  # fmt: skip
            metrics.update(head_metrics(val_rows, val_probas, prefix="validation"))
        model = CalibratedModel(raw_model, temperatures) if temperatures else raw_model
        raw_test = raw_model.predict_proba(texts_of(test_rows))
        test_probas = {h: apply_temperature(p, temperatures[h]) if h in temperatures else p
                       for h, p in raw_test.items()}  # fmt: skip
        real_test = [i for i, r in enumerate(test_rows) if r.source.startswith("real-")]
        if real_test:
            sub = [test_rows[i] for i in real_test]
            metrics.update(ece_metrics(sub, {h: p[real_test] for h, p in raw_test.items()},
                                       {h: p[real_test] for h, p in test_probas.items()},
                                       prefix="test.real"))  # fmt: skip
        metrics.update({f"calibration.{h}.temperature": t for h, t in temperatures.items()})
        metrics.update(priority_metrics(val_rows, val_probas if val_rows else None, test_rows,
                                        test_probas, log))  # fmt: skip
        metrics.update(head_metrics(test_rows, test_probas, prefix="test"))
        metrics.update(source_metrics(test_rows, test_probas, prefix="test"))
        metrics.update(real_metrics(test_rows, test_probas, prefix="test"))
        if val_rows:
            metrics.update(real_metrics(val_rows, val_probas, prefix="validation"))
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            for image in confusion_images(test_rows, test_probas, Path(tmp) / "img"):
                mlflow.log_artifact(str(image), artifact_path="confusion")
            folder = Path(tmp) / "artefact"
            family.save(raw_model, folder)
            if temperatures:
                update_meta(folder, "calibration", {"method": "temperature", "temperatures": temperatures})
            if "priority.tuned.P1.min_score" in metrics:
                tuned = {t: metrics[f"priority.tuned.{t}.min_score"] for t in ("P1", "P2", "P3")}
                update_meta(folder, "priority", {"min_score": tuned, "fitted_on": "real validation rows"})
            # the input example is stored with the model: team-written seed text only
            seed_texts = [model_input(r.text) for r in test_rows + train_rows if r.source == "seed"][:2]
            example = pd.DataFrame({"text": seed_texts or ["Is er een storing?", "Thanks!"]})
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
        return TrainResult(run.info.run_id, version, alias, metrics, model)
