"""From a model's raw output to labels: parsing generated answers, calibrating answer log-probabilities."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from scipy.special import softmax

from callinsights.classify.settings import CALIBRATIONS
from callinsights.schema import PROBA_COLUMNS

# --- parsing generated answers ------------------------------------------------------------------------------------

_SENTIMENT_WORDS = {"positive": "positive", "negative": "negative", "neutral": "neutral"}
_OUTCOME_PATTERNS = [
    (re.compile(r"follow[\s-]*up|pending|unresolved|escalat", re.I), "follow-up action needed"),
    (re.compile(r"\bresolved\b", re.I), "issue resolved"),
]
# Negated answers name the other value: "not resolved" is pending, "no follow-up needed" is resolved.
_NEGATED_OUTCOME = [
    (re.compile(r"\bnot\s+(?:yet\s+|fully\s+)?resolved\b", re.I), "pending"),
    (re.compile(r"\bno\s+(?:further\s+)?follow[\s-]*up\b", re.I), "resolved"),
]


def parse_answer(text: str) -> tuple[str | None, str | None]:
    """Read sentiment and outcome from a generated answer.

    Accepts the requested ``sentiment: X`` / ``outcome: Y`` lines with any case, spacing, markdown or quoting, and
    JSON-like answers. A field is None when the answer does not name exactly one allowed value for it -- an
    ambiguous answer ("positive or neutral", an echoed ``resolved|follow-up``, "not positive", two lines that
    disagree) is not guessed.

    Args:
        text: The model's raw answer.

    Returns:
        ``(sentiment, outcome)``, each a project label or None.
    """
    cleaned = re.sub(r"[*_`\"'{}]", " ", text or "").lower()
    fields: dict[str, str] = {}
    # A field's value runs to the end of its line or to the next field name (JSON puts both on one line); it is
    # not cut at a comma, so an echoed "positive, negative or neutral" stays ambiguous instead of reading "positive".
    parts = re.split(r"\b(sentiment|outcome)\s*[:=-]", cleaned)
    for name, value in zip(parts[1::2], parts[2::2]):
        fields[name] = fields.get(name, "") + " " + value.split("\n")[0]
    sentiment_text = fields.get("sentiment", "")
    found = {v for w, v in _SENTIMENT_WORDS.items() if re.search(rf"\b{w}\b", sentiment_text)}
    negated = re.search(r"\bnot\s+(?:positive|negative|neutral)\b", sentiment_text)
    sentiment = found.pop() if len(found) == 1 and not negated else None
    outcome_text = fields.get("outcome", "")
    for pattern, replacement in _NEGATED_OUTCOME:
        outcome_text = pattern.sub(replacement, outcome_text)
    hits = {label for pattern, label in _OUTCOME_PATTERNS if pattern.search(outcome_text)}
    outcome = hits.pop() if len(hits) == 1 else None
    return sentiment, outcome


# --- probabilities -------------------------------------------------------------------------------------------------


def calibrated_probabilities(logprobs: pd.DataFrame, calibration: str,
                             reference: dict[str, float] | None = None) -> pd.DataFrame:
    """Probabilities per label from answer log-probabilities.

    Args:
        logprobs: One row per call, one column per label of one task.
        calibration: ``none`` (softmax of the raw log-probabilities), ``reference`` (each label's mean over the
            fixed reference calls subtracted first, see :mod:`callinsights.classify.score_reference`) or ``batch`` (each label's
            mean over these calls subtracted: a label the model prefers for every call gains nothing from it, but
            each call's label depends on the others).
        reference: For ``reference``: label -> mean log-probability over the reference calls.

    Returns:
        Same shape, rows summing to one.
    """
    values = logprobs.to_numpy(dtype=float)
    if calibration == "reference":
        if reference is None:
            raise ValueError("calibration 'reference' needs the reference means (see callinsights.classify.score_reference)")
        values = values - np.array([[reference[label] for label in logprobs.columns]])
    elif calibration == "batch":
        values = values - values.mean(axis=0, keepdims=True)
    elif calibration != "none":
        raise ValueError(f"calibration {calibration!r} is not one of: {', '.join(CALIBRATIONS)}")
    return pd.DataFrame(softmax(values, axis=1), index=logprobs.index, columns=logprobs.columns)


def assign_probabilities(frame: pd.DataFrame, task: str, proba: pd.DataFrame) -> None:
    """Write one task's probabilities, chosen label and its confidence into the predictions frame (in place)."""
    for label in proba.columns:
        frame[PROBA_COLUMNS[label]] = proba[label].to_numpy()
    frame[task] = proba.idxmax(axis=1).to_numpy()
    frame[f"confidence_{task}"] = proba.max(axis=1).to_numpy()


def round_logprobs(output: dict) -> str:
    """Stored answer log-probabilities as a short JSON string for the ``raw`` column."""
    return json.dumps({task: {k: round(v, 4) for k, v in lp.items()} for task, lp in output.items()})
