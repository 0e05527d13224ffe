"""Bootstrap intervals of a metric, and of the difference between two systems, resampling calls (scipy).

``scipy.stats.bootstrap`` (``paired=True``, ``method="percentile"``) draws the resamples and takes the interval. The
statistic it gets is vectorised (:func:`resample_scores`: one ``bincount`` of confusion counts per batch), because
scoring each resample with scikit-learn took 10.0 s for one macro-F1 interval (2,000 resamples of 40 calls) and 6.0 s
for kappa, against 0.014 s and 0.007 s vectorised (``benchmarks/bootstrap_speed.py`` on the project's 2-core
machine), and notebook 04 takes dozens of intervals. Tests check :func:`resample_scores` against scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from callinsights.evaluation.metrics import (INVALID, check_labels, classification_metrics, encode_pred, encode_truth,
                                  infer_labels, paired)

METRIC_NAMES = ("accuracy", "macro_f1", "weighted_f1", "kappa", "cohen_kappa")


def _confusions(t: np.ndarray, p: np.ndarray, n_true: int, n_pred: int) -> np.ndarray:
    """Counts ``(B, n_true, n_pred)``: one confusion matrix per row of label codes ``t``, ``p`` ``(B, n)``."""
    b = t.shape[0]
    cell = t * n_pred + p + (np.arange(b) * n_true * n_pred)[:, None]
    return np.bincount(cell.ravel(), minlength=b * n_true * n_pred).reshape(b, n_true, n_pred)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def resample_scores(t: np.ndarray, p: np.ndarray, k: int, name: str) -> np.ndarray:
    """One score per resample, as :func:`callinsights.evaluation.metrics.classification_metrics` computes it.

    Args:
        t: Gold label codes ``(B, n)`` in ``0..k-1``.
        p: Predicted codes ``(B, n)``, ``k`` for an invalid answer.
        k: Number of labels.
        name: ``accuracy``, ``macro_f1``, ``weighted_f1`` or ``kappa``.

    Returns:
        ``(B,)`` scores; kappa is NaN where undefined.
    """
    conf = _confusions(t, p, k, k + 1).astype(float)
    tp = np.diagonal(conf[:, :, :k], axis1=1, axis2=2)
    n = conf.sum(axis=(1, 2))
    if name == "accuracy":
        return tp.sum(axis=1) / n
    if name == "kappa":  # (observed - chance agreement) / (1 - chance); an invalid answer matches no truth
        chance = (conf.sum(axis=2) * conf[:, :, :k].sum(axis=1)).sum(axis=1) / n**2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(chance == 1, np.nan, (tp.sum(axis=1) / n - chance) / (1 - chance))
    predicted = conf[:, :, :k].sum(axis=1)  # an invalid prediction is no class's positive ...
    support = conf.sum(axis=2)  # ... but it still leaves its true class unrecalled
    f1 = _safe_ratio(2 * tp, predicted + support)
    if name == "weighted_f1":
        return _safe_ratio((f1 * support).sum(axis=1), n)
    # Over the classes present in the resample, as scikit-learn's default: a class absent from both has nothing to
    # get right or wrong, and counting it as F1 = 0 would drag down every resample that misses a rare class.
    present = (predicted + support) > 0
    return (f1 * present).sum(axis=1) / present.sum(axis=1)


def _coded(y_true: Any, preds: list[Any], labels: Sequence[str] | None, names: Sequence[str] = ("y_pred",)
           ) -> tuple[list[str], np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Checked vocabulary, gold values, predictions, and the label codes of all of them (gold first)."""
    pairs = [paired(y_true, pred, "y_true", name) for pred, name in zip(preds, names)]
    a = pairs[0][0]
    labels = check_labels(labels) if labels is not None else infer_labels(a)
    return labels, a, [b for _, b in pairs], [encode_truth(a, labels)] + [encode_pred(b, labels) for _, b in pairs]


def _point(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], key: str) -> float:
    """The metric on all calls, from scikit-learn."""
    return classification_metrics(y_true, y_pred, labels)["cohen_kappa" if key == "kappa" else key]


