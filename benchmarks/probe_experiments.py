"""The experiments that chose the probe: its variants by repeated cross-validation, the topic flip rate, accuracy by
driver.

``make experiments`` (``python -m benchmarks.probe_experiments``) writes ``results/probe_selection.csv``,
``probe_selection_repeats.csv``, ``brier_reference.csv``, ``flip_rates.csv``, ``driver_accuracy.csv`` and a section
of ``docs/experiments.md``; notebook 04 shows them. Model outputs come from the main job's store.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler, label_binarize
from sklearn.semi_supervised import SelfTrainingClassifier

from callinsights import config
from callinsights.classify.probe import (PARTS, TASK_PARTS, Probe, call_features, cross_validated_probabilities,
                                         fit_probe, probe_classifier, task_columns, task_states)
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.call import Call
from callinsights.data.labels import load_labels
from callinsights.data.outputs import write_csv
from callinsights.data.store import Store, StoreError
from callinsights.data.transcripts import read_calls
from callinsights.llm.models import ModelError
from callinsights.pipelines.evaluation import write_section
from callinsights.schema import TASKS

# --- Counterfactual calls: the same customer words with the call's topic swapped -------------------------------------
# A label should follow the customer, not the topic; with most neutral labelled calls about claims, a probe can learn
# "claim = neutral". Swapping the topic words changes only the topic, so a label that flips follows the topic.

#: Topic words by grammatical role (singular, plural): the four call drivers of notebook 05.
TOPICS: dict[str, tuple[str, ...]] = {
    "claim": ("claim", "claims"),
    "appointment": ("appointment", "appointments"),
    "password": ("password", "passwords"),
    "pre-authorization": ("pre-authorization", "pre-authorizations"),
}
#: Other spellings, read as the topic's phrase of that role (written back in canonical form).
ALIASES: dict[str, tuple[str, int]] = {
    "prior authorization": ("pre-authorization", 0), "prior authorizations": ("pre-authorization", 1),
    "preauthorization": ("pre-authorization", 0), "pre-auth": ("pre-authorization", 0),
    "login": ("password", 0), "log-in": ("password", 0),
}
ROTATION = tuple(TOPICS)
WHERE = {phrase: (topic, i) for topic, phrases in TOPICS.items() for i, phrase in enumerate(phrases)} | ALIASES
PATTERN = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(WHERE, key=len, reverse=True)) + r")\b",
                     re.IGNORECASE)


def match_case(source: str, target: str) -> str:
    if source.isupper() and len(source) > 1:
        return target.upper()
    return target[:1].upper() + target[1:] if source[:1].isupper() else target


def swap_topic(text: str, shift: int) -> str:
    """``text`` with every topic phrase moved ``shift`` places along :data:`ROTATION`, all at once (so two topics of
    one call stay distinct); shift 0 leaves it unchanged."""
    def replace(match: re.Match) -> str:
        topic, i = WHERE[match.group(0).lower()]
        target = ROTATION[(ROTATION.index(topic) + shift) % len(ROTATION)]
        return match_case(match.group(0), TOPICS[target][i])

    return PATTERN.sub(replace, text)


def has_topic(text: str) -> bool:
    return PATTERN.search(text) is not None


def counterfactuals(texts: dict[str, str], every_shift: set[str] | None = None) -> pd.DataFrame:
    """Topic swaps of the calls that name a topic, one row per ``file, shift, text``.

    The calls in ``every_shift`` (None: all) get the three swaps; the others one, the shifts taking turns, which
    measures a flip rate at a third of the model time.
    """
    rows, turn = [], 0
    for cid, text in texts.items():
        if not has_topic(text):
            continue
        if every_shift is None or cid in every_shift:
            shifts = range(1, len(ROTATION))
        else:
            shifts, turn = [1 + turn % (len(ROTATION) - 1)], turn + 1
        rows += [{"file": cid, "shift": shift, "text": swap_topic(text, shift)} for shift in shifts]
    return pd.DataFrame(rows, columns=["file", "shift", "text"])


#: The largest flip rate the project accepts.
MAX_FLIP_RATE = 0.05


def flip_table(original: pd.DataFrame, swapped: pd.DataFrame, tasks: tuple[str, ...] = tuple(TASKS)) -> pd.DataFrame:
    """Flip rate per task with a 95% Wilson interval: ``task, pairs, flips, flip_rate, low, high``.

    Args:
        original: Labels indexed by call id, a column per task.
        swapped: One row per counterfactual: ``file`` (the original call) and a column per task.
    """
    rows = []
    for task in tasks:
        flips = int((swapped[task].to_numpy() != original[task].reindex(swapped["file"]).to_numpy()).sum())
        pairs = len(swapped)
        interval = binomtest(flips, pairs).proportion_ci(method="wilson") if pairs else None
        rows.append({"task": task, "pairs": pairs, "flips": flips, "flip_rate": flips / pairs if pairs else np.nan,
                     "low": interval.low if interval else np.nan, "high": interval.high if interval else np.nan})
    return pd.DataFrame(rows)


def accuracy_by_driver(gold: pd.DataFrame, predicted: pd.DataFrame, drivers: pd.Series,
                       tasks: tuple[str, ...] = tuple(TASKS)) -> pd.DataFrame:
    """Held-out accuracy and macro-F1 within each call driver, with the readers' and the predicted share of each
    task's minority labels: a probe that learnt "claim = neutral" is right on claims and wrong elsewhere."""
    rows = []
    frame = gold.join(predicted.add_suffix("_predicted")).join(drivers.rename("driver"), how="left")
    for driver, task in ((d, t) for d in sorted(frame["driver"].dropna().unique()) for t in tasks):
        part = frame[frame["driver"] == driver]
        truth, guess = part[task], part[f"{task}_predicted"]
        row = {"driver": driver, "task": task, "calls": len(part), "accuracy": accuracy_score(truth, guess),
               "macro_f1": f1_score(truth, guess, average="macro", zero_division=0)}
        for label in (("neutral", "negative") if task == "sentiment" else ("follow-up action needed",)):
            row[f"readers_{label}"] = float((truth == label).mean())
            row[f"predicted_{label}"] = float((guess == label).mean())
        rows.append(row)
    return pd.DataFrame(rows)


