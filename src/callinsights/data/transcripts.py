"""Reading call transcripts into speaker turns, with the customer's side separated.

A call file is plain text, one utterance per line, ``Speaker: words``. Real exports are irregular: labels carry
leading spaces, dots or underscores; timestamp lines (``02:36``), stage directions on their own line (``(pause)``),
call-duration lines in several spellings and notes by whoever exported the call are mixed in. Those lines are
``meta``: they are kept for data-quality reporting but never reach the customer text, because a note such as
``(Note: ... The sentiment of the conversation is positive ...)`` would hand the model the answer.

Cues inside a turn, like ``Member: (sighs) Fine.``, stay with the speaker: they are the customer's tone. A label is
read in any case and spacing, after a time or not (``[00:01:05] member :``); a label not in the table (``Agent 2:``,
``Dr. Smith:``) is a turn of its own with role ``unknown``, reported by line, never words of the previous speaker.
"""

from __future__ import annotations

import html
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
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
    """:data:`SPEAKER_ROLES` with ``roles`` (``--speaker LABEL=ROLE``) added or overriding, keyed as
    :func:`label_key` writes a label."""
    return {**SPEAKER_ROLES, **{label_key(k): v for k, v in (roles or {}).items()}}


def label_key(label: str) -> str:
    """A speaker label as the role table looks it up: lower case, one space between words (``PA  agent``)."""
    return " ".join(label.lower().split())


# Leading debris an export leaves before a label: spaces, dots, underscores, asterisks (markdown emphasis).
_DEBRIS = " \t._*"
# A time as exports write it: `02:36`, `[00:01:05]`, `(1:02:03.250)`.
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_STAMP = rf"[\[(]?{_CLOCK}[\])]?"
_TIMESTAMP = re.compile(rf"^{_STAMP}$")
# A time before a speaker's label: `[00:01:05] Member: ...`, `00:12 - Agent: ...`.
_LEADING_STAMP = re.compile(
    rf"^(?P<stamp>{_STAMP})(?:[ \t]*[-\u2013\u2014|][ \t]*|[ \t]+|(?<=[\])])[ \t]*)(?P<rest>\S.*)$")
