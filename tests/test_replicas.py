"""The production shape on one machine: an MLflow tracking server on PostgreSQL with a file
artifact root, two API replicas (`webcare serve`, one worker each) sharing a feedback store
on PostgreSQL. A new champion reaches both within the poll interval under traffic, feedback
lands once and survives a replica killed with SIGKILL, and the schema survives replicas
starting at once. Each run creates and drops its own databases."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.servers import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.postgres]

PG = os.environ.get("WEBCARE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
KEY = "replica-key-0123456789"
POLL_S = 1.0
LOAD_ALLOWANCE_S = 20.0  # after the poll notices the move: download from the server and load (2 busy cores)
TIMEOUT_S = 30.0
NAME = "webcare-triage"


def _admin() -> sa.Engine:
    return sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT",
                            connect_args={"connect_timeout": 3})  # fmt: skip


@pytest.fixture(scope="module")
def databases() -> Iterator[callable]:
    """Make fresh databases (``make("feedback")`` -> URL); all are dropped at the end."""
    admin = _admin()
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG}: {exc.orig}")
    tag = f"webcare_test_{os.getpid()}_{secrets.token_hex(3)}"
    made: list[str] = []

    def make(purpose: str) -> str:
        name = f"{tag}_{purpose}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return f"{PG}/{name}"

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_schema_creation_concurrent_and_idempotent(databases) -> None:
    """Eight stores opening one fresh database at once (as replicas starting together do)."""
    from model.feedback import FeedbackStore, ScoreRecords

    url = databases("schema")
    start, errors, stores = threading.Barrier(8), [], []

    def open_store() -> None:
        start.wait()
        try:
            stores.append(FeedbackStore(url))
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    again = FeedbackStore(url)  # and once more on the finished schema
    ScoreRecords(again.engine)
    assert {"feedback", "score_records"} <= set(sa.inspect(again.engine).get_table_names())
    assert again.add({"mention_id": "1", "text": "hoi"}) >= 1
    for store in [*stores, again]:
        store.engine.dispose()


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path
    started: float = field(default_factory=time.perf_counter)

    def wait(self, path: str, timeout: float) -> float:
        """Seconds until ``path`` answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not up after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _start(name: str, cmd: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    out = open(log, "wb")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    out.close()
    return Server(name, proc, f"http://127.0.0.1:{port}", log)


def _replica(name: str, tmp: Path, tracking: str, feedback: str) -> Server:
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": tracking, "WEBCARE_FEEDBACK_URL": feedback, "WEBCARE_WORKERS": "1",
        "WEBCARE_SWAP_POLL_SECONDS": str(POLL_S), "WEBCARE_API_KEYS": KEY, "WEBCARE_RECORD_SCORES": "true",
        "WEBCARE_VAR_DIR": str(tmp / name), "MLFLOW_DISABLE_TELEMETRY": "true",
    }  # fmt: skip
    cmd = [sys.executable, "-m", "webcare_cli", "serve", "--no-train-if-missing", "--host", "127.0.0.1",
           "--port", str(port)]  # fmt: skip
    return _start(name, cmd, env, tmp / f"{name}.log", port)


def _serving(url: str) -> str:
    """The version a replica serves, from its readiness probe (what a load balancer sees)."""
    return httpx.get(f"{url}/readyz", timeout=TIMEOUT_S).json()["model"]["version"]


def _warm_up(url: str) -> None:
    """What a load balancer's slow start does: the first requests load lazy parts (language
    identification) before the replica takes its share of traffic."""
    body = {"mentions": [{"id": "warm-up", "text": "Is er een storing in Utrecht?"}]}
    for _ in range(3):
        r = httpx.post(f"{url}/v1/score", json=body, headers={"X-API-Key": KEY}, timeout=60)
        assert r.status_code == 200, r.text


def _feedback(url: str, mention_id: str) -> httpx.Response:
    body = {"mention_id": mention_id, "text": "Storing in Utrecht, bel 06-12345678", "intent": "complaint",
            "needs_reply": True, "urgency": "high", "replied": True, "agent": "agent-3"}  # fmt: skip
    return httpx.post(f"{url}/v1/feedback", json=body, headers={"X-API-Key": KEY}, timeout=TIMEOUT_S)


