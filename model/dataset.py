"""The mention dataset schema: loading, validation and fingerprinting.

Every dataset the project reads (seed data, exported Label Studio versions,
feedback) uses this JSONL schema; a row without a label for a head carries
``None`` there, which the trainers treat as "not labelled" (partial labels).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from model.taxonomy import BY_NAME, HEAD_NAMES

MAX_TEXT_CHARS = 1000
REQUIRED = ("id", "text", "lang")
KNOWN_TAGS = frozenset(
    {
        "minor_venting",
        "closing_thanks",
        "sarcasm",
        "outage_question",
        "personal_data",
        "user_chatter",
        "follow_up",
    }
)


class DatasetError(ValueError):
    """Malformed data; the message names the file and line."""


@dataclass
class Row:
    id: str
    text: str
    lang: str
    labels: dict[str, str | None]
    context: str | None = None
    domain: str | None = None
    source: str = "seed"
    tags: list[str] = field(default_factory=list)
    excludes: dict[str, list[str]] = field(default_factory=dict)
    """Classes a row is known NOT to be (e.g. "not a complaint"), per head."""
    sample: str | None = None
    """How a real row was drawn ("random" or "rare-fill"); metrics on real traffic use "random"."""

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "text": self.text, "lang": self.lang}
        if self.domain:
            out["domain"] = self.domain
        out["context"] = self.context
        out.update(self.labels)
        if self.tags:
            out["tags"] = self.tags
        if self.excludes:
            out["excludes"] = self.excludes
        if self.source != "seed":
            out["source"] = self.source
        return out


def validate_record(obj: object, *, require_labels: bool = True) -> Row:
    """Turn one parsed JSON value into a Row or raise ValueError saying why."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in REQUIRED:
        if key not in obj:
            raise ValueError(f"missing field {key!r}")
    for key in ("id", "text", "lang"):
        if not isinstance(obj[key], str):
            raise ValueError(f"field {key!r} must be a string")
    if not obj["id"].strip():
        raise ValueError("field 'id' is empty")
    text = obj["text"]
    if not text.strip():
        raise ValueError("field 'text' is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"field 'text' has {len(text)} characters (max {MAX_TEXT_CHARS})")
    if len(obj["lang"]) != 2 or not obj["lang"].isalpha() or not obj["lang"].islower():
        raise ValueError(f"field 'lang' must be an ISO 639-1 code, got {obj['lang']!r}")
    labels: dict[str, str | None] = {}
    for name in HEAD_NAMES:
        value = obj.get(name)
        if value is None:
            if require_labels:
                raise ValueError(f"missing label {name!r}")
            labels[name] = None
            continue
        if value not in BY_NAME[name].labels:
            allowed = ", ".join(BY_NAME[name].labels)
            raise ValueError(f"invalid {name} {value!r} (allowed: {allowed})")
        labels[name] = value
    context = obj.get("context")
    if context is not None and not isinstance(context, str):
        raise ValueError("field 'context' must be a string or null")
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("field 'tags' must be a list of strings")
    unknown = sorted(set(tags) - KNOWN_TAGS)
    if unknown:
        raise ValueError(f"unknown tag(s) {', '.join(unknown)}")
    excludes = obj.get("excludes", {})
    if not isinstance(excludes, dict):
        raise ValueError("field 'excludes' must be an object")
    for name, values in excludes.items():
        if name not in BY_NAME or not isinstance(values, list):
            raise ValueError(f"invalid excludes entry {name!r}")
        bad = [v for v in values if v not in BY_NAME[name].labels]
        if bad:
            raise ValueError(f"invalid excluded {name} {bad[0]!r}")
    return Row(
        id=obj["id"],
        text=text,
        lang=obj["lang"],
        labels=labels,
        context=context,
        domain=obj.get("domain"),
        source=str(obj.get("source", "seed")),
        tags=tags,
        excludes=excludes,
    )


def iter_errors(path: Path, *, require_labels: bool = True) -> Iterator[str]:
    """Yield ``file:line: reason`` for every bad line (including duplicate ids)."""
    seen: dict[str, int] = {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield f"{path}: cannot read: {exc.strerror or exc}"
        return
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield f"{path}:{lineno}: not valid UTF-8"
            continue
        except json.JSONDecodeError as exc:
            yield f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
            continue
        except RecursionError:
            yield f"{path}:{lineno}: invalid JSON: nested too deeply"
            continue
        try:
            row = validate_record(obj, require_labels=require_labels)
        except ValueError as exc:
            yield f"{path}:{lineno}: {exc}"
            continue
        if row.id in seen:
            yield f"{path}:{lineno}: duplicate id {row.id!r} (first on line {seen[row.id]})"
        else:
            seen[row.id] = lineno


def load_jsonl(path: Path, *, require_labels: bool = True) -> list[Row]:
    """Load a JSONL file; any bad line raises DatasetError naming file and line."""
    errors = list(iter_errors(path, require_labels=require_labels))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DatasetError(errors[0] + more)
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(validate_record(json.loads(line), require_labels=require_labels))
    return rows


def dataset_files(path: Path) -> list[Path]:
    """A dataset is a JSONL file or a folder of them (sorted, for a stable fingerprint)."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.jsonl") if not p.name.startswith("conflicts"))
    return [path]


def load_dataset(paths: Iterable[Path], *, require_labels: bool = False) -> list[Row]:
    """Load several datasets; ids must be unique across all of them."""
    rows: list[Row] = []
    origin: dict[str, Path] = {}
    for root in paths:
        for file in dataset_files(root):
            for row in load_jsonl(file, require_labels=require_labels):
                if row.id in origin:
                    raise DatasetError(f"{file}: id {row.id!r} also appears in {origin[row.id]}")
                origin[row.id] = file
                rows.append(row)
    return rows


def fingerprint(paths: Iterable[Path]) -> str:
    """sha256 over the files' names and bytes: changes whenever the training data does."""
    digest = hashlib.sha256()
    for root in paths:
        for file in dataset_files(root):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    """Write via a temp file + rename so a crash never leaves half a dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)
