"""Reading call transcripts into speaker turns, with the customer's side separated.

A call file is plain text, one utterance per line, ``Speaker: words``. Real exports are irregular: labels carry
leading spaces, dots or underscores; timestamp lines (``02:36``), stage directions on their own line (``(pause)``),
call-duration lines in several spellings and notes by whoever exported the call are mixed in. Those lines are
``meta``: they are kept for data-quality reporting but never reach the customer text, because a note such as
``(Note: ... The sentiment of the conversation is positive ...)`` would hand the model the answer.

Cues inside a turn, like ``Member: (sighs) Fine.``, stay with the speaker: they are the customer's tone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callinsights.data.call import AGENT, CUSTOMER, META, UNKNOWN, Call, Turn, call_id, natural_key

#: Speaker labels as the client's exports write them, after trimming, matched case-insensitively.
SPEAKER_ROLES: dict[str, str] = {
    "member": CUSTOMER,
    "customer": CUSTOMER,
    "caller": CUSTOMER,
    "pa agent": AGENT,
    "agent": AGENT,
    "customer support": AGENT,
    "technical support": AGENT,
    "claims review team": AGENT,
    "representative": AGENT,
}



def role_table(roles: dict[str, str] | None = None) -> dict[str, str]:
    """:data:`SPEAKER_ROLES` with ``roles`` (``--speaker LABEL=ROLE``) added or overriding, keyed in lower case."""
    return {**SPEAKER_ROLES, **{k.lower(): v for k, v in (roles or {}).items()}}


# Leading debris an export leaves before a label: spaces, dots, underscores, asterisks (markdown emphasis).
_DEBRIS = " \t._*"
_TIMESTAMP = re.compile(r"^[\[(]?\d{1,2}:\d{2}(?::\d{2})?[\])]?$")
_DURATION = re.compile(
    r"^[\[(]?\s*(?:call\s+)?(?:duration|elapsed\s+time|length\s+of\s+call)\s*:.*$", re.IGNORECASE
)
# Exporter notes in every spelling seen: `(Note: ...)`, `[Note - ...]`, `Note - ...`, `note: ...`, `NB: ...`,
# `Exporter's note: ...`. A whole line that opens this way is a note, never speech.
_NOTE_WORD = r"(?:(?:exporter|editor|analyst|reviewer)'?s?\s+)?(?:notes?|n\.?b\.?)"
_NOTE = re.compile(rf"^[\[(]?\s*{_NOTE_WORD}\s*(?::|\s+[-\u2013\u2014]+)", re.IGNORECASE)
# A note in brackets at the end of a speech line: `Member: Thanks, bye. (Note: the customer is happy.)`. The
# bracket may be left open by the export.
_TRAILING_NOTE = re.compile(rf"\s*(?P<note>[\[(]\s*{_NOTE_WORD}\s*(?::|\s+[-\u2013\u2014]+).*)$", re.IGNORECASE)
# `note:` or `note -` inside speech, not in brackets: a customer may say "note: I paid twice", or the exporter may
# have written into the line. That cannot be told apart, so it is reported, never guessed.
_NOTE_INSIDE = re.compile(rf"(?:^|[.!?;,]\s+|\s)(?:{_NOTE_WORD})\s*(?::|\s+[-\u2013\u2014]+\s)", re.IGNORECASE)
# A whole line in brackets is a stage direction or an exporter's remark; `pause)` (opening bracket lost) too.
_BRACKETED = re.compile(r"^(?:\(.*\)|\[.*\]|[^()\[\]:]{1,40}\))\.?$")
# A label is a few capitalised words before a colon: `Member:`, `PA Agent:`, `Claims Review Team:`.
_LABEL = re.compile(r"^(?P<label>[A-Z][A-Za-z'&-]*(?: [A-Za-z'&-]+){0,3})\s*:\s*(?P<text>.*)$")
# A stage direction glued in front of a label: `(pause)Member: Sure.`
_LEADING_DIRECTION = re.compile(r"^(?P<direction>\([^()]*\))\s*(?P<rest>[A-Z].*)$")
# Written after the call ended: not part of the conversation (`_PA Agent: (after the call) Case status: ..._`).
_AFTER_CALL = re.compile(r"^\(after the call\)", re.IGNORECASE)


# Longest first: a UTF-32-LE mark starts with the UTF-16-LE one.
_UTF16_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
               (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


class TranscriptError(ValueError):
    """A call file that cannot be read as a transcript; the message names the file and what is wrong."""


@dataclass
class ParseReport:
    """What a folder parse met besides clean speech: skipped files and irregular lines.

    Attributes:
        files_read: Files parsed into turns (calls, for a turn table).
        skipped: ``(file, reason)`` for each file that could not be used.
        unknown_speakers: ``(file, label)`` for each label not in the speaker table.
        irregular: Count of meta lines by kind (``timestamp``, ``duration``, ...).
        ambiguous: ``(file, line)`` for speech lines that may hold an exporter's note; kept as speech, reported.
        ignored: Files in the folder that are not calls (named, so nothing is dropped without a word).
        formats: Files read by suffix, e.g. ``{".txt": 10, ".vtt": 2}``.
        unit, suffixes: What ``files_read`` counts (``files``, ``calls in turns.csv``); the suffixes looked for.
    """

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unknown_speakers: list[tuple[str, str]] = field(default_factory=list)
    irregular: dict[str, int] = field(default_factory=dict)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    unit: str = "files"
    suffixes: tuple[str, ...] = (".txt",)

    def add(self, call: Sequence[Turn], suffix: str = "") -> None:
        """Count one call read: its format, unknown labels, meta lines and lines that may hold a note."""
        self.files_read += 1
        self.formats.update({suffix: self.formats.get(suffix, 0) + 1} if suffix else {})
        self.unknown_speakers += [(t.file, t.speaker) for t in call if t.role == UNKNOWN]
        for t in (t for t in call if t.role == META):
            self.irregular[t.kind] = self.irregular.get(t.kind, 0) + 1
        self.ambiguous += [(call[0].file, line) for line in ambiguous_lines(call)]

    def summary(self) -> str:
        """A few lines for a person: files read, what was skipped and why, unknown labels."""
        formats = f" ({', '.join(f'{k} {n}' for k, n in sorted(self.formats.items()))})" if self.formats else ""
        head = f"read {self.files_read} of {self.files_read + len(self.skipped)} {self.unit}{formats}"
        lines = [head + (f"; skipped {len(self.skipped)}:" if self.skipped else "")]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        if self.unknown_speakers:
            lines.append(
                "  unknown speaker labels (role 'unknown', never treated as customer; add them to "
                "callinsights.data.transcripts.SPEAKER_ROLES or pass --speaker LABEL=ROLE):"
            )
            lines += [f"    {name}: {label!r}" for name, label in self.unknown_speakers]
        if self.irregular:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.irregular.items()))
            lines.append(f"  non-speech lines set aside as meta: {kinds}")
        if self.ambiguous:
            lines.append(
                "  lines that may hold an exporter's note, kept as speech (put the note on its own line or in "
                "brackets, e.g. '(Note: ...)', to set it aside):"
            )
            lines += [f"    {name}: {line[:100]!r}" for name, line in self.ambiguous]
        if self.ignored:
            shown = ", ".join(self.ignored[:10]) + (f" and {len(self.ignored) - 10} more" if len(self.ignored) > 10 else "")
            lines.append(f"  ignored {len(self.ignored)} file(s) not ending in {' or '.join(self.suffixes)}: {shown}")
        return "\n".join(lines)


def meta_kind(line: str) -> str | None:
    """The kind of a line that is not speech, or None when it may be speech."""
    if _TIMESTAMP.match(line):
        return "timestamp"
    if _DURATION.match(line):
        return "duration"
    if _NOTE.match(line):
        return "note"
    if _BRACKETED.match(line):
        return "direction"
    return None


def split_note(words: str) -> tuple[str, str | None]:
    """Speech words and a bracketed note at their end (``(Note: ...)``), or ``(words, None)``."""
    found = _TRAILING_NOTE.search(words)
    if not found:
        return words, None
    return words[: found.start()].rstrip(), found["note"]


def ambiguous_lines(turns: Iterable[Turn]) -> list[str]:
    """Speech turns that hold ``note:`` or ``note -`` outside brackets: maybe the speaker's words, maybe an
    exporter's note. They are kept as speech and listed for a person to check."""
    return [t.text for t in turns if t.role != META and _NOTE_INSIDE.search(t.text)]


