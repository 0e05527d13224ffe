"""Calibration of the predicted probabilities: Brier score, reliability per confidence band, and its diagram.

The scores come from scikit-learn (``brier_score_loss``, ``calibration_curve``, ``CalibrationDisplay``); what is added
is reading a task's probability columns from a predictions table and checking that they form a distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibrationDisplay, calibration_curve
from sklearn.metrics import brier_score_loss

from callinsights.schema import TASKS
from callinsights.evaluation.metrics import by_call, check_labels, encode_truth, values
from callinsights.schema import PROBA_COLUMNS


def proba_frame(preds: pd.DataFrame, task: str) -> pd.DataFrame:
    """A task's probability columns from a predictions table, renamed to the labels they belong to.

    Args:
        preds: Rows of ``results/predictions.csv``.
        task: ``"sentiment"`` or ``"outcome"``.

    Returns:
        One column per label (``positive``, ``negative``, ``neutral``), same index as ``preds``.
    """
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    columns = {label: PROBA_COLUMNS[label] for label in TASKS[task]}
    absent = [c for c in columns.values() if c not in preds.columns]
    if absent:
        raise ValueError(
            f"predictions have no {', '.join(absent)} column(s); read results/predictions.csv, which has them "
            f"(NaN for methods without probabilities)"
        )
    return preds[list(columns.values())].rename(columns={v: k for k, v in columns.items()}).astype(float)


def _checked_proba(y_true: Any, proba: pd.DataFrame, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Truth positions and an ``(n, K)`` probability matrix in ``labels`` order, both checked."""
    labels = check_labels(labels)
    if not isinstance(proba, pd.DataFrame):
        raise ValueError("proba must be a DataFrame with one column per label (see proba_frame)")
    absent = [label for label in labels if label not in proba.columns]
    if absent:
        raise ValueError(
            f"proba has no column for {', '.join(absent)} (columns: {', '.join(map(str, proba.columns))}); "
            f"name columns by label, e.g. with proba_frame()"
        )
    if isinstance(y_true, pd.Series) and not y_true.index.equals(proba.index):
        raise ValueError("y_true and proba have different indexes; reindex proba on y_true's index first")
    a = values(y_true, "y_true")
    if len(a) != len(proba):
        raise ValueError(f"y_true has {len(a)} values but proba has {len(proba)} rows; pass one row per call")
    if len(a) == 0:
        raise ValueError("y_true and proba are empty; there is nothing to score")
    p = proba[labels].to_numpy(dtype=float)
    blank = np.isnan(p).any(axis=1)
    if blank.any():
        raise ValueError(
            f"{blank.sum()} of {len(p)} calls have no probability (e.g. "
            f"{', '.join(map(str, proba.index[blank][:5]))}); score only a method that gives probabilities, or drop "
            f"those calls"
        )
    off = np.abs(p.sum(axis=1) - 1) > 1e-3
    if off.any() or (p < 0).any() or (p > 1).any():
        bad = proba.index[off | (p < 0).any(axis=1) | (p > 1).any(axis=1)]
        raise ValueError(
            f"probabilities of {', '.join(map(str, bad[:5]))} are not a distribution over {labels} (each row must "
            f"be in [0, 1] and sum to 1); check that the columns match the labels"
        )
    return encode_truth(a, labels), p


def brier_score(y_true: Any, proba: pd.DataFrame, labels: Sequence[str]) -> float:
    """Multi-class Brier score (``brier_score_loss(..., scale_by_half=False)``): mean squared distance to the truth.

    0 is perfect; always giving 1 to a wrong class scores 2. For the two outcome labels this is twice the binary Brier
    score usually quoted, so that both tasks are on one scale.

    Args:
        y_true: Gold label per call.
        proba: One column per label, one row per call, each row summing to 1.
        labels: The task's vocabulary.

    Returns:
        The Brier score.
    """
    t, p = _checked_proba(y_true, proba, labels)
    return float(brier_score_loss(t, p, labels=list(range(len(labels))), scale_by_half=False))


