"""`webcare serve` with the registry broken (issue 8): it starts from the local model cache and
says so in one line, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY
from tests.servers import ROOT, free_port, running_api

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_serve_starts_from_the_cache_when_the_registry_is_broken(
    registry: dict[str, str], tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "mlflow.db"  # a copy of the registry, broken once the cache is filled
    shutil.copyfile(registry["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"), broken)
    env = {**registry, "WEBCARE_API_KEYS": API_KEY, "MLFLOW_TRACKING_URI": f"sqlite:///{broken}"}
    with running_api(env, log=tmp_path / "first.log"):
        pass  # loading the champion once fills var/model-cache for this registry
    broken.write_bytes(b"this is not a database" * 100)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("webcare")), "serve", "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env, "MLFLOW_TRACKING_URI": f"sqlite:///{broken}"},
            stdout=out, stderr=out,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            model = httpx.get(f"http://127.0.0.1:{port}/v1/model", headers={"X-API-Key": API_KEY}).json()
            assert model["version"] == registry["TRAINED_VERSION"]
            assert "SELECT" not in str(model["last_error"]) and "[SQL" not in str(model["last_error"])
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    text = log.read_text()
    assert "Traceback" not in text
    assert len([line for line in text.splitlines() if "registry unreachable" in line]) == 1, text
