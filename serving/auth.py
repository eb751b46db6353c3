"""API-key check: ``X-API-Key`` compared in constant time against configured keys."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from fastapi.security import APIKeyHeader

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_api_key(request: Request) -> None:
    keys: tuple[bytes, ...] = request.app.state.api_keys
    if not keys:  # running open, explicitly allowed on loopback
        return
    given = request.headers.get("x-api-key")
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    candidate = given.encode()
    ok = False
    for key in keys:  # no early exit: time does not depend on which key matched
        ok |= hmac.compare_digest(candidate, key)
    if not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "APIKey"}
        )