def parse_text(text: str, file: str = "<text>", roles: dict[str, str] | None = None) -> list[Turn]:
    """Split the text of one call into turns.

    Args:
        text: The whole call as text.
        file: Name recorded in every turn.
        roles: Extra or overriding ``label -> role`` entries (labels matched case-insensitively).

    Returns:
        The turns in order, meta lines included. A line with no label continues the previous speaker's turn.
        A bracketed note at the end of a line (``Member: Bye. (Note: ...)``) becomes a meta turn of its own.
    """
    table = role_table(roles)
    turns: list[Turn] = []

    def add(speaker: str, role: str, words: str, kind: str) -> None:
        turns.append(Turn(file, len(turns), speaker, role, words, kind))

    for raw in text.splitlines():
        stripped = raw.strip()
        line = stripped.lstrip(_DEBRIS)
        if any(c in "_*" for c in stripped[: len(stripped) - len(line)]):
            line = line.rstrip("_*")  # `_PA Agent: ..._` is emphasis around the whole line
        line = line.strip()
        if not line:
            continue
        glued = _LEADING_DIRECTION.match(line)
        if glued and _LABEL.match(glued["rest"]):
            add("", META, glued["direction"], "direction")
            line = glued["rest"]
        kind = meta_kind(line)
        if kind:
            add("", META, line, kind)
            continue
        label = _LABEL.match(line)
        if label:
            speaker, words = label["label"].strip(), label["text"].strip().strip("_").strip()
            role = table.get(speaker.lower(), UNKNOWN)
            if _AFTER_CALL.match(words):
                add(speaker, META, words, "note")
                continue
            words, note = split_note(words)
            add(speaker, role, words, "speech")
            if note:
                add("", META, note, "note")
            continue
        line, note = split_note(line)
        previous = next((t for t in reversed(turns) if t.role != META), None)
        if previous is None:
            # Words before any speaker: nobody to give them to, so they are set aside rather than guessed.
            add("", META, line, "continuation")
        else:
            turns[previous.turn] = Turn(
                file, previous.turn, previous.speaker, previous.role, f"{previous.text} {line}", previous.kind
            )
        if note:
            add("", META, note, "note")
    return turns


