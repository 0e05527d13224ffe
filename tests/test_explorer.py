"""The call explorer (reports/calls.html): every call, redacted, self-contained, and filtered by its address.

The page is parsed as HTML (no file from another host, a row per call, quotes redacted, text escaped), the committed
page is compared with what the results files make, and a real headless Chromium follows ``#finding=N``,
``#ids=...`` and ``#q=...`` and sorts a column, as a reviewer clicking a finding's link would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from callinsights import config
from callinsights.reporting import explorer, summary
from tests.support import browser, pii


def small_results(folder: Path) -> Path:
    """A results folder of four calls, one quote carrying a member ID, a phone and markup, and two findings."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "file": ["transcript_9", "transcript_10", "transcript_2", "transcript_160"],
        "sentiment": ["negative", "neutral", "positive", "neutral"],
        "outcome": ["follow-up action needed", "issue resolved", "issue resolved", "follow-up action needed"],
        "confidence_sentiment": [0.91, 0.55, 0.8, 0.62], "confidence_outcome": [0.7, 0.66, 0.9, 0.58],
        "method": "probe", "engine": "llama.cpp", "held_out": ["not labelled"] * 3 + ["held out (4-fold)"],
        "evidence_sentiment": ["My ID is MEM123456, call me at 555-123-4567. <script>alert(1)</script>", "Okay.",
                               "Thanks, that fixed it!", "Fine."],
        "evidence_outcome": ["When will the refund come?", "Okay.", "It works now.", "Please call me back."],
    }).to_csv(folder / config.PREDICTIONS_FILE.name, index=False)
    pd.DataFrame({"file": ["transcript_9", "transcript_10", "transcript_2", "transcript_160"],
                  "topic": ["Copay / billing dispute", "Online account / login", "Online account / login",
                            "Prior authorization"],
                  "agent_team": "Customer Support", "escalated": [1, 0, 0, 0], "self_service": [0, 1, 1, 0],
                  "pending_reprocessing": [2, 0, 0, 0], "callbacks": [1, 0, 0, 1]}).to_csv(
        folder / config.INSIGHTS_FILE.name, index=False)
    pd.DataFrame({"finding": [1, 2], "headline": ["Calls escalated end resolved less often", "Callbacks </script>"],
                  "calls": ["transcript_9", "transcript_9 transcript_160"]}).to_csv(
        folder / config.FINDINGS_FILE.name, index=False)
    (folder / "insights.reading.json").write_text(json.dumps({"labels_file": "guideline_labels.csv"}))
    return folder


def external_references(soup: BeautifulSoup) -> list[str]:
    """Every src or href that would load or lead to another host."""
    found = [str(tag.get(attr)) for tag in soup.find_all(True) for attr in ("src", "href") if tag.get(attr)]
    return [ref for ref in found if "//" in ref or ref.split(":", 1)[0] in ("http", "https", "ftp")]


def test_the_explorer_lists_every_call_redacted_and_needs_no_other_host(tmp_path):
    page = explorer.build_explorer(small_results(tmp_path / "results"), tmp_path / "reports")
    assert page == tmp_path / "reports" / "calls.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert external_references(soup) == [] and not soup.find_all(["link", "iframe"])
    assert all(not script.get("src") for script in soup.find_all("script"))
    rows = soup.select("table#ci-calls tbody tr")
    assert [row["id"] for row in rows] == ["transcript_9", "transcript_10", "transcript_2", "transcript_160"]
    # The short columns are the table's cells; the details (team, events, pending work, quotes) the script's data.
    details = json.loads(soup.find("script", id="ci-details").string)
    first = {cell.get_text() for cell in rows[0].find_all("td")} | set(details["calls"]["transcript_9"])
    assert {"Copay / billing dispute", "negative", "91%", "escalated", "reprocessing or a refund, a callback"} <= first
    quote = details["calls"]["transcript_9"][-2]
    assert "MEM123456" not in quote and "555-123-4567" not in quote and "[MEMBER_ID]" in quote
    assert "<script>alert(1)</script>" in quote and not rows[0].find("script")  # set as text by the script, never run
    assert [row.find_all("td")[6].get_text() for row in rows] == ["", "", "", "yes"]
    assert rows[0]["data-driver"] == "Copay / billing dispute" and rows[0]["data-outcome"] == "follow-up action needed"
    found = json.loads(soup.find("script", id="ci-findings").string)
    assert found == {"1": {"headline": "Calls escalated end resolved less often", "ids": ["transcript_9"]},
                     "2": {"headline": "Callbacks </script>", "ids": ["transcript_9", "transcript_160"]}}
    assert [a["href"] for a in soup.select("details a")] == ["#finding=1", "#finding=2"]
    assert "guideline_labels.csv" in soup.get_text() and soup.find("a", href="index.html")


def test_without_predictions_the_explorer_says_which_command_makes_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="predictions.csv not found: run `make analyze`"):
        explorer.build_explorer(tmp_path, tmp_path / "reports")


