"""Turn model probabilities plus mention metadata into API results.

Shared by the HTTP endpoint and `webcare score`, so both print the same JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from model.base import model_input
from model.loading import LoadedModel
from model.priority import Policy, prioritise, signals_from
from model.taxonomy import BY_NAME
from serving.language import LanguageIdentifier
from serving.routing import route
from serving.schemas import (
    LabelScore,
    Mention,
    MentionResult,
    ModelInfo,
    NeedsReply,
    PriorityOut,
    Routing,
    ScoreResponse,
)


def _label_score(head: str, row: np.ndarray) -> LabelScore:
    labels = BY_NAME[head].labels
    probs = {label: round(float(p), 4) for label, p in zip(labels, row, strict=True)}
    return LabelScore(label=labels[int(row.argmax())], probabilities=probs)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def score_mentions(
    mentions: Sequence[Mention],
    model: LoadedModel,
    policy: Policy,
    languages: LanguageIdentifier | None,
    now: datetime | None = None,
) -> ScoreResponse:
    now = now or datetime.now(UTC)
    probas = model.runtime.predict_proba([model_input(m.text, m.context) for m in mentions])
    results = []
    for i, m in enumerate(mentions):
        intent = _label_score("intent", probas["intent"][i])
        sentiment = _label_score("sentiment", probas["sentiment"][i])
        urgency = _label_score("urgency", probas["urgency"][i])
        author = m.author
        signals = signals_from(
            probas, i,
            followers=author.followers if author else 0,
            verified=author.verified if author else False,
            unanswered_before=m.unanswered_before,
            created_at=_aware(m.created_at),
        )  # fmt: skip
        p_reply, p_negative = signals.p_reply, signals.p_negative
        prio = prioritise(signals, policy, now)
        hint = route(m.text, intent.label, p_negative, policy)
        lang, detected = m.lang, False
        if lang is None and languages is not None:
            lang, detected = languages.detect(m.text), True
        results.append(
            MentionResult(
                id=m.id,
                lang=lang,
                lang_detected=detected,
                intent=intent,
                sentiment=sentiment,
                urgency=urgency,
                needs_reply=NeedsReply(
                    value=p_reply >= policy.reply_threshold,
                    probability=round(p_reply, 4),
                    threshold=policy.reply_threshold,
                ),
                priority=PriorityOut(
                    score=prio.score, tier=prio.tier, respond_by=prio.respond_by,
                    reasons=prio.reasons,
                ),
                routing=Routing(
                    channel=hint.channel, team=hint.team, reasons=hint.reasons,
                    personal_data=hint.personal_data,
                ),
            )
        )
    return ScoreResponse(
        model=ModelInfo(name=model.name, version=model.version, family=model.family),
        policy_version=policy.version,
        results=results,
    )
