"""reports/index.html: the three questions answered from the results files, under one reading, in at most 1,500 words.

Every number is read from a file (change the file, the page changes), a result from another reading or a missing file
leaves its part out with a line that says so, and the committed page is short, free of raw output and the page the
committed results make.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from callinsights import config
from callinsights.reporting import summary
from callinsights.pipelines.notebooks import reports_main
from tests.test_rendering import RAW

#: The most words a reviewer reads on the summary (issue 21: the three answers on about a screenful each).
MAX_WORDS = 1500
#: The results files the page reads, relative to the results folder.
READ = ["metrics.json", "ppi_rates.csv", "drivers.csv", "pending_work.csv", "findings.csv", "insights.reading.json",
        "evaluation/run.json", "evaluation/batches.csv"]


def words_and_text(page) -> tuple[int, str]:
    """The page's words as a reader sees them (no script or style) and its text."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    text = " ".join(soup.get_text(" ").split())
    return len(text.split()), text


def text_of(page) -> str:
    return words_and_text(page)[1]


@pytest.fixture
def results(tmp_path):
    """A copy of the committed results files the page reads, the evaluation recorded under the insights' reading."""
    folder = tmp_path / "results"
    for name in READ:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(config.RESULTS_DIR / name, folder / name)
    reading = json.loads((folder / "insights.reading.json").read_text())["labels_file"]
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["labels_file"] = reading
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def held_out(metrics, task, name):
    return next(m for m in metrics["default_held_out"][task] if m["metric"] == name)


def test_number_rounds_each_kind_one_way_and_never_shows_nan():
    assert summary.number(0.3364, "share") == "34%" and summary.number(1.04, "share") == "100%"
    assert summary.number(93.2451, "rate") == "93" and summary.number(-0.4, "rate") == "0"
    assert summary.number(-61.76, "points") == "-62" and summary.number(63.2, "points") == "+63"
    assert summary.number(0.2, "points") == "0"
    assert summary.number(0.8300, "score") == "0.83" and summary.number(1.2500, "ratio") == "×1.25"
    assert summary.number(float("nan"), "share") == summary.MISSING == summary.number(None, "score")
    assert summary.estimate(0.44, 0.2855, 0.5945, "share") == "44% (95% interval 29% to 59%)"
    with pytest.raises(ValueError, match="unknown kind of number 'percent'"):
        summary.number(0.5, "percent")


def test_the_page_answers_the_three_questions_from_the_files(results, tmp_path):
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    metrics = json.loads((results / "metrics.json").read_text())
    rates = summary.overall_rates(pd.read_csv(results / "ppi_rates.csv"))
    # One line names the reading.
    assert "One reading of the hand labels throughout: the guideline reading" in text
    # Q1: corrected shares with intervals, held-out scores with intervals, the majority-class baseline, by driver.
    for rate in ("neutral", "negative", "follow-up"):
        row = rates.loc[rate]
        assert summary.estimate(row["ppi"], row["ppi_low"], row["ppi_high"], "share", "") in text
    for task in ("sentiment", "outcome"):
        f1 = held_out(metrics, task, "macro_f1")
        assert summary.estimate(f1["value"], f1["low"], f1["high"], "score", "") in text
    assert "Read macro-F1, not accuracy." in text and "Where the model is weakest:" in text
    # Q2: the signals with their thresholds and the latest batch's verdict; no development history.
    assert "Label mix moves 0.10 or more (total variation)" in text
    assert "Verdict on the latest batch (batch 4, 40 calls): no alert." in text
    assert "runs recorded" not in text and "largest share of invalid answers" not in text
    # Q3: every finding with its number and interval, the workload and the pending work.
    for _, row in pd.read_csv(results / "findings.csv").iterrows():
        assert f"{row['headline']}: {summary.number(row['value'], 'points' if 'points' in row['unit'] else 'rate')}" \
               in text
    assert "Workload by driver" in text and "What the follow-up is" in text and "Glossary" in text


