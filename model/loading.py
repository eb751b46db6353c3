"""Load a registered model version into its fast inference runtime.

Serving and promotion call the runtime directly (``predict_proba`` on a list
of texts), skipping pandas on the hot path; the pyfunc stays the portable
artefact that ``mlflow models serve`` or any MLflow client can load.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.base import TriageModel


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    family: str
    runtime: TriageModel


def resolve_alias(name: str, alias: str) -> str:
    """The version an alias points to now (raises MlflowException if unset)."""
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def load_version(name: str, version: str) -> LoadedModel:
    import mlflow.pyfunc
    from mlflow import MlflowClient

    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    wrapper = pyfunc.unwrap_python_model()
    runtime = getattr(wrapper, "runtime", None)
    if runtime is None:
        raise RuntimeError(f"models:/{name}/{version} is not a webcare-triage model")
    tags = MlflowClient().get_model_version(name, version).tags
    return LoadedModel(name, version, tags.get("family", "unknown"), runtime)


def load_alias(name: str, alias: str) -> LoadedModel:
    return load_version(name, resolve_alias(name, alias))
