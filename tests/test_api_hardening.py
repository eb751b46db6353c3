"""Hostile-but-fair input through the real server (issue 8): 4xx rendered safely, a catch-all
500 that is logged and counted without request content, every field stored masked and in UTC."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from model.feedback import FeedbackStore
from tests.conftest import API_KEY
from tests.servers import running_api

pytestmark = [pytest.mark.slow, pytest.mark.integration]
AUTH = {"X-API-Key": API_KEY}
PHONE = "06-12345678"


def post_raw(api: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{api}{path}", content=body, timeout=10,
                      headers={**AUTH, "content-type": "application/json", **headers})  # fmt: skip


def fields(r: httpx.Response) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in r.json()["detail"]]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/score", rb'{"mentions": [{"id": "1", "text": "\ud800"}]}', "body.mentions.0.text"),
        ("/v1/score", rb'{"mentions": [{"id": "\udfff", "text": "hoi"}]}', "body.mentions.0.id"),
        ("/v1/score", rb'{"mentions": [{"id": "1", "text": "hoi", "author": {"name": "a\ud800"}}]}',
         "body.mentions.0.author.name"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": "hoi", "author": {"followers": NaN}}]}',
         "body.mentions.0.author.followers"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": "hoi", "author": {"followers": Infinity}}]}',
         "body.mentions.0.author.followers"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": NaN}]}', "body.mentions.0.text"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": "hoi", "unanswered_before": 1e400}]}',
         "body.mentions.0.unanswered_before"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": "hoi", "created_at": "9999-12-31T23:59:59Z"}]}',
         "body.mentions.0.created_at"),
        ("/v1/score", b'{"mentions": [{"id": "1", "text": "hoi", "created_at": "1999-01-01T00:00:00Z"}]}',
         "body.mentions.0.created_at"),
        ("/v1/score",
         b'{"mentions": [{"id": "1", "text": "hoi", "created_at": "0001-01-01T00:00:00+14:00"}]}',
         "body.mentions.0.created_at"),
        ("/v1/feedback", rb'{"mention_id": "1", "text": "\ud800"}', "body.text"),
        ("/v1/feedback", b'{"mention_id": "1", "text": "hoi", "replied_at": "9999-12-31T23:59:59Z"}',
         "body.replied_at"),
        ("/v1/feedback", b'{"mention_id": "1", "text": "hoi", "variant": NaN}', "body.variant"),
    ],
)  # fmt: skip
def test_unencodable_and_out_of_range_values_are_422(api: str, path: str, body: bytes, field: str) -> None:
    r = post_raw(api, path, body)
    assert r.status_code == 422, r.text
    assert field in fields(r)
    r.content.decode("utf-8")  # the 422 itself is valid UTF-8 JSON


def test_422_shows_a_short_masked_excerpt_only(api: str) -> None:
    text = f"bel {PHONE} " + "x" * 1_000_000
    r = post_raw(api, "/v1/score", json.dumps({"mentions": [{"id": "1", "text": text}]}).encode())
    assert r.status_code in (413, 422)
    r = post_raw(api, "/v1/score", json.dumps({"mentions": [{"id": "1", "text": text[:5000]}]}).encode())
    assert r.status_code == 422
    assert len(r.content) < 2000, "the input was echoed back"
    assert PHONE not in r.text and "[PHONE]" in r.text
    missing = post_raw(api, "/v1/score", json.dumps({"mentions": [{"text": text[:5000]}]}).encode())
    assert missing.status_code == 422 and len(missing.content) < 2000  # a missing field: no parent echo


def test_body_problems_say_what_is_wrong(api: str) -> None:
    chunks = (b'{"mentions": [{"id": "1", "text": "' + b"a" * 100_000 for _ in range(12))
    json_type = {**AUTH, "content-type": "application/json"}
    chunked = httpx.post(f"{api}/v1/score", content=chunks, headers=json_type)
    assert chunked.status_code == 413 and "larger than" in chunked.json()["detail"]
    latin = post_raw(api, "/v1/score", '{"mentions": [{"id": "1", "text": "café"}]}'.encode("latin-1"))
    assert latin.status_code == 400 and "UTF-8" in latin.json()["detail"]
    form = post_raw(api, "/v1/feedback", b"mention_id=1&text=hoi", **{"content-type": "text/plain"})
    assert form.status_code == 415 and "application/json" in form.json()["detail"]
    huge = httpx.get(f"{api}/healthz", headers={"X-Padding": "p" * 20_000})
    assert huge.status_code == 431


def test_model_endpoint_needs_the_key(api: str) -> None:
    assert httpx.get(f"{api}/v1/model").status_code == 401
    r = httpx.get(f"{api}/v1/model", headers=AUTH)
    assert r.status_code == 200 and r.json()["version"]
    assert httpx.get(f"{api}/readyz").status_code == 200  # the probes stay open


def test_unexpected_exception_is_a_logged_counted_500(registry: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    env = {**registry, "WEBCARE_API_KEYS": API_KEY}
    with running_api(env, log=log, app="tests.failing_app:app") as url:
        r = httpx.post(f"{url}/v1/boom", content=b"secret-mention-text", headers={"x-request-id": "req-42"})
        assert r.status_code == 500
        assert r.json() == {"detail": "internal server error (request id req-42)"}
        assert r.headers["x-request-id"] == "req-42"
        metrics = httpx.get(f"{url}/metrics").text
        assert 'webcare_unhandled_errors_total{path="other"} 1.0' in metrics
        assert 'status="500"' in metrics
        time.sleep(0.3)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e["msg"] == "unhandled error" and e["request_id"] == "req-42" for e in lines)
    assert any(e["msg"] == "request" and e["status"] == 500 and e["request_id"] == "req-42" for e in lines)
    assert "secret-mention-text" not in log.read_text()
    assert "Traceback" not in log.read_text()


def test_feedback_stores_every_field_masked_and_times_in_utc(
    registry: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "feedback.db"
    env = {**registry, "WEBCARE_API_KEYS": API_KEY, "WEBCARE_FEEDBACK_URL": f"sqlite:///{db}"}
    body = {
        "mention_id": PHONE, "agent": "j.devries@voorbeeld.nl",
        "text": f"Jan Smeets hier, @jsmeets, bel {PHONE}",
        "author": {"name": "Jan Smeets", "handle": "@jsmeets"},
        "sent_reply": "Hoi Jan Smeets, we bellen 06-98765432", "replied_at": "2026-01-23T12:00:00+02:00",
    }  # fmt: skip
    with running_api(env, log=tmp_path / "api.log") as url:
        assert httpx.post(f"{url}/v1/feedback", json=body, headers=AUTH).status_code == 201
        utc = {**body, "mention_id": "m-2", "replied_at": "2026-01-23T10:00:00Z"}
        assert httpx.post(f"{url}/v1/feedback", json=utc, headers=AUTH).status_code == 201
    store = FeedbackStore(f"sqlite:///{db}")
    first, _ = store.pending()
    with store.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM feedback") for v in row)
    raw = db.read_bytes().decode("utf-8", "replace")
    for secret in (PHONE, "06-98765432", "Smeets", "jsmeets", "j.devries"):
        assert secret not in stored and secret not in raw
    assert first.mention_id.startswith("masked-")
    assert store.replied_times()[0] == store.replied_times()[1]  # one instant, one stored value
    assert store.replied_times()[0].isoformat() == "2026-01-23T10:00:00+00:00"
