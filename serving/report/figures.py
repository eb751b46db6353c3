"""The report's numbers, from a frame of inbound mentions, as plain JSON-ready dicts.

One frame in, one dict out, whatever the source (a history file or the API's score
records): ``created_at`` and ``replied_at`` (UTC; NaT when unanswered) are required;
``intent`` (with ``intent_from``), ``tier``, ``respond_by``, ``needs_reply`` and the
follow-up columns of ``history.mark_followups`` add their sections when present. The
HTML page is drawn from this dict only, so the JSON and the page always agree.

Shares of "answered within X" are of *all* inbound mentions in the group (a mention
never answered was not answered within the hour either); medians and percentiles are
of the answered ones. Hours and weekdays are those of arrival, in the brand's zone.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd

MARKS_MIN: tuple[int, ...] = (60, 240, 1440)
"""1 h, 4 h, 24 h: the expected, the brand average and the acceptable response time."""
EXPECTED = {
    "within_1h": 0.53,
    "complaints_within_1h": 0.72,
    "brand_average_h": 4,
    "acceptable_h": 24,
}
"""Webcare practice: 53 % of Twitter users expect an answer within the hour, 72 % when they
complain; large brands average about 4 hours; under 24 hours is acceptable."""
BUCKETS: tuple[tuple[float, float, str], ...] = (
    (0, 15, "< 15 min"), (15, 60, "15-60 min"), (60, 240, "1-4 h"), (240, 1440, "4-24 h"),
    (1440, math.inf, "> 24 h"),
)  # fmt: skip
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TIERS: tuple[str, ...] = ("P1", "P2", "P3", "P4")
CDF_GRID_MIN: tuple[float, ...] = tuple(
    sorted({*np.round(np.geomspace(1, 7 * 1440, 60), 1).tolist(), *MARKS_MIN, 30.0})
)
MIN_ANSWERED_PER_DAY = 3
"""A day's median counts for consistency only with at least this many answers."""
SECTIONS: tuple[str, ...] = (
    "summary", "response_times", "by_hour", "peak_hours", "consistency", "followups", "tiers",
)  # fmt: skip


def _r(value: float | None, digits: int = 1) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(frame: pd.DataFrame) -> pd.Series:
    return (frame["replied_at"] - frame["created_at"]).dt.total_seconds() / 60


def _stats(minutes: pd.Series) -> dict:
    answered = minutes.dropna()
    if answered.empty:
        return {"median_min": None, "p90_min": None, "mean_min": None}
    return {
        "median_min": _r(answered.median()),
        "p90_min": _r(np.percentile(answered, 90)),
        "mean_min": _r(answered.mean()),
    }


def distribution(frame: pd.DataFrame) -> dict:
    """Answered share, shares within 1/4/24 h, the CDF and the buckets of one group."""
    minutes = _minutes(frame)
    n, answered = len(frame), int(minutes.notna().sum())
    values = minutes.dropna().to_numpy()
    cdf = [_share(int((values <= x).sum()), n) for x in CDF_GRID_MIN]
    buckets = []
    for lo, hi, label in BUCKETS:
        count = int(((values >= lo) & (values < hi)).sum()) if lo else int((values < hi).sum())
        buckets.append({"label": label, "count": count, "share": _share(count, n)})
    buckets.append({"label": "never", "count": n - answered, "share": _share(n - answered, n)})
    return {
        "inbound": n,
        "answered": answered,
        "share_answered": _share(answered, n),
        "within": {str(m): _share(int((values <= m).sum()), n) for m in MARKS_MIN},
        **_stats(minutes),
        "cdf": {"minutes": list(CDF_GRID_MIN), "share": cdf},
        "buckets": buckets,
    }


def _local(frame: pd.DataFrame, tz: str) -> pd.Series:
    return frame["created_at"].dt.tz_convert(tz)


def summary(frame: pd.DataFrame, tz: str) -> dict:
    local = _local(frame, tz)
    d = distribution(frame)
    return {
        "inbound": d["inbound"],
        "answered": d["answered"],
        "share_answered": d["share_answered"],
        "within": d["within"],
        "median_min": d["median_min"],
        "p90_min": d["p90_min"],
        "mean_min": d["mean_min"],
        "first_day": local.min().date().isoformat() if len(frame) else None,
        "last_day": local.max().date().isoformat() if len(frame) else None,
        "expected": EXPECTED,
    }


def response_times(frame: pd.DataFrame) -> dict:
    out = {"marks_min": list(MARKS_MIN), "expected": EXPECTED, "groups": {"all": distribution(frame)}}
    if "intent" in frame and frame["intent"].notna().any():
        complaints = frame[frame["intent"] == "complaint"]
        out["groups"]["complaints"] = distribution(complaints)
        out["complaints_from"] = str(frame.attrs.get("intent_from", "labels"))
    else:
        out["complaints_from"] = None
    return out


