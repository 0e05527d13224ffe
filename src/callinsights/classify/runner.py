"""Labelling calls: the :class:`Classifier` that asks a method and an engine, reusing stored outputs; the window a
call longer than the context is read from; and the Ray backend.

A call that does not fit in ``n_ctx`` beside its method's prompt is labelled from its **last** whole turns that fit
(the guideline weighs how a call ends most; its last words when even the last turn is too long, its last characters
when even the last word is -- a pasted blob of 150 KB with no space), flagged ``windowed``: one such call never stops
the batch. A call that fits is read unchanged, so its store key and prediction are what they were before windows
existed; most are seen to fit from their bytes alone (a token is never shorter than a byte).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from typing import Iterator

import numpy as np
import pandas as pd

from callinsights import config
from callinsights.classify.methods import METHODS, Computed, Method, Setup, prepare
from callinsights.classify.probe import FittedProbe
from callinsights.classify.settings import RunResult, Settings, texts_for_model
from callinsights.data.calls import read_source
from callinsights.data.store import OutputKey, Store
from callinsights.llm.engines import ENGINES, load_engine
from callinsights.llm.models import ModelInfo, count_tokens
from callinsights.schema import PREDICTION_COLUMNS, PROBA_COLUMNS

# Tokens a text may have beyond its bytes: a BOS, an end token, a leading space some vocabularies add.
_BYTE_SLACK = 4


@dataclass(frozen=True)
class Window:
    """What the model reads of one call: its text unchanged, or its end that fits; ``dropped_turns``: the turns
    (lines) not read whole, left out or cut."""

    text: str
    dropped_turns: int = 0
    windowed: bool = False


class ContextBudget:
    """Whether a call's text fits in the context beside its method's prompt, and its window if not.

    Args:
        settings: The run's settings (method, prompt, side, ``n_ctx``).
        model: The resolved model (its vocabulary counts the tokens, its chat format builds the prompt).
    """

    def __init__(self, settings: Settings, model: ModelInfo):
        self.method: Method = METHODS[settings.method](Setup(settings, model))
        self.n_ctx = settings.n_ctx
        # The prompt's fixed parts are counted once, not at every bisection step.
        self._exact = lru_cache(maxsize=64)(partial(count_tokens, model.path))

    def needed(self, text: str, exact: bool = True) -> int:
        """Tokens of context the method needs for ``text`` (an upper bound from its bytes with ``exact=False``)."""
        return self.method.tokens_needed(text, self._exact if exact else _bytes_bound)

    def fits(self, text: str) -> bool:
        return self.needed(text, exact=False) <= self.n_ctx or self.needed(text) <= self.n_ctx

    def window(self, text: str) -> Window:
        """The call's text if it fits, else its last turns that fit (see the module's rules).

        Raises:
            ValueError: Not even one word fits beside the prompt: ``n_ctx`` is too small for the method.
        """
        if self.fits(text):
            return Window(text)
        lines = text.split("\n")
        # Its last turns; else the last turn's last words; else, not one word fitting, its last characters.
        for pieces, sep in ((lines, "\n"), (lines[-1].split(" "), " "), (list(lines[-1]), "")):
            kept = self._most(pieces, sep)
            if kept:
                return Window(sep.join(pieces[-kept:]), len(lines) - (kept if pieces is lines else 0), True)
        raise ValueError(f"a context of {self.n_ctx} tokens leaves no room for a call's words beside the "
                         f"{self.method.name} prompt; raise n_ctx")

    def _most(self, pieces: list[str], sep: str) -> int:
        """How many of the last ``pieces``, fewer than all, fit joined by ``sep`` (0: none), by bisection: more
        pieces, more tokens."""
        return bisect.bisect_left(range(1, len(pieces)), True, key=lambda k: not self.fits(sep.join(pieces[-k:])))


def _bytes_bound(text: str, bos: bool, special: bool) -> int:
    return len(text.encode("utf-8")) + _BYTE_SLACK


def fit_to_context(texts: dict[str, str], settings: Settings, model: ModelInfo
                   ) -> tuple[dict[str, str], dict[str, Window]]:
    """Each call's text as the model can read it (in the same order), and call id -> window of the calls cut."""
    budget = ContextBudget(settings, model)
    windows = {cid: budget.window(text) for cid, text in texts.items()}
    return ({cid: w.text for cid, w in windows.items()},
            {cid: w for cid, w in windows.items() if w.windowed})


