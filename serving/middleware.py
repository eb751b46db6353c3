"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path):
request ids, access logs, metrics and the request body size limit."""

from __future__ import annotations

import json
import logging
import time
import uuid

from serving.metrics import LATENCY, REQUESTS

log = logging.getLogger("webcare.access")
KNOWN_PATHS = {"/v1/score", "/v1/feedback", "/healthz", "/readyz", "/metrics", "/v1/model", "/report"}


class RequestContext:
    def __init__(self, app, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        status = 500

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _too_large(send, self.max_body, rid)
            status = 413
        else:
            received = 0
            too_big = False

            async def limited_receive():
                nonlocal received, too_big
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        too_big = True
                        raise _BodyTooLarge
                return message

            async def send_with_id(message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                await send(message)

            try:
                await self.app(scope, limited_receive, send_with_id)
            except _BodyTooLarge:
                status = 413
                await _too_large(send, self.max_body, rid)
            if too_big and status != 413:
                status = 413
        elapsed = time.perf_counter() - started
        REQUESTS.labels(scope["method"], path, str(status)).inc()
        LATENCY.labels(path).observe(elapsed)
        if path != "/metrics" and log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "request_id": rid, "method": scope["method"], "path": path,
                    "status": status, "ms": round(elapsed * 1000, 2),
                },
            )


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int, rid: str) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
