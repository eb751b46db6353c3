"""Liveness, readiness and the active model."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

router = APIRouter(tags=["operations"])


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
        return {"status": "loading", "error": manager.last_error}
    return {"status": "ready", "model": {"name": model.name, "version": model.version}}


@router.get("/v1/model")
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
        "last_error": manager.last_error,
        "last_registry_check": manager.last_check.isoformat() if manager.last_check else None,
        "policy_version": request.app.state.policy.version,
        "templates_version": request.app.state.replies.version,
    }
