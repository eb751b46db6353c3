"""Send mentions to Label Studio as tasks: deduplicated, pre-annotated, ranked.

``import_mentions`` is the one entry point: file imports call it with the
champion as predictor, and a feedback import can call it with ``prefill`` (the
agent's labels as pre-annotations) and no predictor.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labeling.active_learning import DUP_THRESHOLD, rank, uncertainty
from labeling.client import LabelingError, describe_error, iter_tasks
from labeling.config import CONTEXT_FIELD, TEXT_FIELD
from labeling.language import detect
from labeling.normalize import text_hash
from labeling.sources import Mention
from model.base import Probas, model_input
from model.settings import Settings
from model.taxonomy import HEADS

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

BATCH = 250
BY_LABELS: dict[str, tuple[str, ...]] = {h.name: h.labels for h in HEADS}
Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called as batches complete."""


class Predictor:
    """What import needs from a model: a version string and per-head probabilities."""

    def __init__(self, model_version: str, runtime: Any) -> None:
        self.model_version = model_version
        self.runtime = runtime

    def predict_proba(self, texts: Sequence[str]) -> Probas:
        return self.runtime.predict_proba(list(texts))


def load_champion(settings: Settings) -> tuple[Predictor | None, str]:
    """The registry's champion, or None and the reason (import then goes on without)."""
    from model.loading import load_alias
    from model.settings import CHAMPION, configure_mlflow

    configure_mlflow(settings)
    name = settings.registered_model
    try:
        with warnings.catch_warnings():  # MLflow's advice to the model's author, not the user
            warnings.simplefilter("ignore", UserWarning)
            loaded = load_alias(name, CHAMPION)
    except Exception as exc:  # MlflowException, missing artefacts, unreadable store
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return None, f"no {CHAMPION} model {name!r} in the MLflow registry ({first})"
    version = f"{loaded.name}:v{loaded.version}:{loaded.family}"
    return Predictor(version, loaded.runtime), f"champion {version}"


@dataclass(frozen=True)
class Prefill:
    """Labels to show as a pre-annotation instead of the model's (e.g. an agent's)."""

    labels: dict[str, str]
    model_version: str
    score: float | None = None


@dataclass
class ImportReport:
    read: int = 0
    duplicates_in_file: int = 0
    already_in_project: int = 0
    near_duplicates: int = 0
    not_selected: int = 0
    imported: int = 0
    with_predictions: int = 0
    model_version: str | None = None
    task_ids: list[int] = field(default_factory=list)


def choices_result(labels: dict[str, str]) -> list[dict[str, Any]]:
    """Label Studio's result list for single-choice labels, in taxonomy order."""
    return [
        {
            "from_name": h.name,
            "to_name": TEXT_FIELD,
            "type": "choices",
            "value": {"choices": [labels[h.name]]},
        }
        for h in HEADS
        if labels.get(h.name) in h.labels
    ]


def existing_texts(ls: LabelStudio, project_id: int) -> dict[str, str]:
    """text hash -> text of every task already in the project."""
    out: dict[str, str] = {}
    for task in iter_tasks(ls, project_id, with_annotations=False):
        data = task.data or {}
        text = data.get(TEXT_FIELD)
        if isinstance(text, str):
            out[str(data.get("text_hash") or text_hash(text))] = text
    return out


def _predict(predictor: Predictor, pool: Sequence[Mention], progress: Progress | None) -> Probas:
    parts: list[Probas] = []
    for start in range(0, len(pool), 1000):
        chunk = pool[start : start + 1000]
        parts.append(predictor.predict_proba([model_input(m.text, m.context) for m in chunk]))
        if progress:
            progress("predict", min(start + 1000, len(pool)), len(pool))
    heads = parts[0].keys() if parts else []
    return {h: np.concatenate([p[h] for p in parts]) for h in heads}


def _fill_languages(pool: Sequence[Mention]) -> None:
    missing = [m for m in pool if not (m.lang and len(m.lang) == 2 and m.lang.isalpha())]
    for mention, lang in zip(missing, detect([m.text for m in missing]), strict=True):
        mention.lang = lang
    for mention in pool:
        mention.lang = (mention.lang or "").lower()


