"""Request and response bodies of the scoring API (the OpenAPI contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator

from model.priority import Tier
from model.taxonomy import HEADS
from serving.reply_templates import AGENT_MAX, MAX_REPLY_CHARS
from serving.settings import MAX_BATCH, MAX_TEXT_CHARS

EARLIEST = datetime(2006, 1, 1, tzinfo=UTC)  # before the first tweet: not a mention's time
LATEST_AHEAD = timedelta(days=1)  # clocks drift, but not by days
TIME_BOUNDS = "between 2006-01-01 and now + 1 day"


def _no_surrogates(value: str) -> str:
    """A lone surrogate (JSON ``"\\ud800"``) is no character: it cannot be stored, logged or
    sent back as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text contains a lone surrogate (not a Unicode character)") from None
    return value


def _plausible(moment: datetime | None) -> datetime | None:
    """Mention and reply times within TIME_BOUNDS (naive is UTC): the policy adds hours to
    them, and year 9999 would overflow."""
    if moment is None:
        return None
    try:
        ok = EARLIEST <= (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) <= (
            datetime.now(UTC) + LATEST_AHEAD
        )
    except OverflowError:
        ok = False
    if not ok:
        raise ValueError(f"time must be {TIME_BOUNDS}")
    return moment


Str = Annotated[str, AfterValidator(_no_surrogates)]
Moment = Annotated[datetime, AfterValidator(_plausible)]


class Author(BaseModel):
    handle: Str | None = Field(None, max_length=64, examples=["@jansen"])
    name: Str | None = Field(None, max_length=128)
    followers: int = Field(0, ge=0, le=10_000_000_000)
    verified: bool = False


class Mention(BaseModel):
    id: Str = Field(min_length=1, max_length=128, examples=["1700000000000000001"])
    text: Str = Field(min_length=1, max_length=MAX_TEXT_CHARS, examples=["Al 3 dagen geen internet!"])
    lang: str | None = Field(
        None, pattern=r"^[a-z]{2}$", description="ISO 639-1; detected when omitted"
    )
    context: Str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="text of the tweet this one replies to"
    )
    author: Author | None = None
    created_at: Moment | None = Field(None, description=f"ISO 8601, {TIME_BOUNDS}; naive times are UTC")
    unanswered_before: int = Field(
        0, ge=0, le=1000, description="earlier unanswered mentions by this author in the thread"
    )
    account: Str | None = Field(
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
    agent: Str | None = Field(
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
    tier: Tier
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


class _FeedbackFields(BaseModel):
    """FeedbackIn without the label fields, which come from the taxonomy's heads."""

    model_config = ConfigDict(extra="forbid")

    mention_id: Str = Field(
        min_length=1, max_length=128, description="stored hashed if it holds personal data"
    )
    text: Str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="stored with personal data masked")
    lang: str | None = Field(None, pattern=r"^[a-z]{2}$")
    author: Author | None = Field(
        None, description="the mention's author: name and handle are masked where the texts repeat them "
        "(not stored)",
    )  # fmt: skip
    replied: bool | None = None
    replied_at: Moment | None = Field(None, description=f"ISO 8601, {TIME_BOUNDS}; stored as UTC")
    agent: Str | None = Field(None, max_length=64, description="agent id (not a name)")
    model_version: Str | None = Field(None, max_length=32)
    template_id: Str | None = Field(
        None, max_length=64, examples=["complaint.nl.private"], description="suggested_reply.template_id"
    )
    variant: int | None = Field(None, ge=1, le=1000, description="suggested_reply.variant")
    suggested_reply: Str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="the suggestion shown; stored with personal data masked"
    )
    sent_reply: Str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="what the agent posted; stored with personal data masked"
    )


def _label_fields() -> dict[str, Any]:
    """One optional field per taxonomy head: its labels as the enum, a yes/no head a boolean."""
    fields: dict[str, Any] = {}
    for head in HEADS:
        kind = bool if head.is_binary else Literal[head.labels]  # type: ignore[valid-type]
        fields[head.name] = (kind | None, Field(None, description=f"the agent's label: {head.description}"))
    return fields


FeedbackIn = create_model(
    "FeedbackIn", __base__=_FeedbackFields, __doc__="An agent's corrected labels and reply outcome.",
    **_label_fields(),
)  # fmt: skip


class FeedbackOut(BaseModel):
    id: int
    stored: bool = True


class ErrorOut(BaseModel):
    detail: str


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "body is not UTF-8, or not parseable"},
    401: {"model": ErrorOut, "description": "missing or invalid X-API-Key"},
    413: {"model": ErrorOut, "description": "request body over the size limit"},
    415: {"model": ErrorOut, "description": "Content-Type is not application/json"},
    500: {"model": ErrorOut, "description": "unexpected error (logged and counted with the request id)"},
    503: {"model": ErrorOut, "description": "no model loaded yet"},
}
