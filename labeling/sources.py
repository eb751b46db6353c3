"""Read mentions to label from CSV/JSONL files and the public tweet formats.

Every reader validates the whole file before anything is sent to Label Studio,
and a bad file (binary, bare-CR line ends, malformed rows) raises SourceError
naming the file and line. Every reader masks @handles in the mention and its
context: only the brand accounts stay (those a public data set marks as the
company, plus any named with ``keep_handles``), so no user name reaches a
labeling task or an exported dataset.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Collection, Iterator
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
        found = ", ".join(" ".join(h.split()) for h in header[:12]) or "none"
        raise SourceError(f"{path}:1: no {', '.join(map(repr, missing))} column for {what} "
                          f"(columns found: {found})")  # fmt: skip


def check_text_file(path: Path) -> None:
    """Reject what no reader can parse before any reader tries: binaries and bare-CR files."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if b"\x00" in head:
        raise SourceError(f"{path}: not a text file (it contains NUL bytes: binary, or UTF-16; "
                          "save it as UTF-8 CSV or JSONL)")  # fmt: skip
    if b"\r" in head and b"\n" not in head:
        raise SourceError(f"{path}:1: lines end in a bare CR (old Mac format); save the file "
                          "with LF or CRLF line ends")  # fmt: skip


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
    try:
        header = set(next(csv.reader([first]), []))
    except csv.Error as exc:
        raise SourceError(f"{path}:1: malformed CSV header: {exc}") from None
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


def _masked(text: str | None, keep: Collection[str]) -> str | None:
    return mask_handles(text, keep) if text else text


def read_plain_csv(
    path: Path, text_column: str = "text", keep: Collection[str] = ()
) -> Iterator[Mention]:
    """Columns: text (required), context, lang, domain, id (all optional)."""
    header, rows = _read_csv(path)
    _require(path, header, {text_column}, "the mention text")
    for _, row in rows:
        yield Mention(
            text=mask_handles(row.get(text_column) or "", keep),
            context=_masked(_opt(row.get("context")), keep),
            lang=_opt(row.get("lang")),
            domain=_opt(row.get("domain")),
            origin="csv",
            source_id=_opt(row.get("id")),
        )


def read_jsonl(
    path: Path, text_column: str = "text", keep: Collection[str] = ()
) -> Iterator[Mention]:
    """One object per line with the dataset schema's fields; labels become pre-fill."""
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise SourceError(f"{path}:{lineno}: invalid JSON: nested too deeply") from None
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
            text=mask_handles(text, keep),
            context=_masked(_opt(obj.get("context")), keep),
            lang=_opt(obj.get("lang")),
            domain=_opt(obj.get("domain")),
            origin="jsonl",
            source_id=_opt(obj.get("id")),
            labels=labels,
        )


def _tweet(text: str | None) -> str:
    """Tweet text as a person reads it: the Twitter API escapes &, < and > as entities."""
    return html.unescape(text or "")


def _inbound(row: dict[str, str]) -> bool:
    return (row.get("inbound") or "").strip().lower() == "true"


def read_twcs(path: Path, keep: Collection[str] = ()) -> Iterator[Mention]:
    """TWCS: customer (inbound) tweets, with the tweet they answer as context.

    Customers were anonymised to numeric ids (``@116239``) and companies kept their
    names: the authors of outbound tweets are the brand handles that stay.
    """
    header, rows = _read_csv(path)
    _require(path, header, _TWCS, "TWCS")
    brands = {row["author_id"] for _, row in rows if row.get("author_id") and not _inbound(row)}
    brands = {b for b in brands if not b.isdigit()} | set(keep)
    text_by_id = {row["tweet_id"]: _tweet(row.get("text")) for _, row in rows}
    for _, row in rows:
        if not _inbound(row):
            continue
        parent = _opt(row.get("in_response_to_tweet_id"))
        yield Mention(
            text=mask_handles(_tweet(row.get("text")), brands),
            context=_masked(_opt(text_by_id.get(parent)), brands) if parent else None,
            origin="twcs",
            source_id=f"twcs:{row['tweet_id']}",
        )


def read_orangebe(path: Path, keep: Collection[str] = ()) -> Iterator[Mention]:
    """Orange Belgium webcare: customer turns, with the preceding turn as context.

    Only the operators' handles are kept; every other @handle becomes @user.
    """
    header, rows = _read_csv(path)
    _require(path, header, _ORANGEBE, "Orange Belgium conversations")
    operators = {row["author_id"] for _, row in rows if (row.get("is_operator") or "") == "1"}
    operators |= set(keep)
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


def read_airline(path: Path, keep: Collection[str] = ()) -> Iterator[Mention]:
    """Twitter US Airline Sentiment: English tweets to six airlines, deduplicated by id."""
    header, rows = _read_csv(path)
    _require(path, header, _AIRLINE, "airline tweets")
    seen: set[str] = set()
    for _, row in rows:
        if row["tweet_id"] in seen:
            continue
        seen.add(row["tweet_id"])
        yield Mention(
            text=mask_handles(_tweet(row.get("text")), (*AIRLINE_HANDLES, *keep)),
            lang="en",
            domain="airline",
            origin="airline",
            source_id=f"airline:{row['tweet_id']}",
        )


def read_mentions(
    path: Path, fmt: str = "auto", *, text_column: str = "text", keep_handles: Collection[str] = ()
) -> ReadResult:
    """All mentions of a file, handles masked, blank and over-long ones dropped (and counted).

    ``keep_handles`` names brand accounts to keep besides those the format knows.
    """
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, expected a file")
    check_text_file(path)
    kind = sniff(path) if fmt == "auto" else fmt
    keep = tuple(h.lstrip("@") for h in keep_handles)
    readers = {
        "csv": lambda: read_plain_csv(path, text_column, keep),
        "jsonl": lambda: read_jsonl(path, text_column, keep),
        "twcs": lambda: read_twcs(path, keep),
        "orangebe": lambda: read_orangebe(path, keep),
        "airline": lambda: read_airline(path, keep),
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
