"""Fitting the default method (the probe) from stored model outputs, and keeping the fit as an artifact.

One fit serves every later run: ``callinsights fit`` reads the model's outputs for every call of the data folder,
standardises the features on all of them (their text is ours to use, only their labels are not), fits the probe of
each task on the labelled calls, and gives each labelled call held-out probabilities (from a probe not fitted on
it). :func:`callinsights.classify.probe_labels.label_with_probe` then labels any folder with that fit. A run may
also fit on its own labelled calls (:func:`fit_from_outputs` on the run's outputs), which is what the experiments
do.

The fit is saved with skops (:mod:`callinsights.data.artifacts`) under :data:`ARTIFACT_KIND`, with what it depends
on (:func:`fingerprint`): a later run compares that with its own and refits when the model, the feature
definition, what the model reads or the label file changed (:func:`stale_reasons`), so predictions of one fit are
never mixed with the features or labels of another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

from callinsights.classify.probe import (FEATURES_VERSION, Probe, cross_validated_probabilities, fit_probe,
                                         task_features)
from callinsights.classify.settings import Settings, prompt_version
from callinsights.data.artifacts import ArtifactError, file_sha256, load_artifact, package_versions, save_artifact
from callinsights.data.store import text_hash
from callinsights.llm.models import ModelInfo
from callinsights.schema import TASKS

#: What a probe artifact is called inside the file, and the layout of its payload (a new layout, a new number).
ARTIFACT_KIND = "callinsights-probe"
ARTIFACT_FORMAT = 1
#: The types a probe artifact holds beyond skops' own safe set: the inner folds of ``LogisticRegressionCV``.
#: Anything else in a file is refused when it is loaded.
TRUSTED_TYPES = ("sklearn.model_selection._split.StratifiedKFold",)
#: Said after every problem with an artifact.
REMEDY = ("Fit a new one with `python -m callinsights fit`, or move the file aside: analyze fits one when there is "
          "none.")


@dataclass
class TaskFit:
    """The probe of one task and the held-out probabilities of the labelled calls it was fitted on.

    Attributes:
        probe: The probe fitted on every labelled call.
        held_out: One row per labelled call (index: call id), one column per label of the task; each row from a
            probe not fitted on that call.
        scheme: How they were held out (``"4-fold"`` or ``"leave-one-out"``).
    """

    probe: Probe
    held_out: pd.DataFrame
    scheme: str


@dataclass
class FittedProbe:
    """The default method, fitted: what labels a run's calls.

    Attributes:
        tasks: Each task's fit.
        fitted_texts: Labelled call id -> hash of the text it was fitted on: its held-out answer belongs to that
            text only.
        metadata: What the fit depends on (:func:`fingerprint`), the labelled calls, held-out metrics, and once
            saved the date and package versions.
    """

    tasks: dict[str, TaskFit]
    fitted_texts: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def labels_name(self) -> str:
        """The label file's name (for the note in the ``raw`` column)."""
        return Path(self.metadata.get("labels", {}).get("file", "labels")).name

    @property
    def scheme(self) -> str:
        """How the labelled calls' answers were held out, over the tasks."""
        return " / ".join(sorted({fit.scheme for fit in self.tasks.values()}))


def fingerprint(settings: Settings, model: ModelInfo, labels_file: str | Path) -> dict[str, Any]:
    """What a fit depends on besides its calls: the model file, the engine, the feature definition, what the model
    reads (side, redaction) and the label file (its path, and its SHA-256 when it exists; None when it does not)."""
    labels_file = Path(labels_file).absolute()  # a relative path in a shared artifact would say nothing
    return {
        "model": {"name": model.name, "sha256": model.sha256},
        "engine": settings.engine,
        "features_version": FEATURES_VERSION,
        "reads": prompt_version(settings),
        "labels": {"file": str(labels_file),
                   "sha256": file_sha256(labels_file) if labels_file.is_file() else None},
    }


def stale_reasons(saved: dict[str, Any], current: dict[str, Any], labels: bool = True) -> list[str]:
    """Why a fit with metadata ``saved`` does not fit a run with fingerprint ``current`` (empty: it does).

    Args:
        saved: The fit's metadata.
        current: :func:`fingerprint` of the run.
        labels: Compare the label files too. A label file that does not exist now (``current["labels"]["sha256"]``
            None) is never a reason: the fit is then used as it was made (the caller says so).

    Returns:
        One line per difference, saying what it was then and what it is now.
    """
    reasons = []
    was, now = saved.get("model", {}), current["model"]
    if was.get("sha256") != now["sha256"]:
        reasons.append(f"model: fitted with {was.get('name')} (sha256 {str(was.get('sha256'))[:12]}), this run uses "
                       f"{now['name']} (sha256 {now['sha256'][:12]})")
    if saved.get("features_version") != current["features_version"]:
        reasons.append(f"features: fitted on FEATURES_VERSION {saved.get('features_version')!r}, this version "
                       f"computes {current['features_version']!r}")
    for key, what in (("reads", "what the model reads"), ("engine", "engine")):
        if saved.get(key) != current[key]:
            reasons.append(f"{what}: fitted with {saved.get(key)!r}, this run uses {current[key]!r}")
    was, now = saved.get("labels", {}), current["labels"]
    if labels and now["sha256"] is not None and was.get("sha256") != now["sha256"]:
        if Path(str(was.get("file"))).resolve() == Path(now["file"]).resolve():
            reasons.append(f"label file: {now['file']} changed since the fit (sha256 {str(was.get('sha256'))[:12]} "
                           f"then, {now['sha256'][:12]} now)")
        else:
            reasons.append(f"label file: fitted on {was.get('file')}, this run fits on {now['file']} (other "
                           "content)")
    return reasons


