"""The rules that decide which differences may be stated as findings, and the sentences that state them.

A difference (a driver's or team's rate against the rest of the calls, or calls with an event against calls
without it) is **stated only when its PPI interval, adjusted for the number of comparisons, excludes 0**, and only
when each side has at least ``min_labelled`` hand-labelled calls (default 10): with fewer, the labelled calls of a
side often all carry the same label, so the variance of the correction is estimated from the predictions alone and
the normal interval is too narrow. Such comparisons are shown with their interval and the verdict *too few labels*.
The family is every comparison eligible under that rule passed to :func:`decide` together; the adjustment is Bonferroni (statsmodels'
``multipletests``), so the adjusted interval (level ``1 - alpha / m``) and the adjusted p-value say the same thing:
the interval excludes 0 exactly when the adjusted p is below ``alpha``. A comparison that predictions alone would
call clear (their Newcombe interval at the same adjusted level excludes 0) but PPI does not is reported as
*withdrawn*: the apparent difference may be the model's bias.

Every number in a sentence comes from the row it describes; nothing is typed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

#: What each rate is called in a sentence.
RATE_WORDS = {"negative": "negative sentiment", "neutral": "neutral sentiment", "follow-up": "follow-up"}


def _newcombe(row: pd.Series, alpha: float) -> tuple[float, float]:
    """Newcombe interval of the predicted-label difference at level ``1 - alpha``."""
    n_a, n_b = int(row["calls_a"]), int(row["calls_b"])
    if min(n_a, n_b) == 0:
        return float("nan"), float("nan")
    low, high = confint_proportions_2indep(int(row["pred_count_a"]), n_a, int(row["pred_count_b"]), n_b,
                                           method="newcombe", compare="diff", alpha=alpha)  # fmt: skip
    return float(low), float(high)


#: Fewest hand-labelled calls on each side of a comparison for it to become a finding.
MIN_LABELLED_FOR_FINDING = 10


def decide(comparisons: pd.DataFrame, alpha: float = 0.05,
           min_labelled: int = MIN_LABELLED_FOR_FINDING) -> pd.DataFrame:  # fmt: skip
    """Apply the finding rule to a family of comparisons.

    Args:
        comparisons: Rows of :func:`callinsights.ppi.group_differences` and/or
            :func:`callinsights.ppi.flag_differences` (needs ``ppi_diff``, ``ppi_se``, ``p``, ``estimable``,
            ``calls_a``, ``calls_b``, ``pred_count_a``, ``pred_count_b``).
        alpha: Family-wise error rate.
        min_labelled: Fewest hand-labelled calls on each side for a comparison to be tested.

    Returns:
        The comparisons with ``eligible``, ``family_size`` (eligible comparisons, m), ``p_adjusted`` (Bonferroni),
        ``adj_low``/``adj_high`` (PPI interval at level ``1 - alpha / m``), ``naive_adj_low``/``naive_adj_high``
        (predicted labels, same level), ``survives`` (stated as a finding), ``naive_would_state`` and ``verdict``
        (``finding``; ``withdrawn``: predictions alone would state it, PPI does not; ``not supported``;
        ``too few labels``; ``not estimable``).
    """
    out = comparisons.reset_index(drop=True).copy()
    estimable = out["estimable"].astype(bool)
    enough = (out["labelled_a"] >= min_labelled) & (out["labelled_b"] >= min_labelled)
    ok = estimable & out["p"].notna() & enough
    out["eligible"] = ok
    m = int(ok.sum())
    out["family_size"] = m
    out["p_adjusted"] = np.nan
    if m:
        out.loc[ok, "p_adjusted"] = multipletests(out.loc[ok, "p"].to_numpy(float), alpha=alpha,
                                                  method="bonferroni")[1]  # fmt: skip
    level = alpha / max(m, 1)
    half = stats.norm.ppf(1 - level / 2) * out["ppi_se"]
    out["adj_low"] = np.where(ok, out["ppi_diff"] - half, np.nan)
    out["adj_high"] = np.where(ok, out["ppi_diff"] + half, np.nan)
    naive = [_newcombe(row, level) for _, row in out.iterrows()]
    out["naive_adj_low"] = [lo for lo, _ in naive]
    out["naive_adj_high"] = [hi for _, hi in naive]
    out["survives"] = ok & ((out["adj_low"] > 0) | (out["adj_high"] < 0))
    out["naive_would_state"] = (out["naive_adj_low"] > 0) | (out["naive_adj_high"] < 0)
    out["verdict"] = np.select(
        [out["survives"], ~estimable, estimable & ~enough, out["naive_would_state"]],
        ["finding", "not estimable", "too few labels", "withdrawn"], "not supported",
    )
    out.attrs["min_labelled"] = min_labelled
    return out


def _pct(x: float) -> str:
    """A rate for prose; a PPI estimate can stray below 0 or above 1 on few labels, a rate cannot."""
    return f"{min(1.0, max(0.0, x)):.0%}"


def _points(x: float) -> str:
    return f"{100 * x:+.0f}"


def sentence(row: pd.Series) -> str:
    """One sentence for a comparison decided by :func:`decide`, every number from the row."""
    what = RATE_WORDS.get(row["rate"], row["rate"])
    rest = "the other calls" if row["versus"] == "the rest" else f"calls without ({row['versus']})"
    if row["versus"] == "without":
        rest = "calls without it"
    direction = "more" if row["ppi_diff"] > 0 else "less"
    ppi = (f"{_pct(row['rate_a'])} against {_pct(row['rate_b'])} (PPI), a difference of {_points(row['ppi_diff'])} "
           f"points, adjusted 95% interval {_points(row['adj_low'])} to {_points(row['adj_high'])} over "
           f"{row['family_size']} comparisons")  # fmt: skip
    naive = (f"predictions alone: {_points(row['naive_diff'])} points; hand labels alone "
             f"({row['labelled_a']} and {row['labelled_b']} calls): {_points(row['labels_diff'])} points")
    if row["verdict"] == "finding":
        return f"**{row['group']}** has {direction} {what} than {rest}: {ppi}; {naive}."
    if row["verdict"] == "withdrawn":
        return (f"**{row['group']}**, {what}: predictions alone show {_points(row['naive_diff'])} points against "
                f"{rest}, but once the hand labels correct them the difference is {_points(row['ppi_diff'])} points "
                f"(adjusted interval {_points(row['adj_low'])} to {_points(row['adj_high'])}, includes 0): not stated.")
    if row["verdict"] == "not estimable":
        return f"**{row['group']}**, {what}: not estimable ({row['note']})."
    if row["verdict"] == "too few labels":
        return (f"**{row['group']}**, {what}: {_points(row['ppi_diff'])} points against {rest} (PPI, unadjusted 95% "
                f"interval {_points(row['ppi_low'])} to {_points(row['ppi_high'])}), but only {row['labelled_a']} and "
                f"{row['labelled_b']} of the calls compared are hand-labelled, too few for a finding: not stated.")
    return f"**{row['group']}**, {what}: {ppi}; the interval includes 0, so no difference is stated."


def findings(decided: pd.DataFrame) -> list[str]:
    """Sentences of the comparisons that survive, largest difference first."""
    rows = decided[decided["survives"]].assign(size=lambda t: t["ppi_diff"].abs()).sort_values("size", ascending=False)
    return [sentence(row) for _, row in rows.iterrows()]


def withdrawn(decided: pd.DataFrame) -> list[str]:
    """Sentences of the comparisons predictions alone would state but PPI does not, largest naive difference first."""
    rows = decided[decided["verdict"] == "withdrawn"]
    rows = rows.assign(size=lambda t: t["naive_diff"].abs()).sort_values("size", ascending=False)
    return [sentence(row) for _, row in rows.iterrows()]


def summary(decided: pd.DataFrame) -> str:
    """One sentence: how many comparisons were made, how many survive, how many predictions alone would state."""
    counts = decided["verdict"].value_counts()
    m = int(decided["family_size"].iloc[0]) if len(decided) else 0
    naive = decided["naive_would_state"]
    return (f"{len(decided)} comparisons, {m} with enough hand labels to test (Bonferroni over {m}): "
            f"{counts.get('finding', 0)} survive as findings. Predictions alone would state "
            f"{int(naive.sum())}, of which {int((naive & ~decided['survives']).sum())} do not survive the correction "
            f"by the hand labels. {counts.get('too few labels', 0)} have too few hand-labelled calls on one side to "
            f"be tested and {counts.get('not estimable', 0)} cannot be estimated at all.")
