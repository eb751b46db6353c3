"""Watch a registry alias without importing MLflow into the serving process.

Importing MLflow costs the API ~170 MB and seconds of start-up, only to ask one
question every few seconds: which version does ``champion`` point to? This
module answers it with the store's own interfaces: MLflow's REST API
(``/api/2.0/mlflow/registered-models/alias``) when the tracking URI is a server,
one SQL query on ``registered_model_aliases`` when it is a database store
(SQLite, PostgreSQL, MySQL). Each check opens a fresh connection, so a store
that was down, replaced or moved is picked up again on the next check. Fetching
a new version's artefact, which needs MLflow, runs in a short-lived child
process (``python -m model.registry_watch fetch``); the server then loads the
runtime from the local copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

FETCH_TIMEOUT_S = 600


class RegistryError(RuntimeError):
    """The registry could not answer; the message says why without internals."""


def alias_version(tracking_uri: str, name: str, alias: str, timeout: float = 5.0) -> str | None:
    """The version ``alias`` points to, or None when the alias is not set."""
    if tracking_uri.startswith(("http://", "https://")):
        return _rest_alias(tracking_uri, name, alias, timeout)
    if "://" in tracking_uri and not tracking_uri.startswith(("file:", "databricks")):
        return _sql_alias(tracking_uri, name, alias)
    raise RegistryError(f"alias watch supports server and database stores, not {tracking_uri.split(':')[0]}")


def _rest_alias(uri: str, name: str, alias: str, timeout: float) -> str | None:
    query = urllib.parse.urlencode({"name": name, "alias": alias})
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}"
    request = urllib.request.Request(url, headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URI
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise RegistryError(f"registry answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise RegistryError(f"registry unreachable ({type(exc).__name__})") from None
    return str(body["model_version"]["version"])


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _sql_alias(uri: str, name: str, alias: str) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    engine = create_engine(uri, poolclass=NullPool)  # a fresh connection per check
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT version FROM registered_model_aliases WHERE name = :n AND alias = :a"),
                {"n": name, "a": alias},
            ).first()
    except SQLAlchemyError as exc:
        raise RegistryError(f"registry store unreadable ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    return str(row[0]) if row else None


def fetch_in_child(name: str, version: str, cache: Path) -> None:
    """Download a version's artefact into ``cache`` in a child process that imports MLflow."""
    cmd = [sys.executable, "-m", "model.registry_watch", "fetch", name, version, str(cache)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RegistryError(f"fetching version {version} timed out") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise RegistryError(f"fetching version {version} failed: {last}")


def _main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "fetch":
        print("usage: python -m model.registry_watch fetch NAME VERSION CACHE", file=sys.stderr)
        return 2
    from model.loading import fetch_version
    from model.settings import configure_mlflow

    configure_mlflow()
    fetch_version(argv[1], argv[2], Path(argv[3]))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