def window_note(predictions, n_ctx: int) -> str:
    """A line naming the calls read from a window (with a newline), or nothing: ``analyze`` prints it."""
    windowed = predictions[predictions["windowed"]]
    if windowed.empty:
        return ""
    calls = ", ".join(f"{row.file} ({row.dropped_turns} turn{'s' * (row.dropped_turns != 1)} left out or cut)"
                      for row in windowed.itertuples())
    return (f"  {len(windowed)} call(s) longer than the model's context ({n_ctx} tokens), labelled from their end "
            f"that fits (column windowed): {calls}\n")


class Interrupted(BaseException):
    """SIGINT or SIGTERM (``signum``) stopped the work: every call finished before it is stored, so the same command
    resumes; ``run_id``: the run marked ``interrupted`` in the store (None when none had started, e.g. in a fit)."""

    def __init__(self, signum: int, run_id: int | None = None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.run_id = signum, run_id

    @property
    def exit_code(self) -> int:
        """What a shell expects of a process stopped by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


@contextlib.contextmanager
def stop_between_calls() -> Iterator:
    """While calls are computed, SIGINT and SIGTERM stop the work after the call in progress, never inside the
    engine's C code (an exception raised in a llama.cpp callback is lost, and the engine fails with another error);
    a second signal stops at once. Yields the check to call between calls: it raises :class:`Interrupted`."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread receives signals
        yield lambda: None
        return
    asked: list[int] = []

    def ask(signum, _frame):
        if asked:
            raise Interrupted(signum)
        asked.append(signum)
        print(f"\n{signal.Signals(signum).name}: stopping after the call in progress (send it again to stop at once)",
              file=sys.stderr)

    def check() -> None:
        if asked:
            raise Interrupted(asked[0])

    previous = {signum: signal.signal(signum, ask) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield check
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Classifier:
    """Labels calls with one model, engine and method, reusing stored outputs; the engine is loaded only when some
    call is not in the store yet.

    Args:
        settings: How to label (checked and resolved here unless already a :class:`Setup`).
        store: Where outputs and runs are kept (None for a worker that only computes, see :meth:`compute`).
        read_labels: Read the labels a fitted method needs now (a worker that only computes needs none).
        fitted: For ``probe``: the fit to label with (ValueError if made with another model, engine or features);
            None fits it on the labelled calls of each run.
    """

    def __init__(self, settings: Settings | Setup, store: Store | None, read_labels: bool = True,
                 fitted: FittedProbe | None = None):
        setup = prepare(settings)
        self.settings, self.model = setup.settings, setup.model
        self.method: Method = setup.method(setup, fitted=fitted, read_labels=read_labels)
        self.prompt_version = self.method.version
        self.store = store
        self._engine = None
        self._engine_key: str | None = None
        #: Call id -> the text the model read in the last :meth:`outputs` (a long call's window).
        self.texts_read: dict[str, str] = {}
        self._windows: dict[str, Window] = {}

    @property
    def engine(self):
        """The engine, loaded on first use as the method asks."""
        if self._engine is None:
            s = self.settings
            self._engine = load_engine(s.engine, self.model, s.n_ctx, s.threads, server=s.server_options(),
                                       **self.method.engine_options())
        return self._engine

    def describe(self) -> str:
        """One line naming model, engine and method, printed by every run."""
        s = self.settings
        extra = self.method.describe() + (f", server {s.base_url} (concurrency {s.concurrency})" if s.base_url else "")
        return (f"model {self.model.name} ({'embedded' if self.model.embedded else self.model.path}), "
                f"engine {s.engine}, method {s.method}{extra}, prompt {self.prompt_version}, side {s.side}")

    def key(self, text: str) -> OutputKey:
        """The store key of one call's text under these settings."""
        return self.method.key(self.engine_key, text)

    @property
    def engine_key(self) -> str:
        """The engine as stored in the key: its name, or what a server engine reports (asked once)."""
        if self._engine_key is None:
            name = self.settings.engine
            self._engine_key = name if ENGINES[name].key_is_name else self.engine.key_name
        return self._engine_key

    def compute(self, text: str) -> Computed:
        """Run the method on one call's text: ``(output, valid, prompt_tokens, evaluated_tokens, seconds)``."""
        return self.method.compute(self.engine, text)

    def outputs(self, texts: dict[str, str], progress: bool = True, compute_missing=None
                ) -> list[tuple[str, dict, bool]]:
        """``(call id, stored record, served from the store)`` per call of ``texts``, in order: from the store or
        computed now and stored at once (a killed run resumes), a call longer than the context read from its window
        (``progress``, ``compute_missing``: see :meth:`run`)."""
        from tqdm.auto import tqdm

        texts, self._windows = fit_to_context(texts, self.settings, self.model)
        self.texts_read = texts
        with stop_between_calls() as stop_if_asked:
            fresh = self._compute_all_at_once(texts, compute_missing, progress, stop_if_asked)
            records = []
            for cid, text in tqdm(texts.items(), total=len(texts), desc="labelling calls", unit="call",
                                  disable=not progress, file=sys.stderr):
                stop_if_asked()
                key = self.key(text)
                stored = self.store.get(key)
                cached = stored is not None and cid not in fresh
                if stored is None:
                    computed = self.compute(text)
                    self.store.put(key, cid, self.model.name, *computed)
                    # The record as the store would give it back (its columns named as Store.put names them).
                    stored = dict(zip(["output", "valid", "prompt_tokens", "evaluated_tokens", "seconds"], computed))
                records.append((cid, stored, cached))
        return records

    def run(self, texts: dict[str, str], progress: bool = True, compute_missing=None) -> RunResult:
        """Label every call, computing only what the store does not hold, then record the run.

        Args:
            texts: Call id -> the text the model reads (see :func:`texts_for_model`).
            progress: Show a progress bar on stderr.
            compute_missing: Called with ``{call id: text}`` of the calls the store lacks, yields ``(call id,
                compute(text))`` as each finishes elsewhere (e.g. :class:`RayCompute`). By default a server engine
                with ``concurrency`` above 1 uses a thread pool, and a local engine computes one call after another.
        """
        start = time.perf_counter()
        run_id = self.store.start_run({**asdict(self.settings), "model": self.model.name,
                                       "model_hash": self.model.sha256, "prompt_version": self.prompt_version})
        try:
            records = self.outputs(texts, progress, compute_missing)
            n_cached = sum(cached for _, _, cached in records)
            computing = sum(rec["seconds"] for _, rec, cached in records if not cached)
            predictions = self._labels(records)
        except (Interrupted, KeyboardInterrupt) as err:
            # Stopped by the user or the system: the finished calls are stored and the run says it was interrupted.
            stopped = Interrupted(getattr(err, "signum", signal.SIGINT), run_id)
            with contextlib.suppress(Exception):
                self.store.fail_run(run_id, f"interrupted by {stopped}", "interrupted")
            raise stopped from None
        except BaseException as err:
            # The finished calls are stored; the run itself is recorded as failed, not left "running".
            with contextlib.suppress(Exception):  # a broken store must not hide the error that stopped the run
                self.store.fail_run(run_id, f"{type(err).__name__}: {err}")
            raise
        n_invalid = int((~predictions["valid"]).sum())
        self.store.finish_run(run_id, predictions, n_cached, len(records) - n_cached, n_invalid, computing)
        return RunResult(predictions, run_id, self.model, n_cached, len(records) - n_cached,
                         time.perf_counter() - start, {cid: rec["output"] for cid, rec, _ in records})

    def _compute_all_at_once(self, texts: dict[str, str], compute_missing, progress: bool,
                             stop_if_asked=lambda: None) -> set[str]:
        """Compute the calls the store lacks through ``compute_missing`` (or threads, for a server engine with
        ``concurrency`` above 1), storing each as it finishes; returns the calls computed."""
        if compute_missing is None and self.settings.concurrency <= 1:
            return set()
        from tqdm.auto import tqdm

        missing = {cid: text for cid, text in texts.items() if self.store.get(self.key(text)) is None}
        if not missing:
            return set()
        results = (compute_missing or self._compute_in_threads)(missing)
        done = set()
        for cid, computed in tqdm(results, total=len(missing), desc="computing calls", unit="call",
                                  disable=not progress, file=sys.stderr):
            self.store.put(self.key(missing[cid]), cid, self.model.name, *computed)
            done.add(cid)
            stop_if_asked()  # the calls in flight are cancelled as the results stop being read
        return done

    def _compute_in_threads(self, missing: dict[str, str]):
        """Yield ``(call id, compute(text))`` as each finishes, at most ``concurrency`` in flight; on an error the
        calls not yet started are cancelled and the error propagates (the finished ones are stored already)."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        self.engine  # created once here, not raced for by the threads
        pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="callinsights")
        try:
            futures = {pool.submit(self.compute, text): cid for cid, text in missing.items()}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _labels(self, records: list[tuple[str, dict, bool]]) -> pd.DataFrame:
        """The run's predictions: the method's labels and probabilities, and what every method records."""
        s = self.settings
        frame = pd.DataFrame({
            "file": [cid for cid, _, _ in records],
            "cached": [cached for _, _, cached in records],
            "prompt_tokens": [rec["prompt_tokens"] for _, rec, _ in records],
            "seconds": [rec["seconds"] for _, rec, _ in records],
            "raw": [rec["output"] for _, rec, _ in records],
            "valid": [bool(rec["valid"]) for _, rec, _ in records],
        })
        # What a method does not fill stays empty: only a fitted method says which calls are held out, and quotes.
        frame = frame.assign(
            **dict.fromkeys([*PROBA_COLUMNS.values(), "confidence_sentiment", "confidence_outcome"], np.nan),
            **dict.fromkeys(["held_out", "evidence_sentiment", "evidence_outcome", "calibration"], ""))
        self.method.label(frame, self.texts_read, self.compute)
        return frame.assign(
            model=self.model.name, model_hash=self.model.sha256[:16], engine=s.engine, method=s.method,
            prompt_version=self.prompt_version, side=s.side, windowed=frame["file"].isin(list(self._windows)),
            dropped_turns=[getattr(self._windows.get(cid), "dropped_turns", 0) for cid in frame["file"]],
        )[PREDICTION_COLUMNS]

    def close(self) -> None:
        """Free the engine."""
        if self._engine is not None:
            self._engine.close()
        self._engine = None

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *_exc_info) -> None:
        self.close()


def label_calls(texts: dict[str, str], settings: Settings | Setup, store: Store, progress: bool = True,
                compute_missing=None, announce: bool = False, fitted: FittedProbe | None = None) -> RunResult:
    """Label a set of calls: the one run path of the command line, notebook 03 and the benchmarks.

    ``texts`` come from :func:`texts_for_model`; ``compute_missing`` is as in :meth:`Classifier.run`; ``announce``
    prints the run's :meth:`Classifier.describe` line on stderr, and the method's caution for this many calls;
    ``fitted`` is the probe's saved fit (None: fitted on the labelled calls among ``texts``).
    """
    with Classifier(settings, store, fitted=fitted) as classifier:
        if announce:
            print(f"callinsights: {len(texts)} calls; {classifier.describe()}", file=sys.stderr)
            if caution := classifier.method.caution(len(texts)):
                print(f"warning: {caution}", file=sys.stderr)
        return classifier.run(texts, progress=progress, compute_missing=compute_missing)


def analyze(folder, settings: Settings | None = None, store_path=config.STORE_FILE, progress: bool = True,
            fitted: FittedProbe | None = None) -> RunResult:
    """Label every call of a folder (or turn table, :func:`callinsights.data.calls.read_source`): the library form of
    ``python -m callinsights analyze``; files that could not be parsed are listed in the result's ``skipped``."""
    settings = settings or Settings()
    calls, report = read_source(folder)
    with Store(store_path) as store:
        result = label_calls(texts_for_model(calls, settings), settings, store, progress=progress, fitted=fitted)
    result.skipped = report.skipped
    return result


# Labelling on a Ray cluster (``--backend ray [--address ADDR] [--workers N]``) with Ray Data.

class _Labeller:
    """A Ray actor: one engine, loaded once, computing the outputs of the calls it is given (settings as a dict)."""

    def __init__(self, settings: dict):
        # Labels are never read on a worker: the driver fits the probe on the stored outputs.
        self.classifier = Classifier(Settings(**settings), store=None, read_labels=False)
        self.classifier.engine  # loaded once per actor, before the first call

    def __call__(self, batch: dict) -> dict:
        results = []
        for text in batch["text"]:
            output, valid, prompt_tokens, evaluated, seconds = self.classifier.compute(str(text))
            # JSON keeps the nested output (answer log-probabilities, hidden states) one plain column.
            results.append(json.dumps([output, bool(valid), int(prompt_tokens), int(evaluated), float(seconds)]))
        return {"cid": [str(cid) for cid in batch["cid"]], "result": results}


@dataclass
class RayCompute:
    """Computes calls on a Ray cluster, as ``compute_missing`` of :meth:`Classifier.run`: ``workers`` actors each
    load the engine once, with ``cpus_per_worker`` CPUs (a local engine's threads); ``address`` names a running
    cluster (``ray://HOST:10001`` or ``auto``), None starts a local instance."""

    settings: Settings
    address: str | None = None
    workers: int = 1
    cpus_per_worker: int = 1

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"--workers {self.workers} must be at least 1")

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
        if self.settings.threads is None:
            # One local engine thread per reserved CPU (more wait on each other); a server engine has none.
            settings["threads"] = self.cpus_per_worker
        dataset = ray.data.from_items([{"cid": cid, "text": text} for cid, text in missing.items()])
        results = dataset.map_batches(
            _Labeller, fn_constructor_kwargs={"settings": settings}, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=self.cpus_per_worker,
        )
        for row in results.iter_rows():
            yield row["cid"], tuple(json.loads(row["result"]))
