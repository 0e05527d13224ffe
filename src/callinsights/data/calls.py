"""Reading calls in any input format the commands take: a folder of ``.txt`` and ``.vtt`` calls, or a turn table.

``callinsights parse`` and ``analyze`` read their input through :func:`read_source`; the formats themselves live in
:mod:`callinsights.data.transcripts` (``.txt``), :mod:`callinsights.data.webvtt` (``.vtt``) and
:mod:`callinsights.data.turn_tables` (``.csv``, ``.jsonl``, ``.parquet``).
"""

from __future__ import annotations

from pathlib import Path

from callinsights.data.call import Call
from callinsights.data.transcripts import ParseReport, read_call, read_calls
from callinsights.data.turn_tables import TABLE_SUFFIXES, read_turn_table
from callinsights.data.webvtt import read_vtt

#: Each call-file suffix a folder may hold (any case) and its reader.
CALL_READERS = {".txt": read_call, ".vtt": read_vtt}


def read_source(source: str | Path, roles: dict[str, str] | None = None) -> tuple[list[Call], ParseReport]:
    """Read every call of a folder (``.txt`` and ``.vtt``, subfolders too) or of a turn table file.

    A bad call file or table row is skipped and reported, never fatal to the others.

    Args:
        source: A folder of calls, or a ``.csv``, ``.jsonl`` or ``.parquet`` table of turns.
        roles: Extra ``label -> role`` entries (``--speaker LABEL=ROLE``).

    Returns:
        Every call read, and the report of what was read, skipped or ignored.

    Raises:
        FileNotFoundError: No such folder or file, a folder with no call file, or a file that is no table.
        callinsights.data.turn_tables.TurnTableError: A table that cannot be read at all.
    """
    path = Path(source)
    if path.is_dir():
        return read_calls(path, roles, readers=CALL_READERS)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_turn_table(path, roles)
    if path.is_file():
        raise FileNotFoundError(f"{path}: not a folder of calls nor a turn table; give a folder of "
                                f"{' and '.join(CALL_READERS)} calls, or a {', '.join(TABLE_SUFFIXES)} table of turns "
                                "(columns file,turn,speaker,text)")
    return read_calls(path, roles, readers=CALL_READERS)  # names the missing folder
