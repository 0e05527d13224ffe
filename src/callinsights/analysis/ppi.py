"""Label rates and their differences by prediction-powered inference (PPI), beside naive and labels-only intervals.

PPI (Angelopoulos et al., Science 2023; ``ppi-python``) corrects the rate predicted on the unlabelled calls by the
model's mean error on the labelled ones, valid however biased the model. The labelled set is the hand-labelled calls
with their cross-validated predictions, the unlabelled set the others, so the two terms are independent as
``ppi_mean_ci`` assumes. The predictor is the class probability when present (least variance), else the 0/1 label;
its weight is fixed at 1 (PPI++'s tuned weight collapses to 0 when a group's few labels agree). A group with fewer
than :data:`MIN_LABELLED` labelled calls is not estimable, one with fewer than :data:`FEW_LABELS` is flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from callinsights.analysis.stats import wilson_interval
from callinsights.evaluation.metrics import newcombe_interval
from callinsights.schema import PROBA_COLUMNS, TASKS

#: The rates every table reports: (task, class counted, short name).
KEY_RATES: tuple[tuple[str, str, str], ...] = (
    ("sentiment", "negative", "negative"),
    ("sentiment", "neutral", "neutral"),
    ("outcome", "follow-up action needed", "follow-up"),
)
#: Fewest labelled calls in a group for its PPI interval to be computed at all.
MIN_LABELLED = 3
#: Below this many labelled calls an interval is flagged as resting on a rough normal approximation.
FEW_LABELS = 10


def ppi_frame(preds: pd.DataFrame, gold: pd.DataFrame, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per call of ``covariates`` (grouping columns by call): ``pred_<task>``, the ``p_*`` columns present,
    ``gold_<task>`` (NaN when unlabelled), ``labelled`` and the covariates.

    The labelled calls' rows of ``preds`` must hold held-out predictions; a labelled call without one is an error.
    """
    p = preds.set_index("file") if "file" in preds.columns else preds
    out = pd.DataFrame(index=p.index.rename("file"))
    for task in TASKS:
        out[f"pred_{task}"] = p[task]
    for column in PROBA_COLUMNS.values():
        if column in p.columns:
            out[column] = pd.to_numeric(p[column], errors="coerce")
    missing = gold.index.difference(out.index)
    if len(missing):
        raise ValueError(f"{len(missing)} hand-labelled call(s) have no prediction, e.g. {', '.join(missing[:3])}; "
                         "label every call (`make analyze`) before estimating rates")  # fmt: skip
    for task in TASKS:
        out[f"gold_{task}"] = gold[task].reindex(out.index)
    out["labelled"] = out["gold_sentiment"].notna() & out["gold_outcome"].notna()
    if covariates is not None:
        cov = covariates.set_index("file") if "file" in covariates.columns else covariates
        out = out.join(cov, how="inner")
    return out


def predictor(frame: pd.DataFrame, task: str, value: str) -> tuple[np.ndarray, str]:
    """What PPI corrects for one class, and its kind: the probability when every call has it, else the 0/1 label."""
    column = PROBA_COLUMNS.get(value)
    if column in frame.columns and frame[column].notna().all():
        return frame[column].to_numpy(dtype=float), "probability"
    return (frame[f"pred_{task}"] == value).to_numpy(dtype=float), "predicted label"


