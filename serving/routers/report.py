"""GET /report: the SLA report of the API's own score records, rebuilt on every request.

Behind the API key like the rest of the API, but a browser can open it too: it accepts
HTTP Basic with the key as password and answers 401 with a login challenge.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AfterValidator

from model.feedback import FeedbackStore, ScoreRecords
from serving.auth import require_api_key_or_login
from serving.report.zones import zone
from serving.schemas import ErrorOut
from serving.settings import ServeSettings

if TYPE_CHECKING:  # pandas and matplotlib load with the first report, not with the API
    from serving.report.build import Report

router = APIRouter(tags=["reports"], dependencies=[Depends(require_api_key_or_login)])
TITLE = "Response times and SLA: the API's score records"
_BUILD = threading.Lock()  # matplotlib's Agg is fine per figure, but one report at a time keeps memory flat
NO_STORE = {"Cache-Control": "no-store"}


def open_records(store: FeedbackStore, cfg: ServeSettings) -> ScoreRecords:
    """The score-record table next to feedback, past-retention records deleted (API start-up)."""
    records = ScoreRecords(store.engine, cfg.record_retention_days)
    records.purge()
    return records


def _known_zone(name: str | None) -> str | None:
    if name is not None:
        zone(name)  # ValueError -> a 422 naming the query parameter
    return name


def _build(state, tz: str | None) -> Report:
    from serving.report.build import from_records

    with _BUILD:
        return from_records(state.records, policy=state.policy, tz=tz, record_scores=state.record_scores)


@router.get(
    "/report",
    responses={
        200: {"description": "the report page (HTML), or its figures with format=json",
              "content": {"text/html": {"schema": {"type": "string"}}, "application/json": {"schema": {}}}},
        401: {"model": ErrorOut, "description": "missing or invalid API key (X-API-Key or HTTP Basic)"},
        404: {"model": ErrorOut, "description": "format=json and no score records yet"},
    },
)
async def report(
    request: Request,
    tz: Annotated[
        str | None,
        Query(max_length=64, description="IANA zone for hours and weekdays; default: the policy's"),
        AfterValidator(_known_zone),
    ] = None,
    format: Annotated[Literal["html", "json"], Query(description="the page, or its figures as JSON")] = (
        "html"
    ),
) -> Response:
    """Response times, respond-by met or missed per tier and volume per hour, from the score
    records (``WEBCARE_RECORD_SCORES=true``); rebuilt on every request."""
    try:
        built = await run_in_threadpool(_build, request.app.state, tz)
    except LookupError as exc:
        from serving.report.render import notice_page

        if format == "json":
            return JSONResponse({"detail": str(exc)}, status.HTTP_404_NOT_FOUND, headers=NO_STORE)
        return HTMLResponse(notice_page(TITLE, str(exc)), headers=NO_STORE)
    if format == "json":
        return JSONResponse(built.figures, headers=NO_STORE)
    return HTMLResponse(built.html, headers=NO_STORE)
