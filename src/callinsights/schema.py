"""Tasks, their labels and the predictions table's columns, so no layer imports the classifier for a name."""

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

#: The columns of ``results/predictions.csv``, in order. ``windowed``: the call was too long for the model's context and
#: was read from its end that fits; ``dropped_turns``: its turns not read whole (left out, or the last one cut).
PREDICTION_COLUMNS = [
    "file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome", *PROBA_COLUMNS.values(),
    "valid", "model", "engine", "method", "prompt_version", "calibration", "side", "windowed", "dropped_turns",
    "prompt_tokens", "seconds", "cached", "model_hash", "held_out", "evidence_sentiment", "evidence_outcome", "raw",
]
