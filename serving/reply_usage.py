"""Which suggested replies agents send as is and which they rewrite, per template.

Compares each sent reply (from `/v1/feedback`, masked) with the suggestion the
agent saw; without the suggestion, with the template itself, where any value
may fill a placeholder. A template that is mostly edited or replaced is the
next one a webcare lead should rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from string import Formatter

from model.feedback import ReplyRecord
from model.pii import mask
from serving.reply_templates import ReplyTemplates

OUTCOMES = ("kept", "edited", "replaced")
EDITED_MIN_SIMILARITY = 0.5  # below this share of matching characters the agent wrote their own


@dataclass
class TemplateUsage:
    template_id: str
    variant: int | None
    kept: int = 0
    edited: int = 0
    replaced: int = 0
    unknown: int = 0  # no suggestion stored and the template is no longer in the file

    @property
    def sent(self) -> int:
        return self.kept + self.edited + self.replaced + self.unknown

    @property
    def rewritten(self) -> float:
        known = self.kept + self.edited + self.replaced
        return (self.edited + self.replaced) / known if known else 0.0


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def outcome(suggested: str, sent: str) -> str:
    """kept (same text up to case and spacing), edited (mostly the same) or replaced."""
    a, b = _norm(suggested), _norm(sent)
    if a == b:
        return "kept"
    similar = SequenceMatcher(None, a, b, autojunk=False).ratio()
    return "edited" if similar >= EDITED_MIN_SIMILARITY else "replaced"


def _template_pattern(variant: str) -> re.Pattern[str]:
    """The variant with every placeholder as a wildcard: a sent reply that matches kept the text."""
    parts = []
    for literal, name, _, _ in Formatter().parse(variant):
        parts.append(r"\s+".join(re.escape(token) for token in re.split(r"\s+", literal.casefold())))
        if name is not None:
            parts.append(r".{0,80}?")
    return re.compile("".join(parts), re.S)


def outcome_from_template(templates: ReplyTemplates, template_id: str, variant: int, sent: str) -> str | None:
    template = templates.templates.get(template_id)
    if template is None or not 1 <= variant <= len(template.named):
        return None
    named, neutral = template.named[variant - 1], template.neutral[variant - 1]
    folded = _norm(sent)
    if any(_template_pattern(v).fullmatch(folded) for v in (named, neutral)):
        return "kept"
    return outcome(mask(templates.fill(neutral, None, templates.brand.agent)), sent)


def summarise(records: Iterable[ReplyRecord], templates: ReplyTemplates) -> list[TemplateUsage]:
    """One row per template variant, the most rewritten first."""
    usage: dict[tuple[str, int | None], TemplateUsage] = {}
    for r in records:
        row = usage.setdefault((r.template_id, r.variant), TemplateUsage(r.template_id, r.variant))
        if r.suggested_reply:
            result: str | None = outcome(r.suggested_reply, r.sent_reply)
        elif r.variant is not None:
            result = outcome_from_template(templates, r.template_id, r.variant, r.sent_reply)
        else:
            result = None
        setattr(row, result or "unknown", getattr(row, result or "unknown") + 1)
    return sorted(usage.values(), key=lambda u: (-u.rewritten, -u.sent, u.template_id, u.variant or 0))
