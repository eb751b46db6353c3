"""Priority policy: score 0-100, tier P1-P4 and respond-by time, each with reasons.

The numbers live in a versioned TOML file (``model/policies/default.toml``);
this module only applies them, so the policy can change without code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from model.taxonomy import BY_NAME

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.toml"
TIERS = ("P1", "P2", "P3", "P4")


Tier = Literal[TIERS]  # type: ignore[valid-type]
IntentLabel = Literal[BY_NAME["intent"].labels]  # type: ignore[valid-type]
UrgencyLabel = Literal[BY_NAME["urgency"].labels]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _NeedsReply(_Strict):
    threshold: float = Field(ge=0, le=1)


class _FollowupFloor(_Strict):
    count: int = Field(ge=1)
    tier: Tier


class _Score(_Strict):
    urgency_weight: dict[UrgencyLabel, float]
    intent_bonus: dict[IntentLabel, float]
    negative_bonus: float
    very_negative: float = Field(ge=0, le=1)
    followers: list[tuple[int, float]]
    verified_bonus: float
    followup_points: float
    followup_max: float
    followup_min_tier: _FollowupFloor
    wait_points_per_hour: float
    wait_max: float


class _Tier(_Strict):
    min_score: float = Field(ge=0, le=100)
    respond_within: int = Field(gt=0, description="minutes")


class _Tiers(_Strict):
    P1: _Tier
    P2: _Tier
    P3: _Tier
    P4: _Tier
    use_model_thresholds: bool = False


class _Hours(_Strict):
    timezone: str
    open: time
    close: time
    days: list[int] = Field(min_length=1)
    always_on_tiers: list[Tier] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d not in range(7) for d in value):
            raise ValueError("days are weekday numbers 0 (Monday) to 6")
        return value


class _Routing(_Strict):
    very_negative_private: float = Field(ge=0, le=1)
    default_team: str
    teams: dict[IntentLabel, str]


class PolicyFile(_Strict):
    """The policy TOML's schema: a misspelt, missing or mistyped key stops start-up."""

    version: str
    needs_reply: _NeedsReply
    score: _Score
    tiers: _Tiers
    business_hours: _Hours
    routing: _Routing


@dataclass(frozen=True)
class Policy:
    version: str
    raw: dict

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """Read and validate a policy file; errors name the file and the key."""
        path = path or DEFAULT_POLICY
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot load priority policy: {exc}") from exc
        data.setdefault("version", path.stem)
        try:
            parsed = PolicyFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ValueError(f"{path}: {key}: {first['msg']}{more}") from None
        raw = parsed.model_dump()
        for name in ("open", "close"):
            raw["business_hours"][name] = raw["business_hours"][name].strftime("%H:%M")
        return cls(parsed.version, raw)

    @property
    def reply_threshold(self) -> float:
        return float(self.raw["needs_reply"]["threshold"])


@dataclass
class Signals:
    """What the policy needs about one mention: model outputs plus metadata."""

    p_reply: float
    intent: str
    p_negative: float
    urgency: dict[str, float]
    followers: int = 0
    verified: bool = False
    unanswered_before: int = 0
    created_at: datetime | None = None


@dataclass
class Priority:
    score: int
    tier: str
    respond_by: datetime
    reasons: list[str] = field(default_factory=list)


def signals_from(probas: dict, i: int, **meta: object) -> Signals:
    """The policy's view of row ``i`` of a model's probabilities (plus mention metadata):
    one derivation for the API, the batch scorers and the evaluation."""
    intent = BY_NAME["intent"].labels[int(probas["intent"][i].argmax())]
    return Signals(
        p_reply=float(probas["needs_reply"][i][BY_NAME["needs_reply"].index("yes")]),
        intent=intent,
        p_negative=float(probas["sentiment"][i][BY_NAME["sentiment"].index("negative")]),
        urgency=dict(zip(BY_NAME["urgency"].labels, map(float, probas["urgency"][i]), strict=True)),
        **meta,
    )


def _tier_for(score: float, tiers: dict) -> str:
    for name in TIERS:
        if score >= tiers[name]["min_score"]:
            return name
    return TIERS[-1]


def _raise_tier(tier: str, at_least: str) -> str:
    return TIERS[min(TIERS.index(tier), TIERS.index(at_least))]


