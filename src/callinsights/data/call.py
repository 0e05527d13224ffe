"""A call as every part of callinsights sees it: a named sequence of speaker turns.

Every reader of an input format returns :class:`Call` objects, so a call is read once and never regrouped from loose
turns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

CUSTOMER, AGENT, META, UNKNOWN = "customer", "agent", "meta", "unknown"

TURN_COLUMNS = ["file", "turn", "speaker", "role", "text"]


@dataclass(frozen=True)
class Turn:
    """One line of a call: its position from 0 (meta lines counted), the ``speaker`` label as written (empty for a
    meta line), its ``role`` (``customer``, ``agent``, ``meta``, or ``unknown``: a label not in the speaker table),
    and what was said. ``kind`` is ``speech``, ``timestamp``, ``duration``, ``note``, ``direction`` or
    ``continuation``; ``line`` is the file's line or the table's row (0 when unknown), not compared, as it says where
    to look, not what the turn is."""

    file: str
    turn: int
    speaker: str
    role: str
    text: str
    kind: str = "speech"
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call(Sequence[Turn]):
    """One call: its identifier (the label file's, the file name without suffix) and its turns, meta included."""

    name: str
    turns: tuple[Turn, ...]

    @classmethod
    def of(cls, turns: Iterable[Turn]) -> Call:
        """The call made of ``turns`` (all from one file), named after that file."""
        turns = tuple(turns)
        return cls(call_id(turns[0].file) if turns else "", turns)

    def __getitem__(self, index):
        return self.turns[index]

    def __len__(self) -> int:
        return len(self.turns)

    @property
    def file(self) -> str:
        """The file the call was read from (``transcript_12.txt``), or its name in a turn table."""
        return self.turns[0].file if self.turns else self.name

    def customer_text(self) -> str:
        """The customer's turns, one per line."""
        return customer_text(self.turns)

    def text(self) -> str:
        """The whole conversation, meta lines left out."""
        return call_text(self.turns)


def all_turns(calls: Iterable[Call]) -> list[Turn]:
    """Every turn of ``calls``, call after call (for a table of turns)."""
    return [turn for call in calls for turn in call]


def natural_key(path: str | Path) -> tuple:
    """Sort key that puts ``transcript_2`` before ``transcript_10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", Path(path).name))


def call_id(file: str | Path) -> str:
    """The call's identifier as the label file writes it: the file name without ``.txt``."""
    return Path(file).stem


def customer_turns(turns: Iterable[Turn]) -> list[Turn]:
    """The customer's turns, in order."""
    return [t for t in turns if t.role == CUSTOMER]


def customer_text(turns: Iterable[Turn]) -> str:
    """The customer's turns, one per line."""
    return "\n".join(t.text for t in customer_turns(turns) if t.text)


def call_text(turns: Iterable[Turn]) -> str:
    """The whole conversation as ``Speaker: words`` lines, meta lines left out (for the whole-call ablation)."""
    return "\n".join(f"{t.speaker}: {t.text}" for t in turns if t.role != META)


def turns_frame(calls: Iterable[Call]):
    """The calls' turns as a pandas DataFrame with the columns of :data:`TURN_COLUMNS` plus ``kind``."""
    import pandas as pd

    return pd.DataFrame([asdict(t) for t in all_turns(calls)], columns=[*TURN_COLUMNS, "kind"])
