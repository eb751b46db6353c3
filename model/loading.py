"""Load a registered model version into its fast inference runtime.

Serving and promotion call the runtime directly (``predict_proba`` on a list
of texts), skipping pandas on the hot path; the pyfunc stays the portable
artefact that any MLflow client can load.

``load_version`` keeps a local copy of each artefact it loads and records the
last one in ``active.json``: the API starts from that copy without importing
MLflow (fast ready, and serving survives a registry outage), then checks the
registry in the background.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from model.base import TriageModel
from model.runtime import META, load_runtime, tier_thresholds


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    family: str
    runtime: TriageModel
    tier_thresholds: dict[str, float] | None = None
    """P1-P3 min_scores tuned for this model on real validation rows (see model.priority)."""


def resolve_alias(name: str, alias: str) -> str:
    """The version an alias points to now (raises MlflowException if unset)."""
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def _runtime_folder(root: Path) -> Path | None:
    """The pyfunc's artefact folder: the one under ``artifacts/`` holding meta.json."""
    found = sorted(root.glob(f"artifacts/*/{META}"))
    return found[0].parent if found else None


def fetch_version(name: str, version: str, cache: Path) -> Path:
    """Download the artefact folder of a version once; return its runtime folder."""
    target = cache / name / version
    if _runtime_folder(target) is None:
        from mlflow.artifacts import download_artifacts

        tmp = cache / name / f".{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(tmp))
        if _runtime_folder(tmp) is None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"models:/{name}/{version} is not a webcare-triage model")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    folder = _runtime_folder(target)
    assert folder is not None
    return folder


def load_version(
    name: str, version: str, cache: Path | None = None, *, remember: bool = False
) -> LoadedModel:
    """Load a version; ``remember`` records it as this machine's last known good model."""
    from mlflow import MlflowClient

    if cache is None:
        from model.settings import get_settings

        cache = get_settings().model_cache_dir()
    folder = fetch_version(name, version, cache)
    runtime = load_runtime(folder)
    family = MlflowClient().get_model_version(name, version).tags.get("family", "unknown")
    if remember:
        _remember(cache / name / "active.json", name, version, family, folder)
    return LoadedModel(name, version, family, runtime, tier_thresholds(folder))


def load_cached(name: str, version: str, cache: Path, *, remember: bool = True) -> LoadedModel | None:
    """A version from the local copy alone (no MLflow); None when it was never fetched."""
    folder = _runtime_folder(cache / name / version)
    if folder is None:
        return None
    family = str(json.loads((folder / META).read_text()).get("family", "unknown"))
    if remember:
        _remember(cache / name / "active.json", name, version, family, folder)
    return LoadedModel(name, version, family, load_runtime(folder), tier_thresholds(folder))


def _remember(active: Path, name: str, version: str, family: str, folder: Path) -> None:
    record = {"name": name, "version": version, "family": family, "folder": str(folder)}
    tmp = active.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(active)


def load_last_known(name: str, cache: Path) -> LoadedModel | None:
    """The last model this machine loaded, without touching the registry."""
    active = cache / name / "active.json"
    try:
        record = json.loads(active.read_text())
        runtime = load_runtime(Path(record["folder"]))
        thresholds = tier_thresholds(Path(record["folder"]))
    except (OSError, ValueError, KeyError):
        return None
    return LoadedModel(record["name"], record["version"], record["family"], runtime, thresholds)


def load_alias(name: str, alias: str) -> LoadedModel:
    return load_version(name, resolve_alias(name, alias))
