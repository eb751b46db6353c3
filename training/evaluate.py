"""Held-out evaluation: per-head, per-class and per-language metrics, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score, recall_score

from model.base import Probas
from model.dataset import Row
from model.taxonomy import BY_NAME, HEADS


def _labelled(rows: Sequence[Row], head: str) -> np.ndarray:
    return np.array([r.labels.get(head) is not None for r in rows], dtype=bool)


def head_metrics(rows: Sequence[Row], probas: Probas, prefix: str = "test") -> dict[str, float]:
    """Metrics for every head the rows label, with names like ``test.intent.macro_f1``."""
    out: dict[str, float] = {}
    langs = np.array([r.lang for r in rows])
    for h in HEADS:
        if h.name not in probas:
            continue
        mask = _labelled(rows, h.name)
        if not mask.any():
            continue
        y = np.array([h.index(r.labels[h.name]) for r, m in zip(rows, mask, strict=True) if m])
        pred = probas[h.name][mask].argmax(axis=1)
        classes = list(range(len(h.labels)))
        key = f"{prefix}.{h.name}"
        out[f"{key}.macro_f1"] = float(
            f1_score(y, pred, labels=classes, average="macro", zero_division=0)
        )
        out[f"{key}.accuracy"] = float(accuracy_score(y, pred))
        out[f"{key}.macro_recall"] = float(
            recall_score(y, pred, labels=classes, average="macro", zero_division=0)
        )
        per_class = f1_score(y, pred, labels=classes, average=None, zero_division=0)
        for label, value in zip(h.labels, per_class, strict=True):
            out[f"{key}.f1.{label}"] = float(value)
        for lang in sorted(set(langs[mask])):
            lm = langs[mask] == lang
            out[f"{key}.lang.{lang}.macro_f1"] = float(
                f1_score(y[lm], pred[lm], labels=classes, average="macro", zero_division=0)
            )
        out[f"{key}.n"] = float(mask.sum())
    return out


def confusion_images(
    rows: Sequence[Row], probas: Probas, out_dir: Path, prefix: str = "test"
) -> list[Path]:
    """One PNG confusion matrix per head (rows = truth, columns = prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for h in HEADS:
        if h.name not in probas:
            continue
        mask = _labelled(rows, h.name)
        if not mask.any():
            continue
        y = [r.labels[h.name] for r, m in zip(rows, mask, strict=True) if m]
        pred = [h.labels[i] for i in probas[h.name][mask].argmax(axis=1)]
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ConfusionMatrixDisplay.from_predictions(
            y, pred, labels=list(h.labels), ax=ax, colorbar=False, xticks_rotation=45
        )
        ax.set_title(f"{h.name} ({prefix}, n={len(y)})")
        fig.tight_layout()
        path = out_dir / f"confusion_{prefix}_{h.name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def complaint_truth(row: Row) -> bool | None:
    """Is the row a complaint? From an intent label or a "not a complaint" exclusion."""
    intent = row.labels.get("intent")
    if intent is not None:
        return intent == "complaint"
    if "complaint" in row.excludes.get("intent", []):
        return False
    return None


def complaint_metrics(
    rows: Sequence[Row], probas: Probas, prefix: str = "test"
) -> dict[str, float]:
    """Complaint vs not, where the served intent label is the prediction.

    Sets like the complaints corpus only say "complaint" or "not a complaint",
    which the per-head intent metrics cannot score (they skip unlabelled rows).
    Scored only when the rows include at least one known non-complaint.
    """
    if "intent" not in probas:
        return {}
    truth = [complaint_truth(r) for r in rows]
    mask = np.array([t is not None for t in truth], dtype=bool)
    if not mask.any() or all(truth[i] for i in np.flatnonzero(mask)):
        return {}
    y = np.array([truth[i] for i in np.flatnonzero(mask)], dtype=int)
    complaint = BY_NAME["intent"].index("complaint")
    pred = (probas["intent"][mask].argmax(axis=1) == complaint).astype(int)
    key = f"{prefix}.complaint"
    macro = f1_score(y, pred, labels=[0, 1], average="macro", zero_division=0)
    return {
        f"{key}.macro_f1": float(macro),
        f"{key}.f1": float(f1_score(y, pred, zero_division=0)),
        f"{key}.accuracy": float(accuracy_score(y, pred)),
        f"{key}.n": float(mask.sum()),
    }
