"""Operations through the real server: feedback store, PII-free logs, hot model swap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from model.feedback import FeedbackStore
from tests.conftest import API_KEY
from tests.servers import running_api

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PHONE, EMAIL, IBAN = "06-12345678", "j.devries@voorbeeld.nl", "NL91ABNA0417164300"
KEY = {"X-API-Key": API_KEY}
SECRET_TEXT = f"Storing! Bel {PHONE} of mail {EMAIL}, terugstorten op {IBAN}"


@pytest.fixture(scope="module")
def own_api(registry: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """A private server whose log and feedback DB the tests can read."""
    root = tmp_path_factory.mktemp("ops")
    log = root / "api.log"
    env = {
        **registry,
        "WEBCARE_API_KEYS": API_KEY,
        "WEBCARE_SWAP_POLL_SECONDS": "0.5",
        "WEBCARE_FEEDBACK_URL": f"sqlite:///{root / 'feedback.db'}",
    }
    with running_api(env, log=log) as url:
        yield url, log, root / "feedback.db"


def test_feedback_stored_masked(own_api: tuple[str, Path, Path]) -> None:
    url, _, db = own_api
    body = {
        "mention_id": "m-1",
        "text": SECRET_TEXT,
        "intent": "complaint",
        "sentiment": "negative",
        "needs_reply": True,
        "urgency": "high",
        "replied": True,
        "replied_at": "2026-11-23T10:00:00Z",
        "agent": "agent-7",
        "model_version": "1",
    }
    r = httpx.post(f"{url}/v1/feedback", json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 201, r.text
    assert r.json()["id"] >= 1
    bad = httpx.post(f"{url}/v1/feedback", json={**body, "intent": "rant"}, headers={"X-API-Key": API_KEY})
    assert bad.status_code == 422 and "intent" in str(bad.json()["detail"][0]["loc"])
    assert httpx.post(f"{url}/v1/feedback", json=body).status_code == 401
    store = FeedbackStore(f"sqlite:///{db}")
    texts = store.all_texts()
    assert len(texts) == 1
    assert PHONE not in texts[0] and EMAIL not in texts[0] and IBAN not in texts[0]
    assert "[PHONE]" in texts[0] and "[EMAIL]" in texts[0] and "[IBAN]" in texts[0]
    (pending,) = store.pending()
    assert pending.labels == {
        "intent": "complaint",
        "sentiment": "negative",
        "urgency": "high",
        "needs_reply": "yes",
    }


def test_no_personal_data_in_logs(own_api: tuple[str, Path, Path]) -> None:
    url, log, _ = own_api
    mention = {
        "id": "pii-1",
        "text": SECRET_TEXT,
        "author": {"handle": "@geheim_persoon", "name": "Jan de Vries"},
    }
    assert (
        httpx.post(
            f"{url}/v1/score", json={"mentions": [mention]}, headers={"X-API-Key": API_KEY}
        ).status_code
        == 200
    )
    httpx.post(
        f"{url}/v1/score", json={"mentions": [{**mention, "text": ""}]}, headers={"X-API-Key": API_KEY}
    )
    time.sleep(0.3)
    content = log.read_text()
    assert '"path": "/v1/score"' in content  # the requests were logged...
    for secret in (PHONE, EMAIL, IBAN, "geheim_persoon", "Jan de Vries", "Storing!"):
        assert secret not in content  # ...without their personal data


def test_hot_swap_under_traffic_without_failed_requests(
    own_api: tuple[str, Path, Path], registry: dict[str, str]
) -> None:
    """Move the champion alias while a client streams requests: zero failures, new version."""
    from mlflow import MlflowClient

    from model.settings import Settings
    from training.families import get_family
    from training.registry import Comparison, promote
    from training.train import train

    url, _, _ = own_api
    before = httpx.get(f"{url}/v1/model", headers=KEY).json()["version"]
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(headers={"X-API-Key": API_KEY}, timeout=10) as http:
            while not stop.is_set():
                try:
                    r = http.post(
                        f"{url}/v1/score", json={"mentions": [{"id": "s", "text": "Trein valt weer uit"}]}
                    )
                    if r.status_code != 200:
                        failures.append(str(r.status_code))
                    else:
                        versions.add(r.json()["model"]["version"])
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        settings = Settings()
        result = train(
            get_family("baseline"), [settings.seed_dir / "en.jsonl"], settings, log=lambda *_: None
        )
        assert result.alias == "challenger"
        promote(settings, Comparison(before, result.version, {}, 0))
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/model", headers=KEY).json()["version"] != result.version:
            assert time.monotonic() < deadline, "API did not swap to the new champion"
            time.sleep(0.2)
        time.sleep(0.5)
        # a champion whose artefact cannot load: the API reports it and keeps serving
        client_ = MlflowClient()
        broken = client_.create_model_version("webcare-triage", source=str(url) + "/nowhere")
        client_.set_registered_model_alias("webcare-triage", "champion", broken.version)
        deadline = time.monotonic() + 120  # the child fetch retries a missing artefact
        while not httpx.get(f"{url}/v1/model", headers=KEY).json()["last_error"]:
            assert time.monotonic() < deadline, "broken version was not tried"
            time.sleep(0.2)
        assert httpx.get(f"{url}/v1/model", headers=KEY).json()["version"] == result.version
        assert httpx.get(f"{url}/readyz").status_code == 200
    finally:
        stop.set()
        thread.join()
        # leave the shared registry as we found it
        MlflowClient().set_registered_model_alias("webcare-triage", "champion", before)
    assert failures == []
    assert versions == {before, result.version}


def test_unknown_alias_is_not_ready(registry: dict[str, str], tmp_path: Path) -> None:
    env = {**registry, "WEBCARE_API_KEYS": API_KEY, "WEBCARE_MODEL_ALIAS": "no-such-alias"}
    with running_api(env, wait_ready=False, log=tmp_path / "api.log") as url:
        deadline = time.monotonic() + 60
        while not (ready := httpx.get(f"{url}/readyz")).json().get("error"):
            assert time.monotonic() < deadline, "registry lookup never finished"
            time.sleep(0.2)
        assert ready.status_code == 503
        assert "no-such-alias" in ready.json()["error"]
        r = httpx.post(f"{url}/v1/score", json={"mentions": [{"id": "1", "text": "hoi"}]},
                       headers={"X-API-Key": API_KEY})
        assert r.status_code == 503 and "loading" in r.json()["detail"]
