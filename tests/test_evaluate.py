"""Scoring, intervals, calibration and monitoring: checked against scikit-learn, scipy and worked examples."""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from callinsights.evaluation.metrics import bootstrap_ci
from callinsights.evaluation.metrics import (brier_score, expected_calibration_error, plot_reliability,
                                                 proba_frame, reliability_table)
from callinsights.evaluation.metrics import align, plot_confusion, report_table
from callinsights.evaluation.metrics import agreement, newcombe_interval
from callinsights.evaluation.metrics import classification_metrics, clean_predictions, confusion_frame
from callinsights.schema import INVALID
from callinsights.data.labels import load_labels
from callinsights.schema import OUTCOMES, SENTIMENTS

POS, NEG, NEU = SENTIMENTS
RES, FUP = OUTCOMES

# Six calls worked by hand: positive 1 of 2 right (one called negative), negative 2 of 2, neutral 1 of 2 (one called
# positive). Per class: positive P=1/2 R=1/2 F1=1/2; negative P=2/3 R=1 F1=4/5; neutral P=1 R=1/2 F1=2/3.
# Macro-F1 = (1/2 + 4/5 + 2/3) / 3 = 59/90. Kappa: observed 4/6; predicted marginals 2,3,1 against true 2,2,2 give
# chance agreement (4 + 6 + 2) / 36 = 1/3, so kappa = (2/3 - 1/3) / (1 - 1/3) = 1/2.
SIX_TRUE = [POS, POS, NEG, NEG, NEU, NEU]
SIX_PRED = [POS, NEG, NEG, NEG, POS, NEU]