def _percentile_interval(data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], n_boot: int,
                         seed: int, alpha: float) -> tuple[float, float]:
    """scipy's paired percentile bootstrap; resamples where the statistic is undefined (NaN) are left out."""
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot}: need at least one resample (2000 is usual)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha}: must be between 0 and 1 (0.05 gives a 95% interval)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # NaN resamples: handled below
        result = stats.bootstrap(data, statistic, n_resamples=n_boot, vectorized=True, paired=True,
                                 confidence_level=1 - alpha, method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    if np.isnan(low) or np.isnan(high):
        values = result.bootstrap_distribution
        if np.isnan(values).all():
            return float("nan"), float("nan")
        low, high = stats.quantile(values, [alpha / 2, 1 - alpha / 2], nan_policy="omit")
    return float(low), float(high)


def bootstrap_ci(y_true: Any, y_pred: Any, metric: str | Callable[[np.ndarray, np.ndarray], float], n_boot: int = 2000,
                 seed: int = 0, alpha: float = 0.05, labels: Sequence[str] | None = None) -> tuple[float, float, float]:
    """A metric on all calls with its percentile-bootstrap confidence interval, resampling calls.

    With 40 labelled calls one call moves accuracy by 2.5 points, so a difference between systems means little
    without its interval. Resamples are drawn from ``seed`` alone, so two systems scored on the same calls with the
    same seed see the same resamples (a paired comparison) and every run gives the same numbers.

    A resample that leaves out a rare class entirely averages macro-F1 over the classes it has (see
    :func:`classification_metrics`). Resamples where kappa is undefined are skipped when taking percentiles.

    Args:
        y_true: Gold label per call.
        y_pred: Predicted label per call (invalid values count as wrong, as in :func:`classification_metrics`).
        metric: ``"accuracy"``, ``"macro_f1"``, ``"weighted_f1"`` or ``"kappa"``; or a callable
            ``metric(y_true, y_pred) -> float`` that receives object arrays, predictions outside the labels
            replaced by ``"invalid"`` (called once per resample: slow, see the module's note).
        n_boot: Number of resamples.
        seed: Seed of the resampling.
        alpha: One minus the interval's coverage (0.05 gives a 95% interval).
        labels: The task's vocabulary; when omitted, inferred from the gold values (sentiment or outcome).

    Returns:
        ``(point, low, high)``: the metric on all calls and the ``alpha / 2`` and ``1 - alpha / 2`` percentiles.

    Raises:
        ValueError: An unknown metric name, ``n_boot < 1``, ``alpha`` outside (0, 1), or bad inputs.
    """
    if isinstance(metric, str) and metric not in METRIC_NAMES:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRIC_NAMES)}; or pass a callable")
    labels, a, (b,), (t, p) = _coded(y_true, [y_pred], labels)
    if isinstance(metric, str):
        key = "kappa" if metric == "cohen_kappa" else metric
        point = _point(a, b, labels, key)

        def statistic(t_: np.ndarray, p_: np.ndarray, axis: int = -1) -> np.ndarray:
            return resample_scores(np.atleast_2d(t_), np.atleast_2d(p_), len(labels), key)
    else:
        names, named = np.array(labels, dtype=object), np.array(labels + [INVALID], dtype=object)
        point = float(metric(names[t], named[p]))

        def statistic(t_: np.ndarray, p_: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.array([metric(names[x], named[y]) for x, y in zip(np.atleast_2d(t_), np.atleast_2d(p_))])
    return (point, *_percentile_interval((t, p), statistic, n_boot, seed, alpha))


def metric_intervals(y_true: Any, y_pred: Any, labels: Sequence[str], n_boot: int = 2000, seed: int = 0,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy, macro-F1, weighted F1 and Cohen's kappa, each with its bootstrap interval (:func:`bootstrap_ci`).

    Args:
        y_true, y_pred, labels, n_boot, seed, alpha: As for :func:`bootstrap_ci`; every metric sees the same
            resamples.

    Returns:
        One row per metric (index ``accuracy, macro_f1, weighted_f1, kappa``): ``value, low, high`` and ``width``
        (``high - low``).
    """
    rows = {}
    for metric in ("accuracy", "macro_f1", "weighted_f1", "kappa"):
        value, low, high = bootstrap_ci(y_true, y_pred, metric, n_boot=n_boot, seed=seed, alpha=alpha, labels=labels)
        rows[metric] = {"value": value, "low": low, "high": high, "width": high - low}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def bootstrap_difference(y_true: Any, pred_a: Any, pred_b: Any, metric: str = "macro_f1",
                         labels: Sequence[str] | None = None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
                         ) -> tuple[float, float, float]:
    """How much better system A scores than system B on the same calls, with a paired bootstrap interval.

    Both systems are scored on the same resampled calls, so the interval reflects the difference itself rather than
    two intervals that overlap because both depend on which calls were sampled. An interval that holds 0 means the
    calls cannot tell the two systems apart.

    Args:
        pred_a: Predictions of system A (same order as ``y_true``; two Series must share their index).
        pred_b: Predictions of system B.
        metric: ``"accuracy"``, ``"macro_f1"``, ``"weighted_f1"`` or ``"kappa"``.
        y_true, labels, n_boot, seed, alpha: As for :func:`bootstrap_ci`.

    Returns:
        ``(difference, low, high)``: A minus B on all calls and the interval's bounds.
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRIC_NAMES)}")
    labels, a, (pa, pb), (t, ca, cb) = _coded(y_true, [pred_a, pred_b], labels, ["pred_a", "pred_b"])
    k, key = len(labels), "kappa" if metric == "cohen_kappa" else metric
    point = _point(a, pa, labels, key) - _point(a, pb, labels, key)

    def statistic(t_: np.ndarray, a_: np.ndarray, b_: np.ndarray, axis: int = -1) -> np.ndarray:
        t_, a_, b_ = np.atleast_2d(t_), np.atleast_2d(a_), np.atleast_2d(b_)
        return resample_scores(t_, a_, k, key) - resample_scores(t_, b_, k, key)
    return (point, *_percentile_interval((t, ca, cb), statistic, n_boot, seed, alpha))
