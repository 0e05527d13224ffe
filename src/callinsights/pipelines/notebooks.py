"""Running the numbered notebooks top to bottom and rendering them as reports.

``notebooks run`` executes ``notebooks/NN_*.ipynb`` in order with papermill (from ``notebooks/``), writes each back in
place and renders ``reports/<name>.html`` and ``<name>-code.html``; ``reports`` renders the committed notebooks again
without running them and writes the summary and the call explorer. ``--small`` sets :data:`SMALL_PARAMETERS` in each
notebook's cell tagged ``parameters`` (papermill skips a line whose comment holds ``=`` or a quote).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from callinsights import config
from callinsights.data.outputs import json_ready
from callinsights.reporting.rendering import render_notebook, strip_ansi
from callinsights.reporting.rendering import MAX_TABLE_ROWS
from callinsights.reporting.explorer import build_explorer
from callinsights.reporting.summary import build_index

NOTEBOOK_NAME = re.compile(r"^\d{2}_.+\.ipynb$")
#: Parameters ``--small`` gives each notebook that declares them: a quick run for CI and tests.
SMALL_PARAMETERS: dict[str, Any] = {"SAMPLE_SIZE": 20}
PARAMETERS_TAG = "parameters"
#: Output type under which :func:`record_metrics` stores a notebook's key numbers.
METRICS_MIME = "application/vnd.callinsights.evaluation.metrics+json"


class NotebookRunError(RuntimeError):
    """A notebook failed while executing; the message names the notebook, the cell and the error."""


@dataclass
class RunResult:
    """One executed notebook: the executed copy and page written, the run's wall time and parameters."""

    output: Path
    html: Path
    seconds: float
    parameters: dict[str, Any]


def notebook_paths(folder: str | Path = config.NOTEBOOKS_DIR, only: Sequence[str] | None = None) -> list[Path]:
    """The numbered notebooks of a folder in order, those whose name starts with one of ``only`` when given."""
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    return [p for p in paths if any(p.name.startswith(prefix) for prefix in only)] if only else paths


def declared_parameters(path: str | Path) -> set[str]:
    """Names assigned in a notebook's ``parameters`` cell."""
    from papermill.inspection import inspect_notebook

    return set(inspect_notebook(str(path)))


def run_notebook(path: str | Path, output: str | Path | None = None, parameters: dict[str, Any] | None = None,
                 html_dir: str | Path = config.REPORTS_DIR) -> RunResult:
    """Execute one notebook with papermill from its own folder into ``output`` (``None``: in place) and render it
    into ``html_dir``; parameters it does not declare are left out.

    It runs into a temporary file first, so a failing run (a :class:`NotebookRunError` naming the cell and where the
    partly run notebook was kept) never replaces the committed notebook.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path = Path(path).resolve()
    output = Path(output) if output is not None else path
    declared = declared_parameters(path)
    passed = {k: v for k, v in (parameters or {}).items() if k in declared}
    work = Path(tempfile.mkdtemp(prefix=f"callinsights-{path.stem}-"))
    source, executed = work / path.name, work / f"executed-{path.name}"
    nb = nbformat.read(str(path), as_version=4)
    # A full run starts from the notebook's own values, not those a previous papermill run injected.
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    nb.metadata.get("papermill", {}).pop("parameters", None)
    nbformat.write(nb, str(source))
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(source), str(executed), parameters=passed or None, kernel_name="python3",
                                   cwd=str(path.parent), progress_bar=False)
    except PapermillExecutionError as err:
        # A failing magic reports nothing in ename/evalue; the traceback's last line then says what went wrong.
        last = next((line for line in reversed(err.traceback or []) if line.strip()), "")
        detail = f"{err.ename}: {err.evalue}" if err.evalue else strip_ansi(last) or err.ename
        raise NotebookRunError(
            f"{path.name}: execution {err.exec_count} (cell {err.cell_index + 1}) failed with {detail}\n"
            f"  the partly executed notebook is {executed}; {path.name} was left as it was"
        ) from None
    seconds = time.perf_counter() - start
    nb = nbformat.read(str(executed), as_version=4)
    # papermill records the temporary paths it ran from; the committed notebook should name itself.
    nb.metadata.get("papermill", {}).update({"input_path": path.name, "output_path": output.name})
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(output))
    shutil.rmtree(work, ignore_errors=True)
    html = render_notebook(output, html_dir, series=notebook_paths(path.parent)).reviewer
    return RunResult(output, html, seconds, passed)


def record_metrics(**metrics: Any) -> None:
    """Store a notebook's key numbers (JSON-serialisable) in its outputs for tests; returns nothing, so the call as a
    cell's last line does not echo them a second time."""
    from IPython.display import display

    data = json_ready(metrics)
    # One line for a person; the numbers themselves sit under METRICS_MIME, where the tests find them.
    display({METRICS_MIME: data, "text/plain": f"key numbers recorded for tests: {', '.join(data)}"}, raw=True)


