"""Prometheus metrics of the API."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("webcare_http_requests", "HTTP requests", ["method", "path", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "webcare_http_request_seconds",
    "request latency",
    ["path"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
PREDICTIONS = Counter("webcare_predictions", "predicted labels", ["head", "label"], registry=REGISTRY)
UNHANDLED = Counter(
    "webcare_unhandled_errors", "unexpected exceptions turned into a 500", ["path"], registry=REGISTRY
)
MENTIONS = Counter("webcare_mentions_scored", "mentions scored", registry=REGISTRY)
MODEL_INFO = Gauge(
    "webcare_model_info",
    "active model (value 1)",
    ["name", "version", "family"],
    registry=REGISTRY,
)
BATCH_TEXTS = Histogram(
    "webcare_model_batch_texts",
    "texts per model call (micro-batching gathers concurrent requests)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "webcare_model_queue_wait_seconds",
    "time a request waited for its model call to start",
    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=REGISTRY,
)
MODEL_CALL = Histogram(
    "webcare_model_call_seconds",
    "duration of one model call (tokenising and ONNX Runtime)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
