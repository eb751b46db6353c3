"""Weak needs_reply labels from what a care team did: whether it answered each customer turn.

A team's reply history says, for every inbound turn, whether an agent answered it and
how fast. That is a cheap, plentiful proxy for ``needs_reply``: a turn the team answered
is labelled ``yes``, one it left unanswered ``no``. The other heads stay ``None``
(partial labels), so these rows teach needs_reply only. It is only a proxy (teams also
answer thanks, and miss turns that needed an answer), which is why
:func:`agreement` measures it against the team's real labels before anyone trains on it.

Two inputs, one code path (:func:`label_turns`):

* the conversation pools of ``Settings.shared_datasets`` (Orange Belgium, TWCS), read by
  :func:`model.real_pools.read_pool`, handles already masked there;
* a brand's own history CSV, header ``mention_id,text,created_at,replied_at`` (optional
  ``lang``): ISO-8601 times (no offset = UTC), ``replied_at`` empty when nobody answered.
  Every @handle that is not one of ``brands`` becomes ``@user``, as in the pools.

Censoring rule: an unanswered turn is labelled ``no`` only when its history window is
complete, i.e. at least ``censor_hours`` (default 72) passed between the turn and the
latest timestamp of its file. A later unanswered turn is left out, never labelled ``no``
(the answer may still be coming); so is one whose pool lists answers the file does not
hold (TWCS excerpts), or which has no timestamp. An answered turn is always kept.

Texts are never logged; error messages name file, line and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from model.dataset import MAX_TEXT_CHARS, DatasetError, Row
from model.real_labels import _records
from model.real_pools import ORANGEBE, SOURCES, TWCS, PoolError, mask_user_handles, read_pool
from model.taxonomy import HEAD_NAMES, LANGUAGES

CENSOR_HOURS = 72.0
"""Unanswered turns this close to the end of their file are left out (answer may still come)."""
HISTORY_SOURCE = "replied-history"
HISTORY_COLUMNS: tuple[str, ...] = ("mention_id", "text", "created_at", "replied_at")
POOLS: dict[str, str] = {"orangebe": ORANGEBE, "twcs": TWCS}
"""Names accepted on the command line -> real pool sources."""
DEFAULT_LANG: dict[str, str | None] = {ORANGEBE: None, TWCS: "en"}
"""Language of a pool turn without a tag: TWCS is English; an untagged Orange turn is left out."""


def weak_source(pool: str) -> str:
    """``real-orangebe`` -> ``replied-orangebe``: a source of its own, never counted as real."""
    return "replied-" + pool.removeprefix("real-")


@dataclass(frozen=True)
class Turn:
    """One customer turn and what the team did with it, whatever the input."""

    key: str
    """tweet id (pools) or mention id (history CSV), unique within its source."""
    text: str
    context: str | None
    lang: str | None
    created_at: datetime | None
    replied_at: datetime | None
    file: str
    domain: str | None = None
    answers_unseen: bool = False
    """The input lists answers it does not hold: a missing reply is unknown, not "no"."""


@dataclass(frozen=True)
class ReplyLabel:
    """A weak label: the Row to train on and what it was derived from."""

    row: Row
    replied: bool
    response_seconds: float | None
    """Seconds from the turn to the team's first answer (None when unanswered or unknown)."""
    tweet_id: str
    pool: str | None
    """The real source (``real-orangebe``) for pool turns, the key real labels use; None for a CSV."""


