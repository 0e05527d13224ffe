"""Running the numbered notebooks top to bottom and rendering them as reports.

``python -m callinsights notebooks run [--only 01] [--small] [--out-dir DIR] [-p NAME=VALUE]`` executes
``notebooks/NN_*.ipynb`` in order with papermill (kernel ``python3``, working directory ``notebooks/``), writes each
executed notebook back in place and renders ``reports/<name>.html`` (no code) and ``reports/<name>-code.html``;
``python -m callinsights reports index`` then writes the summary page and the call explorer (``calls.html``).

Every notebook is named ``NN_*.ipynb`` and has one code cell tagged ``parameters``, where ``DATA_DIR = None`` and
``SAMPLE_SIZE = None`` mean the configured folder and every call, and ``--small`` sets :data:`SMALL_PARAMETERS`
(papermill skips a line whose comment holds ``=`` or a quote). Its last cell may call :func:`record_metrics`, which
tests read with :func:`read_metrics`; ``tests/test_notebooks.py`` checks the committed notebooks.
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
from typing import Any, Iterable, Sequence

from callinsights import config
from callinsights.data.outputs import json_ready
from callinsights.reporting.rendering import render_notebook, strip_ansi
from callinsights.reporting.rendering import MAX_TABLE_ROWS
from callinsights.reporting.explorer import build_explorer
from callinsights.reporting.summary import build_index

KERNEL_NAME = "python3"
NOTEBOOK_NAME = re.compile(r"^\d{2}_.+\.ipynb$")
#: Parameters ``--small`` gives each notebook that declares them: a quick run for CI and tests.
SMALL_PARAMETERS: dict[str, Any] = {"SAMPLE_SIZE": 20}
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
#: Output type under which :func:`record_metrics` stores a notebook's key numbers.
METRICS_MIME = "application/vnd.callinsights.evaluation.metrics+json"


class NotebookRunError(RuntimeError):
    """A notebook failed while executing; the message names the notebook, the cell and the error."""


@dataclass
class RunResult:
    """One executed notebook.

    Attributes:
        notebook: The source notebook.
        output: The executed notebook written.
        html: The rendered report written.
        seconds: Wall time of the execution (rendering excluded).
        parameters: Parameters passed to papermill.
    """

    notebook: Path
    output: Path
    html: Path
    seconds: float
    parameters: dict[str, Any]


def notebook_paths(folder: str | Path = config.NOTEBOOKS_DIR, only: Sequence[str] | None = None) -> list[Path]:
    """The numbered notebooks of a folder, in order.

    Args:
        folder: Folder holding ``NN_*.ipynb``.
        only: Keep notebooks whose name starts with one of these (``"01"``, ``"02_labelling"``).

    Returns:
        Paths sorted by name.
    """
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    if only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in only)]
    return paths


def declared_parameters(path: str | Path) -> set[str]:
    """Names assigned in a notebook's ``parameters`` cell."""
    from papermill.inspection import inspect_notebook

    return set(inspect_notebook(str(path)))


def _without_injected_cells(nb):
    """Drop parameters a previous papermill run injected, so a full run starts from the notebook's own values."""
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    # papermill keeps the last run's parameters in the metadata too; a reader must not see stale ones.
    nb.metadata.get("papermill", {}).pop("parameters", None)
    return nb


def render_html(notebook: str | Path, html_path: str | Path, series: Sequence[Path] = ()) -> Path:
    """Render an executed notebook as the reviewer's page (no code) and, beside it, ``<name>-code.html``.

    See :mod:`callinsights.reporting.rendering` for what the pages show and leave out.

    Args:
        notebook: The executed notebook.
        html_path: The reviewer page to write; the page with code goes to the same folder.
        series: The numbered notebooks in order, for the links to the previous and next report.

    Returns:
        The reviewer page written.
    """
    html_path = Path(html_path)
    report = render_notebook(notebook, html_path.parent, series=series)
    if report.reviewer != html_path:
        report.reviewer.replace(html_path)
    return html_path


