"""Adaptive micro-batching: concurrent requests share one model call.

One model call per single-mention request leaves the int8 kernels mostly idle (a call on 8
texts costs far less than 8 calls on one) while the requests queue behind each other anyway.
As in Triton's dynamic batcher, requests wait in a queue; when the runtime is free the worker
takes what is queued, and waits at most ``max_wait_s`` (counted from the oldest request's
arrival) for more, up to ``max_texts`` texts. The wait adapts to traffic: it is skipped while
requests come one at a time (the previous call had no company and nothing queued behind it),
so a lone client does not pay for company that never comes. The call runs in one worker
thread so the event loop keeps accepting (and queueing) while the model works: under load the
next batch fills by itself. A request is never split: one larger than ``max_texts`` is a call of its own.

Each queued request carries the model it read when it arrived and one call gathers only
requests of that same model, so a swap never mixes two versions within one response.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from model.base import Probas
from model.loading import LoadedModel
from serving.errors import one_line
from serving.metrics import BATCH_TEXTS, MODEL_CALL, QUEUE_WAIT


class ModelCallError(RuntimeError):
    """The model call of a batch failed; every request of that batch gets this, no other."""


@dataclass
class _Request:
    model: LoadedModel
    texts: list[str]
    future: asyncio.Future[Probas]
    arrived: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """``await predict(model, texts)`` gives the same probabilities as
    ``model.runtime.predict_proba(texts)``, computed in a call shared with other requests."""

    def __init__(self, max_texts: int, max_wait_s: float) -> None:
        if max_texts < 1:
            raise ValueError("max_texts must be at least 1")
        if max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        self.max_texts = max_texts
        self.max_wait_s = max_wait_s
        self._queue: deque[_Request] = deque()
        self._arrival: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model-call")
        self._company = True
        """whether the previous call had company (several requests, or more queued behind it)"""

    async def predict(self, model: LoadedModel, texts: Sequence[str]) -> Probas:
        loop = asyncio.get_running_loop()
        request = _Request(model, list(texts), loop.create_future())
        self._queue.append(request)
        if self._worker is None or self._worker.done():
            self._arrival = asyncio.Event()
            self._worker = loop.create_task(self._run(), name="micro-batcher")
        assert self._arrival is not None
        self._arrival.set()
        return await request.future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)
        for request in self._queue:
            if not request.future.done():
                request.future.set_exception(ModelCallError("the server is shutting down"))
        self._queue.clear()

    async def _run(self) -> None:
        assert self._arrival is not None
        while True:
            if not self._queue:
                self._arrival.clear()
                await self._arrival.wait()
                continue
            await self._call(await self._gather())

    async def _gather(self) -> list[_Request]:
        """The oldest request plus those behind it of the same model, up to ``max_texts`` texts,
        waiting for more until the oldest has waited ``max_wait_s``."""
        assert self._arrival is not None
        first = self._queue.popleft()
        batch, n = [first], len(first.texts)
        deadline = first.arrived + (self.max_wait_s if self._company else 0.0)
        while n < self.max_texts:
            if self._queue:
                nxt = self._queue[0]
                if nxt.model is not first.model or n + len(nxt.texts) > self.max_texts:
                    break  # it starts the next call: never split, never mix versions
                batch.append(self._queue.popleft())
                n += len(nxt.texts)
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrival.wait(), remaining)
        return batch

    async def _call(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        started = time.perf_counter()
        for r in batch:
            QUEUE_WAIT.observe(started - r.arrived)
        BATCH_TEXTS.observe(len(texts))
        runtime = batch[0].model.runtime
        try:
            probas = await asyncio.get_running_loop().run_in_executor(
                self._executor, runtime.predict_proba, texts
            )
        except Exception as exc:  # noqa: BLE001 - handed to exactly this batch's requests
            # the type and ORT's own message (shapes, node names), never the texts
            error = ModelCallError(f"model call failed: {one_line(exc, 240)}")
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(error)
            return
        finally:
            MODEL_CALL.observe(time.perf_counter() - started)
            self._company = len(batch) > 1 or bool(self._queue)
        start = 0
        for r in batch:
            end = start + len(r.texts)
            if not r.future.done():  # a client that went away cancelled its future
                r.future.set_result({head: p[start:end] for head, p in probas.items()})
            start = end
