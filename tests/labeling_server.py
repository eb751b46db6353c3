"""A real Label Studio server for the labeling tests, started by the test session itself.

The first start of an empty data dir runs ~30 s of migrations, so it happens
once into a template under var/ (kept across sessions); each session then
copies the template into a temp dir and starts from the copy (~4 s) on a free
port, and stops it with SIGTERM at the end.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labeling import server
from model.settings import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "var" / "label-studio-test-template"
"""Migrated data dir reused by every test session (git-ignored, like all of var/)."""


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str
    data_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment that points the `webcare label` commands at this server."""
        return {"LABEL_STUDIO_URL": self.url, "LABEL_STUDIO_API_KEY": self.token, **extra}

    def client(self):  # noqa: ANN201 - label_studio_sdk.LabelStudio
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token, timeout=60)


def template_dir() -> Path:
    """The migrated template, built under a lock so parallel sessions build it once."""
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with (TEMPLATE.parent / ".label-studio-test-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        built = not (TEMPLATE / server.DATABASE).is_file()
        server.prepare_template(TEMPLATE)
        if built:
            print(f"\nbuilt Label Studio template in {time.monotonic() - started:.0f} s")
    return TEMPLATE


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A running Label Studio on 127.0.0.1 with a legacy-token admin."""
    venv = server.default_venv()
    if not (venv / "bin" / "label-studio").is_file():
        pytest.skip(
            f"Label Studio server venv {venv} is missing: run scripts/install-label-studio.sh"
        )
    template = template_dir()
    data_dir = tmp_path_factory.mktemp("label-studio") / "data"
    server.copy_data_dir(template, data_dir)
    for attempt in range(3):  # the free port can be taken between the check and the bind
        try:
            result = server.start(data_dir, port=server.free_port(), timeout=180)
            break
        except server.ServerError:
            if attempt == 2:
                raise
    try:
        yield LabelStudioServer(result.state.url, result.credentials.token, data_dir)
    finally:
        server.stop(data_dir)
