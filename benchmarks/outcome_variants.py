"""Outcome (and sentiment) feature variants tried after the layered refactor, by the same repeated cross-validation
as ``callinsights experiments`` (10 x 4 stratified folds, fitted on the guideline readers' majority, scored against
both readings; mean and standard deviation over repeats).

Variants: the default's features plus the last turn, plus counts of pending-work phrases, PCA-reduced features,
LabelSpreading over all 200 calls (semi-supervised, the unlabelled calls' text only), and *task questions*: the
customer's turns followed, in the same pass, by a question about the outcome and one about the mood; the mean hidden
state of each question's tokens has read the whole call (causal attention), a prompt-conditioned reading.

The per-turn states come from the store (as the main job computed them); the question pass is computed once with
the embedded model and cached in ``~/.cache/callinsights/outcome_variants.npz``. Run:
``.venv/bin/python -m benchmarks.outcome_variants`` (about 5 minutes for the question pass on 2 idle cores).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from callinsights import config
from callinsights.classify.probe import call_features, fit_probe
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls
from callinsights.llm.base import pool_by_turn
from callinsights.llm.engines import load_engine
from callinsights.text.words import pending_cues

QUESTIONS = (
    "Question: By the end of this call, is the customer's problem solved, or is something still pending, such as a "
    "callback, a review, a form or a wait? Answer:",
    "Question: How does the customer feel at the end of this call: positive, negative or neutral? Answer:",
)
CACHE = config.CACHE_DIR / "outcome_variants.npz"


def question_states(classifier: Classifier, texts: list[str]) -> np.ndarray:
    """Mean hidden state of each question's tokens after the customer's turns, one pass per call (cached)."""
    if CACHE.is_file():
        cached = np.load(CACHE)
        if cached["n"] == len(texts):
            return cached["states"]
    engine = load_engine("llama.cpp", classifier.model, 4096, None, states=True)
    rows = []
    for text in texts:
        turns = [t for t in text.split("\n") if t.strip()] + list(QUESTIONS)
        full = "\n".join(turns)
        tokens = engine.llm.tokenize(full.encode("utf-8"))
        states = np.asarray(engine.llm.embed(full, normalize=False, truncate=False), dtype=np.float64)
        pieces = [len(engine.llm.detokenize([t])) for t in tokens]
        rows.append(pool_by_turn(states, pieces, turns)[-len(QUESTIONS):, :-1])
    engine.close()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, states=np.array(rows), n=len(texts))
    return np.array(rows)


def repeated_cv(x_all: np.ndarray, labelled: np.ndarray, readings: dict[str, pd.Series], method: str = "probe",
                repeats: int = 10) -> dict[str, tuple[float, float]]:
    """Mean and sd over repeats of held-out macro-F1, fitted on the first reading, against each reading."""
    y = next(iter(readings.values()))
    scaler = StandardScaler().fit(x_all)
    x = x_all[labelled]
    classes = np.array(sorted(y.unique()))
    scores = {name: [] for name in readings}
    predicted = np.empty(len(y), dtype=object)
    for k, (train, test) in enumerate(RepeatedStratifiedKFold(n_splits=4, n_repeats=repeats,
                                                              random_state=0).split(x, y)):
        if method == "probe":
            probe = fit_probe(x[train], y.iloc[train], scaler, 0)
            predicted[test] = probe.classes_[probe.predict_proba(x[test]).argmax(axis=1)]
        else:  # LabelSpreading over every call: the labelled training fold is all it knows of labels
            coded = np.full(len(x_all), -1)
            coded[labelled[train]] = np.searchsorted(classes, y.iloc[train].to_numpy())
            model = LabelSpreading(kernel="knn", n_neighbors=7, alpha=float(method.split(":")[1]), max_iter=200)
            predicted[test] = classes[model.fit(scaler.transform(x_all), coded).transduction_[labelled[test]]]
        if k % 4 == 3:
            for name, truth in readings.items():
                scores[name].append(f1_score(truth, predicted, average="macro"))
    return {name: (float(np.mean(v)), float(np.std(v))) for name, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    settings = Settings()
    calls, _ = read_calls(config.TRANSCRIPTS_DIR)
    texts = texts_for_model(calls, settings)
    with Store(config.STORE_FILE) as store, Classifier(settings, store, read_labels=False) as classifier:
        records = classifier.outputs(texts, progress=False)
        ids = [cid for cid, _, _ in records]
        states = [np.asarray(rec["output"]["turns"]) for _, rec, _ in records]
        questions = question_states(classifier, [texts[cid] for cid in ids])
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    base = np.array([call_features(s) for s in states])
    width = base.shape[1] // 2
    last = np.array([s[-1, :-1] for s in states])
    cues = np.array([[len(pending_cues(texts[cid])), len(pending_cues("\n".join(texts[cid].split("\n")[-3:])))]
                     for cid in ids])
    pca50 = PCA(50, random_state=0).fit_transform(StandardScaler().fit_transform(base))
    variants = {
        "outcome": {
            "default: whole + ending": (base, "probe"),
            "whole + ending + last turn": (np.hstack([base, last]), "probe"),
            "whole + ending + pending-cue counts": (np.hstack([base, cues]), "probe"),
            "whole + ending, PCA to 50 (all calls)": (pca50, "probe"),
            "LabelSpreading (kNN, alpha 0.2) on PCA 50": (pca50, "spread:0.2"),
            "outcome question": (questions[:, 0], "probe"),
            "whole + ending + outcome question": (np.hstack([base, questions[:, 0]]), "probe"),
        },
        "sentiment": {
            "default: ending": (base[:, width:], "probe"),
            "mood question": (questions[:, 1], "probe"),
            "ending + mood question": (np.hstack([base[:, width:], questions[:, 1]]), "probe"),
        },
    }
    rows = []
    for task, table in variants.items():
        readings = {"guideline": guideline.loc[names, task].reset_index(drop=True),
                    "client": client.loc[names, task].reset_index(drop=True)}
        for name, (x, method) in table.items():
            result = repeated_cv(x, labelled, readings, method, args.repeats)
            rows.append({"task": task, "variant": name, **{f"{ref}_macro_f1": f"{m:.3f} ± {s:.3f}"
                                                           for ref, (m, s) in result.items()}})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
