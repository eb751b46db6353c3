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
from typing import Any

import httpx
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


class Labeler:
    """A labeler's browser session: logs in with the form and calls the API as the UI does
    (session cookie and CSRF token, the Data Manager's next_task action, annotation POSTs)."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self.url, self.email, self.password = url, email, password
        self.web = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
        login = f"{url}/user/login/"
        self.web.get("/user/login/")
        answer = self.web.post(
            "/user/login/",
            data={"csrfmiddlewaretoken": self.web.cookies["csrftoken"], "email": email,
                  "password": password},
            headers={"Referer": login},
        )  # fmt: skip
        assert answer.status_code == 302, answer.text[:500]
        self.id = int(self.get("/api/current-user/whoami").json()["id"])

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.web.cookies.get("csrftoken", ""), "Referer": self.url + "/"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.web.get(path, params=params)

    def send(self, method: str, path: str, body: object = None, **params: Any) -> httpx.Response:
        return self.web.request(method, path, json=body, params=params, headers=self._headers())

    def next_task(self, project_id: int, view_id: int) -> dict | None:
        """What "Label All Tasks" asks for (label stream mode "all": no filters in the body)."""
        answer = self.send("POST", "/api/dm/actions", {"project": str(project_id)},
                           id="next_task", tabID=view_id, project=project_id)  # fmt: skip
        return None if answer.status_code == 404 else answer.raise_for_status().json()

    def submit(self, task_id: int, project_id: int, result: list[dict]) -> dict:
        """The Submit button: a new annotation of this labeler's own."""
        body = {"result": result, "lead_time": 4.2, "project": str(project_id)}
        answer = self.send("POST", f"/api/tasks/{task_id}/annotations", body, project=project_id)
        return answer.raise_for_status().json()

    def update(self, annotation_id: int, project_id: int, result: list[dict]) -> httpx.Response:
        """The Update button on an annotation opened from the Data Manager."""
        body = {"result": result, "lead_time": 2.0, "project": str(project_id)}
        return self.send("PATCH", f"/api/annotations/{annotation_id}", body, taskID=0)


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
