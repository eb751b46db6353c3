"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path):
request ids, access logs, metrics and the request body size limit."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid

from serving.errors import one_line
from serving.metrics import LATENCY, REQUESTS, UNHANDLED

log = logging.getLogger("webcare.access")
JSON_PATHS = {"/v1/score", "/v1/feedback"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
MAX_HEADER_BYTES = 16 * 1024  # as h11's default; `webcare serve` sets the same in uvicorn
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a client's id is echoed and logged: keep it plain
KNOWN_PATHS = {"/v1/score", "/v1/feedback", "/healthz", "/readyz", "/metrics", "/v1/model", "/report"}


class RequestContext:
    """Every request gets an id, an access-log line and a count, whatever it ends in: a
    rejected body (413, 415, 400), oversized headers (431) or an unexpected exception, which
    becomes a 500 with the request id and is logged without request content."""

    def __init__(self, app, max_body_bytes: int, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_headers = max_header_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _one_line_startup_failure(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        status = 500
        responded = False

        async def send_with_id(message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            rejection = _header_problem(scope["headers"], self.max_headers)
            if rejection is None and scope["method"] in BODY_METHODS:
                body, rejection = await self._read_body(receive, headers, scope["path"])
                receive = _replay(body, receive)
            if rejection is not None:
                await _error(send_with_id, *rejection)
            else:
                await self.app(scope, receive, send_with_id)
        except _Disconnected:
            status = 499  # the client went away mid-body (nginx's code for it)
        except Exception as exc:  # noqa: BLE001 - the one place every unexpected error ends
            UNHANDLED.labels(path).inc()
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            log.error(
                "unhandled error",
                extra={
                    "request_id": rid, "path": path, "error": type(exc).__name__,
                    "at": f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else None,
                },
            )  # the type and place only: an exception's message may quote the request
            if not responded:
                await _error(send_with_id, 500, f"internal server error (request id {rid})")
            status = 500
        elapsed = time.perf_counter() - started
        REQUESTS.labels(scope["method"], path, str(status)).inc()
        LATENCY.labels(path).observe(elapsed)
        if path != "/metrics" and (status >= 500 or log.isEnabledFor(logging.INFO)):
            (log.error if status >= 500 else log.info)(
                "request",
                extra={
                    "request_id": rid, "method": scope["method"], "path": path,
                    "status": status, "ms": round(elapsed * 1000, 2),
                },
            )

    async def _read_body(self, receive, headers: dict, path: str) -> tuple[bytes, tuple[int, str] | None]:
        """The whole body (at most ``max_body`` bytes, declared or chunked), or why it is refused."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return b"", (413, f"request body larger than {self.max_body} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", (413, f"request body larger than {self.max_body} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if path in JSON_PATHS:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind and kind != b"application/json" and not kind.endswith(b"+json"):
                return body, (415, "Content-Type must be application/json")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return body, (400, f"request body is not valid UTF-8 (byte {exc.start}): send JSON as UTF-8")
        return body, None


class _Disconnected(Exception):
    pass


def _header_problem(headers: list[tuple[bytes, bytes]], limit: int) -> tuple[int, str] | None:
    """Servers started without ``webcare serve`` (httptools) have no header limit: enforce one."""
    if sum(len(k) + len(v) + 4 for k, v in headers) > limit:
        return 431, f"request headers larger than {limit} bytes"
    return None


def _replay(body: bytes, receive):
    """A receive that hands the app the already-read body once, then the real channel."""
    done = False

    async def replay():
        nonlocal done
        if done:
            return await receive()
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _one_line_startup_failure(send):
    """Starlette reports a failed start-up as a whole traceback; uvicorn logs it. Replace it by
    one line naming the reason (the refusal messages say what to set)."""

    async def wrapped(message) -> None:
        if message["type"] == "lifespan.startup.failed":
            exc = sys.exc_info()[1]
            reason = one_line(exc) if exc is not None else "start-up failed"
            message = {**message, "message": f"webcare: refusing to start: {reason}"}
        await send(message)

    return wrapped


async def _error(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
