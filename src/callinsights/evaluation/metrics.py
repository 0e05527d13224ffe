"""Scoring predictions against gold labels: the inputs, accuracy, F1, Cohen's kappa and confusion counts.

The scores are scikit-learn's. What is added is the treatment of answers that are not labels (``None``, ``NaN``,
``"invalid"``, a misspelling, a call the model skipped): they are never dropped but become :data:`INVALID`, count as
wrong (they lower the recall of the call's true class and are nobody's true positive) and are one more category for
kappa, so a model cannot look better by failing to answer. A gold value outside the vocabulary is a data error.

Nothing of the model side is imported, so scoring a predictions file never loads a language model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from callinsights.schema import INVALID, OUTCOMES, SENTIMENTS, TASKS



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
        raise ValueError("labels is empty; pass the task's vocabulary, e.g. callinsights.data.labels.SENTIMENTS")
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
            f"read them with callinsights.data.labels.load_labels, which lower-cases and checks them"
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


def _named(y_true: Any, y_pred: Any, labels: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Checked vocabulary, gold labels and predictions with every non-label replaced by :data:`INVALID`."""
    labels = check_labels(labels)
    a, b = paired(y_true, y_pred)
    truth = np.array(labels, dtype=object)[encode_truth(a, labels)]
    pred = np.array(labels + [INVALID], dtype=object)[encode_pred(b, labels)]
    return labels, truth, pred


def kappa(a: Any, b: Any, labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa (scikit-learn), NaN when undefined (both raters give one and the same label throughout)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the undefined case warns; NaN already says it
        return float(cohen_kappa_score(a, b, labels=labels, replace_undefined_by=np.nan))


def classification_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, F1 and Cohen's kappa of predictions against gold labels (scikit-learn).

    Invalid predictions (anything not in ``labels``) count as wrong: they lower the recall of the call's true class
    and are nobody's true positive. Kappa treats ``"invalid"`` as one more category. A class that is never predicted
    has precision 0 (``zero_division=0``). Macro-F1 averages the classes that occur in the gold labels or the (valid)
    predictions, which is scikit-learn's default ``f1_score(..., average="macro")``; with every class present, as in
    the client's labels, that is all of ``labels``.

    Args:
        y_true: Gold label per call; every value must be in ``labels``.
        y_pred: Predicted label per call, in the same order (two Series must share their index).
        labels: The task's vocabulary, e.g. :data:`callinsights.data.labels.SENTIMENTS`.

    Returns:
        ``n``, ``n_invalid``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``cohen_kappa`` (NaN when undefined) and
        ``per_class``: ``{label: {precision, recall, f1, support}}``. Plain Python numbers, ready for JSON.

    Raises:
        ValueError: Lengths differ, inputs are empty, or a gold value is not in ``labels``.
    """
    labels, truth, pred = _named(y_true, y_pred, labels)
    present = [label for label in labels if label in set(truth) | set(pred)]
    precision, recall, f1, support = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {
        "n": len(truth),
        "n_invalid": int((pred == INVALID).sum()),
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, pred, labels=labels, average="weighted", zero_division=0)),
        "cohen_kappa": kappa(truth, pred, labels + [INVALID]),
        "per_class": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)
        },
    }


def confusion_frame(y_true: Any, y_pred: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Counts of each (gold, predicted) pair (scikit-learn's ``confusion_matrix``): rows truth, columns prediction.

    Args:
        y_true: Gold label per call.
        y_pred: Predicted label per call.
        labels: The task's vocabulary, which fixes the order of rows and columns.

    Returns:
        Integer frame, index named ``truth`` and columns ``predicted``; an ``invalid`` column is added only when
        some prediction is not a label.
    """
    labels, truth, pred = _named(y_true, y_pred, labels)
    shown = labels + [INVALID] if (pred == INVALID).any() else labels
    counts = confusion_matrix(truth, pred, labels=shown)[: len(labels)]
    return pd.DataFrame(counts, index=pd.Index(labels, name="truth"), columns=pd.Index(shown, name="predicted"))