def sklearn_scores(y_true, y_pred, labels):
    """What scikit-learn says, with invalid predictions mapped to one extra category as the module does."""
    pred = clean_predictions(y_pred, labels)
    present = [label for label in labels if label in set(y_true) | set(pred)]
    scores = {
        "accuracy": accuracy_score(y_true, pred),
        "macro_f1": f1_score(y_true, pred, labels=present, average="macro", zero_division=0),
        "weighted_f1": f1_score(y_true, pred, labels=list(labels), average="weighted", zero_division=0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns where kappa is undefined; the module returns NaN there
        scores["cohen_kappa"] = cohen_kappa_score(y_true, pred, labels=list(labels) + [INVALID])
    return scores


# --- classification_metrics ------------------------------------------------------------------------------------


def test_six_call_example_worked_by_hand():
    m = classification_metrics(SIX_TRUE, SIX_PRED, SENTIMENTS)
    assert m["n"] == 6 and m["n_invalid"] == 0
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx(59 / 90)
    assert m["weighted_f1"] == pytest.approx(59 / 90)  # equal supports
    assert m["cohen_kappa"] == pytest.approx(0.5)
    assert m["per_class"][POS] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"][NEG] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["per_class"][NEU] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})


def test_six_call_example_matches_sklearn_exactly():
    m = classification_metrics(SIX_TRUE, SIX_PRED, SENTIMENTS)
    want = sklearn_scores(SIX_TRUE, SIX_PRED, SENTIMENTS)
    for key, value in want.items():
        assert m[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    p, r, f, s = precision_recall_fscore_support(SIX_TRUE, SIX_PRED, labels=list(SENTIMENTS), zero_division=0)
    for i, label in enumerate(SENTIMENTS):
        assert m["per_class"][label] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})


def test_invalid_predictions_count_as_wrong():
    # Worked by hand: 2 right of 4; positive F1 = 1, negative and neutral 0, macro 1/3. Kappa with "invalid" as a
    # fourth category: observed 1/2, chance (2*2)/16 = 1/4, kappa = (1/2 - 1/4) / (3/4) = 1/3.
    y_true = [POS, NEG, NEU, POS]
    y_pred = [POS, None, "invalid", POS]
    m = classification_metrics(y_true, y_pred, SENTIMENTS)
    assert m["n"] == 4 and m["n_invalid"] == 2
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(1 / 3)
    assert m["cohen_kappa"] == pytest.approx(1 / 3)
    assert m["per_class"][NEG]["recall"] == 0.0 and m["per_class"][NEG]["support"] == 1


def test_nan_misspelt_and_wrong_case_predictions_are_invalid():
    y_true = pd.Series([POS, NEG, NEU])
    y_pred = pd.Series([np.nan, "Negative", "neutrall"])
    m = classification_metrics(y_true, y_pred, SENTIMENTS)
    assert m["n_invalid"] == 3 and m["accuracy"] == 0.0


def test_never_predicted_class_has_zero_precision_like_sklearn():
    y_true = [RES, RES, FUP, FUP, FUP]
    y_pred = [RES] * 5
    m = classification_metrics(y_true, y_pred, OUTCOMES)
    assert m["per_class"][FUP] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["cohen_kappa"] == pytest.approx(0.0)


def test_macro_f1_leaves_out_a_class_absent_from_truth_and_predictions():
    # Neutral never occurs, so macro-F1 is over positive (tp 1, fn 1: F1 2/3) and negative (tp 2, fp 1: F1 4/5),
    # as scikit-learn's default; counting neutral as 0 would give 22/45 instead.
    y_true, y_pred = [POS, POS, NEG, NEG], [POS, NEG, NEG, NEG]
    m = classification_metrics(y_true, y_pred, SENTIMENTS)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["per_class"][NEU] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_kappa_is_nan_when_undefined_like_sklearn():
    m = classification_metrics([RES, RES], [RES, RES], OUTCOMES)
    assert m["accuracy"] == 1.0 and math.isnan(m["cohen_kappa"])


def test_agreement_aligns_on_index_and_matches_sklearn():
    a = pd.Series([POS, NEG, NEU, POS, NEG, None], index=list("abcdef"))
    b = pd.Series([POS, NEG, POS, POS, NEU, NEU, POS], index=list("fedcbag"))  # reversed order, one extra call
    result = agreement(a, b)
    pairs = pd.concat([a, b], axis=1).dropna()
    assert result["n"] == 5 and result["n_missing"] == 2
    assert result["share_agree"] == pytest.approx((pairs[0] == pairs[1]).mean())
    assert result["kappa"] == pytest.approx(cohen_kappa_score(pairs[0], pairs[1]))
    with pytest.raises(ValueError, match="share no call"):
        agreement(pd.Series([POS], index=["x"]), pd.Series([POS], index=["y"]))
    with pytest.raises(ValueError, match="matched, not positions"):
        agreement([POS], pd.Series([POS]))


def test_newcombe_interval_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10 gives 0.0524 to 0.3339.
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert all(math.isnan(x) for x in newcombe_interval(1, 0, 2, 3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SENTIMENTS), st.sampled_from([*SENTIMENTS, None, "invalid", "Pos"])),
                min_size=1, max_size=40))
def test_matches_sklearn_on_random_predictions(pairs):
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    m = classification_metrics(y_true, y_pred, SENTIMENTS)
    want = sklearn_scores(y_true, y_pred, SENTIMENTS)
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        assert m[key] == pytest.approx(want[key], rel=1e-12, abs=1e-15), key
    if math.isnan(want["cohen_kappa"]):
        assert math.isnan(m["cohen_kappa"])
    else:
        assert m["cohen_kappa"] == pytest.approx(want["cohen_kappa"], rel=1e-9, abs=1e-12)
    assert m["n_invalid"] == sum(p not in SENTIMENTS for p in y_pred)


def test_gold_value_outside_vocabulary_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"'Positive' \(position 1\)"):
        classification_metrics([POS, "Positive"], [POS, POS], SENTIMENTS)


