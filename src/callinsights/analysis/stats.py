"""The interval and p-value wording shared by the evaluation and the insights: Wilson intervals, p for prose."""

from __future__ import annotations

import numpy as np
from scipy import stats


def format_p(p: float) -> str:
    """A p-value for prose: three decimals, or ``< 0.001``."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (``scipy.stats.binomtest(...).proportion_ci``; NaNs for ``n == 0``)."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)
