"""Batch scoring's pieces without a model: file rows to mentions, the clock, readers and parts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.batch_files import BatchError, Parts, Position, file_format, read_records
from serving.batch_rows import COLUMNS, SCHEMA, Clock, mention_fields, validate
from serving.schemas import Mention


def test_file_rows_become_api_mentions() -> None:
    flat = {"id": 17, "text": "Storing?", "author.followers": "2300", "author.verified": "true",
            "author.name": "", "lang": None, "tags": ["x"], "intent": "question"}  # fmt: skip
    assert mention_fields(flat, "9") == {"id": "17", "text": "Storing?", "tags": ["x"], "intent": "question",
                                         "author": {"followers": "2300", "verified": "true"}}  # fmt: skip
    nested = {"text": "Hoi", "author": {"handle": "@a", "followers": np.int64(5), "name": float("nan")},
              "created_at": pd.Timestamp("2026-11-02T07:00:00Z"), "unanswered_before": pd.NaT}  # fmt: skip
    m = validate(nested, "4")
    assert isinstance(m, Mention)
    assert (m.id, m.author.followers, m.author.name, m.unanswered_before) == ("4", 5, None, 0)
    assert m.created_at == datetime(2026, 11, 2, 7, tzinfo=UTC)
    assert validate({"text": ""}, "1") == "text: String should have at least 1 character"
    assert validate({"id": "x"}, "1") == "text: Field required"
    assert validate({"text": "a", "lang": "NLD", "author.followers": -1}, "1") == (
        "lang: String should match pattern '^[a-z]{2}$'; author.followers: Input should be greater than or "
        "equal to 0"
    )


def test_clock() -> None:
    started = datetime(2026, 11, 2, 12, tzinfo=UTC)
    early, late = (Mention(id=str(i), text="x", created_at=started - timedelta(hours=h))
                   for i, h in ((1, 5), (2, 1)))  # fmt: skip
    undated = Mention(id="3", text="x")
    filled, now = Clock.parse("arrival", started).apply([late, early, undated])
    assert now == early.created_at and filled[2].created_at == started  # nothing has waited
    assert Clock.parse("now", started).apply([late])[1] == started
    fixed = Clock.parse("2026-11-03T08:00:00Z", started)
    assert fixed.apply([late])[1] == datetime(2026, 11, 3, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        Clock.parse("yesterday", started)


def test_output_columns_follow_the_api_json() -> None:
    assert COLUMNS[:4] == ["id", "lang", "lang_detected", "intent.label"]
    for path in ("intent.probabilities.complaint", "needs_reply.value", "priority.respond_by", "routing.team",
                 "suggested_reply.text", "model.version", "policy_version"):  # fmt: skip
        assert path in COLUMNS
    assert SCHEMA.field("priority.reasons").type == pa.list_(pa.string())
    assert SCHEMA.field("priority.respond_by").type == pa.timestamp("us", tz="UTC")
    assert file_format(Path("a.NDJSON")) == "jsonl"
    with pytest.raises(BatchError, match="unknown format"):
        file_format(Path("a.xlsx"))


def _all(path: Path, fmt, start: Position | None = None) -> list[tuple[int, str | None, Position]]:
    records = read_records(path, fmt, start or Position())
    return [(r.line, (r.fields or {}).get("id") or r.error, after) for r, after in records]


def test_csv_reader_counts_physical_lines_and_seeks(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes('\ufeffid,text\n1,"two\nlines"\n\n2,x\n3,x,extra\n4,"a ""quote"""\n'.encode())
    rows = _all(src, "csv")
    assert [(line, what) for line, what, _ in rows] == [
        (2, "1"), (5, "2"), (6, "expected 2 columns, found 3"), (7, "4")]
    assert next(iter(read_records(src, "csv")))[0].fields == {"id": "1", "text": "two\nlines"}
    resumed = _all(src, "csv", rows[1][2])  # after the record on line 5
    assert [(line, what) for line, what, _ in resumed] == [(6, "expected 2 columns, found 3"), (7, "4")]


def test_jsonl_and_parquet_readers(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a"}\n\n[1]\n{bad\n\xff\n{"id": "b"}\n')
    rows = _all(src, "jsonl")
    assert [(line, what) for line, what, _ in rows] == [
        (1, "a"), (3, "expected a JSON object, found list"), (4, "invalid JSON: Expecting property name "
        "enclosed in double quotes (column 2)"), (5, "not UTF-8 text"), (6, "b")]  # fmt: skip
    after_line_3 = rows[1][2]
    assert [what for _, what, _ in _all(src, "jsonl", after_line_3)] == [rows[2][1], "not UTF-8 text", "b"]

    table = pa.Table.from_pylist([{"id": str(i), "text": "x"} for i in range(10)])
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=3)
    rows = _all(tmp_path / "in.parquet", "parquet")
    assert [line for line, _, _ in rows] == list(range(1, 11))
    assert [what for _, what, _ in _all(tmp_path / "in.parquet", "parquet", rows[6][2])] == ["7", "8", "9"]


def test_parts_keep_only_checkpointed_chunks(tmp_path: Path) -> None:
    parts = Parts(tmp_path / "out.jsonl", "jsonl")
    parts.dir.mkdir()
    for i in range(3):
        (parts.dir / f"{i:06d}.jsonl").write_text(json.dumps({"chunk": i}) + "\n")
    (parts.dir / "000003.tmp").write_text("half")
    parts.keep(2)
    assert sorted(p.name for p in parts.dir.iterdir()) == ["000000.jsonl", "000001.jsonl"]
    parts.finish(2)
    assert (tmp_path / "out.jsonl").read_text() == '{"chunk": 0}\n{"chunk": 1}\n'
    parts.remove()
    assert not parts.dir.exists()
