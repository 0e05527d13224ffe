"""Insights from the calls: what they are about, where customers end unhappy, what goes with follow-up.

Used by ``notebooks/05_insights.ipynb``; the statistics it relies on are in :mod:`callinsights.stats`.

- **Per-call features** (:func:`call_frame`): :func:`callinsights.eda.call_stats` (length, turns, agent team) plus
  holds, transfers, customer questions, callback promises and the customer's turn-by-turn VADER trajectory (first
  third, last third, last turn). Meta lines never count, except stage directions such as ``(pause)`` or ``(Member
  holds for 2 minutes)``, which are holds; an exporter's note ("the agent will call back") is never a feature.
- **Call drivers** (:mod:`callinsights.topics`, re-exported here): NMF topics on TF-IDF of each call's redacted
  words and word pairs, the number of topics chosen by silhouette, each topic named from its top terms.
- **Distinctive language** (:func:`distinctive_terms`, :func:`class_collocations`): log-odds with an informative
  Dirichlet prior (:func:`callinsights.eda.log_odds_dirichlet`) and nltk likelihood-ratio bigram collocations, on
  redacted text with names removed (:func:`callinsights.eda.proper_nouns`).

Nothing here chooses a setting by looking at labels: labels only enter as the thing being described.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from callinsights import config, eda
from callinsights.baselines import NEGATIVE_AT, POSITIVE_AT, sentiment_from_compound, vader_baseline
from callinsights.labels import load_labels
from callinsights.monitoring import agreement
from callinsights.outputs import write_csv
from callinsights.redact import redact
from callinsights.stats import wilson_interval
from callinsights.topics import (TOPIC_NAMES, TopicModel, add_topics, clauses, discover_topics,  # noqa: F401
                                 is_term_word, name_topic, plot_topic_selection, plot_topic_shares,
                                 plot_topic_terms, stop_words, terms)
from callinsights.transcripts import META, Turn, customer_turns, group_calls

# --------------------------------------------------------------------------------------------------------------
# Per-call features
# --------------------------------------------------------------------------------------------------------------

#: Agent teams in display order (the client's agent speaker labels); any other label is kept as written.
TEAMS = ("Customer Support", "Technical Support", "PA Agent", "Agent")

#: Mentions of a hold: the words, or a stage direction such as ``(pause)`` or ``(pausing for 30 seconds)``.
HOLD = re.compile(r"\bhold(?:s|ing)?\b|\bpaus(?:e|ed|es|ing)\b", re.IGNORECASE)
#: Mentions of a hand-over to someone else.
TRANSFER = re.compile(r"\btransfer\w*|\bescalat\w*|\bsupervisor\w*|\bteam\b", re.IGNORECASE)
#: Promises that someone will come back to the customer later.
CALLBACK = re.compile(
    r"\bcall (?:you|me) back\b|\bget back to you\b|\bbe in touch\b|\breach out to you\b|\bfollow up with you\b"
    r"|\bcontact you\b|\bwithin (?:the next )?(?:\d+|a few|one|two|three|five|seven|ten)"
    r"(?:\s*(?:-|to)\s*\d+)? (?:business |working )?(?:days?|hours?)\b",
    re.IGNORECASE,
)

#: Per-call features that describe a call as counts or scores, in display order.
FEATURES = ["words", "customer_turns", "holds", "transfers", "customer_questions", "callbacks"]
TRAJECTORY = ["sent_first_third", "sent_last_third", "sent_last_turn", "sent_change"]
#: How a reader should see the feature names in figures and findings.
FEATURE_LABELS = {
    "words": "call length (words)",
    "customer_turns": "customer turns",
    "holds": "holds mentioned",
    "transfers": "transfers / other teams mentioned",
    "customer_questions": "customer questions",
    "callbacks": "callback promises",
    "sent_first_third": "customer sentiment, first third",
    "sent_last_third": "customer sentiment, last third",
    "sent_last_turn": "customer sentiment, last turn",
    "sent_change": "customer sentiment, change",
}

#: Columns of ``results/call_insights.csv`` (config.INSIGHTS_FILE), one row per call; no labels, no text.
INSIGHT_COLUMNS = [
    "file", "topic", "topic_id", "topic_terms", "topic_share", "agent_team",
    "words", "turns", "customer_turns", "customer_words", "holds", "transfers", "customer_questions", "callbacks",
    *TRAJECTORY, "starts_negative", "ends_positive",
]  # fmt: skip


def turn_sentiments(texts: Sequence[str]) -> list[float]:
    """VADER compound score (-1 to 1) of each text, as :func:`callinsights.baselines.vader_baseline` scores it."""
    if not texts:
        return []
    return vader_baseline(pd.Series(list(texts), dtype=object))["compound"].tolist()


def trajectory(scores: Sequence[float]) -> dict[str, float | bool]:
    """Summarise a sequence of per-turn scores as beginning versus end.

    The first and last thirds hold ``ceil(n / 3)`` turns each, so a call with one or two customer turns has the same
    turn at both ends.

    Args:
        scores: Per-turn compound scores in call order.

    Returns:
        ``sent_first_third``, ``sent_last_third`` (means), ``sent_last_turn``, ``sent_change`` (last minus first
        third), ``starts_negative`` and ``ends_positive`` (VADER's reading of the first and last third,
        :func:`callinsights.baselines.sentiment_from_compound`); scores are NaN and flags False when empty.
    """
    if len(scores) == 0:
        nan = float("nan")
        return dict(sent_first_third=nan, sent_last_third=nan, sent_last_turn=nan, sent_change=nan,
                    starts_negative=False, ends_positive=False)  # fmt: skip
    third = math.ceil(len(scores) / 3)
    first, last = float(np.mean(scores[:third])), float(np.mean(scores[-third:]))
    return dict(
        sent_first_third=first,
        sent_last_third=last,
        sent_last_turn=float(scores[-1]),
        sent_change=last - first,
        starts_negative=sentiment_from_compound(first) == "negative",
        ends_positive=sentiment_from_compound(last) == "positive",
    )


def call_features(turns: Sequence[Turn]) -> dict[str, object]:
    """Holds, transfers, customer questions, callback promises and sentiment trajectory of one call.

    Args:
        turns: Turns of one call (as :func:`callinsights.transcripts.read_call` gives them).

    Returns:
        ``holds`` (hold words in anyone's speech plus stage directions about a pause or hold), ``transfers`` and
        ``callbacks`` (matches of :data:`TRANSFER` and :data:`CALLBACK` in anyone's speech), ``customer_questions``
        (``?`` in the customer's turns) and the :func:`trajectory` of the customer's turns.
    """
    said = "\n".join(t.text for t in turns if t.role != META)
    directions = [t.text for t in turns if t.role == META and t.kind == "direction"]
    mine = customer_turns(turns)
    return {
        "holds": len(HOLD.findall(said)) + sum(bool(HOLD.search(d)) for d in directions),
        "transfers": len(TRANSFER.findall(said)),
        "customer_questions": sum(t.text.count("?") for t in mine),
        "callbacks": len(CALLBACK.findall(said)),
        **trajectory(turn_sentiments([t.text for t in mine if t.text])),
    }


def opening_request(turns: Sequence[Turn], min_words: int = 6) -> str:
    """The customer's first substantive turn (usually why they call), redacted.

    Args:
        turns: Turns of one call.
        min_words: A turn shorter than this (``Hi.``) is skipped when a longer one follows.
    """
    mine = [t.text for t in customer_turns(turns) if t.text]
    longer = [text for text in mine if len(text.split()) >= min_words]
    return redact((longer or mine or [""])[0])


def call_frame(turns: Iterable[Turn]) -> pd.DataFrame:
    """One row per call: :func:`callinsights.eda.call_stats`, :func:`call_features`, and redacted text columns.

    Args:
        turns: Turns of one or more calls, as :func:`callinsights.transcripts.read_calls` returns them.

    Returns:
        Columns ``file``, the columns of :func:`callinsights.eda.call_stats` (``words``, ``turns``,
        ``customer_turns``, ``agent_team``, ...), those of :func:`call_features`, ``text`` (both sides' words,
        redacted, no speaker labels so that a team name cannot become a topic term), ``customer_text`` (the
        customer's words, redacted) and ``opening`` (:func:`opening_request`); calls in file order.
    """
    turns = list(turns)
    texts = {side: eda.side_texts(turns, side) for side in ("call", "customer")}
    rows = [
        {
            "file": call,
            **call_features(call_turns),
            "text": redact(texts["call"][call]),
            "customer_text": redact(texts["customer"][call]),
            "opening": opening_request(call_turns),
        }
        for call, call_turns in group_calls(turns).items()
    ]
    stats = eda.call_stats(turns).rename_axis("file").reset_index()
    return stats.merge(pd.DataFrame(rows), on="file", how="left", validate="one_to_one")


def mask_names(text: str, names: Iterable[str]) -> str:
    """Replace each of ``names`` (lower case, e.g. :func:`callinsights.eda.proper_nouns`) by ``[NAME]``.

    :func:`callinsights.redact.redact` replaces identifiers but not names; an excerpt shown to a reader should not
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


def write_insights(frame: pd.DataFrame, path: str | Path = config.INSIGHTS_FILE) -> Path:
    """Write one row per call with the columns of :data:`INSIGHT_COLUMNS` (no text, no labels).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(frame[INSIGHT_COLUMNS], path, float_format="%.4f")
    return path


# --------------------------------------------------------------------------------------------------------------
# Labels to describe
# --------------------------------------------------------------------------------------------------------------


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
        interval (``ci_low``, ``ci_high``) and Cohen's ``kappa`` (:func:`callinsights.monitoring.agreement`); no rows
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


def start_end_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Calls by how the customer starts (first third of their turns) and ends (last third), in VADER's classes.

    Args:
        frame: Columns ``sent_first_third`` and ``sent_last_third`` (from :func:`call_frame`).

    Returns:
        Counts, rows the start (``negative``, ``neutral``, ``positive``), columns the end, every class present.
    """
    order = ["negative", "neutral", "positive"]
    start = pd.Categorical(frame["sent_first_third"].map(sentiment_from_compound), categories=order)
    end = pd.Categorical(frame["sent_last_third"].map(sentiment_from_compound), categories=order)
    table = pd.crosstab(start, end, dropna=False).reindex(index=order, columns=order, fill_value=0)
    return table.rename_axis(index="starts", columns="ends")


# --------------------------------------------------------------------------------------------------------------
# Distinctive language
# --------------------------------------------------------------------------------------------------------------


def distinctive_terms(
    texts: Sequence[str], labels: Sequence[str], stop: frozenset[str], top: int = 15, min_count: int = 3
) -> pd.DataFrame:
    """Terms (words and word pairs, see :func:`terms`) most typical of each class against all the other classes.

    Scored by :func:`callinsights.eda.distinctive_by_class` (Monroe et al.'s log-odds with an informative Dirichlet
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
    table = eda.distinctive_by_class([Counter(terms(text, stop)) for text in texts], labels, top, min_count)
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
    pairs whose log-odds z (:func:`callinsights.eda.log_odds_dirichlet`, the class against the rest) exceeds
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
        z = eda.log_odds_dirichlet(inside, outside).set_index("word")["z"]
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


# --------------------------------------------------------------------------------------------------------------
# Plots (each returns its matplotlib Figure)
# --------------------------------------------------------------------------------------------------------------


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
    """One word cloud per class (:func:`callinsights.eda.cloud_from_weights`), sized by :func:`distinctive_terms`' z."""
    import matplotlib.pyplot as plt

    present = [c for c in order if c in set(distinctive["label"])]
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.8), squeeze=False)
    for ax, label in zip(axes.ravel(), present):
        part = distinctive[distinctive["label"] == label]
        cloud = eda.cloud_from_weights(dict(zip(part["term"], part["z"])), 600, 360, max_words=200, seed=seed)
        ax.imshow(cloud, interpolation="bilinear")
        ax.set_title(f"{label}", fontsize=11, fontweight="bold")
        ax.axis("off")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
