"""The priority policy on documented cases (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from model.priority import Policy, Signals, prioritise
from serving.routing import route

POLICY = Policy.load()
# Tuesday 2026-11-24 10:00 Amsterdam (09:00 UTC): inside business hours
NOON = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def signals(**kw: object) -> Signals:
    base = dict(
        p_reply=0.9,
        intent="question",
        p_negative=0.1,
        urgency={"high": 0.1, "normal": 0.8, "low": 0.1},
        created_at=NOON,
    )
    return Signals(**{**base, **kw})


def test_no_reply_needed_is_p4_with_reason() -> None:
    p = prioritise(signals(p_reply=0.2), POLICY, NOON)
    assert p.tier == "P4"
    assert p.respond_by == NOON + timedelta(hours=24)
    assert "no reply needed" in p.reasons[0]


def test_urgent_complaint_is_p1_within_30_minutes() -> None:
    p = prioritise(
        signals(intent="complaint", p_negative=0.9, urgency={"high": 0.9, "normal": 0.1, "low": 0.0}),
        POLICY,
        NOON,
    )
    assert p.tier == "P1" and p.score >= 75
    assert p.respond_by == NOON + timedelta(minutes=30)
    assert any("very negative" in r for r in p.reasons)


def test_ordinary_question_is_p2_or_p3() -> None:
    p = prioritise(signals(), POLICY, NOON)
    assert p.tier in ("P2", "P3")
    assert 25 <= p.score < 75


def test_third_unanswered_follow_up_raises_tier() -> None:
    low = signals(p_reply=0.6, urgency={"high": 0.0, "normal": 0.3, "low": 0.7})
    first = prioritise(low, POLICY, NOON)
    third = prioritise(signals(p_reply=0.6, urgency=low.urgency, unanswered_before=2), POLICY, NOON)
    assert first.tier in ("P3", "P4")
    assert third.tier in ("P1", "P2")
    assert third.score > first.score
    assert any("earlier unanswered" in r for r in third.reasons)


def test_reach_and_waiting_add_points() -> None:
    plain = prioritise(signals(), POLICY, NOON)
    famous = prioritise(signals(followers=250_000, verified=True), POLICY, NOON)
    assert famous.score > plain.score
    assert any("followers" in r for r in famous.reasons)
    waited = prioritise(signals(created_at=NOON - timedelta(hours=2)), POLICY, NOON)
    assert waited.score > plain.score
    assert any("already waited" in r for r in waited.reasons)


def test_off_hours_clock_starts_at_opening_except_p1() -> None:
    night = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 03:00 Amsterdam, closed until 08:00
    p = prioritise(signals(created_at=night), POLICY, night)
    opening = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 Amsterdam
    assert p.respond_by > opening
    assert any("outside business hours" in r for r in p.reasons)
    urgent = prioritise(
        signals(
            created_at=night,
            intent="complaint",
            p_negative=0.9,
            urgency={"high": 1.0, "normal": 0.0, "low": 0.0},
        ),
        POLICY,
        night,
    )
    assert urgent.tier == "P1" and urgent.respond_by == night + timedelta(minutes=30)


def test_public_complaint_with_phone_goes_private() -> None:
    hint = route("Storing al 2 dagen, bel me op 06-12345678", "complaint", 0.6, POLICY)
    assert hint.channel == "private" and "phone" in hint.personal_data
    assert hint.team == "care"
    public = route("Wanneer gaat de winkel open?", "question", 0.1, POLICY)
    assert public.channel == "public"
    angry = route("Slechtste service ooit, schandalig", "complaint", 0.95, POLICY)
    assert angry.channel == "private"


def test_broken_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("version = 'x'\n[score]\n")
    with pytest.raises(ValueError, match=r"p.toml: needs_reply: Field required"):
        Policy.load(bad)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("threshold = 0.5", "treshold = 0.5"), "needs_reply.threshold: Field required"),
        (("P1 = { min_score = 75", "P1 = { min_score = 750"), "tiers.P1.min_score"),
        (('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdm"'), "business_hours.timezone"),
        (("complaint = 10, request", "complaints = 10, request"), "score.intent_bonus.complaints"),
        (('default_team = "care"', 'default_team = 3'), "routing.default_team"),
    ],
)
def test_policy_file_is_validated_naming_file_and_key(tmp_path, edit, key) -> None:  # noqa: ANN001
    from model.priority import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text()
    assert edit[0] in text
    bad = tmp_path / "policy.toml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ValueError, match=rf"{bad}: {key}"):
        Policy.load(bad)


def test_model_thresholds_replace_the_files_when_enabled() -> None:
    policy = Policy.load()
    signals = Signals(p_reply=0.9, intent="question", p_negative=0.1,
                      urgency={"high": 0.2, "normal": 0.7, "low": 0.1})  # fmt: skip
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    base = prioritise(signals, policy, now)
    raised = prioritise(signals, policy, now, {"P1": 99.0, "P2": 98.0, "P3": 97.0})
    assert base.tier in ("P2", "P3") and raised.tier == "P4"