def run_notebook(
    path: str | Path,
    output: str | Path | None = None,
    parameters: dict[str, Any] | None = None,
    html_dir: str | Path = config.REPORTS_DIR,
    kernel_name: str = KERNEL_NAME,
) -> RunResult:
    """Execute one notebook with papermill from its own folder and render it.

    The notebook runs into a temporary file first, so a failing run never replaces the committed notebook.

    Args:
        path: The notebook.
        output: Where to write the executed notebook; ``None`` writes it back in place.
        parameters: Values for names of its ``parameters`` cell; names it does not declare are left out.
        html_dir: Folder for ``<name>.html``.
        kernel_name: Jupyter kernel to run it with.

    Returns:
        What was written and how long it took.

    Raises:
        NotebookRunError: A cell raised; the message names it and where the partly run notebook was kept.
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
    nbformat.write(_without_injected_cells(nbformat.read(str(path), as_version=4)), str(source))
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=passed or None,
            kernel_name=kernel_name,
            cwd=str(path.parent),
            progress_bar=False,
        )
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
    html = render_html(output, Path(html_dir) / f"{path.stem}.html", notebook_paths(path.parent))
    return RunResult(path, output, html, seconds, passed)


def run_notebooks(
    paths: Iterable[str | Path],
    parameters: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    html_dir: str | Path | None = None,
) -> list[RunResult]:
    """Execute notebooks in order, stopping at the first that fails.

    Args:
        paths: Notebooks, run in the order given.
        parameters: See :func:`run_notebook`.
        out_dir: Folder for the executed notebooks and their HTML; ``None`` writes notebooks in place and HTML
            to :data:`config.REPORTS_DIR`.
        html_dir: Folder for the HTML when it should differ from the default above.

    Returns:
        One result per notebook run.
    """
    results = []
    for path in paths:
        path = Path(path)
        output = Path(out_dir) / path.name if out_dir else None
        html = html_dir or (out_dir if out_dir else config.REPORTS_DIR)
        result = run_notebook(path, output, parameters, html)
        print(f"{path.name}: executed in {result.seconds:.1f} s -> {result.output}, {result.html}", flush=True)
        results.append(result)
    return results


def record_metrics(**metrics: Any) -> None:
    """Store a notebook's key numbers in its outputs for tests (call it near the end, before the conclusion).

    Nothing is returned, so the call as a cell's last line does not echo the numbers a second time.

    Args:
        **metrics: JSON-serialisable values (numpy and pandas scalars are converted).
    """
    from IPython.display import display

    data = json_ready(metrics)
    # One line for a person; the numbers themselves sit under METRICS_MIME, where read_metrics finds them.
    display({METRICS_MIME: data, "text/plain": f"key numbers recorded for tests: {', '.join(data)}"}, raw=True)


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The numbers an executed notebook stored with :func:`record_metrics` (the last call wins).

    Raises:
        LookupError: The notebook stored none.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in reversed(nb.cells):
        for out in reversed(cell.get("outputs", [])):
            if METRICS_MIME in out.get("data", {}):
                return dict(out["data"][METRICS_MIME])
    raise LookupError(f"{Path(path).name}: no metrics recorded; its last cell should call record_metrics(...)")


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
    try:
        run_notebooks(paths, parameters, out_dir)
    except NotebookRunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())



# Building the reviewer's reports from the executed notebooks and the results files.

def render_all(notebooks_dir: str | Path = config.NOTEBOOKS_DIR, reports_dir: str | Path = config.REPORTS_DIR,
               only: list[str] | None = None, max_rows: int | None = MAX_TABLE_ROWS) -> list[Path]:
    """Render every numbered notebook of a folder; returns the pages written."""
    pages, series = [], notebook_paths(notebooks_dir)
    for notebook in notebook_paths(notebooks_dir, only):
        report = render_notebook(notebook, reports_dir, max_rows=max_rows, series=series)
        print(f"{notebook.name} -> {report.reviewer}, {report.code}", flush=True)
        pages += [report.reviewer, report.code]
    return pages


def reports_main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
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
        pages = render_all(args.notebooks, args.out, args.only, args.max_rows or None)
        if not pages:
            print(f"no NN_*.ipynb notebook in {args.notebooks}", file=sys.stderr)
            return 1
    if args.command in ("all", "index"):
        print(f"summary -> {build_index(args.results, args.out)}")
        try:
            print(f"call explorer -> {build_explorer(args.results, args.out)}")
        except FileNotFoundError as err:  # no predictions yet: the summary says what is missing, the explorer waits
            print(f"call explorer not written: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
