"""History import for the response-time report: each format, follow-up chains, time zones,
malformed rows. Every fixture is invented here; no real tweet or handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.report.history import HistoryError, detect_format, parse_timestamp, read_history

TWCS = """tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
1,101,True,Mon Jan 01 09:00:00 +0000 2024,@AcmeCare my router died again,2,
2,AcmeCare,False,Mon Jan 01 09:30:00 +0000 2024,"@101 sorry to hear that, send us a DM",3,1
3,101,True,Mon Jan 01 09:40:00 +0000 2024,@AcmeCare @101 thanks &amp; done,,2
4,102,True,Mon Jan 01 10:00:00 +0000 2024,@AcmeCare is anyone there?,,
5,102,True,Mon Jan 01 11:00:00 +0000 2024,@AcmeCare hello?? still waiting,6,
6,AcmeCare,False,Mon Jan 01 11:15:00 +0000 2024,@102 we are here now,,5
"""

ORANGEBE = """conversation_idx,turn,tweet_id,author_id,is_operator,created_at,in_response_to_id,text
0,0,10,klant_anna,0,2020-03-02 08:00:00,,@AcmeBE mijn modem knippert rood
0,1,11,AcmeBE,1,2020-03-02 08:45:00,10,@klant_anna Vervelend! Stuur ons een DM
0,2,12,klant_anna,0,2020-03-02 09:00:00,11,@AcmeBE gedaan
1,0,20,klant_bert,0,2020-03-02 10:00:00,,@AcmeBE geen tv sinds gisteren
1,1,21,klant_bert,0,2020-03-02 10:30:00,,@AcmeBE hallo??
1,2,22,AcmeBE,1,2020-03-02 12:00:00,21,@klant_bert sorry voor het wachten
2,0,10,klant_anna_nieuw,0,2020-03-02 08:00:00,,@AcmeBE mijn modem knippert rood
2,1,11,AcmeBE,1,2020-03-02 08:45:00,10,@klant_anna Vervelend! Stuur ons een DM
"""

GENERIC = """mention_id,created_at,author,replied_at,text
a1,2024-01-01T08:00:00Z,ann,,where is my parcel
a2,2024-01-01T09:00:00Z,ann,,hello? parcel?
a3,2024-01-01T10:00:00Z,ann,2024-01-01T10:30:00Z,third time asking
a4,2024-01-01T12:00:00Z,ann,,thanks but it is broken
b1,2024-01-01T08:00:00Z,bob,2024-01-01T08:20:00Z,quick question
b2,2024-01-01T09:00:00Z,bob,,another one
c1,2024-01-01T08:00:00Z,cat,,nobody answers
c2,2024-01-04T08:00:00Z,cat,,still nobody
"""

GENERIC_LINKED = """mention_id,created_at,author,is_brand,in_reply_to,intent
m1,2024-01-01T10:00:00+01:00,ann,0,,complaint
r1,2024-01-01T09:20:00Z,,1,m1,
r2,2024-01-01T09:05:00Z,,yes,m1,
m2,2024-01-01 10:00:00,bob,false,,question
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_id(history) -> dict[str, dict]:
    return {r["id"]: r for r in history.mentions.to_dict("records")}


def utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))


def test_twcs_answers_follow_ups_and_masked_context(tmp_path: Path) -> None:
    h = read_history(write(tmp_path, "twcs.csv", TWCS))
    m = by_id(h)
    assert h.meta["format"] == "twcs" and h.meta["inbound"] == 4 and h.meta["brand_replies"] == 2
    assert set(m) == {"1", "3", "4", "5"}
    assert m["1"]["replied_at"] == utc(2024, 1, 1, 9, 30)
    assert m["5"]["replied_at"] == utc(2024, 1, 1, 11, 15)
    assert pd.isna(m["3"]["replied_at"]) and pd.isna(m["4"]["replied_at"])  # never answered
    # 3 came after 1 was answered: a new conversation turn, not a follow-up; 5 asks again after 4
    assert m["3"]["followup_of"] is None and m["3"]["chain_pos"] == 0
    assert m["5"]["followup_of"] == "4" and m["5"]["chain_pos"] == 1
    assert m["4"]["chain_answered_at"] == utc(2024, 1, 1, 11, 15)
    assert all(r["brand"] == "AcmeCare" for r in m.values())
    # texts as real_pools gives them: entities unescaped, numeric (customer) handles masked
    assert m["3"]["text"] == "@AcmeCare @user thanks & done"
    assert m["3"]["context"] == "@user sorry to hear that, send us a DM"
    assert "author" not in h.mentions.columns


