"""Methods, engines and ablations compared on the hand-labelled calls, always on held-out predictions.

Each configuration labels the calls through the same :class:`callinsights.classify.runner.Classifier` as the main job (so
its outputs are stored and a re-run is cheap). Methods that fit nothing (``score``, ``generate``) are measured on
their plain predictions; the ``probe``, which is fitted on the labelled calls, is measured on cross-validated
predictions only -- the classifier gives every labelled call a prediction from a probe not fitted on it
(:func:`callinsights.classify.probe.probe_probabilities`) -- never on its fitted ones.

``python -m callinsights evaluate`` (:mod:`callinsights.pipelines.evaluation`) runs the comparison and, on a full run,
keeps it in ``docs/experiments.md`` (:func:`write_markdown`); notebook 04 shows it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from callinsights import config
from callinsights.classify.runner import label_calls
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.evaluation.bootstrap import bootstrap_difference
from callinsights.evaluation.metrics import classification_metrics
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.data.outputs import write_text
from callinsights.data.store import Store
from callinsights.data.call import Call

#: Configurations compared, by readable name. The whole-call rows are the ablation the client asked about.
CONFIGURATIONS: dict[str, Settings] = {
    "score, raw log-probabilities": Settings(method="score", calibration="none"),
    "score, batch-calibrated": Settings(method="score", calibration="batch"),
    "score, reference-calibrated": Settings(method="score", calibration="reference"),
    "generate, llama.cpp + grammar": Settings(method="generate"),
    "generate, gpt4all": Settings(method="generate", engine="gpt4all"),
    "probe (cross-validated)": Settings(method="probe"),
    "score, batch-calibrated, whole call": Settings(method="score", calibration="batch", side="call"),
    "probe (cross-validated), whole call": Settings(method="probe", side="call"),
}

#: The configuration of the main job (``Settings()``): what ``results/predictions.csv`` is labelled with.
DEFAULT_CONFIGURATION = next(name for name, settings in CONFIGURATIONS.items() if settings == Settings())

#: What the previous solution reported for itself. Not re-measured here: it ran Llama 3.2 1B in one chat session
#: shared by all calls (earlier calls leak into later answers), so its numbers are shown apart, never as a row of
#: a computed table.
PREVIOUS_SOLUTION = {
    "system": "previous solution (reported, not re-measured)",
    "model": "Llama 3.2 1B",
    "setup": "one chat session shared by all calls",
    "sentiment_macro_f1": 0.64,
    "outcome_macro_f1": 0.55,
}

#: Where the comparison table is kept for readers of the repository.
EXPERIMENTS_DOC = config.EXPERIMENTS_DOC


def select_configurations(names: list[str] | None = None) -> dict[str, Settings]:
    """The configurations called ``names`` (all of :data:`CONFIGURATIONS` for None), in the table's order.

    Raises:
        ValueError: A name is not a configuration (the message lists them).
    """
    if names is None:
        return dict(CONFIGURATIONS)
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; choose from: {'; '.join(CONFIGURATIONS)}")
    return {name: settings for name, settings in CONFIGURATIONS.items() if name in names}


def held_out_predictions(name: str, settings: Settings, calls: list[Call], gold: pd.DataFrame, store: Store,
                         model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, float]:
    """Predictions for the labelled calls under one configuration, held out where anything is fitted.

    Args:
        name: Configuration name (recorded in the result).
        settings: The configuration.
        calls: All parsed calls (only the labelled calls are read).
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
    texts = {cid: t for cid, t in texts_for_model(calls, settings).items() if cid in gold.index}
    result = label_calls(texts, settings, store, progress=progress)
    seconds = float(result.predictions["seconds"].mean())
    predictions = result.predictions.set_index("file")
    if settings.method == "probe" and not predictions["held_out"].str.startswith("held out").all():
        # A fitted figure must never be reported as held out.
        raise ValueError(f"{name}: some labelled calls were not held out; label more calls of each class")
    predictions = predictions.reindex(gold.index)
    predictions["configuration"] = name
    return predictions, seconds


