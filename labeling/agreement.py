"""Inter-annotator agreement per head: raw agreement, Cohen's kappa per annotator pair,
Krippendorff's alpha.

Kappa tells which pair of labelers reads the guidelines differently; alpha
(nominal) summarises a head over all annotators and tolerates missing
annotations, so it is the number to watch across dataset versions. Both are
undefined when every label is the same (no chance agreement to correct for);
raw agreement, the share of annotator pairs that chose the same label, is
always defined and tells "all agree" from "too little data".
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Votes = Mapping[int, Mapping[int, str]]
"""task id -> annotator id -> label (one head)."""


def _finite(value: float) -> float | None:
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def cohen_pairs(votes: Votes, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Kappa for every annotator pair over the tasks both labelled (None if undefined)."""
    from sklearn.metrics import cohen_kappa_score

    annotators = sorted({a for by_annotator in votes.values() for a in by_annotator})
    out: list[dict[str, Any]] = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [t for t, by in votes.items() if a in by and b in by]
        if not shared:
            continue
        ya = [votes[t][a] for t in shared]
        yb = [votes[t][b] for t in shared]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            kappa = cohen_kappa_score(ya, yb, labels=list(labels))
        agree = sum(1 for x, y in zip(ya, yb, strict=True) if x == y) / len(shared)
        out.append(
            {"annotators": [a, b], "n": len(shared), "kappa": _finite(kappa), "agreement": round(agree, 4)}
        )
    return out


def raw_agreement(votes: Votes) -> float | None:
    """Share of agreeing annotator pairs over the tasks with two or more labels (None if none)."""
    agree = pairs = 0
    for by_annotator in votes.values():
        labels = list(by_annotator.values())
        for x, y in itertools.combinations(labels, 2):
            pairs += 1
            agree += x == y
    return round(agree / pairs, 4) if pairs else None


def krippendorff_alpha(votes: Votes, labels: Sequence[str]) -> float | None:
    """Nominal alpha over all annotators; None when fewer than two values are pairable."""
    import krippendorff

    annotators = sorted({a for by_annotator in votes.values() for a in by_annotator})
    units = [t for t, by in votes.items() if len(by) >= 2]
    if len(annotators) < 2 or not units:
        return None
    index = {label: i for i, label in enumerate(labels)}
    data = np.full((len(annotators), len(units)), np.nan)
    for col, task in enumerate(units):
        for row, annotator in enumerate(annotators):
            label = votes[task].get(annotator)
            if label is not None:
                data[row, col] = index[label]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            alpha = krippendorff.alpha(
                reliability_data=data,
                level_of_measurement="nominal",
                value_domain=list(range(len(labels))),
            )
    except ValueError:  # e.g. a single value in the data: alpha is undefined
        return None
    return _finite(alpha)


def head_agreement(votes: Votes, labels: Sequence[str]) -> dict[str, Any]:
    """Raw agreement, alpha, pairwise kappas and how many tasks had two or more annotations."""
    return {
        "raw_agreement": raw_agreement(votes),
        "krippendorff_alpha": krippendorff_alpha(votes, labels),
        "cohen_kappa": cohen_pairs(votes, labels),
        "multi_annotated_tasks": sum(1 for by in votes.values() if len(by) >= 2),
    }


def describe(value: float | None, raw: float | None) -> str:
    """A kappa or alpha for people: 'all agree' when undefined because nobody disagreed."""
    if value is not None:
        return f"{value:.3f}"
    return "all agree" if raw == 1.0 else "n/a"
