"""Scoring predictions against gold labels (scikit-learn), bootstrap intervals (scipy), calibration, agreement.

Answers that are not labels (``None``, ``NaN``, a misspelling, a skipped call) are never dropped: they become
:data:`INVALID`, count as wrong and are one more category for kappa, so a model cannot look better by not answering.
A gold value outside the vocabulary is a data error. Nothing of the model side is imported.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.calibration import CalibrationDisplay, calibration_curve
from sklearn.metrics import (ConfusionMatrixDisplay, accuracy_score, brier_score_loss, cohen_kappa_score,
                             confusion_matrix, f1_score, precision_recall_fscore_support)
from statsmodels.stats.proportion import confint_proportions_2indep

from callinsights.schema import INVALID, PROBA_COLUMNS, TASKS
from callinsights.text.redact import redact


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
    """Predictions with every value outside ``labels`` replaced by :data:`INVALID` (an object array)."""
    labels = list(labels)
    codes = encode_pred(values(y_pred, "y_pred"), labels)
    return np.array(labels + [INVALID], dtype=object)[codes]


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
    """The vocabulary as a list, gold labels and predictions with every non-label replaced by :data:`INVALID`."""
    labels = list(labels)
    a, b = paired(y_true, y_pred)
    return labels, np.array(labels, dtype=object)[encode_truth(a, labels)], clean_predictions(b, labels)


def kappa(a: Any, b: Any, labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa (scikit-learn), NaN when undefined (both raters give one and the same label throughout)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the undefined case warns; NaN already says it
        return float(cohen_kappa_score(a, b, labels=labels, replace_undefined_by=np.nan))


def agreement(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Share agreeing and Cohen's kappa of two labellings of the same calls (models, runs, people, label files).

    Calls are matched on the index, never by position; a call missing from either side, or without a value there,
    is left out and counted in ``n_missing``.

    Returns:
        ``share_agree``, ``kappa`` (:func:`kappa`), ``n`` (calls compared) and ``n_missing``.

    Raises:
        ValueError: Not two Series, a call twice on one side, or no call with a value on both sides.
    """
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, pd.Series):
            raise ValueError(f"{name} must be a Series indexed by call id, so that calls are matched, not positions")
        if s.index.has_duplicates:
            dup = s.index[s.index.duplicated()].unique()
            raise ValueError(f"{name} has calls more than once, e.g. {', '.join(map(str, dup[:5]))}; keep one per call")
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="outer")
    usable = both.notna().all(axis=1)
    if not usable.any():
        raise ValueError(
            f"a ({len(a)} calls, e.g. {', '.join(map(str, a.index[:3]))}) and b ({len(b)} calls, e.g. "
            f"{', '.join(map(str, b.index[:3]))}) share no call with a value on both sides; check the call ids"
        )
    pairs = both[usable]
    return {
        "share_agree": float((pairs["a"] == pairs["b"]).mean()),
        "kappa": kappa(pairs["a"].astype(str).to_numpy(), pairs["b"].astype(str).to_numpy()),
        "n": len(pairs),
        "n_missing": int((~usable).sum()),
    }


