"""A labeler's session in a real headless Chromium against the real Label Studio server.

Debian's ``chromium`` (scripts/install-browser.sh) driven by Playwright through its
executable_path, never a downloaded browser. The labeler logs in with the login
`webcare label add-user` printed, sees the task list's columns, opens the label
stream, accepts the model's guess with its keys (one per head), changes one head
with one key, and submits. Screenshots of every step are kept in the test's tmp dir.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from labeling.export import parse_labels
from model.taxonomy import HEADS
from tests import labeling_server
from tests.labeling_server import LabelStudioServer
from tests.test_labeling_server import BRANDS, MENTIONS, add_labeler, cli, project_id

CHROMIUM = Path(os.environ.get("WEBCARE_CHROMIUM", "/usr/bin/chromium"))
label_studio = labeling_server.label_studio


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: run scripts/install-browser.sh (make test does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]


def guess_keys(hint: str) -> list[tuple[str, str]]:
    """(key, label) pairs from "Model's guess: 1 complaint · q negative · ... (not pre-selected: ...)"."""
    pairs = hint.split(":", 1)[1].split("(")[0].split("·")
    return [(part.split()[0], part.split()[1]) for part in pairs]


def checked(page: Any) -> set[str]:
    """The choices selected on the labeling screen (their input names are the labels)."""
    return set(page.eval_on_selector_all("input:checked", "els => els.map(e => e.name)"))


def submit(page: Any) -> None:
    """Ctrl+Enter, the documented Submit key; waits for Label Studio to store the annotation."""
    with page.expect_response(
        lambda r: "/annotations" in r.url and r.request.method == "POST", timeout=30_000
    ) as answer:
        page.keyboard.press("Control+Enter")
    assert answer.value.status == 201, answer.value.text()
    page.get_by_text("Annotation saved successfully", exact=True).first.wait_for(timeout=30_000)


def test_a_labeler_accepts_and_changes_the_guess_with_one_key_per_head(
    label_studio: LabelStudioServer, registry: dict[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    env = label_studio.env(WEBCARE_LS_PROJECT="browser")
    assert cli(env, "init").exit_code == 0
    imported = cli(env, "import", str(MENTIONS), "--keep-handle", BRANDS)
    assert "8 with a pre-annotation" in imported.output, imported.output
    labeler = add_labeler(label_studio, "carla.browser@example.com")
    password = labeler.password
    ls = label_studio.client()
    pid = project_id(ls, "browser")
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 950}).new_page()
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith((label_studio.url, "data:"))
                    else outside.append(r.url))  # fmt: skip

            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", labeler.email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{label_studio.url}/projects/{pid}/data")
            page.get_by_text("Label All Tasks").wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=shots / "1-task-list.png")
            headers = page.eval_on_selector_all(".lsf-th-content", "els => els.map(e => e.textContent)")
            for column in ("text", "context", "lang", "model_guess", "uncertainty"):
                assert column in headers, headers
            for admin in ("inner_id", "text_hash", "import_batch", "annotations_ids"):
                assert not any(admin in h for h in headers), headers

            page.get_by_text("Label All Tasks").click()
            page.wait_for_selector(".lsf-choices", timeout=60_000)
            page.keyboard.press("Escape")  # the instructions open with the first task
            hint = page.get_by_text(re.compile(r"^Model's guess: ")).inner_text()
            page.screenshot(path=shots / "2-task.png")
            assert checked(page) == set()  # nothing pre-selected: no key can clear the model's answer

            keys = guess_keys(hint)  # accept: the guessed label's key, once per head
            for key, _ in keys:
                page.keyboard.press(key)
            assert checked(page) == {label for _, label in keys}
            page.screenshot(path=shots / "3-accepted.png")
            submit(page)
            page.screenshot(path=shots / "4-submitted.png")
            first = dict(zip([h.name for h in HEADS], [label for _, label in keys], strict=True))

            # the next task: change intent with one key, accept the rest
            page.wait_for_function(
                "old => ![...document.querySelectorAll('h4')].some(h => h.textContent === old)", arg=hint
            )
            hint2 = page.get_by_text(re.compile(r"^Model's guess: ")).inner_text()
            keys2 = guess_keys(hint2)
            other = next(i for i, label in enumerate(HEADS[0].labels) if label != keys2[0][1])
            keys2[0] = (HEADS[0].hotkeys[other], HEADS[0].labels[other])
            for key, _ in keys2:
                page.keyboard.press(key)
            assert checked(page) == {label for _, label in keys2}
            page.screenshot(path=shots / "5-changed.png")
            submit(page)
            page.screenshot(path=shots / "6-submitted.png")
        finally:
            browser.close()

    assert not outside, outside  # no request leaves the machine (telemetry and Sentry are off)
    annotations = [a for t in ls.tasks.list(project=pid, fields="all") for a in t.annotations or []]
    assert len(annotations) == 2 and {a["completed_by"] for a in annotations} == {labeler.id}
    got = sorted((parse_labels(a["result"]) for a in annotations), key=lambda x: x != first)
    assert got[0] == first
    assert got[1] == dict(zip([h.name for h in HEADS], [label for _, label in keys2], strict=True))
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-task-list.png", "2-task.png", "3-accepted.png", "4-submitted.png", "5-changed.png",
        "6-submitted.png",
    ]  # fmt: skip