_DURATION = re.compile(r"^[\[(]?\s*(?:call\s+)?(?:duration|elapsed\s+time|length\s+of\s+call)\s*:.*$", re.IGNORECASE)
# Exporter notes in every spelling seen: `(Note: ...)`, `[Note - ...]`, `Note - ...`, `note: ...`, `NB: ...`,
# `Exporter's note: ...`. A whole line that opens this way is a note, never speech.
_NOTE_WORD = r"(?:(?:exporter|editor|analyst|reviewer)'?s?\s+)?(?:notes?|n\.?b\.?)"
# The word is followed by a colon or a dash; a dash glued to the word needs a space after it (`Note- resolved`),
# so that `note-worthy` stays a word.
_NOTE = re.compile(rf"^[\[(]?\s*{_NOTE_WORD}\s*(?::|\s+[-\u2013\u2014]+|[-\u2013\u2014]+(?=\s))", re.IGNORECASE)
# A note opening a bracket inside a speech line: `Member: Hmm. (Note: caller was on hold) Anyway, ...`. In a bracket
# any dash counts (`(Note-resolved)`). The note ends where its bracket closes; a bracket the export left open runs to
# the end of the line.
_NOTE_OPEN = re.compile(rf"[\[(]\s*{_NOTE_WORD}\s*[:\-\u2013\u2014]", re.IGNORECASE)
# `note:` or `note -` inside speech, not in brackets: a customer may say "note: I paid twice", or the exporter may
# have written into the line. That cannot be told apart, so it is reported, never guessed.
_NOTE_INSIDE = re.compile(rf"(?:^|[.!?;,]\s+|\s)(?:{_NOTE_WORD})\s*(?::|\s+[-\u2013\u2014]+\s)", re.IGNORECASE)
# A whole line in brackets is a stage direction or an exporter's remark; `pause)` (opening bracket lost) too.
_BRACKETED = re.compile(r"^(?:\(.*\)|\[.*\]|[^()\[\]:]{1,40}\))\.?$")
# A label is one to five words before a colon, the first starting with a letter, in any case and spacing: `Member:`,
# `PA Agent:`, `member :`, and labels nobody mapped (`Agent 2:`, `Dr. Smith:`, `Customer Support (Jane):`), which
# must be turns of their own, never words of the previous speaker. A time may follow the label (`Agent [00:01:30]:`).
# A colon between digits is a time inside words (`at 10:30`), `://` a web address: neither ends a label.
_LABEL = re.compile(
    r"^(?P<label>[^\W\d_][\w.'&#/()-]*(?:[ \t]+[\w.'&#/()-]+){0,4}?)"
    rf"(?:[ \t]*(?P<stamp>[\[(]{_CLOCK}[\])]))?"
    r"[ \t]*(?:(?<=\d):(?!\d)|(?<!\d):)(?!//)[ \t]*(?P<text>.*)$"
)
# A stage direction glued in front of a label: `(pause)Member: Sure.`
_LEADING_DIRECTION = re.compile(r"^(?P<direction>\([^()]*\))\s*(?P<rest>[^\W\d_].*)$")
# Written after the call ended: not part of the conversation (`_PA Agent: (after the call) Case status: ..._`).
_AFTER_CALL = re.compile(r"^\(after the call\)", re.IGNORECASE)
# Longest first: a UTF-32-LE mark starts with the UTF-16-LE one.
_UTF16_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
               (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
#: Lines listed one by one in a summary; the rest are counted by label (the report keeps every one).
_LISTED = 30


class TranscriptError(ValueError):
    """A call file that cannot be read as a transcript; the message names the file and what is wrong."""


class TranscriptWarning(UserWarning):
    """A call read, but with something a person should check (cues out of order); the message names the file and
    the line. A folder read collects them in :attr:`ParseReport.warnings`."""


@dataclass
class ParseReport:
    """What a folder parse met besides clean speech, so that nothing is dropped without a word: ``(file, reason)``
    for each file ``skipped`` and each subfolder not read, the files ``ignored`` (not calls), ``(file, line, label)``
    for each line whose speaker is not in the table (kept out of the customer's side; ``--speaker`` maps it), meta
    lines counted by kind (``irregular``), speech lines that may hold an exporter's note (``ambiguous``), the
    :class:`TranscriptWarning` messages, files read by suffix, and ``(where, problem)`` for the rows of a turn table
    left out or kept in doubt (``bad_rows``). ``unit`` is what ``files_read`` counts (``files``,
    ``calls in turns.csv``)."""

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bad_rows: list[tuple[str, str]] = field(default_factory=list)
    unknown_lines: list[tuple[str, int, str]] = field(default_factory=list)
    irregular: dict[str, int] = field(default_factory=dict)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    folders_skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    unit: str = "files"
    suffixes: tuple[str, ...] = (".txt",)

    def add(self, call: Sequence[Turn], suffix: str = "") -> None:
        """Count one call read: its format, unknown labels, meta lines and lines that may hold a note."""
        self.files_read += 1
        self.formats.update({suffix: self.formats.get(suffix, 0) + 1} if suffix else {})
        self.unknown_lines += [(t.file, t.line, t.speaker) for t in call if t.role == UNKNOWN]
        for t in (t for t in call if t.role == META):
            self.irregular[t.kind] = self.irregular.get(t.kind, 0) + 1
        # `note:` outside brackets may be the speaker's words or an exporter's: kept as speech, listed for a person.
        self.ambiguous += [(t.file, t.text) for t in call if t.role != META and _NOTE_INSIDE.search(t.text)]

    @property
    def unknown_speakers(self) -> list[tuple[str, str]]:
        """``(file, label)`` once for each label not in the speaker table, in natural file order."""
        return sorted({(file, label) for file, _, label in self.unknown_lines}, key=lambda x: (natural_key(x[0]), x[1]))

    def where(self, file: str, line: int) -> str:
        """Where a person finds a line: ``transcript_3.txt line 12``."""
        return f"{file} line {line}"

    def summary(self) -> str:
        """A few lines for a person: files read, what was skipped and why, unknown labels."""
        formats = f" ({', '.join(f'{k} {n}' for k, n in sorted(self.formats.items()))})" if self.formats else ""
        head = f"read {self.files_read} of {self.files_read + len(self.skipped)} {self.unit}{formats}"
        lines = [head + (f"; skipped {len(self.skipped)}:" if self.skipped else "")]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        if self.bad_rows:
            lines.append(f"  {len(self.bad_rows)} row(s) with a problem (fix them in the table to use them):")
            lines += [f"    {where}: {problem}" for where, problem in self.bad_rows]
        lines += [f"  not read: folder {name}: {reason}" for name, reason in self.folders_skipped]
        if self.unknown_lines:
            lines.append(f"  {len(self.unknown_lines)} line(s) whose speaker is not recognised (role 'unknown', kept "
                         "out of the customer's side; map each label with --speaker LABEL=ROLE, e.g. --speaker "
                         "'Agent 2=agent'):")
            lines += [f"    {self.where(name, number)}: {label!r}"
                      for name, number, label in self.unknown_lines[:_LISTED]]
            if len(self.unknown_lines) > _LISTED:
                rest = Counter(label for _, _, label in self.unknown_lines[_LISTED:])
                lines.append(f"    and {len(self.unknown_lines) - _LISTED} more: "
                             + ", ".join(f"{label!r} {n}" for label, n in rest.most_common()))
        if self.warnings:
            lines.append("  read, but check:")
            lines += [f"    {message}" for message in self.warnings]
        if self.irregular:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.irregular.items()))
            lines.append(f"  non-speech lines set aside as meta: {kinds}")
        if self.ambiguous:
            lines.append("  lines that may hold an exporter's note, kept as speech (put the note on its own line or "
                         "in brackets, e.g. '(Note: ...)', to set it aside):")
            lines += [f"    {name}: {line[:100]!r}" for name, line in self.ambiguous]
        if self.ignored:
            more = f" and {len(self.ignored) - 10} more" if len(self.ignored) > 10 else ""
            shown = ", ".join(self.ignored[:10]) + more
            lines.append(f"  ignored {len(self.ignored)} file(s) not ending in {' or '.join(self.suffixes)}: {shown}")
        return "\n".join(lines)


