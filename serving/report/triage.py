"""What the triage would have said about a history: the champion's intent, needs_reply and tier.

Each mention is scored as if it had just arrived (``now = created_at``, so no waiting
points), with its earlier unanswered mentions in the chain as ``unanswered_before``,
exactly what the API would have been sent. Author reach is unknown in a history, so
``followers`` is 0: tiers can only be lower than the live API's, never higher.
"""

from __future__ import annotations

import pandas as pd

from model.base import model_input
from model.loading import LoadedModel
from model.priority import Policy, prioritise, signals_from
from model.taxonomy import BY_NAME

BATCH = 512


def load_champion() -> tuple[LoadedModel | None, str]:
    """The registry's champion, or None and why not (the report then skips its model parts)."""
    try:
        from model.loading import load_alias
        from model.settings import CHAMPION, configure_mlflow, get_settings

        settings = get_settings()
        configure_mlflow(settings)
        model = load_alias(settings.registered_model, CHAMPION)
    except Exception as exc:  # no registry, no champion, a broken artefact: report without a model
        return None, f"no model: the champion could not be loaded ({type(exc).__name__}); run `webcare train`"
    return model, f"{model.name} v{model.version} ({model.family})"


def apply_model(frame: pd.DataFrame, model: LoadedModel, policy: Policy) -> pd.DataFrame:
    """Add ``intent`` (unless the file has labels), ``needs_reply``, ``tier`` and ``respond_by``."""
    frame = frame.copy()
    has_text = frame["text"].notna().to_numpy() if "text" in frame else None
    if has_text is None or not has_text.any():
        frame.attrs["tiers_note"] = "no model figures: the file has no text column for the model to read"
        return frame
    rows = frame[has_text]
    inputs = [model_input(t, c if isinstance(c, str) else None) for t, c in zip(rows["text"], rows["context"],
                                                                                strict=True)]  # fmt: skip
    intents, needs, tiers, due = [], [], [], []
    threshold = policy.reply_threshold
    for start in range(0, len(inputs), BATCH):
        probas = model.runtime.predict_proba(inputs[start:start + BATCH])
        for i in range(len(probas["intent"])):
            row = rows.iloc[start + i]
            created = row["created_at"].to_pydatetime()
            before = int(row.get("chain_pos", 0))
            signals = signals_from(probas, i, unanswered_before=before, created_at=created)
            prio = prioritise(signals, policy, created)
            intents.append(BY_NAME["intent"].labels[int(probas["intent"][i].argmax())])
            needs.append(signals.p_reply >= threshold)
            tiers.append(prio.tier)
            due.append(prio.respond_by)
    index = rows.index
    frame["intent_pred"] = pd.Series(intents, index=index, dtype="object")
    frame["needs_reply"] = pd.Series(needs, index=index, dtype="object")
    frame["tier"] = pd.Series(tiers, index=index, dtype="object")
    frame["respond_by"] = pd.to_datetime(pd.Series(due, index=index), utc=True)
    frame.attrs["tiers_from"] = f"model {model.name} v{model.version} ({model.family})"
    labelled = "intent_label" in frame and frame["intent_label"].notna().any()
    if not labelled:
        frame["intent"] = frame["intent_pred"]
        frame.attrs["intent_from"] = "model"
    scored = int(has_text.sum())
    if scored < len(frame):
        frame.attrs["tiers_note"] = f"{len(frame) - scored} mention(s) without text were not scored"
    return frame