def _grouped(frame: pd.DataFrame, keys: pd.Series, values: range, name: str, labels=None) -> list[dict]:
    minutes = _minutes(frame)
    rows = []
    for v in values:
        mask = (keys == v).to_numpy()
        sub = minutes[mask]
        n, answered = int(mask.sum()), int(sub.notna().sum())
        stats = _stats(sub)
        rows.append({
            name: labels[v] if labels else v, "inbound": n, "answered": answered,
            "share_answered": _share(answered, n), "median_min": stats["median_min"],
            "p90_min": stats["p90_min"],
        })  # fmt: skip
    return rows


def by_hour(frame: pd.DataFrame, tz: str) -> dict:
    local = _local(frame, tz)
    return {
        "by_hour": _grouped(frame, local.dt.hour, range(24), "hour"),
        "by_weekday": _grouped(frame, local.dt.weekday, range(7), "weekday", WEEKDAYS),
    }


def peak_hours(frame: pd.DataFrame, tz: str, open_hours: tuple[int, int] = (8, 22)) -> dict:
    local = _local(frame, tz)
    counts = np.zeros((7, 24), dtype=int)
    np.add.at(counts, (local.dt.weekday.to_numpy(), local.dt.hour.to_numpy()), 1)
    order = np.argsort(-counts, axis=None, kind="stable")[:5]
    busiest = [
        {"weekday": WEEKDAYS[i // 24], "hour": int(i % 24), "inbound": int(counts.flat[i])}
        for i in order if counts.flat[i] > 0
    ]  # fmt: skip
    per_hour = counts.sum(axis=0)
    opens, closes = open_hours
    off = int(per_hour[[h for h in range(24) if not opens <= h < closes]].sum())
    return {
        "weekdays": list(WEEKDAYS),
        "hours": list(range(24)),
        "counts": counts.tolist(),
        "per_hour": per_hour.tolist(),
        "per_weekday": counts.sum(axis=1).tolist(),
        "busiest": busiest,
        "business_hours": {"open": opens, "close": closes},
        "share_outside_business_hours": _share(off, len(frame)),
    }


def consistency(frame: pd.DataFrame, tz: str, min_answered: int = MIN_ANSWERED_PER_DAY) -> dict:
    """The spread of daily median response times: a steady team has a narrow one."""
    answered = frame[frame["replied_at"].notna()]
    minutes = _minutes(answered)
    days = _local(answered, tz).dt.date
    daily = (
        pd.DataFrame({"day": days.to_numpy(), "minutes": minutes.to_numpy()})
        .groupby("day")["minutes"].agg(["size", "median"])
    )  # fmt: skip
    kept = daily[daily["size"] >= min_answered]
    med = kept["median"]
    out: dict = {
        "min_answered_per_day": min_answered,
        "days": int(len(kept)),
        "days_with_answers": int(len(daily)),
        "daily": [
            {"day": day.isoformat(), "answered": int(row["size"]), "median_min": _r(row["median"])}
            for day, row in kept.iterrows()
        ],
    }
    if med.empty:
        return {**out, "p10_min": None, "p25_min": None, "median_min": None, "p75_min": None,
                "p90_min": None, "iqr_min": None, "p90_over_p10": None,
                "share_days_median_within_1h": None, "share_days_median_over_24h": None}  # fmt: skip
    q = np.percentile(med, [10, 25, 50, 75, 90])
    return {
        **out,
        "p10_min": _r(q[0]), "p25_min": _r(q[1]), "median_min": _r(q[2]), "p75_min": _r(q[3]),
        "p90_min": _r(q[4]), "iqr_min": _r(q[3] - q[1]),
        "p90_over_p10": _r(q[4] / q[0], 2) if q[0] > 0 else None,
        "share_days_median_within_1h": _share(int((med <= 60).sum()), len(med)),
        "share_days_median_over_24h": _share(int((med > 1440).sum()), len(med)),
    }  # fmt: skip


def followups(frame: pd.DataFrame) -> dict:
    """Customers asking again before any answer: chains of ``history.mark_followups``."""
    if "chain_pos" not in frame:
        return {"available": False, "note": "not in this source: follow-ups need author ids, "
                "which the API's score records never store"}  # fmt: skip
    sizes = frame.groupby("chain")["id"].size()
    chained = frame[frame["chain"].isin(sizes[sizes > 1].index)]
    roots = chained[chained["chain_pos"] == 0]
    never = roots["chain_answered_at"].isna()
    wait = (roots["chain_answered_at"] - roots["created_at"]).dt.total_seconds() / 60
    follow = frame[frame["chain_pos"] > 0]
    lengths = []
    for label, lo, hi in (("2", 2, 2), ("3", 3, 3), ("4+", 4, 10**9)):
        ids = sizes[(sizes >= lo) & (sizes <= hi)].index
        r = roots[roots["chain"].isin(ids)]
        lengths.append({"mentions": label, "chains": int(len(r)),
                        "never_answered": int(r["chain_answered_at"].isna().sum())})  # fmt: skip
    return {
        "available": True,
        "window_hours": frame.attrs.get("followup_window_hours"),
        "followups": int(len(follow)),
        "share_of_inbound": _share(len(follow), len(frame)),
        "chains": int(len(roots)),
        "authors": int(roots["author_key"].nunique()) if "author_key" in roots else None,
        "chains_never_answered": int(never.sum()),
        "chains_answered": int((~never).sum()),
        "unanswered_followups": int(follow["replied_at"].isna().sum()),
        "chain_lengths": lengths,
        "wait_until_first_answer": _stats(wait),
    }


def tiers(frame: pd.DataFrame, windows: dict[str, int], now: datetime) -> dict:
    """What the triage said against what the team did: SLA per tier, P1 waits, P4 speed,
    and needs_reply against whether the mention was answered."""
    if "tier" not in frame or frame["tier"].isna().all():
        note = frame.attrs.get("tiers_note") or "no model: run with a registered champion to compare"
        return {"available": False, "note": note}
    now_ts = pd.Timestamp(now).tz_convert(UTC) if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz=UTC)
    minutes = _minutes(frame)
    replied = frame["replied_at"]
    needs = None
    if "needs_reply" in frame:  # unscored rows (no text) count as needing a reply
        needs = frame["needs_reply"].astype("boolean").fillna(True).astype(bool)
    due = frame["respond_by"]
    met = replied.notna() & (replied <= due)
    missed = (replied.notna() & (replied > due)) | (replied.isna() & (now_ts > due))
    pending = replied.isna() & (now_ts <= due)
    rows = []
    for tier in TIERS:
        mask = (frame["tier"] == tier).to_numpy()
        sla = mask & (needs.to_numpy() if needs is not None else True)
        sub = minutes[mask]
        n, answered = int(mask.sum()), int(sub.notna().sum())
        m, x, p = int(met[sla].sum()), int(missed[sla].sum()), int(pending[sla].sum())
        rows.append({
            "tier": tier, "window_min": windows.get(tier), "mentions": n,
            "needs_reply": int(sla.sum()), "answered": answered, "share_answered": _share(answered, n),
            **{k: v for k, v in _stats(sub).items() if k != "mean_min"},
            "sla_met": m, "sla_missed": x, "sla_open": p, "share_met": _share(m, m + x),
        })  # fmt: skip
    p1 = (frame["tier"] == "P1").to_numpy()
    p1_due = p1 & ~(replied.isna() & (now_ts - frame["created_at"] <= pd.Timedelta(minutes=30))).to_numpy()
    p1_late = int((p1_due & ~(minutes <= 30).to_numpy()).sum())
    p4 = (frame["tier"] == "P4").to_numpy()
    p4_fast = int((p4 & (minutes <= 60).to_numpy()).sum())
    out: dict = {
        "available": True,
        "tiers_from": frame.attrs.get("tiers_from", "records"),
        "per_tier": rows,
        "p1_waited_over_30min": p1_late,
        "p1_mentions": int(p1.sum()),
        "share_p1_waited_over_30min": _share(p1_late, int(p1_due.sum())),
        "p4_answered_within_1h": p4_fast,
        "p4_mentions": int(p4.sum()),
        "share_p4_answered_within_1h": _share(p4_fast, int(p4.sum())),
    }
    if needs is not None:
        ans = replied.notna()
        yes_ans, yes_not = int((needs & ans).sum()), int((needs & ~ans).sum())
        no_ans, no_not = int((~needs & ans).sum()), int((~needs & ~ans).sum())
        out["needs_reply"] = {
            "predicted_yes_answered": yes_ans, "predicted_yes_unanswered": yes_not,
            "predicted_no_answered": no_ans, "predicted_no_unanswered": no_not,
            "share_answered_when_yes": _share(yes_ans, yes_ans + yes_not),
            "share_answered_when_no": _share(no_ans, no_ans + no_not),
            "answered_predicted_yes": _share(yes_ans, yes_ans + no_ans),
            "agreement": _share(yes_ans + no_not, len(frame)),
        }  # fmt: skip
    return out


def build(
    frame: pd.DataFrame,
    *,
    tz: str,
    meta: dict,
    windows: dict[str, int],
    now: datetime | None = None,
    open_hours: tuple[int, int] = (8, 22),
    min_answered_per_day: int = MIN_ANSWERED_PER_DAY,
) -> dict:
    """Every section's figures. ``now`` (default: the clock) decides which unanswered
    mentions are already past their respond-by; a history passes its last timestamp."""
    generated = datetime.now(UTC)
    now = now or generated
    if frame.empty:
        raise ValueError("no inbound mentions to report on")
    return {
        "meta": {**meta, "tz": tz, "as_of": now.isoformat(timespec="seconds"),
                 "generated_at": generated.isoformat(timespec="seconds")},  # fmt: skip
        "summary": summary(frame, tz),
        "response_times": response_times(frame),
        "by_hour": by_hour(frame, tz),
        "peak_hours": peak_hours(frame, tz, open_hours),
        "consistency": consistency(frame, tz, min_answered_per_day),
        "followups": followups(frame),
        "tiers": tiers(frame, windows, now),
    }
