"""The probe method's labelling step: fit on the labelled calls of a run, label every call, find the evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from callinsights.classify.answers import assign_probabilities
from callinsights.classify.probe import (call_features, cross_validated_probabilities, fit_probe, task_columns,
                                         turn_features)
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.text.redact import redact


def label_with_probe(frame: pd.DataFrame, texts: dict[str, str], gold: pd.DataFrame, labels_file: str | Path
                     ) -> None:
    """Fit the probe on the labelled calls of this run and label every call with it (in place).

    Labelled calls get held-out probabilities (each from a probe not fitted on it); the rest come from the probe
    fitted on every labelled call. Features are standardised on all the calls of the run: their text is ours
    to use, only their labels are not. Each call also gets its evidence: the customer turn that most supports
    the chosen sentiment and the one that most supports the chosen outcome (redacted for reading).
    """
    states = [np.asarray(out["turns"], dtype=np.float64) for out in frame["raw"]]
    features = np.array([call_features(s) for s in states])
    known = frame["file"].isin(gold.index).to_numpy()
    if not known.any():
        raise ValueError(
            f"{labels_file}: none of its calls is among the calls analysed, so the probe cannot be fitted; "
            "use --method score, or include labelled calls"
        )
    schemes = set()
    for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
        columns = task_columns(task, features.shape[1])
        x = features[:, columns]
        scaler = StandardScaler().fit(x)
        known_labels = gold.loc[frame["file"][known], task].reset_index(drop=True)
        probe = fit_probe(x[known], known_labels, scaler)
        proba = pd.DataFrame(probe.predict_proba(x), columns=probe.classes_).reindex(
            columns=list(labels), fill_value=0.0)
        held, scheme = cross_validated_probabilities(x[known], known_labels, scaler)
        schemes.add(scheme)
        proba.loc[np.flatnonzero(known), list(labels)] = held.reindex(columns=list(labels), fill_value=0.0
                                                                      ).to_numpy()
        assign_probabilities(frame, task, proba)
        frame[f"evidence_{task}"] = [
            evidence(probe, turn_features(s)[:, columns], label, texts.get(cid, ""))
            for s, label, cid in zip(states, frame[task], frame["file"])
        ]
    scheme = " / ".join(sorted(schemes))
    frame["held_out"] = np.where(known, f"held out ({scheme})", "not labelled")
    # Embeddings are not worth a CSV cell; the store keeps them.
    note = f"probe fitted on {int(known.sum())} labelled calls of {Path(labels_file).name}"
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
