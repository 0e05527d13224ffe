"""Statistics for comparing groups of calls on one set of labels: association, rates, effect sizes, odds ratios.

Samples are small here (40 hand-labelled calls, drivers of a few dozen calls), so each function gives its uncertainty
and says when a textbook approximation fails: a permutation p beside the chi-square one, Wilson intervals, a
zero-cell correction, no finite odds ratios under perfect separation. The tests are scipy's and statsmodels'.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import contingency
from statsmodels.stats.multitest import multipletests


def cramers_v(table) -> float:
    """Cramér's V of a table of counts (scipy, no continuity correction); NaN with fewer than two rows or columns.

    All-zero rows and columns are dropped first.
    """
    t = np.asarray(table)
    if t.ndim != 2 or not np.array_equal(t, np.round(t)):
        raise ValueError(f"a contingency table is 2-D and holds whole counts; got {t.tolist()}")
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0].astype(np.int64)
    return float("nan") if min(t.shape) < 2 else float(contingency.association(t, method="cramer"))


@dataclass
class Association:
    """Chi-square test of independence of two categorical columns, with a permutation p valid at any size."""

    table: pd.DataFrame
    chi2: float
    dof: int
    p_asymptotic: float
    p_permutation: float
    n_permutations: int
    cramers_v: float
    min_expected: float
    share_expected_below_5: float

    @property
    def n(self) -> int:
        """Calls in the table."""
        return int(self.table.to_numpy().sum())

    @property
    def asymptotic_ok(self) -> bool:
        """Cochran's rule: every expected count at least 1 and at most a fifth of them below 5."""
        return self.min_expected >= 1 and self.share_expected_below_5 <= 0.2

    def describe(self) -> str:
        """One sentence with the test, both p-values, the effect size and whether the asymptotic p can be used."""
        text = (
            f"chi2({self.dof}) = {self.chi2:.2f}, n = {self.n}, permutation p = {format_p(self.p_permutation)} "
            f"({self.n_permutations:,} shuffles), asymptotic p = {format_p(self.p_asymptotic)}, "
            f"Cramér's V = {self.cramers_v:.2f}"
        )
        if not self.asymptotic_ok:
            text += (
                f"; {self.share_expected_below_5:.0%} of expected counts are below 5 (smallest "
                f"{self.min_expected:.1f}), so the asymptotic p is unreliable: read the permutation p"
            )
        return text


def format_p(p: float) -> str:
    """A p-value for prose: three decimals, or ``< 0.001``."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _ordered(present: Iterable[str], order: Sequence[str]) -> list[str]:
    """``present`` in the order of ``order``, anything ``order`` does not name after it."""
    present = list(present)
    return [x for x in order if x in present] + [x for x in present if x not in order]


def association(
    frame: pd.DataFrame,
    row: str,
    col: str,
    row_order: Sequence[str] | None = None,
    col_order: Sequence[str] | None = None,
    n_permutations: int = 9999,
    seed: int = 0,
) -> Association:
    """Test whether columns ``row`` and ``col`` of ``frame`` are independent (categories shown in the given orders).

    With fewer than two rows or columns observed, the statistics are NaN.
    """
    data = frame[[row, col]].dropna()
    table = pd.crosstab(data[row], data[col])
    if row_order is not None:
        table = table.reindex(_ordered(table.index, row_order))
    if col_order is not None:
        table = table.reindex(columns=_ordered(table.columns, col_order))
    observed = table.to_numpy(dtype=float)
    if min(observed.shape) < 2:
        nan = float("nan")
        return Association(table, nan, 0, nan, nan, 0, nan, nan, nan)
    chi2, p_asymptotic, dof, expected = stats.chi2_contingency(observed, correction=False)
    r_codes = pd.Categorical(data[row], categories=table.index).codes
    c_codes = pd.Categorical(data[col], categories=table.columns).codes
    n_rows, n_cols = observed.shape

    def chi2_of_pairs(r: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        # Shuffling keeps both margins, so every shuffled table shares the observed table's expected counts: the
        # statistic of thousands of shuffles is one bincount, not thousands of chi2_contingency calls.
        r, c = np.broadcast_arrays(np.atleast_2d(r), np.atleast_2d(c))
        cells = r * n_cols + c + (np.arange(len(r)) * n_rows * n_cols)[:, None]
        tables = np.bincount(cells.ravel(), minlength=r.size // r.shape[-1] * n_rows * n_cols)
        return ((tables.reshape(-1, n_rows, n_cols) - expected) ** 2 / expected).sum(axis=(-2, -1))

    p_perm = stats.permutation_test((r_codes, c_codes), chi2_of_pairs, permutation_type="pairings",
                                    vectorized=True, n_resamples=n_permutations, alternative="greater",
                                    rng=np.random.default_rng(seed)).pvalue
    return Association(
        table=table,
        chi2=float(chi2),
        dof=int(dof),
        p_asymptotic=float(p_asymptotic),
        p_permutation=float(p_perm),
        n_permutations=n_permutations,
        cramers_v=cramers_v(observed),
        min_expected=float(expected.min()),
        share_expected_below_5=float((expected < 5).mean()),
    )


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (``scipy.stats.binomtest(...).proportion_ci``; NaNs for ``n == 0``)."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def rate_table(frame: pd.DataFrame, group: str, target: str, positive: str) -> pd.DataFrame:
    """How often ``target == positive`` in each group of column ``group``, highest rate first.

    Returns:
        Per group: ``calls``, ``count``, ``rate`` with its 95% Wilson ``ci_low``, ``ci_high``, ``share_of_all``
        (the group's share of all positives) and ``lift`` (rate over the overall rate).
    """
    hits = frame[target] == positive
    overall = hits.mean()
    rows = []
    for name, mask in frame.groupby(group, sort=False)[target].groups.items():
        n, k = len(mask), int(hits.loc[mask].sum())
        low, high = wilson_interval(k, n)
        rows.append({group: name, "calls": n, "count": k, "rate": k / n, "ci_low": low, "ci_high": high,
                     "share_of_all": k / hits.sum() if hits.sum() else np.nan,
                     "lift": (k / n) / overall if overall else np.nan})  # fmt: skip
    return pd.DataFrame(rows).sort_values(["rate", "calls"], ascending=False, ignore_index=True)


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """P(x > y) - P(x < y) over all pairs, ``2 U / (n_x n_y) - 1`` with Mann-Whitney's U (scipy); NaN when empty."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(2 * u / (len(x) * len(y)) - 1)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels' ``multipletests``) over the given tests; NaNs stay NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def compare_groups(frame: pd.DataFrame, features: Sequence[str], target: str, positive: str) -> pd.DataFrame:
    """Mann-Whitney U test and rank-biserial effect of each feature between ``target == positive`` and the rest.

    Returns:
        Per feature: medians and means of both groups, ``U``, ``p``, ``p_holm`` (over these features) and
        ``rank_biserial`` (positive: higher in the ``positive`` group).
    """
    hits = frame[target] == positive
    rows = []
    for feature in features:
        a = frame.loc[hits, feature].dropna().astype(float)
        b = frame.loc[~hits, feature].dropna().astype(float)
        if len(a) and len(b) and np.ptp(np.r_[a, b]) > 0:
            u, p = stats.mannwhitneyu(a, b, alternative="two-sided")
        else:
            u, p = np.nan, np.nan
        rows.append({"feature": feature, "n_pos": len(a), "n_rest": len(b),
                     "median_pos": a.median(), "median_rest": b.median(), "mean_pos": a.mean(), "mean_rest": b.mean(),
                     "U": u, "p": p, "rank_biserial": rank_biserial(a, b)})  # fmt: skip
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    return out


def odds_ratio_table(frame: pd.DataFrame, flags: Sequence[str], target: str, positive: str) -> pd.DataFrame:
    """Odds ratio of ``target == positive`` for calls with versus without each flag (a count > 0 is "with").

    Ratio and 95% Woolf interval are scipy's ``contingency.odds_ratio(kind="sample")``; a zero cell gets 0.5 added to
    every cell (Haldane-Anscombe, flagged ``corrected``). ``p_fisher`` is Fisher's exact test.
    """
    hits = frame[target] == positive
    rows = []
    for flag in flags:
        present = frame[flag].astype(float) > 0
        a, b = int((present & hits).sum()), int((present & ~hits).sum())
        c, d = int((~present & hits).sum()), int((~present & ~hits).sum())
        corrected = 0 in (a, b, c, d)
        if corrected:  # scipy's odds_ratio takes whole counts only, so the Haldane-Anscombe half is ours
            aa, bb, cc, dd = a + 0.5, b + 0.5, c + 0.5, d + 0.5
            log_or, se = math.log(aa * dd / (bb * cc)), math.sqrt(1 / aa + 1 / bb + 1 / cc + 1 / dd)
            z = stats.norm.ppf(0.975)
            ratio, low, high = math.exp(log_or), math.exp(log_or - z * se), math.exp(log_or + z * se)
        else:
            result = contingency.odds_ratio([[a, b], [c, d]], kind="sample")
            ci = result.confidence_interval(confidence_level=0.95)
            ratio, low, high = float(result.statistic), float(ci.low), float(ci.high)
        rows.append({"feature": flag, "with_pos": a, "with_rest": b, "without_pos": c, "without_rest": d,
                     "share_with": present.mean(), "odds_ratio": ratio, "ci_low": low, "ci_high": high,
                     "p_fisher": stats.fisher_exact([[a, b], [c, d]])[1], "corrected": corrected})  # fmt: skip
    return pd.DataFrame(rows)


