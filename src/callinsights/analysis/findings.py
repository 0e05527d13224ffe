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

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from callinsights import config

from callinsights.analysis import ppi
from callinsights.data.labels import load_labels

#: Groupings whose rates are compared (column of ``results/call_insights.csv`` -> how a reader sees it).
GROUPINGS = {"topic": "driver", "agent_team": "agent team"}
#: Events whose calls are compared with the others on follow-up (column -> how a reader sees it).
FLAGS = {"holds": "a hold", "transfers": "a transfer or another team", "customer_questions": "customer questions",
         "callbacks": "a callback promise", "ends_positive": "a positive ending (VADER, last third)"}  # fmt: skip

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
        comparisons: Rows of :func:`callinsights.analysis.ppi.group_differences` and/or
            :func:`callinsights.analysis.ppi.flag_differences` (needs ``ppi_diff``, ``ppi_se``, ``p``, ``estimable``,
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
    # A difference of rates lies in [-1, 1]; cutting the interval there keeps its coverage and its verdict.
    out["adj_low"] = np.where(ok, np.maximum(-1.0, out["ppi_diff"] - half), np.nan)
    out["adj_high"] = np.where(ok, np.minimum(1.0, out["ppi_diff"] + half), np.nan)
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
    """A difference of rates in percentage points; one decimal where a whole number would round to 0."""
    return f"{100 * x:+.1f}" if abs(x) < 0.005 else f"{100 * x:+.0f}"


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
                f"{rest}; corrected by the hand labels (PPI) it is {_points(row['ppi_diff'])} points, adjusted "
                f"interval {_points(row['adj_low'])} to {_points(row['adj_high'])}, which includes 0: not stated.")
    if row["verdict"] == "not estimable":
        return f"**{row['group']}**, {what}: not estimable ({row['note']})."
    if row["verdict"] == "too few labels":
        return (f"**{row['group']}**, {what}: {_points(row['ppi_diff'])} points against {rest} (PPI, unadjusted 95% "
                f"interval {_points(row['ppi_low'])} to {_points(row['ppi_high'])}), but only {row['labelled_a']} and "
                f"{row['labelled_b']} of the calls compared are hand-labelled, too few for a finding: not stated.")
    return f"**{row['group']}**, {what}: {ppi}; the interval includes 0, so no difference is stated."


#: What an operations team could do when a finding holds: (grouping or flag column, rate) -> action.
ACTIONS = {
    ("topic", "follow-up"): "review a sample of these calls for the step left pending and whether first-line agents "
                            "could close it in the call",
    ("agent_team", "follow-up"): "check what this team has to hand on, and whether it could settle it in the call",
    ("topic", "negative"): "put quality review and coaching on this driver first",
    ("agent_team", "negative"): "review this team's negative calls with its lead",
    ("transfers", "follow-up"): "let first-line agents settle the common cases, or transfer warm with the case attached",
    ("callbacks", "follow-up"): "callback promises are pending work by definition: count them per driver as workload "
                                "and measure how many are kept",
    ("customer_questions", "follow-up"): "customers who keep asking have not heard the answer: check before closing "
                                         "that the next step, its date and the reference number were said",
    ("holds", "follow-up"): "give first-line agents direct access to what they put customers on hold for",
}


def action(row: pd.Series) -> str:
    """What to do about a finding, or a plain instruction to look closer when no action is written for it."""
    direction_up = row["ppi_diff"] > 0
    text = ACTIONS.get((row["by"], row["rate"])) if direction_up else None
    return text or "look at a sample of these calls to see why before acting on it"


def rate_sentence(row: pd.Series) -> str:
    """One rate of :func:`callinsights.analysis.ppi.rate_table` in words: PPI first, then predictions only and labels only."""
    what = RATE_WORDS.get(row["rate"], row["rate"])
    naive = f"predictions alone {_pct(row['naive'])} ({_pct(row['naive_low'])}-{_pct(row['naive_high'])})"
    labels = (f"hand labels alone {row['labelled']} calls, {_pct(row['labels_only'])} "
              f"({_pct(row['labels_low'])}-{_pct(row['labels_high'])})" if row["labelled"] else "no hand label")
    if not row["estimable"]:
        return f"{row['group']}, {what}: PPI not estimable ({row['note']}); {naive}; {labels}."
    few = " (few labels: rough)" if row["few_labels"] else ""
    return (f"{row['group']}, {what}: **{_pct(row['ppi'])}** (PPI 95% interval {_pct(row['ppi_low'])}-"
            f"{_pct(row['ppi_high'])}{few}); {naive}; {labels}.")


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


def comparisons(frame: pd.DataFrame, groupings: Sequence[str] = tuple(GROUPINGS),
                flags: Mapping[str, str] = FLAGS, alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """The family of comparisons the insights state: every group against the rest for every key rate, and
    follow-up with each event against without it.

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame` with the grouping and flag columns.
        groupings: Grouping columns present in ``frame`` (absent ones are skipped).
        flags: Flag columns (absent ones are skipped) -> readable names.
        alpha: Level of the unadjusted intervals.

    Returns:
        The rows of :func:`callinsights.analysis.ppi.group_differences` and :func:`callinsights.analysis.ppi.flag_differences`.
    """
    parts = [ppi.group_differences(frame, by, alpha=alpha) for by in groupings if by in frame.columns]
    present = {k: v for k, v in flags.items() if k in frame.columns}
    if present:
        parts.append(ppi.flag_differences(frame, present, alpha=alpha))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def from_files(predictions: str | Path = config.PREDICTIONS_FILE, labels: str | Path = config.LABELS_FILE,
               covariates: str | Path = config.INSIGHTS_FILE, alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Rates and decided comparisons from the files on disk, for a command that refreshes them without a notebook.

    Args:
        predictions: ``results/predictions.csv`` (held-out predictions on the labelled rows).
        labels: The hand labels the predictions are corrected with.
        covariates: ``results/call_insights.csv`` (written by ``callinsights insights``): ``file``, ``topic``, ``agent_team`` and
            the flag columns.

    Returns:
        ``(rates, decided)``: :func:`callinsights.analysis.ppi.rate_table` for every grouping, and :func:`decide` over
        :func:`comparisons`.

    Raises:
        FileNotFoundError: A file is missing (the message says which command writes it).
    """
    for path, how in ((predictions, "`make analyze`"), (covariates, "`python -m callinsights insights`")):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: not found; {how} writes it")
    frame = ppi.ppi_frame(pd.read_csv(predictions), load_labels(labels), pd.read_csv(covariates))
    rates = pd.concat([ppi.rate_table(frame, by, alpha=alpha) for by in GROUPINGS if by in frame.columns],
                      ignore_index=True)  # fmt: skip
    return rates, decide(comparisons(frame, alpha=alpha), alpha=alpha)
