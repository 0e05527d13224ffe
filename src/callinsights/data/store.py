"""The prediction store: every model output and run in one SQLite file, and its care (what it holds, what a prune
removes), so a re-run reads its outputs instead of running the model again."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

#: A run still ``running`` that started longer ago than this is taken as killed (a killed run is never marked);
#: a younger one may be going on in another process and is never pruned.
STALE_RUN_HOURS = 24.0

#: The layout this code writes, in SQLite's ``user_version``. 0 is a store from before versioning (``runs`` may lack
#: ``error``), migrated on opening; a higher number is a newer callinsights' store, refused rather than guessed at.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    key TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    model TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    engine TEXT NOT NULL,
    method TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    output TEXT NOT NULL,
    valid INTEGER NOT NULL,
    prompt_tokens INTEGER,
    evaluated_tokens INTEGER,
    seconds REAL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    config TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    n_calls INTEGER,
    n_cached INTEGER,
    n_computed INTEGER,
    n_invalid INTEGER,
    seconds_computing REAL,
    status TEXT NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS run_labels (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    file TEXT NOT NULL,
    sentiment TEXT,
    outcome TEXT,
    confidence_sentiment REAL,
    confidence_outcome REAL,
    cached INTEGER NOT NULL,
    seconds REAL,
    prompt_tokens INTEGER,
    PRIMARY KEY (run_id, file)
);
"""


# Rows are written by column name, in this order.
_OUTPUT_COLUMNS = ["key", "file", "model", "model_hash", "engine", "method", "prompt_version", "text_hash", "output",
                   "valid", "prompt_tokens", "evaluated_tokens", "seconds", "created"]
_RUN_LABEL_COLUMNS = ["run_id", "file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome",
                      "cached", "seconds", "prompt_tokens"]


