"""Insights from the calls: where customers end unhappy, what goes with follow-up, what each group says.

Used by ``notebooks/05_insights.ipynb``; per-call features are in :mod:`callinsights.analysis.features`, call
drivers in :mod:`callinsights.analysis.topics`, the statistics in :mod:`callinsights.analysis.stats`.

- **Labels beside the features** (:func:`load_label_source`, :func:`agreement_with_gold`).
- **Distinctive language** (:func:`distinctive_terms`, :func:`class_collocations`): log-odds with an informative
  Dirichlet prior (:func:`callinsights.analysis.language.log_odds_dirichlet`) and nltk likelihood-ratio bigram
  collocations, on redacted text with names removed (:func:`callinsights.text.words.proper_nouns`).

Nothing here chooses a setting by looking at labels: labels only enter as the thing being described.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from callinsights import config
from callinsights.analysis import language
from callinsights.analysis.stats import wilson_interval
from callinsights.analysis.features import FEATURE_LABELS
from callinsights.analysis.topics import clauses, is_term_word, terms
from callinsights.data.labels import load_labels
from callinsights.evaluation.monitoring import agreement
from callinsights.text.lexicon import NEGATIVE_AT, POSITIVE_AT

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
        interval (``ci_low``, ``ci_high``) and Cohen's ``kappa`` (:func:`callinsights.evaluation.monitoring.agreement`); no rows
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
