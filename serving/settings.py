"""API settings from the environment (prefix ``WEBCARE_``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model.dataset import MAX_TEXT_CHARS as DATASET_MAX_TEXT_CHARS
from model.settings import CHAMPION, PROJECT_ROOT
from serving.language import DEFAULT_ACCURACY, Accuracy

MAX_BATCH = int(os.environ.get("WEBCARE_MAX_BATCH", "256"))


def _text_limit(raw: str | None) -> tuple[int, str | None]:
    """``WEBCARE_MAX_TEXT_CHARS`` may only lower the dataset's limit: a longer text would be
    accepted here and rejected by the labeling export. Returns the limit and, when the
    setting is unusable, why (``check_limits`` stops start-up with it)."""
    if raw is None or not raw.strip():
        return DATASET_MAX_TEXT_CHARS, None
    try:
        value = int(raw)
    except ValueError:
        return DATASET_MAX_TEXT_CHARS, f"WEBCARE_MAX_TEXT_CHARS={raw[:20]!r} is not a whole number"
    if not 1 <= value <= DATASET_MAX_TEXT_CHARS:
        return DATASET_MAX_TEXT_CHARS, (
            f"WEBCARE_MAX_TEXT_CHARS={value} must be between 1 and {DATASET_MAX_TEXT_CHARS} "
            "(the dataset limit, model/dataset.py)"
        )
    return value, None


MAX_TEXT_CHARS, _TEXT_LIMIT_ERROR = _text_limit(os.environ.get("WEBCARE_MAX_TEXT_CHARS"))


def check_limits() -> None:
    """Start-up check of the input limits read at import time."""
    if _TEXT_LIMIT_ERROR:
        raise ValueError(_TEXT_LIMIT_ERROR)


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBCARE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    model_alias: str = CHAMPION
    swap_poll_seconds: float = Field(15.0, description="how often to look for a new champion; 0 = never")
    policy: Path | None = Field(None, description="priority policy TOML; default: the shipped one")
    reply_templates: Path | None = Field(
        None, description="suggested-reply templates TOML; default: serving/templates/default.toml"
    )
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys_file: Path | None = None
    allow_open: bool = Field(False, description="serve without API keys (loopback hosts only)")
    max_body_bytes: int = 1_000_000
    log_level: str = "INFO"
    record_scores: bool = Field(
        False, description="record each scored mention's id, times and tier for the SLA report (no text)"
    )
    batch_max_texts: int = Field(
        32, ge=1, le=MAX_BATCH, description="micro-batching: most texts in one model call"
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=50,
        description="micro-batching: how long the oldest queued request may wait for company",
    )
    ort_threads: int | None = Field(
        None, ge=1, le=64, description="ONNX Runtime intra-op threads (read by model.onnx_runtime)"
    )
    ort_spin: bool = Field(True, description="whether idle ONNX Runtime threads spin (model.onnx_runtime)")
    language_accuracy: Accuracy = Field(
        DEFAULT_ACCURACY, description="lingua mode for mentions without lang: low (14 MB) or high (190 MB)"
    )
    record_retention_days: int = Field(90, ge=0, description="delete score records older than this; 0 = keep")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [k for k in value.split(",") if k.strip()] if isinstance(value, str) else value

    def keys(self) -> set[str]:
        keys = {k.strip() for k in self.api_keys if k.strip()}
        if self.api_keys_file:
            for line in self.api_keys_file.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    keys.add(line)
        return keys


@lru_cache
def get_serve_settings() -> ServeSettings:
    return ServeSettings()


__all__ = [
    "MAX_BATCH",
    "MAX_TEXT_CHARS",
    "PROJECT_ROOT",
    "ServeSettings",
    "check_limits",
    "get_serve_settings",
]
