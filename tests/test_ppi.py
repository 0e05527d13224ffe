"""Prediction-powered rates and differences (callinsights.analysis.ppi) and the labelling plan built on them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from callinsights.analysis import ppi
from callinsights.analysis.stats import wilson_interval
from callinsights.evaluation.metrics import newcombe_interval
from callinsights.labelling import sampling as labelplan

FOLLOW = "follow-up action needed"


def synthetic(n_calls: int, n_labelled: int, true_rate, bias, seed: int = 0, groups=None, proba: bool = True):
    """Calls with a known true follow-up rate per group and a model whose probability is off by ``bias``.

    Args:
        true_rate: Group -> true rate (or one rate for a single group "g").
        bias: Group -> what the model adds to the truth's probability (or one value).
        groups: Group of each call (default: equal shares of the groups of ``true_rate``).
    """
    rng = np.random.default_rng(seed)
    true_rate = true_rate if isinstance(true_rate, dict) else {"g": true_rate}
    bias = bias if isinstance(bias, dict) else {g: bias for g in true_rate}
    names = list(true_rate)
    group = np.array(groups if groups is not None else [names[i % len(names)] for i in range(n_calls)])
    rate = np.array([true_rate[g] for g in group])
    y = rng.random(n_calls) < rate
    # An informative but biased probability: the truth pulls it, the bias shifts it.
    p = np.clip(0.5 * y + 0.5 * rate + np.array([bias[g] for g in group]) + rng.normal(0, 0.1, n_calls), 0.01, 0.99)
    files = [f"transcript_{i}" for i in range(n_calls)]
    labelled = np.zeros(n_calls, bool)
    labelled[rng.choice(n_calls, n_labelled, replace=False)] = True
    preds = pd.DataFrame({"file": files, "sentiment": "positive",
                          "outcome": np.where(p > 0.5, FOLLOW, "issue resolved")})  # fmt: skip
    if proba:
        preds["p_follow_up"], preds["p_issue_resolved"] = p, 1 - p
        preds["p_positive"], preds["p_negative"], preds["p_neutral"] = 1.0, 0.0, 0.0
    gold = pd.DataFrame({"sentiment": "positive", "outcome": np.where(y, FOLLOW, "issue resolved")}, index=files)
    frame = ppi.ppi_frame(preds, gold[labelled], pd.DataFrame({"group": group}, index=files))
    return frame, y, rate


def test_ppi_frame_marks_labelled_calls_and_keeps_probabilities():
    frame, _, _ = synthetic(50, 10, 0.3, 0.0)
    assert frame["labelled"].sum() == 10 and len(frame) == 50
    assert {"p_follow_up", "gold_outcome", "pred_outcome", "group"} <= set(frame.columns)
    assert frame.loc[~frame["labelled"], "gold_outcome"].isna().all()


def test_ppi_frame_refuses_labels_without_predictions():
    preds = pd.DataFrame({"file": ["a"], "sentiment": ["positive"], "outcome": [FOLLOW]})
    gold = pd.DataFrame({"sentiment": ["positive"], "outcome": [FOLLOW]}, index=["b"])
    with pytest.raises(ValueError, match="no prediction, e.g. b"):
        ppi.ppi_frame(preds, gold)


def test_ppi_rate_is_the_corrected_mean_with_the_two_part_variance():
    frame, _, _ = synthetic(200, 40, 0.4, 0.2, seed=3)
    est = ppi.ppi_rate(frame, "outcome", FOLLOW)
    lab = frame[frame["labelled"]]
    unl = frame[~frame["labelled"]]
    rect = (lab["gold_outcome"] == FOLLOW).astype(float) - lab["p_follow_up"]
    assert est.value == pytest.approx(unl["p_follow_up"].mean() + rect.mean())
    se = math.sqrt(unl["p_follow_up"].var(ddof=0) / len(unl) + rect.var(ddof=0) / len(lab))
    assert est.se == pytest.approx(se, rel=0.03)  # ppi_py's own variance estimate, up to its degrees of freedom
    assert (est.labelled, est.unlabelled) == (40, 160)


def test_ppi_removes_a_bias_the_naive_rate_keeps():
    frame, y, _ = synthetic(4000, 600, 0.3, 0.25, seed=1)
    row = ppi.rate_row(frame, "outcome", FOLLOW)
    truth = y.mean()
    assert row["ppi_low"] <= truth <= row["ppi_high"]
    assert not row["naive_low"] <= truth <= row["naive_high"]  # the naive interval is confidently wrong
    assert row["predictor"] == "probability"


def test_ppi_interval_covers_the_true_rate_about_95_percent_with_40_labels():
    covered = 0
    runs = 200
    for seed in range(runs):
        frame, _, rate = synthetic(200, 40, 0.35, 0.2, seed=seed)
        low, high = ppi.ppi_rate(frame, "outcome", FOLLOW).interval()
        covered += low <= 0.35 <= high
    assert covered / runs >= 0.9


def test_groups_with_0_to_2_labelled_calls_are_not_estimable():
    frame, _, _ = synthetic(60, 20, {"a": 0.3, "b": 0.6}, 0.0, seed=2)
    few = frame[(frame["group"] == "a") & frame["labelled"]].index[2:]
    frame.loc[few, "labelled"] = False  # leave group a with 2 labelled calls
    table = ppi.rate_table(frame, "group", rates=[("outcome", FOLLOW, "follow-up")])
    a = table.set_index("group").loc["a"]
    assert not a["estimable"] and np.isnan(a["ppi"]) and np.isnan(a["ppi_low"])
    assert "2 labelled call(s): not estimable" in a["note"]
    assert not np.isnan(a["naive"])  # the naive rate is still shown, for what it is
    b = table.set_index("group").loc["b"]
    assert b["estimable"] and b["few_labels"]


def test_without_probabilities_the_predicted_labels_are_corrected():
    frame, _, _ = synthetic(100, 30, 0.3, 0.2, proba=False)
    assert ppi.rate_row(frame, "outcome", FOLLOW)["predictor"] == "predicted label"


def test_naive_and_labels_only_intervals_are_wilson_at_the_chosen_level():
    frame, _, _ = synthetic(100, 30, 0.3, 0.2)
    row = ppi.rate_row(frame, "outcome", FOLLOW, alpha=0.1)
    lab = frame[frame["labelled"]]
    hits, gold = int((frame["pred_outcome"] == FOLLOW).sum()), int((lab["gold_outcome"] == FOLLOW).sum())
    assert (row["naive_low"], row["naive_high"]) == pytest.approx(wilson_interval(hits, len(frame), 0.9))
    assert (row["labels_low"], row["labels_high"]) == pytest.approx(wilson_interval(gold, len(lab), 0.9))
    wider = ppi.rate_row(frame, "outcome", FOLLOW)
    assert wider["naive_high"] - wider["naive_low"] > row["naive_high"] - row["naive_low"]


def test_difference_adds_the_variances_of_disjoint_groups():
    frame, _, _ = synthetic(400, 120, {"a": 0.2, "b": 0.6}, 0.1, seed=4)
    in_a = frame["group"] == "a"
    row = ppi.difference(frame, in_a, "outcome", FOLLOW)
    ea = ppi.ppi_rate(frame[in_a], "outcome", FOLLOW)
    eb = ppi.ppi_rate(frame[~in_a], "outcome", FOLLOW)
    assert row["ppi_diff"] == pytest.approx(ea.value - eb.value)
    assert row["ppi_se"] == pytest.approx(math.hypot(ea.se, eb.se))
    assert row["p"] == pytest.approx(2 * sps.norm.sf(abs(row["ppi_diff"]) / row["ppi_se"]))
    assert row["pred_count_a"] == int((frame.loc[in_a, "pred_outcome"] == FOLLOW).sum())
    assert (row["naive_low"], row["naive_high"]) == pytest.approx(
        newcombe_interval(row["pred_count_a"], row["calls_a"], row["pred_count_b"], row["calls_b"]))


def test_group_and_flag_differences_cover_every_group_and_flag():
    frame, _, _ = synthetic(300, 90, {"a": 0.2, "b": 0.5, "c": 0.7}, 0.0, seed=5)
    frame["holds"] = np.arange(len(frame)) % 3
    groups = ppi.group_differences(frame, "group", rates=[("outcome", FOLLOW, "follow-up")])
    assert list(groups["group"]) == ["a", "b", "c"] and set(groups["versus"]) == {"the rest"}
    flags = ppi.flag_differences(frame, {"holds": "holds mentioned"})
    assert flags.iloc[0]["group"] == "with holds mentioned"
    assert flags.iloc[0]["calls_a"] == int((frame["holds"] > 0).sum())


# The labelling plan


def test_half_width_follows_the_variance_formula():
    z = sps.norm.ppf(0.975)
    assert labelplan.half_width(0.04, 0.2, 10, 40) == pytest.approx(z * math.sqrt(0.04 / 40 + 0.2 / 10))
    assert labelplan.half_width(0.04, 0.2, 2, 40) == math.inf
    assert labelplan.half_width(0.04, 0.2, 10, 0) == pytest.approx(z * math.sqrt(0.2 / 10))


def test_plan_makes_unestimable_groups_estimable_first_then_shrinks_the_widest_interval():
    frame, _, _ = synthetic(300, 60, {"a": 0.3, "b": 0.5, "c": 0.5}, 0.1, seed=6)
    a_labelled = frame[(frame["group"] == "a") & frame["labelled"]].index
    frame.loc[a_labelled[1:], "labelled"] = False  # group a: one labelled call, not estimable
    frame.loc[a_labelled[1:], "gold_outcome"] = np.nan
    proposal = labelplan.plan(frame, "group", n=8, rates=[("outcome", FOLLOW, "follow-up")], seed=1)
    assert list(proposal["step"]) == list(range(1, 9))
    assert list(proposal["group"][:2]) == ["a", "a"]  # 1 -> 3 labelled calls
    assert math.isinf(proposal["width_before"].iloc[0]) and np.isfinite(proposal["width_after"].iloc[1])
    later = proposal.iloc[2:]
    assert (later["gain"] >= -1e-12).all() and (later["width_after"] <= later["width_before"] + 1e-12).all()
    assert not frame.loc[proposal["file"], "labelled"].any() and proposal["file"].is_unique
    again = labelplan.plan(frame, "group", n=8, rates=[("outcome", FOLLOW, "follow-up")], seed=1)
    assert again.equals(proposal)


def test_plan_gain_is_the_formula_difference_for_the_widest_group():
    frame, _, _ = synthetic(200, 60, {"a": 0.5, "b": 0.5}, 0.0, seed=7)
    parts = labelplan.variance_parts(frame, "group", rates=[("outcome", FOLLOW, "follow-up")]).set_index("group")
    widths = {g: labelplan.half_width(r.var_pred, r.var_rect, r.labelled, r.unlabelled) for g, r in parts.iterrows()}
    first = labelplan.plan(frame, "group", n=1, rates=[("outcome", FOLLOW, "follow-up")]).iloc[0]
    widest = max(widths, key=widths.get)
    assert first["width_before"] == pytest.approx(2 * widths[widest])
    if first["group"] == widest:
        r = parts.loc[widest]
        after = labelplan.half_width(r.var_pred, r.var_rect, r.labelled + 1, r.unlabelled - 1)
        assert first["width_after"] == pytest.approx(2 * max(after, *(w for g, w in widths.items() if g != widest)))