def test_orangebe_naive_times_repeats_and_previous_turn(tmp_path: Path) -> None:
    path = write(tmp_path, "conversations.csv", ORANGEBE)
    h = read_history(path)
    m = by_id(h)
    assert h.meta["format"] == "orangebe" and h.meta["repeated_rows_skipped"] == 2
    assert h.meta["timestamps_naive"] > 0 and h.meta["timestamps_with_zone"] == 0
    assert set(m) == {"10", "12", "20", "21"}
    assert m["10"]["replied_at"] - m["10"]["created_at"] == pd.Timedelta(minutes=45)
    assert pd.isna(m["12"]["replied_at"]) and pd.isna(m["20"]["replied_at"])
    assert m["21"]["followup_of"] == "20" and m["20"]["chain_answered_at"] == utc(2020, 3, 2, 12)
    assert m["12"]["followup_of"] is None  # asked after the operator answered
    assert m["12"]["context"] == "@user Vervelend! Stuur ons een DM"  # user handle masked, brand kept
    assert m["21"]["context"] == "@AcmeBE geen tv sinds gisteren"  # no link: the previous turn
    # naive = UTC by default; read as Brussels time (CET, +1 in March) everything moves 1 h earlier
    brussels = by_id(read_history(path, naive_tz="Europe/Brussels"))
    assert brussels["10"]["created_at"] == utc(2020, 3, 2, 7) == m["10"]["created_at"] - pd.Timedelta(hours=1)
    assert brussels["10"]["replied_at"] - brussels["10"]["created_at"] == pd.Timedelta(minutes=45)


def test_generic_follow_up_chain_window_and_never_answered(tmp_path: Path) -> None:
    m = by_id(read_history(write(tmp_path, "generic.csv", GENERIC)))
    assert [m[k]["chain_pos"] for k in ("a1", "a2", "a3")] == [0, 1, 2]
    assert m["a2"]["followup_of"] == m["a3"]["followup_of"] == "a1"
    assert m["a1"]["chain_answered_at"] == utc(2024, 1, 1, 10, 30)
    assert m["a4"]["chain_pos"] == 0  # the chain was answered at 10:30, before a4
    assert m["b2"]["chain_pos"] == 0  # b1 was answered first
    assert m["c2"]["chain_pos"] == 0  # three days later: outside the 48 h window
    never = {k for k, r in m.items() if pd.isna(r["replied_at"])}
    assert never == {"a1", "a2", "a4", "b2", "c1", "c2"}
    wide = by_id(read_history(write(tmp_path, "generic.csv", GENERIC), followup_window=timedelta(days=4)))
    assert wide["c2"]["followup_of"] == "c1"


def test_generic_reply_rows_and_zones(tmp_path: Path) -> None:
    h = read_history(write(tmp_path, "linked.csv", GENERIC_LINKED), naive_tz="Europe/Amsterdam")
    m = by_id(h)
    assert set(m) == {"m1", "m2"} and h.meta["brand_replies"] == 2
    assert m["m1"]["created_at"] == utc(2024, 1, 1, 9)  # +01:00 taken as given
    assert m["m1"]["replied_at"] == utc(2024, 1, 1, 9, 5)  # the earliest of two replies
    assert m["m2"]["created_at"] == utc(2024, 1, 1, 9)  # naive, read in Amsterdam time
    assert m["m1"]["intent_label"] == "complaint"
    assert h.meta["timestamps_naive"] == 1 and h.meta["timestamps_with_zone"] == 3


def test_parse_timestamp_formats() -> None:
    ams = ZoneInfo("Europe/Amsterdam")
    nine = datetime(2024, 1, 1, 9, tzinfo=UTC)
    assert parse_timestamp("2024-01-01T09:00:00Z", ams) == (nine, False)
    assert parse_timestamp("2024-01-01T10:00:00+01:00", ams) == (nine, False)
    assert parse_timestamp("Mon Jan 01 09:00:00 +0000 2024", ams) == (nine, False)
    assert parse_timestamp("2024-01-01 10:00:00", ams) == (nine, True)
    assert parse_timestamp("2024-07-01 11:00", ams)[0] == datetime(2024, 7, 1, 9, tzinfo=UTC)  # CEST
    with pytest.raises(ValueError):
        parse_timestamp("yesterday", ams)


def test_detect_format() -> None:
    assert detect_format({"tweet_id", "inbound", "response_tweet_id"}) == "twcs"
    assert detect_format({"conversation_idx", "is_operator"}) == "orangebe"
    assert detect_format({"mention_id", "created_at"}) == "generic"
    assert detect_format({"id", "text"}) is None


BAD = """mention_id,created_at,author,replied_at,text
ok1,2024-01-01T08:00:00Z,ann,,"a text over
two lines"
bad1,31/12/2023 08:00,ann,,unreadable time
bad2,2024-01-01T08:00:00Z,,,no author
bad3,2024-01-01T08:00:00Z,ann,,too,many,fields
bad4,2024-01-01T08:00:00Z,ann,2024-01-01T07:00:00Z,answered before asked
ok1,2024-01-02T08:00:00Z,ann,,same id other time
ok2,2024-01-01T09:00:00Z,bob,2024-01-01T09:10:00Z,fine
"""


def test_malformed_rows_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", BAD)
    with pytest.raises(HistoryError) as info:
        read_history(path)
    problems = info.value.problems
    assert [p.split(":")[1] for p in problems] == ["4", "5", "6", "7", "8"]  # after a two-line record
    assert all(p.startswith(f"{path}:") for p in problems)
    assert "created_at is not a timestamp" in problems[0]
    assert "empty author" in problems[1]
    assert "more fields than the header" in problems[2]
    assert "replied_at is before created_at" in problems[3]
    assert "also on line 2" in problems[4]
    assert "unreadable" not in " ".join(problems)  # cell values never echoed
    h = read_history(path, skip_bad=True)
    assert set(h.mentions["id"]) == {"ok1", "ok2"} and h.meta["malformed_rows_skipped"] == 5


@pytest.mark.parametrize(
    ("text", "fmt", "needle"),
    [
        ("id,text\n1,hello\n", "auto", ":1: cannot tell the format"),
        ("mention_id,created_at,author\nx,2024-01-01T00:00:00Z,a\n", "auto", "replied_at or in_reply_to"),
        ("tweet_id,author_id,inbound\n1,2,True\n", "twcs", "missing column(s) for format twcs"),
        ("tweet_id,author_id,inbound,created_at,response_tweet_id,in_response_to_tweet_id\n"
         "1,Acme,False,Mon Jan 01 09:00:00 +0000 2024,,\n", "auto", "no inbound mentions"),
    ],
)  # fmt: skip
def test_unreadable_files(tmp_path: Path, text: str, fmt: str, needle: str) -> None:
    with pytest.raises(HistoryError) as info:
        read_history(write(tmp_path, "f.csv", text), fmt)
    assert needle in str(info.value)


def test_cli_history_exit_codes_and_outputs(tmp_path: Path) -> None:
    from webcare_cli import app

    runner = CliRunner()
    bad = write(tmp_path, "bad.csv", BAD)
    result = runner.invoke(app, ["report", "history", str(bad), "--no-model", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"error: {bad}:4: created_at is not a timestamp" in result.output
    missing = runner.invoke(app, ["report", "history", str(tmp_path / "nope.csv"), "--no-model"])
    assert missing.exit_code == 2 and "cannot open" in missing.output
    zone = runner.invoke(app, ["report", "history", str(bad), "--no-model", "--tz", "Mars/Olympus"])
    assert zone.exit_code == 2 and "unknown time zone" in zone.output

    out = tmp_path / "report"
    ok = runner.invoke(app, ["report", "history", str(write(tmp_path, "conv.csv", ORANGEBE)), "--no-model",
                             "--tz", "Europe/Brussels", "--out", str(out)])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert {p.name for p in out.iterdir()} == {"report.html", "report.json", "mentions.csv"}
    written = "".join((out / name).read_text(encoding="utf-8") for name in ("report.html", "report.json",
                                                                               "mentions.csv"))  # fmt: skip
    for private in ("klant_anna", "klant_bert", "modem", "sinds gisteren", "Vervelend"):
        assert private not in written  # no text, no handle, in any output
    csv = pd.read_csv(out / "mentions.csv")
    assert list(csv["id"]) == [10, 12, 20, 21] and "author" not in csv.columns