def test_misaligned_series_and_length_mismatch_are_errors():
    a = pd.Series([POS, NEG], index=["t1", "t2"])
    b = pd.Series([NEG, POS], index=["t2", "t1"])
    with pytest.raises(ValueError, match="different indexes"):
        classification_metrics(a, b, SENTIMENTS)
    with pytest.raises(ValueError, match="2 values but y_pred has 3"):
        classification_metrics([POS, NEG], [POS, NEG, NEU], SENTIMENTS)
    with pytest.raises(ValueError, match="empty"):
        classification_metrics([], [], SENTIMENTS)


# --- bootstrap_ci ----------------------------------------------------------------------------------------------


def random_calls(n, seed, labels=SENTIMENTS, error=0.4):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(labels, size=n)
    y_pred = np.where(rng.random(n) < error, rng.choice(labels, size=n), y_true)
    return list(y_true), list(y_pred)


def test_bootstrap_is_deterministic_and_brackets_the_point():
    y_true, y_pred = random_calls(40, seed=1)
    first = bootstrap_ci(y_true, y_pred, "macro_f1", SENTIMENTS, n_boot=500, seed=7)
    assert first == bootstrap_ci(y_true, y_pred, "macro_f1", SENTIMENTS, n_boot=500, seed=7)
    assert first != bootstrap_ci(y_true, y_pred, "macro_f1", SENTIMENTS, n_boot=500, seed=8)
    point, low, high = first
    assert point == pytest.approx(classification_metrics(y_true, y_pred, SENTIMENTS)["macro_f1"])
    assert low < point < high


def test_bootstrap_percentiles_match_a_hand_rolled_bootstrap():
    y_true, y_pred = random_calls(30, seed=5)
    truth, pred = np.array(y_true), np.array(y_pred)
    rng = np.random.default_rng(0)
    accs = [(truth[i] == pred[i]).mean() for i in rng.integers(0, 30, size=(300, 30))]
    _, low, high = bootstrap_ci(y_true, y_pred, "accuracy", SENTIMENTS, n_boot=300, seed=0, alpha=0.1)
    assert (low, high) == pytest.approx(tuple(np.percentile(accs, [5, 95])))


def test_bootstrap_interval_narrows_with_more_calls():
    small = bootstrap_ci(*random_calls(20, seed=2), "accuracy", SENTIMENTS, n_boot=400)
    large = bootstrap_ci(*random_calls(400, seed=2), "accuracy", SENTIMENTS, n_boot=400)
    assert large[2] - large[1] < small[2] - small[1]


def test_bootstrap_rejects_an_unknown_metric():
    with pytest.raises(ValueError, match="'f2'"):
        bootstrap_ci(SIX_TRUE, SIX_PRED, "f2", SENTIMENTS)


# --- align and report_table ------------------------------------------------------------------------------------


def gold_frame():
    return pd.DataFrame(
        {"sentiment": SIX_TRUE, "outcome": [RES, FUP, FUP, RES, RES, FUP]},
        index=pd.Index([f"transcript_{i}" for i in range(1, 7)], name="file"),
    )


def test_align_joins_on_call_id_and_lists_unpredicted_calls():
    gold = gold_frame()
    preds = pd.DataFrame({
        "file": ["transcript_6", "transcript_2", "transcript_99", "transcript_1"],
        "sentiment": [NEU, NEG, POS, POS],
        "outcome": [FUP, FUP, RES, RES],
        "model": "m",
    })
    frame, missing = align(gold, preds)
    assert list(frame.index) == ["transcript_1", "transcript_2", "transcript_6"]  # gold order, extra call dropped
    assert missing == ["transcript_3", "transcript_4", "transcript_5"]
    assert list(frame["sentiment_true"]) == [POS, POS, NEU]
    assert list(frame["sentiment_pred"]) == [POS, NEG, NEU]
    assert list(frame["model"]) == ["m"] * 3


def test_align_without_overlap_names_the_calls():
    preds = pd.DataFrame({"file": ["transcript_1.txt"], "sentiment": [POS], "outcome": [RES]})
    with pytest.raises(ValueError, match=r"transcript_1, transcript_2.*transcript_1\.txt.*without '\.txt'"):
        align(gold_frame(), preds)