def _open_at(moment: datetime, hours: dict) -> datetime:
    """The earliest moment at or after ``moment`` when the team is working."""
    tz = ZoneInfo(hours["timezone"])
    local = moment.astimezone(tz)
    opens = time.fromisoformat(hours["open"])
    closes = time.fromisoformat(hours["close"])
    days = set(hours["days"])
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() not in days:
            continue
        start = datetime.combine(day, opens, tz)
        end = datetime.combine(day, closes, tz)
        if offset == 0 and start <= local < end:
            return moment
        if local < start:
            return start.astimezone(UTC)
    return moment


def prioritise(
    signals: Signals, policy: Policy, now: datetime, model_thresholds: dict[str, float] | None = None
) -> Priority:
    """``model_thresholds``: P1-P3 min_scores tuned for the served model on real validation rows;
    used instead of the file's when the policy sets ``[tiers] use_model_thresholds = true``."""
    cfg = policy.raw["score"]
    reasons: list[str] = []
    threshold = policy.reply_threshold
    created = signals.created_at or now
    if signals.p_reply < threshold:
        reasons.append(f"no reply needed (p={signals.p_reply:.2f} < {threshold:.2f})")
        window = policy.raw["tiers"]["P4"]["respond_within"]
        score = round(100 * signals.p_reply * 0.25)
        return Priority(score, "P4", created + timedelta(minutes=window), reasons)

    weights = cfg["urgency_weight"]
    u = sum(signals.urgency.get(k, 0.0) * float(w) for k, w in weights.items())
    score = 100.0 * signals.p_reply * u
    top_urgency = max(signals.urgency, key=signals.urgency.get) if signals.urgency else "normal"
    reasons.append(f"needs a reply (p={signals.p_reply:.2f}), urgency {top_urgency}")

    bonus = float(cfg["intent_bonus"].get(signals.intent, 0))
    if bonus:
        score += bonus
        reasons.append(f"{signals.intent} {'+' if bonus > 0 else ''}{bonus:.0f}")
    if signals.p_negative >= cfg["very_negative"]:
        score += cfg["negative_bonus"]
        reasons.append(f"very negative tone (p={signals.p_negative:.2f}) +{cfg['negative_bonus']}")
    for min_followers, points in cfg["followers"]:
        if signals.followers >= min_followers:
            score += points
            reasons.append(f"author reach {signals.followers:,} followers +{points}")
            break
    if signals.verified:
        score += cfg["verified_bonus"]
        reasons.append(f"verified author +{cfg['verified_bonus']}")
    if signals.unanswered_before > 0:
        points = min(cfg["followup_points"] * signals.unanswered_before, cfg["followup_max"])
        score += points
        reasons.append(f"{signals.unanswered_before} earlier unanswered mention(s) +{points}")
    waited_h = max(0.0, (now - created).total_seconds() / 3600)
    if waited_h >= 0.25:
        points = min(cfg["wait_points_per_hour"] * waited_h, cfg["wait_max"])
        score += points
        reasons.append(f"already waited {waited_h:.1f} h +{points:.0f}")

    score = max(0.0, min(100.0, score))
    tiers = policy.raw["tiers"]
    if model_thresholds and tiers.get("use_model_thresholds", False):
        tiers = {**tiers, **{t: {**tiers[t], "min_score": v} for t, v in model_thresholds.items()}}
    tier = _tier_for(score, tiers)
    floor = cfg["followup_min_tier"]
    if signals.unanswered_before >= floor["count"] and _raise_tier(tier, floor["tier"]) != tier:
        tier = _raise_tier(tier, floor["tier"])
        reasons.append(f"repeated follow-up: at least {floor['tier']}")

    window = timedelta(minutes=policy.raw["tiers"][tier]["respond_within"])
    hours = policy.raw["business_hours"]
    start = created
    if tier not in hours.get("always_on_tiers", []):
        opened = _open_at(max(created, now), hours)
        if opened > max(created, now):
            start = opened
            local = opened.astimezone(ZoneInfo(hours["timezone"]))
            reasons.append(f"outside business hours: clock starts {local:%a %H:%M} {hours['timezone']}")
    respond_by = start + window
    return Priority(round(score), tier, respond_by, reasons)
