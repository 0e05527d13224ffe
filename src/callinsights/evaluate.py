"""Scoring predictions against hand labels, and the signals that watch a model when no labels exist.

Everything here is a pure function over arrays, Series or small frames, so notebooks and the command line share one
implementation; plotting helpers draw on an ``ax`` they are given and return it.

Two groups:

- **Accuracy against labels**: :func:`align`, :func:`classification_metrics`, :func:`bootstrap_ci`,
  :func:`metric_intervals`, :func:`bootstrap_difference`, :func:`report_table`, :func:`confusion_frame`,
  :func:`plot_confusion`, :func:`plot_macro_f1`, :func:`mistakes`.
- **Calibration of the probabilities**: :func:`proba_frame`, :func:`brier_score`, :func:`reliability_table`,
  :func:`expected_calibration_error`, :func:`calibration_summary`, :func:`plot_reliability`.
- Monitoring without labels lives in :mod:`callinsights.monitoring`.

:func:`json_ready` turns any of their results into plain JSON values (NaN becomes null) for ``results/metrics.json``.

A prediction that is not one of the task's labels (``None``, ``NaN``, ``"invalid"``, a misspelling, a call the model
skipped) is never dropped: it counts as wrong and is reported as ``n_invalid``, so a model cannot look better by
failing to answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from callinsights.classify import PROBA_COLUMNS
from callinsights.labels import OUTCOMES, SENTIMENTS, TASKS
from callinsights.redact import redact

#: What an unusable prediction is called in tables and what a metric callable sees in its place.
INVALID = "invalid"

_METRIC_NAMES = ("accuracy", "macro_f1", "weighted_f1", "kappa", "cohen_kappa")

# Largest number of resampled labels held in memory at once while bootstrapping (about 16 MB of indices).
_BOOT_CHUNK_CELLS = 2_000_000


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------


def _values(x: Any, name: str) -> np.ndarray:
    """A 1-D object array of the values in ``x`` (list, array or Series)."""
    if isinstance(x, pd.DataFrame):
        raise ValueError(f"{name} is a DataFrame; pass one column of it (one value per call)")
    arr = np.asarray(x.to_numpy() if isinstance(x, (pd.Series, pd.Index)) else list(x), dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per call); got shape {arr.shape}")
    return arr


def _paired(y_true: Any, y_pred: Any, true_name: str = "y_true", pred_name: str = "y_pred"
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
    a, b = _values(y_true, true_name), _values(y_pred, pred_name)
    if len(a) != len(b):
        raise ValueError(f"{true_name} has {len(a)} values but {pred_name} has {len(b)}; pass one of each per call")
    if len(a) == 0:
        raise ValueError(f"{true_name} and {pred_name} are empty; there is nothing to score")
    return a, b


def _check_labels(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty; pass the task's vocabulary, e.g. callinsights.labels.SENTIMENTS")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels {labels} repeat a value; pass each label once")
    if INVALID in labels:
        raise ValueError(f"labels {labels} include {INVALID!r}, which is reserved for unusable predictions")
    return labels


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def _encode_truth(values: np.ndarray, labels: list[str], name: str = "y_true") -> np.ndarray:
    """Label positions; a truth value outside the vocabulary is a data error, not a wrong answer."""
    index = {label: i for i, label in enumerate(labels)}
    bad = [(i, v) for i, v in enumerate(values) if _is_missing(v) or v not in index]
    if bad:
        shown = ", ".join(f"{v!r} (position {i})" for i, v in bad[:5])
        raise ValueError(
            f"{name} has {len(bad)} value(s) outside {labels}: {shown}. Gold labels must be exactly these values; "
            f"read them with callinsights.labels.load_labels, which lower-cases and checks them"
        )
    return np.array([index[v] for v in values], dtype=np.int64)


def _encode_pred(values: np.ndarray, labels: list[str]) -> np.ndarray:
    """Label positions, with ``len(labels)`` for anything that is not a label."""
    index = {label: i for i, label in enumerate(labels)}
    invalid = len(labels)
    return np.array([invalid if _is_missing(v) else index.get(v, invalid) for v in values], dtype=np.int64)


def clean_predictions(y_pred: Any, labels: Sequence[str]) -> np.ndarray:
    """Predictions with every value outside ``labels`` replaced by :data:`INVALID`.

    Args:
        y_pred: One prediction per call.
        labels: The task's vocabulary.

    Returns:
        An object array of labels and ``"invalid"``.
    """
    labels = _check_labels(labels)
    codes = _encode_pred(_values(y_pred, "y_pred"), labels)
    return np.array(labels + [INVALID], dtype=object)[codes]


def _infer_labels(y_true: np.ndarray) -> list[str]:
    """The project's vocabulary the gold values belong to (so named metrics need no ``labels`` argument)."""
    present = {v for v in y_true if not _is_missing(v)}
    for vocabulary in TASKS.values():
        if present and present <= set(vocabulary):
            return list(vocabulary)
    raise ValueError(
        f"cannot tell the task from the gold values {sorted(map(str, present))}: they are not all in "
        f"{list(SENTIMENTS)} or {list(OUTCOMES)}; pass labels= explicitly"
    )


