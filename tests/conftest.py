"""Shared fixtures: an isolated MLflow store with a trained champion, and the real API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.settings import Settings
from tests.servers import running_api

SHARED = Settings().shared_datasets  # ../shared/datasets, or WEBCARE_SHARED_DATASETS


def isolated_env(root: Path) -> dict[str, str]:
    """Environment for a private MLflow store and var/ folder under ``root``."""
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "WEBCARE_VAR_DIR": str(root / "var"),
        "WEBCARE_DATASETS_DIR": str(root / "versions"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A temporary MLflow store holding a baseline champion trained on the seed data."""
    from model.settings import Settings, get_settings
    from training.families import get_family
    from training.train import train

    root = tmp_path_factory.mktemp("registry")
    env = isolated_env(root)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    settings = Settings()
    result = train(get_family("baseline"), [settings.seed_dir], settings, log=lambda *_: None)
    assert result.alias == "champion"
    yield {**env, "TRAINED_VERSION": result.version or ""}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def api(registry: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real API (uvicorn subprocess) serving the champion, key required."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {**registry, "WEBCARE_API_KEYS": API_KEY, "WEBCARE_SWAP_POLL_SECONDS": "1"}
    with running_api(env, log=log) as url:
        yield url


@pytest.fixture
def auth() -> dict[str, str]:
    return {"X-API-Key": API_KEY}


needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"public datasets folder {SHARED} is absent (set WEBCARE_SHARED_DATASETS)"
)
