"""Read mentions to label from CSV/JSONL files and the public tweet formats.

Every reader validates the whole file before anything is sent to Label Studio,
and a bad file raises SourceError naming the file and line. Adapters for public
data sets mask user handles (only the brand accounts stay), so no real user
name reaches a labeling task or an exported dataset.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from labeling.normalize import mask_handles
from model.dataset import MAX_TEXT_CHARS
from model.taxonomy import BY_NAME, HEAD_NAMES

Format = Literal["auto", "csv", "jsonl", "twcs", "orangebe", "airline"]
FORMATS: tuple[str, ...] = ("auto", "csv", "jsonl", "twcs", "orangebe", "airline")
AIRLINE_HANDLES = (
    "VirginAmerica", "united", "SouthwestAir", "JetBlue", "USAirways", "AmericanAir", "Delta",
)  # fmt: skip
_TWCS = {"tweet_id", "author_id", "inbound", "text", "in_response_to_tweet_id"}
_ORANGEBE = {"conversation_idx", "turn", "tweet_id", "author_id", "is_operator", "text"}
_AIRLINE = {"tweet_id", "airline_sentiment", "airline", "text"}


class SourceError(ValueError):
    """Unreadable or malformed input; the message starts with ``file:line:``."""


@dataclass
class Mention:
    """One inbound mention to label, with where it came from."""

    text: str
    context: str | None = None
    lang: str | None = None
    domain: str | None = None
    origin: str = "file"
    source_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    """Labels the source already has (JSONL in the dataset schema); usable as pre-fill."""


@dataclass
class ReadResult:
    mentions: list[Mention]
    format: str
    skipped_empty: int = 0
    skipped_long: int = 0


def _open_error(path: Path, exc: OSError) -> SourceError:
    return SourceError(f"{path}: cannot read: {exc.strerror or exc}")


def _read_text(path: Path) -> str:
    """The whole file as text; a decoding error names the line it is on."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path}:{line}: not valid UTF-8") from None


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs; CSV errors name the line."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = list(reader.fieldnames or [])
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise SourceError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    if not header:
        raise SourceError(f"{path}:1: empty file (expected a CSV header)")
    return header, rows


def _require(path: Path, header: list[str], needed: set[str], what: str) -> None:
    missing = sorted(needed - set(header))
    if missing:
        found = ", ".join(header[:12]) or "none"
        raise SourceError(f"{path}:1: no {', '.join(map(repr, missing))} column for {what} "
                          f"(columns found: {found})")  # fmt: skip


def sniff(path: Path) -> str:
    """Pick a format from the extension and, for CSV, from the header's columns."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    try:
        with path.open("rb") as fh:
            first = fh.readline().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise _open_error(path, exc) from None
    header = set(next(csv.reader([first]), []))
    if header >= _ORANGEBE:
        return "orangebe"
    if header >= _TWCS:
        return "twcs"
    if header >= _AIRLINE:
        return "airline"
    return "csv"


def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def read_plain_csv(path: Path, text_column: str = "text") -> Iterator[Mention]:
    """Columns: text (required), context, lang, domain, id (all optional)."""
    header, rows = _read_csv(path)
    _require(path, header, {text_column}, "the mention text")
    for _, row in rows:
        yield Mention(
            text=row.get(text_column) or "",
            context=_opt(row.get("context")),
            lang=_opt(row.get("lang")),
            domain=_opt(row.get("domain")),
            origin="csv",
            source_id=_opt(row.get("id")),
        )


def read_jsonl(path: Path, text_column: str = "text") -> Iterator[Mention]:
    """One object per line with the dataset schema's fields; labels become pre-fill."""
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{path}:{lineno}: expected a JSON object")
        text = obj.get(text_column)
        if not isinstance(text, str):
            raise SourceError(f"{path}:{lineno}: no {text_column!r} string field")
        for key in ("context", "lang", "domain", "id"):
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise SourceError(f"{path}:{lineno}: field {key!r} must be a string")
        labels: dict[str, str] = {}
        for name in HEAD_NAMES:
            value = obj.get(name)
            if value is None:
                continue
            if value not in BY_NAME[name].labels:
                raise SourceError(f"{path}:{lineno}: invalid {name} {value!r}")
            labels[name] = value
        yield Mention(
            text=text,
            context=_opt(obj.get("context")),
            lang=_opt(obj.get("lang")),
            domain=_opt(obj.get("domain")),
            origin="jsonl",
            source_id=_opt(obj.get("id")),
            labels=labels,
        )


