"""The FastAPI application: ``uvicorn serving.app:app``."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from model.feedback import FeedbackStore, feedback_url
from model.priority import Policy
from model.settings import get_settings
from serving.language import LanguageIdentifier
from serving.logs import setup_logging
from serving.metrics import MODEL_INFO, REGISTRY
from serving.middleware import RequestContext
from serving.model_manager import ModelManager
from serving.reply_templates import ReplyTemplates
from serving.routers import feedback, health, score
from serving.routers import report as report_router
from serving.settings import ServeSettings, get_serve_settings

log = logging.getLogger("webcare.api")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_keys(cfg: ServeSettings) -> tuple[bytes, ...]:
    keys = cfg.keys()
    if keys:
        return tuple(k.encode() for k in sorted(keys))
    if cfg.allow_open and _is_loopback(cfg.host):
        log.warning("no API keys configured: serving OPEN on loopback (WEBCARE_ALLOW_OPEN=true)")
        return ()
    raise RuntimeError(
        "no API keys configured: set WEBCARE_API_KEYS or WEBCARE_API_KEYS_FILE, "
        "or WEBCARE_ALLOW_OPEN=true to run without keys on 127.0.0.1"
    )


def create_app(cfg: ServeSettings | None = None) -> FastAPI:
    cfg = cfg or get_serve_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(cfg.log_level)
        settings = get_settings()
        app.state.api_keys = _api_keys(cfg)
        app.state.policy = Policy.load(cfg.policy)
        app.state.replies = ReplyTemplates.load(cfg.reply_templates)  # a bad file stops start-up here
        app.state.feedback = FeedbackStore(feedback_url(settings.var_dir))
        app.state.records = report_router.open_records(app.state.feedback, cfg)
        app.state.record_scores = cfg.record_scores
        app.state.languages = LanguageIdentifier()
        # lingua loads its n-gram models lazily (~1.5 s): warm up off the request path
        threading.Thread(target=app.state.languages.detect, args=("warm up",), daemon=True).start()
        manager = ModelManager(
            settings.registered_model, cfg.model_alias, cfg.swap_poll_seconds,
            cache=settings.var_dir / "model-cache",
        )
        manager.on_swap = _publish_model
        app.state.models = manager
        manager.start()
        yield
        manager.stop()
        log.info("shutdown complete")

    app = FastAPI(
        title="webcare-triage",
        version="0.1.0",
        summary="Triage inbound social-media mentions for webcare teams.",
        lifespan=lifespan,
    )
    app.include_router(score.router)
    app.include_router(feedback.router)
    app.include_router(health.router)
    app.include_router(report_router.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestContext, max_body_bytes=cfg.max_body_bytes)
    return app


def _publish_model(model) -> None:
    MODEL_INFO.clear()
    MODEL_INFO.labels(model.name, model.version, model.family).set(1)


app = create_app()