def test_numbers_follow_the_files_not_the_page(results, tmp_path):
    rates = pd.read_csv(results / "ppi_rates.csv")
    neutral = (rates["group"] == "all calls") & (rates["rate"] == "neutral")
    rates.loc[neutral, ["ppi", "ppi_low", "ppi_high"]] = [0.123, 0.041, 0.678]
    rates.to_csv(results / "ppi_rates.csv", index=False)
    metrics = json.loads((results / "metrics.json").read_text())
    held_out(metrics, "outcome", "macro_f1").update(value=0.234, low=0.111, high=0.456)
    (results / "metrics.json").write_text(json.dumps(metrics))
    findings = pd.read_csv(results / "findings.csv")
    findings.loc[0, ["value", "low", "high", "n_calls"]] = [55.4, 12.6, 80.1, 7]
    findings.to_csv(results / "findings.csv", index=False)
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    assert "neutral 12% (4% to 68%)" in text
    assert "0.23 (0.11 to 0.46)" in text
    assert f"{findings.loc[0, 'headline']}: 55 " in text and "(95% interval 13 to 80)" in text
    assert "The 7 calls" in text


def test_a_result_from_another_reading_is_left_out_and_said(results, tmp_path):
    metrics = json.loads((results / "metrics.json").read_text())
    metrics["labels_file"] = "test_actual_label.csv"
    (results / "metrics.json").write_text(json.dumps(metrics))
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    assert ("Held-out scores left out: metrics.json was computed from test_actual_label.csv, not "
            "guideline_labels.csv; run python -m callinsights evaluate .") in text
    assert "Macro-F1 (95% interval)" not in text
    assert "Share of the 200 calls, corrected" in text  # the parts from the page's reading are still there


def test_a_missing_file_leaves_its_part_out_and_says_how_to_make_it(results, tmp_path):
    (results / "findings.csv").unlink()
    (results / "evaluation" / "batches.csv").write_text("")
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    assert "findings.csv not found: run python -m callinsights insights ." in text
    assert "batches.csv could not be read (EmptyDataError" in text
    assert "No monitored batch: see the end of the page." in text
    assert "Workload by driver" in text  # what the remaining files answer is still there


def test_the_page_links_the_reports_the_explorer_and_each_findings_calls(results, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("01_eda_wordclouds.html", "01_eda_wordclouds-code.html", "04_evaluation.html"):
        (reports / name).write_text("<html><h2 id=\"both\">6. The two readings side by side</h2></html>")
    soup = BeautifulSoup(summary.build_index(results, reports).read_text(), "html.parser")
    hrefs = [a["href"] for a in soup("a")]
    findings = pd.read_csv(results / "findings.csv")
    assert [h for h in hrefs if h.startswith("calls.html#")] == [f"calls.html#finding={n}"
                                                                  for n in findings["finding"]]
    assert "04_evaluation.html#both" in hrefs  # the other reading, once, at notebook 04's side-by-side section
    assert hrefs[-3:] == ["01_eda_wordclouds.html", "04_evaluation.html", "calls.html"]
    assert not soup("script") and not soup("link") and not soup("img")


def test_reports_command_builds_the_index(results, tmp_path, capsys):
    assert reports_main(["index", "--results", str(results), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "index.html").is_file()
    assert "summary ->" in capsys.readouterr().out


def test_the_committed_page_is_short_plain_and_the_one_the_results_make(tmp_path):
    committed = config.REPORTS_DIR / "index.html"
    words, text = words_and_text(committed)
    assert words <= MAX_WORDS, f"index.html: {words} words, more than {MAX_WORDS}"
    found = {what: sorted(set(pattern.findall(text)))[:5] for what, pattern in RAW.items() if pattern.search(text)}
    assert not found, f"index.html shows {found}"
    assert "results/" not in text
    # Built into the committed reports folder's copy, so links to the notebook pages resolve the same way.
    shutil.copytree(config.REPORTS_DIR, tmp_path / "reports", ignore=shutil.ignore_patterns("index.html"))
    made = summary.build_index(config.RESULTS_DIR, tmp_path / "reports")
    assert committed.read_text(encoding="utf-8") == made.read_text(encoding="utf-8"), (
        "reports/index.html is not what the results make: run `python -m callinsights reports index`")
