"""The finding rules (callinsights.analysis.insights) on synthetic calls whose truth is known."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from callinsights.analysis import insights as findings, ppi
from callinsights.analysis.eda import INSIGHT_COLUMNS
from callinsights.pipelines.insights import InsightFiles, write_insight_files
from tests.test_ppi import FOLLOW, synthetic

RATE = [("outcome", FOLLOW, "follow-up")]


def decided_for(true_rate, bias, n_calls=1200, n_labelled=300, seed=0):
    frame, _, _ = synthetic(n_calls, n_labelled, true_rate, bias, seed=seed)
    return findings.decide(ppi.group_differences(frame, "group", rates=RATE))


def test_a_real_difference_survives():
    decided = decided_for({"a": 0.7, "b": 0.2}, 0.0).set_index("group")
    assert decided.loc["a", "verdict"] == "finding" and decided.loc["a", "ppi_diff"] > 0
    assert decided.loc["b", "verdict"] == "finding" and decided.loc["b", "ppi_diff"] < 0
    sentences = findings.findings(decided.reset_index())
    assert len(sentences) == 2 and sentences[0].startswith("**")


def test_a_difference_made_only_by_the_models_bias_does_not_survive():
    # Same true rate everywhere; the model over-predicts follow-up in group a only.
    decided = decided_for({"a": 0.3, "b": 0.3}, {"a": 0.35, "b": 0.0}, seed=1).set_index("group")
    assert decided["naive_would_state"].all()  # predictions alone would report a difference
    assert not decided["survives"].any()
    assert set(decided["verdict"]) == {"withdrawn"}
    text = findings.withdrawn(decided.reset_index())
    assert len(text) == 2 and all("not stated" in t for t in text)


def test_bonferroni_over_the_family_and_the_interval_agree_with_the_adjusted_p():
    frame, _, _ = synthetic(900, 240, {"a": 0.25, "b": 0.4, "c": 0.55}, 0.05, seed=2)
    rates = [("outcome", FOLLOW, "follow-up"), ("sentiment", "positive", "positive")]
    decided = findings.decide(ppi.group_differences(frame, "group", rates=rates))
    ok = decided["estimable"] & decided["p"].notna()  # every call is "positive": no variance, no test
    assert ok.sum() == 3
    m = int(ok.sum())
    assert (decided["family_size"] == m).all()
    assert np.allclose(decided.loc[ok, "p_adjusted"], np.minimum(1, m * decided.loc[ok, "p"]))
    excludes_zero = (decided["adj_low"] > 0) | (decided["adj_high"] < 0)
    assert (excludes_zero == (decided["p_adjusted"] < 0.05))[ok].all()
    assert (decided["survives"] == excludes_zero).all()
    wider = (decided["adj_high"] - decided["adj_low"]) > (decided["ppi_high"] - decided["ppi_low"])
    assert wider[ok].all()  # the adjusted interval is wider than the unadjusted 95% one


def test_an_unestimable_comparison_is_never_a_finding():
    frame, _, _ = synthetic(200, 40, {"a": 0.9, "b": 0.1}, 0.0, seed=3)
    keep = frame[(frame["group"] == "a") & frame["labelled"]].index[:2]
    drop = frame[(frame["group"] == "a") & frame["labelled"]].index.difference(keep)
    frame.loc[drop, "labelled"] = False
    decided = findings.decide(ppi.group_differences(frame, "group", rates=RATE))
    assert set(decided["verdict"]) == {"not estimable"}
    assert decided["family_size"].iloc[0] == 0
    assert "not estimable" in findings.sentence(decided.iloc[0])


def test_a_side_with_few_labelled_calls_is_never_a_finding_however_large_the_difference():
    frame, _, _ = synthetic(400, 120, {"a": 0.95, "b": 0.05}, 0.0, seed=4)
    a_labelled = frame[(frame["group"] == "a") & frame["labelled"]].index
    frame.loc[a_labelled[9:], "labelled"] = False  # 9 labelled calls left in group a
    decided = findings.decide(ppi.group_differences(frame, "group", rates=RATE))
    assert set(decided["verdict"]) == {"too few labels"} and decided["family_size"].iloc[0] == 0
    assert "9 and" in findings.sentence(decided.iloc[0]) and "not stated" in findings.sentence(decided.iloc[0])
    relaxed = findings.decide(ppi.group_differences(frame, "group", rates=RATE), min_labelled=5)
    assert set(relaxed["verdict"]) == {"finding"}


def test_sentences_carry_the_computed_numbers():
    decided = decided_for({"a": 0.7, "b": 0.2}, 0.0)
    row = decided[decided["group"] == "a"].iloc[0]
    text = findings.sentence(row)
    assert f"{row['rate_a']:.0%}" in text and f"{row['rate_b']:.0%}" in text
    assert f"{100 * row['ppi_diff']:+.0f} points" in text and f"{100 * row['adj_low']:+.0f} to" in text
    assert f"over {row['family_size']} comparisons" in text
    summary = findings.summary(decided)
    assert re.search(r"2 comparisons, 2 with enough hand labels to test \(Bonferroni over 2\): 2 survive", summary)


def test_decide_needs_the_columns_of_a_difference_table():
    with pytest.raises(KeyError):
        findings.decide(pd.DataFrame({"estimable": [True], "p": [0.01]}))


def test_from_files_and_write_results_round_trip(tmp_path):
    frame, _, _ = synthetic(300, 90, {"a": 0.8, "b": 0.2}, 0.1, seed=8)
    preds = frame[["pred_sentiment", "pred_outcome", "p_follow_up", "p_issue_resolved", "p_positive", "p_negative",
                   "p_neutral"]].rename(columns={"pred_sentiment": "sentiment", "pred_outcome": "outcome"})
    preds.rename_axis("file").reset_index().to_csv(tmp_path / "predictions.csv", index=False)
    gold = frame.loc[frame["labelled"], ["gold_sentiment", "gold_outcome"]]
    gold.set_axis(["Sentiment", "Call_Outcome"], axis=1).rename_axis("Filename").reset_index().to_csv(
        tmp_path / "labels.csv", index=False)
    covariates = pd.DataFrame({"file": frame.index, "topic": frame["group"], "agent_team": "Customer Support",
                               "callbacks": np.arange(len(frame)) % 2})  # fmt: skip
    covariates.to_csv(tmp_path / "call_insights.csv", index=False)
    rates, decided = findings.from_files(tmp_path / "predictions.csv", tmp_path / "labels.csv",
                                         tmp_path / "call_insights.csv")  # fmt: skip
    assert set(rates["by"]) == {"topic", "agent_team"} and len(rates) == 3 * (3 + 2)
    assert set(decided["by"]) == {"topic", "agent_team", "callbacks"}
    topic_follow = decided[(decided["by"] == "topic") & (decided["rate"] == "follow-up")].set_index("group")
    assert topic_follow.loc["a", "verdict"] == "finding"
    covariates_path, rates_path, findings_path = write_insight_files(
        pd.DataFrame(columns=INSIGHT_COLUMNS), rates, decided, InsightFiles.under(tmp_path / "out"))
    written = pd.read_csv(findings_path)
    assert len(written) == len(decided) and written["sentence"].str.len().gt(20).all()
    assert len(pd.read_csv(rates_path)) == len(rates)
    with pytest.raises(FileNotFoundError, match="callinsights insights"):
        findings.from_files(tmp_path / "predictions.csv", tmp_path / "labels.csv", tmp_path / "absent.csv")


def test_rate_sentence_says_not_estimable_instead_of_a_naive_interval():
    frame, _, _ = synthetic(60, 20, {"a": 0.3, "b": 0.6}, 0.0, seed=2)
    frame.loc[frame[(frame["group"] == "a") & frame["labelled"]].index[1:], "labelled"] = False
    table = ppi.rate_table(frame, "group", rates=RATE).set_index("group")
    rows = table.reset_index()
    assert "PPI not estimable (1 labelled call(s)" in findings.rate_sentence(rows[rows["group"] == "a"].iloc[0])
    text = findings.rate_sentence(rows[rows["group"] == "b"].iloc[0])
    assert "(PPI 95% interval" in text and "predictions alone" in text and "hand labels alone" in text
