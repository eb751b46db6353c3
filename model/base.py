"""The one interface every model family implements, and helpers shared by them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from model.taxonomy import HEADS

Probas = dict[str, np.ndarray]
"""Per head, an (n_texts, n_labels) array in taxonomy label order."""


@runtime_checkable
class TriageModel(Protocol):
    """Anything that scores texts per head; what serving and evaluation rely on."""

    def predict_proba(self, texts: Sequence[str]) -> Probas: ...


def labels_from_probas(probas: Probas) -> dict[str, list[str]]:
    """Arg-max label per head, in taxonomy order."""
    out: dict[str, list[str]] = {}
    for h in HEADS:
        if h.name in probas:
            out[h.name] = [h.labels[i] for i in probas[h.name].argmax(axis=1)]
    return out


def model_input(text: str, context: str | None = None) -> str:
    """The text a model sees: the mention, then the tweet it replies to, if any, with personal
    data masked (``[PHONE]``, ``[IBAN]``, ...), so no phone number or IBAN from training data
    can end up in a vocabulary or an input example, and serving sees what training saw."""
    from model.pii import mask

    text = mask(text, handles=False)
    return f"{text} [CTX] {mask(context, handles=False)}" if context else text
