"""`webcare score-spark` in Spark local[2]: the same rows as `webcare score-file` on the same input."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from serving.batch import score_file
from tests.batch_inputs import mentions, write_csv, write_jsonl, write_parquet

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(registry: dict[str, str]) -> Iterator[object]:
    missing = [what for what, ok in (("java", shutil.which("java") or os.environ.get("JAVA_HOME")),
                                     ("pyspark", _importable("pyspark"))) if not ok]  # fmt: skip
    if missing and not os.environ.get("CI"):  # CI installs both (make test): there it must run
        pytest.skip(f"needs {' and '.join(missing)} (`make test` installs pyspark; Java 17: openjdk-17-jre)")
    from serving.spark_scoring import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["id"])


def test_spark_equals_the_local_command(spark, tmp_path: Path) -> None:
    from serving.spark_scoring import score_spark

    rows = mentions(400, detect_share=0.2)
    src = tmp_path / "in.jsonl"
    write_jsonl(rows, src, bad={10: "{oops", 50: json.dumps({"id": "short", "text": ""})})
    said: list[str] = []
    summary = score_spark(spark, str(src), str(tmp_path / "spark.parquet"), partitions=3, report=said.append)
    assert (summary.scored, summary.skipped, summary.master) == (400, 2, "local[2]")
    assert any(line.endswith("short: text: String should have at least 1 character") for line in said)
    errors = [json.loads(line) for f in (tmp_path / "spark.parquet.errors").glob("*.json")
              for line in f.read_text().splitlines()]  # fmt: skip
    assert sorted(e["error"] for e in errors) == [
        "invalid JSON", "text: String should have at least 1 character"]

    local = score_file(src, tmp_path / "local.parquet", report=lambda _: None)
    assert (local.scored, local.skipped) == (400, 2)
    expected = pq.read_table(tmp_path / "local.parquet").to_pylist()
    got = pq.read_table(tmp_path / "spark.parquet").to_pylist()
    assert len(got) == 400 and by_id(got) == by_id(expected)


def test_spark_csv_to_jsonl(spark, tmp_path: Path) -> None:
    from serving.spark_scoring import score_spark

    rows = mentions(120)
    rows[7]["text"] = 'Waarom "gratis" als het €5 kost?\nGraag uitleg.'  # quotes and a newline in CSV
    write_csv(rows, tmp_path / "in.csv", bad={3: {"id": "neg", "text": "hoi", "author.followers": "-1"}})
    summary = score_spark(spark, str(tmp_path / "in.csv"), str(tmp_path / "spark.jsonl"),
                          report=lambda _: None)  # fmt: skip
    assert (summary.scored, summary.skipped) == (120, 1)
    score_file(tmp_path / "in.csv", tmp_path / "local.jsonl", report=lambda _: None)
    expected = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    got = [json.loads(line) for f in sorted((tmp_path / "spark.jsonl").glob("part-*"))
           for line in f.read_text().splitlines()]  # fmt: skip
    assert by_id(got) == by_id(expected)


def test_spark_parquet_folder_to_csv(spark, tmp_path: Path) -> None:
    """A folder of Parquet parts with an ``author`` struct and timestamps, written as CSV."""
    import csv

    from serving.spark_scoring import score_spark

    rows = mentions(90)
    (tmp_path / "archive").mkdir()
    write_parquet(rows[:50], tmp_path / "archive" / "part-0.parquet")
    write_parquet(rows[50:], tmp_path / "archive" / "part-1.parquet")
    write_parquet(rows, tmp_path / "all.parquet")
    summary = score_spark(spark, str(tmp_path / "archive"), str(tmp_path / "spark.csv"),
                          input_format="parquet", report=lambda _: None)  # fmt: skip
    assert (summary.scored, summary.skipped) == (90, 0)
    score_file(tmp_path / "all.parquet", tmp_path / "local.csv", report=lambda _: None)

    def read(paths) -> list[dict]:
        out = []
        for path in paths:
            with open(path, encoding="utf-8", newline="") as fh:
                out += list(csv.DictReader(fh))
        return out

    spark_rows = read(sorted((tmp_path / "spark.csv").glob("part-*")))
    assert by_id(spark_rows) == by_id(read([tmp_path / "local.csv"]))


def test_cli_fails_on_a_bad_row_then_scores(spark, tmp_path: Path) -> None:
    """Last in the module: the command stops the shared session when it is done."""
    from typer.testing import CliRunner

    from webcare_cli import app

    src = tmp_path / "in.jsonl"
    write_jsonl(mentions(30), src, bad={2: json.dumps({"id": "nl", "text": "x", "lang": "NLD"})})
    runner = CliRunner()
    failed = runner.invoke(app, ["score-spark", str(src), str(tmp_path / "x.parquet"), "--on-error", "fail"])
    assert failed.exit_code == 1 and "1 bad row(s)" in failed.stderr and "nl: lang:" in failed.stderr
    assert not (tmp_path / "x.parquet").exists()
    ok = runner.invoke(app, ["score-spark", str(src), str(tmp_path / "out.parquet"), "--master", "local[2]"])
    assert ok.exit_code == 0, ok.output
    assert "30 scored, 1 skipped (bad rows)" in ok.stderr and "rows/s on local[2]" in ok.stderr
    assert pq.read_metadata(next((tmp_path / "out.parquet").glob("part-*"))).num_rows <= 30
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "out.parquet").glob("part-*")) == 30
