"""The probe: features from per-turn states, fitting, held-out predictions that never echo their own label."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from callinsights.classify.probe import fit_from_outputs
from callinsights.classify.probe import call_features, cross_validated_probabilities, fit_probe, turn_features
from callinsights.classify.probe import NOT_LABELLED, label_with_probe
from callinsights.schema import OUTCOMES, SENTIMENTS

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


def test_scaler_fitted_on_every_call_is_used():
    features, labels = clusters()
    scaler = StandardScaler().fit(np.vstack([features, features * 10]))
    probe = fit_probe(features, labels, scaler)
    assert probe.scaler is scaler


def test_too_few_labels_is_a_clear_error():
    features, labels = clusters(2)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(features[:4], labels[:4])


class _CountedTurns:
    """A call's stored turn states that count how often they are converted to an array."""

    def __init__(self, rows: np.ndarray):
        self.rows, self.conversions = rows, 0

    def __array__(self, dtype=None, copy=None):
        self.conversions += 1
        return self.rows if dtype is None else self.rows.astype(dtype)


def test_labelling_with_a_fitted_probe_converts_each_calls_turn_states_once():
    # label_with_probe converted every call's states twice (once for the features, once for the evidence).
    rng = np.random.default_rng(0)
    sentiments, outcomes = list(SENTIMENTS) * 8, list(OUTCOMES) * 12
    ids = [f"c{i}" for i in range(24)]
    turns = {cid: np.hstack([rng.normal(size=(3, 4)) + [SENTIMENTS.index(s), OUTCOMES.index(o), 0, 0],
                             np.full((3, 1), 5.0)]) for cid, s, o in zip(ids, sentiments, outcomes)}
    texts = {cid: f"turn one of {cid}\nturn two\nturn three" for cid in ids}
    gold = pd.DataFrame({"sentiment": sentiments, "outcome": outcomes}, index=pd.Index(ids, name="file"))
    fitted = fit_from_outputs({cid: {"turns": t.tolist()} for cid, t in turns.items()}, texts, gold.iloc[:18],
                              "labels.csv")
    new = [f"new{i}" for i in range(6)]  # unlabelled calls, labelled by the probe fitted on all labelled ones
    texts.update({n: texts[cid] + " again" for n, cid in zip(new, ids[18:])})
    counted = {n: _CountedTurns(turns[cid]) for n, cid in zip(new, ids[18:])}
    plain = pd.DataFrame({"file": new, "raw": [{"turns": turns[cid].tolist()} for cid in ids[18:]]})
    frame = pd.DataFrame({"file": new, "raw": [{"turns": counted[n]} for n in new]})

    label_with_probe(frame, texts, fitted)
    label_with_probe(plain, texts, fitted)

    assert [t.conversions for t in counted.values()] == [1] * len(new)
    pd.testing.assert_frame_equal(frame, plain)
    assert (frame["held_out"] == NOT_LABELLED).all() and frame["evidence_sentiment"].str.startswith("turn").all()