# ---------------------------------------------------------------------------------------------------------------
# Scores from confusion matrices: one implementation, vectorised so the bootstrap can score thousands of resamples
# at once. Tests check every score against scikit-learn.
# ---------------------------------------------------------------------------------------------------------------


def _confusions(t: np.ndarray, p: np.ndarray, n_true: int, n_pred: int, idx: np.ndarray) -> np.ndarray:
    """Counts ``(B, n_true, n_pred)``: one confusion matrix per row of call indices ``idx`` ``(B, n)``."""
    b = idx.shape[0]
    cell = t[idx] * n_pred + p[idx] + (np.arange(b) * n_true * n_pred)[:, None]
    return np.bincount(cell.ravel(), minlength=b * n_true * n_pred).reshape(b, n_true, n_pred)


def _kappa(square: np.ndarray) -> np.ndarray:
    """Cohen's kappa for each ``(B, M, M)`` confusion (rows one rater, columns the other), NaN when undefined.

    Written as scikit-learn writes it (observed over expected disagreement) so results agree to rounding.
    """
    square = square.astype(float)
    m = square.shape[-1]
    disagree = 1.0 - np.eye(m)
    expected = square.sum(axis=1)[:, :, None] * square.sum(axis=2)[:, None, :] / square.sum(axis=(1, 2))[:, None, None]
    observed = (disagree * square).sum(axis=(1, 2))
    chance = (disagree * expected).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        # Undefined when both raters use one and the same label throughout: there is no disagreement to expect.
        return np.where(chance == 0, np.nan, 1.0 - observed / np.where(chance == 0, 1.0, chance))


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _scores(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Every score for each ``(B, K, K + 1)`` confusion; the last column holds invalid predictions."""
    k = conf.shape[1]
    conf = conf.astype(float)
    tp = np.diagonal(conf[:, :, :k], axis1=1, axis2=2)
    predicted = conf[:, :, :k].sum(axis=1)  # an invalid prediction is no class's positive
    support = conf.sum(axis=2)  # ... but it still leaves its true class unrecalled
    n = support.sum(axis=1)
    f1 = _safe_ratio(2 * tp, predicted + support)
    # Macro-F1 averages over the classes that occur (in truth or prediction), as scikit-learn does by default: a
    # class absent from both has nothing to get right or wrong, and counting it as F1 = 0 would drag down every
    # bootstrap resample that happens to miss a rare class, even for a perfect system.
    present = (predicted + support) > 0
    square = np.concatenate([conf, np.zeros((conf.shape[0], 1, k + 1))], axis=1)
    return {
        "accuracy": tp.sum(axis=1) / n,
        "macro_f1": (f1 * present).sum(axis=1) / present.sum(axis=1),
        "weighted_f1": _safe_ratio((f1 * support).sum(axis=1), n),
        "kappa": _kappa(square),
        "precision": _safe_ratio(tp, predicted),
        "recall": _safe_ratio(tp, support),
        "f1": f1,
        "support": support,
    }


# ---------------------------------------------------------------------------------------------------------------
# Accuracy against labels
# ---------------------------------------------------------------------------------------------------------------


def classification_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, F1 and Cohen's kappa of predictions against gold labels, as scikit-learn computes them.

    Invalid predictions (anything not in ``labels``) count as wrong: they lower the recall of the call's true class
    and are nobody's true positive. Kappa treats ``"invalid"`` as one more category. A class that is never predicted
    has precision 0 (scikit-learn's ``zero_division=0``). Macro-F1 averages the classes that occur in the gold labels
    or the (valid) predictions, which is scikit-learn's default ``f1_score(..., average="macro")``; with every class
    present, as in the client's labels, that is all of ``labels``.

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
    labels = _check_labels(labels)
    a, b = _paired(y_true, y_pred)
    t, p = _encode_truth(a, labels), _encode_pred(b, labels)
    s = _scores(_confusions(t, p, len(labels), len(labels) + 1, np.arange(len(t))[None, :]))
    return {
        "n": len(t),
        "n_invalid": int((p == len(labels)).sum()),
        "accuracy": float(s["accuracy"][0]),
        "macro_f1": float(s["macro_f1"][0]),
        "weighted_f1": float(s["weighted_f1"][0]),
        "cohen_kappa": float(s["kappa"][0]),
        "per_class": {
            label: {
                "precision": float(s["precision"][0, i]),
                "recall": float(s["recall"][0, i]),
                "f1": float(s["f1"][0, i]),
                "support": int(s["support"][0, i]),
            }
            for i, label in enumerate(labels)
        },
    }


def _resamples(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Bootstrap call indices in chunks of rows ``(chunk, n)``, the same stream whichever metric consumes them."""
    chunk = max(1, _BOOT_CHUNK_CELLS // n)
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))


