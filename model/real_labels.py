"""The team's labels on real pool mentions, joined with the pool texts at run time.

``data/real/labels.csv`` holds labels only, keyed by ``(source, tweet_id)``:
the tweet texts stay in their public sources (``Settings.shared_datasets``)
and are joined in here, so the repository never carries them. The result is
ordinary ``Row``s (ids ``f"{source}:{tweet_id}"``, split by the same stable
hash as every other source), so a real test row never moves.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model.dataset import KNOWN_TAGS, MAX_TEXT_CHARS, DatasetError, Row
from model.real_pools import ORANGEBE, SOURCES, PoolError, PoolMention, read_pool
from model.taxonomy import BY_NAME, HEAD_NAMES, LANGUAGES

PRODUCT_LANGS: tuple[str, ...] = LANGUAGES
OTHER_LANG = "other"
SAMPLES: tuple[str, ...] = ("random", "rare-fill")
PASSES: tuple[str, ...] = ("1", "1+2", "adjudicated")
"""single pass; labelled twice and the passes agreed; labelled twice and adjudicated."""
COLUMNS: tuple[str, ...] = (
    "source", "tweet_id", "lang", *HEAD_NAMES, "unclear", "tags", "sample", "labeler", "pass",
)  # fmt: skip


@dataclass(frozen=True)
class RealLabel:
    source: str
    tweet_id: str
    lang: str
    labels: dict[str, str | None]
    unclear: bool
    tags: tuple[str, ...]
    sample: str
    labeler: str
    pass_: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.tweet_id}"


def parse_record(rec: dict[str, str], *, passes: tuple[str, ...] = PASSES) -> RealLabel:
    """One CSV record as a RealLabel, or ValueError saying what is wrong."""
    source = (rec.get("source") or "").strip()
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
    tweet_id = (rec.get("tweet_id") or "").strip()
    if not tweet_id.isdigit():
        raise ValueError(f"tweet_id must be digits, got {tweet_id!r}")
    lang = (rec.get("lang") or "").strip()
    if lang not in (*PRODUCT_LANGS, OTHER_LANG):
        raise ValueError(f"invalid lang {lang!r} (allowed: {', '.join((*PRODUCT_LANGS, OTHER_LANG))})")
    unclear_raw = (rec.get("unclear") or "").strip()
    if unclear_raw not in ("0", "1"):
        raise ValueError(f"unclear must be 0 or 1, got {unclear_raw!r}")
    unclear = unclear_raw == "1"
    labels: dict[str, str | None] = {}
    for head in HEAD_NAMES:
        value = (rec.get(head) or "").strip() or None
        if value is None and not unclear:
            raise ValueError(f"empty {head} on a row not marked unclear")
        if value is not None and value not in BY_NAME[head].labels:
            raise ValueError(f"invalid {head} {value!r} (allowed: {', '.join(BY_NAME[head].labels)})")
        labels[head] = value
    tags = tuple(t for t in (rec.get("tags") or "").split(";") if t)
    unknown = sorted(set(tags) - KNOWN_TAGS)
    if unknown:
        raise ValueError(f"unknown tag(s) {', '.join(unknown)}")
    sample = (rec.get("sample") or "").strip()
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {', '.join(SAMPLES)}, got {sample!r}")
    labeler = (rec.get("labeler") or "").strip()
    if not labeler:
        raise ValueError("empty labeler")
    pass_ = (rec.get("pass") or "").strip()
    if pass_ not in passes:
        raise ValueError(f"pass must be one of {', '.join(passes)}, got {pass_!r}")
    return RealLabel(source, tweet_id, lang, labels, unclear, tags, sample, labeler, pass_)


def _records(
    path: Path, columns: Sequence[str] = COLUMNS
) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """(line, record, error) for every data line; header problems are one error on line 1.

    ``columns`` are the required header names: model.reply_history reads its history CSVs
    through this same loop, so both report bad rows the same way."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        yield 0, None, f"cannot read: {exc.strerror or exc}"
        return
    except UnicodeDecodeError:
        yield 0, None, "not valid UTF-8"
        return
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        yield 1, None, f"missing column(s) {', '.join(missing)}"
        return
    try:
        for rec in reader:
            if None in rec or any(v is None for v in rec.values()):
                yield reader.line_num, None, "wrong number of fields"
                continue
            yield reader.line_num, rec, None
    except csv.Error as exc:
        yield reader.line_num, None, f"malformed CSV: {exc}"


