"""The command line: python -m callinsights COMMAND ... (``--help`` lists the commands).

Exit codes (also in ``--help``): 0 done; 1 done but some answers invalid; 2 bad input, nothing written; 3 (monitor)
an alert fired. Each command lives with its kind: :mod:`callinsights.pipelines.cli_jobs` (data, parse, analyze, fit,
models) and :mod:`callinsights.pipelines.cli_results` (experiments, evaluate, insights, monitor, store, notebooks,
reports).
"""

from __future__ import annotations

import argparse
import sys

from callinsights.pipelines import cli_jobs, cli_results
from callinsights.pipelines.cli_common import (EXIT_ALERT, EXIT_BAD_INPUT, EXIT_CODES,  # noqa: F401 (used by callers)
                                               EXIT_INVALID_ANSWERS, EXIT_OK, Formatter)

DESCRIPTION = """\
callinsights: sentiment and outcome of customer-support calls, read from the customer's side by a local
language model. Run 'python -m callinsights COMMAND --help' for a command's options and defaults."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="callinsights", description=DESCRIPTION, epilog=EXIT_CODES,
                                     formatter_class=Formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_jobs.register(sub)
    cli_results.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :data:`EXIT_CODES`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in cli_results.FORWARDED:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in cli_results.FORWARDED:  # their modules own their options, --help included
        args.rest = [*extra, *args.rest]  # REMAINDER takes all from the first word; options before it are extra
    try:
        return args.func(args)
    except SystemExit as stop:  # --speaker's message
        if isinstance(stop.code, str):
            print(f"error: {stop.code}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
