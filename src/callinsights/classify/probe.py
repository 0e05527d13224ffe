"""A linear probe on the local LLM's hidden states: the ``probe`` method.

The embedded 135M model barely follows instructions -- asked zero-shot it answers almost the same for every call --
but its hidden states still encode what the customer said. The model reads the customer's turns once; its
token states, pooled per turn (:meth:`callinsights.llm.engines.LlamaCppEngine.embed_turns`), give the call's features: the
mean state of all the customer's words and that of their last turns (the guideline weighs how a call ends most). A
regularised logistic regression reads them, fitted on the hand-labelled calls.

Because it is fitted on the labelled calls, its quality is only ever reported held out: every labelled call is
predicted by a probe not fitted on it (:func:`cross_validated_probabilities`; leave-one-out when a class is too thin
for folds), with the regularisation chosen inside each training fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import LeaveOneOut, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

#: Customer turns that make the "how the call ends" part of the features.
LAST_TURNS = 3
#: Regularisation strengths searched inside each training fold.
C_GRID = (0.01, 0.1, 1.0)
#: Newton-CG reaches the same optimum as lbfgs in a tenth of the time on these wide, few-row problems (0.15 s against
#: 1.2 s for three strengths on 30 calls x 1,152 features), which matters for repeated cross-validation.
SOLVER = "newton-cg"
#: The stored feature definition: a new pooling or layout must get a new name, so no stale output is reused.
FEATURES_VERSION = "turns-v1"
#: Which part of :func:`call_features` each task reads. Sentiment reads how the call ends, as the guideline weighs
#: it ("weighing most how they feel by the end"), which also keeps the call's topic, stated at the start, out of
#: it; the outcome reads the whole call too, since what is pending is often said mid-call. Chosen by repeated
#: cross-validation (``docs/experiments.md``).
TASK_PARTS: dict[str, tuple[str, ...]] = {"sentiment": ("ending",), "outcome": ("whole", "ending")}
PARTS = ("whole", "ending")


#: Where each task's per-turn states are in a stored probe output. Sentiment reads an earlier layer's states when
#: the run computed them (``Settings.sentiment_blocks``: the first blocks of the model read the customer's mood
#: better than the last layer, ``docs/experiments.md`` item 9), else the last layer's, as the outcome always does.
STATES_KEYS: dict[str, tuple[str, ...]] = {"sentiment": ("sentiment_turns", "turns"), "outcome": ("turns",)}


def task_states(output: dict, task: str) -> np.ndarray:
    """The per-turn states ``task`` reads from one stored probe output (see :data:`STATES_KEYS`)."""
    key = next(k for k in STATES_KEYS[task] if k in output)
    return np.asarray(output[key], dtype=np.float64)


def task_features(outputs: list[dict], task: str) -> np.ndarray:
    """One row per stored probe output: the columns of :func:`call_features` that ``task`` reads."""
    rows = np.array([call_features(task_states(out, task)) for out in outputs])
    return rows[:, task_columns(task, rows.shape[1])]


def call_features(turn_states: np.ndarray, last: int = LAST_TURNS) -> np.ndarray:
    """One call's features from its per-turn states.

    Args:
        turn_states: One row per customer turn: the turn's mean hidden state, then its token count (as
            :meth:`~callinsights.llm.engines.LlamaCppEngine.embed_turns` returns it).
        last: Turns in the "ending" part.

    Returns:
        The token-weighted mean state of all turns, then that of the last ``last`` turns.
    """
    states, weights = turn_states[:, :-1], np.maximum(turn_states[:, -1], 1.0)
    whole = np.average(states, axis=0, weights=weights)
    ending = np.average(states[-last:], axis=0, weights=weights[-last:])
    return np.concatenate([whole, ending])


def task_columns(task: str, n_columns: int) -> np.ndarray:
    """Column numbers of :func:`call_features`'s ``n_columns`` that ``task`` reads (see :data:`TASK_PARTS`)."""
    width = n_columns // len(PARTS)
    return np.concatenate([np.arange(width) + PARTS.index(part) * width for part in TASK_PARTS[task]])


def turn_features(turn_states: np.ndarray) -> np.ndarray:
    """Each turn read on its own, in the layout of :func:`call_features` (the turn is both "whole" and "ending"),
    so a probe fitted on calls scores single turns: the call's trajectory and its evidence."""
    states = turn_states[:, :-1]
    return np.hstack([states, states])