@dataclass
class ReplyHistory:
    """The weak labels of one input, with every turn left out counted by reason."""

    source: str
    labels: list[ReplyLabel] = field(default_factory=list)
    censored: int = 0
    unknown: int = 0
    no_time: int = 0
    other_lang: int = 0
    empty: int = 0
    censor_hours: float = CENSOR_HOURS
    skipped: str | None = None
    """Why nothing was read at all (e.g. the shared folder is absent)."""

    @property
    def rows(self) -> list[Row]:
        return [label.row for label in self.labels]

    def summary(self) -> str:
        if self.skipped:
            return f"{self.source}: skipped: {self.skipped}"
        replied = sum(label.replied for label in self.labels)
        times = sorted(t for label in self.labels if (t := label.response_seconds) is not None)
        median = f", median response {times[len(times) // 2] / 3600:.1f} h" if times else ""
        reasons = {
            f"censored (unanswered within {self.censor_hours:g} h of the file's end)": self.censored,
            "with answers outside the file": self.unknown,
            "without a time": self.no_time,
            f"outside {'/'.join(LANGUAGES)}": self.other_lang,
            "without text": self.empty,
        }
        left = "; ".join(f"{n} {why}" for why, n in reasons.items() if n)
        tail = f"; left out: {left}" if left else ""
        return f"{self.source}: {len(self.labels)} turns, {replied} replied{median}{tail}"


def label_turns(
    turns: Iterable[Turn],
    source: str,
    *,
    pool: str | None = None,
    default_lang: str | None = None,
    censor_hours: float = CENSOR_HOURS,
) -> ReplyHistory:
    """Weak needs_reply rows for every customer turn; censored and unknown turns left out."""
    turns = list(turns)
    latest: dict[str, datetime] = {}
    for t in turns:
        for when in (t.created_at, t.replied_at):
            if when is not None and (t.file not in latest or when > latest[t.file]):
                latest[t.file] = when
    window = timedelta(hours=censor_hours)
    out = ReplyHistory(source, censor_hours=censor_hours)
    seen: set[str] = set()
    for t in turns:
        if t.key in seen:  # the Orange pool repeats a tweet that sits in two conversations
            continue
        seen.add(t.key)
        lang = t.lang or default_lang
        if not t.text.strip():
            out.empty += 1
            continue
        if lang not in LANGUAGES:
            out.other_lang += 1
            continue
        if t.replied_at is None:
            if t.answers_unseen:
                out.unknown += 1
                continue
            if t.created_at is None:
                out.no_time += 1
                continue
            if t.created_at > latest[t.file] - window:
                out.censored += 1
                continue
        replied = t.replied_at is not None
        seconds = None
        if replied and t.created_at is not None and not t.answers_unseen:
            seconds = (t.replied_at - t.created_at).total_seconds()
        labels: dict[str, str | None] = dict.fromkeys(HEAD_NAMES)
        labels["needs_reply"] = "yes" if replied else "no"
        row = Row(
            id=f"{source}:{t.key}",
            text=t.text[:MAX_TEXT_CHARS],
            lang=lang,
            labels=labels,
            context=t.context[:MAX_TEXT_CHARS] if t.context else None,
            domain=t.domain,
            source=source,
            sample=None,
        )
        out.labels.append(ReplyLabel(row, replied, seconds, t.key, pool))
    return out


def pool_history(name: str, shared: Path, *, censor_hours: float = CENSOR_HOURS) -> ReplyHistory:
    """Weak labels of one conversation pool (``orangebe`` or ``twcs``), or why it was skipped."""
    pool = POOLS.get(name, name)
    if pool not in SOURCES:
        raise ValueError(f"unknown pool {name!r} (expected one of {', '.join(POOLS)})")
    source = weak_source(pool)
    if not shared.is_dir():
        return ReplyHistory(source, skipped=f"shared datasets folder {shared} is absent "
                            "(set WEBCARE_SHARED_DATASETS)")  # fmt: skip
    try:
        mentions = list(read_pool(pool, shared))
    except PoolError as exc:
        return ReplyHistory(source, skipped=str(exc))
    turns = (
        Turn(m.tweet_id, m.text, m.context, m.lang, m.created_at, m.replied_at, m.file,
             "telecom" if pool == ORANGEBE else m.brand, m.answers_unseen > 0)  # fmt: skip
        for m in mentions
    )
    return label_turns(turns, source, pool=pool, default_lang=DEFAULT_LANG[pool], censor_hours=censor_hours)


