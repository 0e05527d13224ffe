"""`callinsights monitor BATCH.csv`: a new batch's predictions against the reference run, as a table and a CSV.

The comparison itself is :func:`callinsights.evaluation.batch_monitor.compare`; this module reads the two tables,
refuses what cannot be compared, writes the table atomically and formats it for the terminal.

A batch labelled with another configuration than the reference (model, model file, engine, method, prompt version,
calibration or side) is refused unless ``allow_mismatch`` is set: the label mix and the confidence move with the
configuration alone (the probe and the score method give different mixes on the same calls), so every alert would
be the change of configuration, not of the calls.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from callinsights import config
from callinsights.data.outputs import OutputError, check_output_file, write_csv
from callinsights.evaluation.batch_monitor import (ALERT, CONFIGURATION_COLUMNS, FEW, alerts, check_predictions,
                                                   compare, configuration_differences)


class MonitorInputError(ValueError):
    """A batch or reference that cannot be compared; the message names the file and says what to do."""


@dataclass
class MonitorResult:
    """What :func:`monitor` found.

    Attributes:
        table: One row per watched quantity (:data:`callinsights.evaluation.batch_monitor.TABLE_COLUMNS`).
        warnings: Things the reader should know that do not stop the comparison.
        out: The CSV written.
    """

    table: pd.DataFrame
    out: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> pd.DataFrame:
        """The rows whose status is ``alert``."""
        return alerts(self.table)


def read_predictions(path: str | Path, role: str) -> pd.DataFrame:
    """Read and check one predictions table.

    Args:
        path: The CSV.
        role: ``batch`` or ``reference``, for the messages.

    Raises:
        MonitorInputError: The file is missing, unreadable, or not a predictions table.
    """
    path = Path(path)
    written_by = "the CSV that `callinsights analyze DIR --out FILE` wrote"
    if role == "reference":
        written_by += f" (default {config.PREDICTIONS_FILE}, the committed main run: `git checkout` restores it)"
    if path.is_dir():
        raise MonitorInputError(f"{path}: is a folder; give the {role} predictions file, {written_by}")
    if not path.is_file():
        raise MonitorInputError(f"{path}: no such file; give the {role} predictions, {written_by}")
    try:
        # Names stay text: a model hash of digits and one "e" would otherwise be read as a number.
        frame = pd.read_csv(path, dtype={column: str for column in ("file", *CONFIGURATION_COLUMNS)})
    except (OSError, ValueError) as err:  # unreadable, empty, binary, not CSV
        raise MonitorInputError(f"{path}: cannot be read as a CSV table ({err}); give the {role} predictions, "
                                f"{written_by}") from None
    try:
        return check_predictions(frame, str(path))
    except ValueError as err:
        raise MonitorInputError(str(err)) from None


def monitor(batch: str | Path, reference: str | Path = config.PREDICTIONS_FILE,
            out: str | Path = config.MONITORING_FILE, allow_mismatch: bool = False,
            thresholds: dict[str, float] | None = None) -> MonitorResult:
    """Compare a batch with the reference run and write the table.

    Args:
        batch: The new batch's predictions CSV.
        reference: The reference run's predictions CSV.
        out: Where the table goes (written atomically; checked before anything is read).
        allow_mismatch: Compare even when the two come from different configurations (a warning says which).
        thresholds: Overrides of ``config.MONITOR_THRESHOLDS``.

    Returns:
        The table, the path written and any warnings.

    Raises:
        MonitorInputError: A file is missing or not a predictions table, or the configurations differ and
            ``allow_mismatch`` is not set.
        callinsights.data.outputs.OutputError: ``out`` cannot be written.
    """
    out = check_output_file(out, "--out")
    ref = read_predictions(reference, "reference")
    new = read_predictions(batch, "batch")
    warnings = []
    try:
        differences = configuration_differences(ref, new, str(reference), str(batch))
    except ValueError as err:
        raise MonitorInputError(str(err)) from None
    if differences and not allow_mismatch:
        raise MonitorInputError(
            f"{batch}: labelled with another configuration than the reference {reference} "
            f"({'; '.join(differences)}); the label mix and confidence move with the configuration alone. Label the "
            "batch with the reference's settings, give --reference a run made with the batch's settings, or pass "
            "--allow-mismatch to compare anyway")
    if differences:
        warnings.append(f"configurations differ ({'; '.join(differences)}): shifts may be the configuration's, "
                        "not the calls'")
    shared = len(set(new["file"].astype(str)) & set(ref["file"].astype(str)))
    if Path(batch).resolve() == Path(reference).resolve():
        warnings.append(f"{batch} is the reference itself: nothing can shift")
    elif shared:
        warnings.append(f"{shared} of the batch's {len(new)} file names are also in the reference: if they are the "
                        "same calls, the two are not independent samples and shifts are harder to see")
    table = compare(ref, new, thresholds)
    few = table[table["status"] == FEW]["quantity"].tolist()
    if few:
        minimum = {**config.MONITOR_THRESHOLDS, **(thresholds or {})}["min_calls"]
        warnings.append(f"not enough calls (fewer than {minimum:g} on a side) to judge: {', '.join(few)}")
    write_csv(table, out, float_format="%.6g")
    return MonitorResult(table, out, warnings)


def _number(value: object) -> str:
    return "" if pd.isna(value) else f"{value:.3g}"


def format_table(table: pd.DataFrame) -> str:
    """The table for the terminal: one line per quantity, alerts marked with ``!``."""
    shown = pd.DataFrame({
        "": ["!" if s == ALERT else "" for s in table["status"]],
        "quantity": table["quantity"],
        "reference": table["reference"].map(_number),
        "batch": table["batch"].map(_number),
        "change": [f"{_number(c)} ({k})" if k else "" for c, k in zip(table["change"], table["change_kind"])],
        "interval": [f"[{_number(lo)}, {_number(hi)}]" if pd.notna(lo) else ""
                     for lo, hi in zip(table["ci_low"], table["ci_high"])],
        "p": table["p_value"].map(_number),
        "threshold": table["threshold"].map(_number),
        "status": table["status"],
    })
    return shown.to_string(index=False)


def summary(result: MonitorResult) -> str:
    """One line: the alerts, or that there is none, and where the table went."""
    fired = result.alerts["quantity"].tolist()
    if fired:
        return f"{len(fired)} alert{'s' if len(fired) > 1 else ''}: {', '.join(fired)} -> {result.out}"
    return f"no alert -> {result.out}"


def command(batch: str, reference: str, out: str, allow_mismatch: bool = False) -> str:
    """`callinsights monitor`: compare, print the table and the verdict; messages go to stderr.

    Returns:
        ``"ok"`` (no alert), ``"alert"`` (at least one; the table is written all the same) or ``"bad input"``
        (a message said which file and what to do; nothing was written).
    """
    try:
        result = monitor(batch, reference, out, allow_mismatch=allow_mismatch)
    except (MonitorInputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return "bad input"
    except OSError as err:
        print(f"error: {out}: could not be written ({err}); the previous file, if any, is unchanged",
              file=sys.stderr)
        return "bad input"
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(format_table(result.table))
    print(summary(result))
    return "alert" if len(result.alerts) else "ok"
