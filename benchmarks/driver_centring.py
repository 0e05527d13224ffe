"""Driver-centred features on the current default (block 26 for sentiment, the last layer for the outcome).

``benchmarks/label_variants.py`` (``docs/experiments.md`` item 8) measured driver centring -- each call's features
minus the mean of its driver's calls, all 200 calls, label-free -- when sentiment still read the last layer. Sentiment
now reads block 26 (item 9), so this re-measures the idea on the default's own features, by the same protocol and
functions: 10 x 4 repeated stratified folds, seed 0, fitted on the guideline majority, scored against both readings,
mean ± sd over repeats, the paired gain over the default on the same splits. As a check, not a target: each fitted on
all 40 labelled calls, its predicted neutral / follow-up share per driver on the 160 unlabelled calls.

Run from the worktree (the default's per-turn states come from ``results/runs.sqlite``; about a minute)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.driver_centring
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from callinsights import config
from callinsights.classify.probe import task_features
from callinsights.classify.settings import Settings
from callinsights.data.labels import load_labels
from callinsights.data.outputs import write_text

from benchmarks import label_variants as lv

OUT_FILE = config.RESULTS_DIR / "driver_centring.csv"
WATCHED = {"sentiment": "neutral", "outcome": "follow-up action needed"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    stored = lv.stored_outputs(Settings())
    ids, outputs = list(stored), list(stored.values())
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    readers = lv.readers_table(names)
    drivers = pd.read_csv(config.INSIGHTS_FILE).set_index("file")["topic"].reindex(ids).to_numpy()
    unlabelled_drivers = drivers[np.setdiff1d(np.arange(len(ids)), labelled)]

    results, shares = [], []
    for task in ("sentiment", "outcome"):
        x = task_features(outputs, task)
        y = guideline.loc[names, task].reset_index(drop=True)
        references = {"guideline": y, "client": client.loc[names, task].reset_index(drop=True)}
        for name, features in (("default", x), ("driver-centred features", lv.driver_centred(x, drivers))):
            spec = lv.Task(features, labelled, y, readers[task])
            part = lv.cross_validate(spec, lv.default, references, args.repeats)
            results.append(part.assign(task=task, variant=name))
            proba, _ = lv.default(spec, np.arange(len(labelled)), spec.unlabelled)
            predicted = pd.Series(spec.classes[proba.argmax(axis=1)] == WATCHED[task])
            shares.append({"task": task, "variant": name, "rate_of": WATCHED[task], "all": predicted.mean(),
                           **predicted.groupby(unlabelled_drivers).mean().to_dict()})

    table = lv.summarise(pd.concat(results, ignore_index=True)[
        ["task", "variant", "repeat", "reference", "macro_f1", "negative_f1", "brier"]])
    rates = pd.DataFrame(shares)
    out = table.merge(rates, on=["task", "variant"])
    write_text(OUT_FILE, out.round(4).to_csv(index=False))
    shown = table.assign(**{
        "macro-F1": table["macro_f1_mean"].map("{:.3f}".format) + " ± " + table["macro_f1_std"].map("{:.3f}".format),
        "negative F1": [f"{m:.3f} ± {s:.3f}" if not np.isnan(m) else "" for m, s in
                        zip(table["negative_f1_mean"], table["negative_f1_std"])],
        "paired gain": table["paired_gain_mean"].map("{:+.3f}".format) + " ± "
        + table["paired_gain_std"].map("{:.3f}".format)})
    print(shown[["task", "variant", "reference", "macro-F1", "negative F1", "paired gain", "verdict"]]
          .to_markdown(index=False))
    print()
    print(rates.round(2).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
