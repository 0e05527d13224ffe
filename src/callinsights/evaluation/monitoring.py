"""Watching a model when no labels exist: label mix and its drift, agreement between methods, latency, per run.

The signals read the store's records (:meth:`callinsights.data.store.Store.runs` and ``run_labels``): a change in any of
them between runs flags a change in the model, the data or the code without a single new label. Kappa is
scikit-learn's, the Jensen-Shannon divergence scipy's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from callinsights.schema import TASKS
from callinsights.evaluation.metrics import check_labels, encode_pred, kappa, values
from callinsights.schema import INVALID


def label_distribution(preds: pd.Series, labels: Sequence[str]) -> pd.Series:
    """Share of calls given each label.

    Args:
        preds: One prediction per call.
        labels: The task's vocabulary.

    Returns:
        Shares indexed by label (all labels, in order, even at 0), plus ``invalid`` when some predictions are not
        labels; they sum to 1.
    """
    labels = check_labels(labels)
    given = values(preds, "preds")
    if len(given) == 0:
        raise ValueError("preds is empty; there is no distribution to take")
    codes = encode_pred(given, labels)
    counts = np.bincount(codes, minlength=len(labels) + 1)
    shares = pd.Series(counts / counts.sum(), index=labels + [INVALID], name="share")
    return shares if counts[-1] else shares.drop(INVALID)


def _distribution(shares: pd.Series | Mapping[str, float], name: str) -> pd.Series:
    s = pd.Series(shares, dtype=float)
    if s.isna().any() or (s < 0).any():
        raise ValueError(f"{name} has missing or negative shares: {s.to_dict()}")
    if s.sum() <= 0:
        raise ValueError(f"{name} sums to 0; pass shares (e.g. from label_distribution) or counts")
    return s / s.sum()


def distribution_drift(
    reference_shares: pd.Series | Mapping[str, float],
    current_shares: pd.Series | Mapping[str, float],
    eps: float = 1e-4,
) -> dict[str, float]:
    """How far the current label mix has moved from a reference mix.

    A shift in what the model predicts, with no labels at hand, is the first sign that the calls or the model have
    changed. Shares are matched by label (a label missing from one side has share 0 there) and normalised, so counts
    work too.

    Args:
        reference_shares: Share (or count) per label in the reference period, e.g. from :func:`label_distribution`.
        current_shares: The same for the period being watched.
        eps: Floor put under zero shares in the PSI, whose logarithm is otherwise infinite.

    Returns:
        ``total_variation`` (half the L1 distance; the share of calls that would have to change label, in [0, 1]),
        ``jensen_shannon`` (divergence in bits, in [0, 1]) and ``psi`` (population stability index; by the usual
        rule of thumb below 0.1 is stable, above 0.25 a real shift, though with tens of calls sampling noise alone
        can exceed that).
    """
    ref = _distribution(reference_shares, "reference_shares")
    cur = _distribution(current_shares, "current_shares")
    index = ref.index.union(cur.index, sort=False)
    p, q = ref.reindex(index, fill_value=0.0).to_numpy(), cur.reindex(index, fill_value=0.0).to_numpy()
    pf, qf = np.maximum(p, eps), np.maximum(q, eps)
    return {
        "total_variation": float(np.abs(p - q).sum() / 2),
        "jensen_shannon": float(jensenshannon(p, q, base=2) ** 2),  # scipy gives the distance, its root
        "psi": float(((qf - pf) * np.log(qf / pf)).sum()),
    }


def agreement(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """How often two sets of predictions for the same calls agree (two models, engines, prompts or runs).

    A drop in agreement between a model and a trusted reference, or between two runs, flags a change without any
    labels. Calls are matched on the index; calls only one side has, or where either value is missing, are left out.

    Args:
        a: Predictions indexed by call id.
        b: Other predictions indexed by call id.

    Returns:
        ``share_agree``, ``kappa`` (Cohen's, chance-corrected; NaN when both give one and the same label throughout),
        ``n`` (calls compared) and ``n_missing`` (calls of either side left out).

    Raises:
        ValueError: The two share no call with a value on both sides.
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
        "n": int(len(pairs)),
        "n_missing": int((~usable).sum()),
    }


