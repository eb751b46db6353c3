"""HTTP load benchmark: the real API under uvicorn on 127.0.0.1, driven by wrk.

    .venv/bin/python -m benchmarks.load [--alias champion] [--seconds 10]

Measures ready time, RSS, requests/s and p50/p99 for single mentions at 1 and
8 connections, and mentions/s through batches of 64. Needs `wrk` (Debian:
`apt-get install wrk`). Uses the project's MLflow store unless
MLFLOW_TRACKING_URI says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.servers import running_api

ROOT = Path(__file__).resolve().parent.parent
SINGLE = {
    "mentions": [
        {
            "id": "1",
            "text": "Al 3 dagen geen internet, wanneer wordt dit opgelost?",
            "lang": "nl",
            "author": {"followers": 120},
        }
    ]
}
TEXTS = [
    "Mijn trein van 8:12 is weer uitgevallen, hoe kom ik nu op tijd?",
    "Thanks for sorting my refund so quickly!",
    "Hvornår kommer min pakke? Har ventet 5 dage",
    "Bonjour, ma facture est deux fois plus élevée que d'habitude ??",
]
BATCH = {
    "mentions": [
        {"id": str(i), "text": TEXTS[i % 4], "lang": ["nl", "en", "da", "fr"][i % 4]} for i in range(64)
    ]
}


def wrk(url: str, body: dict, connections: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        fh.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
        script = fh.name
    threads = min(connections, 2)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            script,
            "--latency",
            f"{url}/v1/score",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install it (Debian: apt-get install wrk)")
    env = {"WEBCARE_ALLOW_OPEN": "true", "WEBCARE_MODEL_ALIAS": args.alias,
           "WEBCARE_SWAP_POLL_SECONDS": "0", "WEBCARE_LOG_LEVEL": "WARNING"}  # fmt: skip
    extra = ["--no-access-log", "--workers", str(args.workers)]
    with running_api(env, timeout=120, extra_args=extra) as url:
        ready_s = url.ready_s
        while not (model := httpx.get(f"{url}/v1/model").json())["last_registry_check"]:
            time.sleep(0.2)  # let the background registry check finish before measuring
        for _ in range(200):  # warm up
            httpx.post(f"{url}/v1/score", json=SINGLE)
        rss = rss_mb(url.pid)
        one = wrk(url, SINGLE, 1, args.seconds)
        eight = wrk(url, SINGLE, 8, args.seconds)
        batch = wrk(url, BATCH, 2, args.seconds)
        rss_after = rss_mb(url.pid)
    figures = {
        "model": f"{model['family']} v{model['version']}",
        "workers": args.workers,
        "ready_s": round(ready_s, 2),
        "rss_mb": round(max(rss, rss_after)),
        "single_c1": one,
        "single_c8": eight,
        "batch64_c2": {**batch, "mentions_per_s": batch["rps"] * 64},
    }
    print(json.dumps(figures, indent=2))
    print(
        f"\n| {figures['model']} | {args.workers} | {ready_s:.1f} s | {figures['rss_mb']} MB "
        f"| {one['rps']:.0f} req/s, p50 {one['p50_ms']:.1f} / p99 {one['p99_ms']:.1f} ms "
        f"| {eight['rps']:.0f} req/s, p50 {eight['p50_ms']:.1f} / p99 {eight['p99_ms']:.1f} ms "
        f"| {batch['rps'] * 64:.0f} mentions/s |"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
