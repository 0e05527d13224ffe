"""The probe's experiments, end to end: variants by repeated cross-validation, the topic flip rate, accuracy by driver.

``python -m callinsights experiments`` runs :func:`run` and writes its tables to ``results/`` and the experiment log
(``docs/experiments.md``); notebook 04 shows them and never recomputes them. Every model output comes through the
same :class:`~callinsights.classify.runner.Classifier` and store as the main job, so a re-run reads them back in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from callinsights import config
from callinsights.classify.runner import Classifier, Settings, texts_for_model
from callinsights.text.counterfactual import counterfactuals
from callinsights.data.labels import load_labels
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.classify.probe import (PARTS, TASK_PARTS, call_features, cross_validated_probabilities, fit_probe,
                                         task_columns, task_states)
from callinsights.evaluation.robustness import accuracy_by_driver, flip_table
from callinsights.classify.selection import Variant, compare_variants, no_model_brier, summarise
from callinsights.data.outputs import write_csv
from callinsights.data.store import Store
from callinsights.pipelines.evaluation import write_section
from callinsights.data.call import Call

TASKS = {"sentiment": SENTIMENTS, "outcome": OUTCOMES}


def variants(task: str, n_columns: int) -> list[Variant]:
    """The variants compared for ``task``: which parts of the call the probe reads, then the default's reading
    with counterfactual copies or with self-training on the unlabelled calls. The default comes first."""
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


@dataclass
class Results:
    """What :func:`run` measured.

    Attributes:
        repeats: Every repeat of every variant (task, variant, fitted_on, repeat, reference, metrics).
        summary: Mean and spread per task, variant, reading fitted on and reference.
        references: No-model Brier score per task and reading.
        flips: Flip rate per task for the default.
        drivers: Held-out accuracy per driver for the default.
    """

    repeats: pd.DataFrame
    summary: pd.DataFrame
    references: pd.DataFrame
    flips: pd.DataFrame
    drivers: pd.DataFrame


def run(calls: list[Call], store: Store, settings: Settings, readings: dict[str, str], drivers: pd.Series,
        repeats: int = 25, seed: int = 0, progress: bool = True) -> Results:
    """Read every call (and its counterfactuals) with the model, then compare the variants and check the default.

    Args:
        calls: Parsed calls.
        store: Output store.
        settings: The probe's settings (the default's).
        readings: Name -> label file (the client's file, the guideline majority).
        drivers: Call driver per call id (notebook 05's topics), for accuracy by driver.
        repeats: Fold splits per variant.
        seed: Seed of the splits.
        progress: Progress bars.
    """
    texts = texts_for_model(calls, settings)
    gold = {name: load_labels(path, known_calls=set(texts)) for name, path in readings.items()}
    swaps = counterfactuals(texts, every_shift=set(next(iter(gold.values())).index))
    swap_texts = {f"{row.file}~{row.shift}": row.text for row in swaps.itertuples()}
    with Classifier(settings, store) as classifier:
        outputs = {cid: rec["output"] for cid, rec, _ in classifier.outputs({**texts, **swap_texts}, progress)}
    ids = list(texts)
    # Each task's full feature layout (whole call and ending) from the states it reads (probe.STATES_KEYS).
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
    """Which reading of :func:`run`'s ``readings`` the settings fit on."""
    path = str(settings.labels_file or config.training_labels_file())
    for name, candidate in readings.items():
        if str(candidate) == path:
            return name
    raise ValueError(f"{path}: not among the label readings compared ({', '.join(readings)})")


def write(results: Results, heading: str, results_dir=config.RESULTS_DIR, doc=config.EXPERIMENTS_DOC) -> list:
    """Write the tables to ``results_dir`` and a section of the experiment log.

    Returns:
        The files written.
    """
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
    """The experiment log's section: the variants' held-out figures with their spread, and the checks."""
    summary = results.summary
    lines = [
        f"Repeated stratified cross-validation of the probe on the labelled calls "
        f"({int(results.repeats['repeat'].max()) + 1} repeats of 4 folds; mean ± standard deviation over repeats), "
        "fitted on each reading of the labels and scored against both. Written by `python -m callinsights "
        "experiments` (`callinsights.pipelines.label_experiments`). A variant is kept only if it beats the default by more "
        "than the spread.", "",
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
    flips = results.flips
    lines += ["**Counterfactual flip rate** (topic words swapped, the default fitted on all labelled calls): " + "; ".join(
        f"{r.task} {r.flips}/{r.pairs} = {r.flip_rate:.1%} (95% interval {r.low:.1%}-{r.high:.1%})"
        for r in flips.itertuples()) + ".", ""]
    return "\n".join(lines)
