"""Read a brand's conversation history: per inbound mention, whether and when the brand answered.

Three CSV formats (docs/reports.md): TWCS (``tweet_id, author_id, inbound, created_at,
response_tweet_id, in_response_to_tweet_id``), Orange Belgium (``conversation_idx, turn,
tweet_id, author_id, is_operator, created_at, in_response_to_id``) and a generic one
(``mention_id, created_at, author`` plus ``replied_at`` and/or reply rows linked by
``in_reply_to``). The answer rule is the one ``model.real_pools`` uses for the public
pools (the brand's earliest tweet that answers the mention), and the texts are cleaned
and masked with its helpers, so a report and a label task see the same mention.

Timestamps: a value with a zone (``Z``, ``+01:00``, Twitter's ``+0000``) is taken as
given; a naive one is read in ``naive_tz`` (default UTC, which is what Twitter exports
and the Orange Belgium pool use). Everything is kept in UTC; reports convert to the
brand's zone only to group by hour and weekday.

Author ids are replaced by integer keys as soon as follow-ups are found, so no handle
travels further than this module.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from model.real_pools import _tweet, mask_user_handles
from model.taxonomy import BY_NAME
from serving.report.zones import zone

FORMATS: tuple[str, ...] = ("twcs", "orangebe", "generic")
TWCS_COLUMNS = {"tweet_id", "author_id", "inbound", "created_at", "response_tweet_id",
                "in_response_to_tweet_id"}  # fmt: skip
ORANGEBE_COLUMNS = {"conversation_idx", "turn", "tweet_id", "author_id", "is_operator", "created_at",
                    "in_response_to_id"}  # fmt: skip
GENERIC_COLUMNS = {"mention_id", "created_at", "author"}
GENERIC_LINKS = {"replied_at", "in_reply_to"}
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
DEFAULT_FOLLOWUP_WINDOW = timedelta(hours=48)
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}
_BRAND_HANDLE = re.compile(r"(?<![\w@])@([A-Za-z_]\w{0,29})")
MAX_PROBLEMS_SHOWN = 50


class HistoryError(ValueError):
    """A history file that cannot be read; ``problems`` holds one ``file:line: reason`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown) + (f"\n... and {more} more" if more else ""))


@dataclass
class History:
    """Inbound mentions (one row each, times in UTC) and what reading them found."""

    mentions: pd.DataFrame
    meta: dict
    skipped: list[str] = field(default_factory=list)
    """``file:line: reason`` of the malformed rows left out (``skip_bad=True``)."""


def parse_timestamp(value: str, naive_tz: ZoneInfo) -> tuple[datetime, bool]:
    """A UTC datetime from ISO 8601 or Twitter's format, and whether the value had no zone.

    Raises ValueError for anything else (the caller names the file and line).
    """
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.strptime(value, TWITTER_TIME)  # raises ValueError itself
    naive = moment.tzinfo is None
    if naive:
        moment = moment.replace(tzinfo=naive_tz)
    return moment.astimezone(UTC), naive


def _bool(value: str, column: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{column} must be true/false or 1/0")


class _Reader:
    """CSV records with their first line number; collects ``file:line: reason`` problems."""

    def __init__(self, path: Path, naive_tz: ZoneInfo) -> None:
        self.path = path
        self.name = str(path)  # as the user gave it: problems read ``that/file.csv:12: reason``
        self.naive_tz = naive_tz
        self.problems: list[str] = []
        self.naive = 0
        self.zoned = 0
        self.rows = 0
        self.columns: set[str] = set()

    def problem(self, line: int, reason: str) -> None:
        self.problems.append(f"{self.name}:{line}: {reason}")

    def time(self, rec: dict[str, str], column: str) -> datetime | None:
        raw = (rec.get(column) or "").strip()
        if not raw:
            return None
        try:
            moment, naive = parse_timestamp(raw, self.naive_tz)
        except ValueError:
            raise ValueError(
                f"{column} is not a timestamp (expected ISO 8601 such as 2017-10-31T22:10:47Z, "
                f"or Twitter's 'Tue Oct 31 22:10:47 +0000 2017')"
            ) from None
        if naive:
            self.naive += 1
        else:
            self.zoned += 1
        return moment

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            fh = self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise HistoryError([f"{self.path}: cannot open: {exc.strerror or exc}"]) from None
        with fh:
            reader = csv.DictReader(fh)
            try:
                self.columns = {c.strip() for c in reader.fieldnames or [] if c}
                while True:
                    start = reader.line_num + 1
                    try:
                        rec = next(reader)
                    except StopIteration:
                        return
                    self.rows += 1
                    if None in rec:
                        self.problem(start, "more fields than the header has")
                        continue
                    if any(v is None for v in rec.values()):
                        self.problem(start, "fewer fields than the header has")
                        continue
                    yield start, {k.strip(): v for k, v in rec.items() if k}
            except UnicodeDecodeError:
                raise HistoryError([f"{self.name}:{reader.line_num + 1}: not UTF-8 text"]) from None
            except csv.Error as exc:
                raise HistoryError([f"{self.name}:{reader.line_num}: malformed CSV: {exc}"]) from None


def detect_format(columns: set[str]) -> str | None:
    if {"inbound", "response_tweet_id"} <= columns:
        return "twcs"
    if {"is_operator", "conversation_idx"} <= columns:
        return "orangebe"
    if "mention_id" in columns:
        return "generic"
    return None


def _header(path: Path) -> set[str]:
    reader = _Reader(path, ZoneInfo("UTC"))
    for _ in reader.records():
        break
    return reader.columns


@dataclass
class _Inbound:
    id: str
    author: str
    created_at: datetime
    line: int
    replied_at: datetime | None = None
    brand: str | None = None
    parent: str | None = None
    text: str | None = None
    intent: str | None = None


@dataclass
class _Parsed:
    inbound: dict[str, _Inbound] = field(default_factory=dict)
    answers: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)
    """mention id -> (earliest brand answer, answering account)"""
    outbound: dict[str, tuple[str, str]] = field(default_factory=dict)
    """brand tweet id -> (author, text): context for the mentions that answer it"""
    brand_replies: int = 0
    orphan_replies: int = 0
    repeated_rows: int = 0
    brands: set[str] = field(default_factory=set)


class _Seen:
    """Ids already read. The Orange Belgium export repeats a tweet in every conversation
    path that holds it, sometimes under the author's later handle: a repeat with the same
    created_at is skipped (the first row wins), one with another created_at is an error."""

    def __init__(self, column: str, parsed: _Parsed) -> None:
        self.column = column
        self.parsed = parsed
        self.first: dict[str, tuple[int, datetime]] = {}

    def repeat(self, line: int, key: str, created: datetime) -> bool:
        known = self.first.get(key)
        if known is None:
            self.first[key] = (line, created)
            return False
        if known[1] != created:
            raise ValueError(f"{self.column} also on line {known[0]}, with another created_at")
        self.parsed.repeated_rows += 1
        return True


def _answer(parsed: _Parsed, mention_id: str, when: datetime, brand: str | None) -> None:
    known = parsed.answers.get(mention_id)
    if known is None or when < known[0]:
        parsed.answers[mention_id] = (when, brand)


def _required(rec: dict[str, str], columns: tuple[str, ...]) -> None:
    for column in columns:
        if not (rec.get(column) or "").strip():
            raise ValueError(f"empty {column}")


def _parse_twcs(reader: _Reader, parsed: _Parsed) -> None:
    links: list[tuple[str, str]] = []  # (mention id, brand tweet id), from both link columns
    times: dict[str, datetime] = {}
    seen = _Seen("tweet_id", parsed)
    for line, rec in reader.records():
        try:
            _required(rec, ("tweet_id", "author_id", "inbound", "created_at"))
            tid, author = rec["tweet_id"].strip(), rec["author_id"].strip()
            inbound = _bool(rec["inbound"], "inbound")
            created = reader.time(rec, "created_at")
            assert created is not None
            if seen.repeat(line, tid, created):
                continue
        except ValueError as exc:
            reader.problem(line, str(exc))
            continue
        parent = (rec.get("in_response_to_tweet_id") or "").strip() or None
        if inbound:
            parsed.inbound[tid] = _Inbound(tid, author, created, line, parent=parent, text=rec.get("text"))
            links += [(tid, r.strip()) for r in (rec.get("response_tweet_id") or "").split(",") if r.strip()]
        else:
            parsed.brands.add(author)
            parsed.brand_replies += 1
            parsed.outbound[tid] = (author, rec.get("text") or "")
            times[tid] = created
            if parent:
                links.append((parent, tid))
    orphans: set[str] = set()
    for mention, answer in links:
        if answer not in parsed.outbound:
            continue  # a customer's reply to the mention, or a tweet outside the file
        if mention in parsed.inbound:
            _answer(parsed, mention, times[answer], parsed.outbound[answer][0])
        elif mention not in parsed.outbound:
            orphans.add(answer)
    parsed.orphan_replies = len(orphans)


def _parse_orangebe(reader: _Reader, parsed: _Parsed) -> None:
    seen = _Seen("tweet_id", parsed)
    by_turn: dict[tuple[str, int], str] = {}
    operator_rows: list[tuple[str, datetime, str]] = []
    for line, rec in reader.records():
        try:
            _required(rec, ("conversation_idx", "turn", "tweet_id", "author_id", "is_operator", "created_at"))
            tid, author = rec["tweet_id"].strip(), rec["author_id"].strip()
            turn = rec["turn"].strip()
            if not turn.isdigit():
                raise ValueError("turn must be a whole number")
            operator = _bool(rec["is_operator"], "is_operator")
            created = reader.time(rec, "created_at")
            assert created is not None
            by_turn[(rec["conversation_idx"].strip(), int(turn))] = tid
            if seen.repeat(line, tid, created):
                continue
        except ValueError as exc:
            reader.problem(line, str(exc))
            continue
        parent = (rec.get("in_response_to_id") or "").strip() or None
        if operator:
            parsed.brands.add(author)
            parsed.brand_replies += 1
            parsed.outbound[tid] = (author, rec.get("text") or "")
            if parent:
                operator_rows.append((parent, created, author))
        else:
            if parent is None and int(turn) > 0:  # real_pools' rule: else the previous turn
                parent = by_turn.get((rec["conversation_idx"].strip(), int(turn) - 1))
            parsed.inbound[tid] = _Inbound(tid, author, created, line, parent=parent, text=rec.get("text"))
    for parent, when, author in operator_rows:
        if parent in parsed.inbound:
            _answer(parsed, parent, when, author)
        elif parent not in parsed.outbound:
            parsed.orphan_replies += 1


def _parse_generic(reader: _Reader, parsed: _Parsed) -> None:
    seen = _Seen("mention_id", parsed)
    replies: list[tuple[str, datetime, str | None]] = []
    intents = set(BY_NAME["intent"].labels)
    for line, rec in reader.records():
        try:
            _required(rec, ("mention_id", "created_at"))
            mid = rec["mention_id"].strip()
            is_brand = _bool(rec.get("is_brand") or "", "is_brand")
            created = reader.time(rec, "created_at")
            assert created is not None
            if seen.repeat(line, mid, created):
                continue
            if is_brand:
                if not (rec.get("in_reply_to") or "").strip():
                    raise ValueError("a brand reply (is_brand) needs in_reply_to: the mention it answers")
            else:
                _required(rec, ("author",))
            replied = reader.time(rec, "replied_at")
            if replied is not None and replied < created:
                raise ValueError("replied_at is before created_at")
            intent = (rec.get("intent") or "").strip() or None
            if intent is not None and intent not in intents:
                raise ValueError(f"intent must be one of {', '.join(sorted(intents))}")
        except ValueError as exc:
            reader.problem(line, str(exc))
            continue
        brand = (rec.get("brand") or "").strip() or None
        parent = (rec.get("in_reply_to") or "").strip() or None
        if is_brand:
            parsed.brand_replies += 1
            if brand:
                parsed.brands.add(brand)
            parsed.outbound[mid] = (brand or "", rec.get("text") or "")
            assert parent is not None
            replies.append((parent, created, brand))
            continue
        mention = _Inbound(mid, rec["author"].strip(), created, line, brand=brand, parent=parent,
                           text=rec.get("text"), intent=intent)  # fmt: skip
        if brand:
            parsed.brands.add(brand)
        parsed.inbound[mid] = mention
        if replied is not None:
            _answer(parsed, mid, replied, brand)
    for parent, when, brand in replies:
        if parent in parsed.inbound:
            _answer(parsed, parent, when, brand)
        else:
            parsed.orphan_replies += 1


PARSERS: dict[str, Callable[[_Reader, _Parsed], None]] = {
    "twcs": _parse_twcs, "orangebe": _parse_orangebe, "generic": _parse_generic,
}  # fmt: skip
REQUIRED: dict[str, set[str]] = {
    "twcs": TWCS_COLUMNS, "orangebe": ORANGEBE_COLUMNS, "generic": GENERIC_COLUMNS,
}  # fmt: skip


def _brand_of(m: _Inbound, parsed: _Parsed) -> str | None:
    """Who a mention is addressed to: the account that answered, the brand tweet it
    replies to, or (TWCS: brand handles are not numeric) the first brand it @mentions."""
    if m.id in parsed.answers and parsed.answers[m.id][1]:
        return parsed.answers[m.id][1]
    if m.brand:
        return m.brand
    if m.parent in parsed.outbound and parsed.outbound[m.parent][0]:
        return parsed.outbound[m.parent][0]
    if len(parsed.brands) == 1:
        return next(iter(parsed.brands))
    for handle in _BRAND_HANDLE.findall(m.text or ""):
        if handle in parsed.brands:
            return handle
    return None


def _clean(text: str | None, brands: set[str] | None) -> str | None:
    """The text a model sees, as real_pools gives it to labelers: unescaped, user handles masked."""
    if not text or not text.strip():
        return None
    return mask_user_handles(_tweet(text), brands) or None


def mark_followups(frame: pd.DataFrame, window: timedelta = DEFAULT_FOLLOWUP_WINDOW) -> pd.DataFrame:
    """Chains of mentions by one author to one brand, each posted before any of the
    earlier ones was answered and within ``window`` of the previous one.

    Adds ``chain`` (a number per chain), ``chain_pos`` (0 for the first mention; also the
    number of earlier unanswered mentions, the API's ``unanswered_before``), ``followup_of``
    (the id of the chain's first mention, None for a first mention) and
    ``chain_answered_at`` (the first answer to any mention of the chain).
    """
    frame = frame.sort_values(["created_at", "id"], kind="stable").reset_index(drop=True)
    chain: list[int] = []
    pos: list[int] = []
    followup_of: list[str | None] = []
    # (author, brand) -> [chain number, first id, members so far, last posted, first answer]
    open_chains: dict[tuple, list] = {}
    chains = 0
    keys = zip(frame["author_key"], frame["brand"].fillna(""), strict=True)
    for key, created, replied, mid in zip(keys, frame["created_at"], frame["replied_at"], frame["id"],
                                          strict=True):  # fmt: skip
        answer = replied if pd.notna(replied) else None
        state = open_chains.get(key)
        if state is not None and (state[4] is None or state[4] > created) and created - state[3] <= window:
            chain.append(state[0])
            pos.append(state[2])
            followup_of.append(state[1])
            state[2] += 1
            state[3] = created
            if answer is not None and (state[4] is None or answer < state[4]):
                state[4] = answer
            continue
        open_chains[key] = [chains, mid, 1, created, answer]
        chain.append(chains)
        chains += 1
        pos.append(0)
        followup_of.append(None)
    frame["chain"] = chain
    frame["chain_pos"] = pos
    frame["followup_of"] = followup_of
    frame["chain_answered_at"] = frame.groupby("chain")["replied_at"].transform("min")
    return frame


def read_history(
    path: Path,
    fmt: str = "auto",
    *,
    naive_tz: str = "UTC",
    skip_bad: bool = False,
    followup_window: timedelta = DEFAULT_FOLLOWUP_WINDOW,
) -> History:
    """Inbound mentions of a history file with their answers and follow-up chains.

    Raises HistoryError with every ``file:line: reason`` when the file is unreadable, has
    no known format or lacks columns, or (unless ``skip_bad``) when any row is malformed.
    """
    tz = zone(naive_tz)
    columns = _header(path)
    if fmt == "auto":
        detected = detect_format(columns)
        if detected is None:
            raise HistoryError([
                f"{path}:1: cannot tell the format from the header; expected TWCS "
                f"(inbound, response_tweet_id, ...), Orange Belgium (conversation_idx, is_operator, ...) "
                f"or generic (mention_id, created_at, author, replied_at/in_reply_to); or pass --format"
            ])
        fmt = detected
    if fmt not in PARSERS:
        raise HistoryError([f"{path}: unknown format {fmt!r} (expected {', '.join(FORMATS)} or auto)"])
    missing = REQUIRED[fmt] - columns
    if fmt == "generic" and not columns & GENERIC_LINKS:
        missing |= {"replied_at or in_reply_to"}
    if missing:
        names = ", ".join(sorted(missing))
        raise HistoryError([f"{path}:1: missing column(s) for format {fmt}: {names}"])

    reader = _Reader(path, tz)
    parsed = _Parsed()
    PARSERS[fmt](reader, parsed)
    if reader.problems and not skip_bad:
        raise HistoryError(reader.problems)
    if not parsed.inbound:
        raise HistoryError([f"{path}: no inbound mentions (customer rows) in {reader.rows} row(s)"])

    mask_brands = None if fmt == "twcs" else parsed.brands  # TWCS: numeric handles are customers
    early = 0
    rows = []
    for m in parsed.inbound.values():
        replied, _ = parsed.answers.get(m.id, (None, None))
        if replied is not None and replied < m.created_at:
            early += 1  # an answer stamped before the mention: a clock problem, not an answer
            replied = None
        parent_text = parsed.outbound.get(m.parent or "", (None, None))[1]
        if parent_text is None and m.parent in parsed.inbound:
            parent_text = parsed.inbound[m.parent].text
        rows.append({
            "id": m.id, "author": m.author, "brand": _brand_of(m, parsed), "created_at": m.created_at,
            "replied_at": replied, "text": _clean(m.text, mask_brands),
            "context": _clean(parent_text, mask_brands), "intent_label": m.intent, "line": m.line,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["replied_at"] = pd.to_datetime(frame["replied_at"], utc=True)
    frame["author_key"] = pd.factorize(frame["author"])[0]
    frame = mark_followups(frame.drop(columns=["author"]), followup_window)
    meta = {
        "source": "history",
        "file": path.name,
        "format": fmt,
        "rows": reader.rows,
        "inbound": len(frame),
        "brand_replies": parsed.brand_replies,
        "brands": len(parsed.brands),
        "replies_to_mentions_not_in_file": parsed.orphan_replies,
        "repeated_rows_skipped": parsed.repeated_rows,
        "answers_before_mention_ignored": early,
        "timestamps_with_zone": reader.zoned,
        "timestamps_naive": reader.naive,
        "naive_tz": naive_tz,
        "malformed_rows_skipped": len(reader.problems),
        "followup_window_hours": followup_window.total_seconds() / 3600,
    }
    return History(frame, meta, list(reader.problems))
