"""A linear probe on the local LLM's hidden states: the ``probe`` method.

The embedded 135M model barely follows instructions, but its hidden states still encode what the customer said: a
regularised logistic regression reads the call's pooled turn states, fitted on the hand-labelled calls, and its
quality is only ever reported held out (:func:`cross_validated_probabilities`).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import accuracy_score, f1_score

from callinsights import config
from callinsights.classify.settings import Settings, assign_probabilities
from callinsights.data.labels import HELD_OUT_FOLDS, MIN_FIT_CALLS, held_out_splitter
from callinsights.data.outputs import ArtifactError, file_sha256, load_artifact, package_versions, save_artifact
from callinsights.data.store import text_hash
from callinsights.llm.base import BLOCK_STATES
from callinsights.llm.engines import ENGINES
from callinsights.llm.models import ModelInfo
from callinsights.schema import TASKS
from callinsights.text.redact import PLACEHOLDERS, redact

#: Customer turns that make the "how the call ends" part of the features.
LAST_TURNS = 3
#: Regularisation strengths searched inside each training fold.
C_GRID = (0.01, 0.1, 1.0)
#: Newton-CG reaches the same optimum as lbfgs in a tenth of the time on these wide, few-row problems (0.15 s against
#: 1.2 s for three strengths on 30 calls x 1,152 features), which matters for repeated cross-validation.
SOLVER = "newton-cg"
#: Which part of :func:`call_features` each task reads. Sentiment reads how the call ends, as the guideline weighs
#: it ("weighing most how they feel by the end"), which also keeps the call's topic, stated at the start, out of
#: it; the outcome reads the whole call too, since what is pending is often said mid-call. Chosen by repeated
#: cross-validation (``docs/experiments.md``).
TASK_PARTS: dict[str, tuple[str, ...]] = {"sentiment": ("ending",), "outcome": ("whole", "ending")}
PARTS = ("whole", "ending")


#: Where each task's per-turn states are in a stored probe output. Sentiment reads an earlier layer's states when
#: the run computed them (``Settings.sentiment_blocks``: the first blocks of the model read the customer's mood
#: better than the last layer, ``docs/experiments.md`` item 9), else the last layer's, as the outcome always does.
STATES_KEYS: dict[str, tuple[str, ...]] = {"sentiment": ("sentiment_turns", "turns"), "outcome": ("turns",)}
#: The stored feature definition: a new pooling or layout must get a new name, so no stale output is reused.
FEATURES_VERSION = "turns-v1"


def sentiment_block(settings: Settings) -> int | None:
    """The block the probe reads sentiment after, where the engine reads earlier blocks (None: the last layer)."""
    blocks = config.SENTIMENT_BLOCKS if settings.sentiment_blocks is None else settings.sentiment_blocks
    return blocks if blocks and BLOCK_STATES in ENGINES[settings.engine].capabilities else None


def features_read(settings: Settings) -> str:
    """The probe's stored version: the features, the sentiment block they are read after, what the model reads."""
    block = sentiment_block(settings)
    return f"features-{FEATURES_VERSION}" + (f"+sentiment-blocks-{block}" if block else "") + settings.reads


def task_states(output: dict, task: str) -> np.ndarray:
    """The per-turn states ``task`` reads from one stored probe output (see :data:`STATES_KEYS`)."""
    key = next(k for k in STATES_KEYS[task] if k in output)
    return np.asarray(output[key], dtype=np.float64)


def task_features(outputs: list[dict], task: str) -> np.ndarray:
    """One row per stored probe output: the columns of :func:`call_features` that ``task`` reads."""
    rows = np.array([call_features(task_states(out, task)) for out in outputs])
    return rows[:, task_columns(task, rows.shape[1])]


def call_features(turn_states: np.ndarray, last: int = LAST_TURNS) -> np.ndarray:
    """The token-weighted mean state of all turns, then that of the last ``last`` turns, from a call's per-turn
    states (a row per turn: its mean hidden state, then its token count, as ``embed_turns`` returns them)."""
    states, weights = turn_states[:, :-1], np.maximum(turn_states[:, -1], 1.0)
    whole = np.average(states, axis=0, weights=weights)
    ending = np.average(states[-last:], axis=0, weights=weights[-last:])
    return np.concatenate([whole, ending])


