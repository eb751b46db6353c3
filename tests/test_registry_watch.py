"""The alias watch reads the registry without MLflow, recovers from store outages, and the
serving process never imports MLflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.registry_watch import RegistryError, alias_version

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _db(registry: dict[str, str]) -> Path:
    return Path(registry["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))


def test_alias_read_from_the_store_with_sql(registry: dict[str, str]) -> None:
    uri = registry["MLFLOW_TRACKING_URI"]
    assert alias_version(uri, "webcare-triage", "champion") == registry["TRAINED_VERSION"]
    assert alias_version(uri, "webcare-triage", "no-such-alias") is None


def test_a_broken_store_is_a_clear_error_and_the_watch_recovers(
    registry: dict[str, str], tmp_path: Path
) -> None:
    from serving.model_manager import ModelManager

    copy = tmp_path / "mlflow.db"
    shutil.copyfile(_db(registry), copy)
    uri = f"sqlite:///{copy}"
    saved = os.environ["MLFLOW_TRACKING_URI"]
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        cache = tmp_path / "model-cache"
        manager = ModelManager("webcare-triage", "champion", poll_seconds=0, cache=cache)
        assert manager.check() and manager.current is not None
        good = copy.read_bytes()
        copy.write_bytes(b"this is not a database" * 100)
        with pytest.raises(RegistryError) as info:
            alias_version(uri, "webcare-triage", "champion")
        assert "unreadable" in str(info.value) and "SELECT" not in str(info.value)
        assert not manager.check()
        assert manager.last_error and "SELECT" not in manager.last_error
        assert manager.current.version == registry["TRAINED_VERSION"]  # still serving
        copy.unlink()
        copy.write_bytes(good)  # the store is back (a new file: a new inode)
        manager.check()
        assert manager.last_error is None and manager._failures == 0
    finally:
        os.environ["MLFLOW_TRACKING_URI"] = saved


SCRIPT = """
import sys, time
from fastapi.testclient import TestClient
from serving.app import app
with TestClient(app) as client:
    for _ in range(300):
        if client.get("/readyz").status_code == 200 and app.state.models.last_check is not None:
            break
        time.sleep(0.1)
    assert app.state.models.current is not None, app.state.models.last_error
    print("version", app.state.models.current.version)
    print("mlflow", any(m == "mlflow" or m.startswith("mlflow.") for m in sys.modules))
"""


def test_serving_process_does_not_import_mlflow(registry: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **registry, "WEBCARE_ALLOW_OPEN": "true", "WEBCARE_SWAP_POLL_SECONDS": "0",
           "WEBCARE_VAR_DIR": str(tmp_path / "var")}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"version {registry['TRAINED_VERSION']}" in done.stdout  # fetched by the child process
    assert "mlflow False" in done.stdout
