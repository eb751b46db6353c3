"""The real API plus one route that fails unexpectedly, for the catch-all 500 test."""

from __future__ import annotations

from fastapi import Request

from serving.app import create_app

app = create_app()


@app.post("/v1/boom")
async def boom(request: Request) -> None:
    body = await request.body()
    raise KeyError(body.decode())  # the message quotes the request: it must not reach the log