def test_align_rejects_duplicate_predictions():
    preds = pd.DataFrame({"file": ["transcript_1", "transcript_1"], "sentiment": [POS, NEG], "outcome": [RES, RES]})
    with pytest.raises(ValueError, match="transcript_1.*one model"):
        align(gold_frame(), preds)


def test_align_on_client_labels_with_shuffled_fake_predictions(client_labels):
    gold = load_labels(client_labels)
    rng = np.random.default_rng(0)
    preds = pd.DataFrame({
        "file": gold.index,
        "sentiment": rng.permutation(gold["sentiment"].to_numpy()),
        "outcome": rng.permutation(gold["outcome"].to_numpy()),
    }).sample(frac=1.0, random_state=0)
    dropped = list(preds["file"].iloc[:3])
    frame, missing = align(gold, preds.iloc[3:])
    assert sorted(missing) == sorted(dropped)
    assert len(frame) == len(gold) - 3
    assert frame["sentiment_true"].equals(gold.loc[frame.index, "sentiment"])
    by_call = preds.set_index("file")
    assert (frame["outcome_pred"] == by_call.loc[frame.index, "outcome"]).all()


def test_report_table_rows_columns_and_missing_calls():
    gold = gold_frame()
    perfect = gold.reset_index()
    partial = pd.DataFrame({"file": gold.index[:4], "sentiment": SIX_PRED[:4], "outcome": list(gold["outcome"])[:4]})
    table = report_table(gold, {"perfect": perfect, "partial": partial}, n_boot=200)
    assert list(table.columns) == ["system", "task", "accuracy", "macro_f1", "macro_f1_low", "macro_f1_high",
                                   "weighted_f1", "kappa", "n", "n_invalid"]
    assert list(zip(table["system"], table["task"])) == [
        ("perfect", "sentiment"), ("perfect", "outcome"), ("partial", "sentiment"), ("partial", "outcome")]
    row = table.set_index(["system", "task"])
    assert row.loc[("perfect", "sentiment"), ["accuracy", "macro_f1", "macro_f1_low", "macro_f1_high"]].tolist() \
        == [1.0, 1.0, 1.0, 1.0]
    # The two calls with no prediction are scored as wrong, not dropped.
    assert row.loc[("partial", "outcome"), "n"] == 6 and row.loc[("partial", "outcome"), "n_invalid"] == 2
    assert row.loc[("partial", "outcome"), "accuracy"] == pytest.approx(4 / 6)
    want = classification_metrics(SIX_TRUE, SIX_PRED[:4] + [None, None], SENTIMENTS)
    assert row.loc[("partial", "sentiment"), "macro_f1"] == pytest.approx(want["macro_f1"])
    assert row.loc[("partial", "sentiment"), "kappa"] == pytest.approx(want["cohen_kappa"])


def test_report_table_names_a_missing_task_column():
    with pytest.raises(ValueError, match="'bad' has no outcome"):
        report_table(gold_frame(), {"bad": pd.DataFrame({"file": ["transcript_1"], "sentiment": [POS]})}, n_boot=10)


# --- confusion -------------------------------------------------------------------------------------------------


def test_confusion_frame_matches_sklearn_with_rows_as_truth():
    frame = confusion_frame(SIX_TRUE, SIX_PRED, SENTIMENTS)
    assert list(frame.index) == list(SENTIMENTS) and list(frame.columns) == list(SENTIMENTS)
    np.testing.assert_array_equal(frame.to_numpy(), confusion_matrix(SIX_TRUE, SIX_PRED, labels=list(SENTIMENTS)))
    assert frame.loc[POS, NEG] == 1 and frame.loc[NEG, POS] == 0


def test_confusion_frame_adds_invalid_column_only_when_needed():
    frame = confusion_frame([POS, NEG], [POS, "???"], SENTIMENTS)
    assert list(frame.columns) == [*SENTIMENTS, INVALID]
    assert frame.loc[NEG, INVALID] == 1 and frame.to_numpy().sum() == 2