def import_mentions(
    ls: LabelStudio,
    project_id: int,
    mentions: Sequence[Mention],
    *,
    predictor: Predictor | None = None,
    prefill: Sequence[Prefill | None] | None = None,
    top_k: int | None = None,
    strategy: str = "margin",
    dup_threshold: float = DUP_THRESHOLD,
    skip_existing: bool = True,
    progress: Progress | None = None,
    url: str = "Label Studio",
) -> ImportReport:
    """Deduplicate against the file and the project, rank, attach pre-annotations, upload.

    A prefill (aligned with ``mentions``) wins over the model's prediction. Without
    a predictor, ranking keeps file order and only the near-duplicate guard applies.
    Tasks are sent in batches: if a batch fails, the ones before it stay in the
    project, and re-running the import skips them.
    """
    if prefill is not None and len(prefill) != len(mentions):
        raise ValueError("prefill must be aligned with mentions")
    report = ImportReport(read=len(mentions))
    known = existing_texts(ls, project_id) if skip_existing else {}
    pool: list[Mention] = []
    pool_prefill: list[Prefill | None] = []
    seen: set[str] = set()
    for i, mention in enumerate(mentions):
        key = text_hash(mention.text)
        if key in seen:
            report.duplicates_in_file += 1
        elif key in known:
            report.already_in_project += 1
        else:
            seen.add(key)
            pool.append(mention)
            pool_prefill.append(prefill[i] if prefill is not None else None)
    if not pool:
        return report
    scores: np.ndarray | None = None
    probas: Probas = {}
    if predictor is not None:
        probas = _predict(predictor, pool, progress)
        scores = uncertainty(probas, strategy)
        report.model_version = predictor.model_version
    ranking = rank(
        [m.text for m in pool],
        scores,
        top_k=top_k,
        existing=list(known.values()),
        threshold=dup_threshold,
    )
    report.near_duplicates = len(ranking.duplicate_of)
    report.not_selected = len(pool) - len(ranking.order) - report.near_duplicates
    selected = [pool[i] for i in ranking.order]
    _fill_languages(selected)
    batch_id = time.strftime("%Y%m%dT%H%M%S")
    tasks: list[dict[str, Any]] = []
    for position, idx in enumerate(ranking.order, start=1):
        mention = pool[idx]
        data: dict[str, Any] = {
            TEXT_FIELD: mention.text,
            CONTEXT_FIELD: mention.context or "",
            "lang": mention.lang,
            "origin": mention.origin,
            "text_hash": text_hash(mention.text),
            "import_batch": batch_id,
            "rank": position,
        }
        if mention.domain:
            data["domain"] = mention.domain
        if mention.source_id:
            data["source_id"] = mention.source_id
        predictions: list[dict[str, Any]] = []
        fill = pool_prefill[idx]
        if scores is not None:
            data["uncertainty"] = round(float(scores[idx]), 4)
        if fill is not None:
            predictions.append(_prediction(fill.labels, fill.model_version, fill.score))
        elif predictor is not None and scores is not None:
            labels = {h: BY_LABELS[h][int(np.argmax(p[idx]))] for h, p in probas.items()}
            predictions.append(
                _prediction(labels, predictor.model_version, 1.0 - float(scores[idx]))
            )
        task: dict[str, Any] = {"data": data}
        if predictions:
            task["predictions"] = predictions
        tasks.append(task)
    for start in range(0, len(tasks), BATCH):
        batch = tasks[start : start + BATCH]
        try:
            response = ls.projects.import_tasks(id=project_id, request=batch, return_task_ids=True)
        except Exception as exc:
            reason = describe_error(exc, url) or f"{type(exc).__name__}: {exc}"
            raise LabelingError(
                f"{reason}; {report.imported} of {len(tasks)} task(s) were imported before "
                "the failure: re-run the import to add the rest (imported ones are skipped)"
            ) from exc
        report.task_ids.extend(response.task_ids or [])
        report.imported += len(batch)
        report.with_predictions += sum(1 for t in batch if t.get("predictions"))
        if progress:
            progress("upload", report.imported, len(tasks))
    if predictor is not None and report.with_predictions:
        # The project's model_version picks which predictions pre-fill the editor and
        # drive "Uncertainty sampling" (lowest prediction score first).
        ls.projects.update(id=project_id, model_version=predictor.model_version)
    return report


def _prediction(labels: dict[str, str], model_version: str, score: float | None) -> dict:
    out: dict[str, Any] = {"model_version": model_version, "result": choices_result(labels)}
    if score is not None:
        out["score"] = round(score, 4)
    return out