def meta_kind(line: str) -> str | None:
    """The kind of a line that is not speech, or None when it may be speech."""
    kinds = ((_TIMESTAMP, "timestamp"), (_DURATION, "duration"), (_NOTE, "note"), (_BRACKETED, "direction"))
    return next((kind for pattern, kind in kinds if pattern.match(line)), None)


def split_notes(words: str) -> tuple[str, list[str]]:
    """Speech words without the bracketed notes in them (``(Note: ...)``), and those notes in order.

    Only the note leaves: ``Hmm. (Note: on hold) Anyway, I am furious.`` keeps ``Hmm. Anyway, I am furious.``.
    """
    notes, kept, at = [], [], 0
    while found := _NOTE_OPEN.search(words, at):
        depth, end = 0, len(words)
        for i in range(found.start(), len(words)):
            depth += (words[i] in "([") - (words[i] in ")]")
            if depth == 0:
                end = i + 1
                break
        if not words[end:].strip(" .,;!?"):  # `Bye. (Note: ...).`: the stop after a closing note is the note's
            end = len(words)
        kept.append(words[at:found.start()].strip())
        notes.append(words[found.start():end].strip())
        at = end
    if not notes:
        return words, []
    kept.append(words[at:].strip())
    # A piece that starts with punctuation closes the words before it: `Thanks (Note: x), bye` -> `Thanks, bye`.
    text = ""
    for piece in filter(None, kept):
        text += piece if not text or piece[0] in ".,;:!?" else f" {piece}"
    return text, notes


