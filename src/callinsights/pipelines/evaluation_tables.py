"""The tables of ``python -m callinsights evaluate`` (:mod:`callinsights.pipelines.evaluation`), one function each.

Each turns held-out predictions and hand labels into one of the files of :data:`callinsights.config.EVALUATION_FILES`
with the statistics of :mod:`callinsights.evaluation` (scikit-learn, scipy); nothing here runs a model.
"""

from __future__ import annotations

import warnings

import pandas as pd
from sklearn.metrics import classification_report

from callinsights import config
from callinsights.schema import TASKS
from callinsights.data.call import natural_key
from callinsights.evaluation import evaluate as scores
from callinsights.evaluation.bootstrap import bootstrap_difference, metric_intervals
from callinsights.evaluation.calibration import proba_frame, reliability_table
from callinsights.evaluation.metrics import clean_predictions
from callinsights.evaluation import monitoring
from callinsights.evaluation.batch_monitor import TABLE_COLUMNS, check_predictions, compare
from callinsights.evaluation.batch_plots import batch_table
from callinsights.pipelines.monitor import MonitorInputError, read_predictions
from callinsights.pipelines.experiments import DEFAULT_CONFIGURATION as DEFAULT

#: The label-free method monitoring compares with the default on every call (notebook 04, section 7).
SCORE = "score, batch-calibrated"


def intervals(gold: pd.DataFrame, predictions: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Accuracy, macro-F1, weighted F1 and kappa with percentile bootstrap intervals, indexed by task and metric."""
    return pd.concat({task: metric_intervals(gold[task], predictions[task], labels, n_boot=n_boot, seed=seed)
                      for task, labels in TASKS.items()}, names=["task"])


def held_out_table(gold: pd.DataFrame, predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per configuration and labelled call: the client's labels, the prediction, its probabilities."""
    columns = ["sentiment", "outcome", "confidence_sentiment", "confidence_outcome",
               *scores.PROBA_COLUMNS.values(), "valid", "held_out", "seconds", "cached", "raw"]
    parts = []
    for name, preds in predictions.items():
        part = preds.reindex(gold.index)[columns]
        part.insert(0, "outcome_true", gold["outcome"])
        part.insert(0, "sentiment_true", gold["sentiment"])
        part.insert(0, "configuration", name)
        parts.append(part.rename_axis("file").reset_index())
    table = pd.concat(parts, ignore_index=True)
    return table[["configuration", "file", *[c for c in table.columns if c not in ("configuration", "file")]]]


def report(gold: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's ``classification_report`` per task as rows: ``task, class, precision, recall, f1-score,
    support`` (the accuracy row has its value under f1-score, as the printed report places it)."""
    rows = []
    for task, labels in TASKS.items():
        report = classification_report(gold[task], clean_predictions(predictions[task], labels),
                                       labels=list(labels), zero_division=0, output_dict=True)
        for name, values in report.items():
            values = values if isinstance(values, dict) else {"f1-score": values, "support": len(gold)}
            rows.append({"task": task, "class": name, **values})
    return pd.DataFrame(rows, columns=["task", "class", "precision", "recall", "f1-score", "support"]).astype(
        {"support": int})


def differences(gold: pd.DataFrame, systems: dict[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """The default's macro-F1 minus each baseline's, with a paired bootstrap interval and its verdict."""
    name, default = next(iter(systems.items()))
    rows = []
    for task, labels in TASKS.items():
        for other, preds in systems.items():
            if other == name:
                continue
            diff, low, high = bootstrap_difference(gold[task], default[task], preds[task].reindex(gold.index),
                                                          "macro_f1", list(labels), n_boot=n_boot, seed=seed)
            verdict = "better" if low > 0 else "worse" if high < 0 else "not distinguishable"
            rows.append({"task": task, "baseline": other, "difference": diff, "low": low, "high": high,
                         "verdict": verdict})
    return pd.DataFrame(rows, columns=["task", "baseline", "difference", "low", "high", "verdict"])


def reliability(gold: pd.DataFrame, systems: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each probability-giving system's reliability table per task (bands of confidence in the predicted label)."""
    parts = {(name, task): reliability_table(gold[task], proba_frame(preds, task), labels)
             for name, preds in systems.items() for task, labels in TASKS.items()}
    return pd.concat(parts, names=["system", "task", "band"]).reset_index().drop(columns="band")


def agreement(every: dict[str, pd.DataFrame], labelled: pd.Index) -> pd.DataFrame:
    """Agreement of the default and :data:`SCORE` per task, on all calls and on the unlabelled ones alone."""
    a, b = every[DEFAULT], every[SCORE]
    unlabelled = a.index.difference(labelled)
    rows = [{"task": task, "calls": scope, **monitoring.agreement(a[task].loc[idx], b[task].loc[idx])}
            for task in TASKS for scope, idx in (("all", a.index), ("unlabelled only", unlabelled)) if len(idx)]
    return pd.DataFrame(rows)


def pairs(every: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """How many calls got each pair of labels from the default and :data:`SCORE`, per task (invalid left out)."""
    parts = []
    for task in TASKS:
        counts = pd.crosstab(every[DEFAULT][task].rename("default_label"), every[SCORE][task].rename("score_label"))
        parts.append(counts.stack().rename("calls").reset_index().assign(task=task))
    return pd.concat(parts, ignore_index=True)[["task", "default_label", "score_label", "calls"]]


#: How many batches notebook 04 splits the unlabelled calls into, in the order the client exported them.
BATCHES = 4


def batches(predictions: pd.DataFrame, labelled: pd.Index, n: int = BATCHES) -> pd.DataFrame:
    """The unlabelled calls of the main run as ``n`` batches in file order, as if they had arrived month by month,
    each monitored against the reference: the labelled set's predictions, where held-out accuracy is known.

    Args:
        predictions: The main run (``results/predictions.csv``).
        labelled: Call ids of the hand-labelled calls.
        n: Number of batches.

    Returns:
        :func:`callinsights.evaluation.batch_plots.batch_table` of the batches (column ``batch_name``).
    """
    table = check_predictions(predictions, "predictions")
    is_labelled = table["file"].isin(labelled)
    rest = table[~is_labelled].sort_values("file", key=lambda files: files.map(natural_key))
    size = -(-len(rest) // n)
    chunks = {f"batch {k + 1}": rest.iloc[k * size:(k + 1) * size] for k in range(n) if len(rest.iloc[k * size:])}
    return batch_table({name: compare(table[is_labelled], chunk) for name, chunk in chunks.items()})


def batches_of_main_run(labelled: pd.Index) -> pd.DataFrame:
    """:func:`batches` of ``results/predictions.csv``; no rows (same columns) when it is missing or holds none of
    ``labelled`` (another data folder), which notebook 04 says in a line."""
    empty = pd.DataFrame(columns=[*TABLE_COLUMNS, "batch_name"])
    if not config.PREDICTIONS_FILE.is_file():
        return empty
    try:
        predictions = read_predictions(config.PREDICTIONS_FILE, "reference")
    except MonitorInputError as err:  # a damaged file must not throw away the evaluation computed before it
        warnings.warn(f"no batches monitored: {err}", stacklevel=2)
        return empty
    return batches(predictions, labelled) if predictions["file"].isin(labelled).any() else empty
