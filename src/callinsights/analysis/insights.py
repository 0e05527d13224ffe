"""Insights worth acting on, and the finding rule that decides which differences may be stated.

Every rate is a PPI estimate (the model's labels on all calls corrected by one reading's hand labels), so it stays
valid however biased the model is. Every number in a sentence comes from the row it describes; nothing is typed in.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from callinsights.analysis import ppi
from callinsights.analysis.eda import ACTION_COLUMNS, PENDING_COLUMNS
from callinsights.analysis.stats import format_p, wilson_interval
from callinsights.data.call import natural_key
from callinsights.evaluation.metrics import newcombe_interval
from callinsights.schema import OUTCOMES
from callinsights.text.redact import redact
from callinsights.text.words import without_cues

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
    counts = out[["gold_count_a", "labelled_a", "gold_count_b", "labelled_b"]].astype(int).itertuples(index=False)
    return [float(stats.fisher_exact([[ga, la - ga], [gb, lb - gb]])[1]) if min(la, lb) else np.nan
            for ga, la, gb, lb in counts]  # fmt: skip


def decide(comparisons: pd.DataFrame, alpha: float = 0.05,
           min_labelled: int = MIN_LABELLED_FOR_FINDING) -> pd.DataFrame:  # fmt: skip
    """The finding rule: a difference is a finding when its interval, Bonferroni-adjusted over the m comparisons
    tested in its ``family`` (level ``1 - alpha / m``), excludes 0.

    With at least ``min_labelled`` hand-labelled calls on each side it is tested by PPI; with fewer, a side's few
    labels often all carry one label and the PPI variance comes out too small, so Fisher's exact test and the Newcombe
    interval on the hand labels alone must both reject. ``verdict`` is ``withdrawn`` when predictions alone would
    state the difference but the test does not (it may be the model's bias). Rows of the family :data:`CHECK` restate
    the outcome label's definition: tested unadjusted, ``consistent`` or not, never findings.
    """
    out = comparisons.reset_index(drop=True).copy()
    if "family" not in out.columns:
        out["family"] = "all"
    fewest = out[["labelled_a", "labelled_b"]].min(axis=1)
    by_ppi = out["estimable"].astype(bool) & out["p"].notna() & (fewest >= min_labelled)
    by_labels = (fewest < min_labelled) & (fewest >= ppi.MIN_LABELLED)
    tested = by_ppi | by_labels
    out["method"] = np.select([by_ppi, by_labels], ["PPI", "hand labels"], "")
    out["p_test"] = np.where(by_ppi, out["p"], np.where(by_labels, _labels_only_tests(out), np.nan))
    out["diff"] = np.where(by_labels, out["labels_diff"], out["ppi_diff"])
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

    def newcombe(count: str, n: str) -> np.ndarray:
        """Each row's Newcombe interval (low, high) of ``count / n`` on side a minus side b, at the row's level."""
        sides = zip(out[f"{count}_a"], out[f"{n}_a"], out[f"{count}_b"], out[f"{n}_b"], level)
        return np.array([newcombe_interval(*row) for row in sides]).reshape(-1, 2)

    labels, naive = newcombe("gold_count", "labelled"), newcombe("pred_count", "calls")
    # A difference of rates lies in [-1, 1]; cutting the interval there keeps its coverage and its verdict.
    low, high = np.maximum(-1.0, out["ppi_diff"] - half), np.minimum(1.0, out["ppi_diff"] + half)
    out["adj_low"] = np.where(by_ppi, low, np.where(by_labels, labels[:, 0], np.nan))
    out["adj_high"] = np.where(by_ppi, high, np.where(by_labels, labels[:, 1], np.nan))
    out["naive_adj_low"], out["naive_adj_high"] = naive[:, 0], naive[:, 1]
    excludes = tested & ((out["adj_low"] > 0) | (out["adj_high"] < 0)) & (out["p_adjusted"] < alpha)
    out["survives"] = excludes & ~check
    out["naive_would_state"] = (out["naive_adj_low"] > 0) | (out["naive_adj_high"] < 0)
    out["verdict"] = np.select(
        [check & excludes, check, out["survives"], ~tested, out["naive_would_state"]],
        ["consistent", "not consistent", "finding", "not estimable", "withdrawn"], "not supported",
    )
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
    interval = f"{_points(row['adj_low'])} to {_points(row['adj_high'])}"
    if row["family"] == CHECK:
        return f"{basis}, 95% interval {interval}"
    return f"{basis}, adjusted 95% interval {interval} over {row['family_size']} comparisons of {row['family']}"


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
#: What to do when no action is written for a finding (or for the direction of its difference).
LOOK_CLOSER = "look at a sample of these calls before acting"


def comparisons(frame: pd.DataFrame, groupings: Sequence[str] = tuple(GROUPINGS),
                events: Mapping[str, str] = CALL_EVENTS, checks: Mapping[str, str] = CONSISTENCY_CHECKS,
                alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """The comparisons the insights test, each with its ``family``: every group against the rest on follow-up and
    negative sentiment; resolution with each call event against without it; the consistency checks (follow-up with
    each against without it). Columns absent from the PPI ``frame`` are skipped."""
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
    """Each driver's workload and unhappy customers, PPI-corrected, ``all calls`` first, with up to a few redacted
    ``quotes`` (call id -> the customer's quote) of its negative calls.

    ``follow_up_per_100`` counts per 100 of the driver's calls; ``follow_up_per_100_of_all`` per 100 of all calls,
    its share of the workload.
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
    """The share of follow-up calls with each kind of pending work (then any kind), over all calls and per driver.

    Which calls are follow-up is corrected by the hand labels (PPI); whether a call mentions the work is read from its
    words. ``labels_share`` is the hand-labelled follow-up calls alone, with a Wilson interval.
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


def _per_100(row: pd.Series, column: str) -> str:
    """A driver's rate per 100 calls (``{column}_per_100``) with its interval, for a sentence."""
    return f"{row[f'{column}_per_100']:.0f} (95% interval {row[f'{column}_low']:.0f}-{row[f'{column}_high']:.0f})"


def _surviving(decided: pd.DataFrame, driver: str, rate: str) -> pd.Series | None:
    """The comparison of ``driver`` against the other calls on ``rate`` when it survives :func:`decide`."""
    tested = decided[(decided["by"] == "topic") & (decided["group"] == driver) & (decided["rate"] == rate)]
    return tested.iloc[0] if len(tested) and tested.iloc[0]["survives"] else None


def _workload(drivers: pd.DataFrame, decided: pd.DataFrame) -> dict | None:
    """The driver that carries the most follow-up work (its follow-up calls per 100 of all calls)."""
    table = drivers[(drivers["driver"] != "all calls") & drivers["follow_up_per_100_of_all"].notna()]
    if table.empty:
        return None
    top = table.loc[table["follow_up_per_100_of_all"].idxmax()]
    tested = _surviving(decided, top["driver"], "follow-up")
    versus = (f" More than the other calls: {_tested(tested)}." if tested is not None
              else " Its difference from the other calls is not established by the finding rule.")
    return {
        "question": "workload", "headline": f"{top['driver']} carries the most follow-up work",
        "sentence": (f"**{top['driver']}** ({top['calls']} calls, {top['share_of_calls']:.0%} of all) carries the most "
                     f"follow-up work: {_per_100(top, 'follow_up')} of every 100 of its calls need follow-up, "
                     f"{top['follow_up_per_100_of_all']:.0f} of every 100 calls overall, out of "
                     f"{drivers.iloc[0]['follow_up_per_100']:.0f} for all drivers together.{versus}"),
        "value": top["follow_up_per_100"], "low": top["follow_up_low"], "high": top["follow_up_high"],
        "unit": "follow-up calls per 100 calls of the driver", "method": "PPI",
        "action": ACTIONS[("topic", "follow-up")][1], "calls": top["follow_up_calls"],
        "verdict": "finding" if tested is not None else "estimate",
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
            "action": PENDING_ACTIONS.get(row["column"], LOOK_CLOSER),
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
    tested = _surviving(decided, top["driver"], "negative")
    every, highest = _per_100(overall, "negative"), _per_100(top, "negative")
    row = {"question": "unhappy customers", "unit": "negative calls per 100 calls", "method": "PPI"}
    if tested is not None:
        return {**row, "headline": f"Customers end unhappy most in {top['driver']}",
                "sentence": (f"Customers end unhappy in {every} of every 100 calls, and more often in "
                             f"**{top['driver']}**: {highest}; {_tested(tested)}."),
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
    direction, action = ACTIONS.get((row["by"], row["rate"]), (0, ""))
    return {
        "question": question, "headline": claim(row, bold=False), "sentence": sentence(row), "value": 100 * row["diff"],
        "low": 100 * row["adj_low"], "high": 100 * row["adj_high"],
        "unit": f"percentage points of {RATE_WORDS.get(row['rate'], row['rate'])} (adjusted interval)",
        "method": row["method"], "action": action if action and np.sign(row["diff"]) == direction else LOOK_CLOSER,
        "calls": _ids(inside), "verdict": "finding",
    }


def actionable(drivers: pd.DataFrame, pending: pd.DataFrame, decided: pd.DataFrame, frame: pd.DataFrame,
               most: int = MAX_FINDINGS) -> pd.DataFrame:  # fmt: skip
    """Three to six findings an operations manager can act on, each with its number, interval and calls, numbered
    from 1 (the explorer's ``#finding=N``).

    In order, as far as the data support them: the driver with the most follow-up work; the two kinds of pending work
    left most often; where customers end unhappy, with quotes; then the comparisons that survive :func:`decide`. An
    estimate with its interval is always valid; saying a group differs from the rest needs a surviving comparison.
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
