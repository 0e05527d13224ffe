"""Pipeline speed against llama.cpp's own prompt evaluation of the same tokens, in one run.

    python -m benchmarks.throughput --calls 20 [--method probe|score] [--model ...]

1. The pipeline labels N calls from scratch (a fresh temporary store, so nothing is served from cache), timed
   end to end including parsing, tokenising, storing and calibration.
2. A bare ``llama_cpp.Llama`` with the same model and threads evaluates, as a plain prompt, the same tokens the method
   needs for those calls (for ``probe``: the customer text and its last turns; for ``score``: the shared prefix and each
   question once), timed around ``eval`` alone.

The last line is ``ratio <x>``: pipeline seconds per call / llama.cpp prompt-evaluation seconds per call. The same
lines, under a line saying when and how they were measured, go to ``results/benchmarks/throughput.md`` (``--out``),
which docs/scale.md's speed figures are checked against.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from callinsights import config
from callinsights.data.outputs import write_text
from callinsights.classify.runner import Classifier, Settings, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.llm.base import quiet_stderr, default_threads
from callinsights.llm.prompts import PROMPTS
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls


def method_texts(classifier: Classifier, text: str) -> list[str]:
    """The token sequences the method has to read for one call, each evaluated from an empty context."""
    settings = classifier.settings
    if settings.method == "probe":
        return [text]  # one pass: the turns are pooled from the same token states
    prompt = PROMPTS[settings.prompt_version]
    chat = classifier.model.chat
    prefix = prompt.prefix(chat, text, whole_call=settings.side == "call")
    return [prefix + "".join(prompt.suffix(chat, q) for q in prompt.questions)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="number of calls (labelled calls first)")
    parser.add_argument("--dir", default=str(config.TRANSCRIPTS_DIR))
    parser.add_argument("--method", default=Settings.method, choices=["probe", "score"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", default=str(config.BENCHMARK_FILES["throughput"]), help="where the lines go too")
    args = parser.parse_args(argv)

    settings = Settings(model=args.model, method=args.method)
    calls, _ = read_calls(args.dir)
    texts = texts_for_model(calls, settings)
    # Labelled calls first: the probe is fitted on the labelled calls among those it reads.
    labelled = set(load_labels(config.LABELS_FILE).index) if config.LABELS_FILE.is_file() else set()
    order = sorted(texts, key=lambda cid: cid not in labelled)
    texts = {cid: texts[cid] for cid in order[: args.calls]}
    n = len(texts)

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.sqlite") as store:
        with Classifier(settings, store) as classifier:
            classifier.engine  # load before timing: loading is a one-off, not per-call work
            start = time.perf_counter()
            result = classifier.run(texts, progress=False)
            pipeline_seconds = time.perf_counter() - start
            sequences = [s for text in texts.values() for s in method_texts(classifier, text)]
            model_path = classifier.model.path

    from llama_cpp import Llama

    threads = default_threads()
    with quiet_stderr():
        # Plain prompt evaluation, as llama.cpp does it for any prompt: the reference the pipeline is held to.
        bare = Llama(model_path=str(model_path), n_ctx=settings.n_ctx, n_threads=threads, n_threads_batch=threads,
                     n_batch=512, verbose=False)
    token_lists = [bare.tokenize(s.encode("utf-8"), add_bos=False, special=True) for s in sequences]
    eval_seconds = 0.0
    for tokens in token_lists:
        bare.reset()
        start = time.perf_counter()
        bare.eval(tokens)
        eval_seconds += time.perf_counter() - start
    bare.close()
    n_tokens = sum(len(t) for t in token_lists)

    per_call = pipeline_seconds / n
    per_call_eval = eval_seconds / n
    lines = [
        f"{date.today():%Y-%m-%d}: model {Path(model_path).name}, method {settings.method}, {n} calls, {threads} "
        f"threads, {os.cpu_count()} cores",
        f"pipeline: {per_call:.3f} s/call, {60 / per_call:.1f} calls/min ({result.n_computed} computed)",
        f"llama.cpp prompt evaluation of the same {n_tokens} tokens: {per_call_eval:.3f} s/call, "
        f"{n_tokens / eval_seconds:.0f} tokens/s",
        f"ratio {per_call / per_call_eval:.2f}",
    ]
    print("\n".join(lines))
    write_text(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
