"""Reading what ``python -m callinsights evaluate`` wrote, for notebook 04, which shows the files and computes nothing.

:func:`result_files` names every file of a results folder (``results/metrics.json`` and the tables of
``results/evaluation/``, :data:`callinsights.config.EVALUATION_FILES`); :func:`read_results` loads them. When a file
is missing it prints one line that says which command makes it and makes the rest of the notebook a no-op
(:func:`skip_rest_of_notebook`), so a reader sees that line, the prose, and no traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from callinsights import config

#: The command that writes the files, as a reader should type it.
COMMAND = "python -m callinsights evaluate"


def result_files(results_dir: str | Path | None = None) -> dict[str, Path]:
    """Every file the evaluate command writes into a results folder, by name.

    Args:
        results_dir: The command's ``--out-dir``; None for :data:`callinsights.config.RESULTS_DIR`.

    Returns:
        ``metrics`` (``metrics.json``) and one entry per key of :data:`callinsights.config.EVALUATION_FILES`
        (in the folder ``evaluation/`` inside ``results_dir``).
    """
    folder = Path(results_dir) if results_dir is not None else config.RESULTS_DIR
    files = {"metrics": folder / config.METRICS_FILE.name}
    files.update({key: folder / config.EVALUATION_DIR.name / name for key, name in config.EVALUATION_FILES.items()})
    return files


@dataclass
class Results:
    """One evaluate run, read back.

    Tables are reached as attributes named like the keys of :data:`callinsights.config.EVALUATION_FILES`
    (``results.comparison``, ``results.mistakes``).

    Attributes:
        folder: The results folder read (:attr:`location` shows it relative to the project).
        metrics: ``metrics.json``.
        facts: ``evaluation/run.json``: what was evaluated (model, calls, configurations, seconds, command).
        tables: Every CSV table, by key.
    """

    folder: Path
    metrics: dict[str, Any]
    facts: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """The folder as a reader should see it: relative to the project when inside it."""
        return shown(self.folder)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"no table {name!r}; the tables are: {', '.join(tables)}")


def missing_line(missing: list[Path], results_dir: str | Path | None = None) -> str:
    """The one line a reader sees when files are missing: which, and the command that writes them."""
    where = "" if results_dir is None else f" --out-dir {results_dir}"
    first = shown(missing[0])
    more = f" and {len(missing) - 1} more of its files" if len(missing) > 1 else ""
    return f"{first}{more} missing: run `{COMMAND}{where}` first; this notebook only shows what it writes."


def read_results(results_dir: str | Path | None = None, stop_notebook: bool = True) -> Results | None:
    """Read every file of an evaluate run.

    Args:
        results_dir: The command's ``--out-dir``; None for ``results/``.
        stop_notebook: When a file is missing, also make every later notebook cell a no-op.

    Returns:
        The run's files; None (after printing :func:`missing_line`) when any is missing.
    """
    files = result_files(results_dir)
    missing = [path for path in files.values() if not path.is_file()]
    if missing:
        print(missing_line(missing, results_dir))
        if stop_notebook:
            skip_rest_of_notebook()
        return None
    tables = {key: pd.read_csv(path) for key, path in files.items() if path.suffix == ".csv"}
    return Results(folder=files["metrics"].parent, metrics=_json(files["metrics"]), facts=_json(files["run"]),
                   tables=tables)


def skip_rest_of_notebook() -> bool:
    """In a notebook, make every cell run after this one do nothing; elsewhere, do nothing.

    An IPython input transformer empties each later cell's code, so the notebook runs to its end without an error
    output (``make notebooks`` goes on to the next notebook) instead of failing at the first table it lacks.

    Returns:
        Whether a notebook kernel was found.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.input_transformers_post.append(lambda lines: [])
    return True


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def shown(path: Path) -> str:
    """A path relative to the project when it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(config.PROJ_ROOT))
    except ValueError:
        return str(path)
