"""Writing output files so that finished work is never lost and a spreadsheet never runs a cell.

- :func:`check_output_file` is called before any model time is spent: a path that is a folder, sits under a file, or
  lies in a folder nobody can write to is refused with a message that says what to do.
- :func:`write_csv` writes a temporary file beside the target and renames it over the target, so a reader sees the
  old file or the new one, never half of one, and a failed run leaves the previous output as it was.
- Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return) get a leading apostrophe, as OWASP advises against CSV injection (:func:`neutralise`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says what to do."""


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """Make sure a file can be written at ``path`` before any work is done; creates its folder.

    Args:
        path: The file to be written.
        option: The command-line option that sets it, named in the message.

    Returns:
        The path.

    Raises:
        OutputError: The path is a folder, a parent is a file, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file; give {option} a file name such as {path / 'out.csv'}")
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{path}: {ancestor} is a file, not a folder; give {option} another path")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Permission bits do not tell (root, read-only mounts, ACLs): trying is the only sure check.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as err:
        raise OutputError(
            f"{path}: cannot write in {path.parent} ({err.strerror or err}); give {option} a path in a folder you "
            "can write to"
        ) from None
    return path


def neutralise(value: object) -> object:
    """A text cell a spreadsheet would evaluate, prefixed with an apostrophe; anything else unchanged.

    Example:
        >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-5 stars"), neutralise(-5), neutralise("ok")
        ('\\'=HYPERLINK("http://x")', "'-5 stars", -5, 'ok')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell passed through :func:`neutralise` (numbers untouched)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: object) -> Path:
    """Write a table as CSV atomically, formula cells neutralised.

    Args:
        frame: The table.
        path: Target file; its folder is created.
        **to_csv: Passed to :meth:`pandas.DataFrame.to_csv` (``index=False`` unless given).

    Returns:
        The path written.
    """
    to_csv.setdefault("index", False)
    return _atomic(path, lambda handle: neutralised(frame).to_csv(handle, **to_csv))


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (a temp file beside it, then a rename): a failure leaves the old file whole."""
    return _atomic(path, lambda handle: handle.write(text))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a binary file atomically, as :func:`write_text` writes text."""
    return _atomic(path, lambda handle: handle.write(data), binary=True)


def _atomic(path: str | Path, write, binary: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permission bits the file would get from a plain ``open``: kept if it exists, else 0o666 less the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON: numpy and pandas scalars as numbers, NaN as None, frames as lists of records.

    Args:
        value: Numbers, strings, dicts, lists, Series (as dicts) and DataFrames (as records), nested freely.

    Returns:
        Something ``json.dumps`` writes as strict JSON.
    """
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex):  # a named index is data too (e.g. the metric of each row)
            value = value.reset_index()
        return [json_ready(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
