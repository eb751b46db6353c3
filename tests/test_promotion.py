"""Registry aliases and the promotion gate, through the CLI, on a private MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from model.settings import Settings, get_settings
from tests.conftest import isolated_env
from webcare_cli import app

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def aliases() -> dict[str, str]:
    return {a: str(v) for a, v in MlflowClient().get_registered_model("webcare-triage").aliases.items()}


def test_champion_then_challenger_then_gate(store: Path) -> None:
    runner = CliRunner()
    seed = Settings().seed_dir
    data = ["--data", str(seed / "en.jsonl"), "--data", str(seed / "fr.jsonl")]
    first = runner.invoke(app, ["train", *data, "--no-real"])
    assert first.exit_code == 0, first.output
    assert aliases() == {"champion": "1"}

    # a challenger trained on a sliver of the data is worse: the gate refuses it
    tiny = store / "tiny.jsonl"
    lines = (seed / "en.jsonl").read_text().splitlines()[::6]
    tiny.write_text("\n".join(lines) + "\n")
    weak = runner.invoke(app, ["train", "--data", str(tiny), "--no-real"])
    assert weak.exit_code == 0, weak.output
    assert aliases() == {"champion": "1", "challenger": "2"}
    refused = runner.invoke(app, ["promote", *data])
    assert refused.exit_code == 1
    assert "worse than champion" in refused.output and "champion v1" in refused.output
    assert "beyond noise" in refused.output.replace("\n", " ")
    assert aliases() == {"champion": "1", "challenger": "2"}

    # the same recipe as the champion is not worse on any head: promoted
    again = runner.invoke(app, ["train", *data, "--no-real"])
    assert again.exit_code == 0, again.output
    assert aliases()["challenger"] == "3"
    promoted = runner.invoke(app, ["promote", *data])
    assert promoted.exit_code == 0, promoted.output
    assert "champion is now version 3" in promoted.output
    assert aliases() == {"champion": "3"}


def test_force_and_missing_challenger(store: Path) -> None:
    runner = CliRunner()
    none = runner.invoke(app, ["promote"])
    assert none.exit_code == 2 and "train a model first" in none.output
    fr = ["--data", str(Settings().seed_dir / "fr.jsonl")]
    assert runner.invoke(app, ["train", *fr]).exit_code == 0
    alone = runner.invoke(app, ["promote"])
    assert alone.exit_code == 2 and "no challenger" in alone.output
    assert runner.invoke(app, ["train", *fr]).exit_code == 0
    forced = runner.invoke(app, ["promote", "--force", *fr])
    assert forced.exit_code == 0, forced.output
    assert aliases() == {"champion": "2"}


def test_train_rejects_bad_data_naming_file_and_line(store: Path) -> None:
    bad = store / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "text": "hoi", "lang": "nl", "intent": "nope"}) + "\n")
    res = CliRunner().invoke(app, ["train", "--data", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:1: invalid intent 'nope'" in res.output.replace("\n", "")
    missing = CliRunner().invoke(app, ["train", "--data", str(store / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
