"""The command line: ``python -m callinsights {data,parse,analyze,models} ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callinsights import config


def _roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        label, sep, role = pair.rpartition("=")
        if not sep or role not in ("customer", "agent", "meta"):
            raise SystemExit(f"--speaker {pair!r}: write LABEL=ROLE with ROLE customer, agent or meta")
        roles[label] = role
    return roles


def cmd_data(args: argparse.Namespace) -> int:
    from callinsights.data import link_client_data

    for line in link_client_data(Path(args.source), Path(args.target)):
        print(line)
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from callinsights.transcripts import TURN_COLUMNS, read_calls, turns_frame

    try:
        turns, report = read_calls(args.dir, _roles(args.speaker))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    frame = turns_frame(turns)[TURN_COLUMNS]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    customer = int((frame["role"] == "customer").sum())
    print(f"{len(frame)} turns ({customer} customer) written to {args.out}")
    print(report.summary(), file=sys.stderr)
    return 0 if report.files_read else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="callinsights", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="link the client's calls and labels into data/")
    p.add_argument("--source", default=str(config.SHARED_DATA_DIR))
    p.add_argument("--target", default=str(config.DATA_DIR))
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("parse", help="split a folder of calls into speaker turns (CSV)")
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help="folder of .txt calls")
    p.add_argument("--out", default="turns.csv", help="CSV to write: file,turn,speaker,role,text")
    p.add_argument("--speaker", action="append", default=[], metavar="LABEL=ROLE",
                   help="map an extra speaker label, e.g. 'Supervisor=agent' (repeatable)")
    p.set_defaults(func=cmd_parse)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    return args.func(args)
