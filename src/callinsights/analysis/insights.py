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
from callinsights.data.labels import load_labels
from callinsights.analysis import language
from callinsights.analysis.stats import wilson_interval
from callinsights.analysis.eda import FEATURE_LABELS
from callinsights.analysis.topics import clauses, is_term_word, terms
from callinsights.evaluation.metrics import agreement, newcombe_interval
from callinsights.text.words import NEGATIVE_AT, POSITIVE_AT

#: Groupings whose rates are compared (column of ``results/call_insights.csv`` -> how a reader sees it).
GROUPINGS = {"topic": "driver", "agent_team": "agent team"}
#: Events whose calls are compared with the others on follow-up (column -> how a reader sees it).
FLAGS = {"holds": "a hold", "transfers": "a transfer or another team", "customer_questions": "customer questions",
         "callbacks": "a callback promise", "ends_positive": "a positive ending (VADER, last third)"}  # fmt: skip

#: What each rate is called in a sentence.
RATE_WORDS = {"negative": "negative sentiment", "neutral": "neutral sentiment", "follow-up": "follow-up"}


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
    naive = [newcombe_interval(row["pred_count_a"], row["calls_a"], row["pred_count_b"], row["calls_b"], level)
             for _, row in out.iterrows()]  # fmt: skip
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
