"""The report's figures against hand computation, and the page drawn from them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from serving.report import figures, render
from serving.report.build import from_history, write
from serving.report.history import read_history

WINDOWS = {"P1": 30, "P2": 60, "P3": 240, "P4": 1440}
# Mon 1 Jan 2024 .. Wed 3 Jan; times UTC. Response minutes: 30, 120, 5, 1440, never, 30, never.
HISTORY = """mention_id,created_at,author,replied_at,text,intent
m1,2024-01-01T09:00:00Z,u1,2024-01-01T09:30:00Z,invented one,complaint
m2,2024-01-01T09:10:00Z,u2,2024-01-01T11:10:00Z,invented two,question
m3,2024-01-01T10:00:00Z,u3,2024-01-01T10:05:00Z,invented three,complaint
m4,2024-01-02T09:00:00Z,u4,2024-01-03T09:00:00Z,invented four,complaint
m5,2024-01-02T14:00:00Z,u5,,invented five,complaint
m6,2024-01-02T14:20:00Z,u6,2024-01-02T14:50:00Z,invented six,praise
m7,2024-01-03T22:00:00Z,u7,,invented seven,other
"""


@pytest.fixture
def frame(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "history.csv"
    path.write_text(HISTORY, encoding="utf-8")
    out = read_history(path).mentions
    out["intent"] = out["intent_label"]
    return out


def build(frame: pd.DataFrame, tz: str = "UTC", **kw) -> dict:
    return figures.build(frame, tz=tz, meta={"source": "test"}, windows=WINDOWS, **kw)


def test_summary_and_distribution(frame: pd.DataFrame) -> None:
    f = build(frame)
    s = f["summary"]
    assert (s["inbound"], s["answered"], s["share_answered"]) == (7, 5, round(5 / 7, 4))
    assert s["within"] == {"60": round(3 / 7, 4), "240": round(4 / 7, 4), "1440": round(5 / 7, 4)}
    assert s["median_min"] == 30.0  # of 5, 30, 30, 120, 1440
    assert s["p90_min"] == 912.0  # numpy linear: 120 + 0.6 * (1440 - 120)
    assert (s["first_day"], s["last_day"]) == ("2024-01-01", "2024-01-03")
    complaints = f["response_times"]["groups"]["complaints"]  # m1, m3, m4, m5: 30, 5, 1440, never
    assert (complaints["inbound"], complaints["within"]["60"], complaints["median_min"]) == (4, 0.5, 30.0)
    buckets = {b["label"]: b["count"] for b in f["response_times"]["groups"]["all"]["buckets"]}
    assert buckets == {"< 15 min": 1, "15-60 min": 2, "1-4 h": 1, "4-24 h": 0, "> 24 h": 1, "never": 2}
    cdf = dict(zip(*f["response_times"]["groups"]["all"]["cdf"].values(), strict=True))
    assert cdf[60] == round(3 / 7, 4) and cdf[1440] == round(5 / 7, 4)


def test_hours_weekdays_and_heatmap(frame: pd.DataFrame) -> None:
    f = build(frame)
    hours = {r["hour"]: r for r in f["by_hour"]["by_hour"]}
    assert (hours[9]["inbound"], hours[9]["median_min"]) == (3, 120.0)  # 30, 120, 1440
    assert (hours[14]["inbound"], hours[14]["answered"], hours[14]["median_min"]) == (2, 1, 30.0)
    assert hours[3]["inbound"] == 0 and hours[3]["median_min"] is None
    days = {r["weekday"]: r for r in f["by_hour"]["by_weekday"]}
    assert (days["Mon"]["inbound"], days["Mon"]["median_min"]) == (3, 30.0)
    assert (days["Tue"]["answered"], days["Tue"]["median_min"]) == (2, 735.0)
    counts = f["peak_hours"]["counts"]
    nonzero = {(d, h): c for d, row in enumerate(counts) for h, c in enumerate(row) if c}
    assert nonzero == {(0, 9): 2, (0, 10): 1, (1, 9): 1, (1, 14): 2, (2, 22): 1}
    assert f["peak_hours"]["busiest"][0] == {"weekday": "Mon", "hour": 9, "inbound": 2}
    assert f["peak_hours"]["share_outside_business_hours"] == round(1 / 7, 4)  # 22:00 is closed
    # the same mentions in Brussels time (UTC+1 in January) move one hour later
    brussels = build(frame, tz="Europe/Brussels")["peak_hours"]["counts"]
    assert brussels[0][10] == 2 and brussels[2][23] == 1


def test_consistency(frame: pd.DataFrame) -> None:
    c = build(frame, min_answered_per_day=1)["consistency"]
    assert [(d["day"], d["median_min"]) for d in c["daily"]] == [("2024-01-01", 30.0), ("2024-01-02", 735.0)]
    assert c["days"] == 2 and c["iqr_min"] == round(0.5 * (735 - 30), 1)
    assert c["share_days_median_within_1h"] == 0.5
    assert build(frame)["consistency"]["days"] == 1  # default: days with 3 or more answers


def test_follow_ups_section(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(
        "mention_id,created_at,author,replied_at\n"
        "a1,2024-01-01T08:00:00Z,ann,\na2,2024-01-01T09:00:00Z,ann,\n"
        "a3,2024-01-01T10:00:00Z,ann,2024-01-01T10:30:00Z\nb1,2024-01-01T08:00:00Z,bob,\n"
        "b2,2024-01-01T08:30:00Z,bob,\n", encoding="utf-8")  # fmt: skip
    frame = read_history(path).mentions
    fu = build(frame)["followups"]
    assert (fu["followups"], fu["chains"], fu["authors"]) == (3, 2, 2)
    assert (fu["chains_never_answered"], fu["unanswered_followups"]) == (1, 2)  # bob's; a2 and b2
    assert fu["chain_lengths"][:2] == [{"mentions": "2", "chains": 1, "never_answered": 1},
                                       {"mentions": "3", "chains": 1, "never_answered": 0}]  # fmt: skip
    assert fu["wait_until_first_answer"]["median_min"] == 150.0  # a1 08:00 -> answer to a3 10:30


def t(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def test_tiers_sla_met_missed_open() -> None:
    rows = [  # (tier, created, respond_by, replied, needs_reply)
        ("P1", t(9), t(9, 30), t(9, 20), True),     # met
        ("P1", t(9), t(9, 30), t(10), True),        # missed: answered late
        ("P1", t(9), t(9, 30), None, True),         # missed: never answered, now is past due
        ("P4", t(9), t(9, day=2), t(9, 40), True),  # met, and a P4 answered within the hour
        ("P4", t(9), t(9, day=2), None, False),     # no reply needed: not in met/missed
        ("P4", t(11), t(11, day=2), None, True),    # open: not due yet
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["tier", "created_at", "respond_by", "replied_at", "needs_reply"])
    for c in ("created_at", "respond_by", "replied_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    frame["id"] = [str(i) for i in range(len(frame))]
    tiers = build(frame, now=t(12))["tiers"]
    per = {r["tier"]: r for r in tiers["per_tier"]}
    assert (per["P1"]["sla_met"], per["P1"]["sla_missed"], per["P1"]["sla_open"]) == (1, 2, 0)
    assert per["P1"]["share_met"] == round(1 / 3, 4)
    assert (per["P4"]["mentions"], per["P4"]["needs_reply"]) == (3, 2)
    assert (per["P4"]["sla_met"], per["P4"]["sla_missed"], per["P4"]["sla_open"]) == (1, 0, 1)
    assert (tiers["p1_waited_over_30min"], tiers["p4_answered_within_1h"]) == (2, 1)
    nr = tiers["needs_reply"]
    assert (nr["predicted_yes_answered"], nr["predicted_yes_unanswered"]) == (3, 2)
    assert (nr["predicted_no_answered"], nr["predicted_no_unanswered"]) == (0, 1)
    assert build(frame.drop(columns="tier"))["tiers"]["available"] is False


def test_page_is_self_contained_and_private(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(HISTORY.replace("u1,", "@jansen_private,"), encoding="utf-8")
    report = from_history(path, use_model=False, tz="Europe/Brussels")
    html = report.html
    for key in figures.SECTIONS:
        assert f'<section id="{key}">' in html
    assert html.count('<img class="plot"') == len(re.findall(r'src="data:image/png;base64,', html)) >= 6
    assert not re.search(r"(src|href)=\"(?!data:|#)", html)  # nothing to fetch from anywhere
    assert "default-src 'none'" in html
    assert "no model figures" in html  # --no-model says why the tier section is empty
    paths = write(report, tmp_path / "out")
    assert json.loads(paths[1].read_text())["summary"]["inbound"] == 7
    everything = html + paths[1].read_text() + paths[2].read_text()
    assert "invented" not in everything and "jansen" not in everything


def test_duration_and_empty_frame() -> None:
    assert [render.duration(m) for m in (None, 5, 90, 3000)] == ["–", "5 min", "1.5 h", "2.1 d"]
    with pytest.raises(ValueError):
        empty = pd.to_datetime([], utc=True)
        build(pd.DataFrame({"created_at": empty, "replied_at": empty}))
