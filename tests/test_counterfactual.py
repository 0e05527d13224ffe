"""The probe experiments' tools (benchmarks/probe_experiments.py): topic swaps, flip rates, per-driver accuracy, and
counterfactual copies that never leak a held-out call."""

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from benchmarks.probe_experiments import (Variant, accuracy_by_driver, counterfactuals, fit_variant, flip_table,
                                          has_topic, held_out_repeats, swap_topic)


def test_a_swap_moves_every_topic_word_at_once_and_keeps_case():
    text = "My Claim was denied.\nThe claims team and my appointment"
    once = swap_topic(text, 1)
    assert once == "My Appointment was denied.\nThe appointments team and my password"
    # Four topics: four shifts come back to the start, and the inverse shift undoes a swap.
    assert swap_topic(swap_topic(text, 1), 3) == text
    assert swap_topic(text, 0) == text


def test_aliases_are_written_in_the_target_topics_words():
    assert swap_topic("I need a prior authorization for my login", 1) == "I need a claim for my pre-authorization"
    assert swap_topic("the pre-authorization", 2) == "the appointment"


def test_words_inside_other_words_are_left_alone():
    assert not has_topic("I am disclaiming nothing; reclaimed")
    assert swap_topic("disclaimer", 1) == "disclaimer"


def test_counterfactuals_list_three_swaps_per_topical_call():
    table = counterfactuals({"a": "my claim please", "b": "thank you so much"})
    assert table["file"].tolist() == ["a", "a", "a"]
    assert table["text"].tolist() == ["my appointment please", "my password please", "my pre-authorization please"]


def test_flip_table_counts_changed_labels_with_an_interval():
    original = pd.DataFrame({"sentiment": ["positive", "neutral"], "outcome": ["issue resolved"] * 2},
                            index=["a", "b"])
    swapped = pd.DataFrame({"file": ["a", "a", "b", "b"],
                            "sentiment": ["positive", "negative", "neutral", "neutral"],
                            "outcome": ["issue resolved"] * 4})
    table = flip_table(original, swapped).set_index("task")
    assert table.loc["sentiment", "flips"] == 1 and table.loc["sentiment", "flip_rate"] == 0.25
    assert table.loc["outcome", "flips"] == 0
    assert table.loc["sentiment", "low"] < 0.25 < table.loc["sentiment", "high"]


def test_accuracy_by_driver_shows_a_topic_shortcut():
    # A "probe" that says neutral for every claim and positive elsewhere: right on claims, wrong on logins.
    gold = pd.DataFrame({"sentiment": ["neutral", "neutral", "neutral", "positive"],
                         "outcome": ["issue resolved"] * 4}, index=list("abcd"))
    predicted = pd.DataFrame({"sentiment": ["neutral", "neutral", "positive", "positive"],
                              "outcome": ["issue resolved"] * 4}, index=list("abcd"))
    drivers = pd.Series({"a": "claim", "b": "claim", "c": "login", "d": "login"})
    table = accuracy_by_driver(gold, predicted, drivers).set_index(["driver", "task"])
    assert table.loc[("claim", "sentiment"), "accuracy"] == 1.0
    assert table.loc[("login", "sentiment"), "accuracy"] == 0.5
    assert table.loc[("login", "sentiment"), "readers_neutral"] == 0.5
    assert table.loc[("login", "sentiment"), "predicted_neutral"] == 0.0


def test_calls_outside_every_shift_get_one_swap_in_turn():
    texts = {"a": "my claim", "b": "my claim", "c": "my claim", "d": "thanks", "e": "my claim"}
    table = counterfactuals(texts, every_shift={"e"})
    assert table.groupby("file")["shift"].apply(list).to_dict() == {"a": [1], "b": [2], "c": [3], "e": [1, 2, 3]}


def clusters(n_per_class=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = {"positive": [3, 0, 0, 0], "negative": [0, 3, 0, 0], "neutral": [0, 0, 3, 0]}
    rows = [rng.normal(centre, 0.5, size=(n_per_class, 4)) for centre in centres.values()]
    return np.vstack(rows), pd.Series([label for label in centres for _ in range(n_per_class)])


def test_counterfactual_copies_of_a_held_out_call_never_enter_its_training_fold():
    features, labels = clusters()
    # Five copies of call 0 (positive) labelled negative: had they been fitted while call 0 was held out, the
    # probe would have learnt "this exact call is negative" and said so.
    copies = (np.repeat(features[:1], 5, axis=0), np.zeros(5, dtype=int))
    classes = sorted(labels.unique())
    negative = classes.index("negative")
    flipped = labels.copy()
    flipped.iloc[0] = "negative"  # the copies take their original's label: make it the wrong one
    variant = Variant("copies", augment=True)
    for _, proba in held_out_repeats(features, np.arange(len(labels)), flipped, variant, copies, repeats=3):
        assert classes[proba[0].argmax()] == "positive"
        held = proba[0, negative]
    # The copies do pull: fitted with call 0's own fold, they raise its probability of negative well above that.
    scaler = StandardScaler().fit(features)
    leaked = fit_variant(features, flipped, scaler, 0, (copies[0], np.array(["negative"] * 5)))
    assert leaked.predict_proba(features[:1])[0][list(leaked.classes_).index("negative")] > held + 0.1