def _tweet(text: str | None) -> str:
    """Tweet text as a person reads it: the Twitter API escapes &, < and > as entities."""
    return html.unescape(text or "")


def read_twcs(path: Path) -> Iterator[Mention]:
    """TWCS: customer (inbound) tweets, with the tweet they answer as context."""
    header, rows = _read_csv(path)
    _require(path, header, _TWCS, "TWCS")
    text_by_id = {row["tweet_id"]: _tweet(row.get("text")) for _, row in rows}
    for _, row in rows:
        if (row.get("inbound") or "").strip().lower() != "true":
            continue
        parent = _opt(row.get("in_response_to_tweet_id"))
        yield Mention(
            text=_tweet(row.get("text")),
            context=_opt(text_by_id.get(parent)) if parent else None,
            origin="twcs",
            source_id=f"twcs:{row['tweet_id']}",
        )


def read_orangebe(path: Path) -> Iterator[Mention]:
    """Orange Belgium webcare: customer turns, with the preceding turn as context.

    Only the operators' handles are kept; every other @handle becomes @user.
    """
    header, rows = _read_csv(path)
    _require(path, header, _ORANGEBE, "Orange Belgium conversations")
    operators = {row["author_id"] for _, row in rows if (row.get("is_operator") or "") == "1"}
    by_id = {row["tweet_id"]: row for _, row in rows}
    by_turn = {(row["conversation_idx"], row["turn"]): row for _, row in rows}
    for _, row in rows:
        if (row.get("is_operator") or "") == "1":
            continue
        parent = by_id.get(row.get("in_response_to_id") or "")
        if parent is None:
            try:
                previous_turn = str(int(row["turn"]) - 1)
            except ValueError:
                previous_turn = ""
            parent = by_turn.get((row["conversation_idx"], previous_turn))
        lang = (row.get("tweet_lang") or "").strip().lower()
        context = mask_handles(_tweet(parent["text"]), operators) if parent else None
        yield Mention(
            text=mask_handles(_tweet(row.get("text")), operators),
            context=_opt(context),
            lang=lang if len(lang) == 2 and lang.isalpha() else None,
            domain="telecom",
            origin="orangebe",
            source_id=f"orangebe:{row['tweet_id']}",
        )


def read_airline(path: Path) -> Iterator[Mention]:
    """Twitter US Airline Sentiment: English tweets to six airlines, deduplicated by id."""
    header, rows = _read_csv(path)
    _require(path, header, _AIRLINE, "airline tweets")
    seen: set[str] = set()
    for _, row in rows:
        if row["tweet_id"] in seen:
            continue
        seen.add(row["tweet_id"])
        yield Mention(
            text=mask_handles(_tweet(row.get("text")), AIRLINE_HANDLES),
            lang="en",
            domain="airline",
            origin="airline",
            source_id=f"airline:{row['tweet_id']}",
        )


def read_mentions(path: Path, fmt: str = "auto", *, text_column: str = "text") -> ReadResult:
    """All mentions of a file, blank ones and over-long ones dropped (and counted)."""
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, expected a file")
    kind = sniff(path) if fmt == "auto" else fmt
    readers = {
        "csv": lambda: read_plain_csv(path, text_column),
        "jsonl": lambda: read_jsonl(path, text_column),
        "twcs": lambda: read_twcs(path),
        "orangebe": lambda: read_orangebe(path),
        "airline": lambda: read_airline(path),
    }
    result = ReadResult([], kind)
    for mention in readers[kind]():
        mention.text = mention.text.strip()
        if not mention.text:
            result.skipped_empty += 1
        elif len(mention.text) > MAX_TEXT_CHARS:
            result.skipped_long += 1
        else:
            result.mentions.append(mention)
    return result
