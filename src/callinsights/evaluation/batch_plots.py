"""Batches on one page: each watched quantity's change per batch, with its interval and its alert threshold drawn."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from callinsights.evaluation.batch_monitor import ALERT, FEW, OK

_COLOURS = {OK: "tab:green", ALERT: "tab:red", FEW: "tab:grey"}


def batch_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The tables of :func:`callinsights.evaluation.batch_monitor.compare`, one per batch, stacked with a ``batch``
    column (the batch's name), in the order given."""
    return pd.concat([table.assign(batch_name=name) for name, table in tables.items()], ignore_index=True)


def plot_batches(table: pd.DataFrame, columns: int = 3):
    """One panel per watched quantity: its change in each batch (dot coloured by status, bar for the interval where
    the rule uses one), the threshold as a dashed line and no change as a grey one.

    Args:
        table: :func:`batch_table`'s stack.
        columns: Panels per row.

    Returns:
        The matplotlib figure.
    """
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
