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
