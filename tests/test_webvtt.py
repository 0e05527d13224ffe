"""WebVTT calls (``.vtt``): the same words as the ``.txt`` original, voices as speakers, notes set aside, a malformed
file skipped with its reason while the rest of the folder is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from callinsights.data.calls import read_source
from callinsights.data.call import AGENT, CUSTOMER, META, UNKNOWN, call_text, customer_text
from callinsights.data.transcripts import TranscriptError, parse_vtt, read_call
from callinsights.pipelines.cli import EXIT_BAD_INPUT, EXIT_OK, main

FIXTURES = Path(__file__).parent / "fixtures"
VTT = FIXTURES / "vtt"
HEADER = "WEBVTT\n\n"


def cue(start: str, end: str, text: str) -> str:
    return f"{start} --> {end}\n{text}\n\n"


@pytest.mark.parametrize("name", ["angry_unsolved", "delighted_fixed"])
def test_a_webvtt_copy_of_a_call_gives_the_words_of_its_txt_original(name):
    # angry_unsolved: voice spans, cue ids, cue settings, a voice class, multi-line cues, one turn cut over two
    # cues, text after </v>, a voiceless last cue, <c> tags, NOTE blocks. delighted_fixed: Zoom's `Name: words`.
    vtt, txt = read_call(VTT / f"{name}.vtt"), read_call(FIXTURES / "model_calls" / f"{name}.txt")
    assert customer_text(vtt) == customer_text(txt)
    assert call_text(vtt) == call_text(txt)
    assert [t.role for t in vtt if t.role != META] == [t.role for t in txt if t.role != META]


def test_note_blocks_are_meta_and_never_reach_the_customer_text():
    turns = read_call(VTT / "angry_unsolved.vtt")
    notes = [t.text for t in turns if t.role == META]
    assert notes[0].startswith("NOTE Exported by the captioning tool. The sentiment of this call is negative")
    assert "sentiment" not in customer_text(turns) and "NOTE" not in call_text(turns)


def test_voices_take_the_txt_roles_and_an_unknown_voice_is_mapped_with_speaker():
    text = (HEADER + cue("00:01.000", "00:02.000", "<v PA Agent>Hello.</v>")
            + cue("00:02.000", "00:03.000", "<v Caller>Hi, I need help.")
            + cue("00:03.000", "00:04.000", "<v Supervisor>I can help."))
    turns = parse_vtt(text, "x.vtt")
    assert [(t.speaker, t.role) for t in turns] == [("PA Agent", AGENT), ("Caller", CUSTOMER), ("Supervisor", UNKNOWN)]
    mapped = parse_vtt(text, "x.vtt", roles={"supervisor": "agent"})
    assert mapped[2].role == AGENT


def test_one_cue_may_hold_two_voices_and_entities_are_decoded():
    text = HEADER + cue("00:00:01.000", "00:00:02.000",
                        "<v Agent>Anything else?</v> <v Member>No &amp; thanks &lt;3</v>")
    turns = parse_vtt(text, "x.vtt")
    assert [(t.role, t.text) for t in turns] == [(AGENT, "Anything else?"), (CUSTOMER, "No & thanks <3")]


def test_text_with_no_voice_continues_the_speaker_or_is_set_aside():
    text = HEADER + cue("00:01.000", "00:02.000", "Welcome to the call.") + cue(
        "00:02.000", "00:03.000", "<v Member>My card was charged twice.") + cue(
        "00:03.000", "00:04.000", "And nobody called back.") + cue("00:04.000", "00:05.000", "[music]") + cue(
        "00:05.000", "00:06.000", "<v Agent>Sorry about that. (Note: customer sounds upset)")
    turns = parse_vtt(text, "x.vtt")
    assert [(t.role, t.kind, t.text) for t in turns] == [
        (META, "continuation", "Welcome to the call."),  # before any speaker: nobody to give it to
        (CUSTOMER, "speech", "My card was charged twice. And nobody called back."),
        (META, "direction", "[music]"),
        (AGENT, "speech", "Sorry about that."),
        (META, "note", "(Note: customer sounds upset)"),  # the .txt reader's trailing-note rule
    ]


@pytest.mark.parametrize(("content", "reason"), [
    ("Member: hello\n", "no WEBVTT header"),
    (HEADER + cue("00:00:01,000", "00:00:02,000", "<v Member>hi"),
     "line 3: cue timing '00:00:01,000 --> 00:00:02,000'"),
    (HEADER + "1\n<v Member>hi\n", "line 3: text outside a cue ('1')"),
    (HEADER + cue("00:00:05.000", "00:00:02.000", "<v Member>hi"), "line 3: the cue ends before it starts"),
    ("WEBVTT\n00:01.000 --> 00:02.000\n<v Member>hi\n", "line 2: a cue right under the header"),
    (HEADER + "00:01.000 --> 00:02.000\n<v Member>hi\n00:02.000 --> 00:03.000\n<v Member>again\n",
     "line 5: a second timing line in one cue"),
    (HEADER + "NOTE only a note\n", "no cue with text"),
    (HEADER + cue("00:01.000", "00:02.000", "hello there"), "no cue names its speaker"),
    (HEADER + cue("00:01.000", "00:02.000", "<v Agent>hello"), "no customer turn (speakers found: Agent)"),
    ("", "empty file"),
])
def test_a_malformed_vtt_is_refused_with_its_line_and_what_to_fix(tmp_path, content, reason):
    path = tmp_path / "bad.vtt"
    path.write_text(content)
    with pytest.raises(TranscriptError) as err:
        read_call(path)
    assert str(err.value).startswith(f"bad.vtt: {reason}"), str(err.value)


def test_a_bad_vtt_is_skipped_with_its_reason_and_the_rest_of_the_folder_is_read(tmp_path):
    shutil.copy(FIXTURES / "model_calls" / "neutral_address.txt", tmp_path)
    (tmp_path / "sub").mkdir()
    shutil.copy(VTT / "angry_unsolved.vtt", tmp_path / "sub" / "Angry_Unsolved.VTT")
    (tmp_path / "broken.vtt").write_text("Member: no header here\n")
    (tmp_path / "captions.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    calls, report = read_source(tmp_path)
    assert [call.name for call in calls] == ["Angry_Unsolved", "neutral_address"]
    assert report.skipped == [("broken.vtt",
                               "no WEBVTT header (the first line must be 'WEBVTT'); is it a WebVTT file?")]
    summary = report.summary()
    assert summary.startswith("read 2 of 3 files (.txt 1, .vtt 1); skipped 1:\n  skipped broken.vtt: no WEBVTT header")
    assert "ignored 1 file(s) not ending in .txt or .vtt: captions.srt" in summary
    assert report.irregular == {"note": 2}


def test_a_txt_and_a_vtt_of_the_same_call_are_one_call_and_the_second_is_named(tmp_path):
    shutil.copy(FIXTURES / "model_calls" / "angry_unsolved.txt", tmp_path)
    shutil.copy(VTT / "angry_unsolved.vtt", tmp_path)
    calls, report = read_source(tmp_path)
    assert len(calls) == 1
    assert [reason for _, reason in report.skipped] == ["same call name as angry_unsolved.txt; rename one of them"]


def test_parse_writes_the_turns_of_vtt_calls_and_says_what_it_read(tmp_path, capsys):
    shutil.copy(VTT / "delighted_fixed.vtt", tmp_path)
    (tmp_path / "broken.vtt").write_text(HEADER + cue("00:00:01.000", "00:00:02", "<v Member>hi"))
    out = tmp_path / "out" / "turns.csv"
    assert main(["parse", str(tmp_path), "--out", str(out), "--no-redact"]) == EXIT_OK
    said = capsys.readouterr().err
    assert "read 1 of 2 files (.vtt 1); skipped 1:" in said and "skipped broken.vtt: line 3: cue timing" in said
    frame = pd.read_csv(out)
    assert set(frame["file"]) == {"delighted_fixed.vtt"}
    assert frame.loc[frame["role"] == "customer", "text"].iloc[-1].startswith("No, that's everything.")


def test_a_folder_of_only_bad_vtt_files_writes_nothing(tmp_path, capsys):
    (tmp_path / "a.vtt").write_text("hello\n")
    out = tmp_path / "turns.csv"
    assert main(["parse", str(tmp_path), "--out", str(out)]) == EXIT_BAD_INPUT
    assert "no call file could be read" in capsys.readouterr().err and not out.exists()


def test_overlapping_and_out_of_order_cues_are_read_in_file_order_with_a_warning_naming_file_and_cue(capsys):
    from callinsights.data.transcripts import TranscriptWarning

    with pytest.warns(TranscriptWarning) as said:
        call = read_call(FIXTURES / "vtt_order" / "crossed.vtt")
    assert call.customer_text() == "My claim was denied and nobody called me back.\nThank you."
    messages = [str(w.message) for w in said]
    assert messages == [
        "crossed.vtt: line 8: the cue 00:00:03.500 --> 00:00:08.000 starts before the previous cue (line 4) ends at "
        "00:00:04.000; overlapping speech is read in file order, check the turns' order",
        "crossed.vtt: line 16: the cue 00:00:06.000 --> 00:00:07.000 starts before the previous cue (line 12), at "
        "00:00:09.000; cues out of order are read in file order, sort them by start time"]
    # A folder read lists them in its report, and parse says them.
    calls, report = read_source(FIXTURES / "vtt_order")
    assert report.warnings == messages and "crossed.vtt: line 16: the cue" in report.summary()
