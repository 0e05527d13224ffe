"""Counterfactual topic swaps, flip rates and per-driver accuracy."""

import pandas as pd

from callinsights.text.counterfactual import counterfactuals, has_topic, swap_topic
from callinsights.evaluation.robustness import accuracy_by_driver, flip_table


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