def parse_text(text: str, file: str = "<text>", roles: dict[str, str] | None = None) -> list[Turn]:
    """Split the text of one call into turns, meta lines included, each with its line (rules as the module says).

    A line with no label continues the previous speaker's turn. A time before or after a label and a bracketed note
    in a line (``Member: Bye. (Note: ...)``) become meta turns of their own. ``roles`` adds or overrides
    ``label -> role`` entries (labels matched in any case and spacing); ``file`` is recorded in every turn.
    """
    table = role_table(roles)
    turns: list[Turn] = []

    def add(speaker: str, role: str, words: str, kind: str, number: int) -> None:
        turns.append(Turn(file, len(turns), speaker, role, words, kind, number))

    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        line = stripped.lstrip(_DEBRIS)
        if any(c in "_*" for c in stripped[: len(stripped) - len(line)]):
            line = line.rstrip("_*")  # `_PA Agent: ..._` is emphasis around the whole line
        line = line.strip()
        if not line:
            continue
        stamped = _LEADING_STAMP.match(line)
        if stamped and _LABEL.match(stamped["rest"].lstrip(_DEBRIS)):
            add("", META, stamped["stamp"], "timestamp", number)
            line = stamped["rest"].lstrip(_DEBRIS)
        glued = _LEADING_DIRECTION.match(line)
        if glued and _LABEL.match(glued["rest"]):
            add("", META, glued["direction"], "direction", number)
            line = glued["rest"]
        kind = meta_kind(line)
        if kind:
            add("", META, line, kind, number)
            continue
        label = _LABEL.match(line)
        if label:
            speaker, words = " ".join(label["label"].split()), label["text"].strip().strip("_").strip()
            role = table.get(label_key(speaker), UNKNOWN)
            if label["stamp"]:
                add("", META, label["stamp"], "timestamp", number)
            if _AFTER_CALL.match(words):
                add(speaker, META, words, "note", number)
                continue
            words, notes = split_notes(words)
            add(speaker, role, words, "speech", number)
        else:
            line, notes = split_notes(line)
            if line:
                _continue(turns, line, file, number)
        _add_notes(turns, notes, file, number)
    return turns


def _continue(turns: list[Turn], words: str, file: str, number: int) -> None:
    """Words with no label join the previous speaker's turn; before any speaker there is nobody to give them to, so
    they are set aside as meta rather than guessed."""
    previous = next((t for t in reversed(turns) if t.role != META), None)
    if previous is None:
        turns.append(Turn(file, len(turns), "", META, words, "continuation", number))
    else:
        turns[previous.turn] = replace(previous, text=f"{previous.text} {words}")


def _add_notes(turns: list[Turn], notes: list[str], file: str, number: int) -> None:
    turns.extend([Turn(file, len(turns) + i, "", META, note, "note", number) for i, note in enumerate(notes)])


def read_call(path: str | Path, roles: dict[str, str] | None = None) -> Call:
    """Read one call file, named after it: a ``.vtt`` file as WebVTT (:func:`parse_vtt`), any other as text
    (:func:`parse_text`, where ``roles`` is explained).

    Raises:
        TranscriptError: The file is empty, binary, not UTF-8 (nor UTF-16/32 with a byte-order mark), malformed
            WebVTT, or has no customer turn.
    """
    path = Path(path)
    parse = parse_vtt if path.suffix.lower() == ".vtt" else parse_text
    turns = parse(decode_call(path.read_bytes(), path.name), path.name, roles)
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
        raise TranscriptError(f"{name}: not UTF-8 (byte {data[err.start]:#04x} at offset {err.start}); re-export it "
                              "as UTF-8 text") from None
    if not text.strip():
        raise TranscriptError(f"{name}: empty file")
    return text


