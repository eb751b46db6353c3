"""End to end: seed data -> MLflow run -> registry -> promotion -> real uvicorn over HTTP."""

from __future__ import annotations

from collections import Counter

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from sklearn.metrics import f1_score

from model.settings import Settings
from model.taxonomy import BY_NAME, HEAD_NAMES
from training.data import load_splits

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_run_logged_with_metrics_images_and_registry(registry: dict[str, str]) -> None:
    client = MlflowClient()
    version = client.get_model_version_by_alias("webcare-triage", "champion")
    assert str(version.version) == registry["TRAINED_VERSION"]
    run = client.get_run(version.run_id)
    for head in HEAD_NAMES:
        assert 0.0 <= run.data.metrics[f"test.{head}.macro_f1"] <= 1.0
        assert f"test.{head}.lang.nl.macro_f1" in run.data.metrics
    assert len(run.data.params["data.fingerprint"]) == 64
    images = {a.path for a in client.list_artifacts(run.info.run_id, "confusion")}
    assert images == {f"confusion/confusion_test_{h}.png" for h in HEAD_NAMES}
    # the pyfunc path works end to end on a DataFrame (not on its column name)
    import pandas as pd

    model = mlflow.pyfunc.load_model("models:/webcare-triage@champion")
    texts = ["Mijn internet ligt er al 3 dagen uit!", "Top geholpen, dank jullie wel"]
    out = model.predict(pd.DataFrame({"text": texts}))
    assert len(out) == 2
    assert set(out["intent"]) <= set(BY_NAME["intent"].labels)
    assert out.filter(like="intent.").sum(axis=1).round(3).tolist() == [1.0, 1.0]


def test_score_over_http(api: str, auth: dict[str, str]) -> None:
    body = {
        "mentions": [
            {
                "id": "1",
                "text": "Mijn internet ligt er al 3 dagen uit, wanneer wordt dit opgelost?",
                "author": {"handle": "@a", "followers": 12000},
                "created_at": "2026-11-24T09:00:00Z",
            },
            {"id": "2", "text": "Top geholpen door jullie medewerker, dank!", "lang": "nl"},
        ]
    }
    r = httpx.post(f"{api}/v1/score", json=body, headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"] == {"name": "webcare-triage", "version": "1", "family": "baseline"}
    first, second = data["results"]
    assert first["id"] == "1" and first["lang"] == "nl" and first["lang_detected"] is True
    assert second["lang"] == "nl" and second["lang_detected"] is False
    for res in data["results"]:
        for head in ("intent", "sentiment", "urgency"):
            probs = res[head]["probabilities"]
            assert list(probs) == list(BY_NAME[head].labels)
            assert abs(sum(probs.values()) - 1) < 1e-3
            assert res[head]["label"] == max(probs, key=probs.get)
        assert 0 <= res["priority"]["score"] <= 100
        assert res["priority"]["tier"] in {"P1", "P2", "P3", "P4"}
        assert res["priority"]["reasons"]
        assert res["routing"]["channel"] in {"public", "private"}
    assert first["needs_reply"]["value"] is True
    assert first["priority"]["score"] > second["priority"]["score"]
    assert r.headers["x-request-id"]


def test_held_out_predictions_well_above_chance(api: str, auth: dict[str, str]) -> None:
    """Score the seed test split through HTTP: every head beats the majority-class guess."""
    rows = load_splits([Settings().seed_dir])["test"]
    mentions = [{"id": r.id, "text": r.text, "lang": r.lang, "context": r.context} for r in rows]
    preds: dict[str, list[str]] = {h: [] for h in HEAD_NAMES}
    for i in range(0, len(mentions), 64):
        r = httpx.post(f"{api}/v1/score", json={"mentions": mentions[i : i + 64]}, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        for res in r.json()["results"]:
            for h in ("intent", "sentiment", "urgency"):
                preds[h].append(res[h]["label"])
            preds["needs_reply"].append("yes" if res["needs_reply"]["value"] else "no")
    for h in HEAD_NAMES:
        truth = [r.labels[h] for r in rows]
        majority = Counter(truth).most_common(1)[0][1] / len(truth)
        accuracy = sum(a == b for a, b in zip(truth, preds[h], strict=True)) / len(truth)
        macro = f1_score(truth, preds[h], average="macro")
        chance_macro = 1 / len(BY_NAME[h].labels)
        assert accuracy > majority + 0.1, (h, accuracy, majority)
        assert macro > chance_macro + 0.2, (h, macro)


def test_health_ready_metrics(api: str) -> None:
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api}/readyz").json()
    assert ready["status"] == "ready" and ready["model"]["version"] == "1"
    metrics = httpx.get(f"{api}/metrics").text
    assert 'webcare_model_info{family="baseline",name="webcare-triage",version="1"} 1.0' in metrics
    assert "webcare_http_request_seconds_bucket" in metrics
    assert httpx.get(f"{api}/docs").status_code == 200
    assert "/v1/score" in httpx.get(f"{api}/openapi.json").json()["paths"]
