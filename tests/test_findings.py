"""The finding rules (callinsights.analysis.insights) on synthetic calls whose truth is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from callinsights.analysis import insights as findings, ppi
from callinsights.analysis.eda import INSIGHT_COLUMNS
from callinsights.data.labels import load_labels
from callinsights.pipelines.insights import InsightFiles, Insights, ppi_tables, write_insight_files
from tests.test_ppi import FOLLOW, synthetic

RATE = [("outcome", FOLLOW, "follow-up")]


def decided_for(true_rate, bias, n_calls=1200, n_labelled=300, seed=0):
    frame, _, _ = synthetic(n_calls, n_labelled, true_rate, bias, seed=seed)
    return findings.decide(ppi.group_differences(frame, "group", rates=RATE))


def test_a_real_difference_survives():
    decided = decided_for({"a": 0.7, "b": 0.2}, 0.0).set_index("group")
    assert decided.loc["a", "verdict"] == "finding" and decided.loc["a", "ppi_diff"] > 0
    assert decided.loc["b", "verdict"] == "finding" and decided.loc["b", "ppi_diff"] < 0
    sentences = [findings.sentence(row) for _, row in decided.reset_index().iterrows()]
    assert len(sentences) == 2 and all(s.startswith("**") for s in sentences)


def test_a_difference_made_only_by_the_models_bias_does_not_survive():
    # Same true rate everywhere; the model over-predicts follow-up in group a only.
    decided = decided_for({"a": 0.3, "b": 0.3}, {"a": 0.35, "b": 0.0}, seed=1).set_index("group")
    assert decided["naive_would_state"].all()  # predictions alone would report a difference
    assert not decided["survives"].any()
    assert set(decided["verdict"]) == {"withdrawn"}
    assert all("not stated" in findings.sentence(row) for _, row in decided.reset_index().iterrows())


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


def test_a_side_with_few_labelled_calls_is_tested_on_the_hand_labels_alone():
    frame, _, _ = synthetic(400, 120, {"a": 0.95, "b": 0.05}, 0.0, seed=4)
    a_labelled = frame[(frame["group"] == "a") & frame["labelled"]].index
    frame.loc[a_labelled[9:], "labelled"] = False  # 9 labelled calls left in group a: too few for PPI
    decided = findings.decide(ppi.group_differences(frame, "group", rates=RATE))
    assert set(decided["method"]) == {"hand labels"} and set(decided["verdict"]) == {"finding"}
    row = decided.iloc[0]
    assert row["p_test"] == pytest.approx(stats.fisher_exact(
        [[row["gold_count_a"], 9 - row["gold_count_a"]], [row["gold_count_b"], row["labelled_b"] - row["gold_count_b"]]])[1])
    assert "on the hand-labelled calls alone (9 and" in findings.sentence(row)
    relaxed = findings.decide(ppi.group_differences(frame, "group", rates=RATE), min_labelled=5)
    assert set(relaxed["method"]) == {"PPI"} and set(relaxed["verdict"]) == {"finding"}


def test_the_hand_labels_alone_withdraw_a_difference_only_the_models_bias_makes():
    # Same true rate in both groups; the model over-predicts follow-up in group a, which has 6 labelled calls.
    frame, _, _ = synthetic(600, 60, {"a": 0.3, "b": 0.3}, {"a": 0.4, "b": 0.0}, seed=5)
    a_labelled = frame[(frame["group"] == "a") & frame["labelled"]].index
    frame.loc[a_labelled[6:], "labelled"] = False
    decided = findings.decide(ppi.group_differences(frame, "group", rates=RATE))
    assert set(decided["method"]) == {"hand labels"} and decided["naive_would_state"].all()
    assert set(decided["verdict"]) == {"withdrawn"}


def test_each_family_is_adjusted_on_its_own_and_a_consistency_check_is_never_a_finding():
    frame, _, _ = synthetic(900, 300, {"a": 0.2, "b": 0.5, "c": 0.8}, 0.0, seed=6)
    frame["event"] = (frame["group"] == "c").astype(int)
    frame["callbacks"] = (frame["group"] != "a").astype(int)
    table = findings.comparisons(frame, groupings=("group",), events={"event": "with an event"},
                                 checks={"callbacks": "a callback promise"})  # fmt: skip
    decided = findings.decide(table)
    sizes = decided.groupby("family")["family_size"].first()
    # Every call is "positive", so negative sentiment is never tested: three comparisons of follow-up in the family.
    assert sizes["group"] == 3 and sizes["call events"] == 1 and sizes[findings.CHECK] == 1
    grouped = decided[decided["family"] == "group"]
    assert np.allclose(grouped["p_adjusted"].dropna(), np.minimum(1, 3 * grouped["p_test"].dropna()))
    check = decided[decided["family"] == findings.CHECK].iloc[0]
    assert check["verdict"] == "consistent" and not check["survives"]
    assert findings.sentence(check).startswith("Consistency check, not a finding: **Calls with a callback promise**")
    event = decided[decided["family"] == "call events"].iloc[0]
    assert event["rate"] == "resolved" and event["verdict"] == "finding" and event["diff"] < 0
    assert findings.claim(event, bold=False) == "Calls with an event end resolved less often"


def test_share_within_follow_up_calls_finds_the_true_share_despite_the_models_bias():
    frame, y, _ = synthetic(4000, 1000, 0.4, 0.25, seed=7)
    rng = np.random.default_rng(70)  # not the seed of the calls' truth
    documents = pd.Series(np.where(y, rng.random(len(y)) < 0.6, rng.random(len(y)) < 0.1), index=frame.index)
    est = ppi.share_within(frame, "outcome", FOLLOW, documents)
    low, high = est.interval()
    assert low < documents[y].mean() < high and low < 0.6 < high and high - low < 0.1
    assert documents[frame["pred_outcome"] == FOLLOW].mean() < 0.5  # the predicted follow-up calls alone are off
    two_labelled = frame.iloc[:40].assign(labelled=[True, True] + [False] * 38)
    assert not ppi.share_within(two_labelled, "outcome", FOLLOW, documents).estimable


def test_sentences_carry_the_computed_numbers():
    decided = decided_for({"a": 0.7, "b": 0.2}, 0.0)
    row = decided[decided["group"] == "a"].iloc[0]
    text = findings.sentence(row)
    assert f"{row['rate_a']:.0%}" in text and f"{row['rate_b']:.0%}" in text
    assert f"{100 * row['ppi_diff']:+.0f} points" in text and f"{100 * row['adj_low']:+.0f} to" in text
    assert f"over {row['family_size']} comparisons" in text


def test_decide_needs_the_columns_of_a_difference_table():
    with pytest.raises(KeyError):
        findings.decide(pd.DataFrame({"estimable": [True], "p": [0.01]}))


def test_insight_tables_and_write_results_round_trip(tmp_path):
    frame, _, _ = synthetic(300, 90, {"a": 0.8, "b": 0.2}, 0.1, seed=8)
    preds = frame[["pred_sentiment", "pred_outcome", "p_follow_up", "p_issue_resolved", "p_positive", "p_negative",
                   "p_neutral"]].rename(columns={"pred_sentiment": "sentiment", "pred_outcome": "outcome"})
    preds.rename_axis("file").reset_index().to_csv(tmp_path / "predictions.csv", index=False)
    gold = frame.loc[frame["labelled"], ["gold_sentiment", "gold_outcome"]]
    gold.set_axis(["Sentiment", "Call_Outcome"], axis=1).rename_axis("Filename").reset_index().to_csv(
        tmp_path / "labels.csv", index=False)
    covariates = pd.DataFrame({"file": frame.index, "topic": frame["group"], "agent_team": "Customer Support",
                               "callbacks": np.arange(len(frame)) % 2})  # fmt: skip
    frame, rates, decided = ppi_tables(covariates, pd.read_csv(tmp_path / "predictions.csv"),
                                       load_labels(tmp_path / "labels.csv"))
    assert set(rates["by"]) == {"topic", "agent_team"} and len(rates) == 3 * (3 + 2)
    assert set(decided["by"]) == {"topic", "agent_team", "callbacks"}
    topic_follow = decided[(decided["by"] == "topic") & (decided["rate"] == "follow-up")].set_index("group")
    assert topic_follow.loc["a", "verdict"] == "finding"
    drivers, pending = findings.driver_table(frame), findings.pending_work_table(frame)
    found = Insights(rates, drivers, pending, decided, findings.actionable(drivers, pending, decided, frame))
    files = InsightFiles.under(tmp_path / "out")
    written = write_insight_files(pd.DataFrame(columns=INSIGHT_COLUMNS), found, files, tmp_path / "labels.csv")
    assert written == [*files.all(), files.reading]
    comparisons = pd.read_csv(files.comparisons)
    assert len(comparisons) == len(decided) and comparisons["sentence"].str.len().gt(20).all()
    assert len(pd.read_csv(files.rates)) == len(rates)
    assert json.loads(files.reading.read_text())["files_from_labels"] == sorted(p.name for p in files.all()[1:])


def test_actionable_findings_carry_their_numbers_and_the_calls_behind_them():
    frame, y, _ = synthetic(600, 200, {"billing": 0.8, "login": 0.2, "pharmacy": 0.4}, 0.05, seed=9)
    rng = np.random.default_rng(90)
    frame = frame.rename(columns={"group": "topic"}).assign(agent_team="Customer Support")
    frame["pending_documents"] = (y & (rng.random(len(y)) < 0.7)).astype(int)
    frame["escalated"] = (y & (rng.random(len(y)) < 0.5)).astype(int)
    frame.loc[frame.index[:30], ["pred_sentiment", "p_negative"]] = ["negative", 0.9]
    quotes = pd.Series("(sighs) This is the third time I call about it.", index=frame.index)
    drivers, pending = findings.driver_table(frame, quotes), findings.pending_work_table(frame)
    decided = findings.decide(findings.comparisons(frame))
    table = findings.actionable(drivers, pending, decided, frame)
    assert 3 <= len(table) <= findings.MAX_FINDINGS and table["finding"].tolist() == list(range(1, len(table) + 1))
    assert list(table.columns) == findings.FINDING_COLUMNS
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    for _, row in table.iterrows():
        ids = row["calls"].split()
        assert ids and set(ids) <= set(frame.index) and row["n_calls"] == len(ids)
    workload = table.iloc[0]
    assert workload["question"] == "workload" and workload["headline"].startswith("billing")
    assert f"{workload['value']:.0f} (95% interval {workload['low']:.0f}-{workload['high']:.0f})" in workload["sentence"]
    billing = frame[(frame["topic"] == "billing") & (frame["pred_outcome"] == FOLLOW)].index
    assert set(workload["calls"].split()) == set(billing)
    documents = table[table["question"] == "pending work"].iloc[0]
    assert documents["headline"] == "Follow-up calls often leave documents to send"
    unhappy = table[table["question"] == "unhappy customers"].iloc[0]
    assert unhappy["quotes"].count("third time") == findings.QUOTES_PER_DRIVER and unhappy["n_calls"] == 30
    escalated = table[table["question"] == "resolution"].iloc[0]
    assert escalated["headline"] == "Calls escalated end resolved less often" and escalated["value"] < 0
    # No sentence is a restatement of the label's definition: the callback check is never among the findings.
    assert not table["sentence"].str.contains("Consistency check").any()
