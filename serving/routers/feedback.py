"""POST /v1/feedback: an agent's corrected labels and reply outcome."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from fastapi.concurrency import run_in_threadpool

from serving.auth import require_api_key
from serving.report.records import close_replied
from serving.schemas import ERROR_RESPONSES, FeedbackIn, FeedbackOut

router = APIRouter(tags=["feedback"], dependencies=[Depends(require_api_key)],
                   responses=ERROR_RESPONSES)


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=status.HTTP_201_CREATED)
async def add_feedback(body: FeedbackIn, request: Request) -> FeedbackOut:
    """Store a correction (text is masked first); `webcare label import-feedback` sends it to review."""
    store = request.app.state.feedback
    author = body.author
    names = (author.name, author.handle) if author else ()
    new_id = await run_in_threadpool(store.add, body.model_dump(exclude={"author"}), names=names)
    if body.replied_at is not None and request.app.state.record_scores:  # closes the score record
        await run_in_threadpool(close_replied, request.app.state, body.mention_id, body.replied_at)
    return FeedbackOut(id=new_id)
