"""Send mentions to Label Studio as tasks: deduplicated, pre-annotated, ranked.

``import_mentions`` is the one entry point: file imports call it with the
champion as predictor, and a feedback import can call it with ``prefill`` (the
agent's labels as pre-annotations) and no predictor.

The pre-annotation is task data (``model_guess``, ``model_hint``), not a Label
Studio prediction: a prediction pre-selects choices, and Label Studio's hotkeys
toggle, so the key that should confirm the model's answer cleared it (see
labeling/config.py). ``data.rank`` is one queue position across imports: Label
Studio serves tasks in that order (sequential sampling, ids follow the rank).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labeling.active_learning import DUP_THRESHOLD, rank, uncertainty
from labeling.client import LabelingError, describe_error, iter_tasks
from labeling.config import (
    CONTEXT_FIELD,
    CONTEXT_TITLE_FIELD,
    GUESS_FIELD,
    HINT_FIELD,
    TEXT_FIELD,
    guess_line,
    hint_line,
)
from labeling.language import detect, outside_languages
from labeling.normalize import text_hash
from labeling.sources import Mention
from model.base import Probas, model_input
from model.settings import Settings
from model.taxonomy import HEADS, LANGUAGES

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

BATCH = 250
BY_LABELS: dict[str, tuple[str, ...]] = {h.name: h.labels for h in HEADS}
LANGUAGE_POLICIES: tuple[str, ...] = ("skip", "flag", "keep")
"""Mentions outside model.taxonomy.LANGUAGES: not imported, imported last and marked, or kept."""
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
    title: str = "Suggested labels"
    """How the labeling screen introduces them, e.g. "Agent's correction"."""


@dataclass
class ImportReport:
    read: int = 0
    duplicates_in_file: int = 0
    already_in_project: int = 0
    near_duplicates: int = 0
    not_selected: int = 0
    top_k_in_project: int = 0
    """With --top-k (without --next): how many of the file's top K were already tasks."""
    other_language: Counter[str] = field(default_factory=Counter)
    """Mentions outside the product's languages, by language (skipped or flagged)."""
    imported: int = 0
    with_predictions: int = 0
    first_rank: int | None = None
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


def existing_tasks(ls: LabelStudio, project_id: int) -> tuple[dict[str, str], int]:
    """text hash -> text of every task already in the project, and the highest rank."""
    out: dict[str, str] = {}
    last = 0
    for task in iter_tasks(ls, project_id, with_annotations=False):
        data = task.data or {}
        text = data.get(TEXT_FIELD)
        if isinstance(text, str):
            out[str(data.get("text_hash") or text_hash(text))] = text
        with contextlib.suppress(TypeError, ValueError):
            last = max(last, int(data.get("rank") or 0))
    return out, last


