"""The probe: fitting, cross-validated predictions, and labelled calls never echoing their own label."""

import numpy as np
import pandas as pd
import pytest

from callinsights.probe import cross_validated_predictions, fit_probe, last_turns, probe_probabilities


def clusters(n_per_class=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = {"positive": [3, 0, 0, 0], "negative": [0, 3, 0, 0], "neutral": [0, 0, 3, 0]}
    rows, labels = [], []
    for label, centre in centres.items():
        rows.append(rng.normal(centre, 0.5, size=(n_per_class, 4)))
        labels += [label] * n_per_class
    return np.vstack(rows), pd.Series(labels)


def test_probe_separates_clear_clusters_held_out():
    features, labels = clusters()
    held = cross_validated_predictions(features, labels)
    assert (held["prediction"] == labels).mean() >= 0.9
    assert np.allclose(held[["negative", "neutral", "positive"]].sum(axis=1), 1.0)


def test_a_mislabelled_call_is_not_echoed_back():
    features, labels = clusters()
    labels = labels.copy()
    labels.iloc[0] = "negative"  # a positive-looking call labelled negative
    proba, held_out = probe_probabilities(features, np.ones(len(labels), bool), labels,
                                          ["positive", "negative", "neutral"])
    assert held_out
    # Held out, the probe reads the call's features, not its (wrong) label.
    assert proba.iloc[0].idxmax() == "positive"


def test_unlabelled_calls_get_the_fitted_probe():
    features, labels = clusters()
    labelled = np.zeros(len(labels), bool)
    labelled[::2] = True
    proba, _ = probe_probabilities(features, labelled, labels[labelled].reset_index(drop=True),
                                   ["positive", "negative", "neutral"])
    assert (proba[~labelled].idxmax(axis=1).to_numpy() == labels[~labelled].to_numpy()).mean() >= 0.9


def test_too_few_labels_is_a_clear_error():
    features, labels = clusters(2)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(features[:4], labels[:4])


def test_a_class_with_one_call_falls_back_to_the_fitted_probe():
    features, labels = clusters()
    labels = labels.copy()
    labels.iloc[10:19] = "positive"  # leaves a single negative
    _, held_out = probe_probabilities(features, np.ones(len(labels), bool), labels,
                                      ["positive", "negative", "neutral"])
    assert not held_out


def test_last_turns_keeps_the_last_lines():
    assert last_turns("a\nb\nc\nd", 2) == "c\nd"
