"""Personal data where the project shows things, and how well redaction does on a marked fixture.

What must not be shown is learned from the client's calls by the project's own ``redact``: every stretch it masks is
an identifier, and the names are the people the calls introduce or address; shapes of e-mails, phones and member /
claim numbers are searched for too, so an identifier ``redact`` misses is still caught where it is shown.

``python -m tests.support.pii [FILE]`` prints redaction's recall and precision per type on
``tests/fixtures/pii/spans.txt`` (the table in docs/formats.md).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from callinsights.text.redact import Span, redact
from callinsights.text.redact import find_pii as redacted_spans

_PLACEHOLDER = re.compile(r"\[([A-Z_]+)\]")
# A name is one capitalised word; shorter ones ("Al") match too much ordinary text to be worth searching for.
_NAME_WORD = re.compile(r"^[A-Z][a-z]{2,}$")
#: Identifiers shorter than this are too likely to occur by chance ("2024") to search for verbatim.
MIN_IDENTIFIER_CHARS = 6
SHAPES = {
    "e-mail": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "phone": re.compile(r"(?<![\w-])(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"),
    "member ID": re.compile(r"\bMEM-?\d{3,}\b", re.IGNORECASE),
    "claim number": re.compile(r"\bCLM-?\d{3,}\b", re.IGNORECASE),
}
#: Phrases where a name word names a method, not a person ("95% Wilson intervals").
NOT_PEOPLE = re.compile(r"\bWilson(?: score)? (?:interval|CI)s?\b")
# Text of an output a reader sees; images are checked by eye (word clouds hold no placeholders' originals).
_TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


@dataclass
class Identifiers:
    """What must not be shown: single name words (``Emily``) and identifier strings by kind (``MEMBER_ID`` ->
    {``MEM123456``})."""

    names: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)

    def update(self, other: "Identifiers") -> None:
        self.names |= other.names
        for kind, found in other.values.items():
            self.values.setdefault(kind, set()).update(found)


def identifiers_in(text: str) -> Identifiers:
    """The stretches of one raw call that ``redact`` replaces, by placeholder kind."""
    redacted = redact(text)
    pieces = _PLACEHOLDER.split(redacted)
    literals, kinds = pieces[0::2], pieces[1::2]
    if not kinds:
        return Identifiers()
    pattern = "(.+?)".join(re.escape(p) for p in literals)
    match = re.fullmatch(pattern, text, re.DOTALL)
    found = Identifiers()
    if match is None:  # redact changed more than placeholders; nothing reliable to learn from this text
        return found
    for kind, value in zip(kinds, match.groups()):
        if kind == "NAME":
            found.names.update(w for w in re.split(r"[\s-]+", value) if _NAME_WORD.match(w))
        elif len(value.strip()) >= MIN_IDENTIFIER_CHARS:
            found.values.setdefault(kind, set()).add(value.strip())
    return found


def identifiers_in_calls(folder: str | Path) -> Identifiers:
    """:func:`identifiers_in` over every ``.txt`` call of a folder (unreadable files are skipped)."""
    found = Identifiers()
    for path in sorted(Path(folder).glob("*.txt")):
        try:
            found.update(identifiers_in(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    return found


def notebook_texts(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every text output of a notebook (``where`` names the file and cell)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for i, cell in enumerate(nb.get("cells", []), start=1):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + [out.get("data", {}).get(m, "") for m in _TEXT_MIMES]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else str(text)
                if text:
                    yield f"{Path(path).name} cell {i}", text


def report_texts(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for a rendered page: its visible text and every alt text and title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    yield Path(path).name, soup.get_text(" ")
    attributes = " ".join(v for t in soup.find_all(True) for k, v in t.attrs.items() if k in ("alt", "title"))
    if attributes:
        yield f"{Path(path).name} (alt/title)", attributes


def find_pii(texts: Iterable[tuple[str, str]], identifiers: Identifiers) -> list[str]:
    """Every identifier found in ``(where, text)`` pairs, one line each with its place and context: names as whole
    case-sensitive words (outside :data:`NOT_PEOPLE`), identifiers as exact strings, :data:`SHAPES` anywhere."""
    names = sorted(identifiers.names, key=len, reverse=True)
    name_re = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b") if names else None
    hits = []
    for where, text in texts:
        text = NOT_PEOPLE.sub(lambda m: "·" * len(m[0]), text)  # same length, so contexts stay where they were

        def report(kind: str, start: int, end: int) -> None:
            context = " ".join(text[max(0, start - 40):end + 40].split())
            hits.append(f"{where}: {kind} {text[start:end]!r} in “…{context}…”")

        if name_re is not None:
            for m in name_re.finditer(text):
                report("name", m.start(), m.end())
        for kind, values in identifiers.values.items():
            for value in values:
                for m in re.finditer(re.escape(value), text):
                    report(kind.lower(), m.start(), m.end())
        for kind, shape in SHAPES.items():
            for m in shape.finditer(text):
                report(kind, m.start(), m.end())
    return list(dict.fromkeys(hits))


# --- Redaction scored on tests/fixtures/pii/spans.txt, where each identifier is marked ``[[TYPE:text]]`` ---------------
# Recall of a type: the share of its marked spans with no non-space character left outside every redacted span
# (whatever placeholder it got). Precision: the share of spans redacted as that type that overlap a marked span.

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pii" / "spans.txt"
TYPES = ("NAME", "SSN", "CARD", "PHONE", "EMAIL", "ADDRESS", "DATE", "ID")
#: Redaction entity -> fixture type.
FAMILY = {"PERSON": "NAME", "US_SSN": "SSN", "CREDIT_CARD": "CARD", "PHONE_NUMBER": "PHONE",
          "EMAIL_ADDRESS": "EMAIL", "ADDRESS": "ADDRESS", "DATE": "DATE", "CARD_DETAIL": "CARD"}
MARK = re.compile(r"\[\[(?P<type>[A-Z]+):(?P<text>.+?)\]\]")


@dataclass
class Line:
    """One fixture sentence: its plain text and the marked spans ``(start, end, type)``."""

    text: str
    gold: list[tuple[int, int, str]] = field(default_factory=list)


def read_fixture(path: str | Path = FIXTURE) -> list[Line]:
    """The marked sentences (comments and blank lines skipped); an unknown type is a ValueError naming the line."""
    lines = []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        text, gold, last = "", [], 0
        for mark in MARK.finditer(raw):
            if mark["type"] not in TYPES:
                raise ValueError(f"{path} line {number}: type {mark['type']!r} is not one of {', '.join(TYPES)}")
            text += raw[last:mark.start()]
            gold.append((len(text), len(text) + len(mark["text"]), mark["type"]))
            text += mark["text"]
            last = mark.end()
        lines.append(Line(text + raw[last:], gold))
    return lines


def leaks(text: str, start: int, end: int, found: list[Span]) -> bool:
    return any(not text[i].isspace() and not any(s.start <= i < s.end for s in found) for i in range(start, end))


def evaluate(lines: list[Line]) -> dict:
    """``{"types": {type: {gold, caught, predicted, correct}}, "clean_lines", "clean_changed": [text, ...],
    "leaks": [(type, text), ...]}``."""
    counts = {t: {"gold": 0, "caught": 0, "predicted": 0, "correct": 0} for t in TYPES}
    clean_changed, leaked, clean = [], [], 0
    for line in lines:
        found = redacted_spans(line.text)
        for start, end, kind in line.gold:
            counts[kind]["gold"] += 1
            if leaks(line.text, start, end, found):
                leaked.append((kind, line.text[start:end]))
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
    return {"types": counts, "clean_lines": clean, "clean_changed": clean_changed, "leaks": leaked}


def table(result: dict) -> str:
    """The result as a Markdown table, with the unmarked lines' count below it."""
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
    rows.append("")
    rows.append(f"Lines with no identifier changed by redaction: {len(result['clean_changed'])} of "
                f"{result['clean_lines']}.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Print the table, the leaks and the changed clean lines; exit 1 when an SSN, card or ID leaks."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.pii",
                                     description="Recall and precision of redaction on a marked PII fixture.",
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
