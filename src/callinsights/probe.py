"""A linear probe on the local LLM's hidden states: the ``probe`` method.

The embedded 135M model barely follows instructions -- asked zero-shot it answers almost the same for every call --
but its hidden states still encode what the customer said. The probe reads the model's mean-pooled hidden state of
the customer's side (and, separately, of their last turns, since the guideline weighs how a call ends most) and fits
a regularised logistic regression on the hand-labelled calls.

Because it is fitted on the labelled calls, its quality is only ever reported cross-validated
(:func:`cross_validated_predictions`), with the regularisation chosen inside each training fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

#: Customer turns read separately at the end of a call.
LAST_TURNS = 3
#: Regularisation strengths searched inside each training fold.
C_GRID = (0.01, 0.1, 1.0, 10.0)


def last_turns(text: str, n: int = LAST_TURNS) -> str:
    """The last ``n`` customer turns of a customer text (one turn per line, as ``customer_text`` writes it)."""
    return "\n".join(text.strip().splitlines()[-n:])


def feature_matrix(outputs: list[dict]) -> np.ndarray:
    """Stack stored probe outputs (``{"all": [...], "last": [...]}``) into one row per call."""
    return np.array([np.concatenate([out["all"], out["last"]]) for out in outputs], dtype=np.float64)


def make_probe(labels: pd.Series, seed: int = 0) -> Pipeline:
    """An unfitted probe: standardise, then logistic regression with C chosen by inner cross-validation.

    Classes are weighted inversely to their frequency: with 4 negative calls out of 40, an unweighted model would
    never predict negative.
    """
    smallest = int(labels.value_counts().min())
    folds = max(2, min(3, smallest))
    if smallest < 2:
        # Too few examples of a class to cross-validate C: fall back to a moderate fixed strength.
        model = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000)
    else:
        model = LogisticRegressionCV(
            Cs=list(C_GRID), cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            class_weight="balanced", scoring="neg_log_loss", max_iter=5000, use_legacy_attributes=False, l1_ratios=(0.0,),
        )
    return make_pipeline(StandardScaler(), model)


def fit_probe(features: np.ndarray, labels: pd.Series, seed: int = 0) -> Pipeline:
    """Fit a probe on labelled calls.

    Raises:
        ValueError: Fewer than two classes, or fewer than 8 labelled calls.
    """
    if labels.nunique() < 2 or len(labels) < 8:
        raise ValueError(
            f"the probe needs labelled calls of at least two classes (got {len(labels)} calls, "
            f"classes {sorted(labels.unique())}); add labels to the label file or use --method score"
        )
    return make_probe(labels, seed).fit(features, labels.to_numpy())


def cross_validated_predictions(features: np.ndarray, labels: pd.Series, folds: int = 4, seed: int = 0
                                ) -> pd.DataFrame:
    """Held-out probabilities for every labelled call: each call is predicted by a probe not fitted on it.

    Args:
        features: One row per labelled call.
        labels: Gold labels, same order.
        folds: Outer folds (stratified).
        seed: Fold shuffling seed.

    Returns:
        One row per call (index of ``labels``), one probability column per class, and ``prediction``.
    """
    classes = sorted(labels.unique())
    proba = pd.DataFrame(np.nan, index=labels.index, columns=classes)
    smallest = int(labels.value_counts().min())
    if smallest < 2:
        raise ValueError(
            f"cannot cross-validate with a class of {smallest} labelled call "
            f"({labels.value_counts().idxmin()!r}); label more calls of it"
        )
    outer = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    for train, test in outer.split(features, labels):
        probe = fit_probe(features[train], labels.iloc[train], seed)
        fitted = probe.predict_proba(features[test])
        proba.iloc[test, [classes.index(c) for c in probe.classes_]] = fitted
    proba = proba.fillna(0.0)
    proba["prediction"] = proba[classes].idxmax(axis=1)
    return proba


def probe_probabilities(features: np.ndarray, labelled: np.ndarray, labels: pd.Series, classes: list[str],
                        seed: int = 0) -> tuple[pd.DataFrame, bool]:
    """Probabilities for every call: unlabelled calls from a probe fitted on all labelled ones, labelled calls from
    probes not fitted on them (cross-validated), so no prediction in the output is an echo of its own label.

    Args:
        features: One row per call.
        labelled: Boolean mask of the rows whose label is known.
        labels: The known labels, in the order of the labelled rows.
        classes: Every class of the task, in output column order.
        seed: Fold seed.

    Returns:
        One row per call, one column per class; and whether the labelled rows are held out (False when a class
        has too few labelled calls to cross-validate, so they come from the fitted probe).
    """
    probe = fit_probe(features[labelled], labels, seed)
    proba = pd.DataFrame(probe.predict_proba(features), columns=probe.classes_).reindex(
        columns=classes, fill_value=0.0)
    try:
        held = cross_validated_predictions(features[labelled], labels.reset_index(drop=True), seed=seed)
    except ValueError:
        return proba, False
    proba.loc[np.flatnonzero(labelled), classes] = held.reindex(columns=classes, fill_value=0.0).to_numpy()
    return proba, True
