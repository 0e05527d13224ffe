"""How calls are labelled (:class:`Settings`), what a run returns, and what the model reads of each call."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import pandas as pd

from callinsights import config
from callinsights.data.call import Call
from callinsights.llm.engines import ENGINES
from callinsights.llm.engines import block_count, check_block
from callinsights.llm.models import ModelInfo
from callinsights.llm.openai_engine import ServerOptions
from callinsights.llm.prompts import DEFAULT_PROMPT, GENERATE_GRAMMAR, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM
from callinsights.text.redact import redact

Method = Literal["score", "generate", "probe"]
Calibration = Literal["reference", "batch", "none"]
Side = Literal["customer", "call"]
Engine = Literal["llama.cpp", "gpt4all", "openai"]
METHODS: tuple[str, ...] = get_args(Method)
CALIBRATIONS: tuple[str, ...] = get_args(Calibration)
SIDES: tuple[str, ...] = get_args(Side)

#: The stored feature definition: a new pooling or layout must get a new name, so no stale output is reused.
FEATURES_VERSION = "turns-v1"


@dataclass
class Settings:
    """How calls are labelled.

    Attributes:
        model: ``--model`` value (name or path); None resolves to Llama 3.2 1B if on disk, else the embedded model.
        engine: ``llama.cpp``, ``gpt4all`` or ``openai`` (an OpenAI-compatible server at ``base_url``).
        method: ``probe`` (the default), ``score`` or ``generate``.
        prompt_version: Key of :data:`callinsights.llm.prompts.PROMPTS`.
        calibration: For ``score``: ``reference`` (fixed reference calls), ``batch`` (the run's calls) or ``none``.
        side: ``customer`` (the default: the customer's turns only) or ``call`` (whole call, an ablation).
        redact_for_model: Whether the model reads redacted text (identifiers carry no sentiment).
        n_ctx: Context length.
        labels_file: For ``probe``: the hand labels it is fitted on (default: the project's label file).
        base_url: For ``openai``: the server's API root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: For ``openai``: the environment variable holding the API key (None: no key).
        concurrency: For ``openai``: most calls in flight at once.
        threads: CPU threads of a local engine (None: all cores this process may use).
        sentiment_blocks: For ``probe`` on llama.cpp: read sentiment from the output of the model's first N
            transformer blocks (read in the same pass as the last layer, :mod:`callinsights.llm.engines`); 0 reads it
            from the last layer, as the outcome always is. None (the default) means ``config.SENTIMENT_BLOCKS`` (26,
            chosen on the embedded SmolLM2-135M's 30 blocks, ``docs/experiments.md`` item 9) for a model with more
            blocks than that, and the last layer for any other (:func:`settled`), since no block of another model
            was measured. A server engine returns the last layer only, so ``openai`` reads sentiment there.
    """

    model: str | None = None
    engine: Engine = "llama.cpp"
    method: Method = "probe"
    prompt_version: str = DEFAULT_PROMPT
    calibration: Calibration = "reference"
    side: Side = "customer"
    redact_for_model: bool = False
    n_ctx: int = 4096
    labels_file: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 1
    threads: int | None = None
    sentiment_blocks: int | None = None

    @property
    def early_blocks(self) -> int | None:
        """The blocks sentiment is read after when this run reads an earlier layer at all (probe, llama.cpp)."""
        blocks = config.SENTIMENT_BLOCKS if self.sentiment_blocks is None else self.sentiment_blocks
        return blocks if self.method == "probe" and self.engine == "llama.cpp" and blocks else None

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
        if self.sentiment_blocks is not None and self.sentiment_blocks < 0:
            raise ValueError(f"--sentiment-blocks {self.sentiment_blocks}: give a number of blocks, or 0 for the "
                             "last layer")
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


def texts_for_model(calls: Iterable[Call], settings: Settings) -> dict[str, str]:
    """The text the model reads for each call: the customer's side (or the whole call for the ablation).

    Calls with nothing to read (no customer words) are left out.
    """
    texts = {}
    for call in calls:
        text = call.customer_text() if settings.side == "customer" else call.text()
        if settings.redact_for_model:
            text = redact(text)
        if text.strip():
            texts[call.name] = text
    return texts


def settled(settings: Settings, model: ModelInfo) -> Settings:
    """``settings`` with the sentiment layer settled for ``model``, for a run that reads one (probe on llama.cpp);
    unchanged otherwise. The default (None) becomes block ``config.SENTIMENT_BLOCKS`` where the model is deeper, else
    its last layer (0); a number given is kept if the model has that block.

    Raises:
        ModelError: ``sentiment_blocks`` names a block the model does not have (before any call is read).
    """
    if not settings.early_blocks:
        return settings
    if settings.sentiment_blocks is None:
        deeper = config.SENTIMENT_BLOCKS < block_count(model.path)
        return replace(settings, sentiment_blocks=config.SENTIMENT_BLOCKS if deeper else 0)
    check_block(model.path, settings.sentiment_blocks)
    return settings


def prompt_version(settings: Settings) -> str:
    """The stored prompt version: the wording (for the probe, which reads no prompt, the features it takes), plus
    what the model read and how.

    For the prompted methods the version name is followed by a digest of the exact wording the method sends, so an
    edited prompt can never be served stale outputs stored under the old one, even if nobody renames the version.
    """
    if settings.method == "probe":
        version = f"features-{FEATURES_VERSION}"
        # Sentiment read after the first N blocks is another output: never mixed with one that lacks it.
        version += f"+sentiment-blocks-{settings.early_blocks}" if settings.early_blocks else ""
    else:
        prompt = PROMPTS[settings.prompt_version]
        wording = (SYSTEM + prompt.intro + repr(prompt.questions) if settings.method == "score"
                   else SYSTEM + GENERATE_INSTRUCTIONS + GENERATE_GRAMMAR)
        version = f"{settings.prompt_version}@{hashlib.sha256(wording.encode()).hexdigest()[:8]}"
    version += "" if settings.side == "customer" else "/call"
    return version + ("/redacted" if settings.redact_for_model else "")
