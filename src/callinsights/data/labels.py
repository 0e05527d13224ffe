"""The label vocabulary and reading, validating and writing label files.

A label file is a CSV with one row per call: ``Filename,Sentiment,Call_Outcome`` as the client writes it
(``transcript_160,Negative,Follow-up action needed``). Inside the project labels are lower case, exactly the values
of :data:`SENTIMENTS` and :data:`OUTCOMES`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneOut, StratifiedKFold

from callinsights.data.outputs import write_csv
from callinsights.schema import OUTCOMES, SENTIMENTS, TASKS


# The client's column names, and the project's.
_COLUMNS = {"filename": "file", "sentiment": "sentiment", "call_outcome": "outcome", "outcome": "outcome",
            "file": "file"}


#: The fewest labelled calls a probe is fitted on: the final fit, and the training part of every held-out fold.
MIN_FIT_CALLS = 8
#: The most folds the probe's held-out probabilities use (fewer when a class has fewer calls).
HELD_OUT_FOLDS = 4


class LabelFileError(ValueError):
    """A label file that cannot be used; the message names the file, row and value."""


@dataclass
class LabelCheck:
    """Problems found in a label file; empty lists mean it is valid.

    Attributes:
        bad_values: ``(row, column, value)`` for values outside the vocabulary.
        duplicates: Call identifiers labelled more than once.
        unknown_files: Call identifiers with no transcript (only when the known calls are given).
        missing: Rows with an empty cell.
    """

    bad_values: list[tuple[int, str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not (self.bad_values or self.duplicates or self.unknown_files or self.missing)

    def messages(self, source: str = "label file") -> list[str]:
        """One line per problem, saying what to do."""
        allowed = {"sentiment": ", ".join(SENTIMENTS), "outcome": ", ".join(OUTCOMES)}
        out = [f"{source} row {r}: {col} {val!r} is not one of: {allowed[col]}" for r, col, val in self.bad_values]
        out += [f"{source}: {f} is labelled more than once; keep one row" for f in self.duplicates]
        out += [f"{source}: {f} has no transcript in the data folder; check the name" for f in self.unknown_files]
        out += [f"{source} row {r}: empty cell; fill it or remove the row" for r in self.missing]
        return out


def normalise(value: object) -> str:
    """Lower case, trimmed, single-spaced: ``' Issue  Resolved'`` becomes ``'issue resolved'``."""
    return " ".join(str(value).strip().lower().split())


def read_label_table(path: str | Path) -> pd.DataFrame:
    """Read a label CSV into columns ``file, sentiment, outcome`` with normalised values, without validating.

    Raises:
        FileNotFoundError: The file does not exist (the message says how to get it).
        LabelFileError: A needed column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no label file here. Run `make data`, or put your own copy there.")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise LabelFileError(
            f"{path}: empty file; a label file has the header Filename,Sentiment,Call_Outcome and one row per call"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LabelFileError(f"{path}: not a readable CSV ({err}); save it as UTF-8 CSV") from None
    frame = raw.rename(columns={c: _COLUMNS.get(c.strip().lower(), c) for c in raw.columns})
    missing = [c for c in ("file", "sentiment", "outcome") if c not in frame.columns]
    if missing:
        raise LabelFileError(
            f"{path}: missing column(s) {', '.join(missing)}; expected Filename,Sentiment,Call_Outcome "
            f"(found {', '.join(raw.columns)})"
        )
    frame = frame[["file", "sentiment", "outcome"]].copy()
    frame["file"] = frame["file"].str.strip().str.removesuffix(".txt")
    for col in ("sentiment", "outcome"):
        frame[col] = frame[col].map(normalise)
    return frame


def check_labels(frame: pd.DataFrame, known_calls: set[str] | None = None) -> LabelCheck:
    """Validate a label table from :func:`read_label_table`.

    Args:
        frame: Columns ``file, sentiment, outcome``.
        known_calls: Call identifiers that exist; when given, labels for other calls are reported.

    Returns:
        The problems found, with row numbers as in the CSV (header is row 1).
    """
    check = LabelCheck()
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if not row.file or not row.sentiment or not row.outcome:
            check.missing.append(i)
            continue
        if row.sentiment not in SENTIMENTS:
            check.bad_values.append((i, "sentiment", row.sentiment))
        if row.outcome not in OUTCOMES:
            check.bad_values.append((i, "outcome", row.outcome))
    counts = frame["file"].value_counts()
    check.duplicates = sorted(counts[counts > 1].index)
    if known_calls is not None:
        check.unknown_files = sorted(set(frame["file"]) - known_calls - {""})
    return check


