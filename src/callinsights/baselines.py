"""Reference systems that need no language model: what the model has to beat to be worth running.

- :func:`majority_baseline` gives every call the most frequent label. It is the floor: a model whose accuracy is at
  or below it has learnt nothing about the calls, and its macro-F1 shows what always answering one class costs.
- :func:`vader_baseline` is a lexicon baseline: VADER's rule-based sentiment score for the sentiment, and a short
  list of phrases that signal pending work for the outcome. It reads words, not situations, so it has known blind
  spots (see its docstring) that a language model should not share.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd

#: VADER's documented thresholds on the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

#: Phrases in the customer's words that mean something is still pending after the call: a callback, a review or
#: escalation, a wait for a decision or documents, or a step the customer must take later. Written from the label
#: definitions, not fitted to the client's calls; each is a regular expression matched case-insensitively at word
#: starts, so ``escalat`` covers escalate, escalated and escalation.
PENDING_CUES = (
    r"call(?:ing)? (?:me |you )?back",
    r"callback",
    r"escalat",
    r"review",
    r"follow(?:ing)?[ -]?up",
    r"get back to",
    r"hear back",
    r"business days",
    r"send",
    r"mail",
    r"fax",
    r"upload",
    r"submit",
    r"pending",
    r"ticket",
    r"wait",
    r"appeal",
    r"supervisor",
    r"manager",
    r"next week",
    r"tomorrow",
    r"still (?:not|haven't|hasn't|no)",
    r"not (?:been )?resolved",
)

_CUE_PATTERN = re.compile(r"\b(?:" + "|".join(f"(?:{c})" for c in PENDING_CUES) + r")", re.IGNORECASE)


def majority_baseline(train_labels: pd.Series | pd.DataFrame, calls: list[str] | pd.Index) -> pd.Series | pd.DataFrame:
    """Predict the most frequent label of ``train_labels`` for every call.

    With only the client's 40 labelled calls there is no separate training set; fitted on the same calls it is
    scored on, the baseline knows the test set's majority class, which makes it a slightly generous floor.

    Args:
        train_labels: Labels of one task (a Series), or one column per task (a DataFrame such as
            :func:`callinsights.labels.load_labels` returns).
        calls: Call ids to predict for.

    Returns:
        A Series (or a DataFrame with the same columns) indexed by ``calls``. Ties go to the label that sorts first,
        so the answer does not depend on the order of the rows.

    Raises:
        ValueError: A task has no label to count.
    """
    index = pd.Index(list(calls), name="file")
    if isinstance(train_labels, pd.DataFrame):
        return pd.DataFrame({col: majority_baseline(train_labels[col], index) for col in train_labels.columns},
                            index=index)
    counts = train_labels.dropna().value_counts()
    if counts.empty:
        raise ValueError(f"train_labels {train_labels.name or ''} has no label to count; pass the gold labels")
    top = sorted(counts.index[counts == counts.max()])[0]
    return pd.Series(top, index=index, name=train_labels.name, dtype=object)


@lru_cache(maxsize=1)
def _analyzer():
    """VADER's analyzer, built once: it reads its lexicon files on construction, which costs more than scoring."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_from_compound(compound: float) -> str:
    """VADER's standard reading of a compound score: positive at 0.05 or above, negative at -0.05 or below."""
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def pending_cues(text: str) -> list[str]:
    """The pending-work phrases found in a text, in order, lower-cased (why :func:`vader_baseline` said follow-up)."""
    return [m.group(0).lower() for m in _CUE_PATTERN.finditer(text or "")]


def vader_baseline(texts: pd.Series) -> pd.DataFrame:
    """Lexicon baseline: VADER sentiment and a keyword rule for the outcome, for each call's customer text.

    Sentiment comes from VADER's compound score with its standard thresholds (:func:`sentiment_from_compound`). The
    outcome is ``follow-up action needed`` when any of :data:`PENDING_CUES` occurs, else ``issue resolved``.

    Known blind spots, by design of a word-level baseline: routine thanks ("thank you, bye") push calls towards
    positive although the labels count that as neutral; a frustrated but polite customer can score positive; the
    cues ignore negation and tense ("no need to call back", "they sent it last week" still count as pending).

    Args:
        texts: The customer's side of each call, indexed by call id (missing text is read as empty).

    Returns:
        Columns ``sentiment``, ``outcome`` and ``compound`` (VADER's score in [-1, 1]), same index as ``texts``.
    """
    analyzer = _analyzer()
    rows = []
    for text in texts.fillna("").astype(str):
        compound = analyzer.polarity_scores(text)["compound"]
        rows.append({
            "sentiment": sentiment_from_compound(compound),
            "outcome": "follow-up action needed" if _CUE_PATTERN.search(text) else "issue resolved",
            "compound": compound,
        })
    return pd.DataFrame(rows, index=texts.index, columns=["sentiment", "outcome", "compound"])


def words_probe_baseline(texts: pd.Series, gold: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Bag of words with the same held-out probe as the LLM method: what the model's hidden states add over words.

    TF-IDF of words and word pairs is fitted on every call's text (no labels involved), then the probe of
    :mod:`callinsights.probe` is cross-validated on the labelled calls exactly as for the LLM's features.

    Args:
        texts: Customer text per call id (all calls, labelled or not).
        gold: Hand labels indexed by call id (columns ``sentiment``, ``outcome``).
        seed: Fold seed.

    Returns:
        Held-out ``sentiment`` and ``outcome`` for the labelled calls, indexed like ``gold``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from callinsights.probe import cross_validated_probabilities

    vectoriser = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True).fit(texts.to_numpy())
    labelled = [cid for cid in gold.index if cid in texts.index]
    features = vectoriser.transform(texts.loc[labelled].to_numpy()).toarray()
    out = pd.DataFrame(index=pd.Index(labelled, name=gold.index.name))
    for task in ("sentiment", "outcome"):
        held, _ = cross_validated_probabilities(features, gold.loc[labelled, task], seed=seed)
        out[task] = held.idxmax(axis=1).to_numpy()
    return out.reindex(gold.index)
