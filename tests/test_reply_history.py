"""Weak needs_reply labels from reply histories: the CSV and pool readers (one code path),
the censoring rule, clear errors, the agreement with real labels, and that ``--replied``
rows reach the training split only. Every text here is invented for the test."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model.dataset import DatasetError, Row, load_dataset
from model.real_labels import load_real
from model.reply_history import (
    HISTORY_SOURCE,
    ReplyHistory,
    ReplyLabel,
    agreement,
    for_training,
    history_file,
    load_replied,
    pool_history,
)
from model.settings import Settings
from model.taxonomy import HEAD_NAMES
from tests.conftest import SHARED, isolated_env, needs_shared
from tests.test_real_labels import GOOD, TWCS_HEADER, _csv, fake_shared, labels_file
from training.data import split_rows
from webcare_cli import app

HEADER = ["mention_id", "text", "created_at", "replied_at"]
HISTORY = [
    ["m1", "@AcmeCare @sanne_x testklacht paarse modem", "2026-01-01T09:00:00Z", "2026-01-01T09:30:00Z"],
    ["m2", "Testvraag: paarse modem overal?", "2026-01-01T10:00:00+01:00", "2026-01-01T09:05:00Z"],
    ["m3", "top, het werkt weer, bedankt", "2026-01-01T12:00:00", ""],
    ["m4", "bereik is in de kelder weg sinds maandag", "2026-01-05T08:00:00Z", ""],
    ["m5", "testzin over een verzonnen afspraak", "2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z"],
]  # fmt: skip
"""m3 has no offset (read as UTC); m4 is unanswered 2 h before the file's last time: censored."""


def history(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_history_gives_replied_unanswered_and_leaves_censored_out(tmp_path: Path) -> None:
    result = history_file(history(tmp_path / "h.csv", HISTORY), brands=["AcmeCare"])
    by_id = {label.row.id: label for label in result.labels}
    assert sorted(by_id) == [f"{HISTORY_SOURCE}:m{i}" for i in (1, 2, 3, 5)]
    assert result.censored == 1
    assert {k: v.row.labels["needs_reply"] for k, v in by_id.items()} == {
        "replied-history:m1": "yes", "replied-history:m2": "yes",
        "replied-history:m3": "no", "replied-history:m5": "yes"}  # fmt: skip
    assert [by_id[f"replied-history:m{i}"].response_seconds for i in (1, 2, 3, 5)] == [1800, 300, None, 3600]
    for label in result.labels:
        assert label.row.source == HISTORY_SOURCE and label.row.sample is None
        assert all(label.row.labels[h] is None for h in HEAD_NAMES if h != "needs_reply")
    # handles are masked the way the pools mask them: the brand stays, the user does not
    assert by_id["replied-history:m1"].row.text == "@AcmeCare @user testklacht paarse modem"
    assert "censored" in result.summary() and "factuur" not in result.summary()


def test_censoring_window_is_what_decides(tmp_path: Path) -> None:
    path = history(tmp_path / "h.csv", HISTORY)
    assert history_file(path, censor_hours=1).censored == 0  # m4 is 2 h old at the file's end
    labels = {label.tweet_id: label.replied for label in history_file(path, censor_hours=1).labels}
    assert labels["m4"] is False
    wide = history_file(path, censor_hours=24 * 10)  # every unanswered turn is too recent
    assert wide.censored == 2 and all(label.replied for label in wide.labels)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (["m9", "verzonnen testregel negen", "2026-01-02T10:00:00Z", "2026-01-02T09:00:00Z"],
         "replied_at is before created_at"),
        (["m9", "verzonnen testregel negen", "gisteren", ""], "created_at is not an ISO-8601 time"),
        (["m9", "verzonnen testregel negen", "2026-01-02T10:00:00Z", "2026-13-02"], "replied_at is not"),
        (["m9", "", "2026-01-02T10:00:00Z", ""], "empty text"),
        (["m1", "dubbel", "2026-01-02T10:00:00Z", ""], "duplicate mention_id (first on line 2)"),
        (["m9", "te weinig velden"], "wrong number of fields"),
    ],
)  # fmt: skip
def test_bad_history_line_names_file_and_line(tmp_path: Path, line: list[str], reason: str) -> None:
    path = history(tmp_path / "h.csv", [HISTORY[0], HISTORY[1], line])
    with pytest.raises(DatasetError) as err:
        history_file(path)
    assert str(err.value).startswith(f"{path}:4: ") and reason in str(err.value)


def test_history_errors_never_show_mention_text(tmp_path: Path) -> None:
    path = history(tmp_path / "h.csv", [["m1", "geheim", "mijn adres is Dorpsstraat 1", ""]])
    with pytest.raises(DatasetError) as err:
        history_file(path)
    assert f"{path}:2: created_at" in str(err.value) and "Dorpsstraat" not in str(err.value)


