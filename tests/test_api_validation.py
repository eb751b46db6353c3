"""Bad input through the real server: clear 4xx, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from serving.settings import MAX_BATCH, MAX_TEXT_CHARS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def post(api: str, auth: dict[str, str], **kw: object) -> httpx.Response:
    return httpx.post(f"{api}/v1/score", headers={**auth, **kw.pop("headers", {})}, timeout=10, **kw)


def fields(r: httpx.Response) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in r.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mentions": [{"id": "1", "text": ""}]}, "body.mentions.0.text"),
        ({"mentions": [{"id": "1", "text": "   "}]}, "body.mentions.0.text"),
        ({"mentions": [{"id": "1", "text": "x" * (MAX_TEXT_CHARS + 1)}]}, "body.mentions.0.text"),
        ({"mentions": [{"id": "1", "text": 42}]}, "body.mentions.0.text"),
        (
            {"mentions": [{"id": "1", "text": "hoi", "author": {"followers": "many"}}]},
            "body.mentions.0.author.followers",
        ),
        ({"mentions": [{"id": "1", "text": "hoi", "created_at": "yesterday"}]}, "body.mentions.0.created_at"),
        ({"mentions": [{"id": "1", "text": "hoi", "lang": "Dutch"}]}, "body.mentions.0.lang"),
        ({"mentions": [{"text": "hoi"}]}, "body.mentions.0.id"),
        ({"mentions": []}, "body.mentions"),
        ({"mentions": [{"id": str(i), "text": "hoi"} for i in range(MAX_BATCH + 1)]}, "body.mentions"),
        ({"texts": ["hoi"]}, "body.mentions"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    api: str, auth: dict[str, str], body: dict, field: str
) -> None:
    r = post(api, auth, json=body)
    assert r.status_code == 422, r.text
    assert field in fields(r)
    assert all(e["msg"] for e in r.json()["detail"])


def test_malformed_json_is_422(api: str, auth: dict[str, str]) -> None:
    r = post(api, auth, content=b'{"mentions": [', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "JSON" in r.text


def test_non_utf8_body_is_4xx(api: str, auth: dict[str, str]) -> None:
    r = post(
        api,
        auth,
        content=b'{"mentions": [{"id": "1", "text": "\xff\xfe"}]}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text


def test_oversized_body_is_413(api: str, auth: dict[str, str]) -> None:
    big = b'{"mentions": [{"id": "1", "text": "' + b"a" * 1_100_000 + b'"}]}'
    r = post(api, auth, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]


def test_auth_missing_wrong_right(api: str, auth: dict[str, str]) -> None:
    body = {"mentions": [{"id": "1", "text": "hoi"}]}
    missing = httpx.post(f"{api}/v1/score", json=body)
    assert missing.status_code == 401 and "missing" in missing.json()["detail"]
    wrong = httpx.post(f"{api}/v1/score", json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and "invalid" in wrong.json()["detail"]
    assert httpx.post(f"{api}/v1/score", json=body, headers=auth).status_code == 200
    assert httpx.get(f"{api}/healthz").status_code == 200  # probes stay open
