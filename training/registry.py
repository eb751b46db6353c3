"""Registry policy: aliases for new versions and the promotion gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from model.loading import load_version
from model.real_labels import load_real
from model.settings import CHALLENGER, CHAMPION, Settings, configure_mlflow
from model.taxonomy import HEAD_NAMES
from training.data import load_splits, split_rows
from training.evaluate import head_metrics
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


@dataclass
class Comparison:
    champion: str
    challenger: str
    scores: dict[str, tuple[float, float]]
    """head -> (champion macro-F1, challenger macro-F1) on the same test rows."""
    n_test: int

    @property
    def worse_heads(self) -> list[str]:
        return [h for h, (a, b) in self.scores.items() if b < a]


class PromotionError(RuntimeError):
    pass


def compare(settings: Settings, sources: list[Path]) -> Comparison:
    """Score champion and challenger on the same current test split."""
    configure_mlflow(settings)
    client = MlflowClient()
    name = settings.registered_model
    champ, chall = alias_version(client, name, CHAMPION), alias_version(client, name, CHALLENGER)
    if champ is None:
        raise PromotionError(f"no {CHAMPION} for {name}: train a model first")
    if chall is None:
        raise PromotionError(f"no {CHALLENGER} for {name}: train another model first")
    real = load_real(settings.real_labels, settings.shared_datasets)
    test_rows = load_splits(sources)["test"] + split_rows(real.rows)["test"]
    texts = texts_of(test_rows)
    scores: dict[str, tuple[float, float]] = {}
    results = []
    for version in (champ, chall):
        runtime = load_version(name, version).runtime
        results.append(head_metrics(test_rows, runtime.predict_proba(texts)))
    for head in HEAD_NAMES:
        key = f"test.{head}.macro_f1"
        if key in results[0] and key in results[1]:
            scores[head] = (results[0][key], results[1][key])
    return Comparison(champ, chall, scores, len(test_rows))


def promote(settings: Settings, comparison: Comparison, *, force: bool = False) -> None:
    """Move champion to the challenger unless it is worse on any head (or forced)."""
    if comparison.worse_heads and not force:
        heads = ", ".join(comparison.worse_heads)
        raise PromotionError(
            f"challenger v{comparison.challenger} is worse than champion "
            f"v{comparison.champion} on: {heads} (use --force to promote anyway)"
        )
    client = MlflowClient()
    name = settings.registered_model
    client.set_registered_model_alias(name, CHAMPION, comparison.challenger)
    client.delete_registered_model_alias(name, CHALLENGER)