def check_customer(turns: Sequence[Turn], name: str) -> None:
    """Raise TranscriptError naming ``name`` when no turn is the customer's (with the speakers found), or when every
    customer turn is empty (``Member:`` with nothing after it, or only a note): such a call has nothing to label."""
    mine = [t for t in turns if t.role == CUSTOMER]
    if not mine:
        labels = sorted({t.speaker for t in turns if t.speaker})
        raise TranscriptError(f"{name}: no customer turn (speakers found: {', '.join(labels) or 'none'}); if the "
                              "customer has another label, map it with --speaker LABEL=customer")
    if not any(t.text.strip() for t in mine):
        lines = ", ".join(str(t.line) for t in mine[:10]) + (", ..." if len(mine) > 10 else "")
        raise TranscriptError(
            f"{name}: the customer's side is empty ({len(mine)} customer turn{'s' * (len(mine) > 1)}, none with "
            f"words: line{'s' * (len(mine) > 1)} {lines}); nothing for the model to read, check the export"
        )


def call_files(folder: Path, suffixes: tuple[str, ...]) -> tuple[list[Path], list[str], list, list]:
    """The call files under a folder, subfolders included: every file ending in one of ``suffixes`` in any case.

    Nothing is left out without a word: a hidden call file (``.x.txt``), a link to nothing, a hidden subfolder and a
    link to a folder are listed with the reason they are not read (links to folders are not followed: one may lead
    out of the folder, or round in a loop).

    Returns:
        The call files in natural order (by name, then folder); the other files (named as ignored); ``(path,
        reason)`` for the call files and for the subfolders not read. Paths shown relative to ``folder``.
    """
    calls, others, skipped, folders = [], [], [], []
    for here, subfolders, files in os.walk(folder):
        where = Path(here)
        for name in sorted(subfolders):
            path, shown = where / name, str((where / name).relative_to(folder))
            if name.startswith("."):
                folders.append((shown, "hidden folder (its name starts with '.'); rename it to read its calls"))
            elif path.is_symlink():
                folders.append((shown, "a link to a folder, not followed (a link may lead out of the folder or round "
                                       "in a loop); give its target folder itself, or copy the calls in"))
        subfolders[:] = [n for n in subfolders if not n.startswith(".") and not (where / n).is_symlink()]
        for name in files:
            path = where / name
            shown = str(path.relative_to(folder))
            if path.suffix.lower() not in suffixes:
                others.append(shown)
            elif name.startswith("."):
                skipped.append((shown, "hidden file (its name starts with '.'); rename it without the dot to read it"))
            elif not path.exists():
                skipped.append((shown, f"a link to nothing ({os.readlink(path)} is not there); point it at the call "
                                       "file or remove it"))
            elif not path.is_file():
                skipped.append((shown, "not a regular file; copy the call in as a file"))
            else:
                calls.append(path)
    calls.sort(key=lambda p: (natural_key(p), natural_key(p.parent)))
    return calls, sorted(others), sorted(skipped), sorted(folders)


