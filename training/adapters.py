"""Adapters that turn the public tweet sets in ``Settings.shared_datasets`` into Rows.

Each set labels only some heads, so rows carry ``None`` for the others (and,
where a set only says what a tweet is *not*, an ``excludes`` entry). The files
are read in place at run time and never copied into the repository; see
docs/public-datasets.md for how each set maps onto the taxonomy.

Every adapter removes duplicates (same tweet id, then same normalised text)
and gives each row the id ``f"{source}:{tweet_id}"``, which is what
``model.split.assign`` hashes: the train/validation/test split of a public
row is fixed forever and independent of the other rows.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from model.dataset import MAX_TEXT_CHARS, Row
from model.taxonomy import HEAD_NAMES


class PublicDataError(FileNotFoundError):
    """A public set is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class PublicSet:
    name: str
    files: tuple[str, ...]
    """Paths relative to the shared datasets folder; hashed as the set's version."""
    load: Callable[[Path], list[Row]]


_SPACES = re.compile(r"\s+")
NON_COMPLAINT_REASONS = frozenset({"Can't Tell"})
"""negativereason values that do not say what went wrong, so are no complaint evidence."""
POSITIVE_NOT_COMPLAINT_CONFIDENCE = 0.8


def clean_text(text: str) -> str:
    """Undo HTML escaping (``&amp;``), trim, and cap at the schema's maximum length."""
    return html.unescape(str(text)).strip()[:MAX_TEXT_CHARS]


def text_key(text: str) -> str:
    """Normalised text for duplicate detection: case and whitespace do not matter."""
    return _SPACES.sub(" ", text).strip().lower()


def text_id(text: str) -> str:
    """A stable id for sets that ship no tweet id: a hash of the normalised text."""
    return hashlib.sha1(text_key(text).encode()).hexdigest()[:16]