@dataclass(frozen=True)
class Probe:
    """A fitted probe: the scaler (fitted on every call's features, labels unseen) and the classifier.

    Attributes:
        scaler: Standardises features.
        model: The logistic regression.
    """

    scaler: StandardScaler
    model: LogisticRegression | LogisticRegressionCV | _Decoded

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.scaler.transform(features))

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Each class's linear score for each row, without the intercept: ``[rows, classes]``.

        For a binary task scikit-learn keeps one weight vector (for ``classes_[1]``); the other class gets its
        negative, so either way a higher score means more support for that class.
        """
        scores = self.scaler.transform(features) @ self.model.coef_.T
        return np.hstack([-scores, scores]) if scores.shape[1] == 1 else scores


class _Decoded:
    """A classifier fitted on integer-coded classes, answering with the class names (for self-training)."""

    def __init__(self, model: SelfTrainingClassifier, classes: np.ndarray):
        self.model, self.classes_ = model, classes

    @property
    def coef_(self) -> np.ndarray:
        return self.model.estimator_.coef_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)


def _classifier(labels: np.ndarray, seed: int) -> LogisticRegression | LogisticRegressionCV:
    """Logistic regression with C chosen by inner cross-validation on log-loss where every class allows it.

    Classes are weighted inversely to their frequency: with 4 negative calls out of 40, an unweighted model would
    never predict negative.
    """
    smallest = int(pd.Series(labels).value_counts().min())
    if smallest < 2:
        # Too few examples of a class to cross-validate C: a moderate fixed strength.
        return LogisticRegression(C=0.1, class_weight="balanced", solver=SOLVER, max_iter=5000)
    return LogisticRegressionCV(
        Cs=list(C_GRID), cv=StratifiedKFold(min(3, smallest), shuffle=True, random_state=seed),
        class_weight="balanced", scoring="neg_log_loss", solver=SOLVER, max_iter=5000, use_legacy_attributes=False,
        l1_ratios=(0.0,),
    )


def fit_probe(features: np.ndarray, labels: pd.Series, scaler: StandardScaler | None = None, seed: int = 0,
              augmented: tuple[np.ndarray, np.ndarray] | None = None, unlabelled: np.ndarray | None = None,
              threshold: float | None = None) -> Probe:
    """Fit a probe on labelled calls.

    Args:
        features: One row per labelled call.
        labels: Their labels.
        scaler: A scaler fitted on every call's features (unlabelled ones included); default: fitted on
            ``features``.
        seed: Inner-fold seed.
        augmented: Extra ``(features, labels)`` rows fitted alongside (counterfactual copies of the labelled calls).
        unlabelled: Features of unlabelled calls for self-training (scikit-learn's ``SelfTrainingClassifier``):
            those the probe labels with probability >= ``threshold`` are added with that label, and it is refitted.
        threshold: Self-training confidence (None: no self-training).

    Raises:
        ValueError: Fewer than two classes, or fewer than 8 labelled calls.
    """
    if labels.nunique() < 2 or len(labels) < 8:
        raise ValueError(
            f"the probe needs at least 8 labelled calls of at least two classes (got {len(labels)} calls, "
            f"classes {sorted(labels.unique())}); add labels to the label file or use --method score"
        )
    scaler = scaler or StandardScaler().fit(features)
    x, y = scaler.transform(features), labels.to_numpy()
    if augmented is not None and len(augmented[0]):
        x, y = np.vstack([x, scaler.transform(augmented[0])]), np.concatenate([y, augmented[1]])
    if threshold is None or unlabelled is None or not len(unlabelled):
        return Probe(scaler, _classifier(y, seed).fit(x, y))
    # SelfTrainingClassifier marks unlabelled rows with -1, so the classes are coded as integers around it.
    classes = np.array(sorted(set(y)))
    coded = np.concatenate([np.searchsorted(classes, y), np.full(len(unlabelled), -1)])
    model = SelfTrainingClassifier(_classifier(y, seed), threshold=threshold, max_iter=5)
    model.fit(np.vstack([x, scaler.transform(unlabelled)]), coded)
    return Probe(scaler, _Decoded(model, classes))


def cross_validated_probabilities(features: np.ndarray, labels: pd.Series, scaler: StandardScaler | None = None,
                                  folds: int = 4, seed: int = 0,
                                  augmented: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                                  ) -> tuple[pd.DataFrame, str]:
    """Held-out probabilities for every labelled call: each call is predicted by a probe not fitted on it.

    Args:
        features: One row per labelled call.
        labels: Gold labels, same order.
        scaler: Scaler fitted on every call (see :func:`fit_probe`).
        folds: Outer folds (stratified); a class with fewer calls than folds gets leave-one-out instead.
        seed: Fold shuffling seed.
        augmented: Counterfactual rows ``(features, labels, row of the labelled call each copies)``; a copy is
            fitted only where its original is in the training fold, so no test call leaks in through its copy.

    Returns:
        One row per call (index of ``labels``), one probability column per class; and the scheme used
        (``"4-fold"`` or ``"leave-one-out"``).
    """
    classes = sorted(labels.unique())
    smallest = int(labels.value_counts().min())
    splitter = (StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed) if smallest >= 2
                else LeaveOneOut())
    scheme = f"{splitter.n_splits}-fold" if smallest >= 2 else "leave-one-out"
    proba = pd.DataFrame(0.0, index=labels.index, columns=classes)
    for train, test in splitter.split(features, labels):
        extra = None
        if augmented is not None:
            keep = np.isin(augmented[2], train)
            extra = (augmented[0][keep], augmented[1][keep])
        probe = fit_probe(features[train], labels.iloc[train], scaler, seed, extra)
        proba.iloc[test, [classes.index(c) for c in probe.classes_]] = probe.predict_proba(features[test])
    return proba, scheme
