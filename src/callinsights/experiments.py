"""Methods, engines and ablations compared on the hand-labelled calls, always on held-out predictions.

Each configuration labels the calls through the same :class:`callinsights.classify.Classifier` as the main job (so
its outputs are stored and a re-run is cheap). Methods that fit nothing (``score``, ``generate``) are measured on
their plain predictions; the ``probe``, which is fitted on the labelled calls, is measured on cross-validated
predictions only (:func:`callinsights.probe.cross_validated_predictions`), never on its fitted ones.

``benchmarks/experiments.py`` writes the table to ``docs/experiments.md``; notebook 04 shows it.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from callinsights.classify import PROBA_COLUMNS, Classifier, Settings, texts_for_model
from callinsights.evaluate import classification_metrics
from callinsights.labels import OUTCOMES, SENTIMENTS
from callinsights.probe import cross_validated_predictions, feature_matrix
from callinsights.store import Store
from callinsights.transcripts import Turn

#: Configurations compared, by readable name. The whole-call rows are the ablation the client asked about.
CONFIGURATIONS: dict[str, Settings] = {
    "score, raw log-probabilities": Settings(method="score", calibration="none"),
    "score, batch-calibrated": Settings(method="score", calibration="batch"),
    "generate, llama.cpp + grammar": Settings(method="generate"),
    "generate, gpt4all": Settings(method="generate", engine="gpt4all"),
    "probe (cross-validated)": Settings(method="probe"),
    "score, batch-calibrated, whole call": Settings(method="score", calibration="batch", side="call"),
    "probe (cross-validated), whole call": Settings(method="probe", side="call"),
}


def held_out_predictions(name: str, settings: Settings, turns: list[Turn], gold: pd.DataFrame, store: Store,
                         model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, float]:
    """Predictions for the labelled calls under one configuration, held out where anything is fitted.

    Args:
        name: Configuration name (recorded in the result).
        settings: The configuration.
        turns: All parsed turns (only the labelled calls are read).
        gold: Hand labels indexed by call id.
        store: Output store (reused across configurations and runs).
        model: Model override.
        progress: Show a progress bar.

    Returns:
        Predictions indexed by call id with ``sentiment``, ``outcome`` and probability columns, and the mean
        seconds of model time per call.
    """
    settings = replace(settings, model=model)
    # Only the labelled calls are read: the probe's held-out predictions need nothing else, and batch calibration
    # over them is as label-free as over all calls.
    texts = {cid: t for cid, t in texts_for_model(turns, settings).items() if cid in gold.index}
    classifier = Classifier(settings, store)
    try:
        result = classifier.run(texts, progress=progress)
    finally:
        classifier.close()
    seconds = float(result.predictions["seconds"].mean())
    predictions = result.predictions.set_index("file")
    if settings.method == "probe":
        labelled = [cid for cid in gold.index if cid in result.outputs]
        features = feature_matrix([result.outputs[cid] for cid in labelled])
        predictions = pd.DataFrame(index=pd.Index(labelled, name="file"))
        for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
            held = cross_validated_predictions(features, gold.loc[labelled, task])
            predictions[task] = held["prediction"]
            for label in labels:
                predictions[PROBA_COLUMNS[label]] = held[label] if label in held else 0.0
    predictions = predictions.reindex(gold.index)
    predictions["configuration"] = name
    return predictions, seconds


def compare(turns: list[Turn], gold: pd.DataFrame, store: Store, configurations: dict[str, Settings] | None = None,
            model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every configuration's held-out macro-F1 and speed on the labelled calls.

    Returns:
        A table (one row per configuration: sentiment/outcome macro-F1 and accuracy, seconds per call) and each
        configuration's predictions.
    """
    rows, predictions = [], {}
    for name, settings in (configurations or CONFIGURATIONS).items():
        preds, seconds = held_out_predictions(name, settings, turns, gold, store, model, progress)
        predictions[name] = preds
        row = {"configuration": name, "engine": settings.engine, "method": settings.method, "side": settings.side}
        for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
            metrics = classification_metrics(gold[task], preds[task], list(labels))
            row[f"{task}_macro_f1"] = metrics["macro_f1"]
            row[f"{task}_accuracy"] = metrics["accuracy"]
        row["seconds_per_call"] = seconds
        rows.append(row)
    table = pd.DataFrame(rows)
    return table, predictions


def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table for docs/experiments.md."""
    lines = ["| what | held-out sentiment macro-F1 | held-out outcome macro-F1 | seconds per call |",
             "|---|---|---|---|"]
    for row in table.itertuples(index=False):
        lines.append(f"| {row.configuration} | {row.sentiment_macro_f1:.3f} | {row.outcome_macro_f1:.3f} | "
                     f"{row.seconds_per_call:.2f} |")
    return "\n".join(lines)
