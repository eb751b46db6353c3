"""Opt-in score records and the SLA report: the store, `/v1/score` -> `/v1/feedback` -> `/report`
through the real API, `webcare report sla`, and `/report` in a real Chromium."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select
from typer.testing import CliRunner

from model.feedback import RECORD_FIELDS, ScoreRecords, score_records
from tests.conftest import API_KEY
from tests.servers import running_api
from tests.test_report_browser import ALL_SECTIONS, assert_rendered, needs_browser, open_in_chromium

NOW = datetime(2024, 5, 6, 12, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Brussels")
TEXT = "Al 3 dagen geen internet en niemand reageert! Bel me op 06-12345678 of mail sanne@example.nl"
AUTHOR = {"handle": "@sanne_invented", "name": "Sanne Invented", "followers": 2300, "verified": True}
PRIVATE = ("geen internet", "12345678", "sanne", "Sanne", "Invented", "2300")


def record(mid: str, created: datetime, **kw) -> dict:
    return {"mention_id": mid, "created_at": created, "scored_at": kw.pop("scored_at", created), "tier": "P2",
            "respond_by": created + timedelta(hours=1), "needs_reply": True, "intent": "complaint",
            "model_version": "7", "policy_version": "test", **kw}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> ScoreRecords:
    return ScoreRecords(create_engine(f"sqlite:///{tmp_path / 'feedback.db'}"), retention_days=30)


def test_store_keeps_first_scoring_and_first_reply(store: ScoreRecords) -> None:
    assert store.add([record("a", NOW), record("a", NOW, tier="P1"), record("b", NOW)]) == 2
    assert store.add([record("a", NOW + timedelta(minutes=5), tier="P1")]) == 0  # a re-score moves nothing
    assert not store.close("a", NOW - timedelta(minutes=1))  # stamped before the mention: ignored
    assert store.close("a", (NOW + timedelta(minutes=20)).astimezone(ZONE))
    assert not store.close("a", NOW + timedelta(minutes=40))  # the first reply wins
    assert not store.close("unknown", NOW)
    rows = {r["mention_id"]: r for r in store.rows()}
    assert rows["a"]["tier"] == "P2" and rows["a"]["replied_at"] == NOW + timedelta(minutes=20)
    assert rows["a"]["created_at"].tzinfo is not None and rows["b"]["replied_at"] is None


def test_store_schema_holds_no_text_or_author(store: ScoreRecords) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns(score_records.name)}
    assert columns == {"id", *RECORD_FIELDS}
    assert not columns & {"text", "context", "author", "handle", "name", "followers", "lang"}
    ScoreRecords(store.engine)  # opening an existing table again is safe


def test_retention(store: ScoreRecords) -> None:
    now = datetime.now(UTC)
    store.add([record("old", now - timedelta(days=31)), record("new", now - timedelta(days=29))])
    assert store.purge() == 1
    assert [r["mention_id"] for r in store.rows()] == ["new"]
    keep = ScoreRecords(store.engine, retention_days=0)
    keep.add([record("ancient", now - timedelta(days=3650))])
    assert keep.purge() == 0 and len(keep.rows()) == 2


@pytest.fixture
def recording_api(registry: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real API with recording on, its own feedback database; yields (base URL, database URL)."""
    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    env = {**registry, "WEBCARE_API_KEYS": API_KEY, "WEBCARE_RECORD_SCORES": "true",
           "WEBCARE_FEEDBACK_URL": db, "WEBCARE_SWAP_POLL_SECONDS": "0"}  # fmt: skip
    with running_api(env, log=tmp_path / "api.log") as url:
        yield url, db


def mention(mid: str, created: datetime) -> dict:
    return {"id": mid, "text": TEXT, "context": "Invented context tweet", "author": AUTHOR,
            "created_at": created.isoformat()}  # fmt: skip


@pytest.mark.slow
@pytest.mark.integration
def test_recording_stores_no_text_or_author(recording_api: tuple[str, str], auth: dict[str, str]) -> None:
    url, db = recording_api
    now = datetime.now(UTC)
    body = {"mentions": [mention("p1", now), mention("p2", now)]}
    r = httpx.post(f"{url}/v1/score", json=body, headers=auth)
    assert r.status_code == 200
    with create_engine(db).connect() as conn:
        rows = [dict(row) for row in conn.execute(select(score_records)).mappings()]
    assert sorted(row["mention_id"] for row in rows) == ["p1", "p2"]
    stored = " ".join(str(v) for row in rows for v in row.values())
    for private in PRIVATE:
        assert private not in stored
    result = r.json()["results"][0]
    assert rows[0]["tier"] == result["priority"]["tier"]
    assert rows[0]["needs_reply"] == result["needs_reply"]["value"]
    assert rows[0]["model_version"] == r.json()["model"]["version"]