def bootstrap_ci(
    y_true: Any,
    y_pred: Any,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    labels: Sequence[str] | None = None,
) -> tuple[float, float, float]:
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
            replaced by ``"invalid"``.
        n_boot: Number of resamples.
        seed: Seed of the resampling.
        alpha: One minus the interval's coverage (0.05 gives a 95% interval).
        labels: The task's vocabulary; when omitted, inferred from the gold values (sentiment or outcome).

    Returns:
        ``(point, low, high)``: the metric on all calls and the ``alpha / 2`` and ``1 - alpha / 2`` percentiles.

    Raises:
        ValueError: An unknown metric name, ``n_boot < 1``, ``alpha`` outside (0, 1), or bad inputs.
    """
    if isinstance(metric, str) and metric not in _METRIC_NAMES:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(_METRIC_NAMES)}; or pass a callable")
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot}: need at least one resample (2000 is usual)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha}: must be between 0 and 1 (0.05 gives a 95% interval)")
    a, b = _paired(y_true, y_pred)
    labels = _check_labels(labels) if labels is not None else _infer_labels(a)
    t, p = _encode_truth(a, labels), _encode_pred(b, labels)
    n, k = len(t), len(labels)
    rng = np.random.default_rng(seed)

    if isinstance(metric, str):
        key = "kappa" if metric == "cohen_kappa" else metric

        def score(idx: np.ndarray) -> np.ndarray:
            return _scores(_confusions(t, p, k, k + 1, idx))[key]
    else:
        truth, pred = np.array(labels, dtype=object)[t], np.array(labels + [INVALID], dtype=object)[p]

        def score(idx: np.ndarray) -> np.ndarray:
            return np.array([metric(truth[row], pred[row]) for row in idx], dtype=float)

    point = float(score(np.arange(n)[None, :])[0])
    values = np.concatenate([score(idx) for idx in _resamples(n, n_boot, rng)])
    if np.isnan(values).all():
        return point, float("nan"), float("nan")
    low, high = np.nanpercentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return point, float(low), float(high)


def metric_intervals(y_true: Any, y_pred: Any, labels: Sequence[str], n_boot: int = 2000, seed: int = 0,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy, macro-F1, weighted F1 and Cohen's kappa, each with its bootstrap interval (:func:`bootstrap_ci`).

    Args:
        y_true: Gold label per call.
        y_pred: Predicted label per call.
        labels: The task's vocabulary.
        n_boot: Bootstrap resamples.
        seed: Seed of the resampling (the same resamples for every metric).
        alpha: One minus the intervals' coverage.

    Returns:
        One row per metric (index ``accuracy, macro_f1, weighted_f1, kappa``): ``value, low, high`` and ``width``
        (``high - low``).
    """
    rows = {}
    for metric in ("accuracy", "macro_f1", "weighted_f1", "kappa"):
        value, low, high = bootstrap_ci(y_true, y_pred, metric, n_boot=n_boot, seed=seed, alpha=alpha, labels=labels)
        rows[metric] = {"value": value, "low": low, "high": high, "width": high - low}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def bootstrap_difference(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    metric: str = "macro_f1",
    labels: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """How much better system A scores than system B on the same calls, with a paired bootstrap interval.

    Both systems are scored on the same resampled calls, so the interval reflects the difference itself rather than
    two intervals that overlap because both depend on which calls were sampled. An interval that holds 0 means the
    calls cannot tell the two systems apart.

    Args:
        y_true: Gold label per call.
        pred_a: Predictions of system A (same order; two Series must share their index).
        pred_b: Predictions of system B.
        metric: ``"accuracy"``, ``"macro_f1"``, ``"weighted_f1"`` or ``"kappa"``.
        labels: The task's vocabulary; inferred from the gold values when omitted.
        n_boot: Bootstrap resamples.
        seed: Seed of the resampling.
        alpha: One minus the interval's coverage.

    Returns:
        ``(difference, low, high)``: A minus B on all calls and the interval's bounds.
    """
    if metric not in _METRIC_NAMES:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(_METRIC_NAMES)}")
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot}: need at least one resample (2000 is usual)")
    a, pa = _paired(y_true, pred_a, "y_true", "pred_a")
    _, pb = _paired(y_true, pred_b, "y_true", "pred_b")
    labels = _check_labels(labels) if labels is not None else _infer_labels(a)
    t, ca, cb = _encode_truth(a, labels), _encode_pred(pa, labels), _encode_pred(pb, labels)
    k, key = len(labels), "kappa" if metric == "cohen_kappa" else metric

    def diff(idx: np.ndarray) -> np.ndarray:
        return _scores(_confusions(t, ca, k, k + 1, idx))[key] - _scores(_confusions(t, cb, k, k + 1, idx))[key]

    point = float(diff(np.arange(len(t))[None, :])[0])
    values = np.concatenate([diff(idx) for idx in _resamples(len(t), n_boot, np.random.default_rng(seed))])
    if np.isnan(values).all():
        return point, float("nan"), float("nan")
    low, high = np.nanpercentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return point, float(low), float(high)


