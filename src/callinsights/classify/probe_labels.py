"""The probe method's labelling step: label every call of a run with a fitted probe, and find the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from callinsights.classify.answers import assign_probabilities
from callinsights.classify.fitting import FittedProbe
from callinsights.classify.probe import STATES_KEYS, call_features, task_columns, task_states, turn_features
from callinsights.data.store import text_hash
from callinsights.schema import TASKS
from callinsights.text.redact import redact

#: ``held_out`` of a call not in the label file.
NOT_LABELLED = "not labelled"


def label_with_probe(frame: pd.DataFrame, texts: dict[str, str], fitted: FittedProbe) -> None:
    """Label every call of ``frame`` with a fitted probe (in place).

    A labelled call the probe was fitted on -- the same call id with the same text -- gets its held-out
    probabilities (from a probe not fitted on it), never an answer that has seen its label. Every other call gets
    the probe fitted on all labelled calls. Two cases are neither, and ``held_out`` says so: a labelled call whose
    text differs from the one fitted on (its held-out answer belongs to the other text), and a call whose text is
    that of a labelled call under another name (a renamed copy: the probe has seen its label). Each call also gets
    its evidence: the customer turn that most supports the chosen sentiment and the one that most supports the
    chosen outcome (redacted for reading).

    Args:
        frame: One row per call: ``file`` and ``raw`` (the stored output, ``{"turns": ...}`` and, when sentiment
            reads an earlier layer, ``"sentiment_turns"``).
        texts: Call id -> the text the model read.
        fitted: The fit (:mod:`callinsights.classify.fitting`).

    Raises:
        ValueError: The calls' features are not of the width the probe was fitted on.
    """
    # Each stored array converted once (both tasks may read the same one), then read twice per task: the call's
    # features and each turn's.
    keys = {key for task_keys in STATES_KEYS.values() for key in task_keys}
    arrays = [{k: np.asarray(v, dtype=np.float64) for k, v in out.items() if k in keys} for out in frame["raw"]]
    states = {task: [task_states(a, task) for a in arrays] for task in TASKS}
    features = {task: np.array([call_features(s) for s in states[task]]) for task in TASKS}
    for task, fit in fitted.tasks.items():
        if fit.probe.scaler.n_features_in_ != len(task_columns(task, features[task].shape[1])):
            raise ValueError(f"the {task} probe was fitted on features of another width than this run's "
                             f"({features[task].shape[1]} per call); refit it with `python -m callinsights fit`")
    hashes = [text_hash(texts.get(cid, "")) for cid in frame["file"]]
    known = np.array([fitted.fitted_texts.get(cid) == h for cid, h in zip(frame["file"], hashes)])
    by_text = {h: cid for cid, h in fitted.fitted_texts.items()}
    for task, labels in TASKS.items():
        columns = task_columns(task, features[task].shape[1])
        fit = fitted.tasks[task]
        proba = pd.DataFrame(fit.probe.predict_proba(features[task][:, columns]), columns=fit.probe.classes_).reindex(
            columns=list(labels), fill_value=0.0)
        proba.loc[np.flatnonzero(known), list(labels)] = fit.held_out.loc[frame["file"][known], list(labels)
                                                                          ].to_numpy()
        assign_probabilities(frame, task, proba)
        frame[f"evidence_{task}"] = [
            evidence(fit.probe, turn_features(read)[:, columns], label, texts.get(cid, ""))
            for read, label, cid in zip(states[task], frame[task], frame["file"])
        ]
    frame["held_out"] = [
        f"held out ({fitted.scheme})" if k
        else "not held out: labelled, but fitted on another text of this call" if cid in fitted.fitted_texts
        else f"not held out: same text as labelled call {by_text[h]}" if h in by_text
        else NOT_LABELLED
        for cid, h, k in zip(frame["file"], hashes, known)
    ]
    # Embeddings are not worth a CSV cell; the store keeps them.
    note = f"probe fitted on {len(fitted.fitted_texts)} labelled calls of {fitted.labels_name}"
    frame["raw"] = [{"text": note}] * len(frame)


def evidence(probe, turns_read: np.ndarray, label: str, text: str) -> str:
    """The customer turn that most supports ``label``, redacted: each turn is scored by the probe on its own.

    Args:
        probe: The fitted probe of the task.
        turns_read: Each turn's features in the probe's layout (:func:`callinsights.classify.probe.turn_features`).
        label: The call's label.
        text: The customer text (one turn per line).
    """
    turns = [t for t in text.split("\n") if t.strip()]
    if len(turns) != len(turns_read) or label not in list(probe.classes_):
        return ""
    support = probe.contributions(turns_read)
    return redact(turns[int(np.argmax(support[:, list(probe.classes_).index(label)]))])
