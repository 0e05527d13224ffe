"""Finding personal data in what the project shows: notebook outputs and rendered reports.

What must not appear is learned from the client's calls by the project's own redaction rules
(:func:`callinsights.text.redact.redact`): every stretch of a raw call that ``redact`` turns into ``[NAME]``,
``[MEMBER_ID]``, ``[PHONE]``, ``[EMAIL]``, ``[DATE]``, ``[CLAIM_ID]``, ... is an identifier, and the names are the
people the calls introduce or address. The calls are read for this only; nothing of them is written anywhere.
On top of those exact strings, the shapes of e-mails, phones and member / claim numbers are searched for, so an
identifier ``redact`` misses in the calls is still caught where it is shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from callinsights.text.redact import redact

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
    """What must not be shown, learned from the calls.

    Attributes:
        names: Single name words (``Emily``, ``Wilson``) the calls introduce or address.
        values: Identifier strings by kind (``MEMBER_ID`` -> {``MEM123456``, ...}).
    """

    names: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)

    def update(self, other: "Identifiers") -> None:
        """Add another call's identifiers."""
        self.names |= other.names
        for kind, found in other.values.items():
            self.values.setdefault(kind, set()).update(found)


def identifiers_in(text: str) -> Identifiers:
    """The stretches of ``text`` that :func:`redact` replaces, by placeholder kind.

    Args:
        text: One raw call.

    Returns:
        Name words and identifier strings; a text ``redact`` leaves alone gives none.
    """
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
    """Every identifier found in the texts, one line each: where, what kind, and the match in context.

    Names are matched as whole, case-sensitive words (outside :data:`NOT_PEOPLE`); identifiers as exact strings;
    the shapes of :data:`SHAPES` anywhere.
    """
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