def task_columns(task: str, n_columns: int) -> np.ndarray:
    """Column numbers of :func:`call_features`'s ``n_columns`` that ``task`` reads (see :data:`TASK_PARTS`)."""
    width = n_columns // len(PARTS)
    return np.concatenate([np.arange(width) + PARTS.index(part) * width for part in TASK_PARTS[task]])


def turn_features(turn_states: np.ndarray) -> np.ndarray:
    """Each turn read on its own, in the layout of :func:`call_features` (the turn is both "whole" and "ending"),
    so a probe fitted on calls scores single turns: the call's trajectory and its evidence."""
    states = turn_states[:, :-1]
    return np.hstack([states, states])


@dataclass(frozen=True)
class Probe:
    """A fitted probe: the scaler (fitted on every call's features, labels unseen) and the logistic regression."""

    scaler: StandardScaler
    model: LogisticRegression | LogisticRegressionCV

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.scaler.transform(features))


def probe_classifier(labels: np.ndarray, seed: int) -> LogisticRegression | LogisticRegressionCV:
    """The probe's unfitted logistic regression, classes weighted inversely to their frequency (4 negative calls of
    40 would otherwise never be predicted), C chosen by inner cross-validation on log-loss where every class allows."""
    smallest = int(pd.Series(labels).value_counts().min())
    if smallest < 2:
        return LogisticRegression(C=0.1, class_weight="balanced", solver=SOLVER, max_iter=5000)
    return LogisticRegressionCV(
        Cs=list(C_GRID), cv=StratifiedKFold(min(3, smallest), shuffle=True, random_state=seed),
        class_weight="balanced", scoring="neg_log_loss", solver=SOLVER, max_iter=5000, use_legacy_attributes=False,
        l1_ratios=(0.0,),
    )


def fit_probe(features: np.ndarray, labels: pd.Series, scaler: StandardScaler | None = None, seed: int = 0) -> Probe:
    """Fit a probe on labelled calls (``scaler``: fitted on every call's features, labelled or not; default: on
    ``features``); ValueError for fewer than two classes or :data:`MIN_FIT_CALLS` calls."""
    if labels.nunique() < 2 or len(labels) < MIN_FIT_CALLS:
        raise ValueError(
            f"the probe needs at least {MIN_FIT_CALLS} labelled calls of at least two classes (got {len(labels)} "
            f"calls, classes {sorted(labels.unique())}); add labels to the label file or use --method score"
        )
    scaler = scaler or StandardScaler().fit(features)
    y = labels.to_numpy()
    return Probe(scaler, probe_classifier(y, seed).fit(scaler.transform(features), y))


