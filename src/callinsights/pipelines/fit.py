"""``callinsights fit``, and the fitted probe ``callinsights analyze`` labels with.

The default method is fitted once, on the label file and the calls it names, read from the data folder (every call
of that folder is used to standardise the features, as a run on that folder always did), and saved as a skops
artifact (:data:`callinsights.config.ARTIFACT_FILE`). ``analyze`` on any folder labels with it:

- no artifact yet: it is fitted first, and the run says so;
- the model file, the feature definition, what the model reads or the label file differ from the fit's: the run
  says what changed and refits, so one fit's answers are never mixed with another's features or labels;
- the label file is not there at all (someone given the artifact without the labels): the artifact is used as it
  was made, and the run says so;
- a file there that is not a usable artifact: an error naming it, before any model time (it is never overwritten,
  it may be someone's).

Everything that can fail is checked by :func:`plan` before any model time; :func:`fitted_probe` then does the work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from callinsights import config
from callinsights.classify.probe import (ARTIFACT_FORMAT, ARTIFACT_KIND, REMEDY, TRUSTED_TYPES, FittedProbe,
                                           fingerprint, fit_from_outputs, load_fitted, save_fitted, stale_reasons)
from callinsights.classify.runner import Classifier
from callinsights.classify.methods import Setup, prepare
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.outputs import load_artifact
from callinsights.data.labels import LabelFileError, check_fit, load_labels
from callinsights.data.calls import CALL_SUFFIXES
from callinsights.data.outputs import check_output_file, digest_record, refuse_overwriting_inputs
from callinsights.data.store import Store, StoreError
from callinsights.data.transcripts import read_calls
from callinsights.llm.models import ModelError

#: What :func:`command` raises for bad input (the command line prints it and exits with status 2).
ERRORS = (FileNotFoundError, ValueError, ModelError, StoreError)


@dataclass
class Plan:
    """What a run needs before it can label with the probe, all checked before any model time.

    Attributes:
        setup: How calls are labelled, checked, with the model resolved.
        path: The artifact.
        fitted: The saved fit, when it can be used as it is.
        reasons: Why it must be fitted now (empty when ``fitted`` is used).
        notes: What the run should say besides (e.g. the label file is missing and the fit is used as made).
        depends_on: The run's :func:`callinsights.classify.probe.fingerprint`.
        calls_dir: The folder the fit reads its calls from.
        gold: The labels to fit on (when fitting).
        texts: Call id -> text the model reads, of every call of ``calls_dir`` (when fitting).
    """

    setup: Setup
    path: Path
    fitted: FittedProbe | None = None
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    depends_on: dict[str, Any] = field(default_factory=dict)
    calls_dir: Path = config.TRANSCRIPTS_DIR
    gold: pd.DataFrame | None = None
    texts: dict[str, str] = field(default_factory=dict)


def plan(settings: Settings | Setup, path: str | Path = config.ARTIFACT_FILE, calls_dir: str | Path | None = None,
         refit: bool = False) -> Plan:
    """Decide whether the saved fit can be used, and when it cannot, check everything a fit needs.

    Args:
        settings: How calls are labelled (model, engine, side, redaction, label file).
        path: The artifact.
        calls_dir: Where the fit reads the labelled calls (and the others, for the scaling); by default the
            configured data folder's calls, looked up at call time (the tests point it at a smaller folder).
        refit: Fit even when the saved fit is usable (``callinsights fit``).

    Raises:
        FileNotFoundError: No label file (when a fit is needed), or no calls folder.
        callinsights.data.outputs.ArtifactError: A file at ``path`` that is not a usable probe artifact.
        ValueError: The labels cannot be fitted on the calls of ``calls_dir`` (the message says why), or ``path``
            cannot be written.
    """
    setup = prepare(settings)
    settings = setup.settings
    labels_file = Path(settings.labels_file or config.training_labels_file())
    result = Plan(setup, Path(path), calls_dir=Path(calls_dir or config.TRANSCRIPTS_DIR),
                  depends_on=fingerprint(settings, setup.model, labels_file))
    if refit:
        result.reasons = ["asked to fit"]
    elif not result.path.is_file():
        result.reasons = [f"no fitted probe at {result.path} yet"]
    else:
        result.fitted = load_fitted(result.path)
        result.reasons = stale_reasons(result.fitted.metadata, result.depends_on)
        if not result.reasons and not digest_record(result.path).is_file():
            result.notes.append(f"{result.path}: no SHA-256 recorded beside it ({digest_record(result.path).name}), "
                                "so a change to it since its fit cannot be noticed; `python -m callinsights fit "
                                f"--artifact {result.path}` refits it with one")
        if result.depends_on["labels"]["sha256"] is None and not result.reasons:
            if settings.labels_file:  # asked for by name: a typo must not pass unnoticed
                raise FileNotFoundError(f"{labels_file}: no label file here (--labels)")
            was = result.fitted.metadata.get("labels", {})
            result.notes.append(f"no label file at {labels_file}: labelling with the probe in {result.path} as it "
                                f"was fitted ({was.get('n')} labelled calls of {was.get('file')}, "
                                f"{result.fitted.metadata.get('created')})")
    if result.reasons:
        result.fitted = None
        _check_fit_inputs(result, labels_file)
    return result


def _check_fit_inputs(result: Plan, labels_file: Path) -> None:
    """Read and check what a fit needs: the labels, the calls, and that the artifact can be written."""
    try:
        result.gold = load_labels(labels_file)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} The default method, probe, is fitted on hand labels; without them use "
                                "--method score.") from None
    if not result.calls_dir.is_dir():
        raise FileNotFoundError(f"{result.calls_dir}: no calls folder to fit the probe on; run `make data`, or "
                                "give `callinsights fit` the folder of the labelled calls")
    calls, report = read_calls(result.calls_dir)
    result.notes.append(f"fit reads {result.calls_dir}: {report.summary()}")
    result.texts = texts_for_model(calls, result.setup.settings)
    problems = check_fit(result.gold, result.texts, labels_file)
    if problems:
        raise LabelFileError("\n".join(problems) + f"\n(the probe is fitted on the calls of {result.calls_dir}; "
                             "`callinsights fit DIR` fits on another folder)")
    check_output_file(result.path, "--artifact")


def fitted_probe(planned: Plan, store: Store, progress: bool = True,
                 say: Callable[[str], None] = lambda line: None, say_summary: bool = True) -> FittedProbe:
    """The fit to label with: the saved one, or one fitted now and saved (model time for calls not in the store).

    Args:
        planned: From :func:`plan`.
        store: Model outputs are read from it, and those computed now are kept in it.
        progress: Show a progress bar while the fit's calls are read.
        say: Receives each line worth telling the user.
        say_summary: Include the summary of a new fit (:func:`summary`).
    """
    for note in planned.notes:
        say(note)
    if not planned.reasons:
        return planned.fitted
    say("fitting the probe: " + "; ".join(planned.reasons))
    with Classifier(planned.setup, store, read_labels=False) as classifier:
        records = classifier.outputs(planned.texts, progress)
        texts_read = classifier.texts_read  # a call longer than the context is fitted on its window, as labelled
    outputs = {cid: record["output"] for cid, record, _ in records}
    fitted = fit_from_outputs(outputs, texts_read, planned.gold, planned.depends_on["labels"]["file"],
                              where=f"the calls of {planned.calls_dir}", depends_on=planned.depends_on)
    fitted.metadata["scaled_on"]["folder"] = str(planned.calls_dir)
    save_fitted(fitted, planned.path)
    if say_summary:
        say(summary(fitted, planned.path))
    return fitted


def summary(fitted: FittedProbe, path: str | Path) -> str:
    """One paragraph: what was fitted on what, and how it did held out."""
    meta = fitted.metadata
    scores = ", ".join(f"{task} {m['macro_f1']:.3f}" for task, m in meta["held_out_metrics"].items())
    return (f"fitted the probe on {meta['labels']['n']} labelled calls of {meta['labels']['file']} (features "
            f"standardised on {meta['scaled_on']['calls']} calls of {meta['scaled_on'].get('folder', 'the run')}), "
            f"model {meta['model']['name']}; held-out ({fitted.scheme}) macro-F1 {scores} -> {path}")


def show(path: str | Path = config.ARTIFACT_FILE) -> str:
    """An artifact's metadata as indented JSON (the fit is not rebuilt, but the file is checked as for loading).

    Raises:
        FileNotFoundError: No file.
        callinsights.data.outputs.ArtifactError: Not a usable probe artifact.
    """
    artifact = load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, TRUSTED_TYPES, REMEDY)
    return json.dumps(artifact.metadata, indent=2, default=str)


def command(calls_dir: str | Path, labels: str | None, model: str | None, artifact: str | Path, store: str | Path,
            show_only: bool = False, progress: bool = True, say: Callable[[str], None] = lambda line: None) -> str:
    """``callinsights fit``: fit the probe on ``labels`` and the calls of ``calls_dir``, save it at ``artifact``.

    Returns:
        What to print: the fit's summary (or with ``show_only``, the saved artifact's metadata).

    Raises:
        One of :data:`ERRORS`, the message naming the file or value at fault; nothing is written then.
    """
    import sqlite3

    if show_only:
        return show(artifact)
    refuse_overwriting_inputs({"--artifact": artifact, "--store": store},
                              {"DIR": calls_dir or config.TRANSCRIPTS_DIR, "--store": store,
                               ("--labels" if labels else "the label file"): labels or config.training_labels_file()},
                              CALL_SUFFIXES)
    check_output_file(store, "--store")
    planned = plan(Settings(model=model, labels_file=labels), artifact, calls_dir, refit=True)
    try:
        with Store(store) as opened:
            fitted = fitted_probe(planned, opened, progress, say, say_summary=False)
    except sqlite3.Error as err:
        raise StoreError(f"{store}: the prediction store failed ({err}); move it aside and run again") from None
    return summary(fitted, artifact)
