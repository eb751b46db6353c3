"""POST /v1/score."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from serving.auth import require_api_key
from serving.metrics import MENTIONS, PREDICTIONS
from serving.report.records import record_scored
from serving.schemas import ERROR_RESPONSES, ScoreRequest, ScoreResponse
from serving.scoring import score_mentions

router = APIRouter(tags=["scoring"], dependencies=[Depends(require_api_key)],
                   responses=ERROR_RESPONSES)


@router.post("/v1/score", response_model=ScoreResponse)
async def score(body: ScoreRequest, request: Request) -> Response:
    """Score a batch of mentions: labels with probabilities, priority, routing and a suggested reply."""
    state = request.app.state
    model = state.models.current  # one read: the whole batch uses one model version
    if model is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model is still loading")
    if len(body.mentions) == 1:  # small: cheaper inline than a thread hop
        result = score_mentions(
            body.mentions, model, state.policy, state.languages, templates=state.replies, agent=body.agent
        )
    else:
        result = await run_in_threadpool(
            score_mentions, body.mentions, model, state.policy, state.languages,
            templates=state.replies, agent=body.agent,
        )  # fmt: skip
    if state.record_scores:  # opt-in: ids, times and tiers for the SLA report, never text
        await run_in_threadpool(record_scored, state, body.mentions, result)
    MENTIONS.inc(len(result.results))
    for r in result.results:
        PREDICTIONS.labels("intent", r.intent.label).inc()
        PREDICTIONS.labels("sentiment", r.sentiment.label).inc()
        PREDICTIONS.labels("urgency", r.urgency.label).inc()
        PREDICTIONS.labels("needs_reply", "yes" if r.needs_reply.value else "no").inc()
    # already a validated ScoreResponse: serialise once in Rust, skip FastAPI's re-validation
    return Response(result.model_dump_json(), media_type="application/json")