def compare(calls: list[Call], gold: pd.DataFrame, store: Store, configurations: dict[str, Settings] | None = None,
            model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every configuration's held-out macro-F1 and speed on the labelled calls.

    Returns:
        A table (one row per configuration: sentiment/outcome macro-F1 and accuracy, seconds per call) and each
        configuration's predictions.
    """
    rows, predictions = [], {}
    for name, settings in (configurations or CONFIGURATIONS).items():
        preds, seconds = held_out_predictions(name, settings, calls, gold, store, model, progress)
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


def ablation_table(gold: pd.DataFrame, predictions: dict[str, pd.DataFrame], n_boot: int = 2000, seed: int = 0
                   ) -> pd.DataFrame:
    """Whole call against customer side only: each whole-call configuration beside its customer-side twin.

    The difference is whole call minus customer side, with a paired bootstrap interval
    (:func:`callinsights.evaluation.bootstrap.bootstrap_difference`); pairs with either side missing from ``predictions`` are
    left out.

    Returns:
        One row per pair and task: ``customer_side, whole_call, task, customer_macro_f1, whole_call_macro_f1,
        difference, low, high``.
    """
    rows = []
    for whole, settings in CONFIGURATIONS.items():
        if settings.side != "call":
            continue
        twin = next((name for name, s in CONFIGURATIONS.items() if s == replace(settings, side="customer")), None)
        if twin is None or twin not in predictions or whole not in predictions:
            continue
        for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
            y_true = gold[task]
            a, b = predictions[whole][task].reindex(gold.index), predictions[twin][task].reindex(gold.index)
            difference, low, high = bootstrap_difference(y_true, a, b, "macro_f1", list(labels), n_boot, seed)
            rows.append({
                "customer_side": twin, "whole_call": whole, "task": task,
                "customer_macro_f1": classification_metrics(y_true, b, list(labels))["macro_f1"],
                "whole_call_macro_f1": classification_metrics(y_true, a, list(labels))["macro_f1"],
                "difference": difference, "low": low, "high": high,
            })
    return pd.DataFrame(rows, columns=["customer_side", "whole_call", "task", "customer_macro_f1",
                                       "whole_call_macro_f1", "difference", "low", "high"])


def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table for docs/experiments.md (``DataFrame.to_markdown``, via tabulate)."""
    shown = table[["configuration", "sentiment_macro_f1", "outcome_macro_f1", "seconds_per_call"]].set_axis(
        ["what", "held-out sentiment macro-F1", "held-out outcome macro-F1", "seconds per call"], axis=1)
    return shown.to_markdown(index=False, floatfmt=("", ".3f", ".3f", ".2f"))


def write_markdown(table: pd.DataFrame, heading: str, note: str = "", path: str | Path = EXPERIMENTS_DOC) -> Path:
    """Put the comparison into a Markdown file under ``## heading``, replacing a section of that heading.

    Sections with other headings (earlier dates, other models) are kept, so the file is a log of comparisons.

    Args:
        table: Output of :func:`compare`.
        heading: Section heading, e.g. ``"2026-11-25 · SmolLM2-135M-Instruct.Q4_1.gguf"``.
        note: A paragraph printed between the heading and the table.
        path: The Markdown file (created with a title when missing).

    Returns:
        The file written.
    """
    return write_section(heading, (f"{note.strip()}\n\n" if note.strip() else "") + markdown_table(table), path)


def write_section(heading: str, body: str, path: str | Path = EXPERIMENTS_DOC) -> Path:
    """Put ``body`` into a Markdown file under ``## heading``, replacing a section of that heading and keeping the
    others (the file is a log).

    Returns:
        The file written.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else (
        "# Experiments\n\nMethods, engines and ablations compared on the hand-labelled calls, always on held-out "
        "predictions (`callinsights.pipelines.experiments`, run by `python -m callinsights evaluate` and shown in "
        "notebook 04).\n"
    )
    section = f"## {heading}\n\n{body.strip()}\n"
    same = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if same.search(text):
        text = same.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return path
