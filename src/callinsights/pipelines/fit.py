"""``callinsights fit``, and the fitted probe ``callinsights analyze`` labels with.

The probe is fitted on the label file and the data folder's calls (all of them standardise the features) and saved
as a skops artifact. ``analyze`` fits it when there is none; refits, saying why, when the model, the features, what
the model reads or the label file changed (one fit's answers never mix with another's); uses it as made when the
label file is absent; and refuses, never overwriting, a file there that is not a usable artifact. :func:`plan`
checks all of it before any model time.
"""

from __future__ import annotations

import json
import sqlite3
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
from callinsights.data.calls import CALL_SUFFIXES
from callinsights.data.labels import LabelFileError, check_fit, load_labels
from callinsights.data.outputs import check_output_file, digest_record, load_artifact, refuse_overwriting_inputs
from callinsights.data.store import Store, StoreError
from callinsights.data.transcripts import read_calls
from callinsights.llm.models import ModelError

#: What :func:`command` raises for bad input (the command line prints it and exits with status 2).
ERRORS = (FileNotFoundError, ValueError, ModelError, StoreError)


@dataclass
class Plan:
    """What a run needs before it can label with the probe: the saved ``fitted`` when usable as it is, else the
    ``reasons`` to fit now, with the ``gold`` labels and the ``texts`` of every call of ``calls_dir``; ``notes`` are
    what the run should say besides, ``depends_on`` its :func:`callinsights.classify.probe.fingerprint`."""

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
    """Decide whether the saved fit at ``path`` can be used and, when it cannot (or with ``refit``), check
    everything a fit on the calls of ``calls_dir`` (by default the configured data folder's, looked up now) needs.

    Raises:
        FileNotFoundError: No label file (when a fit is needed), or no calls folder.
        callinsights.data.outputs.ArtifactError: A file at ``path`` that is not a usable probe artifact.
        ValueError: The labels cannot be fitted on those calls (the message says why), or ``path`` cannot be written.
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
    """The fit to label with: the saved one, or one fitted now and saved (model time for calls not in ``store``);
    ``say`` receives each line worth telling the user, a new fit's :func:`summary` only with ``say_summary``."""
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
    """An artifact's metadata as indented JSON; the fit is not rebuilt, but the file is checked as for loading
    (FileNotFoundError, :class:`callinsights.data.outputs.ArtifactError`)."""
    artifact = load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, TRUSTED_TYPES, REMEDY)
    return json.dumps(artifact.metadata, indent=2, default=str)


def command(calls_dir: str | Path, labels: str | None, model: str | None, artifact: str | Path, store: str | Path,
            show_only: bool = False, progress: bool = True, say: Callable[[str], None] = lambda line: None) -> str:
    """``callinsights fit``: fit the probe on ``labels`` and the calls of ``calls_dir``, save it at ``artifact``,
    and return its summary (with ``show_only``, the saved artifact's metadata). Raises one of :data:`ERRORS`, naming
    the file or value at fault, and writes nothing then."""
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
