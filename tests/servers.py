"""Start the real API under uvicorn in a subprocess, on a free port, for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(proc: subprocess.Popen, url: str, timeout: float, what: str, hint: str = "") -> None:
    """Poll ``url`` until it answers 200; fail if ``proc`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}{hint}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout}s")
        time.sleep(0.02)


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM (uvicorn drains), then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


class ApiUrl(str):
    """The server's base URL, also carrying its pid and how long it took to get ready."""

    pid: int
    ready_s: float


@contextmanager
def running_api(
    env: dict[str, str],
    *,
    wait_ready: bool = True,
    log: Path | None = None,
    timeout: float = 60.0,
    extra_args: Sequence[str] = (),
    app: str = "serving.app:app",
) -> Iterator[ApiUrl]:
    """Yield the base URL of a uvicorn server running ``app`` (serving.app:app) with ``env``."""
    port = free_port()
    started = time.perf_counter()
    full_env = {**os.environ, **env}
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra_args,
        ],
        cwd=ROOT,
        env=full_env,
        stdout=out,
        stderr=out,
    )
    url = ApiUrl(f"http://127.0.0.1:{port}")
    url.pid = proc.pid
    try:
        path = "/readyz" if wait_ready else "/healthz"
        wait_for_http(proc, url + path, timeout, "API", f"; see {log}")
        url.ready_s = time.perf_counter() - started
        yield url
    finally:
        stop(proc)
        if log:
            out.close()
