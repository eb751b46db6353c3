"""Request and response bodies of the scoring API (the OpenAPI contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.settings import MAX_BATCH, MAX_TEXT_CHARS


class Author(BaseModel):
    handle: str | None = Field(None, max_length=64, examples=["@jansen"])
    name: str | None = Field(None, max_length=128)
    followers: int = Field(0, ge=0, le=10_000_000_000)
    verified: bool = False


class Mention(BaseModel):
    id: str = Field(min_length=1, max_length=128, examples=["1700000000000000001"])
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, examples=["Al 3 dagen geen internet!"])
    lang: str | None = Field(
        None, pattern=r"^[a-z]{2}$", description="ISO 639-1; detected when omitted"
    )
    context: str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="text of the tweet this one replies to"
    )
    author: Author | None = None
    created_at: datetime | None = Field(None, description="ISO 8601; naive times are UTC")
    unanswered_before: int = Field(
        0, ge=0, le=1000, description="earlier unanswered mentions by this author in the thread"
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class ScoreRequest(BaseModel):
    mentions: list[Mention] = Field(min_length=1, max_length=MAX_BATCH)


class LabelScore(BaseModel):
    label: str
    probabilities: dict[str, float]


class NeedsReply(BaseModel):
    value: bool
    probability: float
    threshold: float


class PriorityOut(BaseModel):
    score: int = Field(ge=0, le=100)
    tier: Literal["P1", "P2", "P3", "P4"]
    respond_by: datetime
    reasons: list[str]


class Routing(BaseModel):
    channel: Literal["public", "private"]
    team: str
    reasons: list[str]
    personal_data: list[str] = Field(description="kinds of personal data found in the text")


class MentionResult(BaseModel):
    id: str
    lang: str | None
    lang_detected: bool
    intent: LabelScore
    sentiment: LabelScore
    urgency: LabelScore
    needs_reply: NeedsReply
    priority: PriorityOut
    routing: Routing


class ModelInfo(BaseModel):
    name: str
    version: str
    family: str


class ScoreResponse(BaseModel):
    model: ModelInfo
    policy_version: str
    results: list[MentionResult]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mention_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    lang: str | None = Field(None, pattern=r"^[a-z]{2}$")
    intent: Literal["complaint", "request", "question", "feedback", "praise", "other"] | None = None
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    needs_reply: bool | None = None
    urgency: Literal["high", "normal", "low"] | None = None
    replied: bool | None = None
    replied_at: datetime | None = None
    agent: str | None = Field(None, max_length=64, description="agent id (not a name)")
    model_version: str | None = Field(None, max_length=32)


class FeedbackOut(BaseModel):
    id: int
    stored: bool = True


class ErrorOut(BaseModel):
    detail: str


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "body is not valid JSON text (e.g. not UTF-8)"},
    401: {"model": ErrorOut, "description": "missing or invalid X-API-Key"},
    413: {"model": ErrorOut, "description": "request body over the size limit"},
    503: {"model": ErrorOut, "description": "no model loaded yet"},
}
