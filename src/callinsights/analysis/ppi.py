"""Label rates and their differences by prediction-powered inference (PPI), beside naive and labels-only intervals.

PPI (Angelopoulos et al., Science 2023; ``ppi-python``) corrects the rate predicted on the unlabelled calls by the
model's mean error on the labelled ones, valid however biased the model. The labelled set is the hand-labelled calls
with their cross-validated predictions, the unlabelled set the others, so the two terms are independent as
``ppi_mean_ci`` assumes. The predictor is the class probability when present (least variance), else the 0/1 label;
its weight is fixed at 1 (PPI++'s tuned weight collapses to 0 when a group's few labels agree). A group with fewer
than :data:`MIN_LABELLED` labelled calls is not estimable, one with fewer than :data:`FEW_LABELS` is flagged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from callinsights.analysis.stats import varying_features, wilson_interval
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


def _not_estimable(labelled: np.ndarray, min_labelled: int) -> Estimate | None:
    """Why PPI cannot estimate from these calls (too few labelled, none unlabelled), or None when it can."""
    n, big_n = int(labelled.sum()), int((~labelled).sum())
    if n < min_labelled:
        return Estimate(np.nan, np.nan, n, big_n, f"{n} labelled call(s): not estimable (needs {min_labelled})")
    if big_n == 0:
        return Estimate(np.nan, np.nan, n, big_n, "no unlabelled call to correct")
    return None


def ppi_rate(frame: pd.DataFrame, task: str, value: str, min_labelled: int = MIN_LABELLED) -> Estimate:
    """PPI estimate of the share of the calls of ``frame`` whose true ``task`` label is ``value`` (``ppi_py``).

    The standard error is read back from ``ppi_mean_ci`` (estimate +/- z se), so that differences of independent
    groups can be formed from it.
    """
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    yhat, _ = predictor(frame, task, value)
    labelled = frame["labelled"].to_numpy(dtype=bool)
    if (missing := _not_estimable(labelled, min_labelled)) is not None:
        return missing
    y = (frame.loc[labelled, f"gold_{task}"] == value).to_numpy(dtype=float)
    args = (y, yhat[labelled], yhat[~labelled])
    point = float(np.ravel(ppi_mean_pointestimate(*args, lam=1))[0])
    alpha = 0.05
    low, high = (float(np.ravel(b)[0]) for b in ppi_mean_ci(*args, alpha=alpha, lam=1))
    se = (high - low) / (2 * stats.norm.ppf(1 - alpha / 2))
    return Estimate(point, se, int(labelled.sum()), int((~labelled).sum()))


def share_within(frame: pd.DataFrame, task: str, value: str, flag: pd.Series,
                 min_labelled: int = MIN_LABELLED) -> Estimate:  # fmt: skip
    """PPI estimate of the share of calls with ``flag`` among the calls of ``frame`` truly labelled ``value`` (how
    many follow-up calls leave documents to send), when ``flag`` is read from the call itself, without error.

    The share is a ratio of two PPI means, calls that are ``value`` and flagged over calls that are ``value``; its
    standard error is the delta method's: that of the PPI mean of ``y (flag - share)``, divided by the rate.
    """
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    yhat, _ = predictor(frame, task, value)
    k = flag.reindex(frame.index, fill_value=False).astype(float).to_numpy()
    labelled = frame["labelled"].to_numpy(dtype=bool)
    if (missing := _not_estimable(labelled, min_labelled)) is not None:
        return missing
    y = (frame.loc[labelled, f"gold_{task}"] == value).to_numpy(dtype=float)

    def mean(truth: np.ndarray, guess: np.ndarray) -> float:
        return float(np.ravel(ppi_mean_pointestimate(truth, guess[labelled], guess[~labelled], lam=1))[0])

    n, big_n = int(labelled.sum()), int((~labelled).sum())
    rate = mean(y, yhat)
    if rate <= 0:
        return Estimate(np.nan, np.nan, n, big_n, f"no call estimated {value}")
    share = mean(y * k[labelled], yhat * k) / rate
    residual = yhat * (k - share)
    alpha = 0.05
    low, high = (float(np.ravel(b)[0]) for b in ppi_mean_ci(y * (k[labelled] - share), residual[labelled],
                                                              residual[~labelled], alpha=alpha, lam=1))
    return Estimate(share, (high - low) / (2 * stats.norm.ppf(1 - alpha / 2)) / rate, n, big_n)


def rate_row(frame: pd.DataFrame, task: str, value: str, alpha: float = 0.05,
             min_labelled: int = MIN_LABELLED) -> dict[str, object]:  # fmt: skip
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
    est = ppi_rate(frame, task, value, min_labelled)
    low, high = est.interval(alpha)
    return {
        "calls": len(frame), "labelled": est.labelled,
        "naive": hits.mean() if len(frame) else np.nan,
        **dict(zip(("naive_low", "naive_high"), wilson_interval(int(hits.sum()), len(frame), 1 - alpha))),
        "labels_only": gold_hits / len(lab) if len(lab) else np.nan,
        **dict(zip(("labels_low", "labels_high"), wilson_interval(gold_hits, len(lab), 1 - alpha))),
        "ppi": min(1.0, max(0.0, est.value)) if est.estimable else np.nan, "ppi_low": max(0.0, low) if est.estimable else np.nan,
        "ppi_high": min(1.0, high) if est.estimable else np.nan, "ppi_se": est.se,
        "estimable": est.estimable, "few_labels": est.estimable and est.labelled < FEW_LABELS, "note": est.note,
        "predictor": predictor(frame, task, value)[1],
    }  # fmt: skip


def rate_table(frame: pd.DataFrame, by: str | None, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
               alpha: float = 0.05, min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """:func:`rate_row` of every rate over all calls (group "all calls") and within each group of column ``by``.

    The PPI counterpart of :func:`callinsights.analysis.stats.rate_table`, which reads one set of labels.
    """
    parts = [("all calls", frame)]
    if by is not None:
        parts += [(name, part) for name, part in frame.groupby(by, sort=True)]
    rows = [{"by": by or "", "group": name, "rate": short, "task": task, "value": value,
             **rate_row(part, task, value, alpha, min_labelled)}
            for task, value, short in rates for name, part in parts]  # fmt: skip
    return pd.DataFrame(rows)


def by_reading(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """PPI rates corrected with different hand-label files (name -> its :func:`rate_table`), side by side: ``naive``
    and, per file, ``<name>``, ``<name>_low``, ``<name>_high`` (PPI) and ``<name>_labels`` (labels only)."""
    keys = ["by", "group", "rate"]
    out = None
    for name, table in tables.items():
        part = table[keys + ["naive", "ppi", "ppi_low", "ppi_high", "labels_only"]].rename(columns={
            "ppi": name, "ppi_low": f"{name}_low", "ppi_high": f"{name}_high", "labels_only": f"{name}_labels"})
        out = part if out is None else out.merge(part.drop(columns="naive"), on=keys, how="outer")
    return out.reset_index(drop=True) if out is not None else pd.DataFrame(columns=keys)


def difference(frame: pd.DataFrame, in_a: pd.Series, task: str, value: str, in_b: pd.Series | None = None,
               alpha: float = 0.05, min_labelled: int = MIN_LABELLED) -> dict[str, object]:  # fmt: skip
    """Rate in group A minus rate in group B (default: all other calls), by PPI, from predictions and from labels.

    A and B must be disjoint so that the variance of the difference is the sum of theirs. A group that differs from
    the rest also differs from the overall rate, which lies between the two.

    Returns:
        Per side (``_a``, ``_b``): ``calls``, ``labelled``, ``pred_count``, ``gold_count``, ``rate`` (PPI); then
        ``ppi_diff`` with ``ppi_se``, ``ppi_low``, ``ppi_high`` and normal ``p``; ``naive_diff`` and ``labels_diff``
        with Newcombe intervals; ``estimable`` and ``note``.
    """
    in_a = in_a.reindex(frame.index, fill_value=False).astype(bool)
    in_b = ~in_a if in_b is None else in_b.reindex(frame.index, fill_value=False).astype(bool)
    if (in_a & in_b).any():
        raise ValueError("the two groups of a difference must not share calls")
    a, b = frame[in_a], frame[in_b]
    ea, eb = ppi_rate(a, task, value, min_labelled), ppi_rate(b, task, value, min_labelled)
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
                      alpha: float = 0.05, min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """:func:`difference` of each group of column ``by`` against all other calls, for every rate."""
    rows = []
    for task, value, short in rates:
        for name in sorted(frame[by].dropna().unique(), key=str):
            rows.append({"by": by, "group": name, "versus": "the rest", "rate": short, "task": task, "value": value,
                         **difference(frame, frame[by] == name, task, value, alpha=alpha,
                                      min_labelled=min_labelled)})  # fmt: skip
    return pd.DataFrame(rows)


def flag_differences(frame: pd.DataFrame, flags: Mapping[str, str] | Iterable[str], task: str = "outcome",
                     value: str = "follow-up action needed", alpha: float = 0.05,
                     min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """:func:`difference` of calls with each flag (a count above 0, or True) against calls without it; ``flags``
    may map a column to how a reader sees it (the row's ``group`` is "with <that>")."""
    names = dict(flags) if isinstance(flags, Mapping) else {f: f for f in flags}
    short = next((s for t, v, s in KEY_RATES if (t, v) == (task, value)), value)
    rows = []
    for column, label in names.items():
        present = frame[column].astype(float) > 0
        rows.append({"by": column, "group": f"with {label}", "versus": "without", "rate": short, "task": task,
                     "value": value, **difference(frame, present, task, value, alpha=alpha,
                                                  min_labelled=min_labelled)})  # fmt: skip
    return pd.DataFrame(rows)


def plot_rate_intervals(table: pd.DataFrame, rate: str, title: str, ax=None):
    """One rate of a :func:`rate_table` per group, with its three intervals side by side; returns the Figure."""
    import matplotlib.pyplot as plt

    data = table[table["rate"] == rate].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.6 * len(data) + 1.5))
    y = np.arange(len(data))[::-1]
    styles = [("naive", "predictions only (Wilson)", "o", -0.22), ("labels_only", "hand labels only (Wilson)",
              "s", 0.0), ("ppi", "PPI (predictions corrected by hand labels)", "D", 0.22)]  # fmt: skip
    for column, label, marker, shift in styles:
        low, high = ("ppi_low", "ppi_high") if column == "ppi" else (f"{column.split('_')[0]}_low",
                                                                      f"{column.split('_')[0]}_high")  # fmt: skip
        ok = data[column].notna()
        ax.errorbar(data.loc[ok, column], y[ok] + shift,
                    xerr=[(data.loc[ok, column] - data.loc[ok, low]).clip(lower=0),
                          (data.loc[ok, high] - data.loc[ok, column]).clip(lower=0)],
                    fmt=marker, capsize=3, label=label, ms=5)  # fmt: skip
    labels = [f"{g} ({n} calls, {k} labelled)" + ("" if e else ": PPI not estimable")
              for g, n, k, e in zip(data["group"], data["calls"], data["labelled"], data["estimable"])]  # fmt: skip
    ax.set_yticks(y, labels)
    ax.set(xlim=(-0.02, 1.02), xlabel=f"share of calls: {rate} (95% intervals)", title=title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14 - 0.3 / max(len(data), 1)), ncol=1,
              frameon=False)  # fmt: skip
    ax.figure.tight_layout()
    return ax.figure


