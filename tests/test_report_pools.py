"""The history report on the real public pools (Orange Belgium, TWCS first 5000) in ../shared/datasets.

The answer reconstruction must agree with ``model.real_pools`` (what the labeling and
priority evaluation use) mention by mention, and no handle may reach a report file.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from model.real_pools import ORANGEBE, POOL_FILES, TWCS, read_orangebe, read_twcs
from serving.report.history import read_history
from tests.conftest import SHARED, needs_shared

pytestmark = [needs_shared, pytest.mark.datasets]
POOLS = {ORANGEBE: (POOL_FILES[ORANGEBE][0], read_orangebe), TWCS: (POOL_FILES[TWCS][0], read_twcs)}


@pytest.mark.parametrize("source", sorted(POOLS))
def test_answers_agree_with_real_pools(source: str) -> None:
    rel, reader = POOLS[source]
    history = read_history(SHARED / rel)
    assert history.meta["malformed_rows_skipped"] == 0
    ours = dict(zip(history.mentions["id"], history.mentions["replied_at"], strict=True))
    theirs = {m.tweet_id: m.replied_at for m in reader(SHARED) if m.file == rel}
    assert set(ours) == set(theirs)
    differ = [k for k, when in theirs.items()
              if (when is None) != pd.isna(ours[k]) or (when is not None and pd.Timestamp(when) != ours[k])]
    assert differ == []  # fmt: skip
    assert 0.5 < history.mentions["replied_at"].notna().mean() < 1


def test_orangebe_report_holds_no_handles(tmp_path: Path) -> None:
    from webcare_cli import app

    path = SHARED / POOL_FILES[ORANGEBE][0]
    out = tmp_path / "orangebe"
    result = CliRunner().invoke(app, ["report", "history", str(path), "--no-model", "--tz", "Europe/Brussels",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads((out / "report.json").read_text())
    assert figures["meta"]["format"] == "orangebe" and figures["summary"]["inbound"] > 1000
    assert sum(map(sum, figures["peak_hours"]["counts"])) == figures["summary"]["inbound"]
    with path.open(encoding="utf-8-sig", newline="") as fh:
        customers = {r["author_id"] for r in csv.DictReader(fh) if r["is_operator"] == "0"}
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (out / "report.html").read_text())
    written = html + (out / "report.json").read_text() + (out / "mentions.csv").read_text()
    names = [c for c in customers if len(c) >= 4 and not c.isdigit()]
    leaked = sum(1 for c in names if re.search(rf"\b{re.escape(c)}\b", written))
    assert leaked == 0  # a count, so a failure prints no handle
