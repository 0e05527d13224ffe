"""Building the reviewer's reports from the executed notebooks and the results files.

``python -m callinsights reports all`` (what ``make reports`` runs) renders every executed ``notebooks/NN_*.ipynb``
into ``reports/NN_*.html`` (no code) and ``reports/NN_*-code.html`` (with code), then writes ``reports/index.html``,
the summary page. ``render`` and ``index`` do one half each; ``check`` opens every page in headless Chromium and
lists each request to another host, console error and image that does not load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callinsights import config
from callinsights.pipelines.notebooks import notebook_paths
from callinsights.reporting.rendering import MAX_TABLE_ROWS, render_notebook
from callinsights.reporting.summary import build_index


def render_all(notebooks_dir: str | Path = config.NOTEBOOKS_DIR, reports_dir: str | Path = config.REPORTS_DIR,
               only: list[str] | None = None, max_rows: int | None = MAX_TABLE_ROWS) -> list[Path]:
    """Render every numbered notebook of a folder; returns the pages written."""
    pages = []
    for notebook in notebook_paths(notebooks_dir, only):
        report = render_notebook(notebook, reports_dir, max_rows=max_rows)
        print(f"{notebook.name} -> {report.reviewer}, {report.code}", flush=True)
        pages += [report.reviewer, report.code]
    return pages


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="callinsights reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["all", "render", "index", "check"])
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
    if args.command == "check":
        from callinsights.reporting.browser import BrowserError, check_pages

        pages = sorted(Path(args.out).glob("*.html"))
        try:
            problems = check_pages(pages, Path(args.out) / ".screenshots")
        except BrowserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for page, found in problems.items():
            for problem in found:
                print(f"{page.name}: {problem}", file=sys.stderr)
        bad = sum(map(len, problems.values()))
        print(f"{len(pages)} page(s) opened in headless Chromium, {bad} problem(s); screenshots in "
              f"{Path(args.out) / '.screenshots'}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