def fit_from_outputs(outputs: dict[str, dict], texts: dict[str, str], gold: pd.DataFrame,
                     labels_file: str | Path, where: str = "the calls analysed",
                     depends_on: dict[str, Any] | None = None) -> FittedProbe:
    """Fit the probe of each task on the labelled calls among ``outputs``.

    Args:
        outputs: Call id -> stored probe output (``{"turns": ...}``) of every call the features are standardised
            on, in a fixed order (the fit depends on it only through floating-point rounding).
        texts: Call id -> the text the model read (its hash marks which text a held-out answer belongs to).
        gold: Hand labels indexed by call id (:func:`callinsights.data.labels.load_labels`).
        labels_file: Where ``gold`` was read (recorded, and named in messages).
        where: The calls, as named in the message when none is labelled.
        depends_on: The run's :func:`fingerprint`, recorded in the metadata.

    Raises:
        ValueError: No labelled call among ``outputs``, or too few of a class for the probe.
    """
    ids = list(outputs)
    read = [outputs[cid] for cid in ids]
    known = np.isin(ids, gold.index)
    if not known.any():
        raise ValueError(f"{labels_file}: none of its calls is among {where}, so the probe cannot be fitted; "
                         "use --method score, or include labelled calls")
    labelled = [cid for cid, k in zip(ids, known) if k]
    tasks, metrics = {}, {}
    for task, labels in TASKS.items():
        x = task_features(read, task)
        scaler = StandardScaler().fit(x)
        truth = gold.loc[labelled, task].reset_index(drop=True)
        probe = fit_probe(x[known], truth, scaler)
        held, scheme = cross_validated_probabilities(x[known], truth, scaler)
        held = held.reindex(columns=list(labels), fill_value=0.0).set_axis(labelled, axis=0)
        tasks[task] = TaskFit(probe, held, scheme)
        predicted = held.idxmax(axis=1).to_numpy()
        metrics[task] = {"macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
                         "accuracy": float(accuracy_score(truth, predicted)), "n": len(labelled), "scheme": scheme}
    hashes = [text_hash(texts[cid]) for cid in ids]
    depends_on = depends_on or {}
    metadata = {
        **depends_on,
        "features_version": FEATURES_VERSION,
        "labels": {**depends_on.get("labels", {}), "file": str(labels_file), "calls": labelled, "n": len(labelled)},
        # Which texts the features were standardised on, as one digest: a later fit on other calls is told apart.
        "scaled_on": {"calls": len(ids),
                      "texts_sha256": hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()},
        "held_out_metrics": metrics,
    }
    return FittedProbe(tasks, {cid: h for cid, h, k in zip(ids, hashes, known) if k}, metadata)


def save_fitted(fitted: FittedProbe, path: str | Path) -> Path:
    """Save a fit as a skops artifact, stamping its metadata with the date and the package versions."""
    fitted.metadata["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fitted.metadata["versions"] = package_versions()
    payload = {
        "labelled": list(fitted.fitted_texts),
        "text_hashes": list(fitted.fitted_texts.values()),
        "tasks": {task: {"scaler": fit.probe.scaler, "model": fit.probe.model, "labels": list(fit.held_out.columns),
                         "held_out": fit.held_out.to_numpy(), "scheme": fit.scheme}
                  for task, fit in fitted.tasks.items()},
    }
    return save_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, fitted.metadata, payload)


def load_fitted(path: str | Path) -> FittedProbe:
    """Load a fit saved by :func:`save_fitted` (only the types of :data:`TRUSTED_TYPES` beyond skops' safe set).

    Raises:
        FileNotFoundError: No file.
        callinsights.data.artifacts.ArtifactError: Not a usable probe artifact (the message says what to do).
    """
    artifact = load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, TRUSTED_TYPES, REMEDY)
    payload = artifact.payload
    try:
        labelled = list(payload["labelled"])
        tasks = {
            task: TaskFit(Probe(part["scaler"], part["model"]),
                          pd.DataFrame(np.asarray(part["held_out"], dtype=np.float64), index=labelled,
                                       columns=list(part["labels"])), str(part["scheme"]))
            for task, part in payload["tasks"].items()
        }
        fitted_texts = dict(zip(labelled, payload["text_hashes"], strict=True))
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(f"{path}: its payload is incomplete ({type(err).__name__}: {err}). {REMEDY}") from None
    if set(tasks) != set(TASKS):
        raise ArtifactError(f"{path}: fits tasks {sorted(tasks)}, not {sorted(TASKS)}. {REMEDY}")
    return FittedProbe(tasks, fitted_texts, artifact.metadata)