def read_call(path: str | Path, roles: dict[str, str] | None = None) -> Call:
    """Read one call file.

    Args:
        path: A ``.txt`` call file.
        roles: Extra ``label -> role`` entries, see :func:`parse_text`.

    Returns:
        The call, named after the file.

    Raises:
        TranscriptError: The file is empty, binary, not UTF-8 (nor UTF-16 with a byte-order mark), or has no
            customer turn.
    """
    path = Path(path)
    turns = parse_text(decode_call(path.read_bytes(), path.name), path.name, roles)
    check_customer(turns, path.name)
    return Call.of(turns)


def decode_call(data: bytes, name: str) -> str:
    """The text of a call file's bytes: UTF-8 (a byte-order mark allowed), or UTF-16/32 with a byte-order mark.

    Raises:
        TranscriptError: Empty, binary (NUL bytes), or not decodable; the message starts with ``name``.
    """
    # Windows tools export UTF-16 with a byte-order mark; its NUL bytes are text, not binary content.
    for bom, encoding in _UTF16_BOMS:
        if data.startswith(bom):
            try:
                data = data[len(bom):].decode(encoding).encode("utf-8")
            except UnicodeDecodeError as err:
                raise TranscriptError(
                    f"{name}: starts with a {encoding.upper()} byte-order mark but is not valid {encoding.upper()} "
                    f"(offset {err.start + len(bom)}); re-export it as UTF-8 text"
                ) from None
            break
    if b"\x00" in data:
        raise TranscriptError(f"{name}: binary content (NUL bytes); a call file must be plain text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TranscriptError(
            f"{name}: not UTF-8 (byte {data[err.start]:#04x} at offset {err.start}); "
            "re-export it as UTF-8 text"
        ) from None
    if not text.strip():
        raise TranscriptError(f"{name}: empty file")
    return text


