"""Reviewing the hand labels: agreement between the guideline's readers, where the client departs from them, and
which labels cleanlab finds suspect on the model's cross-validated probabilities. Nothing here writes a label file."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from callinsights import config
from callinsights.data.call import natural_key
from callinsights.data.labels import LabelFileError, check_labels, normalise, read_label_table
from callinsights.evaluation.metrics import agreement
from callinsights.schema import TASKS

_READER = re.compile(r"^(reader\d+)_(sentiment|outcome)$")


def guideline_file(data_dir: str | Path | None = None) -> Path:
    """The guideline reading inside a data folder (``None``: :data:`config.GUIDELINE_LABELS_FILE`)."""
    return config.GUIDELINE_LABELS_FILE if data_dir is None else Path(data_dir) / config.GUIDELINE_LABELS_FILE.name


def load_guideline_labels(path: str | Path = config.GUIDELINE_LABELS_FILE) -> pd.DataFrame:
    """The guideline reading, indexed by call in natural order: the majority as ``sentiment`` and ``outcome``, and
    ``readerN_sentiment``, ``readerN_outcome`` per reader, normalised as label files are read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no guideline labels here. Run `make data` to link them from "
                                f"{config.SHARED_DATA_DIR}, or put a copy there.")  # fmt: skip
    majority = read_label_table(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    readers = sorted({m.group(1) for c in raw.columns if (m := _READER.match(c.strip().lower()))}, key=natural_key)
    if len(readers) < 2:
        raise LabelFileError(f"{path}: needs reader1_sentiment, reader1_outcome, ... for at least two readers "
                             f"(found columns {', '.join(raw.columns)})")  # fmt: skip
    problems = check_labels(majority, source=f"{path} (majority)")
    frame = majority.set_index("file")
    lower = {c.strip().lower(): c for c in raw.columns}
    for reader in readers:
        cols = {task: lower.get(f"{reader}_{task}") for task in TASKS}
        missing = [f"{reader}_{task}" for task, col in cols.items() if col is None]
        if missing:
            raise LabelFileError(f"{path}: column(s) {', '.join(missing)} missing; every reader needs both labels")
        one = pd.DataFrame({"file": majority["file"], **{t: raw[c].map(normalise) for t, c in cols.items()}})
        problems += check_labels(one, source=f"{path} ({reader})")
        for task in TASKS:
            frame[f"{reader}_{task}"] = one[task].to_numpy()
    if problems:
        raise LabelFileError("\n".join(dict.fromkeys(problems)))
    return frame.loc[sorted(frame.index, key=natural_key)]


def reader_names(guideline: pd.DataFrame) -> list[str]:
    """The readers of a table from :func:`load_guideline_labels` (``reader1``, ``reader2``, ...)."""
    return sorted({m.group(1) for c in guideline.columns if (m := _READER.match(c))}, key=natural_key)


def reader_agreement(guideline: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement between the guideline's readers per task: ``(pairwise, overall)``, Cohen's kappa per pair and the
    unanimous share with Fleiss' kappa over all readers."""
    readers = reader_names(guideline)
    pairs, overall = [], []
    for task, values in TASKS.items():
        table = guideline[[f"{r}_{task}" for r in readers]]
        for a, b in itertools.combinations(readers, 2):
            agreed = agreement(guideline[f"{a}_{task}"], guideline[f"{b}_{task}"])
            pairs.append({"task": task, "pair": f"{a} - {b}", "calls": agreed["n"],
                          "share_agreeing": agreed["share_agree"], "kappa": agreed["kappa"]})  # fmt: skip
        codes = table.apply(lambda col: pd.Categorical(col, categories=list(values)).codes).to_numpy()
        counts, _ = aggregate_raters(codes, n_cat=len(values))
        overall.append({"task": task, "readers": len(readers), "calls": len(table),
                        "share_unanimous": float((table.nunique(axis=1) == 1).mean()),
                        "fleiss_kappa": float(fleiss_kappa(counts, method="fleiss"))})  # fmt: skip
    return pd.DataFrame(pairs), pd.DataFrame(overall).set_index("task")


def departures(client: pd.DataFrame, guideline: pd.DataFrame) -> pd.DataFrame:
    """The calls where the client's label differs from the guideline majority, by task then call: ``client``,
    ``guideline``, ``readers_with_client`` (of ``readers``) and each reader's label."""
    readers = reader_names(guideline)
    shared = sorted(set(client.index) & set(guideline.index), key=natural_key)
    rows = []
    for task in TASKS:
        for call in shared:
            given, majority = client.at[call, task], guideline.at[call, task]
            if given == majority:
                continue
            said = {r: guideline.at[call, f"{r}_{task}"] for r in readers}
            rows.append({"file": call, "task": task, "client": given, "guideline": majority,
                         "readers_with_client": sum(v == given for v in said.values()), "readers": len(readers),
                         **said})  # fmt: skip
    return pd.DataFrame(rows, columns=["file", "task", "client", "guideline", "readers_with_client", "readers",
                                       *readers])  # fmt: skip


def label_issues(gold: pd.DataFrame, proba: pd.DataFrame, task: str,
                 guideline: pd.DataFrame | None = None) -> pd.DataFrame:
    """The hand labels most likely to be wrong by cleanlab's confident learning, most suspect first.

    ``proba`` must be held out, as the labelled rows of ``results/predictions.csv`` are: in-sample probabilities echo
    the labels. It is renormalised here, since the file rounds it.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    values = list(TASKS[task])
    if list(proba.columns) != values:
        raise ValueError(f"probabilities for {task} need columns {values}, got {list(proba.columns)}")
    missing = gold.index.difference(proba.index)
    if len(missing):
        raise ValueError(f"{len(missing)} labelled call(s) have no predicted probabilities (e.g. {missing[0]}); "
                         "use the predictions file written for all calls")  # fmt: skip
    p = proba.loc[gold.index].to_numpy(dtype=float)
    if not np.isfinite(p).all():
        raise ValueError(f"the {task} probabilities of some labelled calls are missing (NaN); the method that wrote "
                         "the predictions gives none, so cleanlab cannot be run on them")  # fmt: skip
    p = np.clip(p, 1e-6, None)
    p = p / p.sum(axis=1, keepdims=True)
    given = gold[task].map({v: i for i, v in enumerate(values)})
    if given.isna().any():
        raise ValueError(f"hand labels outside {values}: {sorted(set(gold.loc[given.isna(), task]))}")
    y = given.to_numpy(dtype=int)
    flagged = find_label_issues(y, p, filter_by="prune_by_noise_rate")
    out = pd.DataFrame({
        "file": gold.index, "task": task, "given": gold[task].to_numpy(),
        "model_suggests": [values[i] for i in p.argmax(axis=1)], "p_given": p[np.arange(len(y)), y],
        "label_quality": get_label_quality_scores(y, p, method="self_confidence"), "flagged": flagged,
    })  # fmt: skip
    if guideline is not None:
        out["guideline"] = out["file"].map(guideline[task])
        out["guideline_agrees"] = out["guideline"] == out["given"]
    return out.sort_values(["flagged", "label_quality"], ascending=[False, True], ignore_index=True)
