"""Reading calls from any input the commands take: a folder of ``.txt``/``.vtt`` calls, or a table of turns.

A turn table (CSV, JSON Lines or Parquet) has the columns ``parse`` writes: ``file, turn, speaker, text`` and an
optional ``role``; a missing or ``unknown`` role comes from the speaker label by the ``.txt`` rules. A table that
cannot be read raises :class:`TurnTableError`; a bad row is left out and reported, and a call with no usable row or
no customer turn is skipped and reported, so one bad row never costs the other calls.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from callinsights.data.outputs import FORMULA_STARTS
from callinsights.data.call import AGENT, CUSTOMER, META, UNKNOWN, Call, Turn, call_id, natural_key
from callinsights.data.transcripts import (ParseReport, TranscriptError, check_customer, decode_call, label_key,
                                           meta_kind, read_calls, role_table, split_notes)

#: The table formats read, by file suffix.
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
REQUIRED_COLUMNS = ("file", "turn", "speaker", "text")
ROLES = (CUSTOMER, AGENT, META, UNKNOWN)


class TurnTableError(TranscriptError):
    """A turn table that cannot be read at all; the message names the file and says what to do."""


@dataclass
class TableReport(ParseReport):
    """A :class:`ParseReport` for a turn table; ``rows`` is what its rows are called to a person: ``row``, or ``line``
    in JSON Lines."""

    table: str = ""
    rows: str = "row"

    def where(self, file: str, line: int) -> str:
        """Where a person finds a row: ``turns.csv row 7 (call_3)``."""
        return f"{self.table} {self.rows} {line} ({call_id(file)})"


def _cell(value: object) -> str:
    """A cell as trimmed text: missing (None, NaN) is empty; 3.0 (an integer column with gaps) is ``3``."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _whole(text: str) -> int | None:
    """A turn number: ``3``, or ``3.0`` as a spreadsheet may write it; None when it is no whole number."""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _rows(path: Path) -> list[tuple[str, dict[str, str]]]:
    """The table's rows as ``(where, {column: text})``, column names lower-cased; TurnTableError if unreadable."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            records, columns = [], []
            for number, line in enumerate(decode_call(path.read_bytes(), path.name).splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    record = {"\0error": f"not JSON ({err.msg} at column {err.colno})"}
                if not isinstance(record, dict):
                    record = {"\0error": "not a JSON object {...}"}
                columns += [k for k in record if k not in columns and k != "\0error"]
                records.append((f"line {number}", record))
        elif suffix in (".csv", ".parquet"):
            frame = (pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(
                io.StringIO(decode_call(path.read_bytes(), path.name)), dtype=str, keep_default_na=False))
            records = [(f"row {number}", rec) for number, rec in enumerate(frame.to_dict("records"), 1)]
            columns = list(frame.columns)
        else:
            raise TurnTableError(f"{path.name}: not a turn table; give a {', '.join(TABLE_SUFFIXES)} file")
    except TranscriptError as err:
        raise TurnTableError(str(err)) from None
    except ImportError as err:
        raise TurnTableError(f"{path.name}: reading Parquet needs pyarrow ({err}); pip install pyarrow, or "
                             "write the table as CSV") from None
    except (ValueError, OSError) as err:  # pandas' and pyarrow's parse errors are ValueErrors
        kind = {".csv": "CSV", ".parquet": "Parquet"}.get(suffix, "JSON Lines")
        raise TurnTableError(f"{path.name}: cannot be read as {kind} ({str(err).strip()[:200]}); check that it is "
                             f"a {kind} file, or export the table again") from None
    names = {str(c).strip().lower() for c in columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise TurnTableError(
            f"{path.name}: no column {', '.join(missing)} (columns found: {', '.join(map(str, columns)) or 'none'}); "
            f"a turn table needs columns {','.join(REQUIRED_COLUMNS)} (role optional), as `callinsights parse` "
            "writes them")
    if not records:
        raise TurnTableError(f"{path.name}: no rows under the header; a turn table needs one row per turn")
    out = []
    for where, record in records:  # a JSON line that is no object keeps only its "\0error": reported, never guessed
        row = {str(k).strip().lower(): _cell(v) for k, v in record.items()}
        if suffix == ".csv":
            # Undo parse's protection against spreadsheet formulas: `'=x` was written for `=x`.
            row = {k: v[1:].strip() if v.startswith("'") and v[1:].startswith(FORMULA_STARTS) else v
                   for k, v in row.items()}
        out.append((where, row))
    return out


def read_turn_table(path: str | Path, roles: dict[str, str] | None = None) -> tuple[list[Call], TableReport]:
    """Every usable call of a turn table in natural order of names, turns in ``turn`` order, and the report.

    ``roles`` adds ``label -> role`` entries for rows without a role (matched case-insensitively).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give a turn table ({', '.join(TABLE_SUFFIXES)}) or a "
                                "folder of calls")
    table = role_table(roles)
    report = TableReport(unit=f"calls in {path.name}", table=path.name,
                         rows="line" if path.suffix.lower() == ".jsonl" else "row")
    calls: dict[str, list[tuple[int, Turn]]] = {}
    for where, row in _rows(path):
        number = int(where.split()[-1])
        problem, file = row.get("\0error"), row.get("file", "")
        if not problem and file:
            where = f"{where} ({call_id(file)}, turn {row.get('turn') or '?'})"
        role, speaker, text = row.get("role", "").lower(), row.get("speaker", ""), row.get("text", "")
        if role in ("", UNKNOWN) and speaker:
            role = table.get(label_key(speaker), UNKNOWN)
        turn = _whole(row.get("turn", ""))
        problem = problem or (
            "no file name: the row belongs to no call" if not file
            else f"turn {row.get('turn')!r} is not a whole number" if turn is None
            else "no text" if not text
            else "no speaker and no role" if not role
            else f"role {role!r} is not one of {', '.join(ROLES)}" if role not in ROLES
            else None)
        if problem:
            report.bad_rows.append((where, problem))
            if file:  # a call whose every row is bad is still listed as skipped
                calls.setdefault(file, [])
            continue
        kind = (meta_kind(text) or "note") if role == META else "speech"
        calls.setdefault(file, []).append((turn, Turn(file, 0, speaker, role, text, kind, number)))
    seen: dict[str, str] = {}
    read: list[Call] = []
    for file in sorted(calls, key=natural_key):
        if call_id(file).lower() in seen:
            report.skipped.append((file, f"same call name as {seen[call_id(file).lower()]}; rename one of them"))
            continue
        seen[call_id(file).lower()] = file
        rows = [t for _, t in sorted(calls[file], key=lambda pair: pair[0])]  # stable: equal turns keep row order
        numbers = [n for n, _ in calls[file]]
        if len(set(numbers)) < len(numbers):
            report.bad_rows.append((call_id(file), "a turn number appears more than once; those rows are kept in "
                                                   "file order"))
        call = _with_notes_apart(rows)
        try:
            if not call:
                raise TranscriptError(f"{file}: no usable row (see the rows listed)")
            check_customer(call, file)
        except TranscriptError as err:
            report.skipped.append((file, str(err).removeprefix(f"{file}: ")))
            continue
        report.add(call)
        read.append(Call.of(call))
    return read, report


