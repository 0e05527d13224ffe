"""How well :mod:`callinsights.text.redact` does on a labelled PII fixture: recall and precision per entity type.

``python -m callinsights.text.redaction_eval [FILE]`` prints a Markdown table (the one in the README). The fixture
(``tests/fixtures/pii/spans.txt``) marks each identifier as ``[[TYPE:text]]``; see its README.

- **Recall** of a type: the share of its marked spans that nothing of leaks -- every character other than spaces is
  inside some redacted span, whatever placeholder it got (an SSN masked as ``[NUMBER]`` is not leaked).
- **Precision** of a type: the share of the spans redacted *as that type* that overlap a marked span of any type.
- **Unmarked lines changed**: lines with no identifier that redaction altered (a common word masked).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from callinsights import config
from callinsights.text.redact import Span, find_pii

FIXTURE = config.PROJ_ROOT / "tests" / "fixtures" / "pii" / "spans.txt"
TYPES = ("NAME", "SSN", "CARD", "PHONE", "EMAIL", "ADDRESS", "DATE", "ID")
#: Redaction entity -> fixture type.
FAMILY = {"PERSON": "NAME", "US_SSN": "SSN", "CREDIT_CARD": "CARD", "PHONE_NUMBER": "PHONE",
          "EMAIL_ADDRESS": "EMAIL", "ADDRESS": "ADDRESS", "DATE": "DATE"}
_MARK = re.compile(r"\[\[(?P<type>[A-Z]+):(?P<text>.+?)\]\]")


@dataclass
class Line:
    """One fixture sentence: its plain text and the marked spans ``(start, end, type)``."""

    text: str
    gold: list[tuple[int, int, str]] = field(default_factory=list)


def read_fixture(path: str | Path = FIXTURE) -> list[Line]:
    """Parse the marked sentences (comments and blank lines skipped).

    Raises:
        ValueError: A mark names an unknown type (the message gives the line number).
    """
    lines = []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        text, gold, last = "", [], 0
        for mark in _MARK.finditer(raw):
            if mark["type"] not in TYPES:
                raise ValueError(f"{path} line {number}: type {mark['type']!r} is not one of {', '.join(TYPES)}")
            text += raw[last:mark.start()]
            gold.append((len(text), len(text) + len(mark["text"]), mark["type"]))
            text += mark["text"]
            last = mark.end()
        lines.append(Line(text + raw[last:], gold))
    return lines


def _leaks(text: str, start: int, end: int, found: list[Span]) -> bool:
    """Whether any non-space character of ``text[start:end]`` is outside every redacted span."""
    return any(not text[i].isspace() and not any(s.start <= i < s.end for s in found) for i in range(start, end))


def evaluate(lines: list[Line]) -> dict:
    """Counts per type and the unmarked lines that changed.

    Returns:
        ``{"types": {type: {gold, caught, predicted, correct}}, "clean_lines", "clean_changed": [text, ...],
        "leaks": [(type, text), ...]}``.
    """
    counts = {t: {"gold": 0, "caught": 0, "predicted": 0, "correct": 0} for t in TYPES}
    clean_changed, leaks, clean = [], [], 0
    for line in lines:
        found = find_pii(line.text)
        for start, end, kind in line.gold:
            counts[kind]["gold"] += 1
            if _leaks(line.text, start, end, found):
                leaks.append((kind, line.text[start:end]))
            else:
                counts[kind]["caught"] += 1
        for span in found:
            kind = FAMILY.get(span.entity, "ID")
            counts[kind]["predicted"] += 1
            counts[kind]["correct"] += any(span.start < e and s < span.end for s, e, _ in line.gold)
        if not line.gold:
            clean += 1
            if found:
                clean_changed.append(line.text)
    return {"types": counts, "clean_lines": clean, "clean_changed": clean_changed, "leaks": leaks}


def table(result: dict) -> str:
    """The result as a Markdown table, with the unmarked lines' line below it."""
    rows = ["| type | marked spans | not leaked | recall | redacted as type | on a marked span | precision |",
            "|---|---|---|---|---|---|---|"]
    for kind, c in result["types"].items():
        recall = f"{c['caught'] / c['gold']:.2f}" if c["gold"] else "-"
        precision = f"{c['correct'] / c['predicted']:.2f}" if c["predicted"] else "-"
        rows.append(f"| {kind} | {c['gold']} | {c['caught']} | {recall} | {c['predicted']} | {c['correct']} | "
                    f"{precision} |")
    total = sum(c["gold"] for c in result["types"].values())
    caught = sum(c["caught"] for c in result["types"].values())
    rows.append(f"| all | {total} | {caught} | {caught / total:.2f} | | | |")
    changed = len(result["clean_changed"])
    rows.append("")
    rows.append(f"Lines with no identifier changed by redaction: {changed} of {result['clean_lines']}.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Print the table; list leaks and changed clean lines; exit 1 when an SSN, card or ID leaks."""
    parser = argparse.ArgumentParser(prog="python -m callinsights.text.redaction_eval", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("fixture", nargs="?", default=str(FIXTURE), help="marked sentences, one per line")
    args = parser.parse_args(argv)
    result = evaluate(read_fixture(args.fixture))
    print(table(result))
    for kind, text in result["leaks"]:
        print(f"  leaked {kind}: {text!r}")
    for text in result["clean_changed"]:
        print(f"  changed: {text!r}")
    return 1 if any(kind in ("SSN", "CARD", "ID") for kind, _ in result["leaks"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
