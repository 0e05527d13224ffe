"""What calls are about (their drivers): NMF topics of words and word pairs chosen by silhouette, named, plotted."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from callinsights.text import words

# Punctuation and line ends: a word pair never spans "news, thank". Brackets are left to words.tokens, which drops
# cues such as "(pause)" whole.
_CLAUSE_BREAK = re.compile(r"[.,;:!?\"\n]+")


def terms(text: str, stop: frozenset[str]) -> list[str]:
    """Content words (three letters or more, not stop words) plus pairs of content words adjacent in a clause, words
    read as :func:`callinsights.text.words.tokens` reads them."""
    unigrams, bigrams = [], []
    for part in _CLAUSE_BREAK.split(words.display_text(text)):
        seq = words.tokens(part, None, 1)
        keep = [len(w) > 2 and w not in stop for w in seq]
        unigrams += [w for w, k in zip(seq, keep) if k]
        bigrams += [f"{a} {b}" for a, b, ka, kb in zip(seq, seq[1:], keep, keep[1:]) if ka and kb]
    return unigrams + bigrams


#: Readable names for topics, each with the top terms that identify it (:func:`name_topic`). Written from the
#: topics' top terms on this client's calls, never from labels; extend it when new drivers appear.
TOPIC_NAMES: dict[str, frozenset[str]] = {
    "Claim denied / policy change": frozenset({"claim", "denied", "denial", "claim denied", "new policy", "switched",
                                               "update", "updated", "appeal"}),
    "Online account / login": frozenset({"password", "login", "logging", "log", "account", "email address",
                                         "error message", "website", "portal", "reset", "username", "app", "online",
                                         "online service"}),
    "Appointment scheduling": frozenset({"appointment", "schedule", "specialist", "availability", "available",
                                         "reschedule", "schedule appointment"}),
    "Prior authorization": frozenset({"pre-authorization", "pre-authorized", "preauthorization", "authorization",
                                      "pre authorization", "procedure", "surgery", "eligibility", "mri", "approval",
                                      "approved"}),
    "Copay / billing dispute": frozenset({"copay", "charged", "refund", "bill", "billing", "overcharged", "payment",
                                          "charged copay", "doctor visit"}),
    "Prescription / pharmacy": frozenset({"prescription", "pharmacy", "medication", "drug", "refill", "formulary"}),
    "Escalation / supervisor": frozenset({"supervisor", "escalate", "manager", "complaint", "escalate issue"}),
    "Coverage / benefits question": frozenset({"coverage", "covered", "benefits", "deductible", "plan", "network"}),
}


#: Top terms kept per topic.
TERMS_PER_TOPIC = 12


@dataclass
class TopicModel:
    """Topics found in a set of calls and how sure the grouping is.

    Attributes:
        selection: One row per candidate ``k``: ``silhouette`` (mean cosine silhouette of the dominant-topic grouping
            on TF-IDF), ``reconstruction_error``, ``groups`` (distinct dominant topics) and ``chosen``.
        auto_names: Top three terms per topic, beside the readable ``names``.
        labels: Dominant topic of each call (topics numbered by size, 0 the largest).
        shares: Topic weights of each call normalised to sum to 1 (calls x topics).
    """

    k: int
    selection: pd.DataFrame
    names: list[str]
    auto_names: list[str]
    labels: np.ndarray
    shares: np.ndarray


def name_topic(top: Sequence[str], mapping: Mapping[str, frozenset[str]] = TOPIC_NAMES,
               min_match: int = 2) -> tuple[str, int]:  # fmt: skip
    """``(name, matched)``: the name in ``mapping`` sharing the most of the ``top`` terms (first on a tie), or the
    top three terms and 0 when none shares at least ``min_match``."""
    best, matched = None, 0
    for name, identifying in mapping.items():
        n = sum(term in identifying for term in top)
        if n > matched:
            best, matched = name, n
    if best is None or matched < min_match:
        return " / ".join(top[:3]), 0
    return best, matched


def name_topics(top_terms: list[list[str]], mapping: Mapping[str, frozenset[str]]) -> list[str]:
    """Names for all topics; a name goes to the topic matching it best, the others keep their automatic name."""
    candidates = [name_topic(top, mapping) for top in top_terms]
    names = [" / ".join(top[:3]) for top in top_terms]
    taken: set[str] = set()
    for i in sorted(range(len(top_terms)), key=lambda i: -candidates[i][1]):
        name, matched = candidates[i]
        if matched and name not in taken:
            names[i] = name
            taken.add(name)
    return names


def discover_topics(texts: Sequence[str], n_topics: int | None = None, k_range: Iterable[int] = range(3, 9),
                    seed: int = 0, min_df: int = 3, max_df: float = 0.5) -> TopicModel:
    """NMF topics of the calls' terms (TF-IDF, stop words and names left out), numbered by size.

    Unless ``n_topics`` is given, each ``k`` is scored by the mean cosine silhouette of the calls grouped by dominant
    topic, and the highest wins (the smaller on a tie); the reconstruction error is reported beside it.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_samples

    texts = list(texts)
    if len(texts) < 3:
        raise ValueError(f"topic discovery needs at least 3 calls, got {len(texts)}")
    stop = words.STOP_WORDS | words.proper_nouns(texts)  # a name is never a topic term
    vectorizer = TfidfVectorizer(analyzer=lambda text: terms(text, stop), min_df=min_df, max_df=max_df,
                                 sublinear_tf=True)  # fmt: skip
    try:
        X = vectorizer.fit_transform(texts)
    except ValueError as err:  # scikit-learn's "After pruning, no terms remain"
        raise ValueError(f"no term is in at least {min_df} of these {len(texts)} calls ({err}); lower min_df") from None
    vocabulary = np.array(vectorizer.get_feature_names_out())

    candidates = [n_topics] if n_topics else [k for k in k_range if 2 <= k < min(len(texts), X.shape[1])]
    rows, fits = [], {}
    for k in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # slow convergence on a tiny corpus is no reason to stop
            model = NMF(k, init="nndsvda", random_state=seed, max_iter=1000)
            W = model.fit_transform(X)
        labels = W.argmax(axis=1)
        groups = len(set(labels))
        sil = float(silhouette_samples(X, labels, metric="cosine").mean()) if 1 < groups < len(texts) else np.nan
        rows.append({"k": k, "silhouette": sil, "reconstruction_error": float(model.reconstruction_err_),
                     "groups": groups})
        fits[k] = (model, W)
    selection = pd.DataFrame(rows, columns=["k", "silhouette", "reconstruction_error", "groups"])
    if selection["silhouette"].notna().sum() == 0:
        raise ValueError(f"no k in {candidates} splits these {len(texts)} calls into two or more groups")
    k = int(selection.loc[selection["silhouette"].idxmax(), "k"])
    selection["chosen"] = selection["k"] == k
    model, W = fits[k]

    order = np.argsort(-np.bincount(W.argmax(axis=1), minlength=k), kind="stable")
    W, components = W[:, order], model.components_[order]
    totals = W.sum(axis=1, keepdims=True)
    shares = np.divide(W, totals, out=np.full_like(W, 1.0 / k), where=totals > 0)
    top = [[str(vocabulary[j]) for j in np.argsort(-row)[:TERMS_PER_TOPIC] if row[j] > 0] for row in components]
    return TopicModel(k=k, selection=selection, names=name_topics(top, TOPIC_NAMES),
                      auto_names=[" / ".join(t[:3]) for t in top], labels=W.argmax(axis=1), shares=shares)


def add_topics(frame: pd.DataFrame, model: TopicModel) -> pd.DataFrame:
    """``frame`` (one row per call, in the order the topics were fitted) with ``topic``, ``topic_id``,
    ``topic_terms`` and ``topic_share`` (the dominant topic's share of the call's topic weight)."""
    if len(frame) != len(model.labels):
        raise ValueError(f"{len(frame)} calls in the frame but the topics were fitted on {len(model.labels)}")
    out = frame.copy()
    out["topic_id"] = model.labels
    out["topic"] = [model.names[i] for i in model.labels]
    out["topic_terms"] = [model.auto_names[i] for i in model.labels]
    out["topic_share"] = model.shares.max(axis=1)  # 1: purely one topic
    return out
