"""The inputs of every score: one value per call, the task's vocabulary, and invalid answers as their own class.

A prediction that is not one of the task's labels (``None``, ``NaN``, ``"invalid"``, a misspelling, a call the model
skipped) is never dropped: it becomes :data:`INVALID`, counts as wrong and is reported, so a model cannot look better
by failing to answer. A gold value outside the vocabulary is a data error and raises.

This module imports nothing of the model side, so scoring a predictions file never loads a language model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from callinsights.labels import OUTCOMES, SENTIMENTS, TASKS

#: What an unusable prediction is called in tables and what a metric callable sees in its place.
INVALID = "invalid"

#: Column of ``results/predictions.csv`` that holds each label's probability (``p_issue_resolved``, ...).
# The lead moves this beside the label vocabulary; classify.PROBA_COLUMNS must equal it (a test checks).
PROBA_COLUMNS = {"positive": "p_positive", "negative": "p_negative", "neutral": "p_neutral",
                 "issue resolved": "p_issue_resolved", "follow-up action needed": "p_follow_up"}


def values(x: Any, name: str) -> np.ndarray:
    """A 1-D object array of the values in ``x`` (list, array or Series)."""
    if isinstance(x, pd.DataFrame):
        raise ValueError(f"{name} is a DataFrame; pass one column of it (one value per call)")
    arr = np.asarray(x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else list(x), dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per call); got shape {arr.shape}")
    return arr


def paired(y_true: Any, y_pred: Any, true_name: str = "y_true", pred_name: str = "y_pred"
           ) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as arrays of equal, non-zero length.

    Two Series must share their index: pairing them by position when the calls are in different orders would
    score each prediction against another call's label without any sign of it.
    """
    if isinstance(y_true, pd.Series) and isinstance(y_pred, pd.Series) and not y_true.index.equals(y_pred.index):
        raise ValueError(
            f"{true_name} and {pred_name} are Series with different indexes, so calls would be paired by position; "
            f"reindex one on the other (e.g. `{pred_name}.reindex({true_name}.index)`) or use align()"
        )
    a, b = values(y_true, true_name), values(y_pred, pred_name)
    if len(a) != len(b):
        raise ValueError(f"{true_name} has {len(a)} values but {pred_name} has {len(b)}; pass one of each per call")
    if len(a) == 0:
        raise ValueError(f"{true_name} and {pred_name} are empty; there is nothing to score")
    return a, b


def check_labels(labels: Sequence[str]) -> list[str]:
    """The vocabulary as a list, refused when empty, repeated or holding :data:`INVALID`."""
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty; pass the task's vocabulary, e.g. callinsights.labels.SENTIMENTS")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels {labels} repeat a value; pass each label once")
    if INVALID in labels:
        raise ValueError(f"labels {labels} include {INVALID!r}, which is reserved for unusable predictions")
    return labels


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def encode_truth(values_: np.ndarray, labels: list[str], name: str = "y_true") -> np.ndarray:
    """Label positions; a truth value outside the vocabulary is a data error, not a wrong answer."""
    index = {label: i for i, label in enumerate(labels)}
    bad = [(i, v) for i, v in enumerate(values_) if _is_missing(v) or v not in index]
    if bad:
        shown = ", ".join(f"{v!r} (position {i})" for i, v in bad[:5])
        raise ValueError(
            f"{name} has {len(bad)} value(s) outside {labels}: {shown}. Gold labels must be exactly these values; "
            f"read them with callinsights.labels.load_labels, which lower-cases and checks them"
        )
    return np.array([index[v] for v in values_], dtype=np.int64)


def encode_pred(values_: np.ndarray, labels: list[str]) -> np.ndarray:
    """Label positions, with ``len(labels)`` (the :data:`INVALID` class) for anything that is not a label."""
    index = {label: i for i, label in enumerate(labels)}
    invalid = len(labels)
    return np.array([invalid if _is_missing(v) else index.get(v, invalid) for v in values_], dtype=np.int64)


def clean_predictions(y_pred: Any, labels: Sequence[str]) -> np.ndarray:
    """Predictions with every value outside ``labels`` replaced by :data:`INVALID`.

    Args:
        y_pred: One prediction per call.
        labels: The task's vocabulary.

    Returns:
        An object array of labels and ``"invalid"``.
    """
    labels = check_labels(labels)
    codes = encode_pred(values(y_pred, "y_pred"), labels)
    return np.array(labels + [INVALID], dtype=object)[codes]


def infer_labels(y_true: np.ndarray) -> list[str]:
    """The project's vocabulary the gold values belong to (so named metrics need no ``labels`` argument)."""
    present = {v for v in y_true if not _is_missing(v)}
    for vocabulary in TASKS.values():
        if present and present <= set(vocabulary):
            return list(vocabulary)
    raise ValueError(
        f"cannot tell the task from the gold values {sorted(map(str, present))}: they are not all in "
        f"{list(SENTIMENTS)} or {list(OUTCOMES)}; pass labels= explicitly"
    )


def by_call(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A frame indexed by call id: its ``file`` column when it has one, else its index; one row per call."""
    if "file" in frame.columns:
        frame = frame.set_index("file")
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise ValueError(
            f"{name} has {len(dup)} call(s) more than once, e.g. {', '.join(map(str, dup[:5]))}; keep one row per "
            f"call (select one model, engine and method first)"
        )
    return frame
