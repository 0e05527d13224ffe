"""What every command shares: exit codes, the help formatter, option types."""

from __future__ import annotations

import argparse
import textwrap

#: The command finished.
EXIT_OK = 0
#: The run finished and its CSV is written, but some answers could not be read as labels.
EXIT_INVALID_ANSWERS = 1
#: Bad input (calls, options, label file, output path, store): nothing written, previous output unchanged.
EXIT_BAD_INPUT = 2
#: `monitor` wrote its table and at least one watched quantity of the batch alerts.
EXIT_ALERT = 3


def roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        label, sep, role = pair.rpartition("=")
        if not sep or role not in ("customer", "agent", "meta"):
            raise SystemExit(f"--speaker {pair!r}: write LABEL=ROLE with ROLE customer, agent or meta")
        roles[label] = role
    return roles


def positive(value: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of calls of at least 1 (or leave --limit out)")
    return number


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after every option's help (unless the help already says it); descriptions and epilogs kept
    as written, so write them wrapped (see :func:`_wrap`)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def wrap(text: str) -> str:
    """A description wrapped for the terminal (the formatter keeps line breaks as written)."""
    return textwrap.fill(" ".join(text.split()), width=100)


EXIT_CODES = f"""exit codes:
  {EXIT_OK}  done
  {EXIT_INVALID_ANSWERS}  done, but some model answers could not be read as labels (rows with valid=False)
  {EXIT_BAD_INPUT}  bad input: a folder with no readable call, a bad option value, label file, output
     path or store; nothing was written and any previous output is unchanged
  {EXIT_ALERT}  (monitor) an alert fired on the batch"""
