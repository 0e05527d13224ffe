"""Baselines: the majority class and the VADER lexicon baseline on sentences written for the tests."""

from __future__ import annotations

import pandas as pd
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from callinsights.classify.baselines import majority_baseline, words_probe_baseline
from callinsights.text import words
from callinsights.text.words import pending_cues, sentiment_from_compound, vader_baseline
from callinsights.schema import OUTCOMES, SENTIMENTS

RES, FUP = OUTCOMES


def test_majority_predicts_most_frequent_label_for_every_call():
    train = pd.Series(["negative", "neutral", "negative", "positive"], name="sentiment")
    out = majority_baseline(train, ["t1", "t2", "t3"])
    assert out.tolist() == ["negative"] * 3
    assert list(out.index) == ["t1", "t2", "t3"] and out.name == "sentiment"


def test_majority_breaks_ties_by_sort_order_not_row_order():
    first = majority_baseline(pd.Series(["positive", "neutral"]), ["t1"])
    second = majority_baseline(pd.Series(["neutral", "positive"]), ["t1"])
    assert first.iloc[0] == second.iloc[0] == "neutral"


def test_majority_on_a_label_frame_does_each_task():
    gold = pd.DataFrame({"sentiment": ["neutral", "neutral", "positive"], "outcome": [FUP, RES, FUP]},
                        index=["t1", "t2", "t3"])
    out = majority_baseline(gold, gold.index)
    assert out.to_dict("list") == {"sentiment": ["neutral"] * 3, "outcome": [FUP] * 3}


def test_majority_ignores_missing_and_rejects_empty():
    assert majority_baseline(pd.Series([None, "positive", None]), ["t1"]).iloc[0] == "positive"
    with pytest.raises(ValueError, match="no label to count"):
        majority_baseline(pd.Series([], dtype=object), ["t1"])


@pytest.mark.parametrize("compound, label", [
    (0.05, "positive"), (0.9, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.0499, "neutral"),
    (-0.05, "negative"), (-0.7, "negative"),
])
def test_compound_thresholds(compound, label):
    assert sentiment_from_compound(compound) == label


TEXTS = pd.Series(
    {
        "happy": "Oh wonderful, thank you so much! You have been amazing, I really appreciate it.",
        "angry": "This is ridiculous. I am furious, this is the worst service and nobody helps me.",
        "plain": "My member ID is 48213. I am calling about the claim from March.",
        "waiting": "Okay. So I will wait for the callback from the review team.",
        "done": "Great, that is all I needed. Have a good day.",
    }
)


def test_vader_baseline_labels_clear_cases():
    out = vader_baseline(TEXTS)
    assert list(out.columns) == ["sentiment", "outcome", "compound"]
    assert list(out.index) == list(TEXTS.index)
    assert out.loc["happy", "sentiment"] == "positive"
    assert out.loc["angry", "sentiment"] == "negative"
    assert out.loc["plain", "sentiment"] == "neutral"
    assert out.loc["waiting", "outcome"] == FUP
    assert out.loc["done", "outcome"] == RES
    assert set(out["sentiment"]) <= set(SENTIMENTS) and set(out["outcome"]) <= set(OUTCOMES)


def test_vader_compound_is_vaders_own_score():
    out = vader_baseline(TEXTS)
    analyzer = SentimentIntensityAnalyzer()
    assert out["compound"].tolist() == [analyzer.polarity_scores(t)["compound"] for t in TEXTS]


def test_missing_text_is_neutral_and_resolved():
    out = vader_baseline(pd.Series([None, ""], index=["a", "b"]))
    assert out["sentiment"].tolist() == ["neutral", "neutral"]
    assert out["outcome"].tolist() == [RES, RES]


def test_analyzer_is_built_once(monkeypatch):
    built = []

    class Counting(SentimentIntensityAnalyzer):
        def __init__(self):
            built.append(1)
            super().__init__()

    import vaderSentiment.vaderSentiment as vs

    monkeypatch.setattr(vs, "SentimentIntensityAnalyzer", Counting)
    words.vader_analyzer.cache_clear()
    try:
        vader_baseline(TEXTS)
        vader_baseline(TEXTS)
        assert built == [1]
    finally:
        words.vader_analyzer.cache_clear()


@pytest.mark.parametrize("text, cues", [
    ("Can you call me back tomorrow?", ["call me back", "tomorrow"]),
    ("So it's being escalated and I'll hear back in 5 business days.", ["escalat", "hear back", "business days"]),
    ("I'll send the form and wait for the follow-up.", ["send", "wait", "follow-up"]),
    ("Perfect, it's fixed now. Thanks!", []),
    ("My email is on file.", []),  # "mail" only at a word start
])
def test_pending_cues(text, cues):
    assert pending_cues(text) == cues


def test_words_probe_baseline_learns_words_held_out():
    happy = ["thank you so much this is wonderful news", "great, I really appreciate it, wonderful",
             "wonderful, thank you, that is great news"]
    angry = ["this is ridiculous, I am furious", "ridiculous, nobody called me back, furious",
             "I am furious, this is a ridiculous mess"]
    texts = pd.Series({f"c{i}": t for i, t in enumerate((happy + angry) * 2)})
    labels = ["positive"] * 3 + ["negative"] * 3
    gold = pd.DataFrame({"sentiment": labels * 2, "outcome": ["issue resolved", "follow-up action needed"] * 6},
                        index=texts.index)
    held = words_probe_baseline(texts, gold)
    assert list(held.index) == list(gold.index)
    assert (held["sentiment"] == gold["sentiment"]).mean() >= 0.8