def test_history_header_is_required(tmp_path: Path) -> None:
    path = history(tmp_path / "h.csv", HISTORY[1:], header=HISTORY[0])  # no header line
    with pytest.raises(DatasetError, match=re.escape(f"{path}:1: missing column(s)")):
        history_file(path)
    with pytest.raises(DatasetError, match="no history rows"):
        history_file(history(tmp_path / "empty.csv", []))
    with pytest.raises(FileNotFoundError, match="nor a history CSV"):
        load_replied([str(tmp_path / "absent.csv")], tmp_path)


def test_pool_path_is_the_same_code_path_and_unknown_replies_are_left_out(tmp_path: Path) -> None:
    shared = fake_shared(tmp_path / "shared")
    orange = pool_history("orangebe", shared, censor_hours=12)
    by_id = {label.tweet_id: label for label in orange.labels}
    # 101 answered by the operator 20 min later; 103 unanswered 22.5 h before the file's last
    # time (104, on 2 May 09:00): "no"; 104 itself is unanswered within the window: censored
    assert by_id["101"].replied and by_id["101"].response_seconds == 1200
    assert by_id["101"].row.source == "replied-orangebe" and by_id["101"].pool == "real-orangebe"
    assert by_id["101"].row.text.startswith("@OrangeBENL @user testzin:")
    assert by_id["101"].row.domain == "telecom" and by_id["101"].row.context is None
    assert not by_id["103"].replied and by_id["103"].row.context is not None
    assert orange.censored == 1 and "104" not in by_id and "102" not in by_id  # 102: the operator
    # a TWCS turn whose answers lie outside the file is unknown, never "no"
    spotify = [["7", "901", "True", "Tue Mar 05 08:00:00 +0000 2024", "@SpotifyCares made-up one", "8", ""],
               ["9", "903", "True", "Tue Mar 01 08:00:00 +0000 2024", "@SpotifyCares made-up two", "", ""]]
    _csv(shared / "twcs/twcs_spotifycares_inbound_15k.csv", TWCS_HEADER, spotify)
    twcs = pool_history("twcs", shared)
    ids = {label.tweet_id: label.replied for label in twcs.labels}
    assert ids == {"2": True, "9": False} and twcs.unknown == 1


def test_pool_path_says_why_when_shared_folder_is_absent(tmp_path: Path) -> None:
    result = pool_history("twcs", tmp_path / "absent")
    assert result.labels == [] and result.skipped and "absent" in result.skipped
    assert "WEBCARE_SHARED_DATASETS" in result.summary()
    with pytest.raises(ValueError, match="unknown pool"):
        pool_history("facebook", tmp_path)


@pytest.mark.datasets
@needs_shared
def test_real_pools_give_masked_needs_reply_only_rows() -> None:
    for name, source in (("orangebe", "replied-orangebe"), ("twcs", "replied-twcs")):
        result = pool_history(name, SHARED)
        assert len(result.labels) > 1000, result.summary()
        replied = sum(label.replied for label in result.labels)
        assert 0 < replied < len(result.labels)
        assert {label.row.source for label in result.labels} == {source}
        assert not any(re.search(r"@\d+\b", label.row.text) for label in result.labels)  # TWCS users
        assert all(label.response_seconds is None or label.response_seconds >= 0 for label in result.labels)
    assert pool_history("twcs", SHARED).unknown > 0  # the Spotify excerpt holds no brand answers


def _real(i: int, lang: str, needs_reply: str | None, source: str = "real-orangebe") -> Row:
    labels = dict.fromkeys(HEAD_NAMES) | {"needs_reply": needs_reply}
    return Row(id=f"{source}:{i}", text=f"tekst {i}", lang=lang, labels=labels, source=source)


def _weak(i: int, replied: bool, pool: str | None = "real-orangebe") -> ReplyLabel:
    row = _real(i, "nl", "yes" if replied else "no", source="replied-orangebe")
    return ReplyLabel(row, replied, None, str(i), pool)


def test_agreement_on_a_hand_made_join() -> None:
    # truth/weak: 4 yes/replied, 1 no/replied, 1 yes/unanswered, 2 no/unanswered
    pairs = [("yes", True)] * 4 + [("no", True), ("yes", False), ("no", False), ("no", False)]
    real = [_real(i, "nl" if i < 5 else "en", truth) for i, (truth, _) in enumerate(pairs)]
    real.append(_real(90, "nl", None))  # unclear: left out although a weak label matches
    weak = [_weak(i, replied) for i, (_, replied) in enumerate(pairs)] + [_weak(90, True), _weak(91, False)]
    result = agreement(weak, real)
    a = result["all"]
    assert (a.n, a.tp, a.fp, a.fn, a.tn) == (8, 4, 1, 1, 2)
    # p_o = 6/8, p_e = (5/8)^2 + (3/8)^2 = 34/64: kappa = (48/64 - 34/64) / (30/64) = 7/15
    assert a.kappa == pytest.approx(7 / 15)
    assert a.precision == pytest.approx(0.8) and a.recall == pytest.approx(0.8)
    assert result["lang:nl"].n == 5 and result["lang:en"].n == 3
    assert result["source:real-orangebe"].n == 8
    # a history CSV turn (no pool) joins by tweet id
    assert agreement([_weak(0, True, pool=None)], real)["all"].tp == 1


