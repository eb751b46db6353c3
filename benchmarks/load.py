"""HTTP load benchmark, side by side on one machine and one model: this API (1 and 2 uvicorn
workers), MLflow's own scoring server for the same registered model, and the raw ONNX
Runtime session (the kernel limit), driven by wrk.

    .venv/bin/python -m benchmarks.load [--alias champion] [--seconds 10] [--only api1,api2,mlflow,raw]

For each server: ready time (process start to first 200 on its readiness route), RSS of the
whole process tree after the load, requests/s with p50/p99 for single mentions at 1 and 8
connections, and mentions/s through batches of 64 (2 connections). The raw session is the
same artefact called in this process: single-text calls back to back, and the best any
server could do with 8 or 64 texts per call. Each figure is also given as a share of that
kernel limit. Needs `wrk` (Debian: `apt-get install wrk`). Uses the project's MLflow store
unless MLFLOW_TRACKING_URI says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import free_port, running_api, stop, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
SINGLE_TEXT = "Al 3 dagen geen internet, wanneer wordt dit opgelost?"
TEXTS = [
    "Mijn trein van 8:12 is weer uitgevallen, hoe kom ik nu op tijd?",
    "Thanks for sorting my refund so quickly!",
    "Hvornår kommer min pakke? Har ventet 5 dage",
    "Bonjour, ma facture est deux fois plus élevée que d'habitude ??",
]
LANGS = ["nl", "en", "da", "fr"]
API_SINGLE = {"mentions": [{"id": "1", "text": SINGLE_TEXT, "lang": "nl", "author": {"followers": 120}}]}
API_BATCH = {"mentions": [{"id": str(i), "text": TEXTS[i % 4], "lang": LANGS[i % 4]} for i in range(64)]}
MLFLOW_SINGLE = {"dataframe_split": {"columns": ["text"], "data": [[SINGLE_TEXT]]}}
MLFLOW_BATCH = {"dataframe_split": {"columns": ["text"], "data": [[TEXTS[i % 4]] for i in range(64)]}}


def wrk(url: str, body: dict, connections: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        fh.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
        script = fh.name
    threads = min(connections, 2)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script, "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (uvicorn workers, MLflow's server)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in family]
        family.update(children)
        frontier.extend(children)
    total = 0
    for p in family:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def load(url: str, single: dict, batch: dict, seconds: int) -> dict[str, dict[str, float]]:
    for _ in range(200):  # warm up
        httpx.post(url, json=single, timeout=30)
    one = wrk(url, single, 1, seconds)
    eight = wrk(url, single, 8, seconds)
    many = wrk(url, batch, 2, seconds)
    return {"single_c1": one, "single_c8": eight, "batch64_c2": {**many, "mentions_per_s": many["rps"] * 64}}


def api(alias: str, workers: int, seconds: int) -> dict[str, object]:
    env = {"WEBCARE_ALLOW_OPEN": "true", "WEBCARE_MODEL_ALIAS": alias,
           "WEBCARE_SWAP_POLL_SECONDS": "0", "WEBCARE_LOG_LEVEL": "WARNING"}  # fmt: skip
    extra = ["--no-access-log", "--workers", str(workers)]
    with running_api(env, timeout=120, extra_args=extra) as url:
        ready_s = url.ready_s
        while not (model := httpx.get(f"{url}/v1/model").json())["last_registry_check"]:
            time.sleep(0.2)  # let the background registry check finish before measuring
        figures = load(f"{url}/v1/score", API_SINGLE, API_BATCH, seconds)
        rss = tree_rss_mb(url.pid)
        batch_sizes = _mean_batch(httpx.get(f"{url}/metrics").text)
    return {"server": f"this API, {workers} worker{'s' if workers > 1 else ''}",
            "model": f"{model['family']} v{model['version']}", "ready_s": round(ready_s, 2),
            "rss_mb": round(rss), "mean_texts_per_call": batch_sizes, **figures}  # fmt: skip


def _mean_batch(metrics: str) -> float | None:
    values = {}
    for line in metrics.splitlines():
        for key in ("webcare_model_batch_texts_sum", "webcare_model_batch_texts_count"):
            if line.startswith(key + " "):
                values[key] = float(line.split()[-1])
    count = values.get("webcare_model_batch_texts_count")
    return round(values["webcare_model_batch_texts_sum"] / count, 1) if count else None


@contextmanager
def mlflow_server(alias: str) -> Iterator[tuple[str, int, float]]:
    from model.settings import get_settings

    settings = get_settings()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # MLflow execs `uvicorn` through bash: it must be on PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri(),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    cmd = [str(Path(bin_dir) / "mlflow"), "models", "serve", "-m",
           f"models:/{settings.registered_model}@{alias}", "--env-manager", "local",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(proc, f"http://127.0.0.1:{port}/ping", 180, "mlflow models serve")
        yield f"http://127.0.0.1:{port}", proc.pid, time.perf_counter() - started
    finally:
        stop(proc)


def mlflow(alias: str, seconds: int) -> dict[str, object]:
    with mlflow_server(alias) as (url, pid, ready_s):
        figures = load(f"{url}/invocations", MLFLOW_SINGLE, MLFLOW_BATCH, seconds)
        rss = tree_rss_mb(pid)
    return {"server": "mlflow models serve (--env-manager local)", "ready_s": round(ready_s, 2),
            "rss_mb": round(rss), **figures}  # fmt: skip


def raw(alias: str, seconds: int) -> dict[str, object]:
    """The artefact's own ONNX Runtime session in this process: the kernel limit."""
    from model.loading import load_cached
    from model.registry_watch import alias_version, fetch_in_child
    from model.settings import get_settings

    settings = get_settings()
    version = alias_version(settings.resolved_tracking_uri(), settings.registered_model, alias)
    if version is None:
        raise SystemExit(f"alias {alias!r} is not set: train and promote a model first")
    cache = settings.model_cache_dir()
    loaded = load_cached(settings.registered_model, version, cache, remember=False)
    if loaded is None:
        fetch_in_child(settings.registered_model, version, cache)
        loaded = load_cached(settings.registered_model, version, cache, remember=False)
    assert loaded is not None
    model = loaded.runtime
    for _ in range(50):
        model.predict_proba([SINGLE_TEXT])
    singles = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        model.predict_proba([SINGLE_TEXT])
        singles.append((time.perf_counter() - started) * 1000)
    singles.sort()
    out: dict[str, object] = {
        "server": "raw ONNX Runtime session (kernel limit)",
        "model": f"{loaded.family} v{loaded.version}",
        "single_call": {
            "calls_per_s": round(len(singles) / sum(singles) * 1000),
            "p50_ms": round(statistics.median(singles), 3),
            "p99_ms": round(singles[int(len(singles) * 0.99) - 1], 3),
        },  # fmt: skip
    }
    for size in (8, 64):
        batch = [TEXTS[i % 4] for i in range(size)]
        model.predict_proba(batch)
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 2:
            model.predict_proba(batch)
            n += size
        out[f"batch{size}_texts_per_s"] = round(n / (time.perf_counter() - started))
    return out