def _labels(**given: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(HEAD_NAMES)
    out.update(given)
    return out


def _dedupe(rows: Iterable[Row]) -> list[Row]:
    """Keep the first row per id and per normalised text (callers order by preference)."""
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    out = []
    for row in rows:
        key = text_key(row.text)
        if row.id in seen_ids or key in seen_texts or not key:
            continue
        seen_ids.add(row.id)
        seen_texts.add(key)
        out.append(row)
    return out


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    if not path.is_file():
        raise PublicDataError(f"{path}: not found (set WEBCARE_SHARED_DATASETS)")
    return pd.read_csv(path, keep_default_na=False, **kwargs)


def _require(frame: pd.DataFrame, path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PublicDataError(f"{path}: missing column(s) {', '.join(missing)}")


def load_airline(root: Path) -> list[Row]:
    """Twitter US Airline Sentiment: sentiment, plus complaint evidence.

    A negative tweet with a concrete ``negativereason`` (Late Flight, Lost
    Luggage, ...) is labelled intent=complaint; a confidently positive tweet
    (crowd confidence >= 0.8) is known not to be a complaint (``excludes``).
    Repeated tweet ids keep the most confident judgement.
    """
    path = root / "airline_sentiment" / "tweets.csv"
    frame = _read_csv(path, dtype=str)
    _require(frame, path, ["tweet_id", "airline_sentiment", "negativereason", "text"])
    conf = pd.to_numeric(frame.get("airline_sentiment_confidence"), errors="coerce").fillna(0.0)
    frame = frame.assign(sort_conf=conf).sort_values(
        ["sort_conf", "tweet_id"], ascending=[False, True], kind="stable"
    )
    rows = []
    for rec in frame.itertuples(index=False):
        sentiment = str(rec.airline_sentiment).strip()
        if sentiment not in ("negative", "neutral", "positive"):
            continue
        reason = str(rec.negativereason).strip()
        intent = None
        excludes: dict[str, list[str]] = {}
        if sentiment == "negative" and reason and reason not in NON_COMPLAINT_REASONS:
            intent = "complaint"
        elif sentiment == "positive" and rec.sort_conf >= POSITIVE_NOT_COMPLAINT_CONFIDENCE:
            excludes = {"intent": ["complaint"]}
        text = clean_text(rec.text)
        rows.append(
            Row(
                id=f"airline:{str(rec.tweet_id).strip()}",
                text=text,
                lang="en",
                labels=_labels(sentiment=sentiment, intent=intent),
                domain="airline",
                source="airline",
                excludes=excludes,
            )
        )
    return _dedupe(rows)


def load_complaints(root: Path) -> list[Row]:
    """Complaints (Preotiuc-Pietro et al. 2019): label 1 = complaint, 0 = not a complaint.

    "Not a complaint" does not say which other intent it is, so it becomes an
    exclusion of ``complaint`` instead of a guessed label.
    """
    path = root / "complaints" / "complaints.csv"
    frame = _read_csv(path, dtype=str)
    _require(frame, path, ["tweet_id", "text", "label"])
    rows = []
    for rec in frame.sort_values("tweet_id", kind="stable").itertuples(index=False):
        label = str(rec.label).strip()
        if label not in ("0", "1"):
            continue
        domain = str(getattr(rec, "domain", "")).strip() or None
        rows.append(
            Row(
                id=f"complaints:{str(rec.tweet_id).strip()}",
                text=clean_text(rec.text),
                lang="en",
                labels=_labels(intent="complaint" if label == "1" else None),
                domain=domain,
                source="complaints",
                excludes={} if label == "1" else {"intent": ["complaint"]},
            )
        )
    return _dedupe(rows)


TWEETEVAL_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}


def load_tweeteval(root: Path) -> list[Row]:
    """TweetEval sentiment, validation split only (one tweet per line, labels 0/1/2).

    It ships no tweet ids; the id is a hash of the normalised text.
    """
    folder = root / "tweeteval_sentiment"
    text_path, label_path = folder / "val_text.txt", folder / "val_labels.txt"
    for path in (text_path, label_path):
        if not path.is_file():
            raise PublicDataError(f"{path}: not found (set WEBCARE_SHARED_DATASETS)")
    texts = text_path.read_text(encoding="utf-8").splitlines()
    labels = label_path.read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise PublicDataError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    rows = []
    for text, label in zip(texts, labels, strict=True):
        sentiment = TWEETEVAL_LABELS.get(label.strip())
        text = clean_text(text)
        if sentiment is None or not text:
            continue
        rows.append(
            Row(
                id=f"tweeteval:{text_id(text)}",
                text=text,
                lang="en",
                labels=_labels(sentiment=sentiment),
                source="tweeteval",
            )
        )
    return _dedupe(rows)


def load_dutch(root: Path) -> list[Row]:
    """Dutch political tweets with polarity, read as the sentiment head (lang nl)."""
    path = root / "dutch_political_polarity" / "train.csv"
    frame = _read_csv(path, dtype=str)
    _require(frame, path, ["content", "polarity"])
    rows = []
    for rec in frame.itertuples(index=False):
        sentiment = str(rec.polarity).strip().lower()
        text = clean_text(rec.content)
        if sentiment not in ("negative", "neutral", "positive") or not text:
            continue
        rows.append(
            Row(
                id=f"dutch:{text_id(text)}",
                text=text,
                lang="nl",
                labels=_labels(sentiment=sentiment),
                domain="politics",
                source="dutch",
            )
        )
    return _dedupe(rows)


PUBLIC_SETS: dict[str, PublicSet] = {
    "airline": PublicSet("airline", ("airline_sentiment/tweets.csv",), load_airline),
    "complaints": PublicSet("complaints", ("complaints/complaints.csv",), load_complaints),
    "tweeteval": PublicSet(
        "tweeteval",
        ("tweeteval_sentiment/val_text.txt", "tweeteval_sentiment/val_labels.txt"),
        load_tweeteval,
    ),
    "dutch": PublicSet("dutch", ("dutch_political_polarity/train.csv",), load_dutch),
}


def parse_names(value: str | Sequence[str] | None) -> list[str]:
    """``"airline,complaints"`` or a list -> validated names; ``"all"`` means every set."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip() for n in items if n.strip()]
    if names == ["all"]:
        return list(PUBLIC_SETS)
    unknown = [n for n in names if n not in PUBLIC_SETS]
    if unknown:
        raise ValueError(f"unknown public set(s) {', '.join(unknown)} (expected {', '.join(PUBLIC_SETS)})")
    return list(dict.fromkeys(names))


def dataset_version(name: str, root: Path) -> str:
    """sha256 over the set's files: the exact version a run used."""
    digest = hashlib.sha256()
    for rel in PUBLIC_SETS[name].files:
        path = root / rel
        if not path.is_file():
            raise PublicDataError(f"{path}: not found (set WEBCARE_SHARED_DATASETS)")
        digest.update(rel.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_public(names: Sequence[str], root: Path) -> list[Row]:
    """Rows of the named sets, in the given order."""
    rows: list[Row] = []
    for name in names:
        rows.extend(PUBLIC_SETS[name].load(root))
    return rows
