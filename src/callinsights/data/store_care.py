"""Care of the prediction store: what it holds, and which runs and outputs a prune removes.

Functions of an open connection, for :class:`callinsights.data.store.Store`'s ``info`` and ``prune`` (which own
the transaction and the deleting); the command glue is :mod:`callinsights.pipelines.store_care`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

#: Run settings that say how a run was carried out, not what it computed: not part of a run's configuration.
_OPERATIONAL = ("concurrency", "threads", "api_key_env", "base_url")
#: A run still ``running`` that started longer ago than this is taken as killed (a killed run is never marked);
#: a younger one may be going on in another process and is never pruned.
STALE_RUN_HOURS = 24.0


def run_configuration(config: str | dict) -> tuple[str, str]:
    """A run's configuration: a short id and a name, from the settings that decide its labels.

    Operational settings (threads, concurrency, server address, key variable) are left out, and so is the label
    file for the methods that do not read one (only the probe is fitted on labels; its file counts by name, so the
    same file linked from another folder is the same configuration). Settings a run did not record (older runs)
    are taken as unset.

    Args:
        config: The ``runs.config`` JSON, or it decoded.

    Returns:
        ``(id, name)``: eight hex digits of the settings' hash, and a name such as ``probe · llama.cpp · customer ·
        features-turns-v1 · SmolLM2-135M-Instruct.Q4_1.gguf · guideline_labels.csv``.
    """
    settings = json.loads(config) if isinstance(config, str) else dict(config)
    settings = {k: v for k, v in settings.items() if k not in _OPERATIONAL and v is not None}
    if settings.get("method") == "probe" and settings.get("labels_file"):
        settings["labels_file"] = Path(settings["labels_file"]).name
    else:
        settings.pop("labels_file", None)
    if settings.get("method") != "score":
        settings.pop("calibration", None)  # only the score method is calibrated
    ident = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    method = settings.get("method", "?")
    if "calibration" in settings:
        method += f" ({settings['calibration']})"
    parts = [method, settings.get("engine", "?"), settings.get("side", "?"), settings.get("prompt_version", "?"),
             settings.get("model", "?"), settings.get("labels_file")]
    if settings.get("redact_for_model"):
        parts.append("redacted")
    return ident, " · ".join(p for p in parts if p)


@dataclass
class StoreInfo:
    """What a store holds (:meth:`Store.info`).

    Attributes:
        path: The file.
        size_bytes: Its size on disk.
        n_outputs: Stored model outputs (one per call, text and configuration).
        n_runs: Runs recorded.
        n_run_labels: Labels recorded by runs (one per call and run).
        runs: One row per run configuration: ``configuration`` (id), ``name``, ``runs``, ``done``, ``failed``,
            ``running``, ``first`` and ``last`` start (UTC), most recent first.
        outputs: One row per model, engine, method and prompt version: ``outputs``, ``calls`` (distinct files),
            ``oldest`` and ``newest`` (UTC).
        unfinished: The runs not ``done``: ``run_id``, ``status``, ``started``, ``hours_ago``, ``name``, ``error``.
    """

    path: Path
    size_bytes: int
    n_outputs: int
    n_runs: int
    n_run_labels: int
    runs: pd.DataFrame
    outputs: pd.DataFrame
    unfinished: pd.DataFrame


@dataclass
class PruneReport:
    """What :meth:`Store.prune` removed (or, dry, would remove).

    Attributes:
        removed_runs: ``run_id``, ``configuration``, ``name``, ``status``, ``started`` of each run removed.
        kept_runs: How many runs stay.
        removed_run_labels: ``run_labels`` rows removed (the removed runs' and any of no run).
        removed_outputs: Outputs removed (0 unless asked for).
        notes: Why something was kept that one might expect gone.
    """

    removed_runs: pd.DataFrame
    kept_runs: int
    removed_run_labels: int = 0
    removed_outputs: int = 0
    notes: list[str] = field(default_factory=list)


def _utc(seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(seconds, unit="s").dt.floor("s")


def describe(db: sqlite3.Connection, path: Path, now: float | None = None) -> StoreInfo:
    """What the store holds: counts, size, runs per configuration, outputs per configuration, unfinished runs.

    Args:
        now: The time to measure the age of unfinished runs from (default: now).
    """
    runs = pd.read_sql_query("SELECT run_id, config, status, started, error FROM runs ORDER BY run_id", db)
    runs[["configuration", "name"]] = [run_configuration(c) for c in runs["config"]] or None
    by_config = runs.groupby(["configuration", "name"], sort=False).agg(
        runs=("run_id", "size"), done=("status", lambda s: int((s == "done").sum())),
        failed=("status", lambda s: int((s == "failed").sum())),
        running=("status", lambda s: int((s == "running").sum())), first=("started", "min"),
        last=("started", "max")).reset_index().sort_values("last", ascending=False, ignore_index=True)
    by_config[["first", "last"]] = by_config[["first", "last"]].apply(_utc)
    outputs = pd.read_sql_query(
        "SELECT model, engine, method, prompt_version, COUNT(*) AS outputs, COUNT(DISTINCT file) AS calls, "
        "MIN(created) AS oldest, MAX(created) AS newest FROM outputs "
        "GROUP BY model, engine, method, prompt_version ORDER BY newest DESC", db)
    outputs[["oldest", "newest"]] = outputs[["oldest", "newest"]].apply(_utc)
    unfinished = runs.loc[runs["status"] != "done", ["run_id", "status", "started", "name", "error"]].copy()
    unfinished.insert(3, "hours_ago", ((now or time.time()) - unfinished["started"]) / 3600)
    unfinished["started"] = _utc(unfinished["started"])
    count = lambda table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: E731
    return StoreInfo(path, path.stat().st_size, count("outputs"), count("runs"), count("run_labels"),
                     by_config, outputs, unfinished.reset_index(drop=True))


def prune_plan(db: sqlite3.Connection, keep: int, outputs: bool, stale_hours: float, now: float,
               fits: Iterable[tuple[str, str, str]] = ()) -> tuple[PruneReport, list[str]]:
    """What :meth:`callinsights.data.store.Store.prune` removes (its docstring says what and why): the report and the
    keys of the outputs to delete."""
    runs = pd.read_sql_query("SELECT run_id, config, status, started FROM runs ORDER BY run_id", db)
    runs[["configuration", "name"]] = [run_configuration(c) for c in runs["config"]] or None
    live = (runs["status"] == "running") & (runs["started"] > now - stale_hours * 3600)
    kept_ids = set(runs.loc[live, "run_id"]) | set(runs[~live].groupby("configuration").tail(keep)["run_id"])
    kept = runs[runs["run_id"].isin(kept_ids)]
    removed = runs.loc[~runs["run_id"].isin(kept_ids), ["run_id", "configuration", "name", "status", "started"]]
    labels = pd.read_sql_query("SELECT run_id, file FROM run_labels", db)
    report = PruneReport(removed.assign(started=_utc(removed["started"])).reset_index(drop=True), len(kept),
                         int(labels["run_id"].isin(removed["run_id"]).sum()))
    if live.any():
        report.notes.append(f"kept {int(live.sum())} run(s) started less than {stale_hours:g} h ago and still "
                            "marked running: they may be going on in another process")
    if not outputs:
        return report, []
    # Everything a kept run or a saved fit can have read: (model hash, method, prompt version) and the calls labelled.
    whole = {(model_hash[:16], method, prompt) for model_hash, method, prompt in fits}
    pairs = set()
    labelled = labels[labels["run_id"].isin(kept_ids)].groupby("run_id")["file"].agg(set)
    for run_id, config in zip(kept["run_id"], kept["config"]):
        settings = json.loads(config)
        if not all(settings.get(k) for k in ("model_hash", "method", "prompt_version")):
            report.notes.append(f"outputs kept: run {run_id} did not record its model hash, method and prompt "
                                "version, so the outputs it read cannot be told")
            return report, []
        signature = (settings["model_hash"][:16], settings["method"], settings["prompt_version"])
        if run_id in labelled.index:
            pairs |= {(*signature, f) for f in labelled[run_id]}
        else:
            whole.add(signature)
    stored = pd.read_sql_query("SELECT key, file, model_hash, method, prompt_version, created FROM outputs",
                               db)
    since = runs.loc[live, "started"].min() if live.any() else np.inf
    doomed = [key for key, file, model_hash, method, prompt, created in stored.itertuples(index=False)
              if created < since and (model_hash[:16], method, prompt) not in whole
              and (model_hash[:16], method, prompt, file) not in pairs]
    report.removed_outputs = len(doomed)
    return report, doomed
