"""`webcare score-file`: formats, bad rows, resuming after a crash, and parity with /v1/score."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from serving.batch import Progress, score_file
from serving.batch_files import BatchError
from serving.batch_rows import COLUMNS, ScoredRow, csv_row, flat_row
from tests.batch_inputs import mentions, write_csv, write_jsonl, write_parquet
from tests.servers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def read_jsonl(path: Path) -> list[ScoredRow]:
    return [ScoredRow.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(src: Path, out: Path, **options) -> tuple[object, list[str]]:
    said: list[str] = []
    return score_file(src, out, report=said.append, **options), said


def test_csv_jsonl_parquet_with_bad_rows(registry: dict[str, str], tmp_path: Path) -> None:
    rows = mentions(40)
    rows[3]["text"] = "Mijn factuur klopt niet.\nKunnen jullie even kijken?"  # a quoted newline in CSV
    upper_lang = json.dumps({"id": "b", "text": "x", "lang": "NL"})
    write_jsonl(rows, tmp_path / "in.jsonl", bad={5: "{not json", 9: upper_lang})
    negative = {"id": "b2", "text": "hoi", "author.followers": "-3"}
    write_csv(rows, tmp_path / "in.csv", bad={5: {"id": "b1", "text": ""}, 9: negative})
    write_parquet(rows, tmp_path / "in.parquet", bad={5: {"id": "b1", "text": " "}}, group=16)

    reference, said = run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", chunk_size=7)
    assert said == [
        f"{tmp_path / 'in.jsonl'}:6: invalid JSON: Expecting property name enclosed in double quotes "
        "(column 2)",
        f"{tmp_path / 'in.jsonl'}:11: lang: String should match pattern '^[a-z]{{2}}$'",
    ]
    assert (reference.scored, reference.skipped) == (40, 2)
    expected = read_jsonl(tmp_path / "out.jsonl")
    assert [r.id for r in expected] == [m["id"] for m in rows]  # input order, none lost, none twice

    summary, said = run(tmp_path / "in.csv", tmp_path / "out.csv", chunk_size=7)
    # the CSV's header is line 1 and row 3 spans two lines: the bad rows sit on lines 8 and 13
    assert said == [
        f"{tmp_path / 'in.csv'}:8: text: String should have at least 1 character",
        f"{tmp_path / 'in.csv'}:13: author.followers: Input should be greater than or equal to 0",
    ]
    assert (summary.scored, summary.skipped) == (40, 2)
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == COLUMNS
    assert table[1:] == [csv_row(r) for r in expected]

    summary, said = run(tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_size=7)
    assert said == [f"{tmp_path / 'in.parquet'}:6: text: Value error, text must not be blank"]
    assert (summary.scored, summary.skipped) == (40, 1)
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [flat_row(r) for r in expected]
    assert not list(tmp_path.glob(".*")) and not list(tmp_path.glob("*.progress.json"))  # no leftovers


def test_cli_prints_throughput_and_fails_on_a_bad_row(registry: dict[str, str], tmp_path: Path) -> None:
    from webcare_cli import app

    write_jsonl(mentions(12), tmp_path / "in.jsonl", bad={4: '{"id": "x"}'})
    runner = CliRunner()
    ok = runner.invoke(app, ["score-file", str(tmp_path / "in.jsonl"), str(tmp_path / "out.parquet"),
                             "--no-progress"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert f"{tmp_path / 'in.jsonl'}:5: text: Field required" in ok.stderr
    assert "12 scored, 1 skipped (bad rows)" in ok.stderr and "rows/s" in ok.stderr
    assert pq.read_metadata(tmp_path / "out.parquet").num_rows == 12

    failed = runner.invoke(app, ["score-file", str(tmp_path / "in.jsonl"), str(tmp_path / "new.csv"),
                                 "--on-error", "fail", "--chunk-size", "2"])  # fmt: skip
    assert failed.exit_code == 1
    assert f"error: {tmp_path / 'in.jsonl'}:5: text: Field required" in failed.stderr
    assert not (tmp_path / "new.csv").exists() and not Progress.path_for(tmp_path / "new.csv").exists()
    assert not (tmp_path / ".new.csv.parts").exists()


class Crash(Exception):
    pass


def test_interrupted_run_resumes_without_loss_or_duplicates(registry: dict[str, str], tmp_path: Path) -> None:
    rows = mentions(90)
    src = tmp_path / "in.jsonl"
    write_jsonl(rows, src, bad={20: "[1, 2]"})
    run(src, tmp_path / "reference.jsonl", chunk_size=10)

    def crash_after_third(done: int) -> None:
        if done == 3:
            raise Crash

    out = tmp_path / "out.jsonl"
    with pytest.raises(Crash):
        run(src, out, chunk_size=10, on_chunk=crash_after_third)
    assert not out.exists()
    progress = Progress.load(Progress.path_for(out))
    assert (progress.chunks, progress.scored, progress.skipped, progress.line) == (3, 29, 1, 30)
    # what a crash between writing a part and recording it leaves behind: dropped on resume
    parts = tmp_path / ".out.jsonl.parts"
    (parts / "000003.jsonl").write_text((parts / "000000.jsonl").read_text())
    (parts / "000004.tmp").write_text("half a chunk")

    with pytest.raises(BatchError, match="uses model version 1, not 9"):
        run(src, out, resume=True, version="9")
    summary, said = run(src, out, chunk_size=10, resume=True)
    assert said[0] == f"resuming at {src}:31 after 3 chunk(s), 29 row(s) scored"
    assert (summary.scored, summary.skipped, summary.rows_this_run) == (90, 1, 61)
    assert out.read_text() == (tmp_path / "reference.jsonl").read_text()
    assert [r.id for r in read_jsonl(out)] == [m["id"] for m in rows]
    assert not parts.exists() and not Progress.path_for(out).exists()


def test_killed_process_resumes(registry: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL mid-run (a real crash), then `--resume` from the command line: same rows as one run."""
    rows = mentions(3000, detect_share=0.0)
    src, out = tmp_path / "in.parquet", tmp_path / "out.csv"
    write_parquet(rows, src, group=128)
    sidecar = Progress.path_for(out)
    cmd = [sys.executable, "-m", "webcare_cli", "score-file", str(src), str(out), "--chunk-size", "25",
           "--no-progress"]  # fmt: skip
    env = {**os.environ, **{k: v for k, v in registry.items() if k != "TRAINED_VERSION"}}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (sidecar.is_file() and json.loads(sidecar.read_text())["chunks"] >= 4):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it was killed"
    done = json.loads(sidecar.read_text())["scored"]
    assert 100 <= done < 3000

    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at {src}:{done + 1}" in resumed.stderr
    assert "3,000 scored, 0 skipped" in resumed.stderr
    with open(out, encoding="utf-8", newline="") as fh:
        ids = [r["id"] for r in csv.DictReader(fh)]
    assert ids == [m["id"] for m in rows]


def test_same_results_as_the_api(api: str, auth: dict[str, str], tmp_path: Path) -> None:
    """The same mentions through /v1/score and through a file: field for field the same JSON."""
    # created after the API's clock (within the day ahead it accepts): it scores them as at arrival
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    rows = mentions(300, detect_share=0.3, start=soon)
    write_jsonl(rows, tmp_path / "in.jsonl")
    summary, said = run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", chunk_size=128)
    assert said == [] and summary.scored == 300
    from_file = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    from_api = []
    with httpx.Client(headers=auth, timeout=60) as http:
        for i in range(0, len(rows), 100):
            r = http.post(f"{api}/v1/score", json={"mentions": rows[i : i + 100]})
            assert r.status_code == 200, r.text
            body = r.json()
            scored_by = {k: body[k] for k in ("model", "policy_version", "templates_version")}
            from_api += [{**res, **scored_by} for res in body["results"]]
    assert len(from_api) == len(from_file) == 300
    assert {r["lang_detected"] for r in from_file} == {True, False}
    assert {r["priority"]["tier"] for r in from_file} >= {"P1", "P4"}
    for a, b in zip(from_api, from_file, strict=True):
        assert a == b