# --- Variants of the probe, scored by repeated stratified cross-validation --------------------------------------------
# With 40 labelled calls (4 negative) one 4-fold split moves a macro-F1 by several points, so each variant meets the
# same `repeats` splits and a variant replaces the default only if it beats it by more than the spread over repeats.
# All a variant sees besides its training labels is label-free: the scaler is fitted on every call, self-training
# reads the unlabelled calls (the held-out fold's included), and a counterfactual copy is fitted only with its original.


@dataclass(frozen=True)
class Variant:
    """One way to fit the probe: which feature columns (None: all), counterfactual copies fitted too, and
    self-training on the unlabelled calls at this confidence (None: none)."""

    name: str
    columns: np.ndarray | None = None
    augment: bool = False
    self_training: float | None = None


class SelfTrained:
    """scikit-learn's ``SelfTrainingClassifier`` (which marks unlabelled rows -1, so classes are coded as integers)
    answering with the class names."""

    def __init__(self, model: SelfTrainingClassifier, classes: np.ndarray):
        self.model, self.classes_ = model, classes

    @property
    def coef_(self) -> np.ndarray:
        return self.model.estimator_.coef_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)


def fit_variant(features: np.ndarray, labels: pd.Series, scaler: StandardScaler, seed: int,
                extra: tuple[np.ndarray, np.ndarray] | None = None, unlabelled: np.ndarray | None = None,
                threshold: float | None = None) -> Probe:
    """The default probe's fit, with ``extra`` ``(features, labels)`` rows fitted alongside, or self-trained on
    ``unlabelled`` at ``threshold``."""
    copies = extra is not None and len(extra[0])
    self_training = threshold is not None and unlabelled is not None and len(unlabelled)
    if not copies and not self_training:
        return fit_probe(features, labels, scaler, seed)
    x, y = scaler.transform(features), labels.to_numpy()
    if copies:
        x, y = np.vstack([x, scaler.transform(extra[0])]), np.concatenate([y, extra[1]])
    if not self_training:
        return Probe(scaler, probe_classifier(y, seed).fit(x, y))
    classes = np.array(sorted(set(y)))
    coded = np.concatenate([np.searchsorted(classes, y), np.full(len(unlabelled), -1)])
    model = SelfTrainingClassifier(probe_classifier(y, seed), threshold=threshold, max_iter=5)
    model.fit(np.vstack([x, scaler.transform(unlabelled)]), coded)
    return Probe(scaler, SelfTrained(model, classes))


