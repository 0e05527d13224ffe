"""Statistics for comparing groups of calls, against hand-worked values and scipy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from callinsights.analysis import stats
def test_cramers_v_hand_worked_values():
    assert stats.cramers_v([[10, 20], [20, 40]]) == pytest.approx(0.0)
    assert stats.cramers_v([[15, 0], [0, 25]]) == pytest.approx(1.0)
    assert stats.cramers_v([[0, 7, 0], [5, 0, 0], [0, 0, 9]]) == pytest.approx(1.0)
    # 2x2: V = |ad - bc| / sqrt(row and column totals) = 300 / 900
    assert stats.cramers_v([[10, 20], [20, 10]]) == pytest.approx(1 / 3)
    assert math.isnan(stats.cramers_v([[3, 4]]))


def test_cramers_v_agrees_with_scipy_chi_square():
    table = np.array([[12, 5, 9], [3, 14, 6]])
    chi2 = scipy_stats.chi2_contingency(table, correction=False)[0]
    assert stats.cramers_v(table) == pytest.approx(math.sqrt(chi2 / (table.sum() * 1)))


def _frame(pairs):
    return pd.DataFrame([{"group": g, "label": l} for (g, l), n in pairs.items() for _ in range(n)])


def test_association_detects_dependence_and_independence():
    dependent = stats.association(_frame({("a", "x"): 20, ("b", "y"): 20, ("a", "y"): 2}), "group", "label",
                                     n_permutations=999)  # fmt: skip
    assert dependent.p_permutation < 0.01 and dependent.cramers_v > 0.8
    independent = stats.association(
        _frame({("a", "x"): 10, ("a", "y"): 10, ("b", "x"): 10, ("b", "y"): 10}), "group", "label", n_permutations=999
    )
    assert independent.p_permutation == 1.0 and independent.cramers_v == pytest.approx(0.0)


def test_association_says_when_expected_counts_are_too_small():
    small = stats.association(_frame({("a", "x"): 3, ("b", "y"): 2, ("a", "y"): 1}), "group", "label",
                                 n_permutations=199)  # fmt: skip
    assert not small.asymptotic_ok
    assert "unreliable" in small.describe()
    assert 0 < small.p_permutation <= 1


def test_permutation_p_is_close_to_asymptotic_p_on_a_large_table():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"group": rng.choice(list("abc"), 600), "label": rng.choice(list("xy"), 600)})
    result = stats.association(frame, "group", "label", n_permutations=4999)
    assert result.asymptotic_ok
    assert result.p_permutation == pytest.approx(result.p_asymptotic, abs=0.03)


def test_wilson_interval_known_value():
    low, high = stats.wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_rate_table_counts_and_shares():
    frame = _frame({("a", "x"): 3, ("a", "y"): 1, ("b", "x"): 1, ("b", "y"): 3})
    rates = stats.rate_table(frame, "group", "label", "x").set_index("group")
    assert rates.loc["a", "rate"] == 0.75 and rates.loc["b", "count"] == 1
    assert rates.loc["a", "share_of_all"] == 0.75
    assert rates.loc["a", "lift"] == pytest.approx(1.5)


def test_rank_biserial_extremes_and_agreement_with_mann_whitney():
    assert stats.rank_biserial([3, 4], [1, 2]) == 1.0
    assert stats.rank_biserial([1, 2], [3, 4]) == -1.0
    assert stats.rank_biserial([1, 2, 3], [1, 2, 3]) == 0.0
    x, y = [1, 4, 4, 7, 9], [2, 3, 4, 5]
    u = scipy_stats.mannwhitneyu(x, y).statistic
    assert stats.rank_biserial(x, y) == pytest.approx(2 * u / (len(x) * len(y)) - 1)


def test_compare_groups_finds_the_feature_that_differs():
    frame = pd.DataFrame({"label": ["f"] * 15 + ["r"] * 15, "holds": list(range(5, 20)) + list(range(0, 15)),
                          "noise": [1, 2, 3] * 10})  # fmt: skip
    table = stats.compare_groups(frame, ["holds", "noise"], "label", "f").set_index("feature")
    assert table.loc["holds", "rank_biserial"] > 0.4 and table.loc["holds", "p"] < 0.05
    assert table.loc["noise", "rank_biserial"] == 0.0
    assert (table["p_holm"] >= table["p"]).all()


def test_holm_adjustment():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_odds_ratio_hand_worked_with_woolf_interval():
    frame = pd.DataFrame({"flag": [1] * 15 + [0] * 15, "label": ["f"] * 10 + ["r"] * 5 + ["f"] * 5 + ["r"] * 10})
    row = stats.odds_ratio_table(frame, ["flag"], "label", "f").iloc[0]
    assert row["odds_ratio"] == pytest.approx(4.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.876, 18.26), rel=1e-3)
    assert not row["corrected"]
    zero = stats.odds_ratio_table(frame.assign(flag=[1] * 10 + [0] * 20), ["flag"], "label", "f").iloc[0]
    assert zero["corrected"] and np.isfinite(zero["odds_ratio"])


def test_logistic_odds_recovers_a_real_effect_and_flags_separation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = rng.random(400) < 1 / (1 + np.exp(-1.5 * x))
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=400), "label": np.where(y, "f", "r")})
    result = stats.logistic_odds(frame, ["x", "noise"], "label", "f")
    table = result.table.set_index("feature")
    assert table.loc["x", "ci_low"] > 1 and table.loc["noise", "ci_low"] < 1 < table.loc["noise", "ci_high"]
    assert result.note == ""
    separated = pd.DataFrame({"x": np.arange(20.0), "label": ["r"] * 10 + ["f"] * 10})
    result = stats.logistic_odds(separated, ["x"], "label", "f")
    assert "separate" in result.note and result.table["odds_ratio"].isna().all()


def test_association_grid_runs_every_combination():
    frame = _frame({("a", "x"): 20, ("b", "y"): 20, ("a", "y"): 2}).assign(other=lambda f: f["label"])
    grid = stats.association_grid({"one": frame, "two": frame.head(30)}, ["group"], {"label": ["x", "y"]},
                                  n_permutations=199)  # fmt: skip
    assert grid[["labels", "by", "task"]].values.tolist() == [["one", "group", "label"], ["two", "group", "label"]]
    assert grid.loc[0, "n"] == 42 and grid.loc[1, "n"] == 30


def test_paired_change_counts_rises_and_falls():
    result = stats.paired_change([0.0, 0.1, -0.2, 0.5], [0.4, 0.3, 0.2, 0.5])
    assert result["share_up"] == 0.75 and result["share_down"] == 0.0
    assert result["median_change"] == pytest.approx(0.3)
    assert 0 < result["p_wilcoxon"] <= 1


def test_verdict_words():
    assert stats.verdict(0.0004).startswith("unlikely to be chance (p < 0.001")
    assert stats.verdict(0.2) == "not distinguishable from chance (p = 0.200)"
    assert stats.verdict(float("nan")) == "not testable here"


def test_wilson_interval_ends_are_exact():
    assert stats.wilson_interval(0, 7)[0] == 0.0 and stats.wilson_interval(7, 7)[1] == 1.0
    for k in range(8):
        low, high = stats.wilson_interval(k, 7)
        assert low <= k / 7 <= high
