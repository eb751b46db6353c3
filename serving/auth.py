"""API-key check: ``X-API-Key`` compared in constant time against configured keys."""

from __future__ import annotations

import base64
import hmac

from fastapi import HTTPException, Request, status
from fastapi.security import APIKeyHeader

from serving.bind import is_loopback

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _open_on_loopback(request: Request) -> None:
    """Open mode answers loopback connections only: a second guard behind the start-up one,
    for servers whose bound sockets it could not see."""
    server = request.scope.get("server")
    if server is not None and not is_loopback(str(server[0])):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "open mode (no API keys) serves loopback only")


def require_api_key(request: Request) -> None:
    keys: tuple[bytes, ...] = request.app.state.api_keys
    if not keys:  # running open, explicitly allowed on loopback
        _open_on_loopback(request)
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


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="webcare-triage report", charset="UTF-8"'}


def _matches(candidate: bytes, keys: tuple[bytes, ...]) -> bool:
    ok = False
    for key in keys:  # no early exit, as above
        ok |= hmac.compare_digest(candidate, key)
    return ok


def require_api_key_or_login(request: Request) -> None:
    """For pages a browser opens (``/report``): ``X-API-Key``, or HTTP Basic with the key as the
    password (any user name). A 401 carries a Basic challenge so the browser asks for it."""
    keys: tuple[bytes, ...] = request.app.state.api_keys
    if not keys:
        _open_on_loopback(request)
        return
    given = request.headers.get("x-api-key")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not given and scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            given = None
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key: X-API-Key, or log in with the key as password",
            headers=BASIC_CHALLENGE,
        )  # fmt: skip
    if not _matches(given.encode(), keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers=BASIC_CHALLENGE)
