"""The analyst's path, timed: ``make analyze`` then ``make notebooks`` from an empty store.

    python -m benchmarks.analyst_path

Run it in a clone whose environment is installed (``make install`` done, for example after ``.ci/run``): the store
(``results/runs.sqlite``) is moved aside for the run and put back afterwards, so every call is read by the model
again, as on a fresh clone. ``make notebooks`` then re-runs ``callinsights insights`` (the predictions are new),
executes notebooks 01-05 and renders the reports; ``results/metrics.json`` is not rebuilt, since no label file
changed. The timings go to ``results/benchmarks/analyst_path.md``; the notebooks and reports it re-executes are
left changed in the working tree (only their run dates differ when nothing else changed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from datetime import date

from callinsights import config
from callinsights.data.outputs import write_text

ROOT = config.PROJ_ROOT
STORE = config.STORE_FILE


def timed(target: str) -> float:
    """Seconds ``make <target>`` takes in the repository (its output shown as it runs)."""
    start = time.perf_counter()
    subprocess.run(["make", "-C", str(ROOT), target], check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(config.BENCHMARK_FILES["analyst_path"]))
    args = parser.parse_args(argv)
    aside = STORE.with_name("runs.sqlite.analyst-path-aside")
    if aside.exists():
        raise SystemExit(f"{aside} exists: an earlier run did not finish; move it back to {STORE} first")
    if STORE.exists():
        STORE.rename(aside)
    try:
        seconds = {target: timed(target) for target in ("analyze", "notebooks")}
    finally:
        if aside.exists():
            STORE.unlink(missing_ok=True)
            aside.rename(STORE)
    total = sum(seconds.values())
    lines = [
        f"{date.today():%Y-%m-%d}: {os.cpu_count()} cores, from an empty store",
        *(f"make {target}: {s / 60:.1f} min" for target, s in seconds.items()),
        f"total: {total / 60:.1f} min",
    ]
    print("\n".join(lines))
    write_text(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