_LANG = re.compile(r"[a-z]{2}")
_TIMEISH = re.compile(r"[0-9TZ:+. -]{1,40}")


def _shown(value: str) -> str:
    """A bad value as an error may show it: only when it cannot be a piece of mention text."""
    return repr(value) if _TIMEISH.fullmatch(value) or _LANG.fullmatch(value.lower()) else (
        f"{len(value)} characters")  # fmt: skip


def _time(value: str, column: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column} is not an ISO-8601 time (got {_shown(value)})") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _turn(rec: dict[str, str], file: str, brands: set[str]) -> Turn:
    """One history CSV record as a Turn, or ValueError saying what is wrong (never the text)."""
    key = rec["mention_id"].strip()
    if not key:
        raise ValueError("empty mention_id")
    text = rec["text"].strip()
    if not text:
        raise ValueError("empty text")
    if not rec["created_at"].strip():
        raise ValueError("empty created_at")
    created = _time(rec["created_at"].strip(), "created_at")
    raw_replied = rec["replied_at"].strip()
    replied = _time(raw_replied, "replied_at") if raw_replied else None
    if replied is not None and replied < created:
        raise ValueError("replied_at is before created_at")
    lang = (rec.get("lang") or "").strip() or None
    if lang is not None and not _LANG.fullmatch(lang):
        raise ValueError(f"lang must be an ISO 639-1 code (got {_shown(lang)})")
    return Turn(key, mask_user_handles(text, brands), None, lang, created, replied, file)


def read_history_turns(path: Path, *, brands: Iterable[str] = ()) -> list[Turn]:
    """Every turn of a history CSV; a bad file raises DatasetError naming file and line."""
    kept = set(brands)
    errors: list[str] = []
    turns: list[Turn] = []
    first: dict[str, int] = {}
    for line, rec, error in _records(path, HISTORY_COLUMNS):
        if rec is None:
            errors.append(f"{path}:{line}: {error}" if line else f"{path}: {error}")
            continue
        try:
            turn = _turn(rec, str(path), kept)
        except ValueError as exc:
            errors.append(f"{path}:{line}: {exc}")
            continue
        if turn.key in first:
            errors.append(f"{path}:{line}: duplicate mention_id (first on line {first[turn.key]})")
            continue
        first[turn.key] = line
        turns.append(turn)
    if not errors and not turns:
        errors.append(f"{path}: no history rows")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DatasetError(errors[0] + more)
    return turns


def history_file(
    path: Path, *, censor_hours: float = CENSOR_HOURS, lang: str = "en", brands: Iterable[str] = ()
) -> ReplyHistory:
    """Weak labels of a brand's history CSV; ``lang`` for rows without a ``lang`` value."""
    turns = read_history_turns(path, brands=brands)
    return label_turns(turns, HISTORY_SOURCE, default_lang=lang, censor_hours=censor_hours)


def load_replied(
    names: Sequence[str], shared: Path, *, censor_hours: float = CENSOR_HOURS
) -> list[ReplyHistory]:
    """``orangebe``, ``twcs`` or a history CSV path per name (what ``--replied`` takes)."""
    out = []
    for name in names:
        name = name.strip()
        if name in POOLS:
            out.append(pool_history(name, shared, censor_hours=censor_hours))
        elif Path(name).is_file():
            out.append(history_file(Path(name), censor_hours=censor_hours))
        else:
            raise FileNotFoundError(f"{name}: not a pool ({', '.join(POOLS)}) nor a history CSV file")
    return out


def _norm(text: str | None) -> str:
    return " ".join((text or "").casefold().split())


