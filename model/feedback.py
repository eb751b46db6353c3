"""Durable store of agents' corrections (SQLite by default, any SQLAlchemy URL).

Serving writes it, labeling reads it to create review tasks; it lives in
``model`` so neither stage imports the other. Text is masked before it is
stored: the store never holds raw personal data.
"""

from __future__ import annotations

import os
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
    select,
    update,
)
from sqlalchemy.engine import Engine

from model.pii import mask

metadata = MetaData()
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mention_id", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("lang", String(8)),
    Column("intent", String(16)),
    Column("sentiment", String(16)),
    Column("needs_reply", Boolean),
    Column("urgency", String(16)),
    Column("replied", Boolean),
    Column("replied_at", DateTime(timezone=True)),
    Column("agent", String(64)),
    Column("model_version", String(32)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sent_to_labeling_at", DateTime(timezone=True)),
)

LABEL_FIELDS = ("intent", "sentiment", "needs_reply", "urgency")
URL_ENV = "WEBCARE_FEEDBACK_URL"


def feedback_url(var_dir: Path) -> str:
    """``WEBCARE_FEEDBACK_URL`` or a SQLite file in the var folder (shared by API and labeling)."""
    url = os.environ.get(URL_ENV)
    if url:
        return url
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'feedback.db'}"


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
        metadata.create_all(self.engine)

    def add(self, item: dict) -> int:
        skip = ("id", "received_at", "sent_to_labeling_at")
        row = {c.name: item.get(c.name) for c in feedback.c if c.name not in skip}
        row["text"] = mask(item["text"])
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
            labels: dict[str, str | None] = {k: r[k] for k in ("intent", "sentiment", "urgency")}
            nr = r["needs_reply"]
            labels["needs_reply"] = None if nr is None else ("yes" if nr else "no")
            out.append(FeedbackRecord(r["id"], r["mention_id"], r["text"], r["lang"], labels, r["replied"]))
        return out

    def mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(feedback).where(feedback.c.id.in_(ids)).values(sent_to_labeling_at=datetime.now(UTC))
            )

    def all_texts(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(feedback.c.text))]
