"""Reading WebVTT captions (``.vtt``) into speaker turns, as speech-to-text and meeting tools write them.

A WebVTT file starts with a ``WEBVTT`` line; after an empty line come blocks separated by empty lines: cues
(an optional id line, a timing line ``00:00:01.000 --> 00:00:04.000`` with optional settings, then one or more lines
of text), ``NOTE`` comments, and ``STYLE``/``REGION`` blocks. Who speaks is a voice span, ``<v Speaker Name>words</v>``
(the closing tag may be left out; one cue may hold several voices). How this reader turns them into turns:

- A voice is a speaker label and gets its role by the same rules as the ``.txt`` labels
  (:data:`callinsights.data.transcripts.SPEAKER_ROLES`: ``Member`` -> customer, ``Agent`` -> agent, ...), with
  ``--speaker LABEL=ROLE`` for the rest; an unknown voice gets role ``unknown`` and is reported.
- Cues cut where the captioning tool chose, not where the speaker changed, so consecutive cues of one voice are one
  turn (joined by a space), as are the lines of one cue.
- Cue text with no voice continues the previous speaker's turn; before any speaker it is set aside as meta
  (``continuation``) and counted in the parse report. A file with no voice at all (Zoom's style) is read from
  ``Speaker: words`` lines as a ``.txt`` call is; if it has none either, it is refused, since nobody can tell the
  customer's words from the agent's.
- ``NOTE`` blocks are comments by whoever made the file: meta turns, never speech (a note may state the answer).
- Other tags (``<c>``, ``<i>``, ``<b>``, ``<u>``, ``<lang>``, ``<ruby>``, inline timestamps) are dropped and entities
  (``&amp;``, ``&lt;``, ...) decoded.

A malformed file (no header, a timing that is not ``start --> end``, text outside a cue, a cue ending before it
starts) is refused with the line and what to fix; :func:`callinsights.data.transcripts.read_calls` skips it, names
the reason, and reads the rest of the folder.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

# The .txt reader's own rules for what is not speech, so that a caption and a text line are judged alike.
from callinsights.data.call import META, UNKNOWN, Call, Turn
from callinsights.data.transcripts import (TranscriptError, check_customer, role_table, decode_call, meta_kind,
                                           parse_text, split_note)

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
    blocks, current, start = [], [], 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


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


def cues(text: str, name: str = "<vtt>") -> list[tuple[str, str | None, str]]:
    """The cues and notes of a WebVTT text, in file order.

    Args:
        text: The whole file as text.
        name: File name for messages.

    Returns:
        ``(kind, voice, words)`` per piece: kind ``speech`` (voice None when the cue names nobody) or ``note``.

    Raises:
        TranscriptError: The text is not WebVTT or a block is malformed; the message names the line.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not _HEADER.match(lines[0].lstrip("\ufeff")):
        raise TranscriptError(f"{name}: no WEBVTT header (the first line must be 'WEBVTT'); is it a WebVTT file?")
    out: list[tuple[str, str | None, str]] = []
    blocks = _blocks(lines)  # the first is the header block: WEBVTT and any metadata lines under it
    under = next((i for i, line in enumerate(blocks[0][1]) if "-->" in line), None)
    if under is not None:
        raise TranscriptError(f"{name}: line {under + 1}: a cue right under the header; put an empty line after "
                              "the WEBVTT line")
    for start, block in blocks[1:]:
        kind = _BLOCK_KIND.match(block[0])
        if kind:
            if kind[1] == "NOTE":
                note = " ".join(" ".join([block[0][4:], *block[1:]]).split())
                out.append(("note", None, f"NOTE {note}".strip()))
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
        if _seconds(timing.groups()[4:]) < _seconds(timing.groups()[:4]):
            raise TranscriptError(f"{name}: line {number}: the cue ends before it starts; fix the timing")
        body = block[timing_at + 1:]
        extra = next((i for i, line in enumerate(body) if "-->" in line), None)
        if extra is not None:
            raise TranscriptError(f"{name}: line {number + 1 + extra}: a second timing line in one cue; put an "
                                  "empty line between cues")
        # The lines of a cue are one caption wrapped for the screen: joined by a space.
        out += [("speech", voice, words) for voice, words in _voices(" ".join(body))]
    if not any(kind == "speech" for kind, _, _ in out):
        raise TranscriptError(f"{name}: no cue with text; a call needs at least one cue")
    return out


def parse_vtt(text: str, file: str = "<vtt>", roles: dict[str, str] | None = None) -> list[Turn]:
    """Split a WebVTT call into turns (see the module's rules).

    Args:
        text: The whole file as text.
        file: Name recorded in every turn (and named in messages).
        roles: Extra or overriding ``label -> role`` entries (labels matched case-insensitively).

    Returns:
        The turns in order, notes as meta turns.

    Raises:
        TranscriptError: The file is malformed, or no cue says who speaks.
    """
    pieces = cues(text, file)
    if not any(voice for _, voice, _ in pieces):
        # No voice spans: Zoom and some tools write `Speaker: words` inside the cue instead.
        speech = [words for kind, _, words in pieces if kind == "speech"]
        turns = parse_text("\n".join(speech), file, roles)
        if not any(t.speaker for t in turns):
            raise TranscriptError(f"{file}: no cue names its speaker (no <v Name> voice, no 'Name: ' label); the "
                                  "customer's words cannot be told from the agent's")
        notes = [Turn(file, 0, "", META, words, "note") for kind, _, words in pieces if kind == "note"]
        return [Turn(file, i, t.speaker, t.role, t.text, t.kind) for i, t in enumerate(notes + turns)]
    table = role_table(roles)
    turns: list[Turn] = []
    for kind, voice, words in pieces:
        previous = next((t for t in reversed(turns) if t.role != META), None)
        if kind == "note":
            turns.append(Turn(file, len(turns), "", META, words, "note"))
            continue
        if voice is None and meta_kind(words):  # `[music]`, `(pause)`, `02:36` with nobody speaking
            turns.append(Turn(file, len(turns), "", META, words, meta_kind(words)))
            continue
        words, note = split_note(words)
        if words and previous is not None and (voice is None or voice == previous.speaker):
            turns[previous.turn] = Turn(file, previous.turn, previous.speaker, previous.role,
                                        f"{previous.text} {words}", previous.kind)
        elif words and voice is None:
            turns.append(Turn(file, len(turns), "", META, words, "continuation"))
        elif words:
            turns.append(Turn(file, len(turns), voice, table.get(voice.lower(), UNKNOWN), words, "speech"))
        if note:
            turns.append(Turn(file, len(turns), "", META, note, "note"))
    return turns


def read_vtt(path: str | Path, roles: dict[str, str] | None = None) -> Call:
    """Read one ``.vtt`` call.

    Args:
        path: The WebVTT file.
        roles: Extra ``label -> role`` entries, see :func:`parse_vtt`.

    Raises:
        TranscriptError: Empty, binary or undecodable (as for ``.txt`` calls), malformed WebVTT, or no customer turn.
    """
    path = Path(path)
    turns = parse_vtt(decode_call(path.read_bytes(), path.name), path.name, roles)
    check_customer(turns, path.name)
    return Call.of(turns)
