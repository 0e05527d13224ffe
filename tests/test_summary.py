"""reports/index.html: built from the results files, every number read from them, missing files said, not fatal."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from callinsights import config

from callinsights.analysis import stats

from callinsights.reporting import summary
from callinsights.pipelines.notebooks import reports_main


def text_of(page) -> str:
    return " ".join(BeautifulSoup(page.read_text(), "html.parser").get_text(" ").split())


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for path in (config.METRICS_FILE, config.PREDICTIONS_FILE, config.INSIGHTS_FILE):
        shutil.copy(path, folder / path.name)
    return folder


def held_out(metrics, task, name):
    return next(m for m in metrics["default_held_out"][task] if m["metric"] == name)


def test_the_page_quotes_accuracy_and_intervals_from_metrics_json(results, tmp_path):
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    metrics = json.loads((results / "metrics.json").read_text())
    for task in ("sentiment", "outcome"):
        acc = held_out(metrics, task, "accuracy")
        assert f"accuracy {acc['value']:.2f} (95% interval {acc['low']:.2f}-{acc['high']:.2f})" in text
    assert f"{metrics['labelled_calls']} hand-labelled calls" in text
    assert f"{metrics['monitoring']['finished_runs']} runs recorded" in text


def test_numbers_follow_the_files_not_the_page(results, tmp_path):
    # Change the results and the page changes with them: no number on it is typed in.
    metrics = json.loads((results / "metrics.json").read_text())
    acc = held_out(metrics, "outcome", "accuracy")
    acc.update(value=0.123, low=0.041, high=0.678)
    metrics["labelled_calls"] = 77
    (results / "metrics.json").write_text(json.dumps(metrics))
    preds = pd.read_csv(results / "predictions.csv").head(150)
    preds.to_csv(results / "predictions.csv", index=False)
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    assert "accuracy 0.12 (95% interval 0.04-0.68)" in text
    assert "77 hand-labelled calls" in text
    assert "150 calls labelled" in text


def test_findings_are_computed_with_the_project_statistics(results, tmp_path):
    text = text_of(summary.build_index(results, tmp_path / "reports"))
    frame = pd.read_csv(results / "call_insights.csv").merge(
        pd.read_csv(results / "predictions.csv")[["file", "sentiment", "outcome"]], on="file")
    top = stats.rate_table(frame, "topic", "outcome", summary.FOLLOW_UP).iloc[0]
    assert f"{top['topic']} has the highest follow-up rate" in text
    assert f"{top['count']} of {top['calls']} calls ({top['rate']:.0%}, 95% CI" in text
    assert "tested findings survive" in text


def test_a_missing_file_leaves_its_part_out_and_says_how_to_make_it(results, tmp_path):
    (results / "call_insights.csv").unlink()
    (results / "metrics.json").write_text("{truncated")
    page = summary.build_index(results, tmp_path / "reports")
    text = text_of(page)
    assert "call_insights.csv not found" in text and "python -m callinsights insights" in text
    assert "metrics.json could not be read (JSONDecodeError" in text
    assert "calls labelled" in text  # what the remaining file answers is still there
    assert "tested findings survive" not in text


def test_the_page_links_every_report_and_loads_nothing(results, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("01_eda_wordclouds.html", "01_eda_wordclouds-code.html", "04_evaluation.html"):
        (reports / name).write_text("<html></html>")
    soup = BeautifulSoup(summary.build_index(results, reports).read_text(), "html.parser")
    hrefs = [a["href"] for a in soup("a")]
    assert hrefs == ["01_eda_wordclouds.html", "01_eda_wordclouds-code.html", "04_evaluation.html"]
    assert not soup("script") and not soup("link") and not soup("img")


def test_reports_command_builds_the_index(results, tmp_path, capsys):
    assert reports_main(["index", "--results", str(results), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "index.html").is_file()
    assert "summary ->" in capsys.readouterr().out