@dataclass
class Estimate:
    """A PPI estimate with its standard error and the calls used; ``note`` says why there is none."""

    value: float
    se: float
    labelled: int
    unlabelled: int
    note: str = ""

    @property
    def estimable(self) -> bool:
        """True when the estimate exists."""
        return not self.note

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided normal interval at level ``1 - alpha``, cut to [-1, 1]."""
        if not self.estimable:
            return float("nan"), float("nan")
        half = stats.norm.ppf(1 - alpha / 2) * self.se
        return max(-1.0, self.value - half), min(1.0, self.value + half)


def _not_estimable(labelled: np.ndarray) -> Estimate | None:
    """Why PPI cannot estimate from these calls (too few labelled, none unlabelled), or None when it can."""
    n, big_n = int(labelled.sum()), int((~labelled).sum())
    if n < MIN_LABELLED:
        return Estimate(np.nan, np.nan, n, big_n, f"{n} labelled call(s): not estimable (needs {MIN_LABELLED})")
    if big_n == 0:
        return Estimate(np.nan, np.nan, n, big_n, "no unlabelled call to correct")
    return None


def _ppi_mean(y: np.ndarray, yhat: np.ndarray, labelled: np.ndarray) -> tuple[float, float]:
    """``ppi_py``'s mean of ``y`` (labelled calls) corrected from ``yhat`` (all calls), and its standard error.

    The standard error is read back from ``ppi_mean_ci`` (estimate +/- z se), so that differences of independent
    groups can be formed from it.
    """
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    args = (y, yhat[labelled], yhat[~labelled])
    point = float(np.ravel(ppi_mean_pointestimate(*args, lam=1))[0])
    low, high = (float(np.ravel(b)[0]) for b in ppi_mean_ci(*args, alpha=0.05, lam=1))
    return point, (high - low) / (2 * stats.norm.ppf(0.975))


def ppi_rate(frame: pd.DataFrame, task: str, value: str) -> Estimate:
    """PPI estimate of the share of the calls of ``frame`` whose true ``task`` label is ``value``."""
    labelled = frame["labelled"].to_numpy(dtype=bool)
    if (missing := _not_estimable(labelled)) is not None:
        return missing
    y = (frame.loc[labelled, f"gold_{task}"] == value).to_numpy(dtype=float)
    value_, se = _ppi_mean(y, predictor(frame, task, value)[0], labelled)
    return Estimate(value_, se, int(labelled.sum()), int((~labelled).sum()))


def share_within(frame: pd.DataFrame, task: str, value: str, flag: pd.Series) -> Estimate:
    """PPI estimate of the share of calls with ``flag`` among the calls of ``frame`` truly labelled ``value`` (how
    many follow-up calls leave documents to send), when ``flag`` is read from the call itself, without error.

    The share is a ratio of two PPI means, calls that are ``value`` and flagged over calls that are ``value``; its
    standard error is the delta method's: that of the PPI mean of ``y (flag - share)``, divided by the rate.
    """
    yhat, _ = predictor(frame, task, value)
    k = flag.reindex(frame.index, fill_value=False).astype(float).to_numpy()
    labelled = frame["labelled"].to_numpy(dtype=bool)
    if (missing := _not_estimable(labelled)) is not None:
        return missing
    y = (frame.loc[labelled, f"gold_{task}"] == value).to_numpy(dtype=float)
    n, big_n = int(labelled.sum()), int((~labelled).sum())
    rate = _ppi_mean(y, yhat, labelled)[0]
    if rate <= 0:
        return Estimate(np.nan, np.nan, n, big_n, f"no call estimated {value}")
    share = _ppi_mean(y * k[labelled], yhat * k, labelled)[0] / rate
    _, se = _ppi_mean(y * (k[labelled] - share), yhat * (k - share), labelled)
    return Estimate(share, se / rate, n, big_n)


def rate_row(frame: pd.DataFrame, task: str, value: str, alpha: float = 0.05) -> dict[str, object]:
    """Naive, labels-only and PPI rate of one class among the calls of ``frame``, each with its interval.

    Returns:
        ``calls``, ``labelled``; ``naive`` (share *predicted* ``value``) and ``labels_only`` (share of labelled calls
        *labelled* ``value``) with Wilson intervals (``naive_low`` ...); ``ppi`` with ``ppi_low``, ``ppi_high`` cut
        to [0, 1] (on few labels the corrected estimate can stray outside) and ``ppi_se``; ``estimable``,
        ``few_labels``, ``note`` and ``predictor``.
    """
    hits = frame[f"pred_{task}"] == value
    lab = frame[frame["labelled"]]
    gold_hits = int((lab[f"gold_{task}"] == value).sum())
    est = ppi_rate(frame, task, value)
    low, high = est.interval(alpha)  # NaN when not estimable, and np.clip keeps NaN
    return {
        "calls": len(frame), "labelled": est.labelled,
        "naive": hits.mean() if len(frame) else np.nan,
        **dict(zip(("naive_low", "naive_high"), wilson_interval(int(hits.sum()), len(frame), 1 - alpha))),
        "labels_only": gold_hits / len(lab) if len(lab) else np.nan,
        **dict(zip(("labels_low", "labels_high"), wilson_interval(gold_hits, len(lab), 1 - alpha))),
        "ppi": float(np.clip(est.value, 0.0, 1.0)), "ppi_low": float(np.clip(low, 0.0, None)),
        "ppi_high": float(np.clip(high, None, 1.0)), "ppi_se": est.se,
        "estimable": est.estimable, "few_labels": est.estimable and est.labelled < FEW_LABELS, "note": est.note,
        "predictor": predictor(frame, task, value)[1],
    }  # fmt: skip


def rate_table(frame: pd.DataFrame, by: str | None, rates: Sequence[tuple[str, str, str]] = KEY_RATES) -> pd.DataFrame:
    """:func:`rate_row` of every rate over all calls (group "all calls") and within each group of column ``by``."""
    parts = [("all calls", frame)]
    if by is not None:
        parts += [(name, part) for name, part in frame.groupby(by, sort=True)]
    rows = [{"by": by or "", "group": name, "rate": short, "task": task, "value": value,
             **rate_row(part, task, value)} for task, value, short in rates for name, part in parts]  # fmt: skip
    return pd.DataFrame(rows)


def difference(frame: pd.DataFrame, in_a: pd.Series, task: str, value: str, alpha: float = 0.05) -> dict[str, object]:
    """Rate in group A (``in_a``) minus rate in all other calls, by PPI, from predictions and from labels.

    The groups are disjoint, so the variance of the difference is the sum of theirs. A group that differs from the
    rest also differs from the overall rate, which lies between the two.

    Returns:
        Per side (``_a``, ``_b``): ``calls``, ``labelled``, ``pred_count``, ``gold_count``, ``rate`` (PPI); then
        ``ppi_diff`` with ``ppi_se``, ``ppi_low``, ``ppi_high`` and normal ``p``; ``naive_diff`` and ``labels_diff``
        with Newcombe intervals; ``estimable`` and ``note``.
    """
    in_a = in_a.reindex(frame.index, fill_value=False).astype(bool)
    a, b = frame[in_a], frame[~in_a]
    ea, eb = ppi_rate(a, task, value), ppi_rate(b, task, value)
    estimable = ea.estimable and eb.estimable
    diff = ea.value - eb.value if estimable else np.nan
    se = float(np.hypot(ea.se, eb.se)) if estimable else np.nan
    half = stats.norm.ppf(1 - alpha / 2) * se
    p = float(2 * stats.norm.sf(abs(diff) / se)) if estimable and se > 0 else np.nan
    counts = [int((part[f"pred_{task}"] == value).sum()) for part in (a, b)]
    la, lb = a[a["labelled"]], b[b["labelled"]]
    gold = [int((part[f"gold_{task}"] == value).sum()) for part in (la, lb)]
    naive_low, naive_high = newcombe_interval(counts[0], len(a), counts[1], len(b), alpha)
    labels_low, labels_high = newcombe_interval(gold[0], len(la), gold[1], len(lb), alpha)
    notes = [f"{side}: {e.note}" for side, e in (("A", ea), ("B", eb)) if e.note]
    return {
        "calls_a": len(a), "calls_b": len(b), "labelled_a": len(la), "labelled_b": len(lb),
        "pred_count_a": counts[0], "pred_count_b": counts[1], "gold_count_a": gold[0], "gold_count_b": gold[1],
        "rate_a": ea.value, "rate_b": eb.value, "ppi_diff": diff, "ppi_se": se,
        "ppi_low": max(-1.0, diff - half) if estimable else np.nan,
        "ppi_high": min(1.0, diff + half) if estimable else np.nan, "p": p,
        "naive_diff": counts[0] / len(a) - counts[1] / len(b) if len(a) and len(b) else np.nan,
        "naive_low": naive_low, "naive_high": naive_high,
        "labels_diff": gold[0] / len(la) - gold[1] / len(lb) if len(la) and len(lb) else np.nan,
        "labels_low": labels_low, "labels_high": labels_high,
        "estimable": estimable, "note": "; ".join(notes),
    }  # fmt: skip


def group_differences(frame: pd.DataFrame, by: str, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
                      alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """:func:`difference` of each group of column ``by`` against all other calls, for every rate."""
    return pd.DataFrame([{"by": by, "group": name, "versus": "the rest", "rate": short, "task": task, "value": value,
                          **difference(frame, frame[by] == name, task, value, alpha)}
                         for task, value, short in rates for name in sorted(frame[by].dropna().unique(), key=str)])


def flag_differences(frame: pd.DataFrame, flags: Mapping[str, str], task: str = "outcome",
                     value: str = "follow-up action needed", alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """:func:`difference` of calls with each flag column (a count above 0, or True) against calls without it;
    ``flags`` maps a column to how a reader sees it (the row's ``group`` is "with <that>")."""
    short = next((s for t, v, s in KEY_RATES if (t, v) == (task, value)), value)
    return pd.DataFrame([{"by": column, "group": f"with {label}", "versus": "without", "rate": short, "task": task,
                          "value": value, **difference(frame, frame[column].astype(float) > 0, task, value, alpha)}
                         for column, label in flags.items()])
