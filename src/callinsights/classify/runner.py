"""Calls longer than the model's context: read from their last turns that fit, and flagged.

The model reads at most ``Settings.n_ctx`` tokens (4096 by default). The probe reads the customer's turns in one
pass; ``score`` and ``generate`` wrap them in a prompt and need room for the answer. Before this window, a longer
call stopped the whole run (llama.cpp: "text of N tokens is longer than the context", "llama_decode returned 1",
"Requested tokens exceed context window").

A call that does not fit is labelled from a window: its **last** turns (one per line of the text the model reads)
that fit together with the prompt, because the labelling guideline weighs how a call ends most. Whole turns are
kept and the earliest dropped; when even the last turn alone is too long, its last words that fit are kept. The
prediction says so: ``windowed`` True and ``dropped_turns`` (how many of the call's turns were left out). The window
counts tokens with the model file's own vocabulary, the way each method hands its text to the engine; a server
(``--engine openai``) is windowed to ``n_ctx`` as well, whatever its own context.

A call that fits is left exactly as it was, so its store key (a hash of the text read) and its prediction are what
they were before the window existed. Most calls are seen to fit without a tokenizer at all: a token is never shorter
than a byte, so a prompt with fewer bytes than the context has room for fits.
"""

from __future__ import annotations

from dataclasses import dataclass
import contextlib
import sys
import time
from dataclasses import asdict
import json
from typing import Iterator

import numpy as np
import pandas as pd

from callinsights.classify.settings import Settings
from callinsights.llm.models import ModelInfo, vocabulary
from callinsights.llm.prompts import CUSTOMER_ONLY, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM, WHOLE_CALL
from callinsights import config
from callinsights.classify.methods import assign_probabilities, calibrated_probabilities, parse_answer, round_logprobs
from callinsights.classify.probe import FittedProbe, fingerprint, fit_from_outputs, stale_reasons
from callinsights.classify.probe import label_with_probe
from callinsights.classify.methods import reference_key, reference_means, reference_calls
from callinsights.classify.settings import RunResult, prompt_version, settled, texts_for_model
from callinsights.data.labels import load_labels
from callinsights.data.store import OutputKey, Store, text_hash
from callinsights.data.calls import read_source
from callinsights.llm.engines import load_engine
from callinsights.llm.base import Branch
from callinsights.llm.models import resolve_model
from callinsights.llm.prompts import GENERATE_GRAMMAR
from callinsights.schema import OUTCOMES, PREDICTION_COLUMNS, PROBA_COLUMNS, SENTIMENTS
from callinsights.text.redact import redact_in_context

#: Tokens ``generate`` leaves for its answer: the ``max_tokens`` of ``Classifier.compute`` (classify.runner).
ANSWER_TOKENS = 24
# Tokens a text may have beyond its bytes: a BOS, an end token, a leading space some vocabularies add.
_BYTE_SLACK = 4


@dataclass(frozen=True)
class Window:
    """What the model reads of one call.

    Attributes:
        text: The text read: the call's text unchanged, or its last turns that fit.
        dropped_turns: Turns (lines) of the call's text left out, from its start.
        windowed: The text is not the whole call.
    """

    text: str
    dropped_turns: int = 0
    windowed: bool = False