def latency_summary(seconds: Any) -> dict[str, float]:
    """Median, 95th percentile and mean time per call.

    Missing times (calls served from a cache) are left out; percentiles interpolate linearly (numpy's default).

    Args:
        seconds: Time per call in seconds.

    Returns:
        ``n``, ``p50``, ``p95``, ``mean`` and ``max``.

    Raises:
        ValueError: No time is given, or one is negative.
    """
    try:
        s = pd.to_numeric(pd.Series(values(seconds, "seconds"))).dropna().to_numpy(dtype=float)
    except (ValueError, TypeError) as err:
        raise ValueError(f"seconds must hold numbers (time per call in seconds): {err}") from None
    if len(s) == 0:
        raise ValueError("seconds has no numeric value; there is no latency to summarise")
    if (s < 0).any():
        raise ValueError(f"seconds has negative values, e.g. {s[s < 0][:3].tolist()}; times must be durations")
    p50, p95 = np.percentile(s, [50, 95])
    return {"n": len(s), "p50": float(p50), "p95": float(p95), "mean": float(s.mean()), "max": float(s.max())}


def _configuration_name(run: Mapping[str, Any]) -> str:
    """A run's configuration in a few words: ``score (batch) · llama.cpp · customer``."""
    method = run.get("method", "?")
    if method == "score" and isinstance(run.get("calibration"), str):
        method = f"score ({run['calibration']})"
    return f"{method} · {run.get('engine', '?')} · {run.get('side', '?')}"


def monitor_runs(runs: pd.DataFrame, run_labels: pd.DataFrame,
                 tasks: Mapping[str, Sequence[str]] = TASKS) -> pd.DataFrame:
    """The signals that watch the model without labels, one row per finished run of the store.

    - ``invalid_share``: calls whose answer could not be read as labels.
    - ``seconds_p50``, ``seconds_p95``: model seconds per call, from the calls computed in that run only (a call
      served from the store carries the seconds of the run that computed it; a run served wholly from the store has
      NaN here).
    - ``tokens_per_second``: prompt tokens read per second of model time, over the same computed calls.
    - ``<task>: <label>``: share of calls given each label (and ``invalid``).
    - ``reference_run`` and ``<task>_tv``, ``<task>_psi``: drift of the label mix (:func:`distribution_drift`)
      from the first run of the same model and configuration (method, calibration, engine, side), so that a
      change of configuration is not read as drift. The reference may have read other calls (``n_calls`` tells):
      drift then says how the label mix of these calls differs from the reference's calls.
    - ``repeat``: the run computed nothing and gave the same calls the same label mix as an earlier run of the same
      model and configuration (a re-run served from the store); it adds no information to a plot.

    Args:
        runs: ``Store.runs()``.
        run_labels: ``Store.run_labels()`` (all runs).
        tasks: Task name to vocabulary.

    Returns:
        One row per run with status ``done``, oldest first; runs still running or killed are left out.
    """
    done = runs[runs["status"] == "done"].sort_values("run_id")
    grouped = {run_id: frame for run_id, frame in run_labels.groupby("run_id")}
    references: dict[tuple, tuple[int, dict[str, pd.Series]]] = {}
    seen: set[tuple] = set()
    rows = []
    for run in done.to_dict(orient="records"):
        labels = grouped.get(run["run_id"])
        if labels is None or labels.empty:
            continue
        computed = labels[labels["cached"] == 0].dropna(subset=["seconds"])
        row = {
            "run_id": int(run["run_id"]),
            "started": pd.to_datetime(run["started"], unit="s").floor("s"),
            "configuration": _configuration_name(run),
            "model": run.get("model"),
            "method": run.get("method"),
            "n_calls": len(labels),
            "n_computed": len(computed),
            "invalid_share": float(run["n_invalid"]) / len(labels) if pd.notna(run.get("n_invalid")) else np.nan,
            "seconds_p50": np.nan,
            "seconds_p95": np.nan,
            "tokens_per_second": np.nan,
        }
        if len(computed):
            latency = latency_summary(computed["seconds"])
            row["seconds_p50"], row["seconds_p95"] = latency["p50"], latency["p95"]
            if computed["seconds"].sum() > 0:
                row["tokens_per_second"] = float(computed["prompt_tokens"].sum() / computed["seconds"].sum())
        shares = {task: label_distribution(labels[task], vocabulary) for task, vocabulary in tasks.items()}
        key = (run.get("model"), row["configuration"])
        signature = (key, frozenset(labels["file"]),
                     tuple((task, tuple(shares[task].round(6).items())) for task in tasks))
        row["repeat"] = signature in seen and not len(computed)
        seen.add(signature)
        reference_id, reference = references.setdefault(key, (row["run_id"], shares))
        row["reference_run"] = reference_id
        for task in tasks:
            for label, share in shares[task].items():
                row[f"{task}: {label}"] = float(share)
            drift = distribution_drift(reference[task], shares[task])
            row[f"{task}_tv"], row[f"{task}_psi"] = drift["total_variation"], drift["psi"]
        rows.append(row)
    table = pd.DataFrame(rows)
    share_columns = [c for c in table.columns if ": " in c]
    table[share_columns] = table[share_columns].fillna(0.0)
    return table