def text_hash(text: str) -> str:
    """Short SHA-256 of the exact text the model reads."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class OutputKey:
    """Everything that determines a model output: the model file's and the read text's hashes, engine, method and
    prompt version."""

    model_hash: str
    engine: str
    method: str
    prompt_version: str
    text_hash: str

    @property
    def key(self) -> str:
        """The primary key."""
        return "|".join((self.model_hash[:16], self.engine, self.method, self.prompt_version, self.text_hash))


#: How long a prune or vacuum waits for another process's write to finish before giving up (milliseconds).
_BUSY_MS = 30_000


class StoreError(RuntimeError):
    """A store file that cannot be used; the message names it and says what to do."""


class Store:
    """The SQLite store at ``path`` (created with its folder when missing); every write commits at once.

    Opening checks the whole file and that it can be written, so a damaged or read-only store is refused before any
    model time is spent. ``read_only`` (``store info``) never writes, not even a migration.
    """

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        try:
            if read_only:  # SQLite's own read-only mode: it refuses every write, and needs no writable folder
                self.db = sqlite3.connect(self.path.absolute().as_uri() + "?mode=ro", uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{self.path}: cannot open the prediction store ({err}); give --store "
                             + ("a store you can read" if read_only else "a path in a folder you can write to")
                             ) from None
        try:
            if not read_only:
                self.db.executescript(_SCHEMA)
            problems = [row[0] for row in self.db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(problems[-1] if len(problems) > 1 else problems[0])
        except sqlite3.DatabaseError as err:
            self.db.close()
            if "readonly" in str(err):
                raise StoreError(f"{self.path}: the prediction store is read-only; make it writable (chmod u+w) or "
                                 "give --store another path") from None
            raise StoreError(f"{self.path}: not a usable prediction store ({err}); move it aside and run "
                             "again to start a new one") from None
        if not read_only:
            try:  # the header's user version written back unchanged: fails at once on a read-only file or folder
                self.db.execute(f"PRAGMA user_version = {self.version}")
                self.db.commit()
            except sqlite3.Error as err:
                self.db.close()
                raise StoreError(f"{self.path}: the prediction store cannot be written ({err}); make it and its "
                                 "folder writable, or give --store another path") from None
        self._migrate(read_only)

    @property
    def version(self) -> int:
        """The store's layout version (SQLite's ``user_version``)."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, read_only: bool) -> None:
        """Bring an older layout up to :data:`SCHEMA_VERSION` (``read_only``: check it is that layout), or refuse one
        this code does not know."""
        version = self.version
        if version > SCHEMA_VERSION:
            self.db.close()
            raise StoreError(f"{self.path}: store layout {version} was written by a newer callinsights (this one "
                             f"reads up to {SCHEMA_VERSION}); upgrade callinsights, or give --store another path "
                             "(a new store recomputes the model outputs)")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        if version == 0 and columns and "error" not in columns:
            if read_only:
                self.db.close()
                raise StoreError(f"{self.path}: an older store layout, read only once migrated; open it once where "
                                 "it can be written (`callinsights store prune --dry-run` does, and removes nothing)")
            self.db.execute("ALTER TABLE runs ADD COLUMN error TEXT")
        expected = {"outputs": _OUTPUT_COLUMNS, "run_labels": _RUN_LABEL_COLUMNS,
                    "runs": ["run_id", "config", "started", "status", "error"]}
        for table, needed in expected.items():
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if not set(needed) <= have:
                self.db.close()
                raise StoreError(f"{self.path}: table {table} lacks {sorted(set(needed) - have)}, so this is not a "
                                 "store this code can migrate; move it aside and run again to build a new one "
                                 "(model outputs are recomputed)")
        if not read_only:
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.commit()

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def get(self, key: OutputKey) -> dict | None:
        """The stored output for ``key`` as a dict (``output`` decoded from JSON), or None."""
        with closing(self.db.execute("SELECT * FROM outputs WHERE key = ?", (key.key,))) as cur:
            row = cur.fetchone()
            if row is None:
                return None
            record = dict(zip([c[0] for c in cur.description], row))
        record["output"] = json.loads(record["output"])
        return record

    def put(self, key: OutputKey, file: str, model: str, output: dict, valid: bool, prompt_tokens: int,
            evaluated_tokens: int, seconds: float) -> None:
        """Store one call's raw output and commit it."""
        self.db.execute(
            f"INSERT OR REPLACE INTO outputs ({', '.join(_OUTPUT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_OUTPUT_COLUMNS))})",
            (key.key, file, model, key.model_hash, key.engine, key.method, key.prompt_version, key.text_hash,
             json.dumps(output), int(valid), prompt_tokens, evaluated_tokens, seconds, time.time()),
        )
        self.db.commit()

    def start_run(self, config: dict) -> int:
        """Record the start of a run; returns its id."""
        cur = self.db.execute(
            "INSERT INTO runs (config, started, status) VALUES (?, ?, 'running')", (json.dumps(config), time.time())
        )
        self.db.commit()
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, labels: pd.DataFrame, n_cached: int, n_computed: int, n_invalid: int,
                   seconds_computing: float) -> None:
        """Record a finished run and its ``labels`` (one row per call, the ``run_labels`` columns)."""
        columns = _RUN_LABEL_COLUMNS[1:]
        rows = [(run_id, *[_plain(v) for v in row]) for row in labels[columns].itertuples(index=False)]
        self.db.executemany(f"INSERT OR REPLACE INTO run_labels ({', '.join(_RUN_LABEL_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(_RUN_LABEL_COLUMNS))})", rows)
        self.db.execute(
            "UPDATE runs SET ended = ?, n_calls = ?, n_cached = ?, n_computed = ?, n_invalid = ?, "
            "seconds_computing = ?, status = 'done' WHERE run_id = ?",
            (time.time(), len(labels), n_cached, n_computed, n_invalid, seconds_computing, run_id),
        )
        self.db.commit()

    def fail_run(self, run_id: int, error: str, status: str = "failed") -> None:
        """Mark a run stopped by an error (``failed``) or a signal (``interrupted``), with why; its finished calls
        stay stored, and the same command resumes from them."""
        self.db.execute("UPDATE runs SET ended = ?, status = ?, error = ? WHERE run_id = ?",
                        (time.time(), status, error, run_id))
        self.db.commit()

    def runs(self) -> pd.DataFrame:
        """All runs, oldest first, with their configuration expanded into columns."""
        frame = pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self.db)
        config = pd.json_normalize([json.loads(c) for c in frame["config"]]) if len(frame) else pd.DataFrame()
        return pd.concat([frame.drop(columns="config"), config], axis=1)

    def run_labels(self, run_id: int | None = None) -> pd.DataFrame:
        """Labels given per call by one run (or by all runs)."""
        query, params = "SELECT * FROM run_labels", ()
        if run_id is not None:
            query, params = query + " WHERE run_id = ?", (run_id,)
        return pd.read_sql_query(query, self.db, params=params)

    def outputs(self) -> pd.DataFrame:
        """Every stored raw output."""
        return pd.read_sql_query("SELECT * FROM outputs", self.db)

    def info(self, now: float | None = None) -> StoreInfo:
        """What the store holds; ``now`` (default: now) is when unfinished runs' ages are measured from."""
        runs = _runs(self.db)
        by_config = runs.groupby(["configuration", "name"], sort=False).agg(
            runs=("run_id", "size"), done=("status", lambda s: int((s == "done").sum())),
            failed=("status", lambda s: int((s == "failed").sum())),
            running=("status", lambda s: int((s == "running").sum())), first=("started", "min"),
            last=("started", "max")).reset_index().sort_values("last", ascending=False, ignore_index=True)
        by_config[["first", "last"]] = by_config[["first", "last"]].apply(_utc)
        outputs = pd.read_sql_query(
            "SELECT model, engine, method, prompt_version, COUNT(*) AS outputs, COUNT(DISTINCT file) AS calls, "
            "MIN(created) AS oldest, MAX(created) AS newest FROM outputs "
            "GROUP BY model, engine, method, prompt_version ORDER BY newest DESC", self.db)
        outputs[["oldest", "newest"]] = outputs[["oldest", "newest"]].apply(_utc)
        unfinished = runs.loc[runs["status"] != "done", ["run_id", "status", "started", "name", "error"]].copy()
        unfinished.insert(3, "hours_ago", ((now or time.time()) - unfinished["started"]) / 3600)
        unfinished["started"] = _utc(unfinished["started"])
        count = lambda table: int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: E731
        return StoreInfo(self.path, self.path.stat().st_size, count("outputs"), count("runs"), count("run_labels"),
                         by_config, outputs, unfinished.reset_index(drop=True))

    def prune(self, keep: int, outputs: bool = False, stale_hours: float = STALE_RUN_HOURS, dry_run: bool = False,
              now: float | None = None, fits: Iterable[tuple[str, str, str]] = ()) -> PruneReport:
        """Keep the last ``keep`` runs (by run id) of each configuration; delete older runs and their labels.

        A run ``running`` for less than ``stale_hours`` may be going on in another process: it is kept and does not
        count among the ``keep``. With ``outputs``, an output goes when no kept run can have read it (judged by the
        run's labelled calls and its model hash, method and prompt version, not the engine name, so it errs towards
        keeping); a kept run with no labels keeps its whole configuration, and the outputs of each saved fit in
        ``fits`` ``(model hash, method, prompt version)`` stay, as a refit would otherwise recompute every call. All
        deletions are one transaction under the write lock, so a failure or a kill deletes nothing; :meth:`vacuum`
        gives the space back.
        """
        if keep < 1:
            raise ValueError(f"keep={keep}: keep at least 1 run per configuration")
        now = now or time.time()
        self.db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        try:
            self.db.execute("BEGIN IMMEDIATE")  # the write lock now, so nothing changes between reading and deleting
        except sqlite3.OperationalError as err:
            raise StoreError(f"{self.path}: another process is writing to the store ({err}); nothing was removed; "
                             "run again when it has finished") from None
        try:
            report, doomed_outputs = prune_plan(self.db, keep, outputs, stale_hours, now, fits)
            if not dry_run:
                doomed = [(int(r),) for r in report.removed_runs["run_id"]]
                self.db.executemany("DELETE FROM run_labels WHERE run_id = ?", doomed)
                self.db.executemany("DELETE FROM runs WHERE run_id = ?", doomed)
                orphans = self.db.execute("DELETE FROM run_labels WHERE run_id NOT IN (SELECT run_id FROM runs)")
                report.removed_run_labels += orphans.rowcount
                self.db.executemany("DELETE FROM outputs WHERE key = ?", [(k,) for k in doomed_outputs])
        except BaseException:
            self.db.rollback()
            raise
        if dry_run:
            self.db.rollback()
        else:
            self.db.commit()
        return report

    def vacuum(self) -> bool:
        """Rebuild the file without the space deleted rows left (SQLite's VACUUM); False when another process kept
        the store busy for 30 s (nothing is lost: the space is reclaimed next time)."""
        self.db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        try:
            self.db.execute("VACUUM")
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                return False
            raise
        return True