class ContextBudget:
    """Whether a call's text fits in the context with the prompt of the chosen method, and its window if not.

    Args:
        settings: The run's settings (method, prompt, side, ``n_ctx``).
        model: The resolved model (its vocabulary counts the tokens, its chat format builds the prompt).
    """

    def __init__(self, settings: Settings, model: ModelInfo):
        self.settings = settings
        self.model = model
        self.n_ctx = settings.n_ctx
        if settings.method == "score":
            prompt = PROMPTS[settings.prompt_version]
            # After the call text: each question, then its answer's tokens, evaluated one after another.
            self._tails = [prompt.suffix(model.chat, q) + answer for q in prompt.questions for answer in q.answers]
        self._tail: dict[bool, int] = {}  # the longest tail, counted once per kind (not per bisection step)

    def _count(self, text: str, bos: bool, special: bool, exact: bool) -> int:
        if not exact:
            return len(text.encode("utf-8")) + _BYTE_SLACK
        return len(vocabulary(self.model.path).tokenize(text.encode("utf-8"), add_bos=bos, special=special))

    def _longest_tail(self, exact: bool) -> int:
        if exact not in self._tail:
            self._tail[exact] = max(self._count(tail, False, True, exact) for tail in self._tails)
        return self._tail[exact]

    def needed(self, text: str, exact: bool = True) -> int:
        """Tokens of context the model needs for ``text`` (an upper bound from its bytes with ``exact=False``).

        Mirrors how :meth:`callinsights.classify.runner.Classifier.compute` hands the text to the engine: the probe
        tokenizes the turns as one text (with BOS, no special tokens); ``score`` evaluates the prompt up to the
        call text, then each question and answer after it; ``generate`` needs its prompt and the answer's tokens.
        """
        s, chat = self.settings, self.model.chat
        if s.method == "probe":
            return self._count("\n".join(t for t in text.split("\n") if t.strip()), True, False, exact)
        if s.method == "score":
            prefix = PROMPTS[s.prompt_version].prefix(chat, text, whole_call=s.side == "call")
            # The last answer token is read, never evaluated: hence the -1.
            return (self._count(prefix, False, True, exact)
                    + self._longest_tail(exact) - 1)
        user = GENERATE_INSTRUCTIONS + "\n\n" + text.strip()
        if s.side == "call":
            user = user.replace(CUSTOMER_ONLY, WHOLE_CALL)
        return self._count(chat.prompt(SYSTEM, user), False, True, exact) + ANSWER_TOKENS

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits in the context with its prompt (decided from its bytes when they are few)."""
        return self.needed(text, exact=False) <= self.n_ctx or self.needed(text) <= self.n_ctx

    def window(self, text: str) -> Window:
        """The call's text if it fits, else its last turns that fit (see the module's rules).

        Raises:
            ValueError: Not even one word fits beside the prompt: ``n_ctx`` is too small for the method.
        """
        if self.fits(text):
            return Window(text)
        lines = text.split("\n")
        kept = _most(len(lines) - 1, lambda k: self.fits("\n".join(lines[-k:])))
        if kept:
            return Window("\n".join(lines[-kept:]), len(lines) - kept, True)
        words = lines[-1].split(" ")
        kept = _most(len(words) - 1, lambda k: self.fits(" ".join(words[-k:])))
        if not kept:
            raise ValueError(f"a context of {self.n_ctx} tokens leaves no room for a call's words beside the "
                             f"{self.settings.method} prompt; raise n_ctx")
        return Window(" ".join(words[-kept:]), len(lines) - 1, True)


def _most(upper: int, fits) -> int:
    """The largest ``k`` in ``0..upper`` with ``fits(k)`` (0 when none), by bisection: more turns, more tokens."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_to_context(texts: dict[str, str], settings: Settings, model: ModelInfo
                   ) -> tuple[dict[str, str], dict[str, Window]]:
    """Each call's text as the model can read it, and the windows of the calls that had to be cut.

    Args:
        texts: Call id -> the text the model would read (see :func:`callinsights.classify.settings.texts_for_model`).
        settings: The run's settings.
        model: The resolved model.

    Returns:
        The texts in the same order (a call that fits unchanged, a longer one windowed), and call id -> window for
        the windowed calls only.
    """
    budget = ContextBudget(settings, model)
    windows = {cid: budget.window(text) for cid, text in texts.items()}
    return ({cid: w.text for cid, w in windows.items()},
            {cid: w for cid, w in windows.items() if w.windowed})


def window_note(predictions, n_ctx: int) -> str:
    """A line naming the calls read from a window (with a newline), or nothing: ``analyze`` prints it."""
    windowed = predictions[predictions["windowed"]]
    if windowed.empty:
        return ""
    calls = ", ".join(f"{row.file} ({row.dropped_turns} turns left out)" for row in windowed.itertuples())
    return (f"  {len(windowed)} call(s) longer than the model's context ({n_ctx} tokens), labelled from their last "
            f"turns that fit (column windowed): {calls}\n")



# Labelling calls with a local LLM: sentiment and outcome from the customer's side.

