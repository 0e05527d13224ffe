"""`callinsights store info|prune`: what the prediction store holds, and keeping it to the runs worth keeping.

The work is :meth:`callinsights.data.store.Store.info`, :meth:`~callinsights.data.store.Store.prune` and
:meth:`~callinsights.data.store.Store.vacuum`; this module opens an existing store (never creates one), tells the
prune which outputs the saved fits read (the fits in the folder of :data:`callinsights.config.ARTIFACT_FILE`), and
turns the results into text.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from callinsights import config
from callinsights.classify.fitting import ARTIFACT_FORMAT, ARTIFACT_KIND, REMEDY, TRUSTED_TYPES
from callinsights.data.artifacts import ArtifactError, load_artifact
from callinsights.data.store import PruneReport, Store, StoreError, StoreInfo


def open_existing(path: str | Path, read_only: bool = False) -> Store:
    """Open a store that exists (``read_only``: never written, so a read-only store will do); a missing path is an
    error here, not an empty new store.

    Raises:
        StoreError: No file at ``path``, or it is not a usable store.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no prediction store there; `callinsights analyze` creates one (default "
                         "results/runs.sqlite): give --store the file it wrote")
    return Store(path, read_only)


def saved_fits(folder: str | Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """What the fits saved in ``folder`` (its ``.skops`` files) read from the store.

    A fit's outputs belong to no run, so a prune that is not told of them would delete them and the next refit
    would recompute every call.

    Returns:
        ``(model hash, method, prompt version)`` of each fit, and why each file that could not be read was not: the
        outputs it read cannot be told.
    """
    fits, unreadable = [], []
    for path in sorted(Path(folder).glob("*.skops")):
        try:
            metadata = load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, TRUSTED_TYPES, REMEDY).metadata
            fits.append((str(metadata["model"]["sha256"]), "probe", str(metadata["reads"])))  # a fit is the probe's
        except ArtifactError as err:  # its message names the file
            unreadable.append(str(err))
        except OSError as err:
            unreadable.append(f"{path}: cannot be read ({err.strerror or err})")
        except (KeyError, TypeError) as err:
            unreadable.append(f"{path}: its metadata lacks the model hash or what the model read ({err!r})")
    return fits, unreadable


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def info_text(info: StoreInfo) -> str:
    """The store's contents for the terminal."""
    runs, outputs = info.runs, info.outputs
    status = ", ".join(f"{int(runs[s].sum())} {s}" for s in ("done", "failed", "running"))
    lines = [f"store: {info.path} ({_size(info.size_bytes)})",
             f"outputs: {info.n_outputs} stored model outputs"
             + (f", created {outputs['oldest'].min()} to {outputs['newest'].max()} UTC" if len(outputs) else ""),
             f"runs: {info.n_runs} ({status}) in {_count(len(runs), 'configuration')}, {info.n_run_labels} labels "
             "recorded"
             + (f", started {runs['first'].min()} to {runs['last'].max()} UTC" if len(runs) else ""), ""]
    if len(runs):
        lines += ["runs per configuration (most recent first):",
                  runs[["configuration", "runs", "done", "failed", "running", "last", "name"]]
                  .to_string(index=False), ""]
    if len(outputs):
        lines += ["outputs per configuration:", outputs.to_string(index=False), ""]
    if len(info.unfinished):
        shown = info.unfinished.assign(hours_ago=info.unfinished["hours_ago"].round(1),
                                       error=info.unfinished["error"].fillna(""))
        lines += ["runs not done (a run killed outright stays 'running'; its finished calls are in the outputs):",
                  shown[["run_id", "status", "started", "hours_ago", "error", "name"]].to_string(index=False)]
    return "\n".join(lines).rstrip()


def prune_text(report: PruneReport, keep: int, dry_run: bool, sizes: tuple[int, int] | None = None,
               vacuumed: bool | None = None) -> str:
    """What a prune removed (or would remove) for the terminal."""
    would = "would remove" if dry_run else "removed"
    removed = report.removed_runs
    lines = [f"{would} {_count(len(removed), 'run')} ({_count(report.removed_run_labels, 'recorded label')}) and "
             f"{_count(report.removed_outputs, 'stored output')}; {_count(report.kept_runs, 'run')} kept (the last "
             f"{keep} of each configuration)"]
    if len(removed):
        per = removed.groupby(["configuration", "name"], sort=False)["run_id"].agg(
            lambda ids: ", ".join(map(str, ids))).reset_index()
        lines += [f"runs {'that would go' if dry_run else 'removed'}, per configuration:",
                  per[["configuration", "run_id", "name"]].rename(columns={"run_id": "run ids"}).to_string(index=False)]
    lines += [f"note: {note}" for note in report.notes]
    if sizes is not None:
        lines.append(f"file: {_size(sizes[0])} -> {_size(sizes[1])}"
                     + ("" if vacuumed else " (VACUUM skipped: another process kept the store busy; the space is "
                                            "reclaimed by the next prune)"))
    if dry_run:
        lines.append("dry run: nothing was removed")
    return "\n".join(lines)


def info(path: str | Path) -> str:
    """``store info``: the text to print."""
    with open_existing(path, read_only=True) as store:
        return info_text(store.info())


def prune(path: str | Path, keep: int, outputs: bool = False, stale_hours: float | None = None,
          dry_run: bool = False) -> str:
    """``store prune``: prune, then VACUUM (unless dry), and say what went. With ``outputs``, the outputs the saved
    fits read stay (:func:`saved_fits`).

    Raises:
        StoreError: No store at ``path``, or another process kept it locked.
        ValueError: ``keep`` below 1.
    """
    options = {} if stale_hours is None else {"stale_hours": stale_hours}
    fits, unreadable = saved_fits(config.ARTIFACT_FILE.parent) if outputs else ([], [])
    with open_existing(path) as store:
        before = store.path.stat().st_size
        report = store.prune(keep, outputs=outputs and not unreadable, dry_run=dry_run, fits=fits, **options)
        report.notes += [f"outputs kept: the outputs a saved fit read cannot be told ({why})" for why in unreadable]
        if dry_run:
            return prune_text(report, keep, True)
        vacuumed = store.vacuum()
        return prune_text(report, keep, False, (before, store.path.stat().st_size), vacuumed)



def command(action: str, path: str, keep: int, outputs: bool, stale_hours: float, dry_run: bool) -> bool:
    """`callinsights store info|prune`: print the result; False (after a message on stderr) on bad input."""
    try:
        print(info(path) if action == "info" else prune(path, keep, outputs, stale_hours, dry_run))
    except (StoreError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return False
    except sqlite3.Error as err:
        print(f"error: {path}: the prediction store failed ({err}); nothing was removed", file=sys.stderr)
        return False
    return True
