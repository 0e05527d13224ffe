"""Scoring systems against hand labels: tables of several systems, confusion plots, the calls they got wrong.

Scores live in :mod:`callinsights.evaluation.metrics` (scikit-learn, invalid answers as their own class),
:mod:`callinsights.evaluation.bootstrap` (scipy) and :mod:`callinsights.evaluation.calibration`; they are re-exported here so that notebooks
keep one import. Monitoring without labels is :mod:`callinsights.evaluation.monitoring`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay

# Re-exported, so that notebooks and tests keep importing every scoring function from here.
from callinsights.evaluation.bootstrap import bootstrap_ci
from callinsights.evaluation.calibration import proba_frame
from callinsights.evaluation.metrics import by_call, classification_metrics, clean_predictions, confusion_frame
from callinsights.schema import PROBA_COLUMNS, TASKS
from callinsights.text.redact import redact


def align(labels_df: pd.DataFrame, preds_df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Join predictions to gold labels on call id.

    Predictions for calls that have no label are ignored (the model labels every call, people labelled a few).

    Args:
        labels_df: Gold labels indexed by call id, as from :func:`callinsights.data.labels.load_labels` (a ``file``
            column works too).
        preds_df: Predictions with a ``file`` column of call ids (``transcript_160``, no ``.txt``) or indexed by
            them; one row per call.

    Returns:
        ``(frame, missing)``: the labelled calls that have a prediction, in the label file's order, with gold and
        predicted columns side by side (a column both have, such as ``sentiment``, becomes ``sentiment_true`` and
        ``sentiment_pred``); and the labelled calls with no prediction.

    Raises:
        ValueError: No call is in both, or a call appears twice in either.
    """
    gold = by_call(labels_df, "labels_df")
    preds = by_call(preds_df, "preds_df")
    have = preds.index.isin(gold.index)
    if not have.any():
        raise ValueError(
            f"no prediction is for a labelled call: the labels have {len(gold)} calls "
            f"({', '.join(map(str, gold.index[:5]))}, ...) and none of them is among the {len(preds)} predicted calls "
            f"({', '.join(map(str, preds.index[:5]))}, ...). Both must use call ids such as 'transcript_160', "
            f"without '.txt' or a folder"
        )
    found = gold.index.isin(preds.index)
    missing = [str(c) for c in gold.index[~found]]
    overlap = gold.index[found]
    frame = gold.loc[overlap].merge(preds.loc[overlap], left_index=True, right_index=True, suffixes=("_true", "_pred"))
    frame.index.name = "file"
    return frame, missing


