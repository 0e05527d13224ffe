"""The label vocabulary and reading, validating and writing label files.

A label file is a CSV with one row per call: ``Filename,Sentiment,Call_Outcome`` as the client writes it
(``transcript_160,Negative,Follow-up action needed``). Inside the project labels are lower case, exactly the values
of :data:`callinsights.schema.TASKS`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneOut, StratifiedKFold

from callinsights.data.outputs import write_csv
from callinsights.schema import TASKS

# The client's column names, and the project's.
_COLUMNS = {"filename": "file", "sentiment": "sentiment", "call_outcome": "outcome", "outcome": "outcome",
            "file": "file"}
#: The fewest labelled calls a probe is fitted on: the final fit, and the training part of every held-out fold.
MIN_FIT_CALLS = 8
#: The most folds the probe's held-out probabilities use (fewer when a class has fewer calls).
HELD_OUT_FOLDS = 4


class LabelFileError(ValueError):
    """A label file that cannot be used; the message names the file, row and value."""


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
        raise LabelFileError(f"{path}: empty file; a label file has the header Filename,Sentiment,Call_Outcome and "
                             "one row per call") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LabelFileError(f"{path}: not a readable CSV ({err}); save it as UTF-8 CSV") from None
    frame = raw.rename(columns={c: _COLUMNS.get(c.strip().lower(), c) for c in raw.columns})
    missing = [c for c in ("file", "sentiment", "outcome") if c not in frame.columns]
    if missing:
        raise LabelFileError(f"{path}: missing column(s) {', '.join(missing)}; expected Filename,Sentiment,"
                             f"Call_Outcome (found {', '.join(raw.columns)})")
    frame = frame[["file", "sentiment", "outcome"]].copy()
    frame["file"] = frame["file"].str.strip().str.removesuffix(".txt")
    for col in ("sentiment", "outcome"):
        frame[col] = frame[col].map(normalise)
    return frame


def check_labels(frame: pd.DataFrame, known_calls: set[str] | None = None, source: str = "label file") -> list[str]:
    """The problems of a label table from :func:`read_label_table`, one line each saying what to do, rows numbered as
    in the CSV (header is row 1); empty when it is valid. With ``known_calls``, a label for another call is one."""
    bad, missing = [], []
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if not row.file or not row.sentiment or not row.outcome:
            missing.append(f"{source} row {i}: empty cell; fill it or remove the row")
            continue
        bad += [f"{source} row {i}: {task} {getattr(row, task)!r} is not one of: {', '.join(labels)}"
                for task, labels in TASKS.items() if getattr(row, task) not in labels]
    counts = frame["file"].value_counts()
    out = bad + [f"{source}: {f} is labelled more than once; keep one row" for f in sorted(counts[counts > 1].index)]
    if known_calls is not None:
        out += [f"{source}: {f} has no transcript in the data folder; check the name"
                for f in sorted(set(frame["file"]) - known_calls - {""})]
    return out + missing


def load_labels(path: str | Path, known_calls: set[str] | None = None) -> pd.DataFrame:
    """Read and validate a label file; the table is indexed by call identifier.

    Raises:
        LabelFileError: With every problem listed, when the file is not valid.
    """
    frame = read_label_table(path)
    if frame.empty:
        raise LabelFileError(f"{path}: has a header but no label rows; add one row per labelled call")
    problems = check_labels(frame, known_calls, str(path))
    if problems:
        raise LabelFileError("\n".join(problems))
    return frame.set_index("file")


def held_out_splitter(labels: Iterable[str], folds: int = HELD_OUT_FOLDS, seed: int = 0):
    """How the probe's held-out probabilities hold calls out: stratified folds (no more than the smallest class has
    calls), or leave-one-out when a class has a single call. The fit and the check before it use this one rule."""
    smallest = min(Counter(labels).values())
    return StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed) if smallest >= 2 else LeaveOneOut()


def check_fit(gold: pd.DataFrame, calls: Iterable[str], source: str | Path = "label file") -> list[str]:
    """Why a probe cannot be fitted on ``gold`` (from :func:`load_labels`) for these calls, one message per problem
    naming ``source``; empty when it can.

    Asked of the labels alone, so a file that would fail after minutes of model time fails now: per task, two
    classes and :data:`MIN_FIT_CALLS` labelled calls, and as many, of two classes, in the training part of every fold
    that holds its predictions out (:func:`held_out_splitter`). A label naming a call only in another case
    (``Transcript_160`` for ``transcript_160``) is a problem too.
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
    outcomes = {"issue resolved": "Issue Resolved", "follow-up action needed": "Follow-up action needed"}
    write_csv(pd.DataFrame({"Filename": frame["file"] if "file" in frame else frame.index,
                            "Sentiment": frame["sentiment"].str.capitalize(),
                            "Call_Outcome": frame["outcome"].map(outcomes)}), path)
