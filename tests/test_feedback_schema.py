"""The feedback schema is created safely when replicas start at once (issue 8): several
processes open a fresh database together, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROCESSES = 4


def _open(url: str, barrier) -> None:  # in a spawned process: import first, then race
    from model.feedback import FeedbackStore, ScoreRecords

    barrier.wait(timeout=120)
    store = FeedbackStore(url)
    ScoreRecords(store.engine)
    store.add({"mention_id": "m", "text": "hoi"})


def race(url: str) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_open, args=(url, barrier)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    return [p.exitcode for p in procs]


def test_concurrent_create_on_sqlite(tmp_path: Path) -> None:
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'feedback-{round_}.db'}"
        assert race(url) == [0] * PROCESSES
        from model.feedback import FeedbackStore

        assert len(FeedbackStore(url).pending()) == PROCESSES


@pytest.fixture
def pg_url() -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"webcare_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {exc.orig}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_concurrent_create_on_postgresql(pg_url: str) -> None:
    from model.feedback import FeedbackStore

    assert race(pg_url) == [0] * PROCESSES
    store = FeedbackStore(pg_url)
    assert len(store.pending()) == PROCESSES
    store.engine.dispose()
