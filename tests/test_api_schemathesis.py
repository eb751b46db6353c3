"""Property-based run of schemathesis against the live OpenAPI schema: no 5xx, responses
conform to the schema. Bounded in examples and time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_schemathesis_finds_no_server_errors(api: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(st),
        "run",
        f"{api}/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,response_schema_conformance",
        "--max-examples",
        "40",
        "--max-time",
        "90",
        "--seed",
        "7",
        "--phases",
        "examples,coverage,fuzzing",
        "-H",
        f"X-API-Key: {API_KEY}",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        "--workers",
        "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