def report_table(
    gold: pd.DataFrame,
    systems: Mapping[str, pd.DataFrame],
    tasks: Mapping[str, Sequence[str]] = TASKS,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Metrics of several systems side by side, one row per system and task, macro-F1 with its interval.

    Every system is scored on all labelled calls: a call a system has no prediction for counts as invalid (wrong),
    so skipping hard calls cannot raise a score. All systems share ``seed`` and hence resamples, so their intervals
    are paired.

    Args:
        gold: Gold labels indexed by call id (from :func:`callinsights.data.labels.load_labels`).
        systems: Name to predictions, each with a ``file`` column (or call-id index) and one column per task.
        tasks: Task name to vocabulary; a task column is read from both frames.
        n_boot: Bootstrap resamples for the macro-F1 interval.
        seed: Seed of the resampling.
        alpha: One minus the interval's coverage.

    Returns:
        Columns ``system, task, accuracy, macro_f1, macro_f1_low, macro_f1_high, weighted_f1, kappa, n, n_invalid``.

    Raises:
        ValueError: A system has no task column or shares no call with ``gold`` (see :func:`align`).
    """
    gold = by_call(gold, "gold")
    rows = []
    for name, preds in systems.items():
        absent = [task for task in tasks if task not in preds.columns]
        if absent:
            raise ValueError(
                f"system {name!r} has no {', '.join(absent)} column(s) (it has {', '.join(map(str, preds.columns))})"
            )
        frame, _missing = align(gold[list(tasks)], preds[[c for c in preds.columns if c in (*tasks, "file")]])
        for task, labels in tasks.items():
            y_true = gold[task]
            y_pred = frame[f"{task}_pred"].reindex(gold.index)
            m = classification_metrics(y_true, y_pred, labels)
            _, low, high = bootstrap_ci(y_true, y_pred, "macro_f1", n_boot=n_boot, seed=seed, alpha=alpha,
                                        labels=labels)
            rows.append({
                "system": name, "task": task, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                "macro_f1_low": low, "macro_f1_high": high, "weighted_f1": m["weighted_f1"],
                "kappa": m["cohen_kappa"], "n": m["n"], "n_invalid": m["n_invalid"],
            })
    return pd.DataFrame(rows, columns=["system", "task", "accuracy", "macro_f1", "macro_f1_low", "macro_f1_high",
                                       "weighted_f1", "kappa", "n", "n_invalid"])


def plot_counts(ax: Any, frame: pd.DataFrame) -> Any:
    """Draw a table of counts (rows one labelling, columns the other) with scikit-learn's ``ConfusionMatrixDisplay``.

    Each cell shows its count and its share of the row; a column without a row of the same name (``invalid``) gets
    an empty row, since the display is square.

    Returns:
        ``ax``.
    """
    names = list(frame.columns) + [r for r in frame.index if r not in frame.columns]
    counts = frame.reindex(index=names, columns=names, fill_value=0).to_numpy()
    display = ConfusionMatrixDisplay(counts, display_labels=names)
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format="d", xticks_rotation="horizontal")
    rows = counts.sum(axis=1)
    for (i, j), text in np.ndenumerate(display.text_):
        if rows[i]:
            text.set_text(f"{counts[i, j]}\n{counts[i, j] / rows[i]:.0%}")
    return ax


def plot_confusion(ax: Any, y_true: Any, y_pred: Any, labels: Sequence[str], title: str | None = None) -> Any:
    """Draw the confusion matrix (scikit-learn's ``ConfusionMatrixDisplay``), truth down the side.

    Each cell shows its count and its share of the truth row (the recall of that class on the diagonal); an
    ``invalid`` column (and its empty row) appears only when some prediction is not a label (:func:`plot_counts`).

    Args:
        ax: Matplotlib axes to draw on.
        y_true: Gold label per call.
        y_pred: Predicted label per call.
        labels: The task's vocabulary.
        title: Axes title.

    Returns:
        ``ax``.
    """
    plot_counts(ax, confusion_frame(y_true, y_pred, labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    if title:
        ax.set_title(title)
    return ax


def plot_macro_f1(ax: Any, report: pd.DataFrame, task: str, title: str | None = None) -> Any:
    """Draw each system's macro-F1 for one task as a horizontal bar with its bootstrap interval.

    Args:
        ax: Matplotlib axes to draw on.
        report: Output of :func:`report_table`.
        task: Which task's rows to draw.
        title: Axes title (default: the task).

    Returns:
        ``ax``.
    """
    rows = report[report["task"] == task]
    if rows.empty:
        raise ValueError(f"report has no rows for task {task!r} (it has {', '.join(report['task'].unique())})")
    y = np.arange(len(rows))[::-1]
    errors = [rows["macro_f1"] - rows["macro_f1_low"], rows["macro_f1_high"] - rows["macro_f1"]]
    ax.barh(y, rows["macro_f1"], xerr=errors, color="tab:blue", alpha=0.75, capsize=3, ecolor="black")
    for yi, value, high in zip(y, rows["macro_f1"], rows["macro_f1_high"]):
        ax.annotate(f"{value:.2f}", (min(high, 0.9) + 0.015, yi), va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(rows["system"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("macro-F1 (95% bootstrap interval)")
    ax.set_title(title or task)
    return ax


def mistakes(gold: pd.DataFrame, preds: pd.DataFrame, texts: Mapping[str, str], tasks: Mapping[str, Sequence[str]]
             = TASKS, max_chars: int = 300) -> pd.DataFrame:
    """The calls a system got wrong, most confident first, with the customer's words redacted and shortened.

    A confident mistake costs most (nobody double-checks it), so those head the table. Text is redacted before it is
    cut, so an identifier is never left half-visible at the cut.

    Args:
        gold: Gold labels indexed by call id.
        preds: Predictions indexed by call id, one column per task, plus probability columns when the system has
            them (see :func:`proba_frame`).
        texts: Call id to the text to show (the customer's side).
        tasks: Task name to vocabulary.
        max_chars: Longest text shown; longer text is cut and ends with an ellipsis.

    Returns:
        One row per (call, task) mistake: ``file, task, truth, predicted, confidence, customer_text``; confidence
        is the system's probability of the label it gave (NaN for systems without probabilities).
    """
    gold = by_call(gold, "gold")
    preds = by_call(preds, "preds").reindex(gold.index)
    rows = []
    for task, labels in tasks.items():
        labels = list(labels)
        predicted = pd.Series(clean_predictions(preds[task], labels), index=gold.index)
        has_proba = all(PROBA_COLUMNS[label] in preds.columns for label in labels)
        proba = proba_frame(preds, task) if has_proba else None
        for call in gold.index[predicted != gold[task]]:
            label = predicted[call]
            confidence = float(proba.loc[call, label]) if proba is not None and label in labels else np.nan
            text = redact(texts.get(call, ""))
            rows.append({
                "file": call, "task": task, "truth": gold.loc[call, task], "predicted": label,
                "confidence": confidence,
                "customer_text": text if len(text) <= max_chars else text[:max_chars].rstrip() + " …",
            })
    columns = ["file", "task", "truth", "predicted", "confidence", "customer_text"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("confidence", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