def load_labels(path: str | Path, known_calls: set[str] | None = None) -> pd.DataFrame:
    """Read and validate a label file; the table is indexed by call identifier.

    Raises:
        LabelFileError: With every problem listed, when the file is not valid.
    """
    frame = read_label_table(path)
    if frame.empty:
        raise LabelFileError(f"{path}: has a header but no label rows; add one row per labelled call")
    check = check_labels(frame, known_calls)
    if not check.ok:
        raise LabelFileError("\n".join(check.messages(str(path))))
    return frame.set_index("file")


def held_out_splitter(labels: Iterable[str], folds: int = HELD_OUT_FOLDS, seed: int = 0):
    """How the probe's held-out probabilities hold calls out: stratified folds (no more than the smallest class has
    calls), or leave-one-out when a class has a single call. The fit and the check before it use this one rule."""
    smallest = min(Counter(labels).values())
    return StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed) if smallest >= 2 else LeaveOneOut()


def check_fit(gold: pd.DataFrame, calls: Iterable[str], source: str | Path = "label file") -> list[str]:
    """Whether a probe can be fitted on these labels for these calls: the problems found, before any model time.

    What the fit will need is asked of the labels alone: per task, two classes and :data:`MIN_FIT_CALLS` labelled
    calls, and as many, of two classes, in the training part of every fold that holds its predictions out
    (:func:`held_out_splitter`), so a file that would fail after minutes of model time fails now.

    Args:
        gold: From :func:`load_labels` (indexed by call identifier).
        calls: Identifiers of the calls being analysed.
        source: The label file, named in the messages.

    Returns:
        One message per problem (empty when the probe can be fitted): a label naming a call only in another case
        (``Transcript_160`` for ``transcript_160``), no labelled call among the calls, one class only in a task,
        too few labelled calls, or too few in a fold.
    """
    calls = set(calls)
    by_lower = {c.lower(): c for c in calls}
    problems = [
        f"{source}: {name!r} matches no call, but {by_lower[name.lower()]!r} does; call names are case-sensitive, "
        "so correct the label file"
        for name in gold.index if name not in calls and name.lower() in by_lower
    ]
    matched = gold[gold.index.isin(calls)]
    if matched.empty:
        problems.append(f"{source}: none of its calls is among the calls analysed, so the probe cannot be fitted; "
                        "include labelled calls, or use --method score")
        return problems
    for task in TASKS:
        y = matched[task].to_numpy()
        counts = Counter(y)
        shares = ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
        if len(counts) < 2:
            problems.append(
                f"{source}: every labelled call among the calls analysed ({len(matched)}) has {task} {y[0]!r}; "
                f"the probe needs at least two {task} classes. Label calls of another class, or use --method score"
            )
        elif len(y) < MIN_FIT_CALLS:
            problems.append(f"{source}: {len(y)} labelled calls among the calls analysed ({task}: {shares}); the "
                            f"probe needs at least {MIN_FIT_CALLS}. Label more calls, or use --method score")
        else:
            splitter = held_out_splitter(y)
            folds = [y[train] for train, _ in splitter.split(np.zeros(len(y)), y)]
            fewest = min(folds, key=lambda part: (len(set(part)) >= 2, len(part)))
            if len(fewest) < MIN_FIT_CALLS or len(set(fewest)) < 2:
                scheme = f"{splitter.n_splits}-fold" if isinstance(splitter, StratifiedKFold) else "leave-one-out"
                rarest = min(counts, key=counts.get)
                problems.append(
                    f"{source}: {len(y)} labelled calls among the calls analysed ({task}: {shares}) are too few to "
                    f"hold the probe's predictions out ({scheme}): one fold trains on {len(fewest)} calls of "
                    f"{len(set(fewest))} class(es), and every fold needs at least {MIN_FIT_CALLS} of two classes. "
                    f"Label more calls, of {rarest!r} first, or use --method score")
    return problems


def write_labels(frame: pd.DataFrame, path: str | Path) -> None:
    """Write labels in the client's format (``Filename,Sentiment,Call_Outcome``, capitalised as theirs)."""
    out = pd.DataFrame(
        {
            "Filename": frame["file"] if "file" in frame else frame.index,
            "Sentiment": frame["sentiment"].str.capitalize(),
            "Call_Outcome": frame["outcome"].map(
                {"issue resolved": "Issue Resolved", "follow-up action needed": "Follow-up action needed"}
            ),
        }
    )
    write_csv(out, path)