def _parse_parameter(pair: str) -> tuple[str, Any]:
    name, sep, raw = pair.partition("=")
    if not sep or not name.isidentifier():
        raise SystemExit(f"-p {pair!r}: write NAME=VALUE, e.g. -p SAMPLE_SIZE=30")
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="callinsights notebooks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks in order and render reports/<name>.html")
    run.add_argument("--only", action="append", metavar="NN", help="only notebooks whose name starts so (repeatable)")
    run.add_argument("--small", action="store_true",
                     help=f"quick run with {SMALL_PARAMETERS}; output goes to a temporary folder unless --out-dir")
    run.add_argument("--out-dir", help="write executed notebooks and HTML here instead of in place and reports/")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter of every notebook that declares it (repeatable)")
    run.add_argument("--dir", default=str(config.NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    paths = notebook_paths(args.dir, args.only)
    if not paths:
        print(f"no notebook in {args.dir} matches {args.only or 'NN_*.ipynb'}", file=sys.stderr)
        return 1
    parameters = dict(SMALL_PARAMETERS) if args.small else {}
    explicit = dict(_parse_parameter(p) for p in args.parameter)
    declared = set().union(*(declared_parameters(p) for p in paths))
    unknown = sorted(set(explicit) - declared)
    if unknown:
        print(f"error: no notebook of {', '.join(p.name for p in paths)} declares {', '.join(unknown)}; "
              f"their parameters are {', '.join(sorted(declared)) or 'none'}", file=sys.stderr)
        return 2
    parameters.update(explicit)
    out_dir = args.out_dir
    if args.small and out_dir is None:
        # A quick run's outputs must never replace the committed full-size ones.
        out_dir = tempfile.mkdtemp(prefix="callinsights-notebooks-")
    for path in paths:  # in order, stopping at the first that fails
        try:
            result = run_notebook(path, Path(out_dir) / path.name if out_dir else None, parameters,
                                  out_dir or config.REPORTS_DIR)
        except NotebookRunError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{path.name}: executed in {result.seconds:.1f} s -> {result.output}, {result.html}", flush=True)
    return 0


def reports_main(argv: list[str] | None = None) -> int:
    """Run the ``reports`` command line (render the executed notebooks, write the summary); returns the exit code."""
    parser = argparse.ArgumentParser(prog="callinsights reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["all", "render", "index"])
    parser.add_argument("--only", action="append", metavar="NN", help="render only notebooks whose name starts so")
    parser.add_argument("--notebooks", default=str(config.NOTEBOOKS_DIR), help="folder of executed notebooks")
    parser.add_argument("--results", default=str(config.RESULTS_DIR), help="folder of results files")
    parser.add_argument("--out", default=str(config.REPORTS_DIR), help="folder for the HTML pages")
    parser.add_argument("--max-rows", type=int, default=MAX_TABLE_ROWS,
                        help="rows a table keeps in a reviewer report (default %(default)s; 0 keeps every row)")
    args = parser.parse_args(argv)

    if args.command in ("all", "render"):
        notebooks, series = notebook_paths(args.notebooks, args.only), notebook_paths(args.notebooks)
        if not notebooks:
            print(f"no NN_*.ipynb notebook in {args.notebooks}", file=sys.stderr)
            return 1
        for notebook in notebooks:
            report = render_notebook(notebook, args.out, max_rows=args.max_rows or None, series=series)
            print(f"{notebook.name} -> {report.reviewer}, {report.code}", flush=True)
    if args.command in ("all", "index"):
        print(f"summary -> {build_index(args.results, args.out)}")
        try:
            print(f"call explorer -> {build_explorer(args.results, args.out)}")
        except FileNotFoundError as err:  # no predictions yet: the summary says what is missing, the explorer waits
            print(f"call explorer not written: {err}", file=sys.stderr)
    return 0