def iter_label_errors(path: Path, *, passes: tuple[str, ...] = PASSES) -> Iterator[str]:
    """``file:line: reason`` for every bad row, including duplicate keys."""
    seen: dict[str, int] = {}
    rows = 0
    for line, rec, error in _records(path):
        if error is not None:
            yield f"{path}:{line}: {error}" if line else f"{path}: {error}"
            continue
        rows += 1
        try:
            label = parse_record(rec, passes=passes)
        except ValueError as exc:
            yield f"{path}:{line}: {exc}"
            continue
        if label.key in seen:
            yield f"{path}:{line}: duplicate {label.key!r} (first on line {seen[label.key]})"
        else:
            seen[label.key] = line
    if rows == 0 and not seen:
        yield f"{path}: no label rows"


def read_labels(path: Path) -> list[RealLabel]:
    """All labels of a file; any bad row raises DatasetError naming file and line."""
    errors = list(iter_label_errors(path))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DatasetError(errors[0] + more)
    return [parse_record(rec) for _, rec, _ in _records(path) if rec is not None]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class RealRows:
    """What loading the real labels gave, with everything that was left out and why."""

    rows: list[Row] = field(default_factory=list)
    labels: int = 0
    missing_ids: int = 0
    """Labelled tweet ids not found in the pools (counted, never silently dropped)."""
    other_lang: int = 0
    """Rows in a language outside the product's, left out of training and evaluation."""
    skipped: str | None = None
    """Why no row was loaded at all (e.g. the shared folder is absent)."""

    def summary(self) -> str:
        if self.skipped:
            return f"real labels skipped: {self.skipped}"
        counts = Counter(r.lang for r in self.rows)
        langs = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        extra = []
        if self.missing_ids:
            extra.append(f"{self.missing_ids} tweet id(s) not found in the pools")
        if self.other_lang:
            extra.append(f"{self.other_lang} outside {'/'.join(PRODUCT_LANGS)} left out")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"real labels: {len(self.rows)} rows of {self.labels} labels ({langs}){tail}"


def _row(label: RealLabel, m: PoolMention) -> Row:
    return Row(
        id=label.key,
        text=m.text[:MAX_TEXT_CHARS],
        lang=label.lang,
        labels=dict(label.labels),
        context=(m.context or None) and m.context[:MAX_TEXT_CHARS],
        domain="telecom" if label.source == ORANGEBE else m.brand,
        source=label.source,
        tags=list(label.tags),
        sample=label.sample,
    )


def load_real(path: Path, shared: Path) -> RealRows:
    """Join the label file with the pool texts; says why when nothing can be loaded."""
    if not path.is_file():
        return RealRows(skipped=f"{path} not found")
    labels = read_labels(path)
    if not shared.is_dir():
        return RealRows(labels=len(labels), skipped=f"shared datasets folder {shared} is absent "
                        "(set WEBCARE_SHARED_DATASETS); the texts live only there")  # fmt: skip
    out = RealRows(labels=len(labels))
    wanted: dict[str, dict[str, RealLabel]] = {}
    for label in labels:
        wanted.setdefault(label.source, {})[label.tweet_id] = label
    for source, by_id in wanted.items():
        try:
            pool = {m.tweet_id: m for m in read_pool(source, shared)}
        except PoolError as exc:
            out.missing_ids += len(by_id)
            out.skipped = str(exc) if not out.rows else None
            continue
        for tweet_id, label in by_id.items():
            mention = pool.get(tweet_id)
            if mention is None or not mention.text:
                out.missing_ids += 1
            elif label.lang not in PRODUCT_LANGS:
                out.other_lang += 1
            else:
                out.rows.append(_row(label, mention))
    out.rows.sort(key=lambda r: r.id)
    return out
