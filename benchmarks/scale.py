"""Calls per minute past the single in-process engine, in one run: the local backend, the OpenAI-compatible server
engine at concurrency 1, 2 and 4, and Ray Data with 1 and 2 workers.

    python -m benchmarks.scale --calls 20 [--method probe|score] [--model smollm2-135m]

Every configuration labels the same N calls from scratch (a fresh temporary store each), reading each call once
(the probe's sentiment from the last layer, as a server gives it). The local backend and the
server have their model loaded before the clock starts; a Ray run is timed whole, including starting its actors and
loading the model in each (a one-off cost per run, which a run over a whole archive spreads over many calls). The
server is llama-cpp-python's, started here on 127.0.0.1 with as many threads as the local engine.

Prints a Markdown table with each configuration's calls per minute and its ratio to the local backend, then the
local backend's prompt tokens per second (the basis of the capacity table in docs/scale.md), and the capacity table;
the same text, under a line saying when and how it was measured, goes to ``results/benchmarks/scale.md`` (``--out``),
which docs/scale.md's tables are checked against.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from callinsights import config
from callinsights.data.outputs import write_text
from callinsights.classify.runner import Classifier, Settings, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.llm.base import default_threads
from tests.support.server import running_server
from callinsights.llm.models import resolve_model
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls


def timed_run(settings: Settings, texts: dict[str, str], compute_missing=None, preload: bool = True
              ) -> tuple[float, int]:
    """Seconds to label ``texts`` from an empty store, and the prompt tokens read."""
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.sqlite") as store:
        with Classifier(settings, store) as classifier:
            if preload:
                classifier.engine  # loading is a one-off, not per-call work
            start = time.perf_counter()
            result = classifier.run(texts, progress=False, compute_missing=compute_missing)
            seconds = time.perf_counter() - start
    assert result.n_computed == len(texts), "a benchmark run must compute every call"
    return seconds, int(result.predictions["prompt_tokens"].sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="number of calls (labelled calls first)")
    parser.add_argument("--dir", default=str(config.TRANSCRIPTS_DIR))
    parser.add_argument("--method", default=Settings.method, choices=["probe", "score"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads of each engine: the local one, the server, each Ray actor "
                             "(default: all cores; 1 on a machine shared with other jobs)")
    parser.add_argument("--out", default=str(config.BENCHMARK_FILES["scale"]), help="where the tables go too")
    args = parser.parse_args(argv)

    threads = args.threads or default_threads()
    # One pass per call everywhere: a server returns the last layer only, so the probe's second pass for sentiment
    # (Settings.sentiment_blocks) is left out to compare the same work; `make benchmark` measures the default's.
    settings = Settings(model=args.model, method=args.method, threads=threads, sentiment_blocks=0)
    calls, _ = read_calls(args.dir)
    texts = texts_for_model(calls, settings)
    # Labelled calls first: the probe is fitted on the labelled calls among those it reads.
    labelled = set(load_labels(config.LABELS_FILE).index) if config.LABELS_FILE.is_file() else set()
    order = sorted(texts, key=lambda cid: cid not in labelled)
    texts = {cid: texts[cid] for cid in order[: args.calls]}
    n = len(texts)
    model = resolve_model(args.model)

    rows: list[tuple[str, float]] = []

    def record(name: str, seconds: float) -> None:
        rows.append((name, seconds))
        print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)

    local_seconds, local_tokens = timed_run(settings, texts)
    record("local backend (llama.cpp in-process)", local_seconds)

    with running_server(str(model.path), threads) as url:
        for concurrency in (1, 2, 4):
            server = replace(settings, engine="openai", base_url=url, concurrency=concurrency)
            record(f"server engine, concurrency {concurrency}", timed_run(server, texts)[0])

    import ray

    from callinsights.classify.runner import RayCompute

    ray.init(num_cpus=default_threads(), include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            compute = RayCompute(settings, workers=workers, cpus_per_worker=1)
            record(f"Ray Data, {workers} worker{'s' if workers > 1 else ''}",
                   timed_run(settings, texts, compute, preload=False)[0])
    finally:
        ray.shutdown()

    lines = [f"{date.today():%Y-%m-%d}: model {model.name}, method {settings.method}, {n} calls, "
             f"{default_threads()} cores, {threads} llama.cpp thread(s) per engine", "",
             "| configuration | seconds | calls/min | ratio to local |", "|---|---|---|---|"]
    lines += [f"| {name} | {seconds:.1f} | {60 * n / seconds:.1f} | {local_seconds / seconds:.2f} |"
              for name, seconds in rows]
    lines += ["", f"local backend: {local_tokens / local_seconds:.0f} prompt tokens/s, {local_tokens / n:.0f} tokens/call",
              "", capacity_table(60 * n / local_seconds, local_tokens / local_seconds, local_tokens / n, rows, n,
                                 model.name)]
    print("\n".join(lines))
    write_text(args.out, "\n".join(lines) + "\n")
    return 0


#: Parameters of the two models (their model cards: SmolLM2-135M-Instruct, Llama-3.2-1B-Instruct).
PARAMETERS = {"SmolLM2-135M": 135e6, "Llama 3.2 1B": 1.24e9}


def capacity_table(calls_per_min: float, tokens_per_s: float, tokens_per_call: float,
                   rows: list[tuple[str, float]], n: int, model_name: str) -> str:
    """Calls per day per machine: measured for the model run, and for Llama 3.2 1B estimated from the measured token
    rate scaled by the parameter ratio (prompt evaluation on a CPU costs about two operations per parameter and
    token), at the same tokens per call (Llama 3's larger vocabulary needs somewhat fewer: the estimate is low)."""
    best_name, best_seconds = min(rows, key=lambda row: row[1])
    best_per_min = 60 * n / best_seconds
    ratio = PARAMETERS["SmolLM2-135M"] / PARAMETERS["Llama 3.2 1B"]
    llama_per_min = tokens_per_s * ratio * 60 / tokens_per_call
    lines = [
        "| model | how | calls/min | calls/day per machine |",
        "|---|---|---|---|",
        f"| {model_name} | measured, local backend | {calls_per_min:.0f} | {calls_per_min * 1440:,.0f} |",
        f"| {model_name} | measured, {best_name} | {best_per_min:.0f} | {best_per_min * 1440:,.0f} |",
        f"| Llama 3.2 1B (**estimate**) | {tokens_per_s:.0f} tokens/s x {ratio:.3f} (parameter ratio), "
        f"{tokens_per_call:.0f} tokens/call | {llama_per_min:.1f} | {llama_per_min * 1440:,.0f} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
