"""Principled variants of the default probe for the outcome (and sentiment), by the protocol of
``callinsights experiments``: 10 x 4 repeated stratified folds (``RepeatedStratifiedKFold``, seed 0, stratified on the
guideline majority), fitted on the guideline readers' majority, scored against both readings (guideline majority and
the client's file); mean ± standard deviation over repeats of held-out macro-F1, sentiment's negative F1 and the
Brier score (mean over classes of the one-vs-rest score, as :mod:`callinsights.classify.selection`).

Variants (each one idea, no knob tuned on the labelled calls beyond what the default already tunes inside its
training folds):

1. **per-reader labels**: each training call enters three times, once per guideline reader's label, weight 1/3, so
   calls the readers disagree on pull less; the regularisation is the one the default chooses on the majority.
2. **shrinkage LDA**: ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")`` (Ledoit-Wolf) on the same
   standardised features, equal class priors (the default's logistic regression balances its classes too).
3. **decision rule inside the training folds**: (a) outcome: scikit-learn's ``TunedThresholdClassifierCV``
   (macro-F1, 3 inner folds); sentiment: one weight on the negative posterior, chosen from a short list by
   macro-F1 on the training fold's inner out-of-fold posteriors. (b) **EM prior adjustment** (Saerens, Latinne and
   Decaestecker 2002): the class priors of the 160 unlabelled calls estimated by EM from the probe's posteriors on
   their features (no label exists for them), and the held-out posteriors re-weighted by those priors over the
   training prior (uniform: the default balances its classes).
4. **turn pooling** (outcome): the default plus the per-dimension maximum over the customer's turns (after the
   scaler this equals the maximum of per-dimension z-scores, so that is one row, not two); and the whole-call mean
   with the last three turns as three separate blocks instead of their mean.
5. **driver-centred features** (own idea): the calls' labels and predictions follow their topic (the driver); each
   call's features minus the mean of its driver's calls (all 200, label-free; drivers from
   ``results/call_insights.csv``, as ``callinsights experiments`` reads them), so 30 training calls cannot learn
   "topic = label".

As a check, not a target: each variant fitted on all 40 labelled calls, its predicted follow-up and neutral rate per
driver on the 160 unlabelled calls (``results/label_variants_by_driver.csv``).

Run from the worktree (per-turn states come from ``results/runs.sqlite``; about 5 minutes on one core)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.label_variants
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, f1_score
from sklearn.model_selection import (RepeatedStratifiedKFold, StratifiedKFold, TunedThresholdClassifierCV,
                                     cross_val_predict)
from sklearn.preprocessing import StandardScaler, label_binarize

from callinsights import config
from callinsights.classify.probe import SOLVER, call_features, fit_probe, probe_classifier
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.labels import load_labels, normalise
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls

READERS = ("reader1", "reader2", "reader3")
#: Weights on the negative posterior tried for sentiment's decision rule (1 = the default's argmax).
NEGATIVE_WEIGHTS = (1.0, 1.5, 2.0, 3.0, 5.0)
OUT_FILE = config.RESULTS_DIR / "label_variants.csv"
DRIVER_FILE = config.RESULTS_DIR / "label_variants_by_driver.csv"


@dataclass
class Task:
    """One task's data: every call's features, the labelled rows and their labels.

    Attributes:
        x_all: Features of all calls (raw; the scaler is fitted on all of them, labels unseen).
        labelled: Rows of ``x_all`` that are labelled, in the order of ``y``.
        y: Guideline majority labels (what every variant is fitted on).
        readers: The three readers' labels, same order.
        seed: Inner-fold seed (the default's).
        priors: EM prior estimates collected during a run (variant 3b).
    """

    x_all: np.ndarray
    labelled: np.ndarray
    y: pd.Series
    readers: pd.DataFrame
    seed: int = 0
    priors: list = field(default_factory=list)

    def __post_init__(self):
        self.scaler = StandardScaler().fit(self.x_all)
        self.xs = self.scaler.transform(self.x_all)
        self.classes = np.array(sorted(self.y.unique()))
        self.unlabelled = np.setdiff1d(np.arange(len(self.x_all)), self.labelled)

    def with_features(self, x_all: np.ndarray) -> "Task":
        return Task(x_all, self.labelled, self.y, self.readers, self.seed)


#: A variant: (task, training rows among the labelled, rows of x_all to predict) -> (posteriors, labels or None).
Predict = Callable[[Task, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def ordered(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return pd.DataFrame(proba, columns=model_classes).reindex(columns=classes, fill_value=0.0).to_numpy(copy=True)


def default(task: Task, train: np.ndarray, rows: np.ndarray):
    """The default probe, exactly as the main job fits it."""
    probe = fit_probe(task.x_all[task.labelled[train]], task.y.iloc[train], task.scaler, task.seed)
    return ordered(probe.predict_proba(task.x_all[rows]), probe.classes_, task.classes), None


def per_reader(task: Task, train: np.ndarray, rows: np.ndarray):
    """Variant 1: three rows per training call, one per reader, weight 1/3; C as the default chooses it.

    The regularisation is chosen on the majority by the default's inner cross-validation: choosing it on the
    tripled rows would put copies of one call on both sides of the inner folds.
    """
    x, y = task.xs[task.labelled[train]], task.y.iloc[train].to_numpy()
    chosen = probe_classifier(y, task.seed).fit(x, y)
    c = float(np.ravel(chosen.C_)[0]) if hasattr(chosen, "C_") else chosen.C
    labels = np.concatenate([task.readers[r].to_numpy()[train] for r in READERS])
    model = LogisticRegression(C=c, class_weight="balanced", solver=SOLVER, max_iter=5000)
    model.fit(np.vstack([x] * len(READERS)), labels, sample_weight=np.full(len(labels), 1 / len(READERS)))
    return ordered(model.predict_proba(task.xs[rows]), model.classes_, task.classes), None


def shrinkage_lda(task: Task, train: np.ndarray, rows: np.ndarray):
    """Variant 2: Ledoit-Wolf shrinkage LDA with equal priors on the standardised features."""
    y = task.y.iloc[train].to_numpy()
    k = len(np.unique(y))
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=np.full(k, 1 / k))
    model.fit(task.xs[task.labelled[train]], y)
    return ordered(model.predict_proba(task.xs[rows]), model.classes_, task.classes), None


def tuned_decision(task: Task, train: np.ndarray, rows: np.ndarray):
    """Variant 3a: the decision rule chosen inside the training fold by macro-F1 on inner folds."""
    x, y = task.xs[task.labelled[train]], task.y.iloc[train].to_numpy()
    inner = StratifiedKFold(3, shuffle=True, random_state=task.seed)
    if len(task.classes) == 2:
        model = TunedThresholdClassifierCV(probe_classifier(y, task.seed), scoring="f1_macro", cv=inner,
                                           random_state=task.seed).fit(x, y)
        return ordered(model.predict_proba(task.xs[rows]), model.classes_, task.classes), model.predict(task.xs[rows])
    # Sentiment: one weight on the negative posterior (a prior shift), chosen on inner out-of-fold posteriors.
    oof = cross_val_predict(probe_classifier(y, task.seed), x, y, cv=inner, method="predict_proba")
    neg = list(np.unique(y)).index("negative")
    scores = []
    for w in NEGATIVE_WEIGHTS:
        shifted = oof.copy()
        shifted[:, neg] *= w
        scores.append(f1_score(y, np.unique(y)[shifted.argmax(axis=1)], average="macro"))
    weight = NEGATIVE_WEIGHTS[int(np.argmax(scores))]  # ties go to the smallest weight, the default first
    model = probe_classifier(y, task.seed).fit(x, y)
    proba = ordered(model.predict_proba(task.xs[rows]), model.classes_, task.classes)
    proba[:, list(task.classes).index("negative")] *= weight
    return proba / proba.sum(axis=1, keepdims=True), None


def em_priors(posteriors: np.ndarray, train_prior: np.ndarray, tol: float = 1e-6, steps: int = 1000) -> np.ndarray:
    """Saerens et al. (2002): class priors of an unlabelled set by EM on a classifier's posteriors."""
    prior = train_prior.copy()
    for _ in range(steps):
        adjusted = posteriors * (prior / train_prior)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        new = adjusted.mean(axis=0)
        if np.abs(new - prior).max() < tol:
            return new
        prior = new
    return prior


def em_adjusted(task: Task, train: np.ndarray, rows: np.ndarray):
    """Variant 3b: the default's posteriors re-weighted by the unlabelled calls' EM priors over the training prior.

    The default weights its classes to balance them, so the prior it has learnt is uniform.
    """
    probe = fit_probe(task.x_all[task.labelled[train]], task.y.iloc[train], task.scaler, task.seed)
    train_prior = np.full(len(probe.classes_), 1 / len(probe.classes_))
    prior = em_priors(probe.predict_proba(task.x_all[task.unlabelled]), train_prior)
    task.priors.append(dict(zip(probe.classes_, prior)))
    proba = probe.predict_proba(task.x_all[rows]) * (prior / train_prior)
    return ordered(proba / proba.sum(axis=1, keepdims=True), probe.classes_, task.classes), None


def cross_validate(task: Task, predict: Predict, references: dict[str, pd.Series], repeats: int, seed: int = 0
                   ) -> pd.DataFrame:
    """One row per repeat and reference: macro-F1, negative F1 (sentiment), Brier; same splits for every variant."""
    rows = []
    proba = np.zeros((len(task.y), len(task.classes)))
    predicted = np.empty(len(task.y), dtype=object)
    splitter = RepeatedStratifiedKFold(n_splits=4, n_repeats=repeats, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(task.labelled, task.y)):
        proba[test], labels = predict(task, train, task.labelled[test])
        predicted[test] = task.classes[proba[test].argmax(axis=1)] if labels is None else labels
        if k % 4 == 3:
            for name, truth in references.items():
                onehot = label_binarize(truth, classes=task.classes)
                onehot = np.hstack([1 - onehot, onehot]) if len(task.classes) == 2 else onehot
                rows.append({
                    "repeat": k // 4, "reference": name,
                    "macro_f1": f1_score(truth, predicted, average="macro", labels=task.classes, zero_division=0),
                    "negative_f1": (f1_score(truth, predicted, labels=["negative"], average="macro", zero_division=0)
                                    if "negative" in task.classes else np.nan),
                    "brier": float(np.mean([brier_score_loss(onehot[:, j], proba[:, j])
                                            for j in range(len(task.classes))])),
                })
    return pd.DataFrame(rows)


def stored_outputs(settings: Settings, progress: bool = False) -> dict[str, dict]:
    """Every call's probe output under ``settings``, in reading order, from the store (computed now when it lacks
    it)."""
    turns, _ = read_calls(config.TRANSCRIPTS_DIR)
    with Store(config.STORE_FILE) as store, Classifier(settings, store, read_labels=False) as classifier:
        records = classifier.outputs(texts_for_model(turns, settings), progress=progress)
    return {cid: rec["output"] for cid, rec, _ in records}


def load(settings: Settings) -> tuple[list[str], list[np.ndarray]]:
    """Every call's per-turn states as the main job stored them (nothing is recomputed when the store is warm)."""
    turns, _ = read_calls(config.TRANSCRIPTS_DIR)
    texts = texts_for_model(turns, settings)
    with Store(config.STORE_FILE) as store, Classifier(settings, store, read_labels=False) as classifier:
        records = classifier.outputs(texts, progress=False)
    fresh = [cid for cid, _, cached in records if not cached]
    if fresh:
        print(f"note: {len(fresh)} calls were not in {config.STORE_FILE} and were read by the model now")
    return [cid for cid, _, _ in records], [np.asarray(rec["output"]["turns"], dtype=np.float64)
                                            for _, rec, _ in records]


def readers_table(names: list[str]) -> pd.DataFrame:
    """The three guideline readers' labels per task, normalised like the label files' values."""
    raw = pd.read_csv(config.GUIDELINE_LABELS_FILE, dtype=str).set_index("Filename").loc[names]
    return {task: pd.DataFrame({r: raw[f"{r}_{task}"].map(normalise).to_numpy() for r in READERS})
            for task in ("sentiment", "outcome")}


def driver_centred(x_all: np.ndarray, drivers: np.ndarray) -> np.ndarray:
    """Each call's features minus the mean of its driver's calls (label-free)."""
    out = x_all.copy()
    for d in np.unique(drivers):
        out[drivers == d] -= x_all[drivers == d].mean(axis=0)
    return out


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over repeats, the paired gain over the default (same splits) and the verdict."""
    out = []
    for (task, reference), part in table.groupby(["task", "reference"], sort=False):
        base = part[part["variant"].str.startswith("default")].set_index("repeat")
        for variant, rows in part.groupby("variant", sort=False):
            rows = rows.set_index("repeat")
            gain = rows["macro_f1"] - base["macro_f1"]
            spread = max(rows["macro_f1"].std(), base["macro_f1"].std())
            verdict = ("—" if variant.startswith("default") else "better by more than the spread"
                       if gain.mean() > spread else "worse by more than the spread" if gain.mean() < -spread
                       else "within the spread")
            out.append({"task": task, "variant": variant, "reference": reference,
                        "macro_f1_mean": rows["macro_f1"].mean(), "macro_f1_std": rows["macro_f1"].std(),
                        "negative_f1_mean": rows["negative_f1"].mean(), "negative_f1_std": rows["negative_f1"].std(),
                        "brier_mean": rows["brier"].mean(), "paired_gain_mean": gain.mean(),
                        "paired_gain_std": gain.std(), "verdict": verdict})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    ids, states = load(Settings())
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    readers = readers_table(names)
    if not config.INSIGHTS_FILE.is_file():
        raise SystemExit(f"{config.INSIGHTS_FILE} is missing (it gives each call's driver); run "
                         "`python -m callinsights insights` first")
    drivers = pd.read_csv(config.INSIGHTS_FILE).set_index("file")["topic"].reindex(ids)
    if drivers.isna().any():
        raise SystemExit(f"{config.INSIGHTS_FILE}: no driver for {drivers[drivers.isna()].index[:3].tolist()} ...; "
                         "re-run `python -m callinsights insights`")

    base = np.array([call_features(s) for s in states])
    width = base.shape[1] // 2
    turn_max = np.array([s[:, :-1].max(axis=0) for s in states])
    # Calls with fewer than three customer turns repeat their first turn in the missing blocks.
    blocks = np.array([np.concatenate([s[max(len(s) - k, 0), :-1] for k in (1, 2, 3)]) for s in states])
    features = {"sentiment": base[:, width:], "outcome": base}
    variants: dict[str, list[tuple[str, Predict, np.ndarray | None]]] = {task: [
        ("default", default, None),
        ("1. per-reader labels (weight 1/3)", per_reader, None),
        ("2. shrinkage LDA (Ledoit-Wolf, equal priors)", shrinkage_lda, None),
        ("3a. decision rule tuned in training folds", tuned_decision, None),
        ("3b. EM prior adjustment (160 unlabelled)", em_adjusted, None),
        ("5. driver-centred features", default, driver_centred(features[task], drivers.to_numpy())),
    ] for task in features}
    variants["outcome"][5:5] = [
        ("4a. whole + ending + turn max", default, np.hstack([base, turn_max])),
        ("4b. whole + last three turns as blocks", default, np.hstack([base[:, :width], blocks])),
    ]

    results, by_driver, priors = [], [], {}
    unlabelled_drivers = drivers.to_numpy()[np.setdiff1d(np.arange(len(ids)), labelled)]
    for task, rows in variants.items():
        y = guideline.loc[names, task].reset_index(drop=True)
        references = {"guideline": y, "client": client.loc[names, task].reset_index(drop=True)}
        for name, predict, x in rows:
            spec = Task(features[task] if x is None else x, labelled, y, readers[task])
            part = cross_validate(spec, predict, references, args.repeats)
            part.insert(0, "variant", name)
            part.insert(0, "task", task)
            results.append(part)
            cv_priors = pd.DataFrame(spec.priors).mean().round(3).to_dict() if spec.priors else None
            spec.priors = []
            # The check on the unlabelled calls: fitted on all 40, the predicted class shares per driver.
            proba, labels = predict(spec, np.arange(len(labelled)), spec.unlabelled)
            labels = spec.classes[proba.argmax(axis=1)] if labels is None else labels
            watched = "follow-up action needed" if task == "outcome" else "neutral"
            share = pd.Series(labels == watched).groupby(unlabelled_drivers).mean()
            by_driver.append({"task": task, "variant": name, "rate_of": watched, "all": (labels == watched).mean(),
                              **share.to_dict()})
            if cv_priors:
                priors[(task, name)] = {"in CV (mean over folds)": cv_priors,
                                        "fitted on all 40": {k: round(float(v), 3) for k, v in spec.priors[0].items()}}
            mean = part[part["reference"] == "guideline"]["macro_f1"]
            print(f"{task:9s} {name:45s} guideline macro-F1 {mean.mean():.3f} ± {mean.std():.3f}", flush=True)

    table = summarise(pd.concat(results, ignore_index=True))
    config.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(OUT_FILE, index=False)
    rates = pd.DataFrame(by_driver)
    rates.round(3).to_csv(DRIVER_FILE, index=False)

    shown = table.assign(
        **{"macro-F1": table["macro_f1_mean"].map("{:.3f}".format) + " ± "
           + table["macro_f1_std"].map("{:.3f}".format),
           "negative F1": [f"{m:.3f} ± {s:.3f}" if not np.isnan(m) else "" for m, s in
                           zip(table["negative_f1_mean"], table["negative_f1_std"])],
           "Brier": table["brier_mean"].map("{:.3f}".format),
           "paired gain": table["paired_gain_mean"].map("{:+.3f}".format) + " ± "
           + table["paired_gain_std"].map("{:.3f}".format)})
    print(shown[["task", "variant", "reference", "macro-F1", "negative F1", "Brier", "paired gain", "verdict"]]
          .to_markdown(index=False))
    print()
    print(rates.round(2).to_markdown(index=False))
    for (task, name), found in priors.items():
        print(f"\nEM priors of the 160 unlabelled calls, {task}: {found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
