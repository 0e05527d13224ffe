"""Labelling calls with a local LLM: sentiment and outcome from the customer's side.

Three methods:

- ``probe`` (the default): a logistic regression on the model's hidden states, fitted on the hand-labelled calls
  (:mod:`callinsights.probe`); labelled calls get cross-validated predictions, never their own label back.
- ``score``: for each question, the log-probability of every candidate answer right after the prompt (llama.cpp
  only). Raw log-probabilities favour whatever answer the model likes in general (a 135M model says "positive" to
  nearly everything), so they are *calibrated* before the argmax: ``reference`` (the default) subtracts each answer's
  mean log-probability over a fixed set of reference calls (:mod:`callinsights.score_reference`), so a call's label
  never depends on the other calls of the run; ``batch`` subtracts the means over the calls of the run (Zhou et al.,
  2024, "Batch Calibration"), an ablation whose labels change with the batch. Neither needs labels.
- ``generate``: a strict two-line answer, constrained by a grammar where the engine can (llama.cpp), parsed by
  :func:`parse_answer`; an answer that cannot be parsed is kept as invalid with its raw text, never guessed.

Raw model outputs are stored per call (see :mod:`callinsights.store`); calibration and the probe's fit are applied per
run, after all calls are read (batch calibration and the probe depend on the whole run; the reference calibration
does not).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from callinsights import config
from callinsights.labels import OUTCOMES, SENTIMENTS
from callinsights.llm import ENGINES, Branch, load_engine
from callinsights.models import ModelInfo, resolve_model
from callinsights.openai_engine import ServerOptions
from callinsights.probe import (FEATURES_VERSION, call_features, cross_validated_probabilities, fit_probe,
                                task_columns, turn_features)
from callinsights.prompts import CUSTOMER_ONLY, DEFAULT_PROMPT, WHOLE_CALL, GENERATE_GRAMMAR, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM
from callinsights.redact import redact
from callinsights.store import OutputKey, Store, text_hash
from callinsights.transcripts import Turn, call_text, customer_text, group_calls

METHODS = ("score", "generate", "probe")
CALIBRATIONS = ("reference", "batch", "none")
SIDES = ("customer", "call")

#: Column of the predictions table holding each label's probability.
PROBA_COLUMNS = {
    "positive": "p_positive",
    "negative": "p_negative",
    "neutral": "p_neutral",
    "issue resolved": "p_issue_resolved",
    "follow-up action needed": "p_follow_up",
}

PREDICTION_COLUMNS = [
    "file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome", *PROBA_COLUMNS.values(),
    "valid", "model", "engine", "method", "prompt_version", "calibration", "side", "prompt_tokens", "seconds",
    "cached", "model_hash", "held_out", "evidence_sentiment", "evidence_outcome", "raw",
]


@dataclass
class Settings:
    """How calls are labelled.

    Attributes:
        model: ``--model`` value (name or path); None resolves to Llama 3.2 1B if on disk, else the embedded model.
        engine: ``llama.cpp``, ``gpt4all`` or ``openai`` (an OpenAI-compatible server at ``base_url``).
        method: ``score`` or ``generate``.
        prompt_version: Key of :data:`callinsights.prompts.PROMPTS`.
        calibration: For ``score``: ``reference`` (fixed reference calls), ``batch`` (the run's calls) or ``none``.
        side: ``customer`` (the default: the customer's turns only) or ``call`` (whole call, an ablation).
        redact_for_model: Whether the model reads redacted text (identifiers carry no sentiment).
        n_ctx: Context length.
        labels_file: For ``probe``: the hand labels it is fitted on (default: the project's label file).
        base_url: For ``openai``: the server's API root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: For ``openai``: the environment variable holding the API key (None: no key).
        concurrency: For ``openai``: most calls in flight at once.
        threads: CPU threads of a local engine (None: all cores this process may use).
    """

    model: str | None = None
    engine: str = "llama.cpp"
    method: str = "probe"
    prompt_version: str = DEFAULT_PROMPT
    calibration: str = "reference"
    side: str = "customer"
    redact_for_model: bool = False
    n_ctx: int = 4096
    labels_file: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 1
    threads: int | None = None

    def check(self) -> None:
        """Raise ValueError naming any setting outside its allowed values."""
        allowed = {"method": METHODS, "calibration": CALIBRATIONS, "side": SIDES,
                   "engine": ENGINES, "prompt_version": tuple(PROMPTS)}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of: {', '.join(values)}")
        if self.method in ("score", "probe") and self.engine == "gpt4all":
            raise ValueError(
                f"method {self.method!r} needs log-probabilities or hidden states, which gpt4all does not expose; "
                "use --engine llama.cpp, or --method generate with gpt4all"
            )
        self._check_server()

    def _check_server(self) -> None:
        """The server options: needed by ``openai``, meaningless for the local engines."""
        if self.engine == "openai" and not self.base_url:
            raise ValueError("engine 'openai' needs the server's address: pass --base-url URL")
        if self.engine != "openai" and (self.base_url or self.api_key_env or self.concurrency != 1):
            raise ValueError(f"--base-url, --api-key-env and --concurrency are for --engine openai, not {self.engine}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency {self.concurrency} must be at least 1")

    def server_options(self):
        """Where the ``openai`` engine's server is (None for the local engines)."""
        if self.engine != "openai":
            return None
        return ServerOptions(self.base_url, self.api_key_env, self.concurrency)


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        predictions: One row per call, columns :data:`PREDICTION_COLUMNS`.
        run_id: The run's id in the store.
        model: The model used.
        n_cached: Calls served from the store.
        n_computed: Calls computed now.
        seconds: Wall time of the whole run.
        outputs: Call id -> the raw model output (log-probabilities, answer text or hidden states).
        skipped: Files that could not be parsed, with the reason.
    """

    predictions: pd.DataFrame
    run_id: int
    model: ModelInfo
    n_cached: int
    n_computed: int
    seconds: float
    outputs: dict[str, dict] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def texts_for_model(turns: list[Turn], settings: Settings) -> dict[str, str]:
    """The text the model reads for each call: the customer's side (or the whole call for the ablation).

    Calls with nothing to read (no customer words) are left out.
    """
    texts = {}
    for cid, call in group_calls(turns).items():
        text = customer_text(call) if settings.side == "customer" else call_text(call)
        if settings.redact_for_model:
            text = redact(text)
        if text.strip():
            texts[cid] = text
    return texts


def _prompt_version(settings: Settings) -> str:
    """The stored prompt version: the wording (for the probe, which reads no prompt, the features it takes), plus
    what the model read and how.

    For the prompted methods the version name is followed by a digest of the exact wording the method sends, so an
    edited prompt can never be served stale outputs stored under the old one, even if nobody renames the version.
    """
    if settings.method == "probe":
        version = f"features-{FEATURES_VERSION}"
    else:
        prompt = PROMPTS[settings.prompt_version]
        wording = (SYSTEM + prompt.intro + repr(prompt.questions) if settings.method == "score"
                   else SYSTEM + GENERATE_INSTRUCTIONS + GENERATE_GRAMMAR)
        version = f"{settings.prompt_version}@{hashlib.sha256(wording.encode()).hexdigest()[:8]}"
    version += "" if settings.side == "customer" else "/call"
    return version + ("/redacted" if settings.redact_for_model else "")


# --- parsing generated answers ------------------------------------------------------------------------------------

_SENTIMENT_WORDS = {"positive": "positive", "negative": "negative", "neutral": "neutral"}
_OUTCOME_PATTERNS = [
    (re.compile(r"follow[\s-]*up|pending|unresolved|escalat", re.I), "follow-up action needed"),
    (re.compile(r"\bresolved\b", re.I), "issue resolved"),
]
# Negated answers name the other value: "not resolved" is pending, "no follow-up needed" is resolved.
_NEGATED_OUTCOME = [
    (re.compile(r"\bnot\s+(?:yet\s+|fully\s+)?resolved\b", re.I), "pending"),
    (re.compile(r"\bno\s+(?:further\s+)?follow[\s-]*up\b", re.I), "resolved"),
]


def parse_answer(text: str) -> tuple[str | None, str | None]:
    """Read sentiment and outcome from a generated answer.

    Accepts the requested ``sentiment: X`` / ``outcome: Y`` lines with any case, spacing, markdown or quoting, and
    JSON-like answers. A field is None when the answer does not name exactly one allowed value for it -- an
    ambiguous answer ("positive or neutral", an echoed ``resolved|follow-up``, "not positive", two lines that
    disagree) is not guessed.

    Args:
        text: The model's raw answer.

    Returns:
        ``(sentiment, outcome)``, each a project label or None.
    """
    cleaned = re.sub(r"[*_`\"'{}]", " ", text or "").lower()
    fields: dict[str, str] = {}
    # A field's value runs to the end of its line or to the next field name (JSON puts both on one line); it is
    # not cut at a comma, so an echoed "positive, negative or neutral" stays ambiguous instead of reading "positive".
    parts = re.split(r"\b(sentiment|outcome)\s*[:=-]", cleaned)
    for name, value in zip(parts[1::2], parts[2::2]):
        fields[name] = fields.get(name, "") + " " + value.split("\n")[0]
    sentiment_text = fields.get("sentiment", "")
    found = {v for w, v in _SENTIMENT_WORDS.items() if re.search(rf"\b{w}\b", sentiment_text)}
    negated = re.search(r"\bnot\s+(?:positive|negative|neutral)\b", sentiment_text)
    sentiment = found.pop() if len(found) == 1 and not negated else None
    outcome_text = fields.get("outcome", "")
    for pattern, replacement in _NEGATED_OUTCOME:
        outcome_text = pattern.sub(replacement, outcome_text)
    hits = {label for pattern, label in _OUTCOME_PATTERNS if pattern.search(outcome_text)}
    outcome = hits.pop() if len(hits) == 1 else None
    return sentiment, outcome


# --- probabilities --------------------------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def calibrated_probabilities(logprobs: pd.DataFrame, calibration: str,
                             reference: dict[str, float] | None = None) -> pd.DataFrame:
    """Probabilities per label from answer log-probabilities.

    Args:
        logprobs: One row per call, one column per label of one task.
        calibration: ``none`` (softmax of the raw log-probabilities), ``reference`` (each label's mean over the
            fixed reference calls subtracted first, see :mod:`callinsights.score_reference`) or ``batch`` (each label's
            mean over these calls subtracted: a label the model prefers for every call gains nothing from it, but
            each call's label depends on the others).
        reference: For ``reference``: label -> mean log-probability over the reference calls.

    Returns:
        Same shape, rows summing to one.
    """
    values = logprobs.to_numpy(dtype=float)
    if calibration == "reference":
        if reference is None:
            raise ValueError("calibration 'reference' needs the reference means (see callinsights.score_reference)")
        values = values - np.array([[reference[label] for label in logprobs.columns]])
    elif calibration == "batch":
        values = values - values.mean(axis=0, keepdims=True)
    elif calibration != "none":
        raise ValueError(f"calibration {calibration!r} is not one of: {', '.join(CALIBRATIONS)}")
    return pd.DataFrame(softmax(values), index=logprobs.index, columns=logprobs.columns)


# --- the classifier -------------------------------------------------------------------------------------------------


class Classifier:
    """Labels calls with one model, engine, method and prompt, reusing stored outputs.

    The engine is loaded only when some call is not in the store yet.

    Args:
        settings: How to label.
        store: Where outputs and runs are kept (None for a worker that only computes, see :meth:`compute`).
        read_labels: Read the probe's hand labels (a worker that only computes outputs needs none).
    """

    def __init__(self, settings: Settings, store: Store | None, read_labels: bool = True):
        settings.check()
        self.settings = settings
        self.store = store
        self.model = resolve_model(settings.model)
        self.prompt_version = _prompt_version(settings)
        self._engine = None
        self._texts: dict[str, str] = {}
        # The probe's labels are read up front, so a missing label file fails before any model time is spent.
        self._gold = self._load_gold() if settings.method == "probe" and read_labels else None

    @property
    def engine(self):
        """The loaded engine (loaded on first use)."""
        if self._engine is None:
            probe = self.settings.method == "probe"
            self._engine = load_engine(self.settings.engine, self.model, self.settings.n_ctx, self.settings.threads,
                                       embedding=probe, pooling=not probe, server=self.settings.server_options())
        return self._engine

    def describe(self) -> str:
        """One line naming model, engine and method, printed by every run."""
        s = self.settings
        extra = f", calibration {s.calibration}" if s.method == "score" else ""
        if s.method == "probe":
            extra = f", fitted on {s.labels_file or config.training_labels_file()}"
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
            states, n_tokens, seconds = self.engine.embed_turns([t for t in text.split("\n") if t.strip()])
            return {"turns": np.round(states, 5).tolist()}, True, n_tokens, n_tokens, seconds
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
        resumes).

        Args:
            texts: Call id -> the text the model reads.
            progress: Show a progress bar on stderr.
            compute_missing: Computes the calls the store lacks all at once (Ray), see :meth:`run`.

        Returns:
            ``(call id, stored record, served from the store)`` per call, in the order of ``texts``.
        """
        from tqdm.auto import tqdm

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
                :class:`callinsights.ray_backend.RayCompute`): called with ``{call id: text}`` of the calls the store
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
            self._texts = texts
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
            self._probe_labels(frame)
        elif s.method == "score":
            reference = self.score_reference() if s.calibration == "reference" else {}
            for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
                logprobs = pd.DataFrame([out[task] for out in frame["raw"]], columns=list(labels))
                _assign(frame, task, calibrated_probabilities(logprobs, s.calibration, reference.get(task)))
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
        # The model's own words are shown to readers: redacted like any call text.
        frame["raw"] = frame["raw"].map(lambda out: redact(out["text"]) if "text" in out else _round_logprobs(out))
        return frame[PREDICTION_COLUMNS]

    def score_reference(self) -> dict[str, dict[str, float]]:
        """For ``score`` with ``reference`` calibration: each answer's mean log-probability over the fixed reference
        calls under these settings (computed with the model once, then read from the cache)."""
        from callinsights.score_reference import reference_key, reference_means, reference_turns

        texts = list(texts_for_model(reference_turns(), self.settings).values())
        key = reference_key(self.model.sha256, self.settings.engine, self.prompt_version, *texts)
        return reference_means(key, texts, lambda text: self.compute(text)[0])

    def _load_gold(self) -> pd.DataFrame:
        """The hand labels the probe is fitted on."""
        from callinsights.labels import load_labels

        try:
            return load_labels(self.settings.labels_file or config.training_labels_file())
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{err} The default method, probe, is fitted on hand labels; without them use --method score."
            ) from None

    def _probe_labels(self, frame: pd.DataFrame) -> None:
        """Fit the probe on the labelled calls of this run and label every call with it (in place).

        Labelled calls get held-out probabilities (each from a probe not fitted on it); the rest come from the probe
        fitted on every labelled call. Features are standardised on all the calls of the run: their text is ours
        to use, only their labels are not. Each call also gets its evidence: the customer turn that most supports
        the chosen sentiment and the one that most supports the chosen outcome (redacted for reading).
        """
        labels_file = self.settings.labels_file or config.training_labels_file()
        gold = self._gold
        states = [np.asarray(out["turns"], dtype=np.float64) for out in frame["raw"]]
        features = np.array([call_features(s) for s in states])
        known = frame["file"].isin(gold.index).to_numpy()
        if not known.any():
            raise ValueError(
                f"{labels_file}: none of its calls is among the calls analysed, so the probe cannot be fitted; "
                "use --method score, or include labelled calls"
            )
        schemes = set()
        for task, labels in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
            columns = task_columns(task, features.shape[1])
            x = features[:, columns]
            scaler = StandardScaler().fit(x)
            known_labels = gold.loc[frame["file"][known], task].reset_index(drop=True)
            probe = fit_probe(x[known], known_labels, scaler)
            proba = pd.DataFrame(probe.predict_proba(x), columns=probe.classes_).reindex(
                columns=list(labels), fill_value=0.0)
            held, scheme = cross_validated_probabilities(x[known], known_labels, scaler)
            schemes.add(scheme)
            proba.loc[np.flatnonzero(known), list(labels)] = held.reindex(columns=list(labels), fill_value=0.0
                                                                          ).to_numpy()
            _assign(frame, task, proba)
            frame[f"evidence_{task}"] = [
                _evidence(probe, turn_features(s)[:, columns], label, self._texts.get(cid, ""))
                for s, label, cid in zip(states, frame[task], frame["file"])
            ]
        scheme = " / ".join(sorted(schemes))
        frame["held_out"] = np.where(known, f"held out ({scheme})", "not labelled")
        # Embeddings are not worth a CSV cell; the store keeps them.
        note = f"probe fitted on {int(known.sum())} labelled calls of {Path(labels_file).name}"
        frame["raw"] = [{"text": note}] * len(frame)

    def close(self) -> None:
        """Free the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _evidence(probe, turns_read: np.ndarray, label: str, text: str) -> str:
    """The customer turn that most supports ``label``, redacted: each turn is scored by the probe on its own.

    Args:
        probe: The fitted probe of the task.
        turns_read: Each turn's features in the probe's layout (:func:`callinsights.probe.turn_features`).
        label: The call's label.
        text: The customer text (one turn per line).
    """
    turns = [t for t in text.split("\n") if t.strip()]
    if len(turns) != len(turns_read) or label not in list(probe.classes_):
        return ""
    support = probe.contributions(turns_read)
    return redact(turns[int(np.argmax(support[:, list(probe.classes_).index(label)]))])


def _assign(frame: pd.DataFrame, task: str, proba: pd.DataFrame) -> None:
    """Write one task's probabilities, chosen label and its confidence into the predictions frame (in place)."""
    for label in proba.columns:
        frame[PROBA_COLUMNS[label]] = proba[label].to_numpy()
    frame[task] = proba.idxmax(axis=1).to_numpy()
    frame[f"confidence_{task}"] = proba.max(axis=1).to_numpy()


def _round_logprobs(output: dict) -> str:
    import json

    return json.dumps({task: {k: round(v, 4) for k, v in lp.items()} for task, lp in output.items()})


def analyze(folder, settings: Settings | None = None, store_path=config.STORE_FILE, progress: bool = True
            ) -> RunResult:
    """Parse a folder of calls and label every call: the library form of ``python -m callinsights analyze``.

    Args:
        folder: Folder of ``.txt`` calls.
        settings: How to label (defaults: :class:`Settings`).
        store_path: The SQLite store.
        progress: Show a progress bar.

    Returns:
        The run's predictions and bookkeeping; files that could not be parsed are listed in ``skipped``.
    """
    from callinsights.transcripts import read_calls

    settings = settings or Settings()
    turns, report = read_calls(folder)
    with Store(store_path) as store:
        classifier = Classifier(settings, store)
        try:
            result = classifier.run(texts_for_model(turns, settings), progress=progress)
        finally:
            classifier.close()
    result.skipped = report.skipped
    return result
