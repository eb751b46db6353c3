"""Routing hints: answer in public or move to a private channel, and which team."""

from __future__ import annotations

from dataclasses import dataclass

from model.pii import pii_kinds
from model.priority import Policy


@dataclass
class RoutingHint:
    channel: str
    team: str
    reasons: list[str]
    personal_data: list[str]
    hand_over_to: str | None = None


CARE = "care"


def route(text: str, intent: str, p_negative: float, policy: Policy) -> RoutingHint:
    cfg = policy.raw["routing"]
    kinds = pii_kinds(text)
    reasons: list[str] = []
    if kinds:
        reasons.append(f"personal data in public text ({', '.join(kinds)}): move to DM")
    if intent == "complaint" and p_negative >= cfg["very_negative_private"]:
        reasons.append(f"very negative complaint (p={p_negative:.2f}): acknowledge, then DM")
    channel = "private" if reasons else "public"
    if not reasons:
        reasons.append("no personal data, not a very negative complaint: reply in public")
    team = cfg["teams"].get(intent, cfg["default_team"])
    return RoutingHint(channel, team, reasons, kinds)


def for_account(
    hint: RoutingHint, intent: str, needs_reply: bool, to_marketing: bool, care_handle: str, policy: Policy
) -> RoutingHint:
    """Keep care and marketing apart: a care question sent to a marketing handle goes to the care
    team (the suggestion tells the customer where to get help); traffic that needs no reply and
    belongs to marketing per the intent -> team map is flagged for them."""
    team = policy.raw["routing"]["teams"].get(intent, policy.raw["routing"]["default_team"])
    if needs_reply and to_marketing and team == CARE:
        hint.team, hint.hand_over_to = CARE, care_handle
        hint.reasons.append(f"care question on the marketing account: hand over to {care_handle}")
    elif not needs_reply and not to_marketing and team != CARE:
        hint.reasons.append(f"no reply needed: flag {intent} for {team} (policy teams map)")
    return hint
