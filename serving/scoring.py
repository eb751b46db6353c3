"""Turn model probabilities plus mention metadata into API results.

Shared by the HTTP endpoint, `webcare score` and `webcare reply`, so all give the same JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from model.base import Probas, model_input
from model.loading import LoadedModel
from model.priority import Policy, prioritise, signals_from
from model.taxonomy import BY_NAME
from serving.language import LanguageIdentifier
from serving.replies import no_reply_reason, suggest
from serving.reply_templates import ReplyTemplates, default_templates
from serving.routing import for_account, route
from serving.schemas import (
    LabelScore,
    Mention,
    MentionResult,
    ModelInfo,
    NeedsReply,
    PriorityOut,
    Routing,
    ScoreResponse,
    SuggestedReply,
)


def _label_score(head: str, row: np.ndarray) -> LabelScore:
    labels = BY_NAME[head].labels
    probs = {label: round(float(p), 4) for label, p in zip(labels, row, strict=True)}
    return LabelScore(label=labels[int(row.argmax())], probabilities=probs)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def model_inputs(mentions: Sequence[Mention]) -> list[str]:
    return [model_input(m.text, m.context) for m in mentions]


def score_mentions(
    mentions: Sequence[Mention],
    model: LoadedModel,
    policy: Policy,
    languages: LanguageIdentifier | None,
    now: datetime | None = None,
    *,
    templates: ReplyTemplates | None = None,
    agent: str | None = None,
    probas: Probas | None = None,
) -> ScoreResponse:
    """``probas``: the model's output for these mentions when the caller already has it (the
    API's micro-batcher); otherwise the model is called here."""
    now = now or datetime.now(UTC)
    templates = templates or default_templates()
    brand = templates.brand
    if probas is None:
        probas = model.runtime.predict_proba(model_inputs(mentions))
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
        prio = prioritise(signals, policy, now, model.tier_thresholds)
        needs_reply = p_reply >= policy.reply_threshold
        hint = route(m.text, intent.label, p_negative, policy)
        to_marketing = brand.is_marketing(m.account, m.text)
        hint = for_account(hint, intent.label, needs_reply, to_marketing, brand.care_handle, policy)
        lang, detected = m.lang, False
        if lang is None and languages is not None:
            lang, detected = languages.detect(m.text), True
        reply, no_reply = None, None
        if needs_reply:
            reply = SuggestedReply(**vars(suggest(
                templates, mention_id=m.id, text=m.text, intent=intent.label, channel=hint.channel,
                lang=lang, lang_detected=detected, author_name=author.name if author else None,
                agent=agent, handover=hint.hand_over_to is not None, personal_data=hint.personal_data,
            )))  # fmt: skip
        else:
            no_reply = no_reply_reason(p_reply, policy.reply_threshold)
        results.append(
            MentionResult(
                id=m.id,
                lang=lang,
                lang_detected=detected,
                intent=intent,
                sentiment=sentiment,
                urgency=urgency,
                needs_reply=NeedsReply(
                    value=needs_reply,
                    probability=round(p_reply, 4),
                    threshold=policy.reply_threshold,
                ),
                priority=PriorityOut(
                    score=prio.score,
                    tier=prio.tier,
                    respond_by=prio.respond_by,
                    reasons=prio.reasons,
                ),
                routing=Routing(
                    channel=hint.channel,
                    team=hint.team,
                    reasons=hint.reasons,
                    personal_data=hint.personal_data,
                    hand_over_to=hint.hand_over_to,
                ),
                suggested_reply=reply,
                no_suggestion_reason=no_reply,
            )
        )
    return ScoreResponse(
        model=ModelInfo(name=model.name, version=model.version, family=model.family),
        policy_version=policy.version,
        templates_version=templates.version,
        results=results,
    )
