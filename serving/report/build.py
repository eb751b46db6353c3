"""Assemble a report: from a history file (``webcare report history``) or from the API's
score records (``webcare report sla`` and ``GET /report``), and write it to a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from model.feedback import ScoreRecords
from model.loading import LoadedModel
from model.priority import TIERS, Policy
from serving.report import figures, records, render
from serving.report.history import DEFAULT_FOLLOWUP_WINDOW, read_history
from serving.report.triage import apply_model, load_champion
from serving.report.zones import zone


@dataclass
class Report:
    figures: dict
    html: str
    mentions: pd.DataFrame | None = None
    """Per inbound mention (history only): ids, times, chain and triage; no text or author."""


def policy_windows(policy: Policy) -> dict[str, int]:
    return {t: int(policy.raw["tiers"][t]["respond_within"]) for t in TIERS}


def _open_hours(policy: Policy) -> tuple[int, int]:
    hours = policy.raw["business_hours"]
    return int(hours["open"].split(":")[0]), int(hours["close"].split(":")[0])


def default_tz(policy: Policy) -> str:
    """The team's zone: the priority policy's business-hours time zone."""
    return str(policy.raw["business_hours"]["timezone"])


MENTION_COLUMNS = ("id", "created_at", "replied_at", "response_min", "brand", "chain", "chain_pos",
                   "followup_of", "intent", "needs_reply", "tier", "respond_by")  # fmt: skip


def from_history(
    path: Path,
    *,
    fmt: str = "auto",
    tz: str | None = None,
    naive_tz: str = "UTC",
    skip_bad: bool = False,
    use_model: bool = True,
    model: LoadedModel | None = None,
    policy: Policy | None = None,
    followup_window: timedelta = DEFAULT_FOLLOWUP_WINDOW,
) -> Report:
    """Raises HistoryError (``file:line: reason``) or ValueError (a bad zone)."""
    policy = policy or Policy.load()
    tz = tz or default_tz(policy)
    zone(tz)
    history = read_history(path, fmt, naive_tz=naive_tz, skip_bad=skip_bad, followup_window=followup_window)
    frame = history.mentions
    frame.attrs["followup_window_hours"] = followup_window.total_seconds() / 3600
    notes = []
    if frame["intent_label"].notna().any():
        frame["intent"] = frame["intent_label"]
        frame.attrs["intent_from"] = "file's intent column (labels)"
    if use_model:
        note = f"{model.name} v{model.version} ({model.family})" if model else None
        if model is None:
            model, note = load_champion()
        if model is not None:
            frame = apply_model(frame, model, policy)
        else:
            frame.attrs["tiers_note"] = note
        notes.append(f"Model: {note}.")
    else:
        frame.attrs["tiers_note"] = "no model figures: run without --no-model to compare with the triage"
    if frame["replied_at"].isna().all():
        notes.append("No brand answer in this file (no reply rows, no replied_at): every mention counts as "
                     "unanswered.")  # fmt: skip
    if history.skipped:
        notes.append(f"{len(history.skipped)} malformed row(s) left out (--skip-bad-rows).")
    if frame.attrs.get("tiers_note") and frame.attrs.get("tiers_from"):
        notes.append(frame.attrs["tiers_note"])
    meta = {**history.meta, "policy": policy.version, "notes": notes}
    end = frame[["created_at", "replied_at"]].max().max().to_pydatetime()
    figs = figures.build(frame, tz=tz, meta=meta, windows=policy_windows(policy), now=end,
                         open_hours=_open_hours(policy))  # fmt: skip
    title = f"Response times and SLA: {path.name}"
    frame["response_min"] = (frame["replied_at"] - frame["created_at"]).dt.total_seconds() / 60
    mentions = frame[[c for c in MENTION_COLUMNS if c in frame]]
    return Report(figs, render.page(figs, title), mentions)


def from_records(
    store: ScoreRecords, *, policy: Policy, tz: str | None = None, record_scores: bool = True
) -> Report:
    """The SLA report of the score records, after deleting those past retention.

    Raises LookupError when there is no record to report on.
    """
    tz = tz or default_tz(policy)
    zone(tz)
    store.purge()
    rows = store.rows()
    if not rows:
        hint = "" if record_scores else " Recording is off: set WEBCARE_RECORD_SCORES=true, restart the API."
        raise LookupError(f"no score records yet.{hint}")
    frame = records.to_frame(rows)
    retention = f"{store.retention_days} days" if store.retention_days > 0 else "kept forever"
    meta = {
        "source": "the API's score records", "records": len(frame),
        "answered": int(frame["replied_at"].notna().sum()),
        "retention": retention, "recording": "on" if record_scores else "off", "policy": policy.version,
        "notes": ["Records hold ids, times and the triage decision only (no text, no author data), so "
                  "follow-ups cannot be reconstructed from them."],
    }  # fmt: skip
    figs = figures.build(frame, tz=tz, meta=meta, windows=policy_windows(policy),
                         open_hours=_open_hours(policy))  # fmt: skip
    return Report(figs, render.page(figs, "Response times and SLA: the API's score records"))


def write(report: Report, out: Path) -> list[Path]:
    """``report.html``, ``report.json`` and, for a history, ``mentions.csv``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.html", out / "report.json"]
    paths[0].write_text(report.html, encoding="utf-8")
    paths[1].write_text(json.dumps(report.figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if report.mentions is not None:
        paths.append(out / "mentions.csv")
        report.mentions.to_csv(paths[-1], index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return paths
