"""Liveness, readiness and the active model."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response, status

from serving.auth import require_api_key
from serving.errors import safe_text
from serving.schemas import ERROR_RESPONSES

router = APIRouter(tags=["operations"])
_DRIVER = re.compile(r"^\([\w.]+\)\s*")  # SQLAlchemy's "(sqlite3.OperationalError) " prefix


def public_error(error: str | None) -> str | None:
    """A load error without internals: its first line, no SQL statement, driver or parameters."""
    if not error:
        return None
    kind, _, message = error.partition(": ")
    first = _DRIVER.sub("", message.strip().splitlines()[0] if message.strip() else "")
    first = first.split("[SQL:", 1)[0].split("(Background on this error", 1)[0].strip()
    return safe_text(f"{kind}: {first}" if first else kind, 200)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (does not need a model)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, response: Response) -> dict[str, object]:
    """Ready to score: a model is loaded."""
    manager = request.app.state.models
    model = manager.current
    if model is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "loading", "error": public_error(manager.last_error)}
    return {"status": "ready", "model": {"name": model.name, "version": model.version}}


@router.get("/v1/model", dependencies=[Depends(require_api_key)], responses={401: ERROR_RESPONSES[401]})
def active_model(request: Request, response: Response) -> dict[str, object]:
    """The model version serving now, and the last load error if a swap failed."""
    manager = request.app.state.models
    model = manager.current
    if model is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "name": manager.name,
        "alias": manager.alias,
        "version": model.version if model else None,
        "family": model.family if model else None,
        "last_error": public_error(manager.last_error),
        "last_registry_check": manager.last_check.isoformat() if manager.last_check else None,
        "policy_version": request.app.state.policy.version,
        "templates_version": request.app.state.replies.version,
    }
