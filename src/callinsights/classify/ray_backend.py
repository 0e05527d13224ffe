"""Labelling on a Ray cluster (``--backend ray [--address ADDR] [--workers N]``) with Ray Data.

The calls the store lacks become a Ray dataset; a pool of actors maps over it, each actor loading the engine once
(llama.cpp in-process, or the OpenAI-compatible engine against a server) and computing one call per batch with the
classifier's own :meth:`callinsights.classify.runner.Classifier.compute`. The driver receives the results as they stream
back and writes each to the store at once, so a killed run resumes; calls already in the store are never sent
(:meth:`callinsights.classify.runner.Classifier.run` passes only the missing ones).

Ray is an optional dependency (``pip install -e .[scale]``): this module imports it only when a run starts.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Iterator

from callinsights.classify.runner import Classifier, Settings


class _Labeller:
    """A Ray actor: one engine, loaded once, computing the outputs of the calls it is given.

    Args:
        settings: The run's settings as a dict.
    """

    def __init__(self, settings: dict):
        # Labels are never read on a worker: the driver fits the probe on the stored outputs.
        self.classifier = Classifier(Settings(**settings), store=None, read_labels=False)
        self.classifier.engine  # loaded once per actor, before the first call

    def __call__(self, batch: dict) -> dict:
        rows = {"cid": [], "result": []}
        for cid, text in zip(batch["cid"], batch["text"]):
            output, valid, prompt_tokens, evaluated, seconds = self.classifier.compute(str(text))
            rows["cid"].append(str(cid))
            # JSON keeps the nested output (answer log-probabilities, hidden states) one plain column.
            rows["result"].append(json.dumps([output, bool(valid), int(prompt_tokens), int(evaluated),
                                              float(seconds)]))
        return rows


class RayCompute:
    """Computes calls on a Ray cluster: ``compute_missing`` for :meth:`callinsights.classify.runner.Classifier.run`.

    Args:
        settings: The run's settings (each actor builds its own engine from them).
        address: A running cluster's address (``ray://HOST:10001`` or ``auto``); None starts a local instance.
        workers: Actors in the pool, each loading the engine once.
        cpus_per_worker: CPUs Ray reserves per actor; a local llama.cpp engine uses that many threads.
    """

    def __init__(self, settings: Settings, address: str | None = None, workers: int = 1, cpus_per_worker: int = 1):
        if workers < 1:
            raise ValueError(f"--workers {workers} must be at least 1")
        self.settings = settings
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker

    def __call__(self, missing: dict[str, str]) -> Iterator[tuple[str, tuple]]:
        """Yield ``(call id, (output, valid, prompt_tokens, evaluated_tokens, seconds))`` as results arrive."""
        try:
            import ray
            import ray.data
        except ImportError as err:
            raise RuntimeError(f"--backend ray needs Ray ({err}); install it with `pip install -e .[scale]` "
                               "or `pip install -r requirements-scale.txt`") from None
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)
        settings = asdict(self.settings)
        if self.settings.engine != "openai" and self.settings.threads is None:
            # One llama.cpp thread per reserved CPU: more threads than cores wait on each other.
            settings["threads"] = self.cpus_per_worker
        dataset = ray.data.from_items([{"cid": cid, "text": text} for cid, text in missing.items()])
        results = dataset.map_batches(
            _Labeller, fn_constructor_kwargs={"settings": settings}, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=self.cpus_per_worker,
        )
        for row in results.iter_rows():
            output, valid, prompt_tokens, evaluated, seconds = json.loads(row["result"])
            yield row["cid"], (output, valid, prompt_tokens, evaluated, seconds)