def table(results: list[dict]) -> str:
    kernel = next((r for r in results if r["server"].startswith("raw")), None)
    single_limit = max(kernel["single_call"]["calls_per_s"], kernel["batch8_texts_per_s"]) if kernel else None
    batch_limit = kernel["batch64_texts_per_s"] if kernel else None

    def share(value: float, limit: float | None) -> str:
        return f" ({value / limit:.0%})" if limit else ""

    lines = [
        "| server | ready | RSS | single, 1 conn | single, 8 conn | batches of 64 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r is kernel:
            s = r["single_call"]
            lines.append(
                f"| {r['server']} | | | {s['calls_per_s']} calls/s, p50 {s['p50_ms']:.2f} / p99 "
                f"{s['p99_ms']:.2f} ms | {r['batch8_texts_per_s']} texts/s in calls of 8 "
                f"| {r['batch64_texts_per_s']} texts/s |"
            )
            continue
        one, eight, many = r["single_c1"], r["single_c8"], r["batch64_c2"]
        lines.append(
            f"| {r['server']} | {r['ready_s']:.1f} s | {r['rss_mb']} MB "
            f"| {one['rps']:.0f} req/s, p50 {one['p50_ms']:.1f} / p99 {one['p99_ms']:.1f} ms "
            f"| {eight['rps']:.0f} req/s{share(eight['rps'], single_limit)}, p50 {eight['p50_ms']:.1f} "
            f"/ p99 {eight['p99_ms']:.1f} ms "
            f"| {many['mentions_per_s']:.0f} mentions/s{share(many['mentions_per_s'], batch_limit)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--only", default="raw,api1,api2,mlflow", help="comma-separated: raw,api1,api2,mlflow"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install it (Debian: apt-get install wrk)")
    runs = {
        "raw": lambda: raw(args.alias, args.seconds),
        "api1": lambda: api(args.alias, 1, args.seconds),
        "api2": lambda: api(args.alias, 2, args.seconds),
        "mlflow": lambda: mlflow(args.alias, args.seconds),
    }
    results = []
    for name in args.only.split(","):
        if name not in runs:
            sys.exit(f"--only: unknown {name!r} (choose from {', '.join(runs)})")
        results.append(runs[name]())
        print(json.dumps(results[-1]), flush=True)
    ours = next((r for r in results if r["server"].startswith("this API, 1")), None)
    theirs = next((r for r in results if r["server"].startswith("mlflow")), None)
    print()
    print(table(results))
    if ours and theirs and theirs["single_c8"]["rps"]:
        ratio = ours["single_c8"]["rps"] / theirs["single_c8"]["rps"]
        print(f"\nthis API / MLflow's server, single mentions at 8 connections: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
