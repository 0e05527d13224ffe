"""Where the probe's attribution falls in a call, and whether the outcome probe needs the turns no quote may show.

Before issue 24 a third of the outcome quotes were verification or greeting turns. This measures why, with the
attribution the quotes are now chosen by (:func:`callinsights.classify.probe.turn_attribution`: the drop in the
label's probability when a turn is left out of the pooling), over every turn of the 200 calls, the saved probe
(``artifacts/probe.skops``) and the labels of ``results/predictions.csv``:

- by the turn's kind (:func:`callinsights.classify.probe.quote_kind`) and position (the opening, the last three
  turns the "ending" features pool, the middle): mean drop, mean absolute drop, share of the call's tokens, how often
  it is the call's top turn, and for those top turns how much of the label's logit moves through the whole-call
  mean and how much through the ending (the probe is linear in the pooled features, so the two add up);
- the outcome probe with the verification and greeting turns left out of its pooling, held out by the protocol of
  ``docs/experiments.md`` item 8 (10 x 4 repeated stratified folds, seed 0, fitted on the guideline majority, scored
  against both readings; mean ± sd over repeats, paired gain over the default on the same splits).

Writes ``results/evidence_attribution.csv`` and ``results/evidence_pooling.csv``. Run from the worktree (stored
outputs only; about a minute)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.evidence_attribution
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from callinsights import config
from callinsights.classify.probe import (call_features, load_fitted, quote_kind, task_columns, task_states,
                                         turn_attribution)
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.data.outputs import write_text
from callinsights.data.transcripts import read_calls
from callinsights.text.redact import redact

from benchmarks import label_variants as lv

ATTRIBUTION_FILE = config.RESULTS_DIR / "evidence_attribution.csv"
POOLING_FILE = config.RESULTS_DIR / "evidence_pooling.csv"


def position(turn: int, turns: int) -> str:
    """The opening, the turns the ending features pool, or the middle."""
    return "opening" if turn == 0 else "ending" if turn >= turns - 3 else "middle"


def attribution(outputs: dict[str, dict], turns: dict[str, list[str]], labels: pd.DataFrame, fitted) -> pd.DataFrame:
    """One row per task, call and turn: its kind, position, token share, drop, and for each turn the label's logit
    change through the whole-call part and through the ending part when it is left out."""
    rows = []
    for task in ("sentiment", "outcome"):
        probe = fitted.tasks[task].probe
        weights = probe.model.coef_ / probe.scaler.scale_  # per raw feature; binary: one row, for classes_[1]
        for cid, output in outputs.items():
            states, label = task_states(output, task), labels.loc[cid, task]
            whole = call_features(states)
            columns = task_columns(task, len(whole))
            k = list(probe.classes_).index(label)
            w = (weights[0] if k == 1 else -weights[0]) if len(weights) == 1 else weights[k]
            drops = turn_attribution(probe, states, task, label)
            half = len(whole) // 2
            for t, text in enumerate(turns[cid]):
                change = np.zeros(len(whole))
                change[columns] = w * (whole - call_features(np.delete(states, t, axis=0)))[columns]
                rows.append({"task": task, "file": cid, "turn": t, "kind": quote_kind(text) or "quotable",
                             "position": position(t, len(states)), "tokens": states[t, -1],
                             "token_share": states[t, -1] / states[:, -1].sum(), "drop": drops[t],
                             "via_whole": change[:half].sum(), "via_ending": change[half:].sum()})
    table = pd.DataFrame(rows)
    # The call's top turn: the largest drop, if above zero (sentiment's turns before the ending drop 0, up to rounding).
    table["top"] = (table.groupby(["task", "file"])["drop"].rank(ascending=False, method="first") == 1) & (
        table["drop"] > 1e-9)
    return table


def summary(turns: pd.DataFrame) -> pd.DataFrame:
    """Per task and group (kind, position): the figures of the module docstring."""
    out = []
    for by in ("kind", "position"):
        for (task, group), part in turns.groupby(["task", by], sort=False):
            top = part[part["top"]]
            out.append({"task": task, "grouping": by, "group": group, "turns": len(part),
                        "mean_drop": part["drop"].mean(), "mean_abs_drop": part["drop"].abs().mean(),
                        "token_share": part["token_share"].mean(), "top_turn_of_calls": len(top),
                        "top_logit_via_whole": top["via_whole"].mean(), "top_logit_via_ending": top["via_ending"].mean()})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    settings = Settings()
    stored = lv.stored_outputs(settings)
    calls, _ = read_calls(config.TRANSCRIPTS_DIR)
    texts = texts_for_model(calls, settings)
    turns = {cid: [redact(t) for t in texts[cid].split("\n") if t.strip()] for cid in stored}
    labels = pd.read_csv(config.PREDICTIONS_FILE).set_index("file")
    table = attribution(stored, turns, labels, load_fitted(config.ARTIFACT_FILE))
    figures = summary(table)
    write_text(ATTRIBUTION_FILE, figures.round(4).to_csv(index=False))
    print(figures.round(3).to_markdown(index=False))

    # The outcome probe pooled without the turns no quote may show, against the default on the same splits.
    ids, outputs = list(stored), list(stored.values())
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    y = guideline.loc[names, "outcome"].reset_index(drop=True)
    references = {"guideline": y, "client": client.loc[names, "outcome"].reset_index(drop=True)}

    def pooled_without(cid: str, output: dict) -> np.ndarray:
        states = task_states(output, "outcome")
        keep = np.array([not quote_kind(t) for t in turns[cid]])
        features = call_features(states[keep])
        return features[task_columns("outcome", len(features))]

    default = np.array([call_features(task_states(o, "outcome")) for o in outputs])
    variants = {"default: whole + ending": default[:, task_columns("outcome", default.shape[1])],
                "without verification and greeting turns": np.array([pooled_without(c, o) for c, o in stored.items()])}
    readers = lv.readers_table(names)["outcome"]
    results, labelled_all = [], {}
    for name, x in variants.items():
        spec = lv.Task(x, labelled, y, readers)
        results.append(lv.cross_validate(spec, lv.default, references, args.repeats).assign(task="outcome",
                                                                                            variant=name))
        proba, _ = lv.default(spec, np.arange(len(labelled)), np.arange(len(ids)))  # fitted on all 40, every call
        labelled_all[name] = spec.classes[proba.argmax(axis=1)]
    pooling = lv.summarise(pd.concat(results, ignore_index=True)[
        ["task", "variant", "repeat", "reference", "macro_f1", "negative_f1", "brier"]])
    first = labelled_all[next(iter(variants))]
    pooling["calls_labelled_otherwise"] = pooling["variant"].map(
        {name: int((labels_ != first).sum()) for name, labels_ in labelled_all.items()})
    write_text(POOLING_FILE, pooling.round(4).to_csv(index=False))
    print()
    print(pooling[["variant", "reference", "macro_f1_mean", "macro_f1_std", "paired_gain_mean", "paired_gain_std",
                   "verdict", "calls_labelled_otherwise"]]
          .round(3).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
