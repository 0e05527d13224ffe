"""Every committed report opened in a real headless Chromium: offline, no console error, every image loads.

Screenshots go to reports/.screenshots/ (gitignored) for a person to look at. Needs Debian's ``chromium``
(`make test` installs it); without it the tests fail with the install command rather than pass unseen.
"""

from __future__ import annotations

import pytest

from callinsights import config
from tests.support import browser

pytestmark = pytest.mark.browser
SCREENSHOTS = config.REPORTS_DIR / ".screenshots"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def chromium():
    with browser.Chromium() as running:
        yield running


def test_a_clean_page_has_no_problem_and_gets_a_screenshot(chromium, tmp_path):
    page = tmp_path / "clean.html"
    page.write_text(f"<!DOCTYPE html><html><body><h1>Fine</h1><img alt='dot' src='data:image/png;base64,{PNG}'>"
                    "<script>console.log('only a log line')</script></body></html>")
    shot = tmp_path / "clean.png"
    assert browser.check_page(chromium, page, shot) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_check_catches_external_requests_console_errors_and_broken_images(chromium, tmp_path):
    (tmp_path / "local.css").write_text("body { color: #222 }")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><link rel='stylesheet' href='local.css'>"
        "<script src='https://cdn.example.invalid/lib.js'></script></head><body>"
        "<img alt='missing file' src='nowhere.png'><img src='data:image/png;base64," + PNG + "'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    problems = " | ".join(browser.check_page(chromium, page))
    assert "request to another host: https://cdn.example.invalid/lib.js" in problems
    assert "console error: boom" in problems
    assert "uncaught exception: ReferenceError: undefinedFunction is not defined" in problems
    assert "image 1 does not load" in problems
    assert "image 2 has no alt text" in problems
    assert "local.css" not in problems  # the page's own files are fine


def test_localhost_and_page_files_are_not_external():
    assert not browser.external_request("file:///work/reports/x.html")
    assert not browser.external_request("data:image/png;base64,AAAA")
    assert not browser.external_request("http://127.0.0.1:8000/x.js")
    assert not browser.external_request("http://localhost/x.js")
    assert browser.external_request("https://cdnjs.cloudflare.com/require.js")
    assert browser.external_request("//unpkg.com/@jupyter-widgets/html-manager")


REPORTS = sorted(config.REPORTS_DIR.glob("*.html"))


def test_reports_exist():
    assert any(p.name == "index.html" for p in REPORTS), "reports/index.html missing: run `make reports`"
    assert len(REPORTS) > 1


@pytest.mark.parametrize("page", REPORTS, ids=lambda p: p.name)
def test_every_report_opens_offline_without_errors(chromium, page):
    problems = browser.check_page(chromium, page, SCREENSHOTS / f"{page.stem}.png")
    assert problems == [], f"{page.name}:\n" + "\n".join(problems)