def _columns(features: np.ndarray, variant: Variant) -> np.ndarray:
    return features if variant.columns is None else features[:, variant.columns]


def held_out_repeats(features: np.ndarray, labelled: np.ndarray, labels: pd.Series, variant: Variant,
                     augmented: tuple[np.ndarray, np.ndarray] | None = None, repeats: int = 25, folds: int = 4,
                     seed: int = 0):
    """Yield ``(repeat, probabilities)`` per split: every labelled call predicted once, held out.

    Args:
        features: One row per call of the corpus.
        labelled: Row numbers of the labelled calls, in the order of ``labels``.
        labels: The labels fitted on.
        variant: How to fit.
        augmented: Counterfactual copies ``(features, row in labelled of the call each copies)``, with their
            original's label.
        repeats, folds, seed: The repeated stratified splits.

    Yields:
        The repeat number and a ``[labelled calls, sorted classes]`` array.
    """
    x_all = _columns(features, variant)
    scaler = StandardScaler().fit(x_all)
    x = x_all[labelled]
    y = labels.reset_index(drop=True)
    classes = sorted(y.unique())
    unlabelled = np.setdiff1d(np.arange(len(features)), labelled)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    proba = np.zeros((len(y), len(classes)))
    for k, (train, test) in enumerate(splitter.split(x, y)):
        extra = None
        if variant.augment and augmented is not None:
            keep = np.isin(augmented[1], train)
            extra = (_columns(augmented[0], variant)[keep], y.to_numpy()[augmented[1][keep]])
        pool = x_all[np.concatenate([unlabelled, labelled[test]])] if variant.self_training else None
        probe = fit_variant(x[train], y.iloc[train], scaler, seed, extra, pool, variant.self_training)
        proba[test] = pd.DataFrame(probe.predict_proba(x[test]), columns=probe.classes_).reindex(
            columns=classes, fill_value=0.0).to_numpy()
        if k % folds == folds - 1:
            yield k // folds, proba.copy()


def repeated_cv(features: np.ndarray, labelled: np.ndarray, labels: pd.Series, variant: Variant,
                references: dict[str, pd.Series], augmented: tuple[np.ndarray, np.ndarray] | None = None,
                repeats: int = 25, folds: int = 4, seed: int = 0) -> pd.DataFrame:
    """Held-out metrics of one variant per repeat and reference reading (name -> labels in the order of
    ``labels``): ``variant, repeat, reference, macro_f1, negative_f1`` (sentiment, else NaN) and ``brier`` (mean
    over classes of the one-vs-rest Brier score)."""
    classes = sorted(labels.unique())
    rows = []
    for repeat, proba in held_out_repeats(features, labelled, labels, variant, augmented, repeats, folds, seed):
        predicted = np.array(classes)[proba.argmax(axis=1)]
        for name, truth in references.items():
            truth = truth.reset_index(drop=True)
            onehot = label_binarize(truth, classes=classes)
            onehot = np.hstack([1 - onehot, onehot]) if len(classes) == 2 else onehot
            rows.append({
                "variant": variant.name, "repeat": repeat, "reference": name,
                "macro_f1": f1_score(truth, predicted, average="macro", labels=classes, zero_division=0),
                "negative_f1": (f1_score(truth, predicted, labels=["negative"], average="macro", zero_division=0)
                                if "negative" in classes else np.nan),
                "brier": float(np.mean([brier_score_loss(onehot[:, j], proba[:, j]) for j in range(len(classes))])),
            })
    return pd.DataFrame(rows)


