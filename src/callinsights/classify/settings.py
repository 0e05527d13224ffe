"""How calls are labelled (:class:`Settings`), what the model reads of each call, and what a run returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

import pandas as pd

from callinsights.data.call import Call
from callinsights.llm.engines import ENGINES
from callinsights.llm.models import ModelInfo
from callinsights.llm.openai_engine import ServerOptions
from callinsights.llm.prompts import DEFAULT_PROMPT, PROMPTS
from callinsights.schema import PROBA_COLUMNS
from callinsights.text.redact import redact

Calibration = Literal["reference", "batch", "none"]
Side = Literal["customer", "call"]
CALIBRATIONS: tuple[str, ...] = get_args(Calibration)
SIDES: tuple[str, ...] = get_args(Side)


@dataclass
class Settings:
    """How calls are labelled: the command line's options.

    Attributes:
        model: ``--model`` (name or path); None: Llama 3.2 1B if on disk, else the embedded model.
        engine: A key of :data:`callinsights.llm.engines.ENGINES`.
        method: A key of :data:`callinsights.classify.methods.METHODS` (``probe``, ``score``, ``generate``).
        calibration: How ``score`` turns answer log-probabilities into probabilities.
        side: ``customer`` (their turns only) or ``call`` (the whole call, an ablation).
        labels_file: The hand labels the probe is fitted on (None: the project's).
        base_url, api_key_env, concurrency: Where a server engine is, and most calls in flight there.
        timeout, connect_timeout: Seconds a server request may take, retries included, and to connect (None: the
            defaults of :class:`callinsights.llm.openai_engine.ServerOptions`).
        threads: CPU threads of a local engine (None: every core this process may use).
        sentiment_blocks: The probe reads sentiment after the model's first N blocks where the engine can, 0 from
            the last layer; None settles it per model (:class:`callinsights.classify.methods.ProbeMethod`).
    """

    model: str | None = None
    engine: str = "llama.cpp"
    method: str = "probe"
    prompt_version: str = DEFAULT_PROMPT
    calibration: Calibration = "reference"
    side: Side = "customer"
    redact_for_model: bool = False
    n_ctx: int = 4096
    labels_file: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 1
    timeout: float | None = None
    connect_timeout: float | None = None
    threads: int | None = None
    sentiment_blocks: int | None = None

    @property
    def reads(self) -> str:
        """What the model reads, as it ends a stored output's version: nothing for the customer's own words."""
        return ("" if self.side == "customer" else "/call") + ("/redacted" if self.redact_for_model else "")

    def check(self) -> None:
        """Raise ValueError naming any option outside its allowed values (the method is checked with the engine by
        :func:`callinsights.classify.methods.prepare`)."""
        allowed = {"calibration": CALIBRATIONS, "side": SIDES, "engine": tuple(ENGINES),
                   "prompt_version": tuple(PROMPTS)}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of: {', '.join(values)}")
        if self.sentiment_blocks is not None and self.sentiment_blocks < 0:
            raise ValueError(f"--sentiment-blocks {self.sentiment_blocks}: give a number of blocks, or 0 for the "
                             "last layer")
        servers = [name for name, engine in ENGINES.items() if engine.needs_server]
        if ENGINES[self.engine].needs_server and not self.base_url:
            raise ValueError(f"engine {self.engine!r} needs the server's address: pass --base-url URL")
        timeouts = {"--timeout": self.timeout, "--connect-timeout": self.connect_timeout}
        if not ENGINES[self.engine].needs_server and (self.base_url or self.api_key_env or self.concurrency != 1
                                                      or any(v is not None for v in timeouts.values())):
            raise ValueError(f"--base-url, --api-key-env, --concurrency, --timeout and --connect-timeout are for "
                             f"--engine {' or '.join(servers)}, not {self.engine}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency {self.concurrency} must be at least 1")
        for option, seconds in timeouts.items():
            if seconds is not None and not seconds > 0:
                raise ValueError(f"{option} {seconds:g}: give a number of seconds above 0")

    def server_options(self) -> ServerOptions | None:
        """Where a server engine's server is (None for the local engines)."""
        if not self.base_url:
            return None
        timeouts = {"timeout": self.timeout, "connect_timeout": self.connect_timeout}
        return ServerOptions(self.base_url, self.api_key_env, self.concurrency,
                             **{name: seconds for name, seconds in timeouts.items() if seconds is not None})


@dataclass
class RunResult:
    """What a run produced: one row per call (:data:`callinsights.schema.PREDICTION_COLUMNS`), the run's id in the
    store, calls served from the store and computed now, wall time, each call's raw model output, and the files that
    could not be parsed with the reason."""

    predictions: pd.DataFrame
    run_id: int
    model: ModelInfo
    n_cached: int
    n_computed: int
    seconds: float
    outputs: dict[str, dict] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def texts_for_model(calls: Iterable[Call], settings: Settings) -> dict[str, str]:
    """The text the model reads of each call (the customer's side, or the whole call), leaving out calls with
    nothing to read."""
    texts = {}
    for call in calls:
        text = call.customer_text() if settings.side == "customer" else call.text()
        if settings.redact_for_model:
            text = redact(text)
        if text.strip():
            texts[call.name] = text
    return texts


def assign_probabilities(frame: pd.DataFrame, task: str, proba: pd.DataFrame) -> None:
    """Write one task's probabilities, chosen label and its confidence into the predictions frame (in place)."""
    for label in proba.columns:
        frame[PROBA_COLUMNS[label]] = proba[label].to_numpy()
    frame[task] = proba.idxmax(axis=1).to_numpy()
    frame[f"confidence_{task}"] = proba.max(axis=1).to_numpy()
