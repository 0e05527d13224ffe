"""The probe's experiments, end to end: variants by repeated cross-validation, the topic flip rate, accuracy by driver.

``python -m callinsights experiments`` runs :func:`run` and writes its tables to ``results/`` and the experiment log
(``docs/experiments.md``); notebook 04 shows them and never recomputes them. Every model output comes through the
same :class:`~callinsights.classify.Classifier` and store as the main job, so a re-run reads them back in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from callinsights import config
from callinsights.classify import Classifier, Settings, texts_for_model
from callinsights.counterfactual import counterfactuals
from callinsights.labels import OUTCOMES, SENTIMENTS, load_labels
from callinsights.probe import LAST_TURNS, call_features, fit_probe
from callinsights.robustness import accuracy_by_driver, flip_table
from callinsights.selection import Variant, compare_variants, no_model_brier, summarise
from callinsights.store import Store
from callinsights.transcripts import Turn

TASKS = {"sentiment": SENTIMENTS, "outcome": OUTCOMES}


def variants(width: int) -> list[Variant]:
    """The variants compared, the first being the previous default's feature layout (whole-call mean only is the
    simplest reading; the previous default also read the last turns, in a separate pass)."""
    return [
        Variant("whole-call mean", columns=slice(0, width)),
        Variant(f"whole + last {LAST_TURNS} turns"),
        Variant(f"whole + last {LAST_TURNS}, counterfactual copies", augment=True),
        Variant(f"whole + last {LAST_TURNS}, self-training 0.9", self_training=0.9),
        Variant(f"whole + last {LAST_TURNS}, copies + self-training 0.9", augment=True, self_training=0.9),
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


def run(turns: list[Turn], store: Store, settings: Settings, readings: dict[str, str], drivers: pd.Series,
        repeats: int = 25, seed: int = 0, progress: bool = True) -> Results:
    """Read every call (and its counterfactuals) with the model, then compare the variants and check the default.

    Args:
        turns: Parsed calls.
        store: Output store.
        settings: The probe's settings (the default's).
        readings: Name -> label file (the client's file, the guideline majority).
        drivers: Call driver per call id (notebook 05's topics), for accuracy by driver.
        repeats: Fold splits per variant.
        seed: Seed of the splits.
        progress: Progress bars.
    """
    texts = texts_for_model(turns, settings)
    swaps = counterfactuals(texts)
    swap_texts = {f"{row.file}~{row.shift}": row.text for row in swaps.itertuples()}
    classifier = Classifier(settings, store)
    try:
        outputs = {cid: rec["output"] for cid, rec, _ in classifier.outputs({**texts, **swap_texts}, progress)}
    finally:
        classifier.close()
    ids = list(texts)
    features = np.array([call_features(np.asarray(outputs[cid]["turns"])) for cid in ids])
    swapped = np.array([call_features(np.asarray(outputs[key]["turns"])) for key in swap_texts])
    gold = {name: load_labels(path, known_calls=set(ids)) for name, path in readings.items()}
    first = next(iter(gold.values()))
    labelled_ids = [cid for cid in ids if cid in first.index]
    labelled = np.array([ids.index(cid) for cid in labelled_ids])
    copies = swaps["file"].isin(labelled_ids).to_numpy()
    augmented = (swapped[copies], np.array([labelled_ids.index(f) for f in swaps["file"][copies]]))

    parts, references = [], []
    for task in TASKS:
        task_readings = {name: frame.loc[labelled_ids, task] for name, frame in gold.items()}
        part = compare_variants(features, labelled, task_readings, variants(features.shape[1] // 2), augmented,
                                repeats, seed)
        part.insert(0, "task", task)
        parts.append(part)
        references += [{"task": task, "reference": name, "no_model_brier": no_model_brier(labels)}
                       for name, labels in task_readings.items()]
    table = pd.concat(parts, ignore_index=True)

    fitted_on = gold[settings_reading(settings, readings)]
    original, counter, held = {}, {}, {}
    for task in TASKS:
        labels = fitted_on.loc[labelled_ids, task].reset_index(drop=True)
        extra = (augmented[0], labels.to_numpy()[augmented[1]]) if settings.augment else None
        probe = fit_probe(features[labelled], labels, None, seed, extra)
        original[task] = probe.classes_[probe.predict_proba(features).argmax(axis=1)]
        counter[task] = probe.classes_[probe.predict_proba(swapped).argmax(axis=1)]
    flips = flip_table(pd.DataFrame(original, index=ids), pd.DataFrame({"file": swaps["file"], **counter}))
    return Results(table, summarise(table), pd.DataFrame(references), flips, pd.DataFrame())


def settings_reading(settings: Settings, readings: dict[str, str]) -> str:
    """Which reading of :func:`run`'s ``readings`` the settings fit on."""
    path = str(settings.labels_file or config.training_labels_file())
    for name, candidate in readings.items():
        if str(candidate) == path:
            return name
    raise ValueError(f"{path}: not among the label readings compared ({', '.join(readings)})")
