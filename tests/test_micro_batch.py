"""The API's micro-batcher: shared model calls that still give every request its own rows."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import numpy as np
import pytest

from model.loading import LoadedModel
from serving.micro_batch import MicroBatcher, ModelCallError


class EchoRuntime:
    """Each text is a number; its row is [number, version]. Records every call's texts; the
    first call may block until ``release`` is set, so a test can queue requests behind it."""

    def __init__(self, version: float, block_first: bool = False, fail_on: str | None = None) -> None:
        self.version = version
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        if not block_first:
            self.release.set()
        self.fail_on = fail_on

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.release.wait(10)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("input 'ids' has an invalid dimension")
        return {"intent": np.array([[float(t), self.version] for t in texts])}


def loaded(runtime: EchoRuntime, version: str = "1") -> LoadedModel:
    return LoadedModel("webcare-triage", version, "test", runtime)  # type: ignore[arg-type]


def rows(result: dict[str, np.ndarray]) -> list[tuple[float, float]]:
    return [tuple(r) for r in result["intent"].tolist()]


async def settle() -> None:
    """Let the worker pick up what is queued (it runs on this loop)."""
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    runtime = EchoRuntime(1.0, block_first=True)
    model = loaded(runtime)

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(max_texts=64, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.predict(model, ["0"]))
        await settle()  # the first call is running (blocked): the rest queue behind it
        rest = [asyncio.ensure_future(batcher.predict(model, [str(i), str(100 + i)])) for i in range(1, 21)]
        await settle()
        runtime.release.set()
        out = await asyncio.gather(first, *rest)
        await batcher.close()
        return out

    results = asyncio.run(main())
    assert rows(results[0]) == [(0.0, 1.0)]
    for i, result in enumerate(results[1:], start=1):
        assert rows(result) == [(float(i), 1.0), (float(100 + i), 1.0)]  # own rows, own order
    assert len(runtime.calls) == 2  # 21 requests, two model calls
    assert len(runtime.calls[1]) == 40


def test_a_request_larger_than_max_texts_is_one_call_and_not_split() -> None:
    runtime = EchoRuntime(1.0, block_first=True)
    model = loaded(runtime)
    big = [str(i) for i in range(10, 20)]

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(max_texts=4, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.predict(model, ["0"]))
        await settle()
        queued = [
            asyncio.ensure_future(batcher.predict(model, texts))
            for texts in (["1"], ["2"], big, ["3"], ["4"], ["5"], ["6"], ["7"])
        ]
        await settle()
        runtime.release.set()
        out = await asyncio.gather(first, *queued)
        await batcher.close()
        return out

    results = asyncio.run(main())
    assert rows(results[3]) == [(float(t), 1.0) for t in big]
    assert runtime.calls == [["0"], ["1", "2"], big, ["3", "4", "5", "6"], ["7"]]
    assert all(len(rows(r)) == 1 for i, r in enumerate(results) if i != 3)


def test_a_lone_request_waits_at_most_the_wait_bound_and_gathers_company_meanwhile() -> None:
    runtime = EchoRuntime(1.0)
    model = loaded(runtime)
    wait = 0.3

    async def main() -> tuple[float, list[dict[str, np.ndarray]]]:
        batcher = MicroBatcher(max_texts=64, max_wait_s=wait)
        started = time.perf_counter()
        first = asyncio.ensure_future(batcher.predict(model, ["1"]))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.predict(model, ["2"]))  # within the wait: same call
        out = await asyncio.gather(first, second)
        took = time.perf_counter() - started
        await batcher.close()
        return took, out

    took, results = asyncio.run(main())
    assert runtime.calls == [["1", "2"]]
    assert [rows(r) for r in results] == [[(1.0, 1.0)], [(2.0, 1.0)]]
    assert wait * 0.9 <= took < wait + 1.5  # waited for company, but not past the bound


def test_requests_that_come_one_at_a_time_do_not_wait_for_company() -> None:
    runtime = EchoRuntime(1.0)
    model = loaded(runtime)
    wait = 1.0

    async def main() -> tuple[float, float]:
        batcher = MicroBatcher(max_texts=64, max_wait_s=wait)
        started = time.perf_counter()
        await batcher.predict(model, ["1"])  # no call yet to judge by: waits for company
        first = time.perf_counter() - started
        started = time.perf_counter()
        await batcher.predict(model, ["2"])  # the previous call was alone: no wait
        second = time.perf_counter() - started
        await batcher.close()
        return first, second

    first, second = asyncio.run(main())
    assert first >= wait * 0.9
    assert second < wait / 2
    assert runtime.calls == [["1"], ["2"]]


def test_a_full_batch_does_not_wait() -> None:
    runtime = EchoRuntime(1.0)

    async def main() -> float:
        batcher = MicroBatcher(max_texts=2, max_wait_s=5.0)
        started = time.perf_counter()
        await batcher.predict(loaded(runtime), ["1", "2"])
        took = time.perf_counter() - started
        await batcher.close()
        return took

    assert asyncio.run(main()) < 2.5


def test_a_failing_call_fails_only_its_own_batch() -> None:
    runtime = EchoRuntime(1.0, block_first=True, fail_on="13")
    model = loaded(runtime)

    async def main() -> tuple[list[object], dict[str, np.ndarray]]:
        batcher = MicroBatcher(max_texts=64, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.predict(model, ["0"]))
        await settle()
        doomed = [asyncio.ensure_future(batcher.predict(model, [t])) for t in ("12", "13")]
        await settle()
        runtime.release.set()
        out = await asyncio.gather(first, *doomed, return_exceptions=True)
        after = await batcher.predict(model, ["14"])
        await batcher.close()
        return out, after

    (first, *doomed), after = asyncio.run(main())
    assert rows(first) == [(0.0, 1.0)]
    for outcome in doomed:
        assert isinstance(outcome, ModelCallError)
        assert "RuntimeError" in str(outcome) and "invalid dimension" in str(outcome)
    assert rows(after) == [(14.0, 1.0)]
    assert runtime.calls == [["0"], ["12", "13"], ["14"]]


def test_a_swap_while_requests_are_queued_never_mixes_versions() -> None:
    old_runtime, new_runtime = EchoRuntime(1.0, block_first=True), EchoRuntime(2.0)
    old, new = loaded(old_runtime, "1"), loaded(new_runtime, "2")
    plan = [old, old, new, old, new, new]  # the model each request read when it arrived

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(max_texts=64, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.predict(old, ["0"]))
        await settle()
        queued = [
            asyncio.ensure_future(batcher.predict(m, [str(i), str(i + 50)])) for i, m in enumerate(plan, 1)
        ]
        await settle()
        old_runtime.release.set()
        out = await asyncio.gather(first, *queued)
        await batcher.close()
        return out

    results = asyncio.run(main())
    for i, (model, result) in enumerate(zip(plan, results[1:], strict=True), start=1):
        assert rows(result) == [(float(i), model.runtime.version), (float(i + 50), model.runtime.version)]
    assert old_runtime.calls == [["0"], ["1", "51", "2", "52"], ["4", "54"]]
    assert new_runtime.calls == [["3", "53"], ["5", "55", "6", "56"]]


def test_settings_refuse_an_unusable_batch_size() -> None:
    from pydantic import ValidationError

    from serving.settings import ServeSettings

    with pytest.raises(ValidationError, match="batch_max_texts"):
        ServeSettings(batch_max_texts=0)
    with pytest.raises(ValidationError, match="batch_wait_ms"):
        ServeSettings(batch_wait_ms=-1)


# ---------------------------------------------------------------- through the real API


MENTION_TEXTS = [
    "Al 3 dagen geen internet, wanneer wordt dit opgelost?",
    "Thanks for sorting my refund so quickly!",
    "Mijn factuur is veel te hoog deze maand",
    "Where is my parcel? Ordered two weeks ago",
]


@pytest.mark.integration
def test_concurrent_http_requests_get_their_own_results(api: str, auth: dict[str, str]) -> None:
    """Over uvicorn: 48 concurrent single-mention requests, each answered with its own id and
    the labels the same text gets when scored alone."""
    alone = {}
    for text in MENTION_TEXTS:
        body = {"mentions": [{"id": "solo", "text": text, "lang": "en"}]}
        alone[text] = httpx.post(f"{api}/v1/score", json=body, headers=auth).json()["results"][0]

    def one(i: int) -> tuple[int, dict]:
        text = MENTION_TEXTS[i % len(MENTION_TEXTS)]
        body = {"mentions": [{"id": f"m-{i}", "text": text, "lang": "en"}]}
        return i, httpx.post(f"{api}/v1/score", json=body, headers=auth, timeout=30).json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(48)))
    for i, answer in answers:
        (result,) = answer["results"]
        assert result["id"] == f"m-{i}"
        reference = alone[MENTION_TEXTS[i % len(MENTION_TEXTS)]]
        for head in ("intent", "sentiment", "urgency"):
            assert result[head]["label"] == reference[head]["label"]
            for label, p in result[head]["probabilities"].items():
                assert abs(p - reference[head]["probabilities"][label]) < 1e-3
    metrics = httpx.get(f"{api}/metrics").text
    count = next(line for line in metrics.splitlines() if line.startswith("webcare_model_batch_texts_count"))
    total = next(line for line in metrics.splitlines() if line.startswith("webcare_model_batch_texts_sum"))
    assert float(total.split()[-1]) >= 52  # every text went through the batcher
    assert float(count.split()[-1]) >= 1
    assert "webcare_model_queue_wait_seconds_bucket" in metrics


@pytest.mark.integration
def test_a_failing_model_call_is_a_500_naming_the_cause(
    registry: dict[str, str], auth: dict[str, str]
) -> None:
    """In-process app with the real champion whose runtime breaks on one text: that request
    gets a 500 naming the cause, the next one is scored."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import ServeSettings

    class Breaking:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
            if any("BREAK" in t for t in texts):
                raise RuntimeError("ONNXRuntimeError: invalid input shape")
            return self.inner.predict_proba(texts)  # type: ignore[attr-defined]

    app = create_app(ServeSettings(api_keys=[auth["X-API-Key"]], swap_poll_seconds=0))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while app.state.models.current is None and time.monotonic() < deadline:
            time.sleep(0.1)
        current = app.state.models.current
        assert current is not None, app.state.models.last_error
        app.state.models.current = replace(current, runtime=Breaking(current.runtime))
        bad = client.post("/v1/score", json={"mentions": [{"id": "1", "text": "BREAK", "lang": "en"}]},
                          headers=auth)  # fmt: skip
        assert bad.status_code == 500
        assert "model call failed" in bad.json()["detail"] and "invalid input shape" in bad.json()["detail"]
        body = {"mentions": [{"id": "2", "text": "my bill is wrong", "lang": "en"}]}
        good = client.post("/v1/score", json=body, headers=auth)
        assert good.status_code == 200, good.text
        assert good.json()["results"][0]["id"] == "2"