def test_plot_confusion_annotates_counts_and_row_shares_in_truth_rows():
    fig, ax = plt.subplots()
    try:
        out = plot_confusion(ax, SIX_TRUE, SIX_PRED, SENTIMENTS, title="six calls")
        assert out is ax
        # Two calls per truth row, so each call is half of its row.
        counts = ["1", "1", "0", "0", "2", "0", "1", "0", "1"]
        shares = {"0": "0%", "1": "50%", "2": "100%"}
        assert [t.get_text() for t in ax.texts] == [f"{c}\n{shares[c]}" for c in counts]
        assert ax.get_ylabel() == "truth" and ax.get_title() == "six calls"
        assert [t.get_text() for t in ax.get_yticklabels()] == list(SENTIMENTS)
    finally:
        plt.close(fig)


def test_plot_confusion_adds_an_invalid_column_with_an_empty_row():
    fig, ax = plt.subplots()
    try:
        plot_confusion(ax, [POS, NEG], [POS, "maybe"], SENTIMENTS)
        assert [t.get_text() for t in ax.get_xticklabels()] == [*SENTIMENTS, INVALID]
        assert ax.texts[3].get_text() == "0\n0%" and ax.texts[7].get_text() == "1\n100%"  # negative -> invalid
        assert ax.texts[-1].get_text() == "0"  # nobody's truth is invalid: no share in that row
    finally:
        plt.close(fig)


# --- calibration -----------------------------------------------------------------------------------------------


def test_brier_score_worked_by_hand_and_against_sklearn():
    # (0.3^2 + 0.2^2 + 0.1^2) = 0.14 and (0.5^2 + 0.5^2 + 0) = 0.5, mean 0.32.
    proba = pd.DataFrame({POS: [0.7, 0.5], NEG: [0.2, 0.5], NEU: [0.1, 0.0]})
    assert brier_score([POS, NEG], proba, SENTIMENTS) == pytest.approx(0.32)
    y_true, _ = random_calls(25, seed=4)
    raw = np.random.default_rng(4).dirichlet([1, 1, 1], size=25)
    proba = pd.DataFrame(raw, columns=list(SENTIMENTS))
    order = sorted(SENTIMENTS)  # scikit-learn wants columns in sorted label order
    want = brier_score_loss(y_true, proba[order].to_numpy(), labels=order, scale_by_half=False)
    assert brier_score(y_true, proba, SENTIMENTS) == pytest.approx(want)


def test_binary_brier_is_twice_the_usual_one():
    proba = pd.DataFrame({RES: [0.9, 0.4, 0.2], FUP: [0.1, 0.6, 0.8]})
    y_true = [RES, RES, FUP]
    usual = brier_score_loss([1, 1, 0], proba[RES].to_numpy())
    assert brier_score(y_true, proba, OUTCOMES) == pytest.approx(2 * usual)


def test_probabilities_must_be_present_and_sum_to_one():
    with pytest.raises(ValueError, match="1 of 2 calls have no probability"):
        brier_score([RES, FUP], pd.DataFrame({RES: [0.5, np.nan], FUP: [0.5, np.nan]}), OUTCOMES)
    with pytest.raises(ValueError, match="not a distribution"):
        brier_score([RES, FUP], pd.DataFrame({RES: [0.5, 0.9], FUP: [0.5, 0.9]}), OUTCOMES)
    with pytest.raises(ValueError, match="no column for follow-up action needed"):
        brier_score([RES], pd.DataFrame({RES: [1.0]}), OUTCOMES)


def calibration_example():
    # Confidences 0.9, 0.9, 0.7, 0.7, 0.5 -> bins (0.8, 1] twice, (0.6, 0.8] twice, (0.4, 0.6] once.
    proba = pd.DataFrame({RES: [0.9, 0.9, 0.7, 0.3, 0.5], FUP: [0.1, 0.1, 0.3, 0.7, 0.5]})
    y_true = [RES, FUP, RES, RES, RES]  # right, wrong, right, wrong, right (the tie picks "issue resolved")
    return y_true, proba


