"""Insights worth acting on, and the rules that decide which differences may be stated as findings.

Every rate here is a PPI estimate: the model's labels on all calls corrected by the hand labels of one reading
(:mod:`callinsights.analysis.ppi`), so it stays valid however biased the model is. The ``insights`` command writes:

- :func:`driver_table`: each driver's volume, follow-up and negative calls per 100 calls, with a few redacted quotes
  of its negative calls;
- :func:`pending_work_table`: the kinds of work follow-up calls leave pending (the cue lists of
  :mod:`callinsights.text.words`, read in the whole call), as shares of all and of each driver's follow-up calls;
- :func:`comparisons` decided by :func:`decide`: drivers and agent teams against the rest, what happens in the call
  against resolution, and consistency checks;
- :func:`actionable`: three to six findings an operations manager can act on, each with its number, its interval and
  the calls behind it.

**The finding rule.** A difference is stated only when its interval, adjusted for the comparisons of its *family*,
excludes 0. A family is the comparisons answering one question (drivers, agent teams, call events); the adjustment is
Bonferroni over the m comparisons tested in it (statsmodels' ``multipletests``). When each side has at least
``min_labelled`` hand-labelled calls (default 10) the comparison is tested by PPI, and its adjusted interval (level
``1 - alpha / m``) excludes 0 exactly when its adjusted p-value is below ``alpha``. With fewer, the few labelled calls
of a side often all carry one label and the PPI variance comes out too small, so the comparison is tested on the hand
labels alone: Fisher's exact test and the Newcombe interval at the adjusted level must both reject (a side with fewer
than :data:`callinsights.analysis.ppi.MIN_LABELLED` labelled calls is not estimable at all). A comparison that
predictions alone would call clear but the test does not is *withdrawn*: the difference may be the model's bias. A
comparison that restates the outcome label's definition (a callback promise is pending work) is a *consistency
check*, tested at the unadjusted level and never a finding.

Every number in a sentence comes from the row it describes; nothing is typed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from callinsights import config
from callinsights.analysis import ppi
from callinsights.data.call import natural_key
from callinsights.data.labels import load_labels
from callinsights.analysis import language
from callinsights.analysis.stats import format_p, wilson_interval
from callinsights.analysis.eda import ACTION_COLUMNS, FEATURE_LABELS, PENDING_COLUMNS
from callinsights.analysis.topics import clauses, is_term_word, terms
from callinsights.evaluation.metrics import agreement, newcombe_interval
from callinsights.schema import OUTCOMES
from callinsights.text.redact import redact
from callinsights.text.words import NEGATIVE_AT, POSITIVE_AT, without_cues

#: Groupings whose rates are compared (column of ``results/call_insights.csv`` -> how a reader sees it).
GROUPINGS = {"topic": "driver", "agent_team": "agent team"}
#: What happens in the call, compared on resolution (column of ``results/call_insights.csv`` -> how a reader sees it).
CALL_EVENTS = dict(ACTION_COLUMNS)
#: Comparisons that restate the outcome label's definition: checks of the labels and the cue lists, never findings.
CONSISTENCY_CHECKS = {"callbacks": "a callback promise"}
#: The family of the consistency checks, outside every family the findings are adjusted over.
CHECK = "consistency check"
#: Family of each kind of comparison: the comparisons that answer one question, adjusted together.
FAMILIES = {"topic": "drivers", "agent_team": "agent teams", "events": "call events"}

FOLLOW_UP = ("outcome", OUTCOMES[1], "follow-up")
RESOLVED = ("outcome", OUTCOMES[0], "resolved")
NEGATIVE = ("sentiment", "negative", "negative")
#: The rates groups are compared on (the neutral share is reported in the rates, not compared: nobody acts on it).
COMPARED_RATES = (FOLLOW_UP, NEGATIVE)

#: What each rate is called in a sentence, and what calls with more of it do.
RATE_WORDS = {"negative": "negative sentiment", "neutral": "neutral sentiment", "follow-up": "follow-up",
              "resolved": "resolution"}  # fmt: skip
RATE_VERBS = {"negative": "end negative", "neutral": "end neutral", "follow-up": "need follow-up",
              "resolved": "end resolved"}  # fmt: skip

#: Fewest hand-labelled calls on each side of a comparison for PPI to test it (fewer: the hand labels alone do).
MIN_LABELLED_FOR_FINDING = 10


def _labels_only_tests(out: pd.DataFrame) -> list[float]:
    """Fisher's exact p of each row's hand-labelled calls (NaN where a side has none)."""
    p = []
    for row in out.itertuples():
        la, lb, ga, gb = int(row.labelled_a), int(row.labelled_b), int(row.gold_count_a), int(row.gold_count_b)
        p.append(float(stats.fisher_exact([[ga, la - ga], [gb, lb - gb]])[1]) if min(la, lb) else np.nan)
    return p


def decide(comparisons: pd.DataFrame, alpha: float = 0.05,
           min_labelled: int = MIN_LABELLED_FOR_FINDING) -> pd.DataFrame:  # fmt: skip
    """Apply the finding rule (module docstring) to comparisons, family by family.

    Args:
        comparisons: Rows of :func:`callinsights.analysis.ppi.group_differences` and/or
            :func:`callinsights.analysis.ppi.flag_differences`, with a ``family`` column (absent: one family); rows of
            the family :data:`CHECK` are consistency checks.
        alpha: Family-wise error rate.
        min_labelled: Fewest hand-labelled calls on each side for PPI to test a comparison.

    Returns:
        The comparisons with ``method`` (``PPI``, ``hand labels`` or empty when untestable), ``p_test``, ``diff`` (the
        tested difference), ``eligible`` (tested), ``family_size`` (m of its family), ``p_adjusted`` (Bonferroni),
        ``adj_low``/``adj_high`` (the tested interval at level ``1 - alpha / m``), ``naive_adj_low``/
        ``naive_adj_high`` (predicted labels, same level), ``survives`` (a finding), ``naive_would_state`` and
        ``verdict``: ``finding``, ``withdrawn`` (predictions alone would state it, the test does not), ``not
        supported``, ``not estimable``, and for checks ``consistent`` or ``not consistent``.
    """
    out = comparisons.reset_index(drop=True).copy()
    if "family" not in out.columns:
        out["family"] = "all"
    fewest = out[["labelled_a", "labelled_b"]].min(axis=1)
    by_ppi = out["estimable"].astype(bool) & out["p"].notna() & (fewest >= min_labelled)
    by_labels = (fewest < min_labelled) & (fewest >= ppi.MIN_LABELLED)
    out["method"] = np.select([by_ppi, by_labels], ["PPI", "hand labels"], "")
    out["p_test"] = np.where(by_ppi, out["p"], np.where(by_labels, _labels_only_tests(out), np.nan))
    out["diff"] = np.where(by_labels, out["labels_diff"], out["ppi_diff"])
    tested = by_ppi | by_labels
    out["eligible"] = tested
    check = out["family"] == CHECK
    out["family_size"] = 1
    out["p_adjusted"] = out["p_test"].where(check & tested)
    for family in out.loc[~check, "family"].unique():
        members = out["family"] == family
        rows = out.index[members & tested]
        out.loc[members, "family_size"] = len(rows)
        if len(rows):
            out.loc[rows, "p_adjusted"] = multipletests(out.loc[rows, "p_test"].to_numpy(float), alpha=alpha,
                                                        method="bonferroni")[1]  # fmt: skip
    level = alpha / out["family_size"].clip(lower=1)
    half = stats.norm.ppf(1 - level / 2) * out["ppi_se"]
    labels = [newcombe_interval(row.gold_count_a, row.labelled_a, row.gold_count_b, row.labelled_b, lev)
              for row, lev in zip(out.itertuples(), level)]  # fmt: skip
    # A difference of rates lies in [-1, 1]; cutting the interval there keeps its coverage and its verdict.
    out["adj_low"] = np.where(by_ppi, np.maximum(-1.0, out["ppi_diff"] - half),
                              np.where(by_labels, [lo for lo, _ in labels], np.nan))  # fmt: skip
    out["adj_high"] = np.where(by_ppi, np.minimum(1.0, out["ppi_diff"] + half),
                               np.where(by_labels, [hi for _, hi in labels], np.nan))  # fmt: skip
    naive = [newcombe_interval(row.pred_count_a, row.calls_a, row.pred_count_b, row.calls_b, lev)
             for row, lev in zip(out.itertuples(), level)]  # fmt: skip
    out["naive_adj_low"] = [lo for lo, _ in naive]
    out["naive_adj_high"] = [hi for _, hi in naive]
    excludes = tested & ((out["adj_low"] > 0) | (out["adj_high"] < 0)) & (out["p_adjusted"] < alpha)
    out["survives"] = excludes & ~check
    out["naive_would_state"] = (out["naive_adj_low"] > 0) | (out["naive_adj_high"] < 0)
    out["verdict"] = np.select(
        [check & excludes, check, out["survives"], ~tested, out["naive_would_state"]],
        ["consistent", "not consistent", "finding", "not estimable", "withdrawn"], "not supported",
    )
    out.attrs["min_labelled"] = min_labelled
    return out


def _pct(x: float) -> str:
    """A rate for prose; a PPI estimate can stray below 0 or above 1 on few labels, a rate cannot."""
    return f"{min(1.0, max(0.0, x)):.0%}"


def _points(x: float) -> str:
    """A difference of rates in percentage points; one decimal where a whole number would round to 0."""
    return f"{100 * x:+.1f}" if abs(x) < 0.005 else f"{100 * x:+.0f}"


def _tested(row: pd.Series) -> str:
    """The tested rates and difference of a decided row, with its adjusted interval, for a sentence."""
    if row["method"] == "hand labels":
        a, b = row["gold_count_a"] / row["labelled_a"], row["gold_count_b"] / row["labelled_b"]
        basis = (f"{_pct(a)} against {_pct(b)} on the hand-labelled calls alone ({row['labelled_a']} and "
                 f"{row['labelled_b']}, too few for PPI), a difference of {_points(row['diff'])} points, Fisher's "
                 f"exact p {format_p(row['p_test'])}")  # fmt: skip
    else:
        basis = (f"{_pct(row['rate_a'])} against {_pct(row['rate_b'])} (PPI), a difference of "
                 f"{_points(row['diff'])} points")
    if row["family"] == CHECK:
        return f"{basis}, 95% interval {_points(row['adj_low'])} to {_points(row['adj_high'])}"
    return (f"{basis}, adjusted 95% interval {_points(row['adj_low'])} to {_points(row['adj_high'])} over "
            f"{row['family_size']} comparisons of {row['family']}")


def claim(row: pd.Series, bold: bool = True) -> str:
    """What a comparison says when it holds, in words: "**Claim denied** calls need follow-up more often"."""
    group = row["group"] if row["versus"] == "the rest" else row["group"][:1].upper() + row["group"][1:]
    group = f"**{group}**" if bold else group
    subject = f"{group} calls" if row["versus"] == "the rest" else group
    more = "more" if row["diff"] > 0 else "less"
    return f"{subject} {RATE_VERBS.get(row['rate'], 'show ' + str(row['rate']))} {more} often"


def sentence(row: pd.Series) -> str:
    """One sentence for a comparison decided by :func:`decide`, every number from the row."""
    what = RATE_WORDS.get(row["rate"], row["rate"])
    rest = "the other calls" if row["versus"] == "the rest" else "calls without it"
    group = f"**{row['group'][:1].upper() + row['group'][1:]}**"
    if row["verdict"] == "not estimable":
        why = row["note"] if isinstance(row["note"], str) and row["note"] else "no hand-labelled call on one side"
        return f"{group}, {what}: not estimable ({why})."
    naive = f"predictions alone: {_points(row['naive_diff'])} points"
    if row["verdict"] == "finding":
        return f"{claim(row)} than {rest}: {_tested(row)}; {naive}."
    if row["verdict"] in ("consistent", "not consistent"):
        found = "as the label's definition says" if row["verdict"] == "consistent" else "not shown by these calls"
        return f"Consistency check, not a finding: {claim(row)} than {rest}, {found}: {_tested(row)}."
    if row["verdict"] == "withdrawn":
        return (f"{group}, {what}: {naive} against {rest}; corrected, {_tested(row)}, which includes 0: not "
                "stated.")
    return f"{group}, {what}: {_tested(row)}; the interval includes 0, so no difference is stated."


#: What an operations team could do when a finding holds: (grouping or event column, rate) -> (direction of the
#: difference the action answers, action).
ACTIONS = {
    ("topic", "follow-up"): (1, "review a sample of these calls for the step left pending and whether first-line "
                                "agents could close it in the call"),
    ("agent_team", "follow-up"): (1, "check what this team has to hand on, and whether it could settle it in the call"),
    ("topic", "negative"): (1, "put quality review and coaching on this driver first"),
    ("agent_team", "negative"): (1, "review this team's negative calls with its lead"),
    ("transferred", "resolved"): (-1, "let first-line agents settle the common cases, or transfer warm with the "
                                      "case attached and a time the customer hears back"),
    ("escalated", "resolved"): (-1, "track escalations to closure and tell the customer when they will hear back"),
    ("self_service", "resolved"): (1, "offer the same walked-through steps earlier, in the call and online"),
    ("explained", "resolved"): (1, "give agents the short explanations that settle these calls"),
}


def action(row: pd.Series) -> str:
    """What to do about a finding, or a plain instruction to look closer when no action is written for its direction."""
    direction, text = ACTIONS.get((row["by"], row["rate"]), (0, ""))
    return text if text and np.sign(row["diff"]) == direction else "look at a sample of these calls before acting"


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
    rows = decided[decided["survives"]].assign(size=lambda t: t["diff"].abs()).sort_values("size", ascending=False)
    return [sentence(row) for _, row in rows.iterrows()]


def withdrawn(decided: pd.DataFrame) -> list[str]:
    """Sentences of the comparisons predictions alone would state but the test does not, largest naive first."""
    rows = decided[decided["verdict"] == "withdrawn"]
    rows = rows.assign(size=lambda t: t["naive_diff"].abs()).sort_values("size", ascending=False)
    return [sentence(row) for _, row in rows.iterrows()]


def summary(decided: pd.DataFrame) -> str:
    """One sentence: how many comparisons were made and tested, how many survive, how many predictions alone would
    state."""
    counts = decided["verdict"].value_counts()
    real = decided[decided["family"] != CHECK]
    families = real[real["eligible"]].groupby("family").size()
    naive = real["naive_would_state"]
    return (f"{len(real)} comparisons, {int(real['eligible'].sum())} tested (Bonferroni within each family: "
            + ", ".join(f"{m} of {name}" for name, m in families.items()) + f"): {counts.get('finding', 0)} survive "
            f"as findings, {int((real['method'] == 'hand labels').sum())} of the tested on the hand labels alone. "
            f"Predictions alone would state {int(naive.sum())}, of which {int((naive & ~real['survives']).sum())} do "
            f"not survive the correction by the hand labels; {counts.get('not estimable', 0)} cannot be tested.")


def comparisons(frame: pd.DataFrame, groupings: Sequence[str] = tuple(GROUPINGS),
                events: Mapping[str, str] = CALL_EVENTS, checks: Mapping[str, str] = CONSISTENCY_CHECKS,
                alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """The comparisons the insights test, each with its ``family``: every group against the rest on follow-up and
    negative sentiment; resolution with each call event against without it; the consistency checks (follow-up with
    each against without it).

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame` with the grouping, event and check columns.
        groupings: Grouping columns (absent ones are skipped).
        events: Event columns (absent ones are skipped) -> readable names.
        checks: Check columns (absent ones are skipped) -> readable names.
        alpha: Level of the unadjusted intervals.

    Returns:
        The rows of :func:`callinsights.analysis.ppi.group_differences` and :func:`callinsights.analysis.ppi.flag_differences`.
    """
    parts = [ppi.group_differences(frame, by, rates=COMPARED_RATES, alpha=alpha).assign(family=FAMILIES.get(by, by))
             for by in groupings if by in frame.columns]  # fmt: skip
    # A flag's rows are named as calls ("calls escalated", "calls with a callback promise"), to read in a sentence.
    present = {k: f"calls {v}" for k, v in events.items() if k in frame.columns}
    if present:
        parts.append(ppi.flag_differences(frame, present, *RESOLVED[:2], alpha=alpha)
                     .assign(group=list(present.values()), rate=RESOLVED[2], family=FAMILIES["events"]))  # fmt: skip
    present = {k: f"calls with {v}" for k, v in checks.items() if k in frame.columns}
    if present:
        parts.append(ppi.flag_differences(frame, present, *FOLLOW_UP[:2], alpha=alpha)
                     .assign(group=list(present.values()), family=CHECK))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def from_files(predictions: str | Path = config.PREDICTIONS_FILE, labels: str | Path = config.GUIDELINE_LABELS_FILE,
               covariates: str | Path = config.INSIGHTS_FILE, alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Rates and decided comparisons from the files on disk, for a command that refreshes them without a notebook.

    Args:
        predictions: ``results/predictions.csv`` (held-out predictions on the labelled rows).
        labels: The hand labels the predictions are corrected with (one reading).
        covariates: ``results/call_insights.csv`` (written by ``callinsights insights``): ``file``, ``topic``,
            ``agent_team``, the event and check columns.

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


# What the command writes beside the comparisons: each driver's workload and unhappy customers, the work follow-up
# calls leave pending, and the findings worth acting on.

#: Quotes shown per driver for its negative calls, and the fewest words a quote should have to say something.
QUOTES_PER_DRIVER = 3
QUOTE_MIN_WORDS = 3


def _ids(index: Iterable[str]) -> str:
    """Call identifiers as one cell: space-separated, in file order (the explorer reads them back)."""
    return " ".join(sorted(index, key=natural_key))


def negative_quotes(part: pd.DataFrame, quotes: pd.Series, n: int = QUOTES_PER_DRIVER) -> pd.Series:
    """Up to ``n`` redacted customer quotes of the calls of ``part`` predicted negative (call id -> quote): those with
    at least :data:`QUOTE_MIN_WORDS` spoken words first (a bare "(hangs up)" says less), the surest call first."""
    negative = part[part["pred_sentiment"] == NEGATIVE[1]]
    if "p_negative" in negative.columns:
        negative = negative.sort_values("p_negative", ascending=False, kind="stable")
    said = quotes.reindex(negative.index).dropna().astype(str).map(redact)
    said = said[said.str.strip().ne("")]
    spoken = said.map(lambda text: len(without_cues(text).split())) >= QUOTE_MIN_WORDS
    return pd.concat([said[spoken], said[~spoken]]).head(n)


def driver_table(frame: pd.DataFrame, quotes: pd.Series | None = None, by: str = "topic",
                 alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """Each driver's workload and unhappy customers, PPI-corrected, over all calls first.

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame` with the ``by`` column.
        quotes: Call id -> the customer's quote for its sentiment (``evidence_sentiment`` of the predictions);
            None: no quotes.
        by: The driver column.
        alpha: 1 - the intervals' level.

    Returns:
        One row per driver (``all calls`` first): ``calls``, ``share_of_calls``, ``labelled``, ``few_labels``;
        ``follow_up_per_100`` with ``_low``/``_high`` (follow-up calls per 100 of the driver's calls);
        ``follow_up_per_100_of_all`` with ``_low``/``_high`` (the driver's follow-up calls per 100 of all calls: its
        share of the workload); ``negative_per_100`` with
        ``_low``/``_high``; the counts predicted (``follow_up_predicted``, ``negative_predicted``) and their call ids
        (``follow_up_calls``, ``negative_calls``); ``quotes`` (joined by " | ") and ``quote_calls``.
    """
    quotes = quotes if quotes is not None else pd.Series(dtype=str)
    parts = [("all calls", frame), *frame.groupby(by, sort=True)]
    rows = []
    for name, part in parts:
        share = len(part) / len(frame)
        row = {"driver": name, "calls": len(part), "share_of_calls": share}
        for (task, value, short), column in ((FOLLOW_UP, "follow_up"), (NEGATIVE, "negative")):
            rate = ppi.rate_row(part, task, value, alpha)
            predicted = part.index[part[f"pred_{task}"] == value]
            row.update({f"{column}_per_100": 100 * rate["ppi"], f"{column}_low": 100 * rate["ppi_low"],
                        f"{column}_high": 100 * rate["ppi_high"], f"{column}_predicted": len(predicted),
                        f"{column}_calls": _ids(predicted)})  # fmt: skip
            if column == "follow_up":
                row.update({"labelled": rate["labelled"], "few_labels": rate["few_labels"],
                            "follow_up_per_100_of_all": share * 100 * rate["ppi"],
                            "follow_up_of_all_low": share * 100 * rate["ppi_low"],
                            "follow_up_of_all_high": share * 100 * rate["ppi_high"]})  # fmt: skip
        said = negative_quotes(part, quotes)
        row.update({"quotes": " | ".join(said), "quote_calls": " ".join(said.index)})
        rows.append(row)
    columns = ["driver", "calls", "share_of_calls", "labelled", "few_labels", "follow_up_per_100", "follow_up_low",
               "follow_up_high", "follow_up_per_100_of_all", "follow_up_of_all_low", "follow_up_of_all_high",
               "follow_up_predicted", "negative_per_100", "negative_low", "negative_high", "negative_predicted",
               "quotes", "quote_calls", "follow_up_calls", "negative_calls"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


#: The kinds of pending work in the tables (per-call column -> how a reader sees it), and the row for any of them.
PENDING_KINDS = dict(PENDING_COLUMNS)
ANY_KIND = "any of these"
#: What an operations team could do about each kind of pending work (per-call column -> action).
PENDING_ACTIONS = {
    "pending_documents": "ask for the documents in the call, with the fax number or upload link, and chase what has "
                         "not arrived",
    "pending_another_team": "let first-line agents settle the common cases, or hand over with the case attached and "
                            "a date the customer hears back",
    "pending_reprocessing": "track reprocessing and refunds to closure and tell the customer when the money moves",
    "callbacks": "count callback promises per driver as workload and measure how many are kept",
    "pending_ticket": "publish the known fixes and track technical tickets to closure",
}


def pending_work_table(frame: pd.DataFrame, by: str = "topic", alpha: float = 0.05) -> pd.DataFrame:
    """What follow-up calls leave pending: the share of follow-up calls with each kind of pending work, over all calls
    and per driver (:func:`callinsights.analysis.ppi.share_within`: which calls are follow-up is corrected by the hand
    labels; whether a call mentions the work is read from its words, without labels).

    Args:
        frame: From :func:`callinsights.analysis.ppi.ppi_frame` with the ``by`` column and the pending-work columns.
        by: The driver column.
        alpha: 1 - the intervals' level.

    Returns:
        One row per driver (``all calls`` first) and kind (:data:`PENDING_KINDS`, then :data:`ANY_KIND`): its
        per-call ``column`` (``any`` for any kind), ``calls``, ``calls_with_kind`` (calls whose words mention it), ``share_of_follow_up`` with ``share_low``,
        ``share_high`` (PPI), ``labelled_follow_up`` and ``labels_share`` with ``labels_low``/``labels_high`` (the
        hand-labelled follow-up calls alone, Wilson), ``estimable``, ``few_labels``, ``note``, and the predicted
        follow-up calls with the kind (``follow_up_with_kind`` and their ids in ``calls_list``).
    """
    flags = {c: frame[c].astype(float) > 0 for c in PENDING_KINDS if c in frame.columns}
    flags["any"] = pd.concat(list(flags.values()), axis=1).any(axis=1) if flags else pd.Series(False, frame.index)
    rows = []
    for name, part in [("all calls", frame), *frame.groupby(by, sort=True)]:
        follow = part["pred_outcome"] == FOLLOW_UP[1]
        labelled = part[part["labelled"] & (part["gold_outcome"] == FOLLOW_UP[1])]
        for column, flag in flags.items():
            has = flag.reindex(part.index)
            est = ppi.share_within(part, *FOLLOW_UP[:2], has)
            low, high = est.interval(alpha)
            hits = int(has.reindex(labelled.index).sum())
            labels_low, labels_high = wilson_interval(hits, len(labelled), 1 - alpha)
            rows.append({
                "driver": name, "kind": PENDING_KINDS.get(column, ANY_KIND), "column": column, "calls": len(part),
                "calls_with_kind": int(has.sum()),
                "share_of_follow_up": min(1.0, max(0.0, est.value)) if est.estimable else np.nan,
                "share_low": max(0.0, low) if est.estimable else np.nan,
                "share_high": min(1.0, high) if est.estimable else np.nan,
                "labelled_follow_up": len(labelled), "labels_share": hits / len(labelled) if len(labelled) else np.nan,
                "labels_low": labels_low, "labels_high": labels_high, "estimable": est.estimable,
                "few_labels": est.estimable and est.labelled < ppi.FEW_LABELS, "note": est.note,
                "follow_up_with_kind": int((follow & has).sum()), "calls_list": _ids(part.index[follow & has]),
            })  # fmt: skip
    return pd.DataFrame(rows)


#: Columns of ``results/findings.csv``.
FINDING_COLUMNS = ["finding", "question", "headline", "sentence", "value", "low", "high", "unit", "method", "action",
                   "quotes", "n_calls", "calls", "survives", "verdict"]  # fmt: skip
#: Most findings stated; the rest of what holds is in the comparisons and tables.
MAX_FINDINGS = 6


def _per_100(value: float, low: float, high: float) -> str:
    return f"{value:.0f} (95% interval {low:.0f}-{high:.0f})"


def _workload(drivers: pd.DataFrame, decided: pd.DataFrame) -> dict | None:
    """The driver that carries the most follow-up work (its follow-up calls per 100 of all calls)."""
    table = drivers[(drivers["driver"] != "all calls") & drivers["follow_up_per_100_of_all"].notna()]
    if table.empty:
        return None
    top = table.loc[table["follow_up_per_100_of_all"].idxmax()]
    overall = drivers.iloc[0]
    tested = decided[(decided["by"] == "topic") & (decided["group"] == top["driver"]) & (decided["rate"] == "follow-up")]
    versus = (f" More than the other calls: {_tested(tested.iloc[0])}." if len(tested) and tested.iloc[0]["survives"]
              else " Its difference from the other calls is not established by the finding rule.")
    return {
        "question": "workload", "headline": f"{top['driver']} carries the most follow-up work",
        "sentence": (f"**{top['driver']}** ({top['calls']} calls, {top['share_of_calls']:.0%} of all) carries the most "
                     f"follow-up work: {_per_100(top['follow_up_per_100'], top['follow_up_low'], top['follow_up_high'])}"
                     f" of every 100 of its calls need follow-up, {top['follow_up_per_100_of_all']:.0f} of every 100 "
                     f"calls overall, out of {overall['follow_up_per_100']:.0f} for all drivers together.{versus}"),
        "value": top["follow_up_per_100"], "low": top["follow_up_low"], "high": top["follow_up_high"],
        "unit": "follow-up calls per 100 calls of the driver", "method": "PPI",
        "action": ACTIONS[("topic", "follow-up")][1], "calls": top["follow_up_calls"],
        "verdict": "finding" if len(tested) and tested.iloc[0]["survives"] else "estimate",
    }


def _pending(pending: pd.DataFrame, n: int = 2) -> list[dict]:
    """The kinds of work most often left pending by follow-up calls, beyond the callback promise that makes a call
    follow-up by definition, each with the driver that holds most of its calls."""
    overall = pending[(pending["driver"] == "all calls") & pending["estimable"]
                      & ~pending["kind"].isin([PENDING_KINDS["callbacks"], ANY_KIND])]  # fmt: skip
    out = []
    for _, row in overall.sort_values("share_of_follow_up", ascending=False).head(n).iterrows():
        by_driver = pending[(pending["driver"] != "all calls") & (pending["kind"] == row["kind"])]
        where = by_driver.loc[by_driver["follow_up_with_kind"].idxmax()] if len(by_driver) else None
        there = (f"; {where['follow_up_with_kind']} of the {row['follow_up_with_kind']} follow-up calls that leave it "
                 f"are {where['driver']}" if where is not None and row["follow_up_with_kind"] else "")
        out.append({
            "question": "pending work", "headline": f"Follow-up calls often leave {row['kind']}",
            "sentence": (f"**{row['kind'].capitalize()}** is pending in {row['share_of_follow_up']:.0%} of follow-up "
                         f"calls (95% interval {row['share_low']:.0%}-{row['share_high']:.0%}; cues read in the whole "
                         f"call){there}."),
            "value": 100 * row["share_of_follow_up"], "low": 100 * row["share_low"], "high": 100 * row["share_high"],
            "unit": "per 100 follow-up calls", "method": "PPI",
            "action": PENDING_ACTIONS.get(row["column"], "look at a sample of these calls before acting"),
            "calls": row["calls_list"], "verdict": "estimate",
        })
    return out


def _unhappy(drivers: pd.DataFrame, decided: pd.DataFrame) -> dict | None:
    """Where customers end unhappy: the driver shown to have more negative calls than the rest, with its quotes; when
    none is shown, the negative share over all calls with the highest driver named, and quotes from all calls."""
    table = drivers[(drivers["driver"] != "all calls") & drivers["negative_per_100"].notna()]
    if table.empty:
        return None
    top, overall = table.loc[table["negative_per_100"].idxmax()], drivers.iloc[0]
    tested = decided[(decided["by"] == "topic") & (decided["group"] == top["driver"]) & (decided["rate"] == "negative")]
    every = _per_100(overall["negative_per_100"], overall["negative_low"], overall["negative_high"])
    highest = _per_100(top["negative_per_100"], top["negative_low"], top["negative_high"])
    row = {"question": "unhappy customers", "unit": "negative calls per 100 calls", "method": "PPI"}
    if len(tested) and tested.iloc[0]["survives"]:
        return {**row, "headline": f"Customers end unhappy most in {top['driver']}",
                "sentence": (f"Customers end unhappy in {every} of every 100 calls, and more often in "
                             f"**{top['driver']}**: {highest}; {_tested(tested.iloc[0])}."),
                "value": top["negative_per_100"], "low": top["negative_low"], "high": top["negative_high"],
                "action": ACTIONS[("topic", "negative")][1], "quotes": top["quotes"], "calls": top["negative_calls"],
                "verdict": "finding"}  # fmt: skip
    return {**row, "headline": f"Customers end unhappy in {overall['negative_per_100']:.0f} of every 100 calls",
            "sentence": (f"Customers end unhappy in **{every}** of every 100 calls ({overall['negative_predicted']} "
                         f"calls by the model's reading); no driver is shown to differ from the rest (the highest, "
                         f"{top['driver']}: {highest})."),
            "value": overall["negative_per_100"], "low": overall["negative_low"], "high": overall["negative_high"],
            "action": "read these calls with the team leads of the agents who took them: they are few, and no "
                      "driver stands out", "quotes": overall["quotes"], "calls": overall["negative_calls"],
            "verdict": "estimate"}  # fmt: skip


def _comparison(row: pd.Series, frame: pd.DataFrame) -> dict:
    """A surviving comparison as a finding; the calls behind it are the calls of its first group."""
    if row["versus"] == "the rest":
        inside = frame.index[frame[row["by"]] == row["group"]]
    else:
        inside = frame.index[frame[row["by"]].astype(float) > 0]
    question = "resolution" if row["family"] == FAMILIES["events"] else row["family"]
    return {
        "question": question, "headline": claim(row, bold=False), "sentence": sentence(row), "value": 100 * row["diff"],
        "low": 100 * row["adj_low"], "high": 100 * row["adj_high"],
        "unit": f"percentage points of {RATE_WORDS.get(row['rate'], row['rate'])} (adjusted interval)",
        "method": row["method"], "action": action(row), "calls": _ids(inside), "verdict": "finding",
    }


def actionable(drivers: pd.DataFrame, pending: pd.DataFrame, decided: pd.DataFrame, frame: pd.DataFrame,
               most: int = MAX_FINDINGS) -> pd.DataFrame:  # fmt: skip
    """Three to six findings an operations manager can act on, each with its number, interval and calls.

    In this order, as far as the data support them: the driver that carries the most follow-up work; the two kinds of
    pending work follow-up calls leave most often (beyond the callback promise, which is follow-up by definition);
    where customers end unhappy, with quotes; then the comparisons that survive :func:`decide`, call events first,
    largest difference first. An estimate (a rate with its interval) is always valid; saying a group differs from
    the rest needs a surviving comparison, and the sentence says which it is.

    Args:
        drivers: :func:`driver_table`.
        pending: :func:`pending_work_table`.
        decided: :func:`decide` over :func:`comparisons`.
        frame: The :func:`callinsights.analysis.ppi.ppi_frame` the tables came from (the calls of each comparison).

    Returns:
        :data:`FINDING_COLUMNS`, ``finding`` numbered from 1 (the explorer's ``#finding=N``).
    """
    rows = [_workload(drivers, decided), *_pending(pending), _unhappy(drivers, decided)]
    kept = decided[decided["survives"]].assign(size=lambda t: t["diff"].abs(),
                                               events=lambda t: t["family"] != FAMILIES["events"])
    for _, row in kept.sort_values(["events", "size"], ascending=[True, False]).iterrows():
        if row["by"] == "topic" and row["rate"] in ("follow-up", "negative") and any(
                r and row["group"] in r["headline"] for r in rows):
            continue  # already said by the workload or unhappy finding, with this comparison in its sentence
        rows.append(_comparison(row, frame))
    rows = [r for r in rows if r][:most]
    table = pd.DataFrame(rows).reindex(columns=FINDING_COLUMNS)
    table["finding"] = range(1, len(table) + 1)
    table["quotes"] = table["quotes"].fillna("")
    table["n_calls"] = [len(str(ids).split()) if isinstance(ids, str) else 0 for ids in table["calls"]]
    table["survives"] = True
    return table


# Insights from the calls: where customers end unhappy, what goes with follow-up, what each group says.

def mask_names(text: str, names: Iterable[str]) -> str:
    """Replace each of ``names`` (lower case, e.g. :func:`callinsights.text.words.proper_nouns`) by ``[NAME]``.

    :func:`callinsights.text.redact.redact` replaces identifiers but not names; an excerpt shown to a reader should not
    carry the member's name either.
    """
    names = sorted(set(names), key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")(?:'s)?\b", re.IGNORECASE)
    return pattern.sub("[NAME]", text)



def topic_examples(
    frame: pd.DataFrame, per_topic: int = 3, max_chars: int = 220, names: Iterable[str] = ()
) -> pd.DataFrame:
    """The most typical calls of each topic (highest dominant share) with their redacted opening request.

    Args:
        frame: Output of :func:`add_topics` (needs ``topic``, ``topic_share``, ``opening``).
        per_topic: Calls shown per topic.
        max_chars: Excerpts are cut at a word boundary after this many characters.
        names: Names to mask in the excerpts (:func:`mask_names`).

    Returns:
        Columns ``topic``, ``file``, ``topic_share`` and ``excerpt``.
    """
    rows = []
    for topic, group in frame.groupby("topic", sort=False):
        for _, row in group.nlargest(per_topic, "topic_share").iterrows():
            text = mask_names(row["opening"], names)
            if len(text) > max_chars:
                text = text[:max_chars].rsplit(" ", 1)[0] + " ..."
            rows.append({"topic": topic, "file": row["file"], "topic_share": row["topic_share"], "excerpt": text})
    return pd.DataFrame(rows, columns=["topic", "file", "topic_share", "excerpt"])



@dataclass
class LabelSource:
    """The labels the analysis describes and where they came from.

    Attributes:
        labels: Indexed by call identifier; columns ``sentiment`` and ``outcome``.
        kind: ``predicted`` (a predictions file) or ``hand-labelled`` (the fallback).
        description: One sentence for the reader.
        made_by: For predictions, the ``model``, ``engine`` and ``method`` values of the file; else empty.
    """

    labels: pd.DataFrame
    kind: str
    description: str
    made_by: str = ""



def load_label_source(predictions: str | Path, gold: str | Path = config.LABELS_FILE) -> LabelSource:
    """The predicted labels when the predictions file exists, else the hand labels, saying which.

    Args:
        predictions: A predictions CSV (``file,sentiment,outcome,...,model,engine,method``).
        gold: The hand-label file, used when ``predictions`` does not exist.

    Returns:
        The labels and a description naming the file and, for predictions, the model, engine and method.

    Raises:
        LabelFileError: The predictions file exists but is not valid (the message lists every problem).
        FileNotFoundError: Neither file exists.
    """
    predictions = Path(predictions)
    if predictions.is_file():
        labels = load_labels(predictions)
        raw = pd.read_csv(predictions, dtype=str, keep_default_na=False)
        made_by = ", ".join(
            f"{col} {'/'.join(sorted(set(raw[col])))}" for col in ("model", "engine", "method") if col in raw
        )
        description = f"{len(labels)} calls with predicted labels from {predictions}"
        return LabelSource(labels, "predicted", description + (f" ({made_by})" if made_by else ""), made_by)
    labels = load_labels(gold)
    return LabelSource(
        labels,
        "hand-labelled",
        f"{predictions} not found (run `make analyze` to create it), so the label-based sections use only the "
        f"{len(labels)} hand-labelled calls in {gold}",
    )



def agreement_with_gold(labels: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """How far the labels being described can be trusted: their agreement with the hand labels, per task.

    Args:
        labels: Indexed by call identifier, columns ``sentiment`` and ``outcome``.
        gold: The hand labels, the same shape.

    Returns:
        One row per task (``sentiment``, ``outcome``): ``calls`` compared, ``share_agree`` with its 95% Wilson
        interval (``ci_low``, ``ci_high``) and Cohen's ``kappa`` (:func:`callinsights.evaluation.metrics.agreement`); no rows
        when the two share no call.
    """
    shared = labels.index.intersection(gold.index)
    rows = []
    for task in ("sentiment", "outcome") if len(shared) else ():
        result = agreement(labels.loc[shared, task], gold.loc[shared, task])
        low, high = wilson_interval(round(result["share_agree"] * result["n"]), result["n"])
        rows.append({"task": task, "calls": result["n"], "share_agree": result["share_agree"], "ci_low": low,
                     "ci_high": high, "kappa": result["kappa"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "calls", "share_agree", "ci_low", "ci_high", "kappa"])



def distinctive_terms(
    texts: Sequence[str], labels: Sequence[str], stop: frozenset[str], top: int = 15, min_count: int = 3
) -> pd.DataFrame:
    """Terms (words and word pairs, see :func:`terms`) most typical of each class against all the other classes.

    Scored by :func:`callinsights.analysis.language.distinctive_by_class` (Monroe et al.'s log-odds with an informative Dirichlet
    prior from all classes together), the pipeline of the distinctive words of each side of a call too.

    Args:
        texts: Texts, one per call (redacted on the way).
        labels: Class of each text.
        stop: Stop words (names included, see :func:`stop_words`).
        top: Terms kept per class.
        min_count: A term must occur this often in the class.

    Returns:
        Columns ``label``, ``term``, ``z``, ``count_in`` (in the class), ``count_out`` (elsewhere) and ``calls_in``
        (calls of the class using it); only terms with ``z > 0``. A class that is alone has no row.
    """
    table = language.distinctive_by_class([Counter(terms(text, stop)) for text in texts], labels, top, min_count)
    return table[["label", "term", "z", "count_in", "count_out", "calls_in"]]



def class_collocations(
    texts: Sequence[str],
    labels: Sequence[str],
    stop: frozenset[str],
    top: int = 8,
    min_freq: int = 3,
    min_z: float = 0.0,
) -> pd.DataFrame:
    """Bigram collocations of each class that are also typical of it.

    nltk's likelihood-ratio score finds word pairs that go together in the class's own words (stop words stay in
    place while pairing, so ``call back`` pairs only when adjacent within a clause; pairs with a stop word or a
    short word are then dropped). Pairs every class uses alike (``sounds good``) would top every class, so only
    pairs whose log-odds z (:func:`callinsights.analysis.language.log_odds_dirichlet`, the class against the rest) exceeds
    ``min_z`` are kept.

    Args:
        texts: Texts, one per call (redacted on the way).
        labels: Class of each text.
        stop: Stop words.
        top: Pairs kept per class.
        min_freq: Fewest occurrences in the class.
        min_z: Smallest log-odds z for a pair to count as typical of the class.

    Returns:
        Columns ``label``, ``bigram``, ``score`` (likelihood ratio), ``count`` (in the class) and ``z``.
    """
    from nltk.collocations import BigramAssocMeasures, BigramCollocationFinder

    measure = BigramAssocMeasures()
    labels = list(labels)
    documents = [clauses(text) for text in texts]
    per_call = [
        Counter(f"{a} {b}" for seq in doc for a, b in zip(seq, seq[1:])
                if is_term_word(a, stop) and is_term_word(b, stop))
        for doc in documents
    ]
    pooled = sum(per_call, Counter())
    rows = []
    for label in dict.fromkeys(labels):
        inside = sum((c for c, l in zip(per_call, labels) if l == label), Counter())
        outside = pooled - inside
        if not inside or not outside:
            continue
        z = language.log_odds_dirichlet(inside, outside).set_index("word")["z"]
        finder = BigramCollocationFinder.from_documents(
            [seq for doc, l in zip(documents, labels) if l == label for seq in doc]
        )
        finder.apply_word_filter(lambda w: not is_term_word(w, stop))
        finder.apply_freq_filter(min_freq)
        kept = [(f"{a} {b}", score, finder.ngram_fd[(a, b)])
                for (a, b), score in finder.score_ngrams(measure.likelihood_ratio)]  # fmt: skip
        kept = [(bigram, score, n) for bigram, score, n in kept if z.get(bigram, -np.inf) > min_z][:top]
        rows += [{"label": label, "bigram": b, "score": s, "count": n, "z": z[b]} for b, s, n in kept]
    return pd.DataFrame(rows, columns=["label", "bigram", "score", "count", "z"])



def plot_label_shares(frame: pd.DataFrame, group: str, target: str, order: Sequence[str], title: str, ax=None):
    """100% stacked horizontal bars of ``target`` within each ``group``, with the group sizes in the labels."""
    import matplotlib.pyplot as plt

    table = pd.crosstab(frame[group], frame[target]).reindex(columns=[o for o in order if o in set(frame[target])])
    shares = table.div(table.sum(axis=1), axis=0).sort_values(table.columns[0])
    shares.index = [f"{name} (n={table.loc[name].sum()})" for name in shares.index]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(shares) + 1.4))
    palette = {"positive": "#4c9f70", "neutral": "#b8b8b8", "negative": "#d1495b",
               "issue resolved": "#4c9f70", "follow-up action needed": "#edae49"}  # fmt: skip
    shares.plot.barh(stacked=True, ax=ax, width=0.75, color=[palette.get(c, None) for c in shares.columns])
    ax.set(xlim=(0, 1), xlabel="share of calls", ylabel="", title=title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(shares.columns), frameon=False)
    ax.figure.tight_layout()
    return ax.figure



def plot_trajectory(frame: pd.DataFrame, hue: str, order: Sequence[str]):
    """Customer sentiment, first third against last third of their turns, coloured by ``hue``; and the last
    third's distribution per ``hue`` class."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
    for i, value in enumerate(order):
        part = frame[frame[hue] == value]
        left.scatter(part["sent_first_third"], part["sent_last_third"], s=18, alpha=0.7, color=f"C{i}",
                     label=f"{value} (n={len(part)})")  # fmt: skip
    left.plot([-1, 1], [-1, 1], color="grey", lw=0.8, ls=":")
    for v in (NEGATIVE_AT, POSITIVE_AT):
        left.axvline(v, color="grey", lw=0.5)
        left.axhline(v, color="grey", lw=0.5)
    left.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel="first third of customer turns (mean VADER)",
             ylabel="last third (mean VADER)", title="Where customers start and end")  # fmt: skip
    left.legend(fontsize=8, loc="lower right")
    data = [frame.loc[frame[hue] == v, "sent_last_third"].dropna() for v in order]
    right.boxplot(data, tick_labels=[f"{v}\n(n={len(d)})" for v, d in zip(order, data)], showmeans=True)
    right.set(ylabel="last third (mean VADER)", title=f"How calls end, by {hue}")
    fig.tight_layout()
    return fig



def plot_forest(table: pd.DataFrame, title: str, label: str = "odds ratio (95% CI, log scale)"):
    """Odds ratios with intervals on a log axis (rows of :func:`odds_ratio_table` or a :class:`LogisticResult`)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    data = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(data) + 1.3))
    y = np.arange(len(data))
    ax.errorbar(data["odds_ratio"], y, xerr=[data["odds_ratio"] - data["ci_low"], data["ci_high"] - data["odds_ratio"]],
                fmt="o", capsize=3)  # fmt: skip
    ax.axvline(1, color="grey", ls=":")
    ax.set_xscale("log")
    # Plain numbers at a few round odds ratios read better than powers of ten.
    ax.xaxis.set_major_locator(FixedLocator([0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, [FEATURE_LABELS.get(f, f) for f in data["feature"]])
    ax.set(xlabel=label, title=title)
    fig.tight_layout()
    return fig



def plot_wordclouds(distinctive: pd.DataFrame, order: Sequence[str], title: str, seed: int = 0):
    """One word cloud per class (:func:`callinsights.analysis.language.cloud_from_weights`), sized by :func:`distinctive_terms`' z."""
    import matplotlib.pyplot as plt

    present = [c for c in order if c in set(distinctive["label"])]
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.8), squeeze=False)
    for ax, label in zip(axes.ravel(), present):
        part = distinctive[distinctive["label"] == label]
        cloud = language.cloud_from_weights(dict(zip(part["term"], part["z"])), 600, 360, max_words=200, seed=seed)
        ax.imshow(cloud, interpolation="bilinear")
        ax.set_title(f"{label}", fontsize=11, fontweight="bold")
        ax.axis("off")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
