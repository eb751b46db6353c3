"""Registry policy: aliases for new versions and the promotion gate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from model.base import Probas
from model.dataset import Row
from model.loading import load_version
from model.real_labels import load_real
from model.settings import CHALLENGER, CHAMPION, Settings, configure_mlflow
from model.taxonomy import HEAD_NAMES, HEADS
from training.adapters import load_public, parse_names
from training.data import load_splits, split_rows
from training.families import texts_of


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def assign_new_version(name: str, version: str, family: str, metrics: dict[str, float]) -> str:
    """The first version becomes champion; every later one the challenger."""
    client = MlflowClient()
    client.set_model_version_tag(name, version, "family", family)
    for head in HEAD_NAMES:
        key = f"test.{head}.macro_f1"
        if key in metrics:
            client.set_model_version_tag(name, version, key, f"{metrics[key]:.4f}")
    alias = CHALLENGER if alias_version(client, name, CHAMPION) else CHAMPION
    client.set_registered_model_alias(name, alias, version)
    return alias


TOLERANCE = 0.02
"""Macro-F1 a challenger may lose beyond the bootstrap interval before the gate refuses it."""
BOOTSTRAP = 1000
SCOPES = ("all", "nl")


@dataclass
class HeadComparison:
    champion: float
    challenger: float
    low: float
    high: float
    """95 % paired-bootstrap interval of challenger - champion macro-F1."""
    n: int

    @property
    def delta(self) -> float:
        return self.challenger - self.champion


@dataclass
class Comparison:
    champion: str
    challenger: str
    scores: dict[tuple[str, str], HeadComparison]
    """(scope, head) -> comparison on the same rows; scope "all" or a language."""
    n_test: int
    sources: dict[str, int] | None = None
    tolerance: float = TOLERANCE

    @property
    def worse_heads(self) -> list[str]:
        """Heads (per scope) where the whole interval lies below -tolerance: worse beyond noise."""
        return [f"{head} ({scope})" for (scope, head), c in self.scores.items() if c.high < -self.tolerance]


class PromotionError(RuntimeError):
    pass


def _macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present in truth or prediction (as sklearn with labels=None)."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(k), where=present)
    return float(f1[present].mean()) if present.any() else 0.0


def paired_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, k: int, rounds: int = BOOTSTRAP,
                     seed: int = 0) -> HeadComparison:  # fmt: skip
    """Resample rows with replacement; both models are scored on the same resample each round."""
    rng = np.random.default_rng(seed)
    deltas = np.empty(rounds)
    for r in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        deltas[r] = _macro_f1(y[idx], b[idx], k) - _macro_f1(y[idx], a[idx], k)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return HeadComparison(_macro_f1(y, a, k), _macro_f1(y, b, k), float(low), float(high), len(y))


def gate_rows(settings: Settings, sources: list[Path]) -> list[Row]:
    """The union of the frozen test splits available: seed/versions, real, and public sets."""
    rows = load_splits(sources)["test"]
    rows += split_rows(load_real(settings.real_labels, settings.shared_datasets).rows)["test"]
    if settings.shared_datasets.is_dir():
        rows += split_rows(load_public(parse_names("all"), settings.shared_datasets))["test"]
    return rows


def compare_predictions(rows: list[Row], champion: Probas, challenger: Probas) -> dict:
    out: dict[tuple[str, str], HeadComparison] = {}
    langs = np.array([r.lang for r in rows])
    for head in HEADS:
        if head.name not in champion or head.name not in challenger:
            continue
        labelled = np.array([r.labels.get(head.name) is not None for r in rows], dtype=bool)
        y = np.array([head.index(r.labels[head.name]) if m else -1
                      for r, m in zip(rows, labelled, strict=True)])  # fmt: skip
        a, b = champion[head.name].argmax(axis=1), challenger[head.name].argmax(axis=1)
        for scope in SCOPES:
            mask = labelled & ((langs == scope) if scope != "all" else True)
            if mask.sum() >= 10:
                out[(scope, head.name)] = paired_bootstrap(y[mask], a[mask], b[mask], len(head.labels))
    return out


def compare(settings: Settings, sources: list[Path], tolerance: float = TOLERANCE) -> Comparison:
    """Score champion and challenger on the same rows, with paired bootstrap intervals."""
    configure_mlflow(settings)
    client = MlflowClient()
    name = settings.registered_model
    champ, chall = alias_version(client, name, CHAMPION), alias_version(client, name, CHALLENGER)
    if champ is None:
        raise PromotionError(f"no {CHAMPION} for {name}: train a model first")
    if chall is None:
        raise PromotionError(f"no {CHALLENGER} for {name}: train another model first")
    rows = gate_rows(settings, sources)
    texts = texts_of(rows)
    probas = [load_version(name, v).runtime.predict_proba(texts) for v in (champ, chall)]
    sources_n = dict(Counter(r.source for r in rows))
    return Comparison(champ, chall, compare_predictions(rows, *probas), len(rows), sources_n, tolerance)


def promote(settings: Settings, comparison: Comparison, *, force: bool = False) -> None:
    """Move champion to the challenger unless it is worse on any head (or forced)."""
    if comparison.worse_heads and not force:
        heads = ", ".join(comparison.worse_heads)
        raise PromotionError(
            f"challenger v{comparison.challenger} is worse than champion "
            f"v{comparison.champion} beyond noise (95 % interval below -{comparison.tolerance}) on: "
            f"{heads} (use --force to promote anyway)"
        )
    client = MlflowClient()
    name = settings.registered_model
    client.set_registered_model_alias(name, CHAMPION, comparison.challenger)
    client.delete_registered_model_alias(name, CHALLENGER)