def no_model_brier(truth: pd.Series) -> float:
    """The Brier score of predicting the label shares for every call: the reference a model must beat."""
    shares = truth.value_counts(normalize=True)
    return float(np.mean([brier_score_loss((truth == c).astype(int), np.full(len(truth), p))
                          for c, p in shares.items()]))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over repeats per (task,) variant, (reading fitted on,) and reference."""
    keys = [k for k in ("task", "variant", "fitted_on", "reference") if k in results.columns]
    table = results.groupby(keys, sort=False)[["macro_f1", "negative_f1", "brier"]].agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()


def compare_variants(features: np.ndarray, labelled: np.ndarray, readings: dict[str, pd.Series],
                     variants: list[Variant], augmented: tuple[np.ndarray, np.ndarray] | None = None,
                     repeats: int = 25, seed: int = 0) -> pd.DataFrame:
    """Every variant fitted on the first reading of the labels and the default (the first variant) on the others
    too, each scored against every reading; all repeats with a ``fitted_on`` column."""
    parts = []
    for n, (fitted_on, labels) in enumerate(readings.items()):
        for variant in variants if n == 0 else variants[:1]:
            part = repeated_cv(features, labelled, labels, variant, readings, augmented, repeats, seed=seed)
            part.insert(1, "fitted_on", fitted_on)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def variants(task: str, n_columns: int) -> list[Variant]:
    """What is compared for ``task``, the default first: which parts of the call the probe reads, then the
    default's reading with counterfactual copies or self-training."""
    width = n_columns // len(PARTS)
    default = task_columns(task, n_columns)
    parts = " + ".join(TASK_PARTS[task])
    return [
        Variant(f"default: {parts}", columns=default),
        Variant("whole call (mean state)", columns=np.arange(width)),
        Variant("whole call + ending" if TASK_PARTS[task] != PARTS else "ending only",
                columns=np.arange(n_columns) if TASK_PARTS[task] != PARTS else np.arange(width, n_columns)),
        Variant(f"{parts}, counterfactual copies", columns=default, augment=True),
        Variant(f"{parts}, self-training at 0.9", columns=default, self_training=0.9),
    ]


# --- The whole run ----------------------------------------------------------------------------------------------------


@dataclass
class Results:
    """Every repeat of every variant, their summary, the no-model Brier references, the default's flip rates and
    its held-out accuracy by driver."""

    repeats: pd.DataFrame
    summary: pd.DataFrame
    references: pd.DataFrame
    flips: pd.DataFrame
    drivers: pd.DataFrame