def _plain(value):
    """numpy scalars and NaN into what sqlite3 takes."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


# Care of the store: what it holds, and which runs and outputs a prune removes.

#: Run settings that say how a run was carried out, not what it computed: no part of its configuration.
_OPERATIONAL = ("concurrency", "threads", "api_key_env", "base_url")


def run_configuration(config: str | dict) -> tuple[str, str]:
    """``(id, name)`` of a run's configuration (``runs.config``, JSON or decoded): the settings that decide its labels.

    The id is eight hex digits of their hash. The label file counts only for the probe (the one method fitted on
    labels), and by name, so the same file linked from another folder is the same configuration.
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
    """What a store holds (:meth:`Store.info`): counts, runs per configuration (most recent first), outputs per
    model, engine, method and prompt version, and the runs not ``done``; times in UTC."""

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
    """What :meth:`Store.prune` removed (or, dry, would remove); ``notes`` say why something expected gone was kept."""

    removed_runs: pd.DataFrame
    kept_runs: int
    removed_run_labels: int = 0
    removed_outputs: int = 0
    notes: list[str] = field(default_factory=list)


def _utc(seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(seconds, unit="s").dt.floor("s")


def _runs(db: sqlite3.Connection) -> pd.DataFrame:
    """Every run, oldest first, with its configuration's id and name (:func:`run_configuration`)."""
    runs = pd.read_sql_query("SELECT run_id, config, status, started, error FROM runs ORDER BY run_id", db)
    runs[["configuration", "name"]] = [run_configuration(c) for c in runs["config"]] or None
    return runs


def prune_plan(db: sqlite3.Connection, keep: int, outputs: bool, stale_hours: float, now: float,
               fits: Iterable[tuple[str, str, str]] = ()) -> tuple[PruneReport, list[str]]:
    """What :meth:`Store.prune` removes: the report and the keys of the outputs to delete."""
    runs = _runs(db)
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
    stored = pd.read_sql_query("SELECT key, file, model_hash, method, prompt_version, created FROM outputs", db)
    since = runs.loc[live, "started"].min() if live.any() else np.inf
    doomed = [key for key, file, model_hash, method, prompt, created in stored.itertuples(index=False)
              if created < since and (model_hash[:16], method, prompt) not in whole
              and (model_hash[:16], method, prompt, file) not in pairs]
    report.removed_outputs = len(doomed)
    return report, doomed
