"""Baselines that need no language model: the floor a model has to beat to be worth running.

The lexicon baseline (VADER, pending-work phrases) lives beside its word lists in :mod:`callinsights.text.words`.
"""

from __future__ import annotations

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from callinsights.classify.probe import cross_validated_probabilities


def majority_baseline(train_labels: pd.Series | pd.DataFrame, calls: list[str] | pd.Index) -> pd.Series | pd.DataFrame:
    """Predict the most frequent label of ``train_labels`` (a Series, or a DataFrame of one column per task).

    Fitted on the calls it is scored on (there is no separate training set), so it is a slightly generous floor.
    Ties go to the label that sorts first, so the answer does not depend on row order.
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
    """Held-out labels from TF-IDF words under the LLM's probe: what the hidden states add over words.

    The vectoriser is fitted on every call's text (no labels involved); the probe is cross-validated on the calls
    in ``gold`` as for the LLM's features.
    """
    vectoriser = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True).fit(texts.to_numpy())
    labelled = [cid for cid in gold.index if cid in texts.index]
    features = vectoriser.transform(texts.loc[labelled].to_numpy()).toarray()
    out = pd.DataFrame(index=pd.Index(labelled, name=gold.index.name))
    for task in ("sentiment", "outcome"):
        held, _ = cross_validated_probabilities(features, gold.loc[labelled, task], seed=seed)
        out[task] = held.idxmax(axis=1).to_numpy()
    return out.reindex(gold.index)
