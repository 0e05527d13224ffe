"""Does the probe read the customer or the topic? Two checks, one without labels and one with.

- **Counterfactual flip rate** (no labels): every call that names a topic is read again with its topic words swapped
  (:mod:`callinsights.text.counterfactual`); a label that changes with the topic alone is a flip. The goal is under 5%.
- **Held-out accuracy within each call driver** (the labelled calls): a probe that learnt "claim = neutral" is
  right on claims and wrong elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score

#: The largest flip rate the project accepts (the issue's goal), for the test and the experiment log.
MAX_FLIP_RATE = 0.05


def flip_table(original: pd.DataFrame, swapped: pd.DataFrame, tasks: tuple[str, ...] = ("sentiment", "outcome")
               ) -> pd.DataFrame:
    """Flip rate per task with a 95% Wilson interval (``binomtest(...).proportion_ci``), pairs counted per call
    and swap.

    Args:
        original: Labels indexed by call id, a column per task.
        swapped: One row per counterfactual: ``file`` (the original call) and a column per task.
        tasks: Which tasks.

    Returns:
        One row per task: ``task, pairs, flips, flip_rate, low, high``.
    """
    rows = []
    for task in tasks:
        flips = int((swapped[task].to_numpy() != original[task].reindex(swapped["file"]).to_numpy()).sum())
        pairs = len(swapped)
        interval = binomtest(flips, pairs).proportion_ci(method="wilson") if pairs else None
        rows.append({"task": task, "pairs": pairs, "flips": flips, "flip_rate": flips / pairs if pairs else np.nan,
                     "low": interval.low if interval else np.nan, "high": interval.high if interval else np.nan})
    return pd.DataFrame(rows)


def accuracy_by_driver(gold: pd.DataFrame, predicted: pd.DataFrame, drivers: pd.Series,
                       tasks: tuple[str, ...] = ("sentiment", "outcome")) -> pd.DataFrame:
    """Held-out accuracy and macro-F1 of the labelled calls within each call driver.

    Args:
        gold: Hand labels indexed by call id.
        predicted: Held-out predictions indexed by call id.
        drivers: Driver per call id.

    Returns:
        One row per driver and task: ``driver, task, calls, accuracy, macro_f1`` plus the readers' and the
        predicted share of the task's minority labels (neutral and negative, or follow-up).
    """
    rows = []
    frame = gold.join(predicted.add_suffix("_predicted")).join(drivers.rename("driver"), how="left")
    for driver, task in ((d, t) for d in sorted(frame["driver"].dropna().unique()) for t in tasks):
        part = frame[frame["driver"] == driver]
        truth, guess = part[task], part[f"{task}_predicted"]
        row = {"driver": driver, "task": task, "calls": len(part), "accuracy": accuracy_score(truth, guess),
               "macro_f1": f1_score(truth, guess, average="macro", zero_division=0)}
        for label in (("neutral", "negative") if task == "sentiment" else ("follow-up action needed",)):
            row[f"readers_{label}"] = float((truth == label).mean())
            row[f"predicted_{label}"] = float((guess == label).mean())
        rows.append(row)
    return pd.DataFrame(rows)
