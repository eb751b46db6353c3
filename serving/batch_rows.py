"""Rows of a mention archive in, rows of API results out: what `webcare score-file` and
`webcare score-spark` share, so a file, a Spark job and ``/v1/score`` give the same fields.

A record is validated by the API's own ``Mention`` model and scored by the API's own
``score_mentions``; this module only maps file rows onto them and their results onto
flat columns (one per leaf of the API's JSON, named by its path: ``intent.label``,
``intent.probabilities.complaint``, ``priority.tier``...).
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ValidationError

from model.base import Probas
from model.loading import LoadedModel
from model.priority import Policy
from model.taxonomy import BY_NAME
from serving.language import LanguageIdentifier
from serving.reply_templates import ReplyTemplates
from serving.schemas import LabelScore, Mention, MentionResult, ModelInfo
from serving.scoring import score_mentions


class ScoredRow(MentionResult):
    """One line of a batch output: the API's result for a mention plus what scored it."""

    model: ModelInfo
    policy_version: str
    templates_version: str


# ---- input: file records -> Mention ------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A file value as plain Python: numpy scalars unwrapped, NaN/NaT and blank strings as missing."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp (NaT included)
        return None if value != value else value.to_pydatetime()  # NaT is not equal to itself
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, Mapping):
        return {k: v for k, v in ((k, _plain(v)) for k, v in value.items()) if v is not None} or None
    return value


def mention_fields(record: Mapping[str, Any], default_id: str) -> dict[str, Any]:
    """``Mention`` keyword arguments from a file record: nested ``author`` objects or flat
    ``author.followers`` columns, blanks as missing, numeric ids as text, the line as default id."""
    fields: dict[str, Any] = {}
    for key, raw in record.items():
        # a text is kept as given, so that a blank one is reported as such
        value = raw if key == "text" and isinstance(raw, str) else _plain(raw)
        if value is None:
            continue
        head, dot, rest = str(key).partition(".")
        if dot:
            nested = fields.setdefault(head, {})
            if isinstance(nested, dict):
                nested[rest] = value
        else:
            fields[key] = value
    if isinstance(fields.get("id"), int | float) and not isinstance(fields["id"], bool):
        number = fields["id"]
        fields["id"] = str(int(number)) if float(number).is_integer() else str(number)
    fields.setdefault("id", default_id)
    return fields


def validate(record: Mapping[str, Any], default_id: str) -> Mention | str:
    """The record as the API's ``Mention``, or why it is not one (``field: problem; ...``)."""
    try:
        return Mention.model_validate(mention_fields(record, default_id))
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors(include_url=False)
        )


# ---- scoring: Mention -> ScoredRow -------------------------------------------------------------

AsOf = Literal["arrival", "now"] | datetime


@dataclass(frozen=True)
class Clock:
    """When a batch is scored. ``arrival``: each mention as at its own ``created_at`` (no
    waiting time added, the respond-by the team would have been given; for re-scoring an
    archive); ``now``: as the API would at the run's start; or a fixed moment. ``started``
    stands in for a missing ``created_at`` and is kept by a resumed run, so results do not
    depend on when a chunk ran."""

    as_of: AsOf
    started: datetime

    @classmethod
    def parse(cls, as_of: str, started: datetime) -> Clock:
        if as_of in ("arrival", "now"):
            return cls(as_of, started)  # type: ignore[arg-type]
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        return cls(moment if moment.tzinfo else moment.replace(tzinfo=UTC), started)

    def describe(self) -> str:
        return self.as_of.isoformat() if isinstance(self.as_of, datetime) else self.as_of

    def apply(self, mentions: Sequence[Mention]) -> tuple[list[Mention], datetime]:
        """The mentions (a missing created_at filled in) and the ``now`` to score them at.

        Arrival works through the policy's own rules: with ``now`` at or before every
        mention's created_at nothing has waited and each clock starts at its created_at."""
        filled = [m if m.created_at else m.model_copy(update={"created_at": self.started}) for m in mentions]
        if isinstance(self.as_of, datetime):
            return filled, self.as_of
        if self.as_of == "now" or not filled:
            return filled, self.started
        return filled, min(_aware(m.created_at) for m in filled)


def _aware(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class PrecomputedRuntime:
    """A runtime that returns probabilities already computed elsewhere (by Spark's MLflow
    UDF), so ``score_mentions`` applies priority and routing exactly as the API does."""

    def __init__(self, probas: Probas) -> None:
        self.probas = probas

    def predict_proba(self, texts: Sequence[str]) -> Probas:
        n = len(next(iter(self.probas.values())))
        if len(texts) != n:
            raise ValueError(f"{len(texts)} texts for {n} precomputed rows")
        return self.probas


def score_chunk(
    mentions: Sequence[Mention],
    model: LoadedModel,
    policy: Policy,
    languages: LanguageIdentifier | None,
    templates: ReplyTemplates,
    clock: Clock,
) -> list[ScoredRow]:
    """Score valid mentions through the API's ``score_mentions``; one row per mention."""
    if not mentions:
        return []
    filled, now = clock.apply(mentions)
    response = score_mentions(filled, model, policy, languages, now, templates=templates)
    extra = {
        "model": response.model,
        "policy_version": response.policy_version,
        "templates_version": response.templates_version,
    }
    return [ScoredRow(**dict(r), **extra) for r in response.results]


# ---- output: ScoredRow -> flat columns ----------------------------------------------------------


def _optional_inner(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        annotation = _optional_inner(field.annotation)
        key = f"{prefix}{name}"
        if annotation is LabelScore:
            out.append((f"{key}.label", str))
            out += [(f"{key}.probabilities.{label}", float) for label in BY_NAME[name].labels]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _leaves(annotation, f"{key}.")
        else:
            out.append((key, annotation))
    return out


def _arrow_type(annotation: Any) -> pa.DataType:
    annotation = _optional_inner(annotation)
    if get_origin(annotation) is list:
        return pa.list_(_arrow_type(get_args(annotation)[0]))
    if get_origin(annotation) is Literal or annotation is str:
        return pa.string()
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    if annotation is datetime:
        return pa.timestamp("us", tz="UTC")
    return pa.string()  # anything else travels as JSON text


LEAVES = _leaves(ScoredRow)
COLUMNS: list[str] = [name for name, _ in LEAVES]
SCHEMA = pa.schema([(name, _arrow_type(annotation)) for name, annotation in LEAVES])
"""Arrow schema of a flat output row (Parquet files, Spark's output schema)."""


def _at(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def flat_row(row: ScoredRow) -> dict[str, Any]:
    """Typed values per column (Parquet, Spark): datetimes, lists and numbers as themselves."""
    data = row.model_dump(mode="python")
    out = {}
    for name, kind in zip(COLUMNS, SCHEMA.types, strict=True):
        value = _at(data, name)
        if kind == pa.string() and value is not None and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, default=str)
        out[name] = value
    return out


def csv_row(row: ScoredRow) -> list[str]:
    """Text values per column: ISO times, JSON lists, ``true``/``false``, empty for missing."""
    data = row.model_dump(mode="json")
    out = []
    for name in COLUMNS:
        value = _at(data, name)
        if value is None:
            out.append("")
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, list | dict):
            out.append(json.dumps(value, ensure_ascii=False))
        else:
            out.append(str(value))
    return out


def json_line(row: ScoredRow) -> str:
    """The API's nested JSON for the mention, one line."""
    return row.model_dump_json()
