"""Does an intermediate layer of the embedded model give a better probe than the last one?

llama.cpp only returns the last layer's token states, so this writes *truncated* copies of the embedded GGUF that
keep the first k transformer blocks (``llama.block_count`` = k, the ``blk.{i}.*`` tensors with i >= k dropped; the
token embeddings and ``output_norm`` kept, the output weights are tied to the embeddings). Loaded exactly as the
product loads its model (:class:`callinsights.classify.runner.Classifier`, method ``probe``: llama.cpp, pooling off,
:meth:`~callinsights.llm.engines.LlamaCppEngine.embed_turns`, long calls windowed as in the product), the "last"
hidden state of a copy is the output of block k after the final RMS norm.

Each copy's per-turn states for all 200 calls go to a store of their own (``~/.cache/callinsights/layers/``, resumed
if a pass is killed) and then to an ``.npz`` cache there. The held-out protocol is ``benchmarks/label_variants.py``'s
(its functions are reused): 10 x 4 repeated stratified folds, seed 0, fitted on the guideline majority, scored
against both readings; macro-F1, negative F1 and Brier, mean ± sd over repeats, and the paired gain over the stored
default (same splits). First, the check that the truncation is right: the copy with all blocks must give the stored
default's per-turn states on the first calls (``--check-calls``; ``--layers 30`` recomputes all 200).

Run from the worktree (a pass over the 200 calls takes minutes per copy on 2 cores; use ``--layers`` to do a few)::

    .venv/bin/python -m benchmarks.layer_probe --layers 14 20 8 26 --concat 14
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from callinsights import config
from callinsights.classify.probe import call_features, task_columns
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls
from callinsights.llm.engines import block_count
from callinsights.llm.models import resolve_model

from benchmarks import label_variants as lv  # a sibling benchmark: same protocol, same functions
from tests.support.cut_model import write_first_blocks

LAYER_DIR = config.CACHE_DIR / "layers"
OUT_FILE = config.RESULTS_DIR / "layer_probe.csv"
THREADS = 2  # two cores shared by several people


def truncated_copy(source: Path, keep: int) -> Path:
    """A copy of ``source`` with its first ``keep`` blocks, written once into :data:`LAYER_DIR` (every block kept
    too: that copy is the truncation's check)."""
    out = LAYER_DIR / f"{source.stem}.blocks-{keep}-of-{block_count(source)}.gguf"
    return out if out.is_file() else write_first_blocks(source, keep, out)


def layer_states(keep: int, texts: dict[str, str]) -> tuple[list[str], list[np.ndarray]]:
    """Every call's per-turn states from the copy with ``keep`` blocks, computed as the product does (cached)."""
    source = resolve_model(None).path
    cache = LAYER_DIR / f"{source.stem}.blocks-{keep}.npz"
    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        if list(saved["ids"]) == list(texts):
            return list(saved["ids"]), np.split(saved["states"], saved["offsets"][1:-1])
    path = truncated_copy(source, keep)
    # The copy's own last layer (sentiment_blocks=0): the copy is the earlier layer.
    settings = Settings(model=str(path), threads=THREADS, sentiment_blocks=0)
    start = time.perf_counter()
    with Store(LAYER_DIR / "layer_states.sqlite") as store, \
            Classifier(settings, store, read_labels=False) as classifier:
        records = classifier.outputs(texts, progress=True)
    ids = [cid for cid, _, _ in records]
    states = [np.asarray(rec["output"]["turns"], dtype=np.float64) for _, rec, _ in records]
    offsets = np.cumsum([0] + [len(s) for s in states])
    np.savez(cache, ids=np.array(ids), states=np.vstack(states), offsets=offsets)
    print(f"blocks {keep}: {len(ids)} calls in {time.perf_counter() - start:.0f} s", flush=True)
    return ids, states


def check_truncation(full: int, texts: dict[str, str], stored: list[np.ndarray]) -> None:
    """The copy that keeps all ``full`` blocks must give the stored default's per-turn states on ``texts``.

    Raises:
        SystemExit: It does not (then the copy is not the model, and no layer's figures mean anything).
    """
    path = truncated_copy(resolve_model(None).path, full)
    with Store(LAYER_DIR / "layer_states.sqlite") as store, \
            Classifier(Settings(model=str(path), threads=THREADS, sentiment_blocks=0), store,
                       read_labels=False) as classifier:
        records = classifier.outputs(texts, progress=False)
    states = [np.asarray(rec["output"]["turns"], dtype=np.float64) for _, rec, _ in records]
    same_shapes = all(a.shape == b.shape for a, b in zip(states, stored))
    diff = max(np.abs(a - b).max() for a, b in zip(states, stored)) if same_shapes else np.inf
    print(f"check: copy with all {full} blocks vs the stored default on {len(texts)} calls: "
          f"max |difference| of per-turn states {diff:.1e}", flush=True)
    if diff > 1e-4:
        raise SystemExit("the full-depth copy does not reproduce the stored default; the truncation is wrong")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[14, 20, 8, 26],
                        help="blocks kept per copy (the full count computes all 200 calls again)")
    parser.add_argument("--concat", type=int, nargs="*", default=[],
                        help="layers whose features are also tried joined with the last layer's")
    parser.add_argument("--check-calls", type=int, default=10,
                        help="calls on which the full-depth copy must reproduce the stored states (0: skip)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    ids, stored = lv.load(Settings())  # the default's per-turn states, as the main job stored them
    calls, _ = read_calls(config.TRANSCRIPTS_DIR)
    texts = texts_for_model(calls, Settings())
    if list(texts) != ids:
        raise SystemExit("the stored default and the transcripts list different calls; re-run the main job")
    full = block_count(resolve_model(None).path)
    if args.check_calls:
        check_truncation(full, {cid: texts[cid] for cid in ids[:args.check_calls]}, stored[:args.check_calls])
    by_layer = {"stored": stored}
    for keep in args.layers:
        layer_ids, states = layer_states(keep, texts)
        if layer_ids != ids:
            raise SystemExit(f"blocks {keep}: calls in another order than the stored default's")
        by_layer[keep] = states
    guideline, client = load_labels(config.GUIDELINE_LABELS_FILE), load_labels(config.LABELS_FILE)
    labelled = np.array([i for i, cid in enumerate(ids) if cid in guideline.index])
    names = [ids[i] for i in labelled]
    readers = lv.readers_table(names)
    features = {k: np.array([call_features(s) for s in v]) for k, v in by_layer.items()}
    results = []
    for task in ("sentiment", "outcome"):
        cols = task_columns(task, features["stored"].shape[1])
        variants = [("default (stored, last layer)", features["stored"][:, cols])]
        variants += [(f"blocks {k} of {full}" + (" (check)" if k == full else ""), features[k][:, cols])
                     for k in args.layers]
        variants += [(f"blocks {k} + last layer", np.hstack([features[k][:, cols], features["stored"][:, cols]]))
                     for k in args.concat]
        y = guideline.loc[names, task].reset_index(drop=True)
        references = {"guideline": y, "client": client.loc[names, task].reset_index(drop=True)}
        for name, x in variants:
            part = lv.cross_validate(lv.Task(x, labelled, y, readers[task]), lv.default, references, args.repeats)
            part.insert(0, "variant", name)
            part.insert(0, "task", task)
            results.append(part)
            mean = part[part["reference"] == "guideline"]["macro_f1"]
            print(f"{task:9s} {name:32s} guideline macro-F1 {mean.mean():.3f} ± {mean.std():.3f}", flush=True)

    table = lv.summarise(pd.concat(results, ignore_index=True))
    config.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(OUT_FILE, index=False)
    wide = table.pivot_table(index=["task", "variant"], columns="reference", sort=False, aggfunc="first",
                             values=["macro_f1_mean", "macro_f1_std", "negative_f1_mean", "negative_f1_std",
                                     "brier_mean", "paired_gain_mean", "paired_gain_std", "verdict"])
    shown = pd.DataFrame({
        "macro-F1 vs guideline": [f"{m:.3f} ± {s:.3f}" for m, s in
                                  zip(wide["macro_f1_mean"]["guideline"], wide["macro_f1_std"]["guideline"])],
        "macro-F1 vs client": [f"{m:.3f} ± {s:.3f}" for m, s in
                               zip(wide["macro_f1_mean"]["client"], wide["macro_f1_std"]["client"])],
        "negative F1": [f"{m:.3f} ± {s:.3f}" if not np.isnan(m) else "" for m, s in
                        zip(wide["negative_f1_mean"]["guideline"], wide["negative_f1_std"]["guideline"])],
        "Brier (guideline)": wide["brier_mean"]["guideline"].map("{:.3f}".format).to_numpy(),
        "paired gain (guideline)": [
            "—" if name.startswith("default") else f"{m:+.3f} ± {s:.3f}" for (_, name), m, s
            in zip(wide.index, wide["paired_gain_mean"]["guideline"], wide["paired_gain_std"]["guideline"])],
        "verdict (guideline)": wide["verdict"]["guideline"].to_numpy(),
    }, index=wide.index).reset_index()
    print(shown.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
