"""Synthetic mention archives for the batch tests and `benchmarks.batch`.

Built only from the team-written seed texts (data/seed, CC0), varied per row (handles,
follow-up numbers, author reach, times, languages left to detection), never from public
tweet text.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from model.settings import Settings
from serving.settings import MAX_TEXT_CHARS

CSV_FIELDS = [
    "id", "text", "lang", "context", "author.handle", "author.name", "author.followers", "author.verified",
    "created_at", "unanswered_before", "account",
]  # fmt: skip
FIRST_NAMES = ["Sanne", "Daan", "Emma", "Lars", "Camille", "Noah", "Freja", "Jules", "Mila", "Bram"]
SUFFIXES = ["", "", "", " !!", " 🙄", " (al 2x gevraagd)", " #{i}", " ??", " 😡", " ..."]


def seed_rows() -> list[dict]:
    rows = []
    for path in sorted(Settings().seed_dir.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def mentions(n: int, *, seed: int = 7, start: datetime | None = None, detect_share: float = 0.1,
             ) -> list[dict]:  # fmt: skip
    """``n`` API-shaped mentions; ``detect_share`` of them without ``lang`` (detected when scored).
    Every one has a created_at, 37 s apart from ``start`` (default Monday 2026-11-02 07:00 UTC,
    so business hours and nights both occur); a ``start`` later than now makes the API score
    them as at arrival, like the batch default."""
    rng = random.Random(seed)
    base = seed_rows()
    start = start or datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        row = base[(i * 7919) % len(base)]
        text = row["text"] + SUFFIXES[i % len(SUFFIXES)].format(i=i)
        if i % 5 == 0:
            text = f"@klant{i % 97} {text}"
        name = FIRST_NAMES[i % len(FIRST_NAMES)]
        mention: dict = {
            "id": f"m{i:07d}",
            "text": text[:MAX_TEXT_CHARS],
            "author": {"handle": f"@{name.lower()}{i % 1000}", "name": name,
                       "followers": int(10 ** rng.uniform(0, 5)), "verified": rng.random() < 0.03},
            "created_at": (start + timedelta(seconds=37 * i)).isoformat().replace("+00:00", "Z"),
            "unanswered_before": rng.choice([0, 0, 0, 0, 1, 2, 3]),
        }  # fmt: skip
        if rng.random() >= detect_share:
            mention["lang"] = row["lang"]
        if row.get("context"):
            mention["context"] = row["context"]
        if i % 11 == 0:
            mention["account"] = rng.choice(["@VonkHelpt", "@VonkNL"])
        out.append(mention)
    return out


def flat(mention: dict) -> dict:
    """A mention as one CSV row (``author.followers`` columns, blanks for missing)."""
    author = mention.get("author") or {}
    row = {k: mention.get(k, "") for k in CSV_FIELDS if "." not in k}
    row.update({f"author.{k}": author.get(k, "") for k in ("handle", "name", "followers", "verified")})
    return {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()}


def write_jsonl(rows: list[dict], path: Path, bad: dict[int, str] | None = None) -> None:
    """``bad``: raw lines inserted before row index ``k`` (to test error reporting)."""
    bad = bad or {}
    with open(path, "w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            if i in bad:
                fh.write(bad[i] + "\n")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(rows: list[dict], path: Path, bad: dict[int, dict] | None = None) -> None:
    bad = bad or {}
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_FIELDS)
        writer.writeheader()
        for i, row in enumerate(rows):
            if i in bad:
                writer.writerow(bad[i])
            writer.writerow(flat(row))


PARQUET_SCHEMA = pa.schema([
    ("id", pa.string()), ("text", pa.string()), ("lang", pa.string()), ("context", pa.string()),
    ("author", pa.struct([("handle", pa.string()), ("name", pa.string()), ("followers", pa.int64()),
                          ("verified", pa.bool_())])),
    ("created_at", pa.timestamp("us", tz="UTC")), ("unanswered_before", pa.int64()), ("account", pa.string()),
])  # fmt: skip


def write_parquet(rows: list[dict], path: Path, bad: dict[int, dict] | None = None, group: int = 1000,
                  ) -> None:  # fmt: skip
    bad = bad or {}
    records = []
    for i, row in enumerate(rows):
        if i in bad:
            records.append(bad[i])
        created = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        records.append({**row, "created_at": created})
    pq.write_table(pa.Table.from_pylist(records, schema=PARQUET_SCHEMA), path, row_group_size=group)
