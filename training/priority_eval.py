"""Does the priority policy triage? Tier figures on labelled rows, and tier thresholds tuned
on validation rows so that P1 holds the urgent mentions without flooding.

A tier that half the traffic gets, or that the urgent cases miss, is no priority:
the figures are the share per tier, the recall of urgency = high in P1 and in
P1+P2, the precision of P1, and how many mentions needing no reply end in P4.
Mention metadata (followers, waiting time) is not in the labelled sets, so the
figures measure what the model's probabilities alone give the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from model.base import Probas
from model.dataset import Row
from model.priority import TIERS, Policy, prioritise, signals_from

TARGET_P1_SHARE = 0.20
TARGET_HIGH_IN_P1_P2 = 0.80
TARGET_P1_PRECISION = 0.60
TUNING_MARGIN = 0.02
"""Tuning aims this far inside every target on the validation rows: a threshold at the edge
on validation lands on either side of it on new traffic."""
_NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
"""A fixed weekday noon, inside business hours, with created_at = now: no waiting bonus."""


def scores(probas: Probas, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the policy's score and whether it is P4 because no reply is needed."""
    n = len(next(iter(probas.values())))
    out, forced = np.zeros(n), np.zeros(n, dtype=bool)
    for i in range(n):
        signals = signals_from(probas, i, created_at=_NOW)
        out[i] = prioritise(signals, policy, _NOW).score
        forced[i] = signals.p_reply < policy.reply_threshold
    return out, forced


def tiers_from(score: np.ndarray, forced_p4: np.ndarray, p1: float, p2: float, p3: float) -> np.ndarray:
    tiers = np.where(score >= p1, "P1", np.where(score >= p2, "P2", np.where(score >= p3, "P3", "P4")))
    return np.where(forced_p4, "P4", tiers)


def figures(rows: Sequence[Row], tiers: Sequence[str]) -> dict[str, float]:
    """The documented triage figures over rows with urgency and needs_reply labels."""
    tiers = np.asarray(tiers)
    urgency = np.array([r.labels.get("urgency") for r in rows], dtype=object)
    reply = np.array([r.labels.get("needs_reply") for r in rows], dtype=object)
    out: dict[str, float] = {"n": float(len(rows))}
    for tier in TIERS:
        out[f"share.{tier}"] = float((tiers == tier).mean()) if len(rows) else float("nan")
    high = urgency == "high"
    p1 = tiers == "P1"
    out["high.n"] = float(high.sum())
    out["high_recall.P1"] = float(p1[high].mean()) if high.any() else float("nan")
    top2 = np.isin(tiers, ["P1", "P2"])
    out["high_recall.P1_P2"] = float(top2[high].mean()) if high.any() else float("nan")
    labelled_p1 = p1 & (urgency != None)  # noqa: E711 - element-wise on an object array
    out["precision.P1"] = float(high[labelled_p1].mean()) if labelled_p1.any() else float("nan")
    no_reply = reply == "no"
    out["no_reply_in_P4"] = float((tiers[no_reply] == "P4").mean()) if no_reply.any() else float("nan")
    return out


def meets_targets(f: dict[str, float], margin: float = 0.0) -> bool:
    """The triage targets; ``margin`` tightens each one (tuning aims inside them)."""
    return (f["share.P1"] <= TARGET_P1_SHARE - margin
            and f["high_recall.P1_P2"] >= TARGET_HIGH_IN_P1_P2 + margin
            and f["precision.P1"] >= TARGET_P1_PRECISION + margin)  # fmt: skip


@dataclass
class Tuned:
    thresholds: dict[str, float]
    """min_score per tier (P1, P2, P3)."""
    validation: dict[str, float]
    meets_targets: bool


def tune(rows: Sequence[Row], probas: Probas, policy: Policy) -> Tuned:
    """Grid-search the tier thresholds on validation rows.

    Among thresholds that keep P1 within its share (less a margin), prefer those meeting the
    recall and precision targets and, among them, the smallest P1+P2 share; without any
    that meet them, the highest recall of urgent mentions in P1+P2. Ties: recall in P1.
    """
    score, forced = scores(probas, policy)
    p3 = float(policy.raw["tiers"]["P3"]["min_score"])
    best: tuple | None = None
    for p1 in range(40, 101, 2):
        for p2 in range(int(p3) + 2, p1, 2):
            f = figures(rows, tiers_from(score, forced, p1, p2, p3))
            if f["share.P1"] > TARGET_P1_SHARE - TUNING_MARGIN:
                continue
            meets = meets_targets(f, TUNING_MARGIN)
            top2 = f["share.P1"] + f["share.P2"]
            # meeting the targets, the fewest mentions in P1+P2 (a tier half the traffic gets
            # is no priority); else the most urgent ones there
            key = (meets, -round(top2, 3) if meets else round(f["high_recall.P1_P2"], 3),
                   round(f["high_recall.P1"], 3))  # fmt: skip
            if best is None or key > best[0]:
                best = (key, {"P1": float(p1), "P2": float(p2), "P3": p3}, f)
    if best is None:
        current = {t: float(policy.raw["tiers"][t]["min_score"]) for t in ("P1", "P2", "P3")}
        f = figures(rows, tiers_from(score, forced, current["P1"], current["P2"], current["P3"]))
        return Tuned(current, f, meets_targets(f))
    return Tuned(best[1], best[2], meets_targets(best[2]))


def policy_figures(rows: Sequence[Row], probas: Probas, policy: Policy) -> dict[str, float]:
    """The figures for the policy's own thresholds."""
    score, forced = scores(probas, policy)
    t = {name: float(policy.raw["tiers"][name]["min_score"]) for name in ("P1", "P2", "P3")}
    return figures(rows, tiers_from(score, forced, t["P1"], t["P2"], t["P3"]))