def cross_validated_probabilities(features: np.ndarray, labels: pd.Series, scaler: StandardScaler | None = None,
                                  folds: int = HELD_OUT_FOLDS, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Held-out probabilities of every labelled call, each from a probe not fitted on it: one row per call (index of
    ``labels``), a column per class; and the scheme, stratified ``folds`` or leave-one-out when a class has a single
    call."""
    classes = sorted(labels.unique())
    splitter = held_out_splitter(labels, folds, seed)  # the rule check_fit asks of the labels before model time
    scheme = f"{splitter.n_splits}-fold" if isinstance(splitter, StratifiedKFold) else "leave-one-out"
    proba = pd.DataFrame(0.0, index=labels.index, columns=classes)
    for train, test in splitter.split(features, labels):
        probe = fit_probe(features[train], labels.iloc[train], scaler, seed)
        proba.iloc[test, [classes.index(c) for c in probe.classes_]] = probe.predict_proba(features[test])
    return proba, scheme


# Fitting the default method (the probe) from stored model outputs, and keeping the fit as an artifact.

#: What a probe artifact is called inside the file, and the layout of its payload (a new layout, a new number).
ARTIFACT_KIND = "callinsights-probe"
ARTIFACT_FORMAT = 1
#: The types a probe artifact holds beyond skops' own safe set: the inner folds of ``LogisticRegressionCV``.
#: Anything else in a file is refused when it is loaded.
TRUSTED_TYPES = ("sklearn.model_selection._split.StratifiedKFold",)
#: Said after every problem with an artifact (``{path}``: the file, filled in by ``load_artifact``).
REMEDY = ("Fit a new one with `python -m callinsights fit --artifact {path}`, or move the file aside: analyze fits one "
          "when there is none.")


@dataclass
class TaskFit:
    """One task's probe fitted on every labelled call; the held-out probabilities of those calls (a row per call, a
    column per label, each row from a probe not fitted on it); how they were held out (``"4-fold"`` ...)."""

    probe: Probe
    held_out: pd.DataFrame
    scheme: str


@dataclass
class FittedProbe:
    """The default method, fitted: each task's fit; labelled call id -> hash of the text fitted on (its held-out
    answer belongs to that text only); and the metadata (:func:`fingerprint`, calls, held-out metrics, versions)."""

    tasks: dict[str, TaskFit]
    fitted_texts: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)

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
        "reads": features_read(settings),
        "labels": {"file": str(labels_file),
                   "sha256": file_sha256(labels_file) if labels_file.is_file() else None},
    }


def stale_reasons(saved: dict[str, Any], current: dict[str, Any], labels: bool = True) -> list[str]:
    """Why a fit with metadata ``saved`` does not fit a run with :func:`fingerprint` ``current``: one line per
    difference, then and now (empty: it fits). ``labels``: compare the label files too; one that does not exist now
    is never a reason (the fit is used as it was made, and the caller says so)."""
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
        outputs: Call id -> stored probe output of every call the features are standardised on, in a fixed order
            (the fit depends on it only through floating-point rounding).
        texts: Call id -> the text the model read (its hash marks which text a held-out answer belongs to).
        gold: Hand labels indexed by call id; ``labels_file``: where they were read.
        where: The calls, as named in the message when none is labelled.
        depends_on: The run's :func:`fingerprint`, recorded in the metadata.
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
    """Load a fit saved by :func:`save_fitted` (only the types of :data:`TRUSTED_TYPES` beyond skops' safe set);
    ArtifactError, saying what to do, for a file that is not a usable probe artifact."""
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
        raise ArtifactError(f"{path}: its payload is incomplete ({type(err).__name__}: {err}). "
                            f"{_remedy(path)}") from None
    if set(tasks) != set(TASKS):
        raise ArtifactError(f"{path}: fits tasks {sorted(tasks)}, not {sorted(TASKS)}. {_remedy(path)}")
    problems = [problem for task, fit in tasks.items() if (problem := fit_problem(task, fit))]
    if not problems:
        per_part = {task: fit.probe.scaler.n_features_in_ // len(TASK_PARTS[task]) for task, fit in tasks.items()}
        if len(set(per_part.values())) > 1:
            problems.append(f"its probes read states of different sizes ({per_part}), from one model")
    if problems:
        raise ArtifactError(f"{path}: " + "; ".join(problems) + f". It was altered or damaged after its fit: it is not "
                            f"used. {_remedy(path)}")
    return FittedProbe(tasks, fitted_texts, artifact.metadata)


def _remedy(path: str | Path) -> str:
    return REMEDY.replace("{path}", shlex.quote(str(path)))


def fit_problem(task: str, fit: TaskFit) -> str | None:
    """What in one task's loaded fit no fit by :func:`fit_from_outputs` can hold (None: nothing).

    A saved probe whose classes were swapped would label positive calls negative without a word, so what can be
    checked is: the probe's classes are labels of the task, in the sorted order scikit-learn fits them (a fit may
    lack a class no labelled call had); the held-out columns are the task's labels in :data:`TASKS` order; and the
    scaler, weights and intercepts agree on the width :data:`FEATURES_VERSION` gives the task (its
    :data:`TASK_PARTS`, each the model's hidden size).
    """
    labels, model, scaler = TASKS[task], fit.probe.model, fit.probe.scaler
    if list(fit.held_out.columns) != list(labels):
        return f"its {task} held-out probabilities are for {list(fit.held_out.columns)}, not {list(labels)}"
    if not isinstance(model, LogisticRegression | LogisticRegressionCV) or not isinstance(scaler, StandardScaler):
        return f"its {task} probe is a {type(scaler).__name__} and a {type(model).__name__}, not a fitted probe"
    try:
        classes = [str(c) for c in model.classes_]
        width = int(scaler.n_features_in_)
        shapes = {"scaler means": np.shape(scaler.mean_), "scaler scales": np.shape(scaler.scale_),
                  "weights": np.shape(model.coef_), "intercepts": np.shape(model.intercept_)}
    except AttributeError as err:
        return f"its {task} probe is not fitted ({err})"
    if len(classes) < 2 or classes != sorted(set(classes)) or not set(classes) <= set(labels):
        return (f"its {task} probe answers {classes}, not {task} labels ({', '.join(sorted(labels))}) in the "
                "sorted order of a fit")
    rows = 1 if len(classes) == 2 else len(classes)
    expected = {"scaler means": (width,), "scaler scales": (width,), "weights": (rows, width), "intercepts": (rows,)}
    if shapes != expected or model.n_features_in_ != width or width % len(TASK_PARTS[task]):
        return (f"its {task} probe's shapes disagree ({', '.join(f'{k} {v}' for k, v in shapes.items())}; "
                f"{len(classes)} classes over {width} features, {len(TASK_PARTS[task])} equal part(s) in features "
                f"{FEATURES_VERSION})")
    return None


# The probe method's labelling step: label every call of a run with a fitted probe, and find the evidence.

#: ``held_out`` of a call not in the label file.
NOT_LABELLED = "not labelled"


def label_with_probe(frame: pd.DataFrame, texts: dict[str, str], fitted: FittedProbe) -> None:
    """Label every call of ``frame`` (``file``, ``raw``: the stored output) with a fitted probe, in place.

    A labelled call the probe was fitted on -- the same call id with the same text -- gets its held-out
    probabilities (from a probe not fitted on it), never an answer that has seen its label. Every other call gets
    the probe fitted on all labelled calls. Two cases are neither, and ``held_out`` says so: a labelled call whose
    text differs from the one fitted on (its held-out answer belongs to the other text), and a call whose text is
    that of a labelled call under another name (a renamed copy: the probe has seen its label). Each call also gets
    the customer turn each chosen label rests on (:func:`evidence`). ``texts``: call id -> the text the model read.
    """
    # Each stored array converted once (both tasks may read the same one), then read twice per task: the call's
    # features and each turn's.
    keys = {key for task_keys in STATES_KEYS.values() for key in task_keys}
    arrays = [{k: np.asarray(v, dtype=np.float64) for k, v in out.items() if k in keys} for out in frame["raw"]]
    states = {task: [task_states(a, task) for a in arrays] for task in TASKS}
    calls = {task: np.array([call_features(s) for s in states[task]]) for task in TASKS}
    features = {task: x[:, task_columns(task, x.shape[1])] for task, x in calls.items()}
    for task, fit in fitted.tasks.items():
        if fit.probe.scaler.n_features_in_ != features[task].shape[1]:
            raise ValueError(f"the {task} probe was fitted on features of another width than this run's "
                             f"({calls[task].shape[1]} per call); refit it with `python -m callinsights fit`")
    hashes = [text_hash(texts.get(cid, "")) for cid in frame["file"]]
    known = np.array([fitted.fitted_texts.get(cid) == h for cid, h in zip(frame["file"], hashes)])
    by_text = {h: cid for cid, h in fitted.fitted_texts.items()}
    for task, labels in TASKS.items():
        fit = fitted.tasks[task]
        proba = pd.DataFrame(fit.probe.predict_proba(features[task]), columns=fit.probe.classes_).reindex(
            columns=list(labels), fill_value=0.0)
        proba.loc[np.flatnonzero(known), list(labels)] = fit.held_out.loc[frame["file"][known], list(labels)
                                                                          ].to_numpy()
        assign_probabilities(frame, task, proba)
        frame[f"evidence_{task}"] = [evidence(fit.probe, read, task, label, texts.get(cid, ""))
                                     for read, label, cid in zip(states[task], frame[task], frame["file"])]
    frame["held_out"] = [
        f"held out ({fitted.scheme})" if k
        else "not held out: labelled, but fitted on another text of this call" if cid in fitted.fitted_texts
        else f"not held out: same text as labelled call {by_text[h]}" if h in by_text
        else NOT_LABELLED
        for cid, h, k in zip(frame["file"], hashes, known)
    ]
    # Embeddings are not worth a CSV cell (the store keeps them): a note on what the probe was fitted on.
    labels_file = Path(fitted.metadata.get("labels", {}).get("file", "labels")).name
    frame["raw"] = f"probe fitted on {len(fitted.fitted_texts)} labelled calls of {labels_file}"


#: Written instead of a quote when no turn that may be quoted carries the label.
WHOLE_CALL = "no single turn; the call as a whole"
#: The least drop in a label's probability, when a turn is left out, for that turn to be quoted: one percentage
#: point, the precision the reports show probabilities at. A smaller drop (a label near certainty, or one that rests
#: on many turns together) would put a turn before the reader that the label does not rest on.
MIN_DROP = 0.01

# Which turns may be quoted. A quote is a turn where the customer voices how they feel or where the issue stands;
# a turn where they identify themselves or the case, or greet, says neither, whatever the probe's attribution.
#: Placeholders (:data:`callinsights.text.redact.PLACEHOLDERS`) of what a caller gives to be identified. A name or a
#: reference also stands in turns about the issue ("I'd like to see Dr. [NAME]", "Okay, got it. [REFERENCE].") and
#: counts only as a whole answer ("It's [NAME].").
IDENTIFYING = ("MEMBER_ID", "US_SSN", "CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS",
               "CLAIM_ID", "CASE_ID", "POLICY_ID", "DATE", "ADDRESS", "NUMBER")
_IDENTIFIER = re.compile("|".join(re.escape(PLACEHOLDERS[entity]) for entity in IDENTIFYING))
# A detail given ("my name is", "the doctor's name is", "my username is ...", "the procedure code is"), but not the
# state of the issue said with the same words ("my email address is already in use", "my password is incorrect").
_DETAIL = re.compile(
    r"(?i)\b(?:my|the)\s+(?:[\w']+\s+)?(?:name|date of birth|birthday|(?:phone|cell|contact|callback|home|office) "
    r"number|address|e-?mail|user ?name|password|zip(?: code)?|code|(?:member|policy|group|claim|account|social "
    r"security) (?:id|number))(?:'s|\s+is)\s+(?!(?:not|already|in|incorrect|invalid|wrong|still|being|correct|no "
    r"longer)\b)")
_DEVICE = re.compile(r"(?i)^\W*(?:I'm|I am) using (?:(?:Google|Mozilla|Microsoft|Apple) )?(?:Chrome|Firefox|Safari|"
                     r"Edge|Internet Explorer|Opera|an? (?:iPhone|iPad|Android|Mac|PC|laptop|desktop|computer|"
                     r"tablet))\b")
_BARE_ANSWER = re.compile(r"(?i)^\W*(?:(?:it's|it is|that's|that is|yes|sure|okay)\W+)?(?:(?:dr|mr|mrs|ms|miss)\.?\s+)?"
                          r"(?:\[[A-Z_]+\]\W*)+$")
# Every call opens with a greeting and the reason for calling: what the call is about, before anything was done.
_OPENING = re.compile(r"(?i)^\W*(?:(?:yes|oh|yeah),?\s+)?(?:hi|hello|hey|good (?:morning|afternoon|evening))\b")
_FAREWELL = re.compile(r"(?i)\b(?:good)?bye\b|\b(?:hi|hello|hey)\b|\byou too\b|\bsame to you\b|\btake care\b|"
                       r"\bsee you\b|\bgood (?:morning|afternoon|evening|night)\b|"
                       r"\b(?:have a )?(?:nice|good|great|wonderful|lovely) (?:day|one|evening|weekend)\b")


def quote_kind(turn: str) -> str:
    """Why a customer turn (redacted: the rule reads its placeholders) is not quoted as evidence, or ``""``.

    ``"verification"``: the caller identifies themselves or the case -- an identifier (``[MEMBER_ID]``, ``[DATE]``,
    ...), "my name is", "the procedure code is", "I'm using Google Chrome", a bare "It's [NAME]."; ``"greeting"``:
    the call's opening ("Hi, I'm calling to ...") or a bare greeting or farewell ("You too. Bye.").
    """
    if _IDENTIFIER.search(turn) or _DETAIL.search(turn) or _DEVICE.search(turn) or _BARE_ANSWER.search(turn):
        return "verification"
    spoken = re.sub(r"\([^)]*\)", " ", turn)  # "(sighs)", "(00:40)": not words the customer said
    if _OPENING.search(spoken) or (re.search(r"\w", spoken) and not re.search(r"\w", _FAREWELL.sub(" ", spoken))):
        return "greeting"
    return ""


def turn_attribution(probe: Probe, turn_states: np.ndarray, task: str, label: str) -> np.ndarray:
    """How much each turn carries ``label``: the drop in its probability when the turn is left out of the call
    (positive: the turn supports it; NaN for a call of one turn, which has nothing left without it).

    The call's features are pooled again from the other turns' stored states (:func:`call_features`), so no model
    time is spent. That approximates reading the call without the turn: each turn was encoded after the ones before
    it, so the later turns' states still carry the left-out turn's context.
    """
    column = list(probe.classes_).index(label)
    whole = call_features(turn_states)
    columns = task_columns(task, len(whole))
    if len(turn_states) < 2:
        return np.full(len(turn_states), np.nan)
    without = np.array([call_features(np.delete(turn_states, t, axis=0))[columns] for t in range(len(turn_states))])
    return probe.predict_proba(whole[None, columns])[0, column] - probe.predict_proba(without)[:, column]


def evidence_turn(probe: Probe, turn_states: np.ndarray, task: str, label: str, text: str
                  ) -> tuple[list[str], np.ndarray, int | None] | None:
    """The call's turns (redacted), :func:`turn_attribution` and the turn to quote: of the turns that may be quoted
    (:func:`quote_kind`), the one whose leaving out lowers the label's probability most, if by at least
    :data:`MIN_DROP` (None when no such turn carries the label). None when the text's turns (``text``: one per
    line) do not match the states or the probe does not know ``label``."""
    turns = [redact(t) for t in text.split("\n") if t.strip()]
    if len(turns) != len(turn_states) or label not in list(probe.classes_):
        return None
    drops = turn_attribution(probe, turn_states, task, label)
    carrying = [t for t, turn in enumerate(turns) if drops[t] >= MIN_DROP and not quote_kind(turn)]
    return turns, drops, max(carrying, key=lambda t: drops[t]) if carrying else None


def evidence(probe: Probe, turn_states: np.ndarray, task: str, label: str, text: str) -> str:
    """The customer turn ``label`` rests on, redacted (:func:`evidence_turn`), or :data:`WHOLE_CALL`; ``""`` when
    the text's turns do not match the states or the probe does not know ``label``."""
    found = evidence_turn(probe, turn_states, task, label, text)
    if found is None:
        return ""
    turns, _, chosen = found
    return WHOLE_CALL if chosen is None else turns[chosen]