def _language_check(pool: Sequence[Mention]) -> list[str | None]:
    """Per mention, its language when that is outside the product's (given or detected)."""
    out: list[str | None] = [None] * len(pool)
    unknown: list[int] = []
    for i, mention in enumerate(pool):
        lang = (mention.lang or "").lower()
        if len(lang) == 2 and lang.isalpha():
            out[i] = None if lang in LANGUAGES else lang
        else:
            unknown.append(i)
    for i, lang in zip(unknown, outside_languages([pool[i].text for i in unknown]), strict=True):
        out[i] = lang
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
    next_k: bool = False,
    strategy: str = "margin",
    dup_threshold: float = DUP_THRESHOLD,
    languages: str = "skip",
    skip_existing: bool = True,
    progress: Progress | None = None,
    url: str = "Label Studio",
) -> ImportReport:
    """Deduplicate against the file and the project, rank, attach pre-annotations, upload.

    ``top_k`` selects the K most useful mentions *of the file*; those already in the
    project count towards K, so re-running the same import adds nothing. With
    ``next_k`` the K are taken among the mentions not in the project yet instead.
    ``languages`` says what happens to mentions outside the product's languages
    (LANGUAGE_POLICIES). A prefill (aligned with ``mentions``) wins over the model's
    prediction. Without a predictor, ranking keeps file order. Tasks are sent in
    batches: if a batch fails, the ones before it stay, and a re-run skips them.
    """
    if prefill is not None and len(prefill) != len(mentions):
        raise ValueError("prefill must be aligned with mentions")
    if languages not in LANGUAGE_POLICIES:
        raise ValueError(f"unknown language policy {languages!r}")
    report = ImportReport(read=len(mentions))
    known, last_rank = existing_tasks(ls, project_id) if skip_existing else ({}, 0)
    pool: list[Mention] = []
    pool_prefill: list[Prefill | None] = []
    in_project: dict[str, Mention] = {}
    seen: set[str] = set()
    for i, mention in enumerate(mentions):
        key = text_hash(mention.text)
        if key in seen:
            report.duplicates_in_file += 1
        elif key in known:
            report.already_in_project += 1
            in_project.setdefault(key, mention)
        else:
            seen.add(key)
            pool.append(mention)
            pool_prefill.append(prefill[i] if prefill is not None else None)
    other = _language_check(pool) if languages != "keep" else [None] * len(pool)
    report.other_language.update(lang for lang in other if lang)
    if languages == "skip":
        kept = [i for i, lang in enumerate(other) if lang is None]
        pool, pool_prefill = [pool[i] for i in kept], [pool_prefill[i] for i in kept]
        other = [None] * len(pool)
    for mention, lang in zip(pool, other, strict=True):
        if lang:
            mention.lang = lang
    # --top-k ranks the whole file, tasks already imported from it included (idempotent)
    whole_file = top_k is not None and not next_k
    again = list(in_project.values()) if whole_file else []
    candidates = pool + again
    existing = [t for k, t in known.items() if k not in in_project] if whole_file else list(known.values())
    if not candidates:
        return report
    scores: np.ndarray | None = None
    probas: Probas = {}
    if predictor is not None:
        probas = _predict(predictor, candidates, progress)
        scores = uncertainty(probas, strategy)
        report.model_version = predictor.model_version
    ranking = rank(
        [m.text for m in candidates],
        scores,
        top_k=top_k,
        existing=existing,
        threshold=dup_threshold,
    )
    report.near_duplicates = len(ranking.duplicate_of)
    report.not_selected = len(candidates) - len(ranking.order) - report.near_duplicates
    report.top_k_in_project = sum(1 for i in ranking.order if i >= len(pool)) if whole_file else 0
    order = [i for i in ranking.order if i < len(pool)]
    if languages == "flag":  # outside the product's languages: queued after the others
        order = [i for i in order if not other[i]] + [i for i in order if other[i]]
    _fill_languages([pool[i] for i in order if not other[i]])
    batch_id = time.strftime("%Y%m%dT%H%M%S")
    report.first_rank = last_rank + 1
    tasks = [
        _task(pool[idx], pool_prefill[idx], predictor, probas, scores, idx, last_rank + pos, batch_id,
              other[idx])
        for pos, idx in enumerate(order, start=1)
    ]  # fmt: skip
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
        report.with_predictions += sum(1 for t in batch if t["data"].get(GUESS_FIELD))
        if progress:
            progress("upload", report.imported, len(tasks))
    return report


def _task(
    mention: Mention,
    fill: Prefill | None,
    predictor: Predictor | None,
    probas: Probas,
    scores: np.ndarray | None,
    idx: int,
    position: int,
    batch_id: str,
    other_language: str | None,
) -> dict[str, Any]:
    """One task: the text and its context, where it came from, and the pre-annotation."""
    data: dict[str, Any] = {
        TEXT_FIELD: mention.text,
        CONTEXT_FIELD: mention.context or "",
        CONTEXT_TITLE_FIELD: "In reply to" if mention.context else "",
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
    if other_language:
        data["other_language"] = True
    if scores is not None:
        data["uncertainty"] = round(float(scores[idx]), 4)
    labels: dict[str, str] = {}
    title = "Model's guess"
    if fill is not None:
        labels, title = dict(fill.labels), fill.title
        data["model_version"] = fill.model_version
    elif predictor is not None and probas:
        labels = {h: BY_LABELS[h][int(np.argmax(p[idx]))] for h, p in probas.items() if h in BY_LABELS}
        data["model_version"] = predictor.model_version
    data[GUESS_FIELD] = guess_line(labels)
    data[HINT_FIELD] = hint_line(labels, title)
    return {"data": data}