def test_weak_rows_never_include_labelled_or_held_out_texts() -> None:
    held_out = [_real(1, "nl", "yes")]
    weak = [_weak(i, True) for i in (1, 2, 3, 4)]
    weak[2] = ReplyLabel(Row("replied-orangebe:3", "Tekst  1", "nl", weak[2].row.labels, source="x"),
                         True, None, "3", "real-orangebe")  # same text as the held-out row  # fmt: skip
    weak[3] = ReplyLabel(Row("replied-orangebe:4", "andere", "nl", weak[3].row.labels, context="tekst 1",
                             source="x"), True, None, "4", "real-orangebe")  # fmt: skip
    history = ReplyHistory("replied-orangebe", labels=weak)
    rows, dropped = for_training([history], held_out, labelled={"real-orangebe:2"})
    # 1: same text as the held-out row; 2: labelled by the team; 3: text; 4: context
    assert [r.id for r in rows] == [] and dropped == 4
    rows, dropped = for_training([history], [], labelled=set())
    assert len(rows) == 4 and dropped == 0


def test_agreement_cli_on_a_history_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model.settings import get_settings

    shared = fake_shared(tmp_path / "shared")
    labels = labels_file(tmp_path / "labels.csv", [GOOD, {**GOOD, "tweet_id": "103", "needs_reply": "no",
                                                         "urgency": "low", "tags": ""}])  # fmt: skip
    monkeypatch.setenv("WEBCARE_SHARED_DATASETS", str(shared))
    monkeypatch.setenv("WEBCARE_REAL_LABELS", str(labels))
    get_settings.cache_clear()
    try:
        path = history(tmp_path / "h.csv", [["101", "klacht", "2020-05-01T10:00:00Z", "2020-05-01T10:10:00Z"],
                                            ["103", "bedankt", "2020-05-01T10:25:00Z", ""],
                                            ["999", "later", "2020-05-09T10:25:00Z", ""]])  # fmt: skip
        result = CliRunner().invoke(app, ["data", "replied-agreement", "--source", str(path)])
        assert result.exit_code == 0, result.output
        row = next(line for line in result.output.splitlines() if line.strip("│ ").startswith("all"))
        assert [c.strip() for c in row.split("│") if c.strip()][:6] == ["all", "2", "1", "0", "0", "1"]
        assert row.split("│")[-2].strip() == "1.000"  # perfect agreement on these two: kappa 1
        bad = history(tmp_path / "bad.csv", [["1", "x", "nooit", ""]])
        result = CliRunner().invoke(app, ["data", "replied-agreement", "--source", str(bad)])
        assert result.exit_code == 2 and f"{bad}:2: created_at" in result.output
    finally:
        get_settings.cache_clear()


@pytest.mark.slow
def test_training_with_replied_rows_keeps_them_out_of_validation_and_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from training.families import get_family
    from training.train import train

    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WEBCARE_REAL_LABELS", str(tmp_path / "no-labels.csv"))
    settings = Settings()
    parts = split_rows(load_dataset([settings.seed_dir]))
    test_text = next(r.text for r in parts["test"] if "@" not in r.text)
    when = datetime(2026, 1, 1, 9, tzinfo=UTC).isoformat()
    rows = [[f"h{i}", f"verzonnen testvraag {i} over de paarse modem", when, when if i % 2 else ""]
            for i in range(40)]  # fmt: skip
    rows.append(["leak", test_text, when, when])  # a seed test text: must not be trained on
    rows.append(["end", "laatste bericht", "2026-02-01T00:00:00Z", "2026-02-01T00:01:00Z"])
    path = history(tmp_path / "h.csv", rows)
    hashed = split_rows([Row(f"replied-history:h{i}", "x", "nl", {}) for i in range(40)])
    assert hashed["validation"] and hashed["test"]  # by their hash, some would be held out
    result = train(get_family("baseline"), [settings.seed_dir], settings, register=False,
                   log=lambda *_: None, real=False, replied=[str(path)])  # fmt: skip
    counts = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/data_versions.json")["split_counts"]
    assert counts["train"][HISTORY_SOURCE] == 41  # 40 invented + the last one; the leak left out
    assert HISTORY_SOURCE not in counts["validation"] and HISTORY_SOURCE not in counts["test"]
    assert not any(HISTORY_SOURCE in key for key in result.metrics)
    params = mlflow.get_run(result.run_id).data.params
    assert params["data.replied.rows"] == "41"


@pytest.mark.datasets
@needs_shared
def test_real_labels_join_the_pools_used_for_agreement() -> None:
    """The join key of agreement() is the real rows' id: a pool turn must find its label."""
    real = load_real(Settings().real_labels, SHARED)
    result = agreement(pool_history("orangebe", SHARED).labels, real.rows)
    assert result["all"].n > 1000 and -1 <= result["all"].kappa <= 1