def _with_notes_apart(rows: list[Turn]) -> list[Turn]:
    """A call's turns numbered from 0, a bracketed note in a speech turn set apart as a meta turn (as in a ``.txt``
    call: the note in ``Member: Bye. (Note: ...)`` must not reach the model)."""
    out: list[Turn] = []
    for t in rows:
        words, notes = split_notes(t.text) if t.role != META else (t.text, [])
        if words:
            out.append(replace(t, turn=len(out), text=words))
        out += [Turn(t.file, len(out) + i, "", META, note, "note", t.line) for i, note in enumerate(notes)]
    return out


#: The call files a folder may hold, by suffix (any case).
CALL_SUFFIXES = (".txt", ".vtt")


def read_source(source: str | Path, roles: dict[str, str] | None = None) -> tuple[list[Call], ParseReport]:
    """Every call of a folder (``.txt`` and ``.vtt``, subfolders too) or of a turn table, and the read report.

    ``roles`` adds ``label -> role`` entries (``--speaker LABEL=ROLE``).
    """
    path = Path(source)
    if path.suffix.lower() in TABLE_SUFFIXES and not path.is_dir():
        return read_turn_table(path, roles)
    if path.is_file():
        raise FileNotFoundError(f"{path}: not a folder of calls nor a turn table; give a folder of "
                                f"{' and '.join(CALL_SUFFIXES)} calls, or a {', '.join(TABLE_SUFFIXES)} table of turns "
                                "(columns file,turn,speaker,text)")
    return read_calls(path, roles, CALL_SUFFIXES)  # a folder, or the message naming a missing one
