"""Watching a new batch of calls against a reference run, without a single new label.

Each month's batch is labelled by the model; nobody reads it. What can still be watched is whether the model's
predictions on it look like its predictions on the reference run (the labelled set's run, ``results/predictions.csv``):

- the label mix of each task (each label's share, and the whole mix);
- the model's confidence per task;
- the share of answers that could not be read as labels;
- prompt tokens and model seconds per call;
- the share of calls longer than the model's context (``windowed``, when the tables have that column).

:func:`compare` gives one row per watched quantity with the reference value, the batch value, the change, an interval
or a p-value, the threshold (``config.MONITOR_THRESHOLDS``) and a status: ``ok``, ``alert`` or ``not enough calls``.
A quantity alerts only when its change is both at least its threshold and beyond sampling noise at level ``alpha``:

- shares (each label's, invalid, windowed): Newcombe's interval for the difference of two independent proportions
  (statsmodels ``confint_proportions_2indep``) must exclude 0; a label's share uses ``alpha / labels`` (Bonferroni,
  the labels of a task being read together); invalid and windowed shares alert only on a rise;
- a task's whole mix: total variation distance (:func:`callinsights.evaluation.monitoring.distribution_drift`) with
  scipy's chi-square test of homogeneity of the two mixes;
- confidence: difference of means with Welch's interval (scipy ``ttest_ind``);
- tokens and seconds: ratio of medians with scipy's Mann-Whitney U test (robust to the long tail of long calls);
  seconds alert only on a rise.

Seconds: a row served from the store (``cached``) carries the seconds recorded when that call was computed, by
whichever earlier run computed it (``Store.put`` keeps them; the committed reference run is wholly served from the
store, median 1.3 s), not the milliseconds it took to read it back. Each side's latency is therefore measured on its
rows computed in that run when there are at least ``min_calls`` of them (this machine, now), else on all its rows'
recorded seconds, and the row's note says which. Machine load moves latency too: read a seconds alert as "look", not
as a fault of the model.

The tests treat the batch and the reference as independent samples of calls. A batch that repeats reference calls
(same file names) is compared all the same and the ``calls`` row's note counts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, mannwhitneyu, ttest_ind
from statsmodels.stats.proportion import confint_proportions_2indep

from callinsights import config
from callinsights.evaluation.monitoring import distribution_drift
from callinsights.schema import TASKS

OK, ALERT, FEW = "ok", "alert", "not enough calls"
#: Columns a table must have to be compared: what ``callinsights analyze --out`` writes (``windowed`` and ``cached``
#: are optional: absent means no call was windowed, and every call was computed in that run).
REQUIRED_COLUMNS = ("file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome", "valid", "model",
                    "method", "prompt_tokens", "seconds")
#: Columns that name the configuration that produced a table; a batch and its reference should agree on all.
CONFIGURATION_COLUMNS = ("model", "model_hash", "engine", "method", "prompt_version", "calibration", "side")
TABLE_COLUMNS = ["quantity", "reference", "batch", "change", "change_kind", "ci_low", "ci_high", "p_value",
                 "threshold", "status", "n_reference", "n_batch", "note"]
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def check_predictions(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A predictions table made ready for :func:`compare`, or a message saying what is wrong with it.

    Args:
        frame: The table as read from CSV.
        name: What to call it in messages (its path).

    Returns:
        A copy with ``valid``, ``cached`` and ``windowed`` as booleans and the numeric columns as numbers.

    Raises:
        ValueError: Columns are missing, the table has no row, or a column holds values of the wrong kind.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: not a predictions table (no column {', '.join(missing)}); give the CSV that "
                         "`callinsights analyze --out` wrote")
    if frame.empty:
        raise ValueError(f"{name}: the predictions table has no row; give a run that labelled at least one call")
    out = frame.copy()
    for column in ("valid", "cached", "windowed"):
        if column in out.columns:
            out[column] = _booleans(out[column], column, name)
    for column in ("confidence_sentiment", "confidence_outcome", "prompt_tokens", "seconds"):
        numbers = pd.to_numeric(out[column], errors="coerce")
        bad = out[column][numbers.isna() & out[column].notna()]
        if len(bad):
            raise ValueError(f"{name}: column {column} holds {', '.join(map(repr, bad.astype(str).unique()[:3]))} "
                             "where numbers are expected; give the CSV that `callinsights analyze --out` wrote")
        out[column] = numbers
    return out


def _booleans(column: pd.Series, name_: str, name: str) -> pd.Series:
    if column.dtype == bool:
        return column
    text = column.astype(str).str.strip().str.lower()
    bad = column[~text.isin(_TRUE | _FALSE)]
    if len(bad):
        raise ValueError(f"{name}: column {name_} holds {', '.join(map(repr, bad.astype(str).unique()[:3]))} where "
                         "True or False is expected; give the CSV that `callinsights analyze --out` wrote")
    return text.isin(_TRUE)


def configuration(frame: pd.DataFrame, name: str) -> dict[str, str]:
    """The configuration a predictions table was made with (the :data:`CONFIGURATION_COLUMNS` it has).

    Raises:
        ValueError: A column holds more than one value (rows of different runs put together).
    """
    found = {}
    for column in CONFIGURATION_COLUMNS:
        if column in frame.columns:
            values = frame[column].map(lambda v: "" if pd.isna(v) else str(v)).unique()
            if len(values) > 1:
                raise ValueError(f"{name}: rows of more than one configuration ({column}: "
                                 f"{', '.join(values[:3])}); compare the predictions of one run at a time")
            found[column] = values[0]
    return found


def configuration_differences(reference: pd.DataFrame, batch: pd.DataFrame, reference_name: str = "reference",
                              batch_name: str = "batch") -> list[str]:
    """What differs between the configurations of two tables, e.g. ``["method: reference probe, batch score"]``."""
    ref, new = configuration(reference, reference_name), configuration(batch, batch_name)
    return [f"{c}: reference {ref[c] or '(empty)'}, batch {new[c] or '(empty)'}"
            for c in CONFIGURATION_COLUMNS if c in ref and c in new and ref[c] != new[c]]


def compare(reference: pd.DataFrame, batch: pd.DataFrame, thresholds: Mapping[str, float] | None = None,
            tasks: Mapping[str, Sequence[str]] = TASKS) -> pd.DataFrame:
    """Every watched quantity of a batch against the reference run, one row each (see the module's docstring).

    Args:
        reference: The reference predictions, through :func:`check_predictions`.
        batch: The new batch's predictions, through :func:`check_predictions`.
        thresholds: Overrides of ``config.MONITOR_THRESHOLDS`` (missing keys take the defaults).
        tasks: Task name to vocabulary.

    Returns:
        Columns :data:`TABLE_COLUMNS`; ``change`` is batch minus reference (``difference``), batch over reference
        (``ratio``) or a distance; ``ci_low``/``ci_high`` bound the difference, ``p_value`` is the test's, each where
        the rule uses one.
    """
    th = {**config.MONITOR_THRESHOLDS, **(thresholds or {})}
    overlap = len(set(batch["file"].astype(str)) & set(reference["file"].astype(str)))
    rows = [_row("calls", len(reference), len(batch), np.nan, "", th["min_calls"],
                 _status(len(reference), len(batch), th["min_calls"], False), len(reference), len(batch),
                 note=f"{overlap} file names also in the reference" if overlap else "")]
    for task, labels in tasks.items():
        rows += _label_rows(task, list(labels), reference[task], batch[task], th)
        rows.append(_confidence_row(task, reference[f"confidence_{task}"], batch[f"confidence_{task}"], th))
    rows.append(_share_row("invalid share", ~reference["valid"], ~batch["valid"], th["invalid_share"], th,
                           rise_only=True))
    rows.append(_median_row("prompt tokens per call (median)", reference["prompt_tokens"], batch["prompt_tokens"],
                            th["tokens_ratio"], th, rise_only=False))
    (ref_seconds, ref_note), (new_seconds, new_note) = (_latency(f, th["min_calls"]) for f in (reference, batch))
    rows.append(_median_row("seconds per call (median)", ref_seconds, new_seconds, th["seconds_ratio"], th,
                            rise_only=True, note=f"reference: {ref_note}; batch: {new_note}"))
    if "windowed" in reference.columns or "windowed" in batch.columns:
        rows.append(_share_row("windowed share", _windowed(reference), _windowed(batch), th["windowed_share"], th,
                               rise_only=True, note="" if "windowed" in reference.columns else
                               "the reference has no windowed column: taken as no call windowed"))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def alerts(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`compare`'s table whose status is ``alert``."""
    return table[table["status"] == ALERT]


def _row(quantity, reference, batch, change, kind, threshold, status, n_reference, n_batch, ci=(np.nan, np.nan),
         p_value=np.nan, note="") -> dict:
    return dict(zip(TABLE_COLUMNS, (quantity, reference, batch, change, kind, float(ci[0]), float(ci[1]),
                                    float(p_value), threshold, status, int(n_reference), int(n_batch), note)))


def _status(n_reference: int, n_batch: int, min_calls: float, shifted: bool) -> str:
    if min(n_reference, n_batch) < min_calls:
        return FEW
    return ALERT if shifted else OK


def _diff_interval(hits_batch: int, n_batch: int, hits_ref: int, n_ref: int, alpha: float) -> tuple[float, float]:
    """Newcombe's interval for batch share minus reference share."""
    if not n_batch or not n_ref:
        return np.nan, np.nan
    low, high = confint_proportions_2indep(hits_batch, n_batch, hits_ref, n_ref, method="newcombe", compare="diff",
                                           alpha=alpha)
    return float(low), float(high)


def _label_rows(task: str, labels: list[str], reference: pd.Series, batch: pd.Series, th: Mapping) -> list[dict]:
    """The task's whole mix, then each label's share, among the calls given a label of the task."""
    ref = reference[reference.isin(labels)].value_counts().reindex(labels, fill_value=0)
    new = batch[batch.isin(labels)].value_counts().reindex(labels, fill_value=0)
    n_ref, n_new = int(ref.sum()), int(new.sum())
    note = "shares of the calls given a label of the task (invalid answers left out)"
    if n_ref and n_new:
        tv = distribution_drift(ref, new)["total_variation"]
        counts = np.array([new.to_numpy(), ref.to_numpy()])
        counts = counts[:, counts.sum(axis=0) > 0]  # a label neither side gave has no expected count
        p_value = float(chi2_contingency(counts).pvalue) if counts.shape[1] > 1 else 1.0
    else:
        tv = p_value = np.nan
    shifted = tv >= th["label_mix_tv"] and p_value < th["alpha"]
    rows = [_row(f"{task} mix", np.nan, np.nan, tv, "total variation", th["label_mix_tv"],
                 _status(n_ref, n_new, th["min_calls"], shifted), n_ref, n_new, p_value=p_value,
                 note="chi-square test of the two mixes")]
    alpha = th["alpha"] / len(labels)
    for label in labels:
        share_ref = ref[label] / n_ref if n_ref else np.nan
        share_new = new[label] / n_new if n_new else np.nan
        ci = _diff_interval(int(new[label]), n_new, int(ref[label]), n_ref, alpha)
        change = share_new - share_ref
        shifted = abs(change) >= th["label_share"] and (ci[0] > 0 or ci[1] < 0)
        rows.append(_row(f"{task}: {label} share", share_ref, share_new, change, "difference", th["label_share"],
                         _status(n_ref, n_new, th["min_calls"], shifted), n_ref, n_new, ci=ci,
                         note=f"{note}; interval at {1 - alpha:.4f} (Bonferroni over {len(labels)} labels)"))
    return rows


def _confidence_row(task: str, reference: pd.Series, batch: pd.Series, th: Mapping) -> dict:
    ref, new = reference.dropna().to_numpy(float), batch.dropna().to_numpy(float)
    change, ci, p_value = np.nan, (np.nan, np.nan), np.nan
    if len(ref) >= 2 and len(new) >= 2:
        change = float(new.mean() - ref.mean())
        if np.ptp(ref) > 0 or np.ptp(new) > 0:
            test = ttest_ind(new, ref, equal_var=False)
            ci, p_value = tuple(test.confidence_interval(1 - th["alpha"])), float(test.pvalue)
    shifted = abs(change) >= th["confidence"] and (ci[0] > 0 or ci[1] < 0)
    return _row(f"confidence {task} (mean)", ref.mean() if len(ref) else np.nan,
                new.mean() if len(new) else np.nan, change, "difference", th["confidence"],
                _status(len(ref), len(new), th["min_calls"], shifted), len(ref), len(new), ci=ci, p_value=p_value,
                note="Welch's interval for the difference of means")


def _share_row(quantity: str, reference: pd.Series, batch: pd.Series, threshold: float, th: Mapping,
               rise_only: bool, note: str = "") -> dict:
    hits_ref, hits_new = int(reference.sum()), int(batch.sum())
    n_ref, n_new = len(reference), len(batch)
    change = hits_new / n_new - hits_ref / n_ref
    ci = _diff_interval(hits_new, n_new, hits_ref, n_ref, th["alpha"])
    up = change >= threshold and ci[0] > 0
    down = not rise_only and change <= -threshold and ci[1] < 0
    return _row(quantity, hits_ref / n_ref, hits_new / n_new, change, "difference", threshold,
                _status(n_ref, n_new, th["min_calls"], up or down), n_ref, n_new, ci=ci,
                note=note or ("alerts on a rise only" if rise_only else ""))


def _median_row(quantity: str, reference: pd.Series, batch: pd.Series, threshold: float, th: Mapping,
                rise_only: bool, note: str = "") -> dict:
    ref, new = reference.dropna().to_numpy(float), batch.dropna().to_numpy(float)
    ratio, p_value = np.nan, np.nan
    if len(ref) and len(new):
        ratio = float(np.median(new) / np.median(ref)) if np.median(ref) > 0 else np.nan
        p_value = float(mannwhitneyu(new, ref, alternative="two-sided").pvalue)
    significant = p_value < th["alpha"]
    shifted = significant and (ratio >= threshold or (not rise_only and ratio <= 1 / threshold))
    both_ways = f"alerts at or below {1 / threshold:.2f} too"
    how = "Mann-Whitney U test; " + ("alerts on a rise only" if rise_only else both_ways)
    return _row(quantity, np.median(ref) if len(ref) else np.nan, np.median(new) if len(new) else np.nan, ratio,
                "ratio", threshold, _status(len(ref), len(new), th["min_calls"], shifted), len(ref), len(new),
                p_value=p_value, note=f"{how}; {note}" if note else how)


def _latency(frame: pd.DataFrame, min_calls: float) -> tuple[pd.Series, str]:
    """Seconds per call of the rows computed in the run when there are enough, else of all rows (module docstring)."""
    if "cached" not in frame.columns:
        return frame["seconds"], "all calls (no cached column)"
    computed = frame.loc[~frame["cached"], "seconds"]
    if len(computed) >= min_calls or len(computed) == len(frame):
        return computed, f"{len(computed)} calls computed in the run"
    return frame["seconds"], (f"{int(frame['cached'].sum())} of {len(frame)} calls served from the store, with the "
                              "seconds recorded when they were computed")


def _windowed(frame: pd.DataFrame) -> pd.Series:
    return frame["windowed"] if "windowed" in frame.columns else pd.Series(False, index=frame.index)
