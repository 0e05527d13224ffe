"""Choosing the probe's configuration with less noise: repeated stratified cross-validation on the labelled calls.

With 40 labelled calls (4 negative), one 4-fold split moves a macro-F1 by several points. Each variant is therefore
scored on ``repeats`` different 4-fold splits: every repeat predicts each labelled call once, held out, and the
metrics of that repeat are computed on all 40 predictions. The table reports the mean and the standard deviation
over repeats, against both readings of the labels (the client's file and the guideline readers' majority). A
variant replaces the default only if it beats it by more than that spread.

Everything a variant sees besides the labels of its training folds is label-free: the scaler is fitted on every
call's features, semi-supervised variants read the unlabelled calls' features (the held-out fold's included, as
any unlabelled call), and counterfactual copies enter a training fold only with their original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, f1_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler, label_binarize

from callinsights.classify.probe import fit_probe


@dataclass(frozen=True)
class Variant:
    """One way to fit the probe.

    Attributes:
        name: Readable name for the experiment log.
        columns: Which feature columns it reads (None: all).
        augment: Fit the labelled calls' counterfactual copies too.
        self_training: Add the unlabelled calls the probe labels with confidence >= this (None: no).
    """

    name: str
    columns: np.ndarray | None = None
    augment: bool = False
    self_training: float | None = None


def _select(features: np.ndarray, variant: Variant) -> np.ndarray:
    return features if variant.columns is None else features[:, variant.columns]


def repeated_cv(features: np.ndarray, labelled: np.ndarray, labels: pd.Series, variant: Variant,
                references: dict[str, pd.Series], augmented: tuple[np.ndarray, np.ndarray] | None = None,
                repeats: int = 25, folds: int = 4, seed: int = 0) -> pd.DataFrame:
    """Held-out metrics of one variant over repeated stratified folds.

    Args:
        features: One row per call (all calls of the corpus).
        labelled: Row numbers of the labelled calls, in the order of ``labels``.
        labels: The labels the variant is fitted on.
        variant: How to fit.
        references: Label readings to score against (name -> labels in the order of ``labels``).
        augmented: Counterfactual copies ``(features, row in labelled of the call each copies)``; they take the
            label of their original in ``labels``.
        repeats: Different fold splits.
        folds: Folds per split.
        seed: Seed of the splits.

    Returns:
        One row per repeat and reference: ``repeat, reference, macro_f1, negative_f1`` (sentiment only, else NaN),
        ``brier`` (mean over classes of the one-vs-rest Brier score, scikit-learn's ``brier_score_loss``).
    """
    x_all = _select(features, variant)
    scaler = StandardScaler().fit(x_all)
    x = x_all[labelled]
    y = labels.reset_index(drop=True)
    classes = sorted(y.unique())
    unlabelled = np.setdiff1d(np.arange(len(features)), labelled)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    rows = []
    proba = np.zeros((len(y), len(classes)))
    for k, (train, test) in enumerate(splitter.split(x, y)):
        extra = None
        if variant.augment and augmented is not None:
            keep = np.isin(augmented[1], train)
            extra = (_select(augmented[0], variant)[keep], y.to_numpy()[augmented[1][keep]])
        pool = x_all[np.concatenate([unlabelled, labelled[test]])] if variant.self_training else None
        probe = fit_probe(x[train], y.iloc[train], scaler, seed, extra, pool, variant.self_training)
        proba[test] = pd.DataFrame(probe.predict_proba(x[test]), columns=probe.classes_).reindex(
            columns=classes, fill_value=0.0).to_numpy()
        if k % folds == folds - 1:
            predicted = np.array(classes)[proba.argmax(axis=1)]
            for name, truth in references.items():
                truth = truth.reset_index(drop=True)
                onehot = label_binarize(truth, classes=classes)
                onehot = np.hstack([1 - onehot, onehot]) if len(classes) == 2 else onehot
                rows.append({
                    "variant": variant.name, "repeat": k // folds, "reference": name,
                    "macro_f1": f1_score(truth, predicted, average="macro", labels=classes, zero_division=0),
                    "negative_f1": (f1_score(truth, predicted, labels=["negative"], average="macro", zero_division=0)
                                    if "negative" in classes else np.nan),
                    "brier": float(np.mean([brier_score_loss(onehot[:, j], proba[:, j]) for j in range(len(classes))])),
                })
    return pd.DataFrame(rows)


def no_model_brier(truth: pd.Series) -> float:
    """The Brier score of predicting every call with the label shares (the reference a model must beat), on the
    same scale as :func:`repeated_cv`'s."""
    shares = truth.value_counts(normalize=True)
    return float(np.mean([brier_score_loss((truth == c).astype(int), np.full(len(truth), p))
                          for c, p in shares.items()]))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over repeats, one row per (task,) variant, (reading fitted on,) and reference."""
    keys = [k for k in ("task", "variant", "fitted_on", "reference") if k in results.columns]
    table = results.groupby(keys, sort=False)[["macro_f1", "negative_f1", "brier"]].agg(
        ["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()


def compare_variants(features: np.ndarray, labelled: np.ndarray, readings: dict[str, pd.Series],
                     variants: list[Variant], augmented: tuple[np.ndarray, np.ndarray] | None = None,
                     repeats: int = 25, seed: int = 0) -> pd.DataFrame:
    """Every variant fitted on the first reading of the labels, and the first variant (the default) on the others
    too; each scored against every reading.

    Args:
        features: One row per call.
        labelled: Rows of the labelled calls.
        readings: Name -> labels of the labelled calls (same order), e.g. the client's file and the guideline
            majority.
        variants: What to compare, the default first.
        augmented: Counterfactual copies, see :func:`repeated_cv`.
        repeats: Fold splits per variant.
        seed: Seed of the splits (the same for every variant, so they meet the same splits).

    Returns:
        All repeats: the columns of :func:`repeated_cv` plus ``fitted_on``.
    """
    parts = []
    for n, (fitted_on, labels) in enumerate(readings.items()):
        for variant in variants if n == 0 else variants[:1]:
            part = repeated_cv(features, labelled, labels, variant, readings, augmented, repeats, seed=seed)
            part.insert(1, "fitted_on", fitted_on)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)
