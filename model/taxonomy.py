"""The label taxonomy: the one source of truth for heads, labels and their order.

Data validation, training, serving and the Label Studio config are all derived
from ``HEADS``; change a label here and every stage follows.
"""

from __future__ import annotations

from dataclasses import dataclass

TAXONOMY_VERSION = "v1"


@dataclass(frozen=True)
class Head:
    """One classification head: a name, its labels in a fixed order, and hotkeys."""

    name: str
    labels: tuple[str, ...]
    description: str
    hotkeys: tuple[str, ...]

    def index(self, label: str) -> int:
        return self.labels.index(label)

    @property
    def is_binary(self) -> bool:
        """A yes/no head: a boolean in the API and the feedback store (``needs_reply``)."""
        return self.labels == ("yes", "no")


INTENT = Head(
    "intent",
    ("complaint", "request", "question", "feedback", "praise", "other"),
    "The main thing the author does towards the company (first that applies).",
    ("1", "2", "3", "4", "5", "6"),
)
SENTIMENT = Head(
    "sentiment",
    ("negative", "neutral", "positive"),
    "The author's tone towards the company or situation; sarcasm counts as what it means.",
    ("q", "w", "e"),
)
NEEDS_REPLY = Head(
    "needs_reply",
    ("yes", "no"),
    "Must a good webcare team answer this?",
    ("y", "n"),
)
URGENCY = Head(
    "urgency",
    ("high", "normal", "low"),
    "How fast the answer matters, if one is needed.",
    ("h", "j", "k"),
)

HEADS: tuple[Head, ...] = (INTENT, SENTIMENT, NEEDS_REPLY, URGENCY)
HEAD_NAMES: tuple[str, ...] = tuple(h.name for h in HEADS)
BY_NAME: dict[str, Head] = {h.name: h for h in HEADS}

LANGUAGES: tuple[str, ...] = ("nl", "en", "da", "fr")
"""Languages the product is built for, Dutch first. Other ISO 639-1 codes are accepted."""
DETECTED_LANGUAGES: tuple[str, ...] = (*LANGUAGES, "de", "es")
"""What language detection chooses from: the product's languages plus the neighbours seen in
traffic, so a German or Spanish mention is not taken for Dutch or French."""


def head(name: str) -> Head:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown head {name!r}; expected one of {', '.join(HEAD_NAMES)}") from None