def evidence_faithfulness(outputs: dict[str, dict], texts: dict[str, str], labels: pd.DataFrame,
                          fitted: FittedProbe) -> pd.DataFrame:
    """How much each call's evidence explains its label to the probe, as the ERASER benchmark measures a rationale
    (DeYoung et al., 2020), beside a turn of the same call drawn at random; measured with the probe fitted on every
    labelled call (``labels``: as :func:`label_with_probe` gave them).

    Returns:
        One row per call and task: ``file``, ``task``, ``label``, ``turns``, ``quoted`` (the quoted turn's number,
        -1 for none); ``comprehensiveness``, the drop in the label's probability when the quoted turn is left out
        (:func:`turn_attribution`; higher: the label rests more on it); ``sufficiency``, the label's probability
        from the whole call minus that from the quoted turn read alone (:func:`turn_features`; lower: the turn
        alone says more of it); and ``random_comprehensiveness``, ``random_sufficiency``: the mean of each over the
        call's other turns, the expected value for a turn drawn at random. NaN where there is no quote
        (:data:`WHOLE_CALL`).
    """
    rows = []
    for task in TASKS:
        probe = fitted.tasks[task].probe
        for cid, output in outputs.items():
            label, states = labels.loc[cid, task], task_states(output, task)
            found = evidence_turn(probe, states, task, label, texts.get(cid, ""))
            if found is None:
                continue
            turns, drops, chosen = found
            row = {"file": cid, "task": task, "label": label, "turns": len(turns),
                   "quoted": -1 if chosen is None else chosen}
            if chosen is None:
                rows.append(row | dict.fromkeys(["comprehensiveness", "sufficiency", "random_comprehensiveness",
                                                 "random_sufficiency"], np.nan))
                continue
            column = list(probe.classes_).index(label)
            whole = call_features(states)
            columns = task_columns(task, len(whole))
            alone = probe.predict_proba(whole[None, columns])[0, column] - probe.predict_proba(
                turn_features(states)[:, columns])[:, column]
            others = np.arange(len(turns)) != chosen
            rows.append(row | {"comprehensiveness": drops[chosen], "sufficiency": alone[chosen],
                               "random_comprehensiveness": drops[others].mean(),
                               "random_sufficiency": alone[others].mean()})
    return pd.DataFrame(rows)
