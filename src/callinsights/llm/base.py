"""What every engine shares: the :class:`Engine` interface, its result types, CPU threads, quiet loading, and
pooling token states per turn. The engines and model files build on this module, which imports none of them."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence

import numpy as np

#: What an engine can compute, named as an error message says it (:attr:`Engine.capabilities`).
TURN_STATES = "hidden states per turn"
BLOCK_STATES = "an earlier block's hidden states"
SCORES = "answer log-probabilities"
GENERATION = "generated answers"


class CapabilityError(ValueError):
    """An engine asked for something it cannot compute; the message says which engine or method to use."""


@dataclass(frozen=True)
class Generation:
    """A generated answer (stop text removed), its token counts and wall time."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


@dataclass(frozen=True)
class Branch:
    """One question asked after a shared prefix (``suffix`` ends where the answer starts), and the candidate
    ``answers`` whose log-probabilities are wanted."""

    suffix: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Scores:
    """Per branch, ``answer -> log P(answer | prompt)`` summed over the answer's tokens; the tokens of the prompts
    and those actually evaluated (fewer when a cached prefix was reused); wall time."""

    logprobs: list[dict[str, float]]
    prompt_tokens: int
    evaluated_tokens: int
    seconds: float


@dataclass(frozen=True)
class TurnStates:
    """A text's hidden states pooled per turn (:func:`pool_by_turn`) from one pass: the last layer's, and an
    earlier block's when the engine was loaded to read one (else None)."""

    last: np.ndarray
    tokens: int
    seconds: float
    block: np.ndarray | None = None


class Engine(Protocol):
    """What the labelling methods ask of an engine; :data:`callinsights.llm.engines.ENGINES` names the engines, which
    subclass this for its defaults (a local engine, stored under its name).

    A method an engine cannot serve raises :class:`CapabilityError` (its ``capabilities`` say which before loading).
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    #: The store key names the engine by ``name`` (known before loading), else by ``key_name`` (a served model).
    key_is_name: ClassVar[bool] = True
    #: Reached through ``ServerOptions`` (``--base-url``) rather than a local model file.
    needs_server: ClassVar[bool] = False
    n_ctx: int

    @classmethod
    def load(cls, model, n_ctx: int = 4096, threads: int | None = None, server=None, states: bool = False,
             read_block: int | None = None) -> "Engine":
        """Load for ``states`` (per-turn hidden states, also after block ``read_block``) or for scoring and
        generation."""

    @property
    def key_name(self) -> str:
        """The engine as stored in an output's key."""
        return self.name

    # An engine that subclasses this and lacks a capability gets a CapabilityError, never a silent None.
    def embed_turns(self, turns: Sequence[str]) -> TurnStates:
        raise CapabilityError(f"{self.name} exposes no {TURN_STATES}; use --engine llama.cpp")

    def score(self, prefix: str, branches: Sequence[Branch]) -> Scores:
        raise CapabilityError(f"{self.name} exposes no {SCORES}; use --engine llama.cpp")

    def generate_chat(self, system: str, user: str, max_tokens: int = 24, grammar: str | None = None
                      ) -> Generation:
        raise CapabilityError(f"{self.name} exposes no {GENERATION}; use --engine llama.cpp")

    def close(self) -> None: ...


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity where there is one): more llama.cpp threads than usable
    cores wait on each other and run several times slower."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def pool_by_turn(states: np.ndarray, piece_bytes: Sequence[int], turns: Sequence[str]) -> np.ndarray:
    """Mean token state per turn of a text that is ``turns`` joined by newlines, then the turn's token count.

    ``piece_bytes`` is each token's length in bytes. A token belongs to the turn its first byte falls in; a turn
    sharing its only token with a neighbour gets that token's state.
    """
    ends = np.cumsum(piece_bytes)
    starts = ends - np.asarray(piece_bytes)
    bounds = np.concatenate([[0], np.cumsum([len(t.encode("utf-8")) + 1 for t in turns])])
    owner = np.clip(np.searchsorted(bounds, starts, side="right") - 1, 0, len(turns) - 1)
    rows = []
    for i in range(len(turns)):
        mine = states[owner == i]
        if not len(mine):
            mine = states[[min(int(np.searchsorted(ends, bounds[i], side="right")), len(states) - 1)]]
        rows.append(np.concatenate([mine.mean(axis=0), [float((owner == i).sum())]]))
    return np.vstack(rows)


@contextlib.contextmanager
def quiet_stderr():
    """Silence the C libraries' load-time chatter (file descriptor 2 and llama-cpp-python's sys.stderr callback);
    Python errors still propagate."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        try:
            fd = os.dup(2)
        except OSError:
            yield
            return
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)
