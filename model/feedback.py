"""Durable store of agents' corrections (SQLite by default, any SQLAlchemy URL).

Serving writes it, labeling reads it to create review tasks; it lives in
``model`` so neither stage imports the other. Text and replies are masked
before they are stored: the store never holds raw personal data.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from model.pii import mask
from model.taxonomy import HEADS, Head


def _label_column(head: Head) -> Column:
    return Column(head.name, Boolean if head.is_binary else String(max(16, *map(len, head.labels))))


metadata = MetaData()
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mention_id", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("lang", String(8)),
    *[_label_column(h) for h in HEADS],
    Column("replied", Boolean),
    Column("replied_at", DateTime(timezone=True)),
    Column("agent", String(64)),
    Column("model_version", String(32)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sent_to_labeling_at", DateTime(timezone=True)),
    # suggested replies: which template the agent saw and what they sent (both masked)
    Column("template_id", String(64), index=True),
    Column("variant", Integer),
    Column("suggested_reply", Text),
    Column("sent_reply", Text),
)
# added after the first release: an existing database gets them as nullable columns on open
LATER_COLUMNS = ("template_id", "variant", "suggested_reply", "sent_reply")
MASKED_FIELDS = ("text", "suggested_reply", "sent_reply")
ID_FIELDS = ("mention_id", "agent")
"""Stored through ``mask_id``: a personal datum used as an id becomes a hash of it."""

LABEL_FIELDS: tuple[str, ...] = tuple(h.name for h in HEADS)
SCHEMA_LOCK = 0x77EBCA7E  # PostgreSQL advisory lock key: one replica creates the schema at a time
URL_ENV = "WEBCARE_FEEDBACK_URL"


def feedback_url(var_dir: Path) -> str:
    """``WEBCARE_FEEDBACK_URL`` or a SQLite file in the var folder (shared by API and labeling)."""
    url = os.environ.get(URL_ENV)
    if url:
        return url
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'feedback.db'}"


def mask_id(value: str) -> str:
    """An id or agent field holding personal data (a phone number, an e-mail) is stored as a
    hash of it: still unique and joinable between feedback and score records, never raw."""
    if mask(value) == value:
        return value
    return "masked-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:20]


def create_schema(engine: Engine, attempts: int = 6) -> None:
    """Tables and later columns, safe when several replicas start at once: PostgreSQL
    serialises on an advisory lock (its DDL is transactional); elsewhere (SQLite) the loser
    of a race gets "already exists" or "locked", retries and then finds the tables."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                metadata.create_all(conn)
                _add_later_columns(conn)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def _add_later_columns(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns(feedback.name)}
    for name in LATER_COLUMNS:
        if name not in have:
            kind = feedback.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {feedback.name} ADD COLUMN {name} {kind}"))


@dataclass
class ReplyRecord:
    template_id: str
    variant: int | None
    suggested_reply: str | None
    sent_reply: str


@dataclass
class FeedbackRecord:
    id: int
    mention_id: str
    text: str
    lang: str | None
    labels: dict[str, str | None]
    replied: bool | None


class FeedbackStore:
    def __init__(self, url: str) -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        create_schema(self.engine)

    def add(self, item: dict, *, names: Sequence[str | None] = ()) -> int:
        """Store one correction with every text field masked (``names``: the author's name and
        handle, masked where the text repeats them) and times in UTC."""
        skip = ("id", "received_at", "sent_to_labeling_at")
        row = {c.name: item.get(c.name) for c in feedback.c if c.name not in skip}
        for name in MASKED_FIELDS:
            if row[name] is not None:
                row[name] = mask(row[name], names=names)
        for name in ID_FIELDS:
            if row[name] is not None:
                row[name] = mask_id(row[name])
        row["replied_at"] = _utc(row["replied_at"])  # SQLite drops offsets: store the UTC instant
        row["received_at"] = datetime.now(UTC)
        with self.engine.begin() as conn:
            return int(conn.execute(insert(feedback).values(**row)).inserted_primary_key[0])

    def pending(self) -> list[FeedbackRecord]:
        """Feedback not yet sent to labeling, oldest first."""
        query = select(feedback).where(feedback.c.sent_to_labeling_at.is_(None)).order_by(feedback.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            labels: dict[str, str | None] = {h.name: _label(h, r[h.name]) for h in HEADS}
            out.append(FeedbackRecord(r["id"], r["mention_id"], r["text"], r["lang"], labels, r["replied"]))
        return out

    def replied_times(self) -> list[datetime | None]:
        """Every row's replied_at as aware UTC, oldest first."""
        with self.engine.connect() as conn:
            return [_utc(r[0]) for r in conn.execute(select(feedback.c.replied_at).order_by(feedback.c.id))]

    def mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(feedback).where(feedback.c.id.in_(ids)).values(sent_to_labeling_at=datetime.now(UTC))
            )

    def replies(self) -> list[ReplyRecord]:
        """Sent replies with the template they started from, oldest first."""
        c = feedback.c
        query = (
            select(c.template_id, c.variant, c.suggested_reply, c.sent_reply)
            .where(c.template_id.is_not(None), c.sent_reply.is_not(None))
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [ReplyRecord(*r) for r in conn.execute(query)]

    def all_texts(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(feedback.c.text))]


