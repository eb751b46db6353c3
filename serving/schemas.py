"""Request and response bodies of the scoring API (the OpenAPI contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.reply_templates import AGENT_MAX, MAX_REPLY_CHARS
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
    account: str | None = Field(
        None, max_length=64, examples=["@VonkNL"],
        description="the brand handle the mention was sent to; from the text's @handles when omitted. "
        "A care question to a marketing handle is handed over to the care account",
    )  # fmt: skip

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class ScoreRequest(BaseModel):
    mentions: list[Mention] = Field(min_length=1, max_length=MAX_BATCH)
    agent: str | None = Field(
        None, max_length=AGENT_MAX, examples=["Sanne"],
        description="signature for the suggested replies (the agent's name); default: the brand's",
    )  # fmt: skip


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
    hand_over_to: str | None = Field(
        None, description="care handle a care question on a marketing account is handed to"
    )


class SuggestedReply(BaseModel):
    text: str = Field(description=f"ready to post; at most {MAX_REPLY_CHARS} characters")
    template_id: str = Field(
        examples=["complaint.nl.private"], description="<intent or handover>.<language>.<channel>"
    )
    variant: int = Field(ge=1, description="which variant of the template (from 1), fixed by the mention id")
    language: str
    channel: Literal["public", "private"] = Field(
        description="public: the whole answer; private: a short public acknowledgement with the DM hand-off"
    )
    reasons: list[str]


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
    suggested_reply: SuggestedReply | None = Field(
        None, description="a first answer for the agent; null when no reply is needed"
    )
    no_suggestion_reason: str | None = Field(None, description="why suggested_reply is null")


class ModelInfo(BaseModel):
    name: str
    version: str
    family: str


class ScoreResponse(BaseModel):
    model: ModelInfo
    policy_version: str
    templates_version: str = Field(description="version of the reply templates file")
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
    template_id: str | None = Field(
        None, max_length=64, examples=["complaint.nl.private"], description="suggested_reply.template_id"
    )
    variant: int | None = Field(None, ge=1, le=1000, description="suggested_reply.variant")
    suggested_reply: str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="the suggestion shown; stored with personal data masked"
    )
    sent_reply: str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="what the agent posted; stored with personal data masked"
    )


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
