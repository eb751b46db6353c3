"""Connecting to Label Studio and finding the project, with errors a labeler can act on.

An existing server is named by LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (a legacy
token or a personal access token; the SDK tells them apart). Without them, the
embedded server started by ``webcare label server start`` is used, with the URL
and token it stored in its data dir.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.settings import Settings

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_PROJECT = "webcare-triage"
PAGE_SIZE = 500


class LabelingError(RuntimeError):
    """A failure the user can fix (server down, wrong token, bad project); no traceback."""


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str
    origin: str
    """Where url and key came from: "environment" or the local data dir."""


def project_title() -> str:
    return os.environ.get("WEBCARE_LS_PROJECT") or DEFAULT_PROJECT


def resolve_connection(settings: Settings, data_dir: Path | None = None) -> Connection:
    """Environment first (an existing server), then the embedded server's stored state."""
    from labeling.server import default_data_dir, read_credentials, running

    url = os.environ.get("LABEL_STUDIO_URL", "").strip().rstrip("/")
    key = os.environ.get("LABEL_STUDIO_API_KEY", "").strip()
    if url:
        if not key:
            raise LabelingError("LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not")
        return Connection(url, key, "environment")
    data_dir = data_dir or default_data_dir(settings)
    state = running(data_dir)
    if state is None:
        raise LabelingError(
            "no Label Studio server: run `webcare label server start`, or set "
            "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for an existing server"
        )
    if key:
        return Connection(state.url, key, "environment")
    creds = read_credentials(data_dir)
    if creds is None:
        raise LabelingError(f"{data_dir}: no stored token; set LABEL_STUDIO_API_KEY")
    return Connection(state.url, creds.token, str(data_dir))


def describe_error(exc: BaseException, url: str) -> str | None:
    """A one-line explanation for transport and API errors, None for anything else."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach Label Studio at {url}: is the server running?"
    if isinstance(exc, httpx.TimeoutException):
        return f"Label Studio at {url} did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error talking to Label Studio at {url}: {exc}"
    if isinstance(exc, ApiError):
        detail = exc.body.get("detail") if isinstance(exc.body, dict) else exc.body
        if exc.status_code in (401, 403):
            return (
                f"Label Studio at {url} rejected the API key ({exc.status_code}: {detail}); "
                "check LABEL_STUDIO_API_KEY"
            )
        return f"Label Studio at {url} answered {exc.status_code}: {str(detail)[:300]}"
    return None


@contextlib.contextmanager
def api_errors(url: str) -> Iterator[None]:
    """Turn SDK/transport exceptions raised inside the block into LabelingError."""
    try:
        yield
    except LabelingError:
        raise
    except Exception as exc:
        message = describe_error(exc, url)
        if message is None:
            raise
        raise LabelingError(message) from exc


def connect(conn: Connection, timeout: float = 60.0) -> LabelStudio:
    """A client whose key has been checked, so later calls fail only for real reasons."""
    from label_studio_sdk import LabelStudio

    with api_errors(conn.url):
        client = LabelStudio(base_url=conn.url, api_key=conn.api_key, timeout=timeout)
        client.users.whoami()
    return client


def find_project(ls: LabelStudio, title: str) -> Any | None:
    """The project with exactly this title (the oldest if several; the server allows that)."""
    matches = [p for p in ls.projects.list(title=title, page_size=100) if p.title == title]
    return min(matches, key=lambda p: p.id) if matches else None


def require_project(ls: LabelStudio, title: str) -> Any:
    project = find_project(ls, title)
    if project is None:
        raise LabelingError(f"no Label Studio project titled {title!r}: run `webcare label init`")
    return project


def iter_tasks(ls: LabelStudio, project_id: int, *, with_annotations: bool) -> Iterator[Any]:
    """Every task of a project, page by page."""
    fields = "all" if with_annotations else "task_only"
    yield from ls.tasks.list(project=project_id, fields=fields, page_size=PAGE_SIZE)
