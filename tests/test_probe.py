"""The probe: features from per-turn states, fitting, held-out predictions that never echo their own label."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from callinsights.classify.probe import call_features, cross_validated_probabilities, fit_probe, turn_features

CLASSES = ["negative", "neutral", "positive"]


def clusters(n_per_class=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = {"positive": [3, 0, 0, 0], "negative": [0, 3, 0, 0], "neutral": [0, 0, 3, 0]}
    rows, labels = [], []
    for label, centre in centres.items():
        rows.append(rng.normal(centre, 0.5, size=(n_per_class, 4)))
        labels += [label] * n_per_class
    return np.vstack(rows), pd.Series(labels)


def test_call_features_weigh_turns_by_their_tokens():
    # Two turns of 1 and 3 tokens: the whole-call part is the token-weighted mean, the ending the last turns.
    turns = np.array([[0.0, 4.0, 1], [4.0, 0.0, 3]])
    features = call_features(turns, last=1)
    assert features.tolist() == [3.0, 1.0, 4.0, 0.0]
    assert turn_features(turns).shape == (2, 4)


def test_probe_separates_clear_clusters_held_out():
    features, labels = clusters()
    held, scheme = cross_validated_probabilities(features, labels)
    assert scheme == "4-fold"
    assert (held.idxmax(axis=1) == labels).mean() >= 0.9
    assert np.allclose(held[CLASSES].sum(axis=1), 1.0)


def test_a_mislabelled_call_is_not_echoed_back():
    features, labels = clusters()
    labels = labels.copy()
    labels.iloc[0] = "negative"  # a positive-looking call labelled negative
    held, _ = cross_validated_probabilities(features, labels)
    # Held out, the probe reads the call's features, not its (wrong) label.
    assert held.iloc[0].idxmax() == "positive"


def test_a_class_with_one_call_is_held_out_by_leave_one_out():
    features, labels = clusters()
    labels = labels.copy()
    labels.iloc[10:19] = "positive"  # leaves a single negative call, row 19
    held, scheme = cross_validated_probabilities(features, labels)
    assert scheme == "leave-one-out"
    # Its own label was never seen when it was predicted, so the probe cannot give it back.
    assert held.loc[19, "negative"] == 0.0


def test_augmented_copies_of_a_test_call_never_enter_its_training_fold():
    features, labels = clusters()
    # Five copies of call 0 (positive) labelled negative: had they been fitted while call 0 was held out, the
    # probe would have learnt "this exact call is negative" and said so.
    copies = (np.repeat(features[:1], 5, axis=0), np.array(["negative"] * 5), np.zeros(5, dtype=int))
    held, _ = cross_validated_probabilities(features, labels, augmented=copies)
    assert held.iloc[0].idxmax() == "positive"
    # The copies do pull: fitted with call 0's own fold, they raise its probability of negative well above that.
    leaked = fit_probe(np.vstack([features, copies[0]]), pd.concat([labels, pd.Series(copies[1])]))
    assert leaked.predict_proba(features[:1])[0][list(leaked.classes_).index("negative")] > held.iloc[0]["negative"] + 0.1


def test_scaler_fitted_on_every_call_is_used():
    features, labels = clusters()
    scaler = StandardScaler().fit(np.vstack([features, features * 10]))
    probe = fit_probe(features, labels, scaler)
    assert probe.scaler is scaler
    assert probe.contributions(features).shape == (len(labels), 3)


def test_binary_contributions_have_one_column_per_class():
    features, labels = clusters()
    binary = labels.where(labels == "positive", "other")
    probe = fit_probe(features, binary)
    support = probe.contributions(features)
    assert support.shape == (len(labels), 2)
    chosen = np.array(probe.classes_)[support.argmax(axis=1)]
    assert (chosen == binary.to_numpy()).mean() >= 0.9


def test_too_few_labels_is_a_clear_error():
    features, labels = clusters(2)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(features[:4], labels[:4])
