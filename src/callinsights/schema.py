"""The project's vocabulary, in one place: tasks and their labels, and the columns of the predictions table.

Every layer reads these names from here, so the label set or a column can change in one line, and the evaluation
and analysis layers never have to import the classifier to learn a column name.
"""

from __future__ import annotations

SENTIMENTS = ("positive", "negative", "neutral")
OUTCOMES = ("issue resolved", "follow-up action needed")
#: Each task and its labels, in the order tables and plots show them.
TASKS = {"sentiment": SENTIMENTS, "outcome": OUTCOMES}

#: What an unusable prediction is called in tables and what a metric callable sees in its place.
INVALID = "invalid"

#: Column of ``results/predictions.csv`` holding each label's probability.
PROBA_COLUMNS = {
    "positive": "p_positive",
    "negative": "p_negative",
    "neutral": "p_neutral",
    "issue resolved": "p_issue_resolved",
    "follow-up action needed": "p_follow_up",
}

#: The columns of ``results/predictions.csv``, in order. ``windowed``: the call was longer than the model's context and
#: was read from its last turns that fit; ``dropped_turns``: how many of its turns were left out
#: (:mod:`callinsights.classify.runner`).
PREDICTION_COLUMNS = [
    "file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome", *PROBA_COLUMNS.values(),
    "valid", "model", "engine", "method", "prompt_version", "calibration", "side", "windowed", "dropped_turns",
    "prompt_tokens", "seconds", "cached", "model_hash", "held_out", "evidence_sentiment", "evidence_outcome", "raw",
]