def read_calls(folder: str | Path, roles: dict[str, str] | None = None, suffixes: tuple[str, ...] = (".txt",)
               ) -> tuple[list[Call], ParseReport]:
    """Every readable call under a folder (subfolders too, ``suffixes`` in any case), in natural file order
    (``transcript_2`` before ``transcript_10``), and a report of what was skipped, ignored, ambiguous or irregular.

    A bad file is skipped and reported, never fatal; so is the second of two files with the same name in different
    subfolders (the same call). ``roles`` as for :func:`parse_text`; :func:`callinsights.data.calls.read_source`
    adds ``.vtt`` to the suffixes.

    Raises:
        FileNotFoundError: The folder does not exist or holds no call file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such folder. Put the call files there, or run `make data` to link the client's copy."
        )
    paths, others, skipped, folders = call_files(folder, suffixes)
    if not paths and not skipped:
        raise FileNotFoundError(f"{folder}: no {' or '.join(suffixes)} call files in this folder or its subfolders"
                                + "".join(f"; {name} not read: {reason}" for name, reason in folders))
    report = ParseReport(ignored=others, suffixes=suffixes, skipped=skipped, folders_skipped=folders)
    calls: list[Call] = []
    seen: dict[str, str] = {}
    for path in paths:
        shown, name = str(path.relative_to(folder)), call_id(path).lower()
        if name in seen:
            report.skipped.append((shown, f"same call name as {seen[name]}; rename one of them"))
            continue
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always", TranscriptWarning)
                call = read_call(path, roles)
        except (TranscriptError, OSError) as err:
            report.skipped.append((shown, str(err).removeprefix(f"{path.name}: ")))
            continue
        report.warnings += [str(w.message) for w in said if issubclass(w.category, TranscriptWarning)]
        for w in (w for w in said if not issubclass(w.category, TranscriptWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        seen[name] = shown
        report.add(call, path.suffix.lower())
        calls.append(call)
    return calls, report


# Reading WebVTT captions (``.vtt``) into speaker turns, as speech-to-text and meeting tools write them.

_HEADER = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME}[ \t]+-->[ \t]+{_TIME}(?:[ \t]+.*)?$")
# `<v Name>`, `<v.loud Name>`; the annotation (the name) may hold spaces.
_VOICE = re.compile(r"^<v(?:\.[^\s.>]+)*(?:[ \t]+(?P<name>[^>]*))?>$")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_KIND = re.compile(r"^(NOTE|STYLE|REGION)(?:[ \t].*)?$")


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, millis = groups
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blocks of non-empty lines, each with the line number (from 1) of its first line."""
    runs = groupby(enumerate(lines, 1), key=lambda numbered: bool(numbered[1].strip()))
    blocks = [list(block) for filled, block in runs if filled]
    return [(block[0][0], [line for _, line in block]) for block in blocks]


def _voices(cue_text: str) -> list[tuple[str | None, str]]:
    """A cue's text split at its voice spans: ``(voice or None, words)`` in order, tags dropped, entities decoded."""
    pieces: list[tuple[str | None, list[str]]] = [(None, [])]
    at = 0
    for tag in _TAG.finditer(cue_text):
        pieces[-1][1].append(cue_text[at:tag.start()])
        at = tag.end()
        voice = _VOICE.match(tag.group())
        if voice:
            pieces.append(((voice["name"] or "").strip(), []))
        elif tag.group().lower() == "</v>":
            pieces.append((None, []))
    pieces[-1][1].append(cue_text[at:])
    out = []
    for voice, parts in pieces:
        words = " ".join(html.unescape("".join(parts)).split())
        if words:
            out.append((voice or None, words))
    return out