def test_two_replicas_on_postgres_and_an_mlflow_server(databases, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    servers: list[Server] = []
    try:
        port = free_port()
        tracking = f"http://127.0.0.1:{port}"
        mlflow_db, feedback_db = databases("mlflow"), databases("feedback")
        registry = _start("mlflow", [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_db,
            "--artifacts-destination", (tmp_path / "artifacts").as_uri(), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ], {"MLFLOW_DISABLE_TELEMETRY": "true"}, tmp_path / "mlflow.log", port)  # fmt: skip
        servers.append(registry)
        print(f"mlflow server up in {registry.wait('/health', 300):.1f} s")

        began = time.perf_counter()
        trained = subprocess.run(
            [sys.executable, "-m", "webcare_cli", "train", "--no-real", "--data", "data/seed/en.jsonl"],
            cwd=ROOT,
            env={**os.environ, "MLFLOW_TRACKING_URI": tracking, "WEBCARE_VAR_DIR": str(tmp_path / "trainer")},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
        print(f"trained and registered over HTTP in {time.perf_counter() - began:.1f} s")
        client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
        first = client.get_model_version_by_alias(NAME, "champion")
        # the next champion: a new registered version (the same artefact: the alias move is the point)
        logged = first.source.removeprefix("models:/")  # MLflow 3: the logged model's id
        second = client.create_model_version(NAME, first.source, first.run_id, model_id=logged)
        client.set_model_version_tag(NAME, second.version, "family", "baseline")

        # both replicas start at once on the fresh feedback database: the schema race
        a, b = _replica("a", tmp_path, tracking, feedback_db), _replica("b", tmp_path, tracking, feedback_db)
        servers += [a, b]
        print(f"replicas ready in {a.wait('/readyz', 300):.1f} s and {b.wait('/readyz', 300):.1f} s")
        for r in (a, b):
            assert _serving(r.url) == first.version
            _warm_up(r.url)

        # a client spreads a bounded stream over both while the champion moves
        served: list[tuple[str, float, str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def stream() -> None:
            with httpx.Client(headers={"X-API-Key": KEY}, timeout=TIMEOUT_S) as http:
                for i in range(20_000):
                    if stop.is_set():
                        return
                    replica = (a, b)[i % 2]
                    body = {"mentions": [{"id": f"s{i}", "text": "Trein valt weer uit!"}]}
                    try:
                        r = http.post(f"{replica.url}/v1/score", json=body)
                        if r.status_code == 200:
                            served.append((replica.name, time.monotonic(), r.json()["model"]["version"]))
                        else:
                            failures.append(f"{replica.name}: {r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        failures.append(f"{replica.name}: {exc!r}")

        worker = threading.Thread(target=stream)
        worker.start()
        try:
            time.sleep(1.0)
            moved = time.monotonic()
            client.set_registered_model_alias(NAME, "champion", second.version)
            switched: dict[str, float] = {}
            deadline = moved + POLL_S + LOAD_ALLOWANCE_S + 20
            while len(switched) < 2 and time.monotonic() < deadline:
                for r in (a, b):
                    now = _serving(r.url)
                    if r.name not in switched and now == second.version:
                        switched[r.name] = time.monotonic() - moved
                time.sleep(0.05)
            time.sleep(1.0)
        finally:
            stop.set()
            worker.join(timeout=60)
        print(f"{len(served)} requests, switch after the alias moved: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(switched.items())))  # fmt: skip
        assert failures == []
        assert set(switched) == {"a", "b"}, f"not switched: {switched}"
        assert max(switched.values()) <= POLL_S + LOAD_ALLOWANCE_S
        for r in (a, b):
            versions = [v for name, _, v in served if name == r.name]
            assert set(versions) == {first.version, second.version}
            # once a replica serves the new champion it never goes back
            assert versions == sorted(versions, key=lambda v: v == second.version)

        # score records of both replicas in one table, each mention once
        feedback_engine = sa.create_engine(feedback_db)
        with feedback_engine.connect() as conn:
            counts = conn.execute(sa.text("SELECT count(DISTINCT mention_id), count(*) FROM score_records "
                                          "WHERE mention_id LIKE 's%'"))  # fmt: skip
            assert counts.one() == (len(served), len(served))

        # feedback posted to both replicas lands once each ...
        ids = [_feedback(r.url, f"fb-{r.name}-{i}") for i in range(15) for r in (a, b)]
        assert [r.status_code for r in ids] == [201] * 30
        assert len({r.json()["id"] for r in ids}) == 30

        def stored() -> dict[str, int]:
            with feedback_engine.connect() as conn:
                query = sa.text("SELECT mention_id, count(*) FROM feedback GROUP BY mention_id")
                return dict(conn.execute(query).all())

        expected = {f"fb-{name}-{i}": 1 for i in range(15) for name in "ab"}
        assert stored() == expected
        # ... and survives a replica killed mid-life; the other goes on, the killed one comes back
        a.stop(signal.SIGKILL)
        assert a.proc.returncode == -signal.SIGKILL
        assert stored() == expected
        assert [_feedback(b.url, f"fb-b-after-{i}").status_code for i in range(5)] == [201] * 5
        a2 = _replica("a2", tmp_path, tracking, feedback_db)
        servers.append(a2)
        a2.wait("/readyz", 300)
        assert _serving(a2.url) == second.version
        assert _feedback(a2.url, "fb-a2-0").status_code == 201
        assert stored() == {**expected, **{f"fb-b-after-{i}": 1 for i in range(5)}, "fb-a2-0": 1}
        feedback_engine.dispose()
    finally:
        for s in reversed(servers):
            s.stop()
