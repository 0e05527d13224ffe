"""Watching a model when no labels exist: label mix and its drift, latency, per run and per batch.

The signals read the store's records (:meth:`callinsights.data.store.Store.runs` and ``run_labels``): a change in any of
them between runs flags a change in the model, the data or the code without a single new label. Agreement between
two methods is :func:`callinsights.evaluation.metrics.agreement`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, mannwhitneyu, ttest_ind

from callinsights import config
from callinsights.evaluation.metrics import encode_pred, newcombe_interval, values
from callinsights.schema import INVALID, TASKS


def label_distribution(preds: pd.Series, labels: Sequence[str]) -> pd.Series:
    """Share of calls given each label (all labels, in order, even at 0), plus ``invalid`` when some predictions are
    not labels; the shares sum to 1."""
    labels = list(labels)
    counts = np.bincount(encode_pred(values(preds, "preds"), labels), minlength=len(labels) + 1)
    shares = pd.Series(counts / counts.sum(), index=labels + [INVALID], name="share")
    return shares if counts[-1] else shares.drop(INVALID)


def distribution_drift(reference_shares: pd.Series | Mapping[str, float],
                       current_shares: pd.Series | Mapping[str, float], eps: float = 1e-4) -> dict[str, float]:
    """How far the current label mix has moved from a reference mix: with no labels at hand, a shift in what the
    model predicts is the first sign that the calls or the model have changed.

    Shares (or counts; non-negative, not all zero) are matched by label, a label missing from one side having
    share 0 there, and normalised.

    Returns:
        ``total_variation`` (half the L1 distance: the share of calls that would have to change label, in [0, 1])
        and ``psi`` (population stability index, zero shares floored at ``eps``; by the usual rule of thumb below 0.1
        is stable, above 0.25 a real shift, though with tens of calls sampling noise alone can exceed that).
    """
    ref, cur = pd.Series(reference_shares, dtype=float), pd.Series(current_shares, dtype=float)
    index = ref.index.union(cur.index, sort=False)
    p, q = ((s / s.sum()).reindex(index, fill_value=0.0).to_numpy() for s in (ref, cur))
    pf, qf = np.maximum(p, eps), np.maximum(q, eps)
    return {"total_variation": float(np.abs(p - q).sum() / 2), "psi": float(((qf - pf) * np.log(qf / pf)).sum())}


def _configuration_name(run: Mapping[str, Any]) -> str:
    """A run's configuration in a few words: ``score (batch) · llama.cpp · customer``."""
    method = run.get("method", "?")
    if method == "score" and isinstance(run.get("calibration"), str):
        method = f"score ({run['calibration']})"
    return f"{method} · {run.get('engine', '?')} · {run.get('side', '?')}"


def monitor_runs(runs: pd.DataFrame, run_labels: pd.DataFrame,
                 tasks: Mapping[str, Sequence[str]] = TASKS) -> pd.DataFrame:
    """The signals that watch the model without labels, one row per run of ``Store.runs()`` with status ``done``
    (running or killed runs are left out), oldest first, from ``Store.run_labels()``:

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
            row["seconds_p50"], row["seconds_p95"] = (float(x) for x in np.percentile(computed["seconds"], [50, 95]))
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



# Watching a new batch of calls against a reference run, without a single new label.

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
    """A copy of a predictions table (read from CSV; ``name`` is its path, for messages) with ``valid``, ``cached``
    and ``windowed`` as booleans and the numeric columns as numbers.

    Raises:
        ValueError: Columns are missing, the table has no row, a column holds values of the wrong kind, a label is
            outside the vocabulary ("happy"), or a call has more than one row: any of these would be watched as if
            it were a real batch.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: not a predictions table (no column {', '.join(missing)}); give the CSV that "
                         "`callinsights analyze --out` wrote")
    if frame.empty:
        raise ValueError(f"{name}: the predictions table has no row; give a run that labelled at least one call")
    for task, labels in TASKS.items():
        given = frame[task].dropna().astype(str)
        unknown = given[~given.isin(labels)].value_counts()
        if len(unknown):
            shown = ", ".join(f"{value!r} ({n} rows)" for value, n in unknown.head(3).items())
            raise ValueError(f"{name}: column {task} holds {shown} where one of {', '.join(labels)} (or empty, for "
                             "an invalid answer) is expected; give the CSV that `callinsights analyze --out` wrote")
    repeated = frame["file"].astype(str).value_counts()
    repeated = repeated[repeated > 1]
    if len(repeated):
        more = f" ({len(repeated) - 1} other calls repeat too)" if len(repeated) > 1 else ""
        raise ValueError(f"{name}: call {repeated.index[0]!r} has {repeated.iloc[0]} rows{more}; a predictions "
                         "table has one row per call, so repeated rows would be counted as several calls. Give the "
                         "CSV that `callinsights analyze --out` wrote, or remove the repeated rows")
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
            given = frame[column].map(lambda v: "" if pd.isna(v) else str(v)).unique()
            if len(given) > 1:
                raise ValueError(f"{name}: rows of more than one configuration ({column}: "
                                 f"{', '.join(given[:3])}); compare the predictions of one run at a time")
            found[column] = given[0]
    return found


