"""POST /v1/score."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from model.taxonomy import HEADS, Head
from serving.auth import require_api_key
from serving.metrics import MENTIONS, PREDICTIONS
from serving.micro_batch import ModelCallError
from serving.report.records import record_scored
from serving.schemas import ERROR_RESPONSES, MentionResult, ScoreRequest, ScoreResponse
from serving.scoring import model_inputs, score_mentions

router = APIRouter(tags=["scoring"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)


@router.post("/v1/score", response_model=ScoreResponse)
async def score(body: ScoreRequest, request: Request) -> Response:
    """Score a batch of mentions: labels with probabilities, priority, routing and a suggested reply."""
    state = request.app.state
    model = state.models.current  # one read: the whole batch uses one model version
    if model is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model is still loading")
    try:  # shares one model call with concurrent requests (serving.micro_batch)
        probas = await state.batcher.predict(model, model_inputs(body.mentions))
    except ModelCallError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None
    if len(body.mentions) == 1 and body.mentions[0].lang:  # small: inline; detecting a language is not
        result = score_mentions(
            body.mentions, model, state.policy, state.languages, templates=state.replies,
            agent=body.agent, probas=probas,
        )  # fmt: skip
    else:
        result = await run_in_threadpool(
            score_mentions, body.mentions, model, state.policy, state.languages,
            templates=state.replies, agent=body.agent, probas=probas,
        )  # fmt: skip
    if state.record_scores:  # opt-in: ids, times and tiers for the SLA report, never text
        await run_in_threadpool(record_scored, state, body.mentions, result)
    MENTIONS.inc(len(result.results))
    for r in result.results:
        for head in HEADS:
            PREDICTIONS.labels(head.name, _predicted(r, head)).inc()
    # already a validated ScoreResponse: serialise once in Rust, skip FastAPI's re-validation
    return Response(result.model_dump_json(), media_type="application/json")


def _predicted(result: MentionResult, head: Head) -> str:
    """The label a result carries for ``head``: a yes/no head is a NeedsReply with a value."""
    out = getattr(result, head.name)
    if head.is_binary:
        return head.labels[0] if out.value else head.labels[1]
    return out.label
