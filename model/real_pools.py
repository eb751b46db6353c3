"""The real inbound mentions of the public conversation pools, keyed by tweet id.

Two pools in ``Settings.shared_datasets`` hold real customer traffic to care
accounts: Orange Belgium (Dutch webcare, some French and English) and TWCS
(English, many brands). Both record who wrote each tweet and which tweet it
answers, so each customer turn comes with the turn it replies to as context
and with whether and when the brand answered it. The texts stay in the shared
folder: the repository keeps only labels keyed by ``(source, tweet_id)``.

User handles are masked to ``@user`` (brand accounts are kept: who a mention
is addressed to matters for triage), so no real user name reaches a label
task, a model artefact or a log.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ORANGEBE = "real-orangebe"
TWCS = "real-twcs"
SOURCES: tuple[str, ...] = (ORANGEBE, TWCS)
POOL_FILES: dict[str, tuple[str, ...]] = {
    ORANGEBE: ("orangebe_webcare/conversations.csv",),
    TWCS: ("twcs/twcs_first5000.csv", "twcs/twcs_spotifycares_inbound_15k.csv"),
}
"""Paths relative to the shared datasets folder, in sampling order."""

_HANDLE = re.compile(r"(?<![\w@])@(\w{1,30})")


class PoolError(FileNotFoundError):
    """A pool file is missing or lacks a column; the message names the file."""


@dataclass(frozen=True)
class PoolMention:
    """One customer turn of a pool, as a labeler reads it."""

    source: str
    tweet_id: str
    text: str
    context: str | None
    lang: str | None
    """The pool's own language tag when it has one (Orange Belgium), else None."""
    created_at: datetime | None
    file: str
    """Which pool file it came from (relative to the shared folder)."""
    replied_at: datetime | None = None
    """When the brand's first answer to this turn was posted, if it answered."""
    brand: str | None = None
    """The care account addressed (the operator's handle), where the pool says."""
    answers_unseen: int = 0
    """Answers the pool lists for this turn whose tweets its file does not hold (TWCS files
    are excerpts): when none of the answers seen is the brand's, whether it replied is unknown."""


def mask_user_handles(text: str, brands: set[str] | None) -> str:
    """Every @handle that is not a brand account becomes ``@user``.

    ``brands=None`` is TWCS's rule: its authors were anonymised to numeric ids, so a
    numeric handle is a customer and any other handle is a company account.
    """
    if brands is None:
        return _HANDLE.sub(lambda m: "@user" if m.group(1).isdigit() else m.group(0), text)
    kept = {b.casefold() for b in brands}
    return _HANDLE.sub(lambda m: m.group(0) if m.group(1).casefold() in kept else "@user", text)


def _tweet(text: str | None) -> str:
    """Tweet text as a person reads it: the Twitter API escapes &, < and > as entities."""
    return html.unescape(text or "").strip()


def _rows(path: Path, needed: set[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise PoolError(f"{path}: pool file not found")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise PoolError(f"{path}:1: missing column(s) {', '.join(sorted(missing))}")
        return list(reader)


def _orangebe_time(value: str | None) -> datetime | None:
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _twcs_time(value: str | None) -> datetime | None:
    try:
        return datetime.strptime((value or "").strip(), "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
    except ValueError:
        return None


def read_orangebe(shared: Path) -> Iterator[PoolMention]:
    """Customer turns (``is_operator == 0``), with the turn they answer as context."""
    rel = POOL_FILES[ORANGEBE][0]
    rows = _rows(shared / rel, {"conversation_idx", "turn", "tweet_id", "author_id", "is_operator",
                                "created_at", "in_response_to_id", "text"})  # fmt: skip
    brands = {r["author_id"] for r in rows if r["is_operator"] == "1"}
    by_id = {r["tweet_id"]: r for r in rows}
    by_turn = {(r["conversation_idx"], r["turn"]): r for r in rows}
    first_answer: dict[str, datetime] = {}
    for r in rows:
        parent = r.get("in_response_to_id") or ""
        when = _orangebe_time(r.get("created_at"))
        if r["is_operator"] == "1" and parent and when and (parent not in first_answer
                                                           or when < first_answer[parent]):
            first_answer[parent] = when
    for r in rows:
        if r["is_operator"] != "0":
            continue
        parent = by_id.get(r.get("in_response_to_id") or "")
        if parent is None and r["turn"].isdigit() and int(r["turn"]) > 0:
            parent = by_turn.get((r["conversation_idx"], str(int(r["turn"]) - 1)))
        lang = (r.get("tweet_lang") or "").strip().lower()
        yield PoolMention(
            source=ORANGEBE,
            tweet_id=r["tweet_id"],
            text=mask_user_handles(_tweet(r["text"]), brands),
            context=mask_user_handles(_tweet(parent["text"]), brands) or None if parent else None,
            lang=lang if len(lang) == 2 and lang.isalpha() else None,
            created_at=_orangebe_time(r.get("created_at")),
            file=rel,
            replied_at=first_answer.get(r["tweet_id"]),
            brand=next(iter(brands)) if len(brands) == 1 else None,
        )


def read_twcs(shared: Path) -> Iterator[PoolMention]:
    """Inbound tweets of both TWCS files, with the tweet they answer as context.

    A tweet id that appears in both files is yielded once (from the first file).
    """
    seen: set[str] = set()
    for rel in POOL_FILES[TWCS]:
        rows = _rows(shared / rel, {"tweet_id", "author_id", "inbound", "created_at", "text",
                                    "response_tweet_id", "in_response_to_tweet_id"})  # fmt: skip
        by_id = {r["tweet_id"]: r for r in rows}
        for r in rows:
            if r["inbound"].strip().lower() != "true" or r["tweet_id"] in seen:
                continue
            seen.add(r["tweet_id"])
            parent = by_id.get(r.get("in_response_to_tweet_id") or "")
            listed = [a for a in (r.get("response_tweet_id") or "").split(",") if a.strip()]
            answers = [by_id[a] for a in listed if a in by_id]
            brand_answers = [a for a in answers if a["inbound"].strip().lower() != "true"]
            times = [t for a in brand_answers if (t := _twcs_time(a["created_at"]))]
            yield PoolMention(
                source=TWCS,
                tweet_id=r["tweet_id"],
                text=mask_user_handles(_tweet(r["text"]), None),
                context=mask_user_handles(_tweet(parent["text"]), None) or None if parent else None,
                lang=None,
                created_at=_twcs_time(r.get("created_at")),
                file=rel,
                replied_at=min(times) if times else None,
                brand=brand_answers[0]["author_id"] if brand_answers else None,
                answers_unseen=len(listed) - len(answers),
            )


READERS = {ORANGEBE: read_orangebe, TWCS: read_twcs}


def read_pool(source: str, shared: Path) -> Iterator[PoolMention]:
    if source not in READERS:
        raise ValueError(f"unknown real source {source!r} (expected one of {', '.join(SOURCES)})")
    return READERS[source](shared)
