"""Reference systems that need no language model: what the model has to beat to be worth running.

- :func:`majority_baseline` gives every call the most frequent label. It is the floor: a model whose accuracy is at
  or below it has learnt nothing about the calls, and its macro-F1 shows what always answering one class costs.
- :func:`callinsights.text.words.vader_baseline` is a lexicon baseline (VADER sentiment, pending-work phrases).
- :func:`words_probe_baseline` is a bag of words under the same held-out probe as the LLM's features.
"""

from __future__ import annotations

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from callinsights.classify.probe import cross_validated_probabilities


def majority_baseline(train_labels: pd.Series | pd.DataFrame, calls: list[str] | pd.Index) -> pd.Series | pd.DataFrame:
    """Predict the most frequent label of ``train_labels`` for every call.

    With only the client's 40 labelled calls there is no separate training set; fitted on the same calls it is
    scored on, the baseline knows the test set's majority class, which makes it a slightly generous floor.

    Args:
        train_labels: Labels of one task (a Series), or one column per task (a DataFrame such as
            :func:`callinsights.data.labels.load_labels` returns).
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


def words_probe_baseline(texts: pd.Series, gold: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Bag of words with the same held-out probe as the LLM method: what the model's hidden states add over words.

    TF-IDF of words and word pairs is fitted on every call's text (no labels involved), then the probe of
    :mod:`callinsights.classify.probe` is cross-validated on the labelled calls exactly as for the LLM's features.

    Args:
        texts: Customer text per call id (all calls, labelled or not).
        gold: Hand labels indexed by call id (columns ``sentiment``, ``outcome``).
        seed: Fold seed.

    Returns:
        Held-out ``sentiment`` and ``outcome`` for the labelled calls, indexed like ``gold``.
    """
    vectoriser = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True).fit(texts.to_numpy())
    labelled = [cid for cid in gold.index if cid in texts.index]
    features = vectoriser.transform(texts.loc[labelled].to_numpy()).toarray()
    out = pd.DataFrame(index=pd.Index(labelled, name=gold.index.name))
    for task in ("sentiment", "outcome"):
        held, _ = cross_validated_probabilities(features, gold.loc[labelled, task], seed=seed)
        out[task] = held.idxmax(axis=1).to_numpy()
    return out.reindex(gold.index)