def varying_features(X: pd.DataFrame, standardise: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """The columns of ``X`` that vary, scaled to mean 0 and SD 1 when ``standardise`` (odds ratios per SD then),
    and the names of those dropped."""
    dropped = [c for c in X.columns if X[c].std(ddof=0) == 0]
    X = X.drop(columns=dropped)
    return ((X - X.mean()) / X.std(ddof=0) if standardise else X), dropped


@dataclass
class LogisticResult:
    """A logistic regression: ``table`` (``feature``, ``odds_ratio``, 95% ``ci_low``/``ci_high``, ``p``), calls
    used, McFadden's pseudo R-squared, and a ``note`` on dropped features or estimates not to be trusted."""

    table: pd.DataFrame
    n: int
    pseudo_r2: float
    note: str = ""


def logistic_odds(
    frame: pd.DataFrame, features: Sequence[str], target: str, positive: str, standardise: bool = True
) -> LogisticResult:
    """Logistic regression of ``target == positive`` on ``features`` (statsmodels): odds ratios with 95% CIs.

    Features without variation are dropped. Under perfect separation the odds ratios are infinite, so the table
    holds NaN and the note says why. :func:`callinsights.analysis.ppi.logistic_odds` is the PPI counterpart.
    """
    import statsmodels.api as sm

    data = frame[[*features, target]].dropna()
    y = (data[target] == positive).astype(float)
    X, dropped = varying_features(data[list(features)].astype(float), standardise)
    notes = [f"dropped (no variation): {', '.join(dropped)}"] if dropped else []
    empty = pd.DataFrame(columns=["feature", "odds_ratio", "ci_low", "ci_high", "p"])
    if X.empty or y.nunique() < 2:
        notes.append("nothing to fit: no varying feature or only one class")
        return LogisticResult(empty, len(data), float("nan"), "; ".join(notes))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.Logit(y, sm.add_constant(X, has_constant="add")).fit(disp=0, maxiter=200)
        except np.linalg.LinAlgError as err:
            notes.append(f"fit failed ({err}); features are collinear")
            return LogisticResult(empty, len(data), float("nan"), "; ".join(notes))
    problems = {type(w.message).__name__ for w in caught}
    fitted = fit.predict()
    separated = "PerfectSeparationWarning" in problems or np.mean((fitted < 1e-6) | (fitted > 1 - 1e-6)) > 0.5
    if separated:
        notes.append("the features (nearly) separate the classes perfectly, so the odds ratios are not finite")
    elif "ConvergenceWarning" in problems or not fit.mle_retvals.get("converged", True):
        notes.append("the fit did not converge; treat the estimates as rough")
    with np.errstate(over="ignore"):
        ci = np.exp(fit.conf_int())
        table = pd.DataFrame({"feature": X.columns, "odds_ratio": np.exp(fit.params[X.columns]).to_numpy(),
                              "ci_low": ci.loc[X.columns, 0].to_numpy(), "ci_high": ci.loc[X.columns, 1].to_numpy(),
                              "p": fit.pvalues[X.columns].to_numpy()})  # fmt: skip
    if separated:
        table[["odds_ratio", "ci_low", "ci_high", "p"]] = np.nan
    return LogisticResult(table, len(data), float(fit.prsquared), "; ".join(notes))


def association_grid(
    frames: Mapping[str, pd.DataFrame],
    rows: Sequence[str],
    cols: Mapping[str, Sequence[str]],
    n_permutations: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`association` for every label set (``frames``), row variable and column variable (-> its categories).

    Returns:
        One row per test: ``labels``, ``by``, ``task``, ``n``, ``chi2``, ``dof``, ``p_permutation``,
        ``p_asymptotic``, ``cramers_v``, ``min_expected``, ``asymptotic_ok``.
    """
    out = []
    for name, frame in frames.items():
        for row in rows:
            for col, order in cols.items():
                a = association(frame, row, col, col_order=order, n_permutations=n_permutations, seed=seed)
                out.append({"labels": name, "by": row, "task": col, "n": a.n, "chi2": a.chi2, "dof": a.dof,
                            "p_permutation": a.p_permutation, "p_asymptotic": a.p_asymptotic,
                            "cramers_v": a.cramers_v, "min_expected": a.min_expected,
                            "asymptotic_ok": a.asymptotic_ok})  # fmt: skip
    return pd.DataFrame(out)


def paired_change(before: Sequence[float], after: Sequence[float]) -> dict[str, float]:
    """How a score moves between two moments of the same calls (pairs with a NaN left out).

    Returns:
        ``n``, ``median_before``, ``median_after``, ``median_change``, ``share_up``, ``share_down`` and
        ``p_wilcoxon`` (signed-rank, two-sided; NaN when nothing changes).
    """
    pairs = pd.DataFrame({"before": before, "after": after}).astype(float).dropna()
    change = pairs["after"] - pairs["before"]
    p = float(stats.wilcoxon(change).pvalue) if (change != 0).any() else float("nan")
    return {"n": len(pairs), "median_before": float(pairs["before"].median()),
            "median_after": float(pairs["after"].median()), "median_change": float(change.median()),
            "share_up": float((change > 0).mean()), "share_down": float((change < 0).mean()),
            "p_wilcoxon": p}  # fmt: skip


def verdict(p: float, alpha: float = 0.05) -> str:
    """Plain words for a p-value: whether a difference is distinguishable from chance at ``alpha``."""
    if p is None or not np.isfinite(p):
        return "not testable here"
    if p < alpha:
        return f"unlikely to be chance (p {format_p(p) if p < 0.001 else '= ' + format_p(p)})"
    return f"not distinguishable from chance (p = {format_p(p)})"