def _by_call(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A frame indexed by call id: its ``file`` column when it has one, else its index."""
    if "file" in frame.columns:
        frame = frame.set_index("file")
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise ValueError(
            f"{name} has {len(dup)} call(s) more than once, e.g. {', '.join(map(str, dup[:5]))}; keep one row per "
            f"call (select one model, engine and method first)"
        )
    return frame


def align(labels_df: pd.DataFrame, preds_df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Join predictions to gold labels on call id.

    Predictions for calls that have no label are ignored (the model labels every call, people labelled a few).

    Args:
        labels_df: Gold labels indexed by call id, as from :func:`callinsights.labels.load_labels` (a ``file``
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
    gold = _by_call(labels_df, "labels_df")
    preds = _by_call(preds_df, "preds_df")
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
        gold: Gold labels indexed by call id (from :func:`callinsights.labels.load_labels`).
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
    gold = _by_call(gold, "gold")
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


def confusion_frame(y_true: Any, y_pred: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Counts of each (gold, predicted) pair: rows are the truth, columns the prediction.

    Args:
        y_true: Gold label per call.
        y_pred: Predicted label per call.
        labels: The task's vocabulary, which fixes the order of rows and columns.

    Returns:
        Integer frame, index named ``truth`` and columns ``predicted``; an ``invalid`` column is added only when
        some prediction is not a label.
    """
    labels = _check_labels(labels)
    a, b = _paired(y_true, y_pred)
    t, p = _encode_truth(a, labels), _encode_pred(b, labels)
    counts = _confusions(t, p, len(labels), len(labels) + 1, np.arange(len(t))[None, :])[0]
    frame = pd.DataFrame(counts, index=pd.Index(labels, name="truth"),
                         columns=pd.Index(labels + [INVALID], name="predicted"))
    return frame if counts[:, -1].any() else frame.drop(columns=INVALID)


def plot_confusion(ax: Any, y_true: Any, y_pred: Any, labels: Sequence[str], title: str | None = None) -> Any:
    """Draw the confusion matrix as an annotated heatmap, truth down the side.

    Args:
        ax: Matplotlib axes to draw on.
        y_true: Gold label per call.
        y_pred: Predicted label per call.
        labels: The task's vocabulary.
        title: Axes title.

    Returns:
        ``ax``.
    """
    import seaborn as sns  # imported here so that scoring without plots does not pay for seaborn

    frame = confusion_frame(y_true, y_pred, labels)
    sns.heatmap(frame, annot=True, fmt="d", cmap="Blues", cbar=False, square=True, linewidths=0.5, ax=ax)
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
    gold = _by_call(gold, "gold")
    preds = _by_call(preds, "preds").reindex(gold.index)
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


# ---------------------------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------------------------


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
    labels = _check_labels(labels)
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
    a = _values(y_true, "y_true")
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
    return _encode_truth(a, labels), p


def brier_score(y_true: Any, proba: pd.DataFrame, labels: Sequence[str]) -> float:
    """Multi-class Brier score: the mean over calls of the squared distance from the probabilities to the truth.

    0 is perfect; always giving 1 to a wrong class scores 2. For the two outcome labels this is twice the binary Brier
    score usually quoted (scikit-learn's ``brier_score_loss(..., scale_by_half=False)``).

    Args:
        y_true: Gold label per call.
        proba: One column per label, one row per call, each row summing to 1.
        labels: The task's vocabulary.

    Returns:
        The Brier score.
    """
    t, p = _checked_proba(y_true, proba, labels)
    onehot = np.eye(len(labels))[t]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def reliability_table(y_true: Any, proba: pd.DataFrame, labels: Sequence[str], n_bins: int = 5) -> pd.DataFrame:
    """How often the predicted class is right, per band of the model's confidence in it.

    The predicted class is the most probable one (ties go to the first in ``labels``); its probability is the
    confidence. Bands are equal-width over [0, 1], each closed on the right (the first also holds 0).

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
    correct = (predicted == t).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    band = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for i in range(n_bins):
        inside = band == i
        count = int(inside.sum())
        conf = float(confidence[inside].mean()) if count else np.nan
        acc = float(correct[inside].mean()) if count else np.nan
        rows.append({"bin_low": edges[i], "bin_high": edges[i + 1], "n": count, "confidence": conf,
                     "accuracy": acc, "gap": acc - conf})
    return pd.DataFrame(rows)


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
    gold = _by_call(gold, "gold")
    entries = [(name, task, proba_frame(_by_call(preds, name).reindex(gold.index), task))
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
    """Draw a reliability diagram from :func:`reliability_table`: accuracy per confidence band against the diagonal.

    Args:
        ax: Matplotlib axes to draw on.
        table: Output of :func:`reliability_table`.
        title: Axes title.

    Returns:
        ``ax``.
    """
    used = table[table["n"] > 0]
    width = table["bin_high"] - table["bin_low"]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.bar(used["bin_low"], used["accuracy"], width=width[used.index], align="edge", alpha=0.7,
           edgecolor="black", label="accuracy")
    ax.plot(used["confidence"], used["accuracy"], "o", color="black", label="mean confidence")
    for _, row in used.iterrows():
        ax.annotate(f"n={int(row['n'])}", (row["bin_low"] + (row["bin_high"] - row["bin_low"]) / 2, row["accuracy"]),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence in the predicted class")
    ax.set_ylabel("share correct")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON: numpy and pandas scalars as numbers, NaN as None, frames as lists of records.

    Args:
        value: Numbers, strings, dicts, lists, Series (as dicts) and DataFrames (as records), nested freely.

    Returns:
        Something ``json.dumps`` writes as strict JSON.
    """
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex):  # a named index is data too (e.g. the metric of each row)
            value = value.reset_index()
        return [json_ready(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
