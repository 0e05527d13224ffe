"""What every engine shares: its result types, the CPU threads it may use, quiet loading, and pooling token states
per turn. The engines (:mod:`callinsights.llm.engines`, :mod:`callinsights.llm.openai_engine`) and the model files
(:mod:`callinsights.llm.models`) build on this module, which imports none of them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Generation:
    """A generated answer.

    Attributes:
        text: The model's answer, stop text removed.
        prompt_tokens: Tokens in the prompt.
        completion_tokens: Tokens generated.
        seconds: Wall time of the call.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


@dataclass(frozen=True)
class Branch:
    """One question asked after a shared prefix, and the answers whose log-probabilities are wanted.

    Attributes:
        suffix: Prompt text after the shared prefix, up to where the answer starts.
        answers: Candidate answers, e.g. ``("positive", "negative", "neutral")``.
    """

    suffix: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Scores:
    """Log-probabilities of the candidate answers of each branch, with the cost of computing them.

    Attributes:
        logprobs: Per branch, ``answer -> log P(answer | prompt)`` (summed over the answer's tokens).
        prompt_tokens: Tokens in the shared prefix plus every suffix.
        evaluated_tokens: Tokens actually run through the model (less than prompt_tokens when a cached prefix
            was reused).
        seconds: Wall time.
    """

    logprobs: list[dict[str, float]]
    prompt_tokens: int
    evaluated_tokens: int
    seconds: float


@dataclass(frozen=True)
class TurnStates:
    """A text's hidden states pooled per turn (:func:`pool_by_turn`), from one pass.

    Attributes:
        last: One row per turn from the last layer, then the turn's token count.
        tokens: Tokens read.
        seconds: Wall time.
        block: The same rows from an earlier block's output, when the engine was asked to read one (else None).
    """

    last: np.ndarray
    tokens: int
    seconds: float
    block: np.ndarray | None = None


def default_threads() -> int:
    """All cores this process may run on: the machines this runs on are small and the model is the only heavy work.

    Counted from the CPU affinity where the system has one (a container or ``taskset`` limits it), since more
    llama.cpp threads than usable cores wait on each other and run several times slower.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def pool_by_turn(states: np.ndarray, piece_bytes: Sequence[int], turns: Sequence[str]) -> np.ndarray:
    """Mean token state per turn, for a text that is ``turns`` joined by newlines.

    Args:
        states: One row per token.
        piece_bytes: Each token's length in bytes of the text.
        turns: The turns.

    Returns:
        One row per turn: the mean of its tokens' states, then its token count. A token belongs to the turn its
        first byte falls in; a turn whose words share one token with a neighbour gets that token's state.
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
    """Silence the C libraries' load-time chatter, written to file descriptor 2 or through Python's sys.stderr
    (llama-cpp-python's log callback); Python errors still propagate."""
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