class Classifier:
    """Labels calls with one model, engine, method and prompt, reusing stored outputs.

    The engine is loaded only when some call is not in the store yet.

    Args:
        settings: How to label.
        store: Where outputs and runs are kept (None for a worker that only computes, see :meth:`compute`).
        read_labels: Read the probe's hand labels (a worker that only computes outputs needs none).
        fitted: For ``probe``: the fit to label with (see :mod:`callinsights.classify.probe`); None fits the
            probe on the labelled calls of each run.

    Raises:
        ValueError: ``fitted`` was made with another model, engine or feature definition than ``settings``.
    """

    def __init__(self, settings: Settings, store: Store | None, read_labels: bool = True,
                 fitted: FittedProbe | None = None):
        settings.check()
        self.model = resolve_model(settings.model)
        settings = settled(settings, self.model)
        self.settings = settings
        self.store = store
        self.prompt_version = prompt_version(settings)
        self.fitted = fitted
        self._engine = None
        self._texts: dict[str, str] = {}
        self._windows: dict = {}  # calls longer than the context: call id -> its window (classify.window)
        if fitted is not None and settings.method == "probe":
            # Only what the features depend on: which labels to fit on is the caller's business (pipelines.fit).
            mismatch = stale_reasons(fitted.metadata, fingerprint(settings, self.model, self.labels_file),
                                     labels=False)
            if mismatch:
                raise ValueError("the fitted probe does not match this run: " + "; ".join(mismatch))
        # The probe's labels are read up front, so a missing label file fails before any model time is spent.
        self._gold = (self._load_gold() if settings.method == "probe" and read_labels and fitted is None
                      else None)

    @property
    def texts_read(self) -> dict[str, str]:
        """Call id -> the text the model read in the last :meth:`outputs` (a long call's window)."""
        return self._texts

    @property
    def engine(self):
        """The loaded engine (loaded on first use)."""
        if self._engine is None:
            probe = self.settings.method == "probe"
            # The probe's sentiment block is read in the same pass as the last layer.
            self._engine = load_engine(self.settings.engine, self.model, self.settings.n_ctx, self.settings.threads,
                                       embedding=probe, pooling=not probe, server=self.settings.server_options(),
                                       read_block=self.settings.early_blocks)
        return self._engine

    def describe(self) -> str:
        """One line naming model, engine and method, printed by every run."""
        s = self.settings
        extra = f", calibration {s.calibration}" if s.method == "score" else ""
        if s.method == "probe" and self.fitted is not None:
            when = self.fitted.metadata.get("created", "in this session")
            extra = (f", fitted on {len(self.fitted.fitted_texts)} calls of "
                     f"{self.fitted.metadata.get('labels', {}).get('file')} ({when})")
        elif s.method == "probe":
            extra = f", fitted on {self.labels_file} (the labelled calls of this run)"
        if s.early_blocks:
            extra += f", sentiment read after block {s.early_blocks}"
        if s.engine == "openai":
            extra += f", server {s.base_url} (concurrency {s.concurrency})"
        return (f"model {self.model.name} ({'embedded' if self.model.embedded else self.model.path}), "
                f"engine {s.engine}, method {s.method}{extra}, prompt {self.prompt_version}, side {s.side}")

    def key(self, text: str) -> OutputKey:
        """The store key of one call's text under these settings."""
        s = self.settings
        return OutputKey(self.model.sha256, self.engine_key, s.method, self.prompt_version, text_hash(text))

    @property
    def engine_key(self) -> str:
        """The engine as stored in the key: its name, and for a server the served model's id (asked once)."""
        return self.engine.key_name if self.settings.engine == "openai" else self.settings.engine

    def compute(self, text: str) -> tuple[dict, bool, int, int, float]:
        """Run the model on one call's text.

        Returns:
            ``(output, valid, prompt_tokens, evaluated_tokens, seconds)``; ``output`` is JSON-ready: answer
            log-probabilities per task for ``score``, the raw answer for ``generate``.
        """
        chat = self.model.chat
        if self.settings.method == "probe":
            turns = [t for t in text.split("\n") if t.strip()]
            states = self.engine.embed_turns(turns)
            output = {"turns": np.round(states.last, 5).tolist()}
            if states.block is not None:
                output["sentiment_turns"] = np.round(states.block, 5).tolist()
            return output, True, states.tokens, states.tokens, states.seconds
        if self.settings.method == "score":
            prompt = PROMPTS[self.settings.prompt_version]
            prefix = prompt.prefix(chat, text, whole_call=self.settings.side == "call")
            branches = [Branch(prompt.suffix(chat, q), q.answers) for q in prompt.questions]
            scores = self.engine.score(prefix, branches)
            output = {
                q.task: {label: lp[answer] for answer, label in zip(q.answers, q.labels)}
                for q, lp in zip(prompt.questions, scores.logprobs)
            }
            return output, True, scores.prompt_tokens, scores.evaluated_tokens, scores.seconds
        user = GENERATE_INSTRUCTIONS + "\n\n" + text.strip()
        if self.settings.side == "call":
            user = user.replace(CUSTOMER_ONLY, WHOLE_CALL)
        if self.settings.engine == "gpt4all":
            gen = self.engine.generate_chat(SYSTEM, user, max_tokens=24)
        else:
            gen = self.engine.generate(chat.prompt(SYSTEM, user), max_tokens=24, grammar=GENERATE_GRAMMAR,
                                       stop=chat.stop)
        sentiment, outcome = parse_answer(gen.text)
        valid = sentiment is not None and outcome is not None
        return {"text": gen.text}, valid, gen.prompt_tokens, gen.prompt_tokens, gen.seconds

    def outputs(self, texts: dict[str, str], progress: bool = True, compute_missing=None
                ) -> list[tuple[str, dict, bool]]:
        """Every call's raw model output, from the store or computed now (and stored at once, so a killed run
        resumes). A call longer than the context is read from its window (:mod:`callinsights.classify.runner`); the
        texts read and the windows are kept for labelling.

        Args:
            texts: Call id -> the text the model reads (a call that fits is read unchanged).
            progress: Show a progress bar on stderr.
            compute_missing: Computes the calls the store lacks all at once (Ray), see :meth:`run`.

        Returns:
            ``(call id, stored record, served from the store)`` per call, in the order of ``texts``.
        """
        from tqdm.auto import tqdm

        texts, self._windows = fit_to_context(texts, self.settings, self.model)
        self._texts = texts
        fresh = self._compute_all_at_once(texts, compute_missing, progress)
        records = []
        bar = tqdm(texts.items(), total=len(texts), desc="labelling calls", unit="call", disable=not progress,
                   file=sys.stderr)
        for cid, text in bar:
            key = self.key(text)
            stored = self.store.get(key)
            cached = stored is not None and cid not in fresh
            if stored is None:
                output, valid, prompt_tokens, evaluated, seconds = self.compute(text)
                self.store.put(key, cid, self.model.name, output, valid, prompt_tokens, evaluated, seconds)
                stored = {"output": output, "valid": valid, "prompt_tokens": prompt_tokens, "seconds": seconds}
            records.append((cid, stored, cached))
        return records

    def run(self, texts: dict[str, str], progress: bool = True, compute_missing=None) -> RunResult:
        """Label every call, computing only what the store does not hold, then record the run.

        Args:
            texts: Call id -> the text the model reads (see :func:`texts_for_model`).
            progress: Show a progress bar on stderr.
            compute_missing: Computes many calls at once elsewhere (e.g.
                :class:`callinsights.classify.runner.RayCompute`): called with ``{call id: text}`` of the calls the store
                lacks, yields ``(call id, compute(text))`` as each finishes. By default a server engine with
                ``concurrency`` above 1 uses a thread pool, and the local engines compute one call after another.

        Returns:
            The predictions and the run's bookkeeping.
        """
        start = time.perf_counter()
        run_id = self.store.start_run({**asdict(self.settings), "model": self.model.name,
                                       "model_hash": self.model.sha256, "prompt_version": self.prompt_version})
        try:
            records = self.outputs(texts, progress, compute_missing)
            n_cached = sum(cached for _, _, cached in records)
            computing = sum(rec["seconds"] for _, rec, cached in records if not cached)
            predictions = self._labels(records)
        except BaseException as err:
            # The finished calls are stored; the run itself is recorded as failed, not left "running".
            with contextlib.suppress(Exception):  # a broken store must not hide the error that stopped the run
                self.store.fail_run(run_id, f"{type(err).__name__}: {err}")
            raise
        n_invalid = int((~predictions["valid"]).sum())
        self.store.finish_run(run_id, predictions, n_cached, len(records) - n_cached, n_invalid, computing)
        return RunResult(predictions, run_id, self.model, n_cached, len(records) - n_cached,
                         time.perf_counter() - start, {cid: rec["output"] for cid, rec, _ in records})

    def _compute_all_at_once(self, texts: dict[str, str], compute_missing, progress: bool) -> set[str]:
        """Compute the calls the store lacks through ``compute_missing`` (or a thread pool for a server engine),
        storing each as it finishes so that a killed or failed run resumes; returns the calls computed.

        The local engines without ``compute_missing`` never come here: they compute in :meth:`run`'s loop.
        """
        if compute_missing is None and not (self.settings.engine == "openai" and self.settings.concurrency > 1):
            return set()
        from tqdm.auto import tqdm

        missing = {cid: text for cid, text in texts.items() if self.store.get(self.key(text)) is None}
        if not missing:
            return set()
        results = (compute_missing or self._compute_in_threads)(missing)
        done = set()
        for cid, (output, valid, prompt_tokens, evaluated, seconds) in tqdm(
                results, total=len(missing), desc="computing calls", unit="call", disable=not progress,
                file=sys.stderr):
            self.store.put(self.key(missing[cid]), cid, self.model.name, output, valid, prompt_tokens, evaluated,
                           seconds)
            done.add(cid)
        return done

    def _compute_in_threads(self, missing: dict[str, str]):
        """Yield ``(call id, compute(text))`` as each finishes, at most ``concurrency`` calls in flight; on an error
        the calls not yet started are cancelled and the error propagates (the finished ones are stored already)."""
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
        """Turn stored outputs into labels and probabilities (calibrating across the whole run for ``score``)."""
        s = self.settings
        frame = pd.DataFrame({
            "file": [cid for cid, _, _ in records],
            "cached": [cached for _, _, cached in records],
            "prompt_tokens": [rec["prompt_tokens"] for _, rec, _ in records],
            "seconds": [rec["seconds"] for _, rec, _ in records],
            "raw": [rec["output"] for _, rec, _ in records],
            "valid": [bool(rec["valid"]) for _, rec, _ in records],
        })
        for column in PROBA_COLUMNS.values():
            frame[column] = np.nan
        # Only the probe is fitted on labels; the other methods' predictions are never an echo of one.
        frame["held_out"] = ""
        frame["evidence_sentiment"] = ""
        frame["evidence_outcome"] = ""
        if s.method == "probe":
            fitted = self.fitted or fit_from_outputs(
                dict(zip(frame["file"], frame["raw"])), self._texts, self._gold, self.labels_file,
                depends_on=fingerprint(s, self.model, self.labels_file))
            label_with_probe(frame, self._texts, fitted)
        elif s.method == "score":
            reference = self.score_reference() if s.calibration == "reference" else {}
            for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
                logprobs = pd.DataFrame([out[task] for out in frame["raw"]], columns=list(labels))
                assign_probabilities(frame, task, calibrated_probabilities(logprobs, s.calibration, reference.get(task)))
        else:
            parsed = [parse_answer(out["text"]) for out in frame["raw"]]
            frame["sentiment"] = [p[0] for p in parsed]
            frame["outcome"] = [p[1] for p in parsed]
            frame["confidence_sentiment"] = np.nan
            frame["confidence_outcome"] = np.nan
        frame["model"] = self.model.name
        frame["model_hash"] = self.model.sha256[:16]
        frame["engine"] = s.engine
        frame["method"] = s.method
        frame["prompt_version"] = self.prompt_version
        frame["calibration"] = s.calibration if s.method == "score" else ""
        frame["side"] = s.side
        frame["windowed"] = frame["file"].isin(list(self._windows))
        frame["dropped_turns"] = [getattr(self._windows.get(cid), "dropped_turns", 0) for cid in frame["file"]]
        # The model's own words are shown to readers: redacted like any call text, and with the people the call
        # names masked too, since a model repeats "Emily Wilson" without the "my name is" that redact() looks for.
        if s.method == "generate":
            frame["raw"] = [redact_in_context(out["text"], self._texts.get(cid, ""))
                            for cid, out in zip(frame["file"], frame["raw"])]
        elif s.method == "score":
            frame["raw"] = frame["raw"].map(round_logprobs)
        else:  # the probe's own note on what it was fitted on
            frame["raw"] = [out["text"] for out in frame["raw"]]
        return frame[PREDICTION_COLUMNS]

    def score_reference(self) -> dict[str, dict[str, float]]:
        """For ``score`` with ``reference`` calibration: each answer's mean log-probability over the fixed reference
        calls under these settings (computed with the model once, then read from the cache)."""
        texts = list(texts_for_model(reference_calls(), self.settings).values())
        key = reference_key(self.model.sha256, self.settings.engine, self.prompt_version, *texts)
        return reference_means(key, texts, lambda text: self.compute(text)[0])

    @property
    def labels_file(self):
        """The label file the probe is fitted on: ``settings.labels_file`` or the project's default."""
        return self.settings.labels_file or config.training_labels_file()

    def _load_gold(self) -> pd.DataFrame:
        """The hand labels the probe is fitted on."""
        try:
            return load_labels(self.labels_file)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{err} The default method, probe, is fitted on hand labels; without them use --method score."
            ) from None

    def close(self) -> None:
        """Free the engine."""
        if self._engine is not None:
            self._engine.close()
        self._engine = None

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def label_calls(texts: dict[str, str], settings: Settings, store: Store, progress: bool = True,
                compute_missing=None, announce: bool = False, fitted: FittedProbe | None = None) -> RunResult:
    """Label a set of calls: the one run path of the CLI, the experiments, notebook 03 and the benchmarks.

    Args:
        texts: Call id -> the text the model reads (:func:`callinsights.classify.settings.texts_for_model`).
        settings: How to label.
        store: Where outputs are reused from and the run is recorded.
        progress: Show a progress bar on stderr.
        compute_missing: Computes the calls the store lacks elsewhere (see :meth:`Classifier.run`).
        announce: Print one line naming the model, engine and method on stderr before the run.
        fitted: For ``probe``: the fit to label with (``callinsights analyze`` passes the saved one,
            :mod:`callinsights.pipelines.fit`); None fits the probe on the labelled calls among ``texts``.

    Returns:
        The predictions and the run's bookkeeping.
    """
    with Classifier(settings, store, fitted=fitted) as classifier:
        if announce:
            print(f"callinsights: {len(texts)} calls; {classifier.describe()}", file=sys.stderr)
        return classifier.run(texts, progress=progress, compute_missing=compute_missing)


def analyze(folder, settings: Settings | None = None, store_path=config.STORE_FILE, progress: bool = True,
            fitted: FittedProbe | None = None) -> RunResult:
    """Parse a folder of calls and label every call: the library form of ``python -m callinsights analyze``.

    Args:
        folder: Folder of ``.txt`` and ``.vtt`` calls, or a turn table (:func:`callinsights.data.calls.read_source`).
        settings: How to label (defaults: :class:`Settings`).
        store_path: The SQLite store.
        progress: Show a progress bar.
        fitted: For ``probe``: the saved fit to label with (:func:`callinsights.classify.probe.load_fitted`);
            None fits the probe on the labelled calls of ``folder``, as the command line did before ``fit``.

    Returns:
        The run's predictions and bookkeeping; files that could not be parsed are listed in ``skipped``.
    """
    settings = settings or Settings()
    calls, report = read_source(folder)
    with Store(store_path) as store:
        result = label_calls(texts_for_model(calls, settings), settings, store, progress=progress, fitted=fitted)
    result.skipped = report.skipped
    return result



# Labelling on a Ray cluster (``--backend ray [--address ADDR] [--workers N]``) with Ray Data.

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