def run(calls: list[Call], store: Store, settings: Settings, readings: dict[str, str], drivers: pd.Series,
        repeats: int = 25, seed: int = 0, progress: bool = True) -> Results:
    """Read every call and the counterfactuals with the model (or the store), compare the variants and check the
    default.

    Args:
        readings: Name -> label file (the guideline majority, the client's file).
        drivers: Call driver per call id (``results/call_insights.csv``).
    """
    texts = texts_for_model(calls, settings)
    gold = {name: load_labels(path, known_calls=set(texts)) for name, path in readings.items()}
    swaps = counterfactuals(texts, every_shift=set(next(iter(gold.values())).index))
    swap_texts = {f"{row.file}~{row.shift}": row.text for row in swaps.itertuples()}
    with Classifier(settings, store) as classifier:
        outputs = {cid: rec["output"] for cid, rec, _ in classifier.outputs({**texts, **swap_texts}, progress)}
    ids = list(texts)
    features = {task: np.array([call_features(task_states(outputs[cid], task)) for cid in ids]) for task in TASKS}
    swapped = {task: np.array([call_features(task_states(outputs[key], task)) for key in swap_texts])
               for task in TASKS}
    first = next(iter(gold.values()))
    labelled_ids = [cid for cid in ids if cid in first.index]
    labelled = np.array([ids.index(cid) for cid in labelled_ids])
    copies = swaps["file"].isin(labelled_ids).to_numpy()
    copied_from = np.array([labelled_ids.index(f) for f in swaps["file"][copies]])

    parts, references = [], []
    for task in TASKS:
        task_readings = {name: frame.loc[labelled_ids, task] for name, frame in gold.items()}
        part = compare_variants(features[task], labelled, task_readings, variants(task, features[task].shape[1]),
                                (swapped[task][copies], copied_from), repeats, seed)
        part.insert(0, "task", task)
        parts.append(part)
        references += [{"task": task, "reference": name, "no_model_brier": no_model_brier(labels)}
                       for name, labels in task_readings.items()]
    table = pd.concat(parts, ignore_index=True)

    fitted_on = gold[settings_reading(settings, readings)]
    original, counter, held = {}, {}, {}
    for task in TASKS:
        columns = task_columns(task, features[task].shape[1])
        x = features[task][:, columns]
        labels = fitted_on.loc[labelled_ids, task].reset_index(drop=True)
        scaler = StandardScaler().fit(x)
        probe = fit_probe(x[labelled], labels, scaler, seed)
        original[task] = probe.classes_[probe.predict_proba(x).argmax(axis=1)]
        counter[task] = probe.classes_[probe.predict_proba(swapped[task][:, columns]).argmax(axis=1)]
        proba, _ = cross_validated_probabilities(x[labelled], labels, scaler, seed=seed)
        held[task] = proba.idxmax(axis=1).to_numpy()
    flips = flip_table(pd.DataFrame(original, index=ids), pd.DataFrame({"file": swaps["file"], **counter}))
    held_out = pd.DataFrame(held, index=labelled_ids)
    by_driver = pd.concat({name: accuracy_by_driver(frame.loc[labelled_ids], held_out, drivers)
                           for name, frame in gold.items()}, names=["reference"]).reset_index(level=0)
    return Results(table, summarise(table), pd.DataFrame(references), flips, by_driver)


def settings_reading(settings: Settings, readings: dict[str, str]) -> str:
    """Which of ``readings`` the settings fit on."""
    path = str(settings.labels_file or config.training_labels_file())
    for name, candidate in readings.items():
        if str(candidate) == path:
            return name
    raise ValueError(f"{path}: not among the label readings compared ({', '.join(readings)})")


def write(results: Results, heading: str, results_dir: str | Path = config.RESULTS_DIR,
          doc: str | Path = config.EXPERIMENTS_DOC) -> list[Path]:
    """Write the tables to ``results_dir`` and a section of the experiment log; returns the files written."""
    results_dir = Path(results_dir)
    files = {
        "probe_selection.csv": results.summary, "probe_selection_repeats.csv": results.repeats,
        "brier_reference.csv": results.references, "flip_rates.csv": results.flips,
        "driver_accuracy.csv": results.drivers,
    }
    written = []
    for name, table in files.items():
        write_csv(table.round(4), results_dir / name)
        written.append(results_dir / name)
    written.append(write_section(heading, markdown(results), doc))
    return written


