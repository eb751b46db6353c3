"""Model families the trainer knows: how to fit one and how to store it for the pyfunc."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from model.base import TriageModel
from model.baseline import BaselineModel, BaselineParams
from model.dataset import Row
from model.taxonomy import HEAD_NAMES
from training.artefact import labels_of, pins, texts_of, write_meta

__all__ = ["BaselineFamily", "Family", "get_family", "labels_of", "texts_of", "write_meta"]


class Family(Protocol):
    name: str

    def fit(self, train: Sequence[Row], validation: Sequence[Row]) -> TriageModel: ...

    def save(self, model: TriageModel, folder: Path) -> None: ...

    def params(self) -> dict[str, object]: ...

    def pip_requirements(self) -> list[str]: ...


def one_class_sources(rows: Sequence[Row]) -> dict[str, list[str]]:
    """Per head, the sources whose rows label it with one class only.

    A set that only ever says "complaint" (the complaints corpus: its negatives are
    exclusions, not labels) cannot teach the intent head what is *not* a complaint;
    fitted as plain labels it pulls every mention of its style towards that class.
    """
    seen: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        for head, value in row.labels.items():
            if value is not None:
                seen.setdefault((head, row.source), set()).add(value)
    out: dict[str, list[str]] = {}
    for (head, source), values in sorted(seen.items()):
        if len(values) == 1:
            out.setdefault(head, []).append(source)
    return out


def teachable_labels(rows: Sequence[Row]) -> dict[str, list[str | None]]:
    """Labels per head with one-class sources left out of the heads they cannot teach."""
    skip = one_class_sources(rows)
    return {
        h: [None if r.source in skip.get(h, ()) else r.labels.get(h) for r in rows] for h in HEAD_NAMES
    }


@dataclass
class BaselineFamily:
    name: str = "baseline"
    hyper: BaselineParams = field(default_factory=BaselineParams)

    def fit(self, train: Sequence[Row], validation: Sequence[Row]) -> TriageModel:
        return BaselineModel(self.hyper).fit(texts_of(train), teachable_labels(train))

    def save(self, model: TriageModel, folder: Path) -> None:
        import joblib

        write_meta(folder, "sklearn", self.name)
        joblib.dump(model, folder / "model.joblib")

    def params(self) -> dict[str, object]:
        return self.hyper.as_dict()

    def pip_requirements(self) -> list[str]:
        return pins("mlflow", "scikit-learn", "scipy", "numpy", "pandas", "joblib")


def get_family(name: str, **options: object) -> Family:
    if name == "baseline":
        if options:  # a silently ignored --layers or --epochs would mislead the comparison
            given = ", ".join("--" + k.replace("_", "-") for k in options)
            raise ValueError(f"{given}: transformer options; the baseline takes none (--model transformer)")
        return BaselineFamily()
    if name == "transformer":
        from training.transformer import TransformerFamily

        return TransformerFamily(**options)
    raise ValueError(f"unknown model family {name!r} (expected baseline or transformer)")
