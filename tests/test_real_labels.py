"""Real labelled mentions: the label file's validator, the loader that joins the pool
texts from a (look-alike) shared folder, the committed label file itself, and agreement."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labeling.real_passes import agreement, assemble, read_pass, write_labels_atomic
from model.dataset import DatasetError
from model.real_labels import COLUMNS, PRODUCT_LANGS, iter_label_errors, load_real, read_labels
from model.settings import Settings
from model.split import assign
from tests.conftest import SHARED, needs_shared
from training.data import split_rows
from webcare_cli import app

COMMITTED = Settings().real_labels
ORANGE_HEADER = ["conversation_idx", "turn", "tweet_id", "author_id", "is_operator", "created_at",
                 "tweet_lang", "in_response_to_id", "in_reply_to_screen_name", "text"]  # fmt: skip
TWCS_HEADER = ["tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id",
               "in_response_to_tweet_id"]  # fmt: skip


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def fake_shared(root: Path, n: int = 0) -> Path:
    """An invented folder shaped like ../shared/datasets (texts written for the test)."""
    orange = [
        ["0", "0", "101", "klant_een", "0", "2020-05-01 10:00:00", "nl", "", "",
         "@OrangeBENL @klant_twee testzin: modem knippert paars"],
        ["0", "1", "102", "OrangeBENL", "1", "2020-05-01 10:20:00", "nl", "101", "klant_een",
         "@klant_een Vervelend! Stuur je ons een DM met je klantnummer? ^AB"],
        ["0", "2", "103", "klant_een", "0", "2020-05-01 10:25:00", "nl", "102", "OrangeBENL",
         "@OrangeBENL gedaan, dank je"],
        ["1", "0", "104", "klant_drie", "0", "2020-05-02 09:00:00", "fr", "", "",
         "@OrangeBENL Bonjour, quel est le prix de la fibre ?"],
    ]  # fmt: skip
    orange += [[str(10 + i), "0", str(200 + i), f"k{i}", "0", "2020-05-03 09:00:00", "nl", "", "",
                f"@OrangeBENL verzonnen testvraag {i} over de paarse modem"] for i in range(n)]  # fmt: skip
    _csv(root / "orangebe_webcare/conversations.csv", ORANGE_HEADER, orange)
    first = [
        ["1", "acmecare", "False", "Mon Mar 04 10:20:00 +0000 2024", "@900 Sorry! Which order?", "", "2"],
        ["2", "900", "True", "Mon Mar 04 10:05:00 +0000 2024", "@acmecare my parcel never came", "1", ""],
    ]  # fmt: skip
    first += [[str(300 + i), str(1000 + i), "True", "Mon Mar 04 10:05:00 +0000 2024",
               f"@acmecare question {i} about billing", "", ""] for i in range(n)]  # fmt: skip
    _csv(root / "twcs/twcs_first5000.csv", TWCS_HEADER, first)
    spotify = [
        ["2", "900", "True", "Mon Mar 04 10:05:00 +0000 2024", "@acmecare my parcel never came", "", ""],
        ["7", "901", "True", "Tue Mar 05 08:00:00 +0000 2024", "@SpotifyCares made-up one @902", "", ""],
    ]  # fmt: skip
    _csv(root / "twcs/twcs_spotifycares_inbound_15k.csv", TWCS_HEADER, spotify)
    return root


GOOD = {"source": "real-orangebe", "tweet_id": "101", "lang": "nl", "intent": "complaint",
        "sentiment": "negative", "needs_reply": "yes", "urgency": "high", "unclear": "0",
        "tags": "outage_question", "sample": "random", "labeler": "a01", "pass": "1"}  # fmt: skip


def labels_file(path: Path, records: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(records)
    return path


def test_loader_joins_text_and_context_and_masks_handles(tmp_path: Path) -> None:
    shared = fake_shared(tmp_path / "shared")
    path = labels_file(tmp_path / "labels.csv", [
        GOOD,
        {**GOOD, "tweet_id": "103", "intent": "praise", "sentiment": "positive", "needs_reply": "no",
         "urgency": "low", "tags": "closing_thanks"},
        {**GOOD, "source": "real-twcs", "tweet_id": "2", "lang": "en", "tags": ""},
        {**GOOD, "source": "real-twcs", "tweet_id": "7", "lang": "en", "tags": ""},
    ])  # fmt: skip
    real = load_real(path, shared)
    assert real.missing_ids == 0 and real.skipped is None
    rows = {r.id: r for r in real.rows}
    assert sorted(rows) == ["real-orangebe:101", "real-orangebe:103", "real-twcs:2", "real-twcs:7"]
    assert rows["real-orangebe:101"].text == "@OrangeBENL @user testzin: modem knippert paars"
    assert rows["real-orangebe:101"].context is None
    assert rows["real-orangebe:103"].context.startswith("@user Vervelend!")  # the operator's turn
    assert rows["real-orangebe:103"].labels["intent"] == "praise"
    assert rows["real-twcs:2"].context is None and rows["real-twcs:2"].domain == "acmecare"
    assert rows["real-twcs:7"].text == "@SpotifyCares made-up one @user"
    assert all(r.source.startswith("real-") and r.sample == "random" for r in rows.values())
    assert "4 rows of 4 labels" in real.summary()


def test_loader_counts_missing_ids_and_other_languages(tmp_path: Path) -> None:
    shared = fake_shared(tmp_path / "shared")
    path = labels_file(tmp_path / "labels.csv", [
        GOOD, {**GOOD, "tweet_id": "999"}, {**GOOD, "tweet_id": "104", "lang": "other"},
    ])  # fmt: skip
    real = load_real(path, shared)
    assert [r.id for r in real.rows] == ["real-orangebe:101"]
    assert real.missing_ids == 1 and real.other_lang == 1
    assert "1 tweet id(s) not found" in real.summary() and "left out" in real.summary()


def test_loader_says_why_when_shared_folder_is_absent(tmp_path: Path) -> None:
    path = labels_file(tmp_path / "labels.csv", [GOOD])
    real = load_real(path, tmp_path / "nowhere")
    assert real.rows == [] and real.labels == 1
    assert "nowhere" in real.summary() and "absent" in real.summary()
    assert "not found" in load_real(tmp_path / "none.csv", tmp_path).summary()


def test_tweet_in_both_twcs_files_is_one_row(tmp_path: Path) -> None:
    shared = fake_shared(tmp_path / "shared")
    path = labels_file(tmp_path / "labels.csv", [{**GOOD, "source": "real-twcs", "tweet_id": "2"}])
    assert [r.id for r in load_real(path, shared).rows] == ["real-twcs:2"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"source": "real-facebook"}, "unknown source 'real-facebook'"),
        ({"tweet_id": "12a"}, "tweet_id must be digits"),
        ({"lang": "Dutch"}, "invalid lang 'Dutch'"),
        ({"intent": "rant"}, "invalid intent 'rant'"),
        ({"urgency": ""}, "empty urgency on a row not marked unclear"),
        ({"unclear": "maybe"}, "unclear must be 0 or 1"),
        ({"tags": "funny"}, "unknown tag(s) funny"),
        ({"sample": "picked"}, "sample must be one of random, rare-fill"),
        ({"labeler": ""}, "empty labeler"),
        ({"pass": "3"}, "pass must be one of"),
    ],
)
def test_validator_names_file_line_and_reason(tmp_path: Path, change: dict, reason: str) -> None:
    path = labels_file(tmp_path / "labels.csv", [GOOD, {**GOOD, "tweet_id": "5", **change}])
    errors = list(iter_label_errors(path))
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:3: ") and reason in errors[0]
    with pytest.raises(DatasetError, match=re.escape(f"{path}:3:")):
        read_labels(path)


def test_validator_duplicates_header_and_unclear(tmp_path: Path) -> None:
    path = labels_file(tmp_path / "labels.csv", [GOOD, GOOD, {**GOOD, "tweet_id": "9", "unclear": "1",
                                                              "intent": ""}])  # fmt: skip
    assert list(iter_label_errors(path)) == [
        f"{path}:3: duplicate 'real-orangebe:101' (first on line 2)"
    ]
    (tmp_path / "bad.csv").write_text("source,tweet_id\nreal-twcs,1\n")
    assert "missing column(s) lang" in next(iter_label_errors(tmp_path / "bad.csv"))


def test_validate_cli_checks_label_files_and_unknown_ids(tmp_path: Path, monkeypatch) -> None:
    from model.settings import get_settings

    shared = fake_shared(tmp_path / "shared")
    monkeypatch.setenv("WEBCARE_SHARED_DATASETS", str(shared))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        good = labels_file(tmp_path / "labels.csv", [GOOD])
        assert runner.invoke(app, ["validate", str(good)]).exit_code == 0
        unknown = labels_file(tmp_path / "labels_u.csv", [GOOD, {**GOOD, "tweet_id": "4242"}])
        result = runner.invoke(app, ["validate", str(unknown)])
        assert result.exit_code == 1
        assert "1 tweet id(s) not found in the pools" in result.output
        bad = labels_file(tmp_path / "labels_b.csv", [{**GOOD, "intent": "rant"}])
        result = runner.invoke(app, ["validate", str(bad)])
        assert result.exit_code == 1 and f"{bad}:2: invalid intent" in result.output
        (tmp_path / "empty").mkdir()
        result = runner.invoke(app, ["validate", str(tmp_path / "empty")])
        assert result.exit_code == 1 and "no dataset files" in result.output
    finally:
        get_settings.cache_clear()


def test_adding_real_rows_moves_no_existing_row(tmp_path: Path) -> None:
    shared = fake_shared(tmp_path / "shared", n=40)
    few = [{**GOOD, "tweet_id": str(200 + i)} for i in range(20)]
    more = few + [{**GOOD, "tweet_id": str(220 + i)} for i in range(20)]
    before = split_rows(load_real(labels_file(tmp_path / "a.csv", few), shared).rows)
    after = split_rows(load_real(labels_file(tmp_path / "b.csv", more), shared).rows)
    for split, rows in before.items():
        assert {r.id for r in rows} <= {r.id for r in after[split]}
        assert all(assign(r.id) == split for r in rows)


def test_agreement_kappa_matches_hand_computation(tmp_path: Path) -> None:
    # 4 mentions; intent: passes agree on 3 of 4. p_o = 0.75; pass 1 = [c, c, q, q],
    # pass 2 = [c, c, q, c] -> p_e = (2/4*3/4) + (2/4*1/4) = 0.5 -> kappa = (0.75-0.5)/0.5 = 0.5
    intents = [("complaint", "complaint"), ("complaint", "complaint"), ("question", "question"),
               ("question", "complaint")]  # fmt: skip
    first = tmp_path / "p1.jsonl"
    second = tmp_path / "p2.jsonl"
    import json

    def line(i: int, intent: str) -> str:
        return json.dumps({"key": f"real-twcs:{i}", "lang": "en", "intent": intent, "sentiment": "neutral",
                           "needs_reply": "yes", "urgency": "normal", "unclear": 0, "tags": []})

    first.write_text("\n".join(line(i, a) for i, (a, _) in enumerate(intents)))
    second.write_text("\n".join(line(i, b) for i, (_, b) in enumerate(intents)))
    p1, p2 = read_pass(first, "a01", "1"), read_pass(second, "b01", "2")
    final, passes = assemble(p1, p2, {"real-twcs:3": p2["real-twcs:3"]})
    result = agreement(passes)
    assert result["intent"] == {"n": 4, "kappa": 0.5, "raw_agreement": 0.75}
    assert result["sentiment"]["raw_agreement"] == 1.0
    by_key = {f.key: f for f in final}
    assert by_key["real-twcs:3"].pass_ == "adjudicated"
    assert by_key["real-twcs:3"].labels["intent"] == "complaint"
    assert by_key["real-twcs:0"].pass_ == "1+2"
    with pytest.raises(ValueError, match="not adjudicated"):
        assemble(p1, p2, {})
    out = tmp_path / "labels.csv"
    write_labels_atomic(out, final)
    assert [r.key for r in read_labels(out)] == [f"real-twcs:{i}" for i in range(4)]


def test_committed_label_file_holds_labels_only() -> None:
    """Texts, handles and URLs stay in their public sources: every cell is a code or an id."""
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} not committed yet")
    allowed = re.compile(r"^[a-z0-9+;_-]*$")
    with COMMITTED.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        for rec in reader:
            for column, value in rec.items():
                assert allowed.match(value), f"line {reader.line_num}: {column} holds free text"
    assert list(iter_label_errors(COMMITTED)) == []


def test_committed_label_file_size_and_languages() -> None:
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} not committed yet")
    labels = read_labels(COMMITTED)
    langs = Counter(label.lang for label in labels)
    assert len(labels) >= 3000
    assert langs["nl"] >= 1500 and langs["en"] >= 1200
    assert set(langs) <= {*PRODUCT_LANGS, "other"}


@pytest.mark.datasets
@needs_shared
def test_committed_labels_join_the_real_pools() -> None:
    real = load_real(COMMITTED, SHARED)
    assert real.missing_ids == 0, real.summary()
    assert len(real.rows) >= 2900
    assert len({r.id for r in real.rows}) == len(real.rows)
    assert all(r.text for r in real.rows)


@pytest.mark.slow
def test_train_uses_real_rows_and_logs_them(tmp_path: Path, monkeypatch) -> None:
    import mlflow

    from tests.conftest import isolated_env
    from training.families import get_family
    from training.train import train

    shared = fake_shared(tmp_path / "shared", n=60)
    kinds = [("complaint", "negative", "yes", "high"), ("question", "neutral", "yes", "normal")]
    records = []
    for i in range(60):
        intent, sentiment, reply, urgency = kinds[i % 2]
        common = {**GOOD, "intent": intent, "sentiment": sentiment, "needs_reply": reply,
                  "urgency": urgency, "tags": ""}  # fmt: skip
        records.append({**common, "tweet_id": str(200 + i)})
        records.append({**common, "source": "real-twcs", "tweet_id": str(300 + i), "lang": "en"})
    label_path = labels_file(tmp_path / "labels.csv", records)
    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    settings = Settings(real_labels=label_path, shared_datasets=shared)
    lines: list[str] = []
    result = train(get_family("baseline"), [settings.seed_dir], settings, log=lines.append)
    assert any(line.startswith("real labels: 120 rows") for line in lines)
    run = mlflow.get_run(result.run_id)
    assert run.data.params["data.real.rows"] == "120"
    assert len(run.data.params["data.real.sha256"]) == 64
    assert "test.real.intent.macro_f1" in result.metrics
    assert "test.source.real-orangebe.intent.macro_f1" in result.metrics
    assert "test.real.intent.lang.en.macro_f1" in result.metrics
    skipped = train(get_family("baseline"), [settings.seed_dir], settings, log=lines.append,
                    register=False, real=False)  # fmt: skip
    assert mlflow.get_run(skipped.run_id).data.tags["data.real.skipped"] == "disabled (--no-real)"
