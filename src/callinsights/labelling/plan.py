"""Which calls to label next so that the key PPI intervals shrink most, with the gain expected from each.

The variance of a group's PPI rate (see :mod:`callinsights.analysis.ppi`) is

    var = var(prediction on its unlabelled calls) / N  +  var(label - prediction on its labelled calls) / n

so labelling one more call of the group moves it from N to n. Using the variances measured now, the formula gives the
half-width each key rate (negative, neutral, follow-up within each driver or team) would have after one more label
in any group. :func:`plan` adds labels one at a time to the group whose next label most lowers the **widest** key
interval (ties: the largest total reduction), and records the expected width before and after.

What a plan may use: the calls' **predictions** (the first term), the existing labels (the second term) and each
call's group (the driver, which the topic model of notebook 05 assigns); never a person's reading of a call. Within the chosen group the call is drawn at random (seeded): a group's labelled calls must stay a
random sample of it for its PPI rate to stay valid, which choosing the most uncertain calls by hand would break.
After labelling by plan, some groups are over-represented among the labelled calls, so a rate over several groups
should then be combined from the groups' own rates, weighted by their sizes.

A group with fewer labelled calls than :data:`callinsights.analysis.ppi.MIN_LABELLED` has no interval (its width counts as
infinite, so the plan makes it estimable first); its rectifier variance is guessed from all labelled calls together.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from callinsights.analysis.ppi import KEY_RATES, MIN_LABELLED, predictor
from callinsights.data.call import natural_key


def variance_parts(frame: pd.DataFrame, by: str, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
                   min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """The two variance terms of every group's PPI rate, as measured now.

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame`, with column ``by``.
        by: Grouping column (``topic``, ``agent_team``).
        rates: Key rates.
        min_labelled: Fewest labelled calls for a group's own rectifier variance to be used.

    Returns:
        One row per group and rate: ``group``, ``rate``, ``labelled`` (n), ``unlabelled`` (N), ``var_pred``
        (variance of the predictions on the unlabelled calls), ``var_rect`` (of label minus prediction on the
        labelled calls; the pooled value over all labelled calls when the group has fewer than ``min_labelled``) and
        ``pooled`` (whether it was).
    """
    rows = []
    labelled = frame["labelled"].to_numpy(bool)
    for task, value, short in rates:
        yhat, _ = predictor(frame, task, value)
        y = (frame[f"gold_{task}"] == value).to_numpy(float)
        rect = y - yhat
        pooled = float(np.var(rect[labelled], ddof=1)) if labelled.sum() > 1 else 0.25
        for name in sorted(frame[by].dropna().unique(), key=str):
            g = (frame[by] == name).to_numpy()
            n, big_n = int((g & labelled).sum()), int((g & ~labelled).sum())
            own = n >= min_labelled
            rows.append({"group": name, "rate": short, "labelled": n, "unlabelled": big_n,
                         "var_pred": float(np.var(yhat[g & ~labelled], ddof=1)) if big_n > 1 else 0.0,
                         "var_rect": float(np.var(rect[g & labelled], ddof=1)) if own else pooled,
                         "pooled": not own})  # fmt: skip
    return pd.DataFrame(rows)


def half_width(var_pred: float, var_rect: float, n: int, big_n: int, alpha: float = 0.05,
               min_labelled: int = MIN_LABELLED) -> float:  # fmt: skip
    """Expected half-width of a PPI rate's interval with ``n`` labelled and ``big_n`` unlabelled calls.

    Infinite when ``n`` is below ``min_labelled`` (not estimable); the prediction term is 0 when no unlabelled call
    is left.
    """
    if n < min_labelled:
        return math.inf
    pred_term = var_pred / big_n if big_n > 0 else 0.0
    return float(stats.norm.ppf(1 - alpha / 2) * math.sqrt(pred_term + var_rect / n))


def _widths(parts: pd.DataFrame, added: dict[str, int], alpha: float, min_labelled: int) -> pd.Series:
    extra = parts["group"].map(added).fillna(0).astype(int)
    return pd.Series(
        [half_width(r.var_pred, r.var_rect, r.labelled + k, r.unlabelled - k, alpha, min_labelled)
         for r, k in zip(parts.itertuples(), extra)],
        index=parts.index,
    )  # fmt: skip


def plan(frame: pd.DataFrame, by: str, n: int = 10, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
         alpha: float = 0.05, seed: int = 0, min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """The next ``n`` calls to label, one at a time, each where it shrinks the widest key PPI interval most.

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame`, with column ``by``; unlabelled calls are the candidates.
        by: Grouping column whose rates are the key rates (``topic``).
        n: Calls to propose (at most the unlabelled calls).
        rates: Key rates.
        alpha: Level of the intervals (1 - alpha).
        seed: Seed of the draw within each group.
        min_labelled: See :data:`callinsights.analysis.ppi.MIN_LABELLED`.

    Returns:
        One row per proposed call, in the order to label them: ``step``, ``file``, ``group``, ``widest`` (the key
        rate with the widest interval before this label, "group: rate"), ``width_before`` and ``width_after`` (the
        widest full interval width over all key rates, before and after this label; infinite while a group is not
        estimable), ``gain`` (their difference; infinite when this label makes the last group estimable, NaN while
        one is still not), ``total_gain`` (reduction of the summed finite widths) and ``note``.
    """
    parts = variance_parts(frame, by, rates, min_labelled)
    pool = {g: sorted(frame.index[(frame[by] == g) & ~frame["labelled"]], key=natural_key)
            for g in parts["group"].unique()}  # fmt: skip
    rng = random.Random(seed)
    for calls in pool.values():
        rng.shuffle(calls)
    added: dict[str, int] = {}
    rows = []
    labelled_now = parts.drop_duplicates("group").set_index("group")["labelled"]

    def deficit(extra: dict[str, int]) -> int:
        """Labels still missing before every group is estimable."""
        return int(sum(max(0, min_labelled - n - extra.get(g, 0)) for g, n in labelled_now.items()))

    for step in range(1, min(n, sum(map(len, pool.values()))) + 1):
        now = _widths(parts, added, alpha, min_labelled)
        widest = parts.loc[now.idxmax()]
        best = None
        for group, calls in pool.items():
            if added.get(group, 0) >= len(calls):
                continue
            trial = added | {group: added.get(group, 0) + 1}
            after = _widths(parts, trial, alpha, min_labelled)
            finite = np.isfinite(now) & np.isfinite(after)
            # Lowest widest interval; while some group is not estimable, the fewest labels still missing; then the
            # largest total reduction.
            key = (after.max(), deficit(trial), -(now[finite] - after[finite]).sum(), str(group))
            if best is None or key < best[0]:
                best = (key, group, after)
        _, group, after = best
        call = pool[group][added.get(group, 0)]
        added[group] = added.get(group, 0) + 1
        finite = np.isfinite(now) & np.isfinite(after)
        before_max, after_max = float(now.max()), float(after.max())
        missing = max(0, min_labelled - int(labelled_now[group]) - added[group] + 1)
        note = (f"{group} is not estimable yet: {missing - 1} more label(s) needed after this one" if missing > 1
                else f"makes {group} estimable" if missing == 1 else "")
        rows.append({"step": step, "file": call, "group": group, "widest": f"{widest['group']}: {widest['rate']}",
                     "width_before": 2 * before_max, "width_after": 2 * after_max,
                     "gain": 2 * (before_max - after_max) if np.isfinite(after_max) else np.nan,
                     "total_gain": 2 * float((now[finite] - after[finite]).sum()), "note": note})  # fmt: skip
    return pd.DataFrame(rows, columns=["step", "file", "group", "widest", "width_before", "width_after", "gain",
                                       "total_gain", "note"])  # fmt: skip