def for_training(
    histories: Iterable[ReplyHistory], held_out: Sequence[Row], labelled: Iterable[str]
) -> tuple[list[Row], int]:
    """The weak rows that may join the training split, and how many were left out.

    Left out: turns the team labelled (``labelled`` holds ``real-orangebe:<tweet id>`` keys;
    its label wins and a labelled test tweet must never be trained on), and turns whose
    text or context equals the text or context of a held-out row (a neighbour in the same
    thread would carry a validation/test text into training).
    """
    keys = set(labelled)
    tweet_ids = {k.partition(":")[2] for k in keys}
    seen_texts = {_norm(t) for r in held_out for t in (r.text, r.context) if t}
    rows: list[Row] = []
    dropped = 0
    ids: set[str] = set()
    for history in histories:
        for label in history.labels:
            row = label.row
            known = (f"{label.pool}:{label.tweet_id}" in keys if label.pool
                     else label.tweet_id in tweet_ids)  # fmt: skip
            if known or row.id in ids or _norm(row.text) in seen_texts or (
                    row.context and _norm(row.context) in seen_texts):  # fmt: skip
                dropped += 1
                continue
            ids.add(row.id)
            rows.append(row)
    return rows, dropped


@dataclass(frozen=True)
class Agreement:
    """Weak ``replied`` against the team's needs_reply: positive class = replied / ``yes``."""

    n: int
    tn: int
    fp: int
    fn: int
    tp: int
    kappa: float

    @property
    def precision(self) -> float:
        """Of the turns the team answered, the share its labelers say needed a reply."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        """Of the turns that needed a reply, the share the team answered."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")


def agreement(labels: Iterable[ReplyLabel], real: Iterable[Row]) -> dict[str, Agreement]:
    """Join weak labels with real rows by tweet id (and pool); scores per scope.

    Scopes: ``all``, ``source:<real source>``, ``lang:<language the labeler read>`` and, when
    sources share a language, ``source:<source>/lang:<lang>``.
    Real rows whose needs_reply is unlabelled (unclear) are left out. A CSV turn (no pool)
    matches a real row by tweet id when only one real source holds that id.
    """
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    by_key: dict[str, Row] = {}
    by_tweet: dict[str, list[Row]] = {}
    for row in real:
        if row.labels.get("needs_reply") is not None:
            by_key[row.id] = row
            by_tweet.setdefault(row.id.partition(":")[2], []).append(row)
    pairs: list[tuple[Row, bool]] = []
    for label in labels:
        if label.pool:
            match = by_key.get(f"{label.pool}:{label.tweet_id}")
        else:
            found = by_tweet.get(label.tweet_id, [])
            match = found[0] if len(found) == 1 else None
        if match is not None:
            pairs.append((match, label.replied))
    scopes: dict[str, list[tuple[Row, bool]]] = {"all": pairs}
    ordered = sorted(pairs, key=lambda p: (p[0].source, p[0].lang))
    for row, replied in ordered:
        scopes.setdefault(f"source:{row.source}", []).append((row, replied))
    for row, replied in sorted(pairs, key=lambda p: p[0].lang):
        scopes.setdefault(f"lang:{row.lang}", []).append((row, replied))
    sources_of: dict[str, set[str]] = {}
    for row, _ in pairs:
        sources_of.setdefault(row.lang, set()).add(row.source)
    for row, replied in ordered:  # a language several sources share: also per source
        if len(sources_of[row.lang]) > 1:
            scopes.setdefault(f"source:{row.source}/lang:{row.lang}", []).append((row, replied))
    out: dict[str, Agreement] = {}
    for scope, members in scopes.items():
        if not members:
            continue
        truth = [int(r.labels["needs_reply"] == "yes") for r, _ in members]
        weak = [int(replied) for _, replied in members]
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(truth, weak, labels=[0, 1]).ravel())
        both_constant = len(set(truth)) == 1 and len(set(weak)) == 1
        kappa = float("nan") if both_constant else float(cohen_kappa_score(truth, weak, labels=[0, 1]))
        out[scope] = Agreement(len(members), tn, fp, fn, tp, kappa)
    return out