def test_the_committed_explorer_is_the_page_the_results_make(tmp_path):
    committed = config.REPORTS_DIR / summary.EXPLORER_PAGE
    made = explorer.build_explorer(config.RESULTS_DIR, tmp_path)
    assert committed.read_text(encoding="utf-8") == made.read_text(encoding="utf-8"), (
        "reports/calls.html is not what the results make: run `python -m callinsights reports index`")
    soup = BeautifulSoup(committed.read_text(encoding="utf-8"), "html.parser")
    calls = pd.read_csv(config.PREDICTIONS_FILE)["file"].tolist()
    assert [row["id"] for row in soup.select("table#ci-calls tbody tr")] == calls
    findings = pd.read_csv(config.FINDINGS_FILE)
    shown = json.loads(soup.find("script", id="ci-findings").string)
    assert {n: len(f["ids"]) for n, f in shown.items()} == dict(zip(findings["finding"].astype(str),
                                                                     findings["n_calls"]))
    assert external_references(soup) == []


@pytest.mark.clientdata
def test_no_personal_data_in_the_explorer_or_its_findings_data(client_calls):
    identifiers = pii.identifiers_in_calls(client_calls)
    page = config.REPORTS_DIR / summary.EXPLORER_PAGE
    # The visible text and, separately, the findings' and the calls' data the script reads (report_texts drops
    # scripts).
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    data = [(f"calls.html ({name} data)", soup.find("script", id=f"ci-{name}").string) for name in ("findings", "details")]
    hits = pii.find_pii([*pii.report_texts(page), *data], identifiers)
    assert hits == [], f"{len(hits)} identifier(s) shown:\n" + "\n".join(hits[:30])


# --- in a real browser ---------------------------------------------------------------------------------------------

SHOWN_JS = """JSON.stringify({
  shown: Array.from(document.querySelectorAll('#ci-calls tbody tr')).filter(r => !r.hidden).map(r => r.id),
  banner: document.getElementById('ci-banner').hidden ? '' : document.getElementById('ci-banner-text').textContent,
  count: document.getElementById('ci-count').textContent
})"""


class Tab:
    """One tab of a running Chromium on a page, for reading what its script shows."""

    def __init__(self, chromium: browser.Chromium, url: str):
        self.chromium = chromium
        self.target = chromium.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = chromium.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            chromium.call(f"{domain}.enable", session=self.session)
        chromium.call("Page.navigate", {"url": url}, self.session)
        assert chromium.wait_for("Page.loadEventFired", self.session, chromium.timeout)

    def run(self, expression: str):
        result = self.chromium.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                    self.session)["result"]  # fmt: skip
        return result.get("value")

    def state(self) -> dict:
        return json.loads(self.run(SHOWN_JS))

    def close(self) -> None:
        self.chromium.call("Target.closeTarget", {"targetId": self.target})
        self.chromium.events = [e for e in self.chromium.events if e.get("sessionId") != self.session]


@pytest.fixture(scope="module")
def chromium():
    with browser.Chromium() as running:
        yield running


@pytest.mark.browser
def test_the_address_filters_the_calls_and_the_headers_sort_them(chromium, tmp_path):
    path = explorer.build_explorer(small_results(tmp_path / "results"), tmp_path / "reports")
    assert browser.check_page(chromium, path) == []  # no console error, nothing from another host
    tab = Tab(chromium, path.resolve().as_uri() + "#finding=2")
    state = tab.state()
    assert state["shown"] == ["transcript_9", "transcript_160"] and state["count"] == "2 of 4 calls shown"
    assert state["banner"] == "The 2 calls behind finding 2: Callbacks </script>."
    tab.run("location.hash = 'ids=transcript_10,transcript_2'")
    time.sleep(0.3)
    assert tab.state()["shown"] == ["transcript_10", "transcript_2"]
    tab.run("location.hash = 'q=refund'")
    time.sleep(0.3)
    assert tab.state()["shown"] == ["transcript_9"]  # the search reads the quotes too
    tab.run("document.getElementById('ci-show-all').click()")
    tab.run("var s = document.querySelector('select[data-column=driver]'); s.value = 'Online account / login';"
            "s.dispatchEvent(new Event('change'))")
    assert tab.state()["shown"] == ["transcript_10", "transcript_2"]
    tab.run("document.getElementById('ci-show-all').click()")
    tab.run("document.querySelector('#ci-calls th button').click()")  # the call column, as numbers
    assert tab.state()["shown"] == ["transcript_2", "transcript_9", "transcript_10", "transcript_160"]
    tab.run("document.querySelector('#ci-calls th button').click()")
    assert tab.state()["shown"] == ["transcript_160", "transcript_10", "transcript_9", "transcript_2"]
    tab.close()


@pytest.mark.browser
def test_each_committed_finding_links_to_its_calls(chromium):
    findings = pd.read_csv(config.FINDINGS_FILE)
    path = config.REPORTS_DIR / summary.EXPLORER_PAGE
    assert browser.check_page(chromium, path) == []
    page = path.resolve().as_uri()
    for _, finding in findings.iterrows():
        tab = Tab(chromium, f"{page}#finding={finding['finding']}")
        state = tab.state()
        assert sorted(state["shown"]) == sorted(finding["calls"].split())
        assert state["banner"].startswith(f"The {finding['n_calls']} calls behind finding {finding['finding']}: ")
        tab.close()
