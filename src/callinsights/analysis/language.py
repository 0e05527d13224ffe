"""Language by group: frequent and distinctive words (Monroe et al.'s log-odds), word clouds and their plots."""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable

import pandas as pd
from wordcloud import WordCloud

from callinsights.text.words import STOP_WORDS, proper_nouns, tokens


def word_counts(texts: Iterable[str]) -> Counter:
    """How often each word of the raw ``texts`` occurs (:func:`tokens`), their proper nouns (names above all) left
    out."""
    texts = list(texts)
    stop = STOP_WORDS | proper_nouns(texts)
    return Counter(word for text in texts for word in tokens(text, stop))


def most_frequent(texts: Iterable[str], n: int = 20) -> pd.DataFrame:
    """The ``n`` most frequent words (``word``, ``count``, ``percent`` of all words counted), ties alphabetical."""
    counts = word_counts(texts)
    total = sum(counts.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return pd.DataFrame([(w, c, 100 * c / total) for w, c in top], columns=["word", "count", "percent"])


def log_odds_dirichlet(counts_a: Counter, counts_b: Counter, prior_size: float = 1000.0) -> pd.DataFrame:
    """Log-odds ratio of every word between two corpora with an informative Dirichlet prior (Monroe, Colaresi and
    Quinn 2008, "Fightin' Words", section 3.5), with its z-score (positive: typical of A), highest z first.

    The prior (shaped by A and B together, ``prior_size`` pseudo-counts in all) shrinks rare words' log-odds towards
    zero, so a word said twice by one side only does not outrank one said a hundred times more often by that side;
    the z-score ranks words by how sure the difference is.
    """
    n_a, n_b = sum(counts_a.values()), sum(counts_b.values())
    if not n_a or not n_b:
        raise ValueError("log-odds need words on both sides; one corpus is empty")
    if prior_size <= 0:
        raise ValueError(f"prior_size must be positive, got {prior_size}")
    background = counts_a + counts_b
    rows = []
    for w in sorted(background):
        alpha = prior_size * background[w] / (n_a + n_b)
        y_a, y_b = counts_a.get(w, 0), counts_b.get(w, 0)
        delta = (math.log((y_a + alpha) / (n_a + prior_size - y_a - alpha))
                 - math.log((y_b + alpha) / (n_b + prior_size - y_b - alpha)))  # fmt: skip
        z = delta / math.sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha))
        rows.append((w, y_a, y_b, delta, z))
    frame = pd.DataFrame(rows, columns=["word", "count_a", "count_b", "log_odds", "z"])
    return frame.sort_values(["z", "word"], ascending=[False, True], ignore_index=True)


def distinctive_words(texts_a: Iterable[str], texts_b: Iterable[str], n: int = 15,
                      names: tuple[str, str] = ("customer", "agent")) -> pd.DataFrame:
    """The ``n`` words most typical of each of two sides named ``names`` (:func:`log_odds_dirichlet` of each side
    against the other), A's first.

    ``z`` is from the word's own side's point of view; proper nouns of both sides are left out.
    """
    texts_a, texts_b = list(texts_a), list(texts_b)
    stop = STOP_WORDS | proper_nouns(texts_a + texts_b)
    counts = {name: Counter(w for text in texts for w in tokens(text, stop))
              for name, texts in zip(names, (texts_a, texts_b))}  # fmt: skip
    if not all(counts.values()):
        raise ValueError("distinctive words need words on both sides; one side is empty")
    parts = []
    for own, other in (names, names[::-1]):
        scored = log_odds_dirichlet(counts[own], counts[other])
        parts.append(scored[scored["z"] > 0].head(n).assign(side=own)
                     .rename(columns={"count_a": f"count_{own}", "count_b": f"count_{other}"}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)[["side", "word", *(f"count_{name}" for name in names), "log_odds", "z"]]


def word_cloud(texts: Iterable[str], seed: int = 0) -> WordCloud:
    """The project's one word cloud: the raw ``texts``' words sized by :func:`word_counts`, so it shows exactly the
    words the frequency table counts, laid out by ``seed`` so that a re-run draws the same picture."""
    counts = word_counts(texts)
    if not counts:
        raise ValueError("no words left for a word cloud after redaction and stop words")
    # Dark colours only: pale yellow words are unreadable on white.
    return WordCloud(width=900, height=450, max_words=100, background_color="white", colormap="Dark2",
                     random_state=seed, prefer_horizontal=0.95).generate_from_frequencies(dict(counts))


def plot_word_cloud(cloud: WordCloud, title: str):
    """A figure of a word cloud with a title."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(cloud.width / 100, cloud.height / 100 + 0.5))
    ax.imshow(cloud.to_array(), interpolation="bilinear")
    ax.set_title(title, fontsize=14)
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_frequent(table: pd.DataFrame, title: str):
    """Horizontal bars of a :func:`most_frequent` table, most frequent on top."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.28 * len(table) + 1.2))
    ax.barh(table["word"][::-1], table["count"][::-1], color="tab:green")
    ax.set(title=title, xlabel="occurrences (stop words left out)")
    fig.tight_layout()
    return fig


def plot_distinctive(table: pd.DataFrame, title: str = "Most distinctive words by side"):
    """The :func:`distinctive_words` of both sides as bars of their z-scores, one panel per side."""
    import matplotlib.pyplot as plt

    sides = list(dict.fromkeys(table["side"]))
    # One x scale for both panels, so a bar's length compares across sides.
    fig, axes = plt.subplots(1, len(sides), figsize=(12, 0.3 * table["side"].value_counts().max() + 1.5),
                             sharex=True)
    axes = [axes] if len(sides) == 1 else list(axes)
    for ax, side, colour in zip(axes, sides, ("tab:orange", "tab:blue")):
        part = table[table["side"] == side]
        ax.barh(part["word"][::-1], part["z"][::-1], color=colour)
        ax.set(title=f"typical of the {side} side", xlabel="z-score of the log-odds ratio")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig
