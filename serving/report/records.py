"""The API's own score records (``model.feedback.ScoreRecords``) in and out of the report.

``from_scoring`` is what ``/v1/score`` stores when ``WEBCARE_RECORD_SCORES=true``: the
mention id, its created_at (the scoring time when the client sent none, as the policy
does), the tier, respond-by, needs_reply, predicted intent and the model and policy
versions. Never the text, the context or anything about the author.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from serving.schemas import Mention, ScoreResponse

if TYPE_CHECKING:  # pandas only when a report is built, not when the API starts
    import pandas as pd


def from_scoring(mentions: Sequence[Mention], result: ScoreResponse, scored_at: datetime) -> list[dict]:
    out = []
    for m, r in zip(mentions, result.results, strict=True):
        created = m.created_at or scored_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        out.append({
            "mention_id": m.id, "created_at": created, "scored_at": scored_at,
            "tier": r.priority.tier, "respond_by": r.priority.respond_by, "needs_reply": r.needs_reply.value,
            "intent": r.intent.label, "model_version": result.model.version,
            "policy_version": result.policy_version,
        })  # fmt: skip
    return out


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Records as the report's mentions frame (no follow-up columns: no author data)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["mention_id", "created_at", "replied_at", "tier", "respond_by",
                                        "needs_reply", "intent", "model_version", "scored_at"])  # fmt: skip
    frame = frame.rename(columns={"mention_id": "id"})
    for column in ("created_at", "replied_at", "respond_by", "scored_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    versions = sorted({str(v) for v in frame["model_version"].dropna()})
    frame.attrs["intent_from"] = "model (as scored)"
    models = f", model v{', v'.join(versions)}" if versions else ""
    frame.attrs["tiers_from"] = f"the API's score records{models}"
    return frame


def record_scored(state, mentions: Sequence[Mention], result: ScoreResponse) -> None:
    """``/v1/score``'s hook: store the batch's records when recording is on (a thread-pool call)."""
    if getattr(state, "record_scores", False):
        state.records.add(from_scoring(mentions, result, datetime.now(UTC)))


def close_replied(state, mention_id: str, replied_at: datetime | None) -> None:
    """``/v1/feedback``'s hook: its replied_at closes the mention's open record."""
    if replied_at is not None and getattr(state, "record_scores", False):
        state.records.close(mention_id, replied_at)
