"""Error responses that are safe to render: never more of the input than a short, masked excerpt.

FastAPI's own 422 echoes each failing value whole (a 1 MB text comes back, a lone surrogate or
NaN cannot even be encoded and turns the 422 into a 500).
"""

from __future__ import annotations

import math
import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from model.pii import mask

EXCERPT_CHARS = 40
_MASK_WINDOW = 200  # mask a window, not the whole (maybe 1 MB) value; then cut the excerpt
_ONE_LINE = re.compile(r"\s+")


def safe_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, encodable as UTF-8 (lone surrogates escaped)."""
    cut = value[:limit] + ("…" if len(value) > limit else "")
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def excerpt(value: object) -> object:
    """What a 422 may show of a rejected value: scalars only, strings masked and cut short."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value.bit_length() < 53 else f"{value.bit_length()}-bit integer"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return safe_text(mask(safe_text(text[:_MASK_WINDOW], _MASK_WINDOW)), EXCERPT_CHARS)
    return None  # objects and arrays: the location names them; their content stays out


def _ctx(ctx: dict | None) -> dict | None:
    if not ctx:
        return None
    return {k: v if isinstance(v, int | bool) else safe_text(str(v), 80) for k, v in ctx.items()}


def safe_errors(errors: list[dict]) -> list[dict]:
    out = []
    for e in errors:
        item = {
            "loc": [p if isinstance(p, int) else safe_text(str(p), 64) for p in e.get("loc", ())],
            "msg": safe_text(str(e.get("msg", "")), 300),
            "type": str(e.get("type", "")),
        }
        if "input" in e and (shown := excerpt(e["input"])) is not None:
            item["input"] = shown
        if ctx := _ctx(e.get("ctx")):
            item["ctx"] = ctx
        out.append(item)
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each failing field, with at most a short masked excerpt of its value."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": safe_errors(list(exc.errors()))}, status_code=422)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line (its type, then its lines joined): start-up refusals and CLI
    errors; a multi-line message such as a templates file's list of problems keeps its keys."""
    first = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return safe_text(_ONE_LINE.sub(" ", text), limit)
