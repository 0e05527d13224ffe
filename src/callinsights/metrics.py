"""Accuracy, F1, Cohen's kappa and confusion counts of predictions against gold labels, from scikit-learn.

The one thing added to scikit-learn is the treatment of invalid answers (:mod:`callinsights.checks`): they count
as wrong, lower the recall of the call's true class, are nobody's true positive, and are one more category for kappa.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from callinsights.checks import INVALID, check_labels, encode_pred, encode_truth, paired


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
        labels: The task's vocabulary, e.g. :data:`callinsights.labels.SENTIMENTS`.

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
