"""The FastAPI application: ``uvicorn serving.app:app``."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from model.feedback import FeedbackStore, feedback_url
from model.priority import Policy
from model.settings import get_settings
from serving.bind import bound_addresses, is_loopback
from serving.errors import validation_error
from serving.language import LanguageIdentifier
from serving.logs import setup_logging
from serving.metrics import MODEL_INFO, REGISTRY
from serving.micro_batch import MicroBatcher
from serving.middleware import RequestContext
from serving.model_manager import ModelManager
from serving.reply_templates import ReplyTemplates
from serving.routers import feedback, health, score
from serving.routers import report as report_router
from serving.settings import ServeSettings, check_limits, get_serve_settings

log = logging.getLogger("webcare.api")


class StartupRefused(RuntimeError):
    """A configuration the API will not serve with; its message says what to set."""


def _api_keys(cfg: ServeSettings, addresses: Sequence[str]) -> tuple[bytes, ...]:
    """The configured keys; none only in open mode on sockets that are all loopback."""
    try:
        keys = cfg.keys()
    except OSError as exc:
        raise StartupRefused(f"cannot read WEBCARE_API_KEYS_FILE: {exc.strerror or exc}") from None
    if keys:
        return tuple(k.encode() for k in sorted(keys))
    if not cfg.allow_open:
        raise StartupRefused(
            "no API keys configured: set WEBCARE_API_KEYS or WEBCARE_API_KEYS_FILE, "
            "or WEBCARE_ALLOW_OPEN=true to run without keys on 127.0.0.1"
        )
    public = [a for a in addresses if not is_loopback(a)]
    if public:
        raise StartupRefused(
            f"WEBCARE_ALLOW_OPEN=true but bound to {', '.join(public)}: open mode (no API keys) "
            "serves loopback only; bind 127.0.0.1 or set WEBCARE_API_KEYS"
        )
    log.warning(
        "no API keys configured: serving OPEN on loopback (WEBCARE_ALLOW_OPEN=true)",
        extra={"addresses": list(addresses)},
    )
    return ()


def preflight(cfg: ServeSettings, addresses: Sequence[str]) -> None:
    """The start-up checks that need no model or database, for `webcare serve` to run before
    uvicorn so a refusal is one line and exit 2. Raises StartupRefused or ValueError."""
    check_limits()
    _api_keys(cfg, addresses)
    Policy.load(cfg.policy)
    ReplyTemplates.load(cfg.reply_templates)


def create_app(cfg: ServeSettings | None = None) -> FastAPI:
    cfg = cfg or get_serve_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(cfg.log_level)
        check_limits()
        settings = get_settings()
        app.state.api_keys = _api_keys(cfg, bound_addresses(cfg.host))
        app.state.policy = Policy.load(cfg.policy)
        app.state.replies = ReplyTemplates.load(cfg.reply_templates)  # a bad file stops start-up here
        app.state.feedback = FeedbackStore(feedback_url(settings.var_dir))
        app.state.records = report_router.open_records(app.state.feedback, cfg)
        app.state.record_scores = cfg.record_scores
        app.state.languages = LanguageIdentifier(cfg.language_accuracy)
        # lingua loads its n-gram models lazily (~1.5 s): warm up off the request path
        threading.Thread(target=app.state.languages.detect, args=("warm up",), daemon=True).start()
        manager = ModelManager(
            settings.registered_model,
            cfg.model_alias,
            cfg.swap_poll_seconds,
            cache=settings.model_cache_dir(),
        )
        manager.on_swap = _publish_model
        app.state.models = manager
        manager.start()
        app.state.batcher = MicroBatcher(cfg.batch_max_texts, cfg.batch_wait_ms / 1000)
        yield
        manager.stop()
        await app.state.batcher.close()
        log.info("shutdown complete")

    app = FastAPI(
        title="webcare-triage",
        version="0.1.0",
        summary="Triage inbound social-media mentions for webcare teams.",
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, validation_error)
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