def cues(text: str, name: str = "<vtt>") -> list[tuple[str, str | None, str, int]]:
    """The cues and notes of a WebVTT text in file order, as ``(kind, voice, words, line)``: kind ``speech`` (voice
    None when the cue names nobody) or ``note``; line is where its text starts. ``name`` is for messages.

    Raises:
        TranscriptError: The text is not WebVTT or a block is malformed; the message names the line.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not _HEADER.match(lines[0].lstrip("\ufeff")):
        raise TranscriptError(f"{name}: no WEBVTT header (the first line must be 'WEBVTT'); is it a WebVTT file?")
    out: list[tuple[str, str | None, str, int]] = []
    blocks = _blocks(lines)  # the first is the header block: WEBVTT and any metadata lines under it
    under = next((i for i, line in enumerate(blocks[0][1]) if "-->" in line), None)
    if under is not None:
        raise TranscriptError(f"{name}: line {under + 1}: a cue right under the header; put an empty line after "
                              "the WEBVTT line")
    previous = None  # the last cue's (start, end, as written, line)
    for start, block in blocks[1:]:
        kind = _BLOCK_KIND.match(block[0])
        if kind:
            if kind[1] == "NOTE":
                note = " ".join(" ".join([block[0][4:], *block[1:]]).split())
                out.append(("note", None, f"NOTE {note}".strip(), start))
            continue
        timing_at = 0 if "-->" in block[0] else 1
        if len(block) <= timing_at or "-->" not in block[timing_at]:
            raise TranscriptError(f"{name}: line {start}: text outside a cue ({block[0][:60]!r}); every cue needs a "
                                  "'00:00:01.000 --> 00:00:04.000' timing line, and cues an empty line between them")
        timing = _TIMING.match(block[timing_at].strip())
        number = start + timing_at
        if not timing:
            raise TranscriptError(f"{name}: line {number}: cue timing {block[timing_at].strip()[:60]!r} is not "
                                  "'HH:MM:SS.mmm --> HH:MM:SS.mmm' (hours optional); fix the timing")
        begins, ends = _seconds(timing.groups()[:4]), _seconds(timing.groups()[4:])
        if ends < begins:
            raise TranscriptError(f"{name}: line {number}: the cue ends before it starts; fix the timing")
        written = [part.split()[0] for part in block[timing_at].strip().split("-->")]
        if previous is not None and begins < previous[1]:  # before the previous cue starts, or before it ends
            why = (f", at {previous[2][0]}; cues out of order are read in file order, sort them by start time"
                   if begins < previous[0] else
                   f" ends at {previous[2][1]}; overlapping speech is read in file order, check the turns' order")
            warnings.warn(TranscriptWarning(f"{name}: line {number}: the cue {written[0]} --> {written[1]} starts "
                                            f"before the previous cue (line {previous[3]}){why}"), stacklevel=2)
        previous = (begins, ends, written, number)
        body = block[timing_at + 1:]
        extra = next((i for i, line in enumerate(body) if "-->" in line), None)
        if extra is not None:
            raise TranscriptError(f"{name}: line {number + 1 + extra}: a second timing line in one cue; put an "
                                  "empty line between cues")
        # The lines of a cue are one caption wrapped for the screen: joined by a space.
        out += [("speech", voice, words, number + 1) for voice, words in _voices(" ".join(body))]
    if not any(kind == "speech" for kind, *_ in out):
        raise TranscriptError(f"{name}: no cue with text; a call needs at least one cue")
    return out


def parse_vtt(text: str, file: str = "<vtt>", roles: dict[str, str] | None = None) -> list[Turn]:
    """Split a WebVTT call into turns, notes as meta turns (``file`` and ``roles`` as for :func:`parse_text`).

    Raises:
        TranscriptError: The file is malformed, or no cue says who speaks.
    """
    pieces = cues(text, file)
    if not any(voice for _, voice, _, _ in pieces):
        # No voice spans: Zoom and some tools write `Speaker: words` inside the cue instead.
        speech = [(words, number) for kind, _, words, number in pieces if kind == "speech"]
        turns = parse_text("\n".join(words for words, _ in speech), file, roles)
        if not any(t.speaker for t in turns):
            raise TranscriptError(f"{file}: no cue names its speaker (no <v Name> voice, no 'Name: ' label); the "
                                  "customer's words cannot be told from the agent's")
        notes = [Turn(file, 0, "", META, words, "note", number) for kind, _, words, number in pieces
                 if kind == "note"]
        turns = [replace(t, line=speech[t.line - 1][1]) for t in turns]  # the file's line, not the cue's rank
        return [replace(t, turn=i) for i, t in enumerate(notes + turns)]
    table = role_table(roles)
    turns: list[Turn] = []
    for kind, voice, words, number in pieces:
        # A NOTE block, or `[music]`, `(pause)`, `02:36` with nobody speaking.
        meta = "note" if kind == "note" else voice is None and meta_kind(words)
        if meta:
            turns.append(Turn(file, len(turns), "", META, words, meta, number))
            continue
        words, notes = split_notes(words)
        previous = next((t for t in reversed(turns) if t.role != META), None)
        if words and (voice is None or (previous is not None and voice == previous.speaker)):
            _continue(turns, words, file, number)
        elif words:
            turns.append(Turn(file, len(turns), voice, table.get(label_key(voice), UNKNOWN), words, "speech", number))
        _add_notes(turns, notes, file, number)
    return turns