def reliability_table(y_true: Any, proba: pd.DataFrame, labels: Sequence[str], n_bins: int = 5) -> pd.DataFrame:
    """How often the predicted class is right, per band of the model's confidence in it (``calibration_curve``).

    The predicted class is the most probable one (ties go to the first in ``labels``); its probability is the
    confidence. Bands are equal-width over [0, 1], each closed on the right (the first also holds 0), as in
    scikit-learn's ``calibration_curve(strategy="uniform")``.

    Args:
        y_true: Gold label per call.
        proba: One column per label, one row per call.
        labels: The task's vocabulary.
        n_bins: Number of confidence bands.

    Returns:
        One row per band, empty bands included: ``bin_low, bin_high, n, confidence`` (mean), ``accuracy`` and
        ``gap`` (accuracy minus confidence; negative means over-confident). Means are NaN in empty bands.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins={n_bins}: need at least one band")
    t, p = _checked_proba(y_true, proba, labels)
    predicted = p.argmax(axis=1)
    confidence = p[np.arange(len(p)), predicted]
    correct = (predicted == t).astype(int)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # The band of each call as calibration_curve assigns it, to count the calls it averages over.
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=n_bins)
    table = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "n": counts,
                          "confidence": np.nan, "accuracy": np.nan})
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=n_bins, strategy="uniform", pos_label=1)
    table.loc[counts > 0, "accuracy"] = accuracy
    table.loc[counts > 0, "confidence"] = mean_confidence
    table["gap"] = table["accuracy"] - table["confidence"]
    return table


def expected_calibration_error(y_true: Any, proba: pd.DataFrame, labels: Sequence[str], n_bins: int = 5) -> float:
    """Expected calibration error: the call-weighted mean of ``|accuracy - confidence|`` over the bands of
    :func:`reliability_table`.

    With few calls per band the estimate is noisy and biased upwards; compare systems with the same ``n_bins``.

    Returns:
        A number in [0, 1]; 0 means confidence matches accuracy in every band.
    """
    table = reliability_table(y_true, proba, labels, n_bins)
    used = table[table["n"] > 0]
    return float((used["n"] * used["gap"].abs()).sum() / used["n"].sum())


def calibration_summary(gold: pd.DataFrame, systems: Mapping[str, pd.DataFrame],
                        tasks: Mapping[str, Sequence[str]] = TASKS, n_bins: int = 5,
                        label_shares: bool = True) -> pd.DataFrame:
    """Brier score and expected calibration error of several systems' probabilities, per task.

    Args:
        gold: Gold labels indexed by call id.
        systems: Name to predictions with probability columns (see :func:`proba_frame`), indexed by call id.
        tasks: Task name to vocabulary.
        n_bins: Confidence bands of the ECE.
        label_shares: Add a reference row that gives every call the gold labels' shares as its probabilities (no
            model; it knows the label mix of the very calls it is scored on, so it is a generous reference).

    Returns:
        One row per system and task: ``system, task, brier, ece, mean_confidence, accuracy`` (accuracy of the most
        probable label).
    """
    gold = by_call(gold, "gold")
    entries = [(name, task, proba_frame(by_call(preds, name).reindex(gold.index), task))
               for name, preds in systems.items() for task in tasks]
    if label_shares:
        for task, labels in tasks.items():
            shares = gold[task].value_counts(normalize=True).reindex(list(labels), fill_value=0.0)
            entries.append(("label shares of the gold labels (no model)", task,
                            pd.DataFrame([shares.to_numpy()] * len(gold), index=gold.index, columns=list(labels))))
    rows = []
    for name, task, proba in entries:
        labels = list(tasks[task])
        p = proba[labels].to_numpy(dtype=float)
        rows.append({
            "system": name, "task": task,
            "brier": brier_score(gold[task], proba, labels),
            "ece": expected_calibration_error(gold[task], proba, labels, n_bins),
            "mean_confidence": float(p.max(axis=1).mean()),
            "accuracy": float((np.array(labels, dtype=object)[p.argmax(axis=1)] == gold[task].to_numpy()).mean()),
        })
    return pd.DataFrame(rows, columns=["system", "task", "brier", "ece", "mean_confidence", "accuracy"])


def plot_reliability(ax: Any, table: pd.DataFrame, title: str | None = None) -> Any:
    """Draw a reliability diagram (scikit-learn's ``CalibrationDisplay``) from :func:`reliability_table`.

    Each used band is a point at (mean confidence, share correct) on the diagonal's chart, with its number of calls.

    Args:
        ax: Matplotlib axes to draw on.
        table: Output of :func:`reliability_table`.
        title: Axes title.

    Returns:
        ``ax``.
    """
    used = table[table["n"] > 0]
    CalibrationDisplay(used["accuracy"].to_numpy(), used["confidence"].to_numpy(), None,
                       estimator_name="predicted class").plot(ax=ax)
    for _, row in used.iterrows():
        ax.annotate(f"n={int(row['n'])}", (row["confidence"], row["accuracy"]), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence in the predicted class")
    ax.set_ylabel("share correct")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
