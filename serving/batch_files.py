"""Mention files in and result files out, by extension: CSV, JSON Lines and Parquet.

Readers stream one record at a time and say where each starts (the line, or the row of a
Parquet file) and where the next one starts, so a resumed run can seek past what it has
done. Results are written as one part file per chunk (each atomically) and joined into
the output at the end, so a crash never leaves half a chunk behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from serving.batch_rows import COLUMNS, SCHEMA, ScoredRow, csv_row, flat_row, json_line

Format = Literal["csv", "jsonl", "parquet"]
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}  # fmt: skip


class BatchError(Exception):
    """A problem that stops the run; the message names the file (and line)."""


def file_format(path: Path) -> Format:
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(EXTENSIONS)
        raise BatchError(f"{path}: unknown format {path.suffix or '(no extension)'!r}; use {known}") from None


@dataclass(frozen=True)
class Position:
    """Where the next record starts: byte offset (Parquet: rows) and line (Parquet: row) before it."""

    offset: int = 0
    line: int = 0


@dataclass(frozen=True)
class Record:
    line: int
    """1-based line the record starts on (Parquet: row number)."""
    fields: dict[str, Any] | None
    error: str | None = None
    """Why the record could not be read at all (bad JSON, wrong column count)."""


def input_total(path: Path, fmt: Format) -> int:
    """What ``Position.offset`` reaches at the end: bytes, or rows for Parquet."""
    return pq.ParquetFile(path).metadata.num_rows if fmt == "parquet" else path.stat().st_size


def read_records(path: Path, fmt: Format, start: Position = Position()) -> Iterator[tuple[Record, Position]]:
    """Each record and the position after it, from ``start`` on."""
    if fmt == "csv":
        return _csv_records(path, start)
    if fmt == "jsonl":
        return _jsonl_records(path, start)
    return _parquet_records(path, start)


class _Lines:
    """Lines of a binary file as text, counting bytes and lines as csv.reader pulls them."""

    def __init__(self, fh: io.BufferedReader, path: Path) -> None:
        self.fh, self.path = fh, path
        self.offset, self.line = 0, 0

    def seek(self, position: Position) -> None:
        self.fh.seek(position.offset)
        self.offset, self.line = position.offset, position.line

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.line += 1
        try:
            return raw.decode("utf-8-sig" if self.line == 1 else "utf-8")
        except UnicodeDecodeError:
            raise BatchError(f"{self.path}:{self.line}: not UTF-8 text") from None


def _csv_records(path: Path, start: Position) -> Iterator[tuple[Record, Position]]:
    with open(path, "rb") as fh:
        lines = _Lines(fh, path)
        reader = csv.reader(lines)
        header = next(reader, None)
        if not header:
            raise BatchError(f"{path}:1: no header row")
        if start.offset:
            lines.seek(start)
        while True:
            line = lines.line + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BatchError(f"{path}:{line}: {exc}") from None
            if not values:  # a blank line is not a record
                continue
            after = Position(lines.offset, lines.line)
            if len(values) != len(header):
                yield Record(line, None, f"expected {len(header)} columns, found {len(values)}"), after
            else:
                yield Record(line, dict(zip(header, values, strict=True))), after


def _jsonl_records(path: Path, start: Position) -> Iterator[tuple[Record, Position]]:
    with open(path, "rb") as fh:
        fh.seek(start.offset)
        offset, line = start.offset, start.line
        for raw in fh:
            offset += len(raw)
            line += 1
            after = Position(offset, line)
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except UnicodeDecodeError:
                yield Record(line, None, "not UTF-8 text"), after
                continue
            except json.JSONDecodeError as exc:
                yield Record(line, None, f"invalid JSON: {exc.msg} (column {exc.colno})"), after
                continue
            if not isinstance(value, dict):
                yield Record(line, None, f"expected a JSON object, found {type(value).__name__}"), after
            else:
                yield Record(line, value), after


def _parquet_records(path: Path, start: Position, batch: int = 4096) -> Iterator[tuple[Record, Position]]:
    parquet = pq.ParquetFile(path)
    skip, first_group, row = start.offset, 0, 0
    for i in range(parquet.num_row_groups):  # whole row groups before the start are not read
        size = parquet.metadata.row_group(i).num_rows
        if row + size > skip:
            break
        row += size
        first_group = i + 1
    groups = list(range(first_group, parquet.num_row_groups))
    for rows in parquet.iter_batches(batch_size=batch, row_groups=groups) if groups else ():
        for values in rows.to_pylist():
            row += 1
            if row <= skip:
                continue
            yield Record(row, values), Position(row, row)


class Parts:
    """One output part per chunk beside the output (``.NAME.parts/``), joined by ``finish``."""

    def __init__(self, out: Path, fmt: Format) -> None:
        self.out, self.fmt = out, fmt
        self.dir = out.parent / f".{out.name}.parts"

    def _path(self, index: int) -> Path:
        return self.dir / f"{index:06d}.{self.fmt}"

    def write(self, index: int, rows: Sequence[ScoredRow]) -> None:
        """Write chunk ``index`` atomically and durably (temp file, fsync, rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self._path(index)
        tmp = target.with_suffix(".tmp")
        if self.fmt == "parquet":
            pq.write_table(pa.Table.from_pylist([flat_row(r) for r in rows], schema=SCHEMA), tmp)
            _fsync(tmp)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                if self.fmt == "csv":
                    csv.writer(fh, lineterminator="\n").writerows(csv_row(r) for r in rows)
                else:
                    fh.writelines(json_line(r) + "\n" for r in rows)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)

    def keep(self, count: int) -> None:
        """Drop parts from chunk ``count`` on (written after the last checkpoint) and temp files."""
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            if path.suffix == ".tmp" or (path.stem.isdigit() and int(path.stem) >= count):
                path.unlink()

    def finish(self, count: int) -> None:
        """Join parts ``0..count-1`` into a temp file beside the output, then rename it over it."""
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        if self.fmt == "parquet":
            with pq.ParquetWriter(tmp, SCHEMA) as writer:
                for i in range(count):
                    writer.write_table(pq.read_table(self._path(i), schema=SCHEMA))
        else:
            with open(tmp, "wb") as fh:
                if self.fmt == "csv":
                    header = io.StringIO()
                    csv.writer(header, lineterminator="\n").writerow(COLUMNS)
                    fh.write(header.getvalue().encode())
                for i in range(count):
                    with open(self._path(i), "rb") as part:
                        shutil.copyfileobj(part, fh)
        _fsync(tmp)
        os.replace(tmp, self.out)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