def newcombe_interval(count_a: int, n_a: int, count_b: int, n_b: int, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe's score interval of ``count_a / n_a - count_b / n_b`` (statsmodels); NaNs when a side is empty."""
    if min(n_a, n_b) == 0:
        return float("nan"), float("nan")
    low, high = confint_proportions_2indep(int(count_a), int(n_a), int(count_b), int(n_b), method="newcombe",
                                           compare="diff", alpha=alpha)  # fmt: skip
    return float(low), float(high)


def classification_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, F1 and Cohen's kappa of predictions against gold labels (scikit-learn), invalid answers wrong.

    Macro-F1 averages the classes present in the gold labels or the valid predictions (scikit-learn's default); a class
    never predicted has precision 0. Two Series must share their index.

    Returns:
        ``n``, ``n_invalid``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``cohen_kappa`` (NaN when undefined) and
        ``per_class`` (``{label: {precision, recall, f1, support}}``), as plain numbers ready for JSON.
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
    """Counts of each (gold, predicted) pair (``confusion_matrix``): rows ``truth`` and columns ``predicted`` in
    ``labels`` order, with an ``invalid`` column only when some prediction is not a label."""
    labels, truth, pred = _named(y_true, y_pred, labels)
    shown = labels + [INVALID] if (pred == INVALID).any() else labels
    counts = confusion_matrix(truth, pred, labels=shown)[: len(labels)]
    return pd.DataFrame(counts, index=pd.Index(labels, name="truth"), columns=pd.Index(shown, name="predicted"))



# Bootstrap intervals of a metric, and of the difference between two systems, resampling calls (scipy).

METRIC_NAMES = ("accuracy", "macro_f1", "weighted_f1", "kappa")


def _confusions(t: np.ndarray, p: np.ndarray, n_true: int, n_pred: int) -> np.ndarray:
    """Counts ``(B, n_true, n_pred)``: one confusion matrix per row of label codes ``t``, ``p`` ``(B, n)``."""
    b = t.shape[0]
    cell = t * n_pred + p + (np.arange(b) * n_true * n_pred)[:, None]
    return np.bincount(cell.ravel(), minlength=b * n_true * n_pred).reshape(b, n_true, n_pred)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def resample_scores(t: np.ndarray, p: np.ndarray, k: int, name: str) -> np.ndarray:
    """One score per resample (rows of codes ``t``, ``p``; ``k`` labels, code ``k`` invalid) as
    :func:`classification_metrics` computes it, from all resamples' confusion counts at once (scikit-learn scores
    one resample per call, too slow for thousands); kappa is NaN where undefined."""
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


def _percentile_interval(data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], n_boot: int,
                         seed: int, alpha: float) -> tuple[float, float]:
    """scipy's paired percentile bootstrap; resamples where the statistic is undefined (NaN) are left out."""
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


def _bootstrap(y_true: Any, preds: Mapping[str, Any], metric: str, labels: Sequence[str], n_boot: int, seed: int,
               alpha: float) -> tuple[float, float, float]:
    """The metric of one system, or system A's minus system B's, on all calls, with its paired percentile-bootstrap
    interval over resampled calls: ``(point, low, high)``."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRIC_NAMES)}")
    labels = list(labels)
    pairs = [paired(y_true, pred, "y_true", name) for name, pred in preds.items()]
    codes = [encode_truth(pairs[0][0], labels)] + [encode_pred(b, labels) for _, b in pairs]
    key = "cohen_kappa" if metric == "kappa" else metric
    points = [classification_metrics(a, b, labels)[key] for a, b in pairs]

    def statistic(t: np.ndarray, *p: np.ndarray, axis: int = -1) -> np.ndarray:
        scores = [resample_scores(np.atleast_2d(t), np.atleast_2d(x), len(labels), metric) for x in p]
        return scores[0] - scores[1] if len(scores) == 2 else scores[0]

    # Two systems: the statistic is A's score minus B's.
    point = points[0] - points[1] if len(points) == 2 else points[0]
    return (point, *_percentile_interval(tuple(codes), statistic, n_boot, seed, alpha))


def bootstrap_ci(y_true: Any, y_pred: Any, metric: str, labels: Sequence[str], n_boot: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float, float]:
    """A metric (one of :data:`METRIC_NAMES`) on all calls with its percentile-bootstrap interval, resampling calls.

    With 40 labelled calls one call moves accuracy by 2.5 points, so a score means little without its interval. The
    resamples depend on ``seed`` alone, so systems scored on the same calls are compared on the same resamples; those
    where kappa is undefined are left out. Returns ``(point, low, high)``.
    """
    return _bootstrap(y_true, {"y_pred": y_pred}, metric, labels, n_boot, seed, alpha)


def metric_intervals(y_true: Any, y_pred: Any, labels: Sequence[str], n_boot: int = 2000, seed: int = 0,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy, macro-F1, weighted F1 and kappa, each with its :func:`bootstrap_ci` on the same resamples: one row
    per metric with ``value``, ``low``, ``high`` and ``width``."""
    rows = {}
    for metric in METRIC_NAMES:
        value, low, high = bootstrap_ci(y_true, y_pred, metric, labels, n_boot=n_boot, seed=seed, alpha=alpha)
        rows[metric] = {"value": value, "low": low, "high": high, "width": high - low}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def bootstrap_difference(y_true: Any, pred_a: Any, pred_b: Any, metric: str, labels: Sequence[str],
                         n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """System A's score minus system B's on the same calls, with a paired bootstrap interval: ``(difference, low,
    high)``, both scored on the same resamples; an interval that holds 0 means the calls cannot tell them apart."""
    return _bootstrap(y_true, {"pred_a": pred_a, "pred_b": pred_b}, metric, labels, n_boot, seed, alpha)


#: The faithfulness measures of an evidence quote, as ERASER names them (DeYoung et al., 2020).
FAITHFULNESS_MEASURES = ("comprehensiveness", "sufficiency")


def faithfulness_table(per_call: pd.DataFrame, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """The evidence quotes' mean comprehensiveness and sufficiency beside a random turn's, per task, with percentile
    bootstrap intervals over calls (the difference paired: both read on the same resampled calls).

    Args:
        per_call: One row per call and task (:func:`callinsights.classify.probe.evidence_faithfulness`): ``task``,
            each measure and ``random_`` + measure, NaN for a call with no quoted turn.
        n_boot, seed, alpha: As for :func:`bootstrap_ci`.

    Returns:
        One row per task and measure: ``evidence``, ``random_turn`` and ``difference`` (evidence minus random turn;
        comprehensiveness: higher is more faithful, sufficiency: lower), each with ``_low`` and ``_high``; ``calls``
        and ``quoted`` (the calls with a quoted turn, the ones measured).
    """
    def mean(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(columns[0] if len(columns) == 1 else columns[0] - columns[1], axis=axis)

    rows = []
    for task, part in per_call.groupby("task", sort=False):
        quoted = part.dropna(subset=list(FAITHFULNESS_MEASURES))
        for measure in FAITHFULNESS_MEASURES:
            quote, baseline = quoted[measure].to_numpy(), quoted[f"random_{measure}"].to_numpy()
            row: dict[str, Any] = {"task": task, "measure": measure}
            for name, data in (("evidence", (quote,)), ("random_turn", (baseline,)), ("difference", (quote, baseline))):
                row[name] = float(mean(*data))
                row[f"{name}_low"], row[f"{name}_high"] = _percentile_interval(data, mean, n_boot, seed, alpha)
            rows.append(row | {"calls": len(part), "quoted": len(quoted)})
    return pd.DataFrame(rows)



# Calibration of the predicted probabilities: Brier score, reliability per confidence band, and its diagram.

def proba_frame(preds: pd.DataFrame, task: str) -> pd.DataFrame:
    """A task's probability columns of a predictions table, renamed to their labels."""
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
    """Truth positions and an ``(n, K)`` probability matrix in ``labels`` order (every label a column)."""
    labels = list(labels)
    absent = [label for label in labels if label not in proba.columns]
    if absent:
        raise ValueError(
            f"proba has no column for {', '.join(absent)} (columns: {', '.join(map(str, proba.columns))}); "
            f"name columns by label, e.g. with proba_frame()"
        )
    a, _ = paired(y_true, pd.Series(0, index=proba.index), "y_true", "proba")
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
    """Multi-class Brier score (``brier_score_loss(scale_by_half=False)``): 0 is perfect, 2 the worst; for the two
    outcome labels twice the usual binary score, so both tasks share one scale."""
    t, p = _checked_proba(y_true, proba, labels)
    return float(brier_score_loss(t, p, labels=list(range(len(labels))), scale_by_half=False))


def reliability_table(y_true: Any, proba: pd.DataFrame, labels: Sequence[str], n_bins: int = 5) -> pd.DataFrame:
    """How often the predicted (most probable) class is right per band of confidence in it (``calibration_curve``,
    ``n_bins`` equal-width bands).

    Returns:
        One row per band, empty ones included: ``bin_low``, ``bin_high``, ``n``, ``confidence``, ``accuracy`` and
        ``gap`` (accuracy minus confidence; negative is over-confident).
    """
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
    """The call-weighted mean of ``|gap|`` over the bands of :func:`reliability_table`, in [0, 1]; noisy and biased
    upwards on few calls, so compare systems with the same ``n_bins``."""
    table = reliability_table(y_true, proba, labels, n_bins)
    used = table[table["n"] > 0]
    return float((used["n"] * used["gap"].abs()).sum() / used["n"].sum())


def calibration_summary(gold: pd.DataFrame, systems: Mapping[str, pd.DataFrame],
                        tasks: Mapping[str, Sequence[str]] = TASKS, n_bins: int = 5,
                        label_shares: bool = True) -> pd.DataFrame:
    """Brier score, expected calibration error, mean confidence and accuracy of several systems' probabilities per
    task; ``label_shares`` adds a generous no-model reference that gives every call the gold labels' own shares."""
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
    """Draw a :func:`reliability_table` as a reliability diagram (``CalibrationDisplay``), each band with its calls."""
    used = table[table["n"] > 0]
    CalibrationDisplay(used["accuracy"].to_numpy(), used["confidence"].to_numpy(), None,
                       estimator_name="predicted class").plot(ax=ax)
    for _, row in used.iterrows():
        ax.annotate(f"n={int(row['n'])}", (row["confidence"], row["accuracy"]), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="confidence in the predicted class", ylabel="share correct")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax



# Scoring systems against hand labels: tables of several systems, confusion plots, the calls they got wrong.

def align(labels_df: pd.DataFrame, preds_df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Gold labels and predictions joined on call id, in the label file's order, and the labelled calls without a
    prediction; a column both have becomes ``<name>_true`` and ``<name>_pred``.

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
    """Metrics of several systems, one row per system and task, macro-F1 with its bootstrap interval.

    Every system is scored on all labelled calls (a call it has no prediction for is invalid, so skipping hard calls
    cannot help), with the same ``seed`` and hence paired resamples.

    Returns:
        Columns ``system, task, accuracy, macro_f1, macro_f1_low, macro_f1_high, weighted_f1, kappa, n, n_invalid``.
    """
    gold = by_call(gold, "gold")
    rows = []
    for name, preds in systems.items():
        absent = [task for task in tasks if task not in preds.columns]
        if absent:
            raise ValueError(
                f"system {name!r} has no {', '.join(absent)} column(s) (it has {', '.join(map(str, preds.columns))})"
            )
        frame, _ = align(gold[list(tasks)], preds[[c for c in preds.columns if c in (*tasks, "file")]])
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
    """Draw a table of counts (``ConfusionMatrixDisplay``), each cell with its share of the row; a column with no row
    of its name (``invalid``) gets an empty row, the display being square."""
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
    """Draw the confusion matrix of predictions against gold labels, truth down the side (:func:`plot_counts`)."""
    plot_counts(ax, confusion_frame(y_true, y_pred, labels))
    ax.set(xlabel="predicted", ylabel="truth")
    if title:
        ax.set_title(title)
    return ax


def plot_macro_f1(ax: Any, report: pd.DataFrame, task: str, title: str | None = None) -> Any:
    """Draw each system's macro-F1 for one task of a :func:`report_table` as a bar with its bootstrap interval."""
    rows = report[report["task"] == task]
    if rows.empty:
        raise ValueError(f"report has no rows for task {task!r} (it has {', '.join(report['task'].unique())})")
    y = np.arange(len(rows))[::-1]
    errors = [rows["macro_f1"] - rows["macro_f1_low"], rows["macro_f1_high"] - rows["macro_f1"]]
    ax.barh(y, rows["macro_f1"], xerr=errors, color="tab:blue", alpha=0.75, capsize=3, ecolor="black")
    for yi, value, high in zip(y, rows["macro_f1"], rows["macro_f1_high"]):
        ax.annotate(f"{value:.2f}", (min(high, 0.9) + 0.015, yi), va="center", fontsize=8)
    ax.set_yticks(y, rows["system"])
    ax.set(xlim=(0, 1), xlabel="macro-F1 (95% bootstrap interval)", title=title or task)
    return ax


def mistakes(gold: pd.DataFrame, preds: pd.DataFrame, texts: Mapping[str, str], tasks: Mapping[str, Sequence[str]]
             = TASKS, max_chars: int = 300) -> pd.DataFrame:
    """The calls a system got wrong, most confident first (nobody double-checks a confident mistake): ``file``,
    ``task``, ``truth``, ``predicted``, ``confidence`` (NaN without probabilities) and the customer's text, redacted
    before it is cut to ``max_chars`` so no identifier is left half-visible."""
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
