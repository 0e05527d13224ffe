"""Does the one-pass reading of block 26 give the features the store holds?

    python -m benchmarks.block_reader_check [--calls N]

Recomputes the default probe's outputs of the client's calls (or the first N) with the current code and compares them
with those stored in ``results/runs.sqlite`` under the same key: the largest absolute difference of the last layer's
per-turn states (``turns``) and of block 26's (``sentiment_turns``). Written for ``docs/experiments.md`` item 10, where
the stored outputs came from a second pass through a copy of the model cut after block 26.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from callinsights import config
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.classify.runner import fit_to_context
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="only the first N calls")
    args = parser.parse_args(argv)
    calls, _ = read_calls(config.TRANSCRIPTS_DIR)
    settings = Settings()
    worst = {"turns": 0.0, "sentiment_turns": 0.0}
    compared, start = 0, time.perf_counter()
    with Store(config.STORE_FILE, read_only=True) as store, Classifier(settings, None, read_labels=False) as classifier:
        texts, _ = fit_to_context(texts_for_model(calls, settings), settings, classifier.model)
        for cid, text in list(texts.items())[: args.calls]:
            stored = store.get(classifier.key(text))
            if stored is None:
                print(f"{cid}: not in the store (run `make analyze` first)")
                continue
            output = classifier.compute(text)[0]
            for key in worst:
                diff = np.abs(np.asarray(output[key]) - np.asarray(stored["output"][key])).max()
                worst[key] = max(worst[key], float(diff))
            compared += 1
    print(f"{compared} calls compared in {time.perf_counter() - start:.0f} s; largest |difference|: "
          + ", ".join(f"{key} {value:.1e}" for key, value in worst.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