@pytest.mark.slow
@pytest.mark.integration
def test_recording_off_by_default(api: str, registry: dict[str, str], auth: dict[str, str]) -> None:
    r = httpx.post(f"{api}/v1/score", json={"mentions": [mention("off-1", datetime.now(UTC))]}, headers=auth)
    assert r.status_code == 200
    engine = create_engine(f"sqlite:///{Path(registry['WEBCARE_VAR_DIR']) / 'feedback.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(score_records.c.mention_id)).all() == []


def expected_sla(results: dict[str, dict], replies: dict[str, datetime], now: datetime) -> dict[str, list]:
    """[met, missed, open] per tier, by hand from what /v1/score answered and what we replied."""
    out = {t: [0, 0, 0] for t in ("P1", "P2", "P3", "P4")}
    for mid, res in results.items():
        if not res["needs_reply"]["value"]:
            continue
        due = datetime.fromisoformat(res["priority"]["respond_by"])
        replied = replies.get(mid)
        slot = 0 if replied and replied <= due else 1 if replied or now > due else 2
        out[res["priority"]["tier"]][slot] += 1
    return out


@pytest.mark.slow
@pytest.mark.integration
def test_sla_from_records_closed_by_feedback(
    recording_api: tuple[str, str], auth: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, db = recording_api
    empty = httpx.get(f"{url}/report", headers=auth)
    assert empty.status_code == 200 and "no score records yet" in empty.text
    assert httpx.get(f"{url}/report?format=json", headers=auth).status_code == 404

    now = datetime.now(UTC)
    created = {"met": now - timedelta(hours=3), "late": now - timedelta(days=3),
               "never": now - timedelta(days=3), "open": now, "clock": now - timedelta(hours=1)}  # fmt: skip
    body = {"mentions": [mention(k, v) for k, v in created.items()]}
    r = httpx.post(f"{url}/v1/score", json=body, headers=auth)
    results = {res["id"]: res for res in r.json()["results"]}
    due = {k: datetime.fromisoformat(v["priority"]["respond_by"]) for k, v in results.items()}
    replies = {"met": created["met"] + timedelta(minutes=1), "late": due["late"] + timedelta(minutes=5)}
    sent = {**replies, "clock": created["clock"] - timedelta(minutes=5)}  # before the mention: ignored
    for mid, when in sent.items():
        fb = {"mention_id": mid, "text": TEXT, "replied": True, "replied_at": when.isoformat()}
        assert httpx.post(f"{url}/v1/feedback", json=fb, headers=auth).status_code == 201
    later = {"mention_id": "met", "text": TEXT, "replied": True,
             "replied_at": (now + timedelta(days=1)).isoformat()}  # fmt: skip
    assert httpx.post(f"{url}/v1/feedback", json=later, headers=auth).status_code == 201  # first reply wins

    figures = httpx.get(f"{url}/report?format=json", headers=auth).json()
    got = {r["tier"]: [r["sla_met"], r["sla_missed"], r["sla_open"]] for r in figures["tiers"]["per_tier"]}
    want = expected_sla(results, replies, datetime.now(UTC))
    assert got == want
    assert sum(v[0] for v in got.values()) >= 1 and sum(v[1] for v in got.values()) >= 2  # met, late + never
    assert figures["summary"]["answered"] == 2 and figures["meta"]["records"] == 5
    assert figures["followups"]["available"] is False  # no author data in records

    page = httpx.get(f"{url}/report", headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    for key in ALL_SECTIONS:
        assert f'<section id="{key}">' in page.text
    assert not any(p in page.text for p in PRIVATE)

    monkeypatch.setenv("WEBCARE_FEEDBACK_URL", db)
    from serving.settings import get_serve_settings

    get_serve_settings.cache_clear()
    from webcare_cli import app

    out = tmp_path / "sla"
    cli = CliRunner().invoke(app, ["report", "sla", "--out", str(out)])
    get_serve_settings.cache_clear()
    assert cli.exit_code == 0, cli.output
    import json

    written = json.loads((out / "report.json").read_text())
    assert {row["tier"]: [row["sla_met"], row["sla_missed"]] for row in written["tiers"]["per_tier"]} == {
        t: v[:2] for t, v in want.items()
    }


@pytest.mark.slow
@pytest.mark.integration
def test_report_needs_the_key_and_accepts_a_browser_login(recording_api: tuple[str, str]) -> None:
    url, _ = recording_api
    none = httpx.get(f"{url}/report")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(f"{url}/report", headers={"X-API-Key": "wrong"}).status_code == 401
    login = base64.b64encode(f"lead:{API_KEY}".encode()).decode()
    assert httpx.get(f"{url}/report", headers={"Authorization": f"Basic {login}"}).status_code == 200
    bad = base64.b64encode(b"lead:nope").decode()
    assert httpx.get(f"{url}/report", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert httpx.get(f"{url}/report?tz=Mars/Olympus", headers={"X-API-Key": API_KEY}).status_code == 422


@needs_browser
@pytest.mark.slow
@pytest.mark.integration
def test_report_page_in_chromium(
    recording_api: tuple[str, str], auth: dict[str, str], tmp_path: Path
) -> None:
    url, _ = recording_api
    now = datetime.now(UTC)
    mentions = [mention(f"b{i}", now - timedelta(hours=3 * i)) for i in range(40)]
    assert httpx.post(f"{url}/v1/score", json={"mentions": mentions}, headers=auth).status_code == 200
    for i in range(0, 40, 2):
        replied = now - timedelta(hours=3 * i) + timedelta(minutes=10 * i)
        fb = {"mention_id": f"b{i}", "text": TEXT, "replied": True, "replied_at": replied.isoformat()}
        assert httpx.post(f"{url}/v1/feedback", json=fb, headers=auth).status_code == 201
    shot = tmp_path / "sla-report.png"
    seen = open_in_chromium(f"{url}/report", shot, credentials={"username": "lead", "password": API_KEY})
    assert_rendered(seen, f"{url}/report", {"response_cdf", "response_buckets", "by_hour", "heatmap",
                                            "consistency", "tiers"})  # fmt: skip
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