def markdown(results: Results) -> str:
    """The experiment log's section: each variant's held-out figures with their spread, and the flip rates."""
    summary = results.summary
    lines = [
        f"Repeated stratified cross-validation of the probe on the labelled calls "
        f"({int(results.repeats['repeat'].max()) + 1} repeats of 4 folds; mean ± standard deviation over repeats), "
        "fitted on each reading of the labels and scored against both. Written by `make experiments` "
        "(`benchmarks/probe_experiments.py`). A variant is kept only if it beats the default by more than the "
        "spread.", "",
    ]
    for task in TASKS:
        part = summary[summary["task"] == task]
        default = part[part["variant"].str.startswith("default")]
        lines += [f"**{task}**", "", "| variant | fitted on | scored against | macro-F1 | negative F1 | Brier | "
                  "vs default |", "|---|---|---|---|---|---|---|"]
        for row in part.itertuples():
            base = default[(default["fitted_on"] == row.fitted_on) & (default["reference"] == row.reference)]
            gap = row.macro_f1_mean - float(base["macro_f1_mean"].iloc[0])
            spread = max(row.macro_f1_std, float(base["macro_f1_std"].iloc[0]))
            verdict = ("—" if row.variant.startswith("default") else
                       "better by more than the spread" if gap > spread else
                       "worse by more than the spread" if gap < -spread else "within the spread")
            negative = "" if np.isnan(row.negative_f1_mean) else f"{row.negative_f1_mean:.3f} ± {row.negative_f1_std:.3f}"
            lines.append(f"| {row.variant} | {row.fitted_on} | {row.reference} | {row.macro_f1_mean:.3f} ± "
                         f"{row.macro_f1_std:.3f} | {negative} | {row.brier_mean:.3f} | {verdict} |")
        ref = results.references[results.references["task"] == task]
        lines += ["", "No-model Brier (label shares): " + ", ".join(
            f"{r.reference} {r.no_model_brier:.3f}" for r in ref.itertuples()) + ".", ""]
    lines += ["**Counterfactual flip rate** (topic words swapped, the default fitted on all labelled calls): " + "; ".join(
        f"{r.task} {r.flips}/{r.pairs} = {r.flip_rate:.1%} (95% interval {r.low:.1%}-{r.high:.1%})"
        for r in results.flips.itertuples()) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe_experiments", description=(
        "Repeated stratified cross-validation of the probe's variants on the labelled calls (fitted on each label "
        "file, scored against both), the flip rate under topic swaps, and held-out accuracy by call driver."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help="folder of calls")
    parser.add_argument("--model", default=None, help="GGUF path or name (default: as for analyze)")
    parser.add_argument("--repeats", type=int, default=10, help="fold splits per variant (4 folds each)")
    parser.add_argument("--store", default=str(config.STORE_FILE), help="SQLite store of model outputs")
    parser.add_argument("--out-dir", default=str(config.RESULTS_DIR),
                        help="folder for the tables; another than results/ gets the log section as experiments.md")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    readings = {name: str(path) for name, path in (("guideline", config.GUIDELINE_LABELS_FILE),
                                                   ("client", config.LABELS_FILE)) if path.is_file()}
    if not readings:
        print(f"error: no label file in {config.DATA_DIR}; run `make data`", file=sys.stderr)
        return 2
    if not config.INSIGHTS_FILE.is_file():
        print(f"error: {config.INSIGHTS_FILE} is missing (its call drivers give accuracy by driver); run "
              "`python -m callinsights insights` or restore it from git", file=sys.stderr)
        return 2
    drivers = pd.read_csv(config.INSIGHTS_FILE).set_index("file")["topic"]
    try:
        calls, _ = read_calls(args.dir)
        with Store(args.store) as store:
            results = run(calls, store, Settings(model=args.model), readings, drivers, repeats=args.repeats,
                          progress=not args.quiet)
    except (ValueError, FileNotFoundError, ModelError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    doc = config.EXPERIMENTS_DOC if out.resolve() == config.RESULTS_DIR.resolve() else out / "experiments.md"
    for path in write(results, f"{date.today():%Y-%m-%d} · probe variants, flip rate, accuracy by driver", out, doc):
        print(f"wrote {path}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