def test_reliability_table_worked_by_hand():
    table = reliability_table(*calibration_example(), OUTCOMES, n_bins=5)
    assert table["n"].tolist() == [0, 0, 1, 2, 2]
    assert table["bin_low"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    used = table[table["n"] > 0]
    assert used["confidence"].tolist() == pytest.approx([0.5, 0.7, 0.9])
    assert used["accuracy"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert table["accuracy"].iloc[:2].isna().all()


def test_reliability_bins_are_closed_on_the_right():
    proba = pd.DataFrame({RES: [0.5, 1.0, 0.0], FUP: [0.5, 0.0, 1.0]})
    table = reliability_table([RES, RES, RES], proba, OUTCOMES, n_bins=2)
    assert table["n"].tolist() == [1, 2]  # confidence 0.5 is in (0, 0.5]; 1.0 is in (0.5, 1]
    assert table["accuracy"].tolist() == [1.0, 0.5]


def test_expected_calibration_error_worked_by_hand():
    # (1 * |1 - 0.5| + 2 * |0.5 - 0.7| + 2 * |0.5 - 0.9|) / 5 = (0.5 + 0.4 + 0.8) / 5 = 0.34
    assert expected_calibration_error(*calibration_example(), OUTCOMES) == pytest.approx(0.34)


def test_one_bin_ece_is_gap_between_mean_confidence_and_accuracy():
    y_true, proba = calibration_example()
    assert expected_calibration_error(y_true, proba, OUTCOMES, n_bins=1) == pytest.approx(abs(3 / 5 - 3.7 / 5))


def test_plot_reliability_draws_one_point_per_used_bin_with_its_calls():
    fig, ax = plt.subplots()
    try:
        table = reliability_table(*calibration_example(), OUTCOMES)
        assert plot_reliability(ax, table) is ax
        curve = next(line for line in ax.lines if line.get_label() == "predicted class")
        assert curve.get_xdata().tolist() == pytest.approx([0.5, 0.7, 0.9])
        assert curve.get_ydata().tolist() == pytest.approx([1.0, 0.5, 0.5])
        assert [t.get_text() for t in ax.texts] == ["n=1", "n=2", "n=2"]
    finally:
        plt.close(fig)


def test_proba_frame_renames_prediction_columns_to_labels():
    preds = pd.DataFrame({"p_issue_resolved": [0.8], "p_follow_up": [0.2], "p_positive": [np.nan]})
    assert proba_frame(preds, "outcome").to_dict("list") == {RES: [0.8], FUP: [0.2]}
    with pytest.raises(ValueError, match="p_negative, p_neutral"):
        proba_frame(preds, "sentiment")


# --- monitoring ------------------------------------------------------------------------------------------------




@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=2, max_value=30))
def test_vectorised_resample_scores_match_sklearn(seed, n):
    from callinsights.evaluation.metrics import resample_scores

    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, 3, (20, n)), rng.integers(0, 4, (20, n))  # code 3 is an invalid answer
    got = {name: resample_scores(t, p, 3, name) for name in ("accuracy", "macro_f1", "weighted_f1", "kappa")}
    for row in range(len(t)):
        truth, pred = np.array(SENTIMENTS)[t[row]], np.array([*SENTIMENTS, INVALID])[p[row]]
        want = sklearn_scores(list(truth), list(pred), SENTIMENTS)  # every metric at once: computed once per row
        for name, scores in got.items():
            assert scores[row] == pytest.approx(want["cohen_kappa" if name == "kappa" else name], abs=1e-12,
                                                nan_ok=True), name


def test_probability_columns_are_those_the_classifier_writes():
    from callinsights.classify.runner import PROBA_COLUMNS as written  # the columns runner writes
    from callinsights.schema import PROBA_COLUMNS

    assert PROBA_COLUMNS == written