def logistic_odds(frame: pd.DataFrame, features: Sequence[str], task: str = "outcome",
                  value: str = "follow-up action needed", alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """PPI logistic regression of ``task == value`` on standardised features: odds ratios per SD with intervals.

    The PPI counterpart of :func:`callinsights.analysis.stats.logistic_odds`. The predictions' weight is tuned
    (PPI++): with several coefficients and 40 labelled calls, untuned PPI's intervals span orders of magnitude.

    The table is empty with fewer labelled calls than coefficients + 10.
    """
    from ppi_py import ppi_logistic_ci, ppi_logistic_pointestimate

    X, _ = varying_features(frame[list(features)].astype(float))
    X.insert(0, "const", 1.0)
    lab = frame["labelled"].to_numpy(bool)
    columns = ["feature", "odds_ratio", "ci_low", "ci_high", "labelled", "unlabelled"]
    if lab.sum() < X.shape[1] + 10 or (~lab).sum() == 0:
        return pd.DataFrame(columns=columns)
    y = (frame[f"gold_{task}"] == value).to_numpy(float)
    yhat, _ = predictor(frame, task, value)
    args = (X.to_numpy()[lab], y[lab], yhat[lab], X.to_numpy()[~lab], yhat[~lab])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optimiser's convergence chatter on a small sample
        est = ppi_logistic_pointestimate(*args)
        low, high = ppi_logistic_ci(*args, alpha=alpha)
    table = pd.DataFrame({"feature": X.columns, "odds_ratio": np.exp(est), "ci_low": np.exp(low),
                          "ci_high": np.exp(high), "labelled": int(lab.sum()), "unlabelled": int((~lab).sum())})
    return table[table["feature"] != "const"].reset_index(drop=True)