def _label(head: Head, value: object) -> str | None:
    if value is None or not head.is_binary:
        return value  # type: ignore[return-value]
    return head.labels[0] if value else head.labels[1]


# Score records: what /v1/score decided about each mention, for the SLA report (serving.report).
# Ids, times and the triage decision only: never text, handles or any other author data.
score_records = Table(
    "score_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mention_id", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False, index=True),
    Column("tier", String(2), nullable=False),
    Column("respond_by", DateTime(timezone=True), nullable=False),
    Column("needs_reply", Boolean, nullable=False),
    Column("intent", String(16)),
    Column("model_version", String(32)),
    Column("policy_version", String(64)),
    Column("replied_at", DateTime(timezone=True)),
)
RECORD_FIELDS: tuple[str, ...] = tuple(c.name for c in score_records.c if c.name != "id")
_RECORD_TIMES = ("created_at", "scored_at", "respond_by", "replied_at")


def _utc(moment: datetime | None) -> datetime | None:
    """Aware UTC, naive read as UTC: SQLite drops zones, so every stored time is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ScoreRecords:
    """Opt-in log of scored mentions (``WEBCARE_RECORD_SCORES``), closed by feedback's replied_at.

    One record per mention id: the first scoring is the respond-by the team was given, so a
    later re-score of the same mention does not move it. Records older than
    ``retention_days`` (by scoring time; 0 keeps them all) are deleted at start-up, at most
    hourly while recording, and before every report.
    """

    PURGE_EVERY_S = 3600.0

    def __init__(self, engine: Engine, retention_days: int = 90) -> None:
        from sqlalchemy import inspect as sa_inspect
        from sqlalchemy.exc import OperationalError

        self.engine = engine
        self.retention_days = retention_days
        self._last_purge = 0.0
        try:  # several workers may open a fresh database at once: the loser sees the table exist
            score_records.create(engine, checkfirst=True)
        except OperationalError:
            if not sa_inspect(engine).has_table(score_records.name):
                raise
        self.purge()  # at start-up; then at most every PURGE_EVERY_S while recording

    def add(self, records: list[dict]) -> int:
        """Insert the mentions not recorded yet; returns how many were new."""
        from sqlalchemy.exc import IntegrityError

        rows: dict[str, dict] = {}
        for r in records:
            row = {k: (_utc(r.get(k)) if k in _RECORD_TIMES else r.get(k)) for k in RECORD_FIELDS}
            row["mention_id"] = mask_id(row["mention_id"])
            rows.setdefault(row["mention_id"], row)
        c = score_records.c
        try:
            with self.engine.begin() as conn:
                have = set(conn.execute(select(c.mention_id).where(c.mention_id.in_(list(rows)))).scalars())
                new = [r for k, r in rows.items() if k not in have]
                if new:
                    conn.execute(score_records.insert(), new)
            added = len(new)
        except IntegrityError:  # another worker recorded one of them meanwhile: go one by one
            added = 0
            for row in rows.values():
                try:
                    with self.engine.begin() as conn:
                        conn.execute(score_records.insert(), [row])
                    added += 1
                except IntegrityError:
                    pass
        self._purge_now_and_then()
        return added

    def close(self, mention_id: str, replied_at: datetime) -> bool:
        """Set the first reply time of an open record; a reply stamped before the mention is ignored."""
        when = _utc(replied_at)
        c = score_records.c
        query = (
            update(score_records)
            .where(c.mention_id == mask_id(mention_id), c.replied_at.is_(None), c.created_at <= when)
            .values(replied_at=when)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def purge(self, now: datetime | None = None) -> int:
        """Delete records scored more than ``retention_days`` ago; returns how many."""
        import time
        from datetime import timedelta

        self._last_purge = time.monotonic()
        if self.retention_days <= 0:
            return 0
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        with self.engine.begin() as conn:
            return conn.execute(score_records.delete().where(score_records.c.scored_at < cutoff)).rowcount

    def _purge_now_and_then(self) -> None:
        import time

        if time.monotonic() - self._last_purge >= self.PURGE_EVERY_S:
            self.purge()

    def rows(self) -> list[dict]:
        """Every record, times as aware UTC datetimes, oldest scoring first."""
        query = select(*[score_records.c[k] for k in RECORD_FIELDS]).order_by(score_records.c.id)
        with self.engine.connect() as conn:
            out = [dict(r) for r in conn.execute(query).mappings()]
        for r in out:
            for k in _RECORD_TIMES:
                r[k] = _utc(r[k])
        return out