def configuration_differences(reference: pd.DataFrame, batch: pd.DataFrame, reference_name: str = "reference",
                              batch_name: str = "batch") -> list[str]:
    """What differs between the configurations of two tables, e.g. ``["method: reference probe, batch score"]``."""
    ref, new = configuration(reference, reference_name), configuration(batch, batch_name)
    return [f"{c}: reference {ref[c] or '(empty)'}, batch {new[c] or '(empty)'}"
            for c in CONFIGURATION_COLUMNS if c in ref and c in new and ref[c] != new[c]]


def compare(reference: pd.DataFrame, batch: pd.DataFrame, thresholds: Mapping[str, float] | None = None,
            tasks: Mapping[str, Sequence[str]] = TASKS) -> pd.DataFrame:
    """Every watched quantity of a batch against the reference run (both through :func:`check_predictions`), one
    row each; ``thresholds`` override ``config.MONITOR_THRESHOLDS``.

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
        ci = newcombe_interval(int(new[label]), n_new, int(ref[label]), n_ref, alpha)
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
    ci = newcombe_interval(hits_new, n_new, hits_ref, n_ref, th["alpha"])
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



# Batches on one page: each watched quantity's change per batch, with its interval and its alert threshold drawn.

_COLOURS = {OK: "tab:green", ALERT: "tab:red", FEW: "tab:grey"}


def batch_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The tables of :func:`compare`, one per batch, stacked with a ``batch_name`` column, in the order given."""
    return pd.concat([table.assign(batch_name=name) for name, table in tables.items()], ignore_index=True)


def plot_batches(table: pd.DataFrame, columns: int = 3):
    """One panel per watched quantity of a :func:`batch_table` (``columns`` panels a row): its change in each batch
    (dot coloured by status, bar for the interval where the rule uses one), the threshold as a dashed line and no
    change as a grey one. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    quantities = [q for q in dict.fromkeys(table["quantity"]) if q != "calls"]
    rows = int(np.ceil(len(quantities) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 2.9 * rows), squeeze=False)
    names = list(dict.fromkeys(table["batch_name"]))
    for ax, quantity in zip(axes.flat, quantities):
        part = table[table["quantity"] == quantity].set_index("batch_name").reindex(names)
        x = np.arange(len(names))
        kind = part["change_kind"].dropna().iloc[0] if part["change_kind"].notna().any() else ""
        threshold = float(part["threshold"].dropna().iloc[0]) if part["threshold"].notna().any() else np.nan
        change = part["change"].astype(float).to_numpy()
        low, high = part["ci_low"].astype(float).to_numpy(), part["ci_high"].astype(float).to_numpy()
        has_ci = ~np.isnan(low) & ~np.isnan(high)
        if has_ci.any():
            ax.errorbar(x[has_ci], change[has_ci], yerr=[change[has_ci] - low[has_ci], high[has_ci] - change[has_ci]],
                        fmt="none", ecolor="0.5", capsize=3, lw=1)
        ax.scatter(x, change, c=[_COLOURS.get(s, "tab:blue") for s in part["status"]], zorder=3)
        if kind == "ratio":
            ax.axhline(1.0, color="0.8", lw=1)
            lines = [threshold] if "rise only" in " ".join(part["note"].fillna("")) else [threshold, 1 / threshold]
        elif kind == "total variation":
            ax.axhline(0.0, color="0.8", lw=1)
            lines = [threshold]
        else:
            ax.axhline(0.0, color="0.8", lw=1)
            lines = [threshold] if "rise only" in " ".join(part["note"].fillna("")) else [threshold, -threshold]
        for line in lines:
            ax.axhline(line, color="tab:red", ls="--", lw=1)
        ax.set_title(quantity, fontsize=10)
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel({"ratio": "batch / reference", "total variation": "distance"}.get(kind, "batch - reference"),
                      fontsize=8)
    for ax in list(axes.flat)[len(quantities):]:
        ax.set_visible(False)
    fig.suptitle("Each batch against the reference run (red dashes: alert threshold; red dot: alert, grey: too few "
                 "calls)", fontsize=10)
    fig.tight_layout()
    return fig


class MonitorInputError(ValueError):
    """A batch or reference that cannot be compared; the message names the file and says what to do."""


def read_predictions(path: str | Path, role: str) -> pd.DataFrame:
    """Read and check one predictions table; ``role`` (``batch`` or ``reference``) names it in messages.

    Raises:
        MonitorInputError: The file is missing, unreadable, or not a predictions table.
    """
    path = Path(path)
    written_by = "the CSV that `callinsights analyze DIR --out FILE` wrote"
    if role == "reference":
        written_by += f" (default {config.PREDICTIONS_FILE}, the committed main run: `git checkout` restores it)"
    if path.is_dir():
        raise MonitorInputError(f"{path}: is a folder; give the {role} predictions file, {written_by}")
    if not path.is_file():
        raise MonitorInputError(f"{path}: no such file; give the {role} predictions, {written_by}")
    try:
        # Names stay text: a model hash of digits and one "e" would otherwise be read as a number.
        frame = pd.read_csv(path, dtype={column: str for column in ("file", *CONFIGURATION_COLUMNS)})
    except (OSError, ValueError) as err:  # unreadable, empty, binary, not CSV
        raise MonitorInputError(f"{path}: cannot be read as a CSV table ({err}); give the {role} predictions, "
                                f"{written_by}") from None
    try:
        return check_predictions(frame, str(path))
    except ValueError as err:
        raise MonitorInputError(str(err)) from None
