"""Property-based fuzz of /v1/score and /v1/feedback through the real uvicorn server:
arbitrary JSON values and unicode (lone surrogates, NaN, huge numbers) never give a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.integration]

texts = st.text(st.characters(codec=None), max_size=60) | st.sampled_from(["\ud800", "x\udfff", "", " "])
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | texts
    | st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00", "P1"])
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
AUTHOR_KEYS = ["handle", "name", "followers", "verified"]
authors = st.fixed_dictionaries({}, optional=dict.fromkeys(AUTHOR_KEYS, values))
mentions = st.fixed_dictionaries(
    {"id": texts, "text": texts},
    optional={"lang": values, "context": values, "author": authors | values, "created_at": values,
              "unanswered_before": values, "account": values, "extra": values},
) | values  # fmt: skip
score_bodies = st.fixed_dictionaries({"mentions": st.lists(mentions, max_size=3) | values},
                                     optional={"agent": values}) | values  # fmt: skip
FEEDBACK_KEYS = [
    "lang", "intent", "sentiment", "needs_reply", "urgency", "replied", "replied_at", "agent",
    "model_version", "template_id", "variant", "suggested_reply", "sent_reply", "bogus",
]  # fmt: skip
feedback_bodies = st.fixed_dictionaries(
    {"mention_id": texts, "text": texts}, optional={**dict.fromkeys(FEEDBACK_KEYS, values), "author": authors}
) | values


def send(api: str, path: str, body: object) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True).encode()  # surrogates as \ud800 escapes
    return httpx.post(f"{api}{path}", content=raw, timeout=30,
                      headers={"X-API-Key": API_KEY, "content-type": "application/json"})  # fmt: skip


FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip


@FUZZ
@given(body=score_bodies)
def test_score_never_5xx(api: str, body: object) -> None:
    r = send(api, "/v1/score", body)
    assert r.status_code < 500, r.text[:500]
    r.content.decode("utf-8")


@FUZZ
@given(body=feedback_bodies)
def test_feedback_never_5xx(api: str, body: object) -> None:
    r = send(api, "/v1/feedback", body)
    assert r.status_code < 500, r.text[:500]
    r.content.decode("utf-8")
