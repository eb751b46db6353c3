"""The history report opened in a real headless Chromium (Debian's, driven by Playwright).

``scripts/install-browser.sh`` (run by ``make test``) installs ``chromium`` and
``chromium-driver``; Playwright launches that binary, it never downloads a browser.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.report.figures import SECTIONS

CHROMIUM = Path(os.environ.get("WEBCARE_CHROMIUM", "/usr/bin/chromium"))
ALL_SECTIONS = [*SECTIONS, "method"]
HISTORY_PLOTS = {"response_cdf", "response_buckets", "by_hour", "heatmap", "consistency", "followups",
                 "tiers"}  # fmt: skip


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: run scripts/install-browser.sh (make test does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


needs_browser = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def open_in_chromium(url: str, screenshot: Path, credentials: dict[str, str] | None = None) -> dict:
    """Load ``url``; return console errors, section ids, plot sizes and every request made."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            viewport = {"width": 1200, "height": 900}
            context = browser.new_context(viewport=viewport, http_credentials=credentials)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            response = page.goto(url, wait_until="load")
            status = response.status if response else None
            sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
            headings = page.eval_on_selector_all("section > h2", "els => els.map(e => e.textContent)")
            plots = page.eval_on_selector_all(
                "img.plot",
                """els => els.map(e => {const r = e.getBoundingClientRect();
                    return {name: e.dataset.plot, complete: e.complete,
                            natural: [e.naturalWidth, e.naturalHeight], shown: [r.width, r.height]}})""",
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"status": status, "errors": errors, "sections": sections, "headings": headings, "plots": plots,
            "requests": requests}  # fmt: skip


def assert_rendered(seen: dict, page_url: str, plots: set[str]) -> None:
    assert seen["status"] in (None, 200)  # file:// pages have no HTTP status
    assert seen["errors"] == []
    assert seen["sections"] == ALL_SECTIONS and all(h.strip() for h in seen["headings"])
    assert {p["name"] for p in seen["plots"]} == plots
    for plot in seen["plots"]:
        assert plot["complete"] and min(plot["natural"]) > 0 and min(plot["shown"]) > 0, plot
    assert [u for u in seen["requests"] if not u.startswith(("data:", page_url))] == []


TEXTS = (
    "Mijn internet doet het al twee dagen niet, wat is er aan de hand?",
    "Thanks for the quick help yesterday!",
    "Wanneer komt de monteur nou eindelijk?",
    "My bill is wrong again, this is the third time",
    "Hoe zet ik mijn voicemail uit?",
    "Geen bereik in het centrum sinds vanochtend",
)


def invented_history(n: int = 72) -> str:
    """``n`` invented mentions over six days; every sixth never answered, the rest in 5 min-3 h;
    user0 asks three times in a row (a follow-up chain)."""
    import csv
    import io
    from datetime import UTC, datetime, timedelta

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["mention_id", "created_at", "author", "replied_at", "text"])
    start = datetime(2024, 3, 4, 7, tzinfo=UTC)
    for i in range(n):
        created = start + timedelta(days=i % 6, hours=i % 14, minutes=(7 * i) % 60)
        replied = created + timedelta(minutes=5 + (37 * i) % 180) if i % 6 else None
        author = "user0" if i in (0, 6, 12) else f"user{i % 9 + 1}"
        if i in (6, 12):
            created = start + timedelta(minutes=20 * i)
        writer.writerow([f"h{i}", created.isoformat(), author, replied.isoformat() if replied else "",
                         TEXTS[i % len(TEXTS)]])  # fmt: skip
    return out.getvalue()


@needs_browser
@pytest.mark.slow
def test_history_report_in_chromium(registry: dict[str, str], tmp_path: Path) -> None:
    from serving.report.build import from_history, write

    path = tmp_path / "history.csv"
    path.write_text(invented_history(), encoding="utf-8")
    report = from_history(path, tz="Europe/Brussels")  # the registry's champion: every section filled
    assert report.figures["tiers"]["available"], report.figures["tiers"]
    html = write(report, tmp_path / "report")[0]
    shot = tmp_path / "history-report.png"
    seen = open_in_chromium(html.as_uri(), shot)
    assert_rendered(seen, html.as_uri(), HISTORY_PLOTS)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