def check_customer(turns: Sequence[Turn], name: str) -> None:
    """Raise TranscriptError naming ``name`` and the speakers found when no turn is the customer's."""
    if not any(t.role == CUSTOMER for t in turns):
        labels = sorted({t.speaker for t in turns if t.speaker})
        raise TranscriptError(
            f"{name}: no customer turn (speakers found: {', '.join(labels) or 'none'}); "
            "if the customer has another label, map it with --speaker LABEL=customer"
        )


def call_files(folder: str | Path, suffixes: Iterable[str] = (".txt",)) -> tuple[list[Path], list[str]]:
    """The call files under a folder, subfolders included: every file ending in one of ``suffixes`` in any case.

    Returns:
        The call files in natural order (by name, then folder), and the other files' paths relative to the folder
        (reported, so that nothing is dropped without a word). Hidden files and folders are left out.
    """
    folder = Path(folder)
    calls, others = [], []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        (calls if path.suffix.lower() in suffixes else others).append(path)
    calls.sort(key=lambda p: (natural_key(p), natural_key(p.parent)))
    return calls, sorted(str(p.relative_to(folder)) for p in others)


def read_calls(
    folder: str | Path, roles: dict[str, str] | None = None,
    readers: dict[str, Callable[..., Call]] | None = None,
) -> tuple[list[Call], ParseReport]:
    """Read every call under a folder (subfolders too, ``.txt`` in any case); a bad file is skipped and reported,
    never fatal.

    Args:
        folder: Folder of call files.
        roles: Extra ``label -> role`` entries, see :func:`parse_text`.
        readers: Suffix (lower case) -> ``reader(path, roles)`` giving one file's :class:`Call` or raising
            TranscriptError;
            default ``.txt`` only (:func:`callinsights.data.calls.read_source` adds ``.vtt``).

    Returns:
        Every readable call, in natural file order (``transcript_2`` before ``transcript_10``),
        and a report of what was skipped, ignored, ambiguous or irregular. Two files with the same name in
        different subfolders would be the same call: the second is skipped and named.

    Raises:
        FileNotFoundError: The folder does not exist or holds no call file.
    """
    readers = readers or {".txt": read_call}
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such folder. Put the call files there, or run `make data` to link the client's copy."
        )
    files, others = call_files(folder, tuple(readers))
    if not files:
        raise FileNotFoundError(f"{folder}: no {' or '.join(readers)} call files in this folder or its subfolders")
    report = ParseReport(ignored=others, suffixes=tuple(readers))
    calls: list[Call] = []
    seen: dict[str, Path] = {}
    for path in files:
        shown = str(path.relative_to(folder))
        if call_id(path).lower() in seen:
            first = seen[call_id(path).lower()].relative_to(folder)
            report.skipped.append((shown, f"same call name as {first}; rename one of them"))
            continue
        try:
            call = readers[path.suffix.lower()](path, roles)
        except (TranscriptError, OSError) as err:
            report.skipped.append((shown, str(err).removeprefix(f"{path.name}: ")))
            continue
        seen[call_id(path).lower()] = path
        report.add(call, path.suffix.lower())
        calls.append(call)
    report.unknown_speakers = sorted(set(report.unknown_speakers), key=lambda x: (natural_key(x[0]), x[1]))
    return calls, report
