"""The outcome taught by a reader of the whole call: the agent's words as training signal only (not kept).

The agent states what is pending (a callback, a review, a ticket), so a probe on the whole call scores the outcome far
better than one on the customer's side (``docs/experiments.md``, "Where this stands", item 4). The client asked for
labels read from the customer's side, so the whole call can at most be used while fitting -- learning using privileged
information (Vapnik and Vashist 2009), here as a teacher that labels the unlabelled calls:

1. inside each training fold, a **teacher** -- the default probe on the whole call's per-turn states -- is fitted on
   the fold's labelled calls and labels the 160 unlabelled calls from the whole call;
2. a **student** -- the default probe on the customer's side, as the main job reads it -- is fitted on the fold's
   labelled calls plus those 160 calls with the teacher's labels (all of them, or only those the teacher gives
   probability >= :data:`CONFIDENT`);
3. the student is scored on the fold's held-out calls, read from the customer's side only.

Same protocol and functions as ``benchmarks/label_variants.py``: 10 x 4 repeated stratified folds, seed 0, fitted on
the guideline majority, scored against both readings, mean ± sd over repeats, the paired gain over the default on the
same splits. As a check, not a target: the student fitted on all 40, its predicted follow-up share per driver on the
160 unlabelled calls. The teacher's own held-out figures (whole call, scored the same way) are a row too.

Run from the worktree (reads every call's whole text once if the store lacks it: about 10 minutes on two cores)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.privileged_teacher
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from callinsights import config
from callinsights.classify.probe import fit_probe, probe_classifier, task_features
from callinsights.classify.settings import Settings
from callinsights.data.labels import load_labels
from callinsights.data.outputs import write_text

from benchmarks import label_variants as lv

OUT_FILE = config.RESULTS_DIR / "privileged_teacher.csv"
TASK = "outcome"
#: The teacher's probability above which its label of an unlabelled call is used (the "confident" student).
CONFIDENT = 0.75


def student(whole: np.ndarray, threshold: float | None) -> lv.Predict:
    """A variant: the teacher (whole call) labels the unlabelled calls, the student (customer side) learns them too.

    Args:
        whole: Whole-call features of every call, in the rows of the task's ``x_all``.
        threshold: Use only the unlabelled calls whose teacher probability reaches it (None: all of them).
    """
    whole_scaled = StandardScaler().fit(whole)

    def predict(task: lv.Task, train: np.ndarray, rows: np.ndarray):
        gold = task.labelled[train]
        teacher = fit_probe(whole[gold], task.y.iloc[train], whole_scaled, task.seed)
        proba = teacher.predict_proba(whole[task.unlabelled])
        keep = np.ones(len(proba), bool) if threshold is None else proba.max(axis=1) >= threshold
        pseudo = teacher.classes_[proba.argmax(axis=1)][keep]
        x = np.vstack([task.xs[gold], task.xs[task.unlabelled[keep]]])
        y = np.concatenate([task.y.iloc[train].to_numpy(), pseudo])
        model = probe_classifier(y, task.seed).fit(x, y)
        return lv.ordered(model.predict_proba(task.xs[rows]), model.classes_, task.classes), None

    return predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    customer = lv.stored_outputs(Settings())
    call = lv.stored_outputs(replace(Settings(), side="call"), progress=True)
    ids = list(customer)
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    readers = lv.readers_table(names)[TASK]
    drivers = pd.read_csv(config.INSIGHTS_FILE).set_index("file")["topic"].reindex(ids).to_numpy()
    x_customer = task_features([customer[cid] for cid in ids], TASK)
    x_whole = task_features([call[cid] for cid in ids], TASK)
    y = guideline.loc[names, TASK].reset_index(drop=True)
    references = {"guideline": y, "client": client.loc[names, TASK].reset_index(drop=True)}

    variants = [
        ("default (customer side, 40 labelled)", x_customer, lv.default),
        ("teacher: whole call (not customer-only)", x_whole, lv.default),
        ("student: + 160 teacher-labelled calls", x_customer, student(x_whole, None)),
        (f"student: + teacher-labelled calls at p >= {CONFIDENT}", x_customer, student(x_whole, CONFIDENT)),
    ]
    results, shares = [], []
    for name, x, predict in variants:
        spec = lv.Task(x, labelled, y, readers)
        part = lv.cross_validate(spec, predict, references, args.repeats)
        results.append(part.assign(task=TASK, variant=name))
        proba, _ = predict(spec, np.arange(len(labelled)), spec.unlabelled)
        follow_up = pd.Series(spec.classes[proba.argmax(axis=1)] == "follow-up action needed")
        shares.append({"variant": name, "all": follow_up.mean(),
                       **follow_up.groupby(drivers[spec.unlabelled]).mean().to_dict()})
        mean = part[part["reference"] == "guideline"]["macro_f1"]
        print(f"{name:55s} guideline macro-F1 {mean.mean():.3f} ± {mean.std():.3f}", flush=True)

    table = lv.summarise(pd.concat(results, ignore_index=True)[
        ["task", "variant", "repeat", "reference", "macro_f1", "negative_f1", "brier"]])
    rates = pd.DataFrame(shares)
    write_text(OUT_FILE, table.merge(rates, on="variant").round(4).to_csv(index=False))
    shown = table.assign(**{
        "macro-F1": table["macro_f1_mean"].map("{:.3f}".format) + " ± " + table["macro_f1_std"].map("{:.3f}".format),
        "Brier": table["brier_mean"].map("{:.3f}".format),
        "paired gain": table["paired_gain_mean"].map("{:+.3f}".format) + " ± "
        + table["paired_gain_std"].map("{:.3f}".format)})
    print(shown[["variant", "reference", "macro-F1", "Brier", "paired gain", "verdict"]].to_markdown(index=False))
    print()
    print(rates.round(2).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
