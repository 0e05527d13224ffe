"""Checks that a committed notebook was run top to bottom: outputs, execution counts 1..n in order, no error output, a
``parameters`` cell papermill can read whole, no ``sys.path`` edit (the package is installed editable)."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import nbformat
from papermill.translators import PythonTranslator

from callinsights.pipelines.notebooks import METRICS_MIME, PARAMETERS_TAG
from callinsights.reporting.rendering import cell_source as source

SYS_PATH = re.compile(r"\bsys\.path\b")


def assigned_names(text: str) -> set[str]:
    """Names a cell assigns at top level (none when it is not valid Python, e.g. holds a magic)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {
        target.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }


def papermill_names(cell) -> set[str]:
    """Names papermill can override in a parameters cell (it skips, with a log line, lines it cannot parse)."""
    logger = logging.getLogger("papermill")
    level, logger.level = logger.level, logging.ERROR
    try:
        return {p.name for p in PythonTranslator.inspect(cell)}
    finally:
        logger.setLevel(level)


def check_notebook(path: str | Path) -> list[str]:
    """The notebook's problems, one message each naming it and the cell (numbered from 1); empty when fine."""
    path = Path(path)
    name = path.name
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:  # a broken file is a finding here, whatever the reader raised
        return [f"{name}: cannot be read as a notebook ({type(err).__name__}: {err})"]
    problems = []
    rerun = f"run it with `python -m callinsights notebooks run --only {name[:2]}`"
    code = [(i, c) for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code" and source(c).strip()]
    if not any(c.get("outputs") for _, c in code):
        problems.append(f"{name}: no outputs; {rerun}")
    counts = [c.get("execution_count") for _, c in code]
    never = [i for (i, _), n in zip(code, counts) if n is None]
    if never and len(never) < len(code):
        problems.append(f"{name}: cell(s) {', '.join(map(str, never))} never executed; {rerun}")
    elif not never and counts != list(range(1, len(counts) + 1)):
        first = next(i for (i, _), n, want in zip(code, counts, range(1, len(counts) + 1)) if n != want)
        problems.append(
            f"{name}: execution counts {counts} are not 1..{len(counts)} in order (first off at cell {first}); "
            f"restart the kernel and run all, or {rerun}"
        )
    for i, cell in code:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{name}: cell {i} has an error output ({out.get('ename')}: {out.get('evalue')})")
    tagged = [(i, c) for i, c in enumerate(nb.cells, start=1) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if not tagged:
        problems.append(
            f"{name}: no cell tagged `{PARAMETERS_TAG}`; tag the cell of settings so papermill can set them"
        )
    for i, cell in tagged[:1]:
        hidden = sorted(assigned_names(source(cell)) - papermill_names(cell))
        if hidden:
            problems.append(
                f"{name}: cell {i} (parameters) assigns {', '.join(hidden)} in a form papermill cannot read, so they "
                "cannot be overridden; write `NAME = value  # comment` without `=` or quotes in the comment"
            )
    for i, cell in code:
        if SYS_PATH.search(source(cell)):
            problems.append(
                f"{name}: cell {i} uses sys.path; import the installed package (`pip install -e .`) instead"
            )
    return problems


def read_metrics(path: str | Path) -> dict:
    """The numbers an executed notebook stored with ``record_metrics`` (the last call wins); LookupError if none."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in reversed(nb.cells):
        for out in reversed(cell.get("outputs", [])):
            if METRICS_MIME in out.get("data", {}):
                return dict(out["data"][METRICS_MIME])
    raise LookupError(f"{Path(path).name}: no metrics recorded; its last cell should call record_metrics(...)")
