"""Start-up refusals (issue 8): open mode checks the address uvicorn binds, however it was
started; every refusal is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import isolated_env
from tests.servers import ROOT, free_port

pytestmark = [pytest.mark.integration]
WEBCARE = Path(sys.executable).with_name("webcare")


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WEBCARE_API_KEYS")}
    return subprocess.run(
        args, cwd=ROOT, env={**full, **env}, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_refusal(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if any(n in line for n in needles)]
    assert len(lines) == 1, out


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_open_mode_under_uvicorn_refuses_a_public_bind(tmp_path: Path, host: str) -> None:
    env = {**isolated_env(tmp_path), "WEBCARE_ALLOW_OPEN": "true"}
    cmd = [sys.executable, "-m", "uvicorn", "serving.app:app", "--host", host, "--port", str(free_port())]
    proc = run(cmd, env)
    assert_one_line_refusal(proc, "refusing to start")
    assert "loopback only" in proc.stderr and ("0.0.0.0" in proc.stderr or "::" in proc.stderr)


def test_webcare_serve_refuses_in_one_line(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "WEBCARE_ALLOW_OPEN": "true"}
    proc = run([str(WEBCARE), "serve", "--host", "0.0.0.0", "--port", str(free_port())], env)
    assert proc.returncode == 2
    assert_one_line_refusal(proc, "error:")
    no_keys = run([str(WEBCARE), "serve", "--port", str(free_port())], isolated_env(tmp_path))
    assert no_keys.returncode == 2 and "no API keys configured" in no_keys.stderr
    bad_policy = tmp_path / "policy.toml"
    bad_policy.write_text('version = "x"\n')
    policy = run([str(WEBCARE), "serve"], {**env, "WEBCARE_POLICY": str(bad_policy)})
    assert_one_line_refusal(policy, "error:")
    assert str(bad_policy) in policy.stderr


def test_text_limit_may_only_be_lowered(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "WEBCARE_ALLOW_OPEN": "true", "WEBCARE_MAX_TEXT_CHARS": "5000"}
    proc = run([str(WEBCARE), "serve", "--port", str(free_port())], env)
    assert proc.returncode == 2 and "WEBCARE_MAX_TEXT_CHARS=5000" in proc.stderr
    cmd = [sys.executable, "-m", "uvicorn", "serving.app:app", "--port", str(free_port())]
    assert_one_line_refusal(run(cmd, env), "refusing to start")


def test_micro_batching_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "WEBCARE_ALLOW_OPEN": "true", "WEBCARE_BATCH_MAX_TEXTS": "0"}
    proc = run([str(WEBCARE), "serve", "--port", str(free_port())], env)
    assert proc.returncode == 2 and "batch_max_texts" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_onnx_runtime_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "WEBCARE_ALLOW_OPEN": "true", "WEBCARE_ORT_SPIN": "sometimes"}
    proc = run([str(WEBCARE), "serve", "--port", str(free_port())], env)
    assert proc.returncode == 2 and "ort_spin" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_errors_keep_brackets(tmp_path: Path) -> None:
    proc = run([str(WEBCARE), "score", "hoi", "--lang", "Dutch"], isolated_env(tmp_path))
    assert proc.returncode == 2
    assert "[a-z]" in proc.stderr, proc.stderr


def test_validate_deep_nesting_and_empty_folder(tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": "1", "text": "hoi", "lang": "nl"}\n' + "[" * 100_000 + "\n")
    proc = run([str(WEBCARE), "validate", str(deep)], isolated_env(tmp_path))
    assert proc.returncode == 1 and "RecursionError" not in proc.stderr
    assert f"{deep}:2: invalid JSON: nested too deeply" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run([str(WEBCARE), "validate", str(empty)], isolated_env(tmp_path))
    assert proc.returncode == 1 and "no dataset files" in proc.stderr
