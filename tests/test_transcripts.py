"""Parsing calls into turns: every irregularity the client's exports have, bad input, and properties."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callinsights.pipelines.cli import main
from callinsights.data.call import AGENT, CUSTOMER, META, UNKNOWN, Call, all_turns, customer_text, turns_frame
from callinsights.data.transcripts import TranscriptError, parse_text, read_call, read_calls


def roles_and_text(turns):
    return [(t.role, t.speaker, t.text) for t in turns]


def test_labels_with_leading_spaces_dots_and_underscores(fixture_calls):
    turns = read_call(fixture_calls / "irregular_labels.txt")
    assert [t.speaker for t in turns] == [
        "Member", "Customer Support", "Member", "Member", "PA Agent", "Technical Support", "Member", "Agent",
    ]
    assert [t.role for t in turns] == [CUSTOMER, AGENT, CUSTOMER, CUSTOMER, AGENT, AGENT, CUSTOMER, AGENT]
    assert turns[4].text == "Yes, it was approved this morning."
    assert customer_text(turns) == (
        "Hi, I'm calling about my claim. My member ID is MEM112233.\n"
        "Okay, thanks.\nIs it approved?\nGreat, that's all I needed."
    )


def test_meta_lines_never_reach_customer_text(fixture_calls):
    turns = read_call(fixture_calls / "meta_lines.txt")
    meta = [(t.kind, t.text) for t in turns if t.role == META]
    assert [k for k, _ in meta] == [
        "timestamp", "timestamp", "direction", "direction", "direction", "direction",
        "duration", "duration", "duration", "duration", "duration", "note", "direction", "note",
    ]
    assert customer_text(turns) == (
        "Hello, my claim CLM998877 was denied and I don't understand why.\n"
        "(sighs) Fine. I'll wait for the callback then."
    )
    speech = " ".join(t.text for t in turns if t.role != META)
    for leaked in ("sentiment", "Duration", "minutes", "02:36", "pending", "unresolved"):
        assert leaked not in speech


def test_claims_review_team_is_an_agent(fixture_calls):
    turns = read_call(fixture_calls / "meta_lines.txt")
    assert ("agent", "Claims Review Team", "We are reviewing it now.") in roles_and_text(turns)


def test_line_without_label_continues_the_previous_turn(fixture_calls):
    turns = read_call(fixture_calls / "continuation.txt")
    assert roles_and_text(turns)[0] == (
        CUSTOMER, "Member", "I have been waiting for three weeks and nobody has called me back."
    )
    assert customer_text(turns).splitlines()[-1] == "Thanks for nothing."


def test_direction_glued_before_a_label_is_split_off():
    turns = parse_text("(pause)Member: Sure.\nAgent: Thanks.")
    assert roles_and_text(turns) == [(META, "", "(pause)"), (CUSTOMER, "Member", "Sure."), (AGENT, "Agent", "Thanks.")]


def test_sentence_final_punctuation_is_kept():
    assert parse_text("Member: Sure.")[0].text == "Sure."


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.txt", "empty file"),
        ("no_customer.txt", "no customer turn"),
        ("latin1.txt", "not UTF-8 (byte 0xe9 at offset 11)"),
        ("binary.txt", "binary content"),
    ],
)
def test_bad_files_raise_a_message_naming_the_file(fixture_calls, name, message):
    with pytest.raises(TranscriptError, match=re.escape(f"{name}: {message}")):
        read_call(fixture_calls / name)


def test_unknown_speaker_is_reported_not_guessed(fixture_calls):
    turns = read_call(fixture_calls / "unknown_speaker.txt")
    assert (UNKNOWN, "Supervisor", "I am the supervisor.") in roles_and_text(turns)
    assert customer_text(turns) == "I need a supervisor.\nThank you."
    mapped = read_call(fixture_calls / "unknown_speaker.txt", roles={"Supervisor": "agent"})
    assert mapped[1].role == AGENT


def test_one_bad_file_never_stops_the_others(fixture_calls):
    calls, report = read_calls(fixture_calls)
    assert {name for name, _ in report.skipped} == {"empty.txt", "no_customer.txt", "latin1.txt", "binary.txt"}
    assert report.files_read == 4
    assert [call.name for call in calls] == ["continuation", "irregular_labels", "meta_lines", "unknown_speaker"]
    assert report.unknown_speakers == [("unknown_speaker.txt", "Supervisor")]
    summary = report.summary()
    assert "read 4 of 8 files (.txt 4); skipped 4:" in summary
    assert "skipped binary.txt: binary content" in summary


def test_folder_without_calls_is_a_clear_error(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(FileNotFoundError, match="no .txt call files"):
        read_calls(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_calls(tmp_path / "missing")


def test_a_call_is_its_turns_with_a_name(fixture_calls):
    call = read_call(fixture_calls / "meta_lines.txt")
    assert isinstance(call, Call) and call.name == "meta_lines" and call.file == "meta_lines.txt"
    assert list(call) == list(call.turns) and call[-1] == call.turns[-1] and len(call) == len(call.turns)
    assert call.customer_text() == customer_text(call.turns) and "Member:" not in call.customer_text()
    meta = [t.text for t in call if t.role == META]
    assert meta and not set(meta) & set(call.text().splitlines())  # the whole-call text leaves meta lines out
    assert len(call.text().splitlines()) == len(call) - len(meta)
    assert Call.of(parse_text("Member: hi", "x.vtt")).name == "x"


def test_calls_keep_their_order_and_turns_in_a_table(fixture_calls):
    calls, _ = read_calls(fixture_calls)
    frame = turns_frame(calls)
    assert len(frame) == len(all_turns(calls)) == sum(len(call) for call in calls)
    assert frame["file"].drop_duplicates().tolist() == [call.file for call in calls]


def test_parse_command_writes_turns_csv(fixture_calls, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "turns.csv"
    assert main(["parse", str(fixture_calls), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["file", "turn", "speaker", "role", "text"]
    assert set(frame["file"]) == {"continuation.txt", "irregular_labels.txt", "meta_lines.txt", "unknown_speaker.txt"}
    err = capsys.readouterr().err
    assert "skipped empty.txt: empty file" in err and "'Supervisor'" in err


def test_parse_command_on_a_missing_folder_fails_cleanly(tmp_path, capsys):
    assert main(["parse", str(tmp_path / "nope"), "--out", str(tmp_path / "t.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err


# --- properties -------------------------------------------------------------------------------------------------

_LABELS = {CUSTOMER: ["Member", " Member", ".Member"], AGENT: ["PA Agent", "Customer Support", "_Agent", "Technical Support"]}
# Text on one line: no characters str.splitlines() breaks on.
_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parsing_never_crashes_on_arbitrary_text(text):
    turns = parse_text(text)
    assert all(t.role in (CUSTOMER, AGENT, META, UNKNOWN) for t in turns)
    assert [t.turn for t in turns] == list(range(len(turns)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([CUSTOMER, AGENT, META]), st.integers(0, 3), _LINE_TEXT), min_size=1, max_size=12
    )
)
def test_agent_and_meta_lines_never_get_the_customer_role(lines):
    rendered, expected = [], []
    for role, pick, text in lines:
        words = text.strip()
        if role == META:
            rendered.append(f"({words.replace('(', '').replace(')', '')})")
        else:
            labels = _LABELS[role]
            rendered.append(f"{labels[pick % len(labels)]}: {words}")
        expected.append(role)
    turns = parse_text("\n".join(rendered))
    # Every customer turn comes from a customer line: same count, and no agent/meta line became customer.
    assert sum(t.role == CUSTOMER for t in turns) <= expected.count(CUSTOMER)
    for t in turns:
        if t.role == CUSTOMER:
            assert t.speaker == "Member"


# --- the client's 200 calls (skipped when data/ does not hold them) ----------------------------------------------


def test_client_calls_customer_turns_are_exactly_the_member_lines(client_calls):
    """An independent reading: every line whose label is Member (after debris) is a customer turn, in order."""
    member_line = re.compile(r"^\s*[._]?\s*Member:\s*(.*?)\s*$")
    read, report = read_calls(client_calls)
    assert report.files_read == 200 and not report.skipped and not report.unknown_speakers
    calls = {call.name: call for call in read}
    for path in client_calls.glob("*.txt"):
        expected = [m[1] for line in path.read_text().splitlines() if (m := member_line.match(line))]
        got = [t.text for t in calls[path.stem] if t.role == CUSTOMER]
        assert got == expected, path.name


def test_client_calls_no_meta_line_in_customer_text(client_calls):
    calls, _ = read_calls(client_calls)
    for call in calls:
        text = call.customer_text()
        assert not re.search(r"(?im)^\s*\(?(note|call duration|duration|elapsed time)\b|^\d\d:\d\d|sentiment of", text), call.name


# --- hostile inputs (issue 14) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Note - The sentiment of the conversation is positive.",
        "note: customer happy, issue resolved",
        "NOTE: resolved",
        "[Note - follow-up needed]",
        "(Note: The customer is negative.)",
        "Exporter's note: resolved",
        "NB: sentiment positive",
    ],
)
def test_exporter_notes_in_other_spellings_are_meta(line):
    turns = parse_text(f"Member: I need help.\n{line}\nAgent: Sure.")
    assert [t.role for t in turns] == [CUSTOMER, META, AGENT]
    assert turns[1].kind == "note" and turns[1].text == line
    assert customer_text(turns) == "I need help."


@pytest.mark.parametrize("note", ["(Note: The sentiment is positive.)", "[note - resolved]", "(NOTE: negative"])
def test_a_bracketed_note_at_the_end_of_a_member_line_is_split_off(note):
    turns = parse_text(f"Member: Thanks, bye. {note}\nAgent: Bye.")
    assert roles_and_text(turns)[:2] == [(CUSTOMER, "Member", "Thanks, bye."), (META, "", note)]
    assert turns[1].kind == "note"


def test_a_note_inside_speech_is_reported_not_guessed(tmp_path):
    (tmp_path / "call.txt").write_text("Member: Okay. note: sentiment positive\nAgent: Bye.\nMember: That's note-worthy.\n")
    calls, report = read_calls(tmp_path)
    assert [call.customer_text() for call in calls] == ["Okay. note: sentiment positive\nThat's note-worthy."]  # kept, not guessed
    assert report.ambiguous == [("call.txt", "Okay. note: sentiment positive")]
    assert "may hold an exporter's note" in report.summary()


def test_subfolders_any_case_of_txt_and_utf16_are_read_and_others_named(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.txt").write_text("Member: one\n")
    (tmp_path / "sub" / "B.TXT").write_text("Member: two\n")
    (tmp_path / "sub" / "deeper" / "c.Txt").write_bytes(b"\xff\xfe" + "Member: caf\u00e9 three\n".encode("utf-16-le"))
    (tmp_path / "sub" / "d.txt").write_bytes(b"\xfe\xff" + "Member: four\n".encode("utf-16-be"))
    (tmp_path / "notes.docx").write_text("x")
    calls, report = read_calls(tmp_path)
    assert {call.name: call.customer_text() for call in calls} == {
        "a": "one", "B": "two", "c": "caf\u00e9 three", "d": "four"}
    assert report.skipped == [] and report.ignored == ["notes.docx"]
    assert "ignored 1 file(s) not ending in .txt: notes.docx" in report.summary()


def test_a_second_file_with_the_same_call_name_is_skipped_and_named(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "call.txt").write_text("Member: one\n")
    (tmp_path / "x" / "call.txt").write_text("Member: two\n")
    calls, report = read_calls(tmp_path)
    assert [call.customer_text() for call in calls] == ["one"]
    assert report.skipped == [(str(Path("x") / "call.txt"), "same call name as call.txt; rename one of them")]


def test_a_broken_utf16_file_is_named(tmp_path):
    (tmp_path / "w.txt").write_bytes(b"\xff\xfe" + "Member: hi\n".encode("utf-16-le") + b"\x00")
    with pytest.raises(TranscriptError, match="w.txt: starts with a UTF-16-LE byte-order mark"):
        read_call(tmp_path / "w.txt")


def test_parse_redacts_by_default_and_neutralises_formulas(tmp_path, capsys):
    import pandas as pd

    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "c.txt").write_text(
        "Member: Hi, this is Maria Lopez, SSN 123-45-6789.\nAgent: =HYPERLINK(\"x\")\nMember: -fine\n")
    out = tmp_path / "turns.csv"
    assert main(["parse", str(tmp_path / "calls"), "--out", str(out)]) == 0
    text = list(pd.read_csv(out)["text"])
    assert text == ["Hi, this is [NAME], SSN [SSN].", "'=HYPERLINK(\"x\")", "'-fine"]
    assert "redacted" in capsys.readouterr().out
    assert main(["parse", str(tmp_path / "calls"), "--out", str(out), "--no-redact"]) == 0
    assert "Maria Lopez" in out.read_text()


# --- speaker labels nobody mapped, timestamps, case and spacing (issue 23) ---------------------------------------

SPEAKERS = Path(__file__).parent / "fixtures" / "speakers"
DENIED = "Your claim is denied, there is nothing more we can do."


def test_an_unrecognised_label_is_its_own_unknown_turn_never_the_previous_speakers():
    call = read_call(SPEAKERS / "claim_denied.txt")
    assert [(t.role, t.speaker) for t in call if t.role != META] == [
        (CUSTOMER, "Member"), (UNKNOWN, "Agent 2"), (UNKNOWN, "Dr. Smith"), (UNKNOWN, "Customer Support (Jane)"),
        (CUSTOMER, "member"), (CUSTOMER, "Member"), (CUSTOMER, "MEMBER"), (AGENT, "PA Agent"), (CUSTOMER, "Member")]
    # The agent's denial is nobody's evidence; the customer's words after a timestamp or in lower case are kept.
    assert call.customer_text() == ("Hi, I'm calling about my claim.\nThat is not acceptable.\n"
                                    "I want this escalated today.\nI have waited three weeks.\nThank you.")
    assert DENIED not in call.customer_text()
    assert [t.text for t in call if t.kind == "timestamp"] == ["[00:00:02]", "[00:01:05]", "[00:01:30]"]


def test_every_unrecognised_line_is_reported_with_file_and_line(tmp_path, capsys):
    calls, report = read_calls(SPEAKERS)
    assert report.unknown_lines == [("claim_denied.txt", 2, "Agent 2"), ("claim_denied.txt", 3, "Dr. Smith"),
                                    ("claim_denied.txt", 4, "Customer Support (Jane)")]
    summary = report.summary()
    for said in ("claim_denied.txt line 2: 'Agent 2'", "claim_denied.txt line 3: 'Dr. Smith'",
                 "claim_denied.txt line 4: 'Customer Support (Jane)'", "--speaker LABEL=ROLE"):
        assert said in summary
    # --speaker maps the rest, in any case and spacing; what is mapped is no longer reported.
    out = tmp_path / "turns.csv"
    assert main(["parse", str(SPEAKERS), "--out", str(out), "--no-redact", "--speaker", "agent  2=agent",
                 "--speaker", "Dr. Smith=agent", "--speaker", "Customer Support (Jane)=agent"]) == 0
    assert "unknown speaker" not in capsys.readouterr().err
    import pandas as pd

    frame = pd.read_csv(out)
    assert set(frame.loc[frame["speaker"].isin(["Agent 2", "Dr. Smith", "Customer Support (Jane)"]), "role"]) == {
        AGENT}


def test_a_line_without_a_label_still_continues_the_turn_and_a_colon_in_words_is_no_label():
    turns = parse_text("Member: I was told to call at 10:30\nand nobody answered.\nAgent: See https://x.org today.")
    assert roles_and_text(turns) == [(CUSTOMER, "Member", "I was told to call at 10:30 and nobody answered."),
                                     (AGENT, "Agent", "See https://x.org today.")]


_CUSTOMER_LABELS = ["Member", "Customer", "Caller"]
_AGENT_LABELS = ["PA Agent", "Agent", "Customer Support", "Technical Support", "Claims Review Team", "Representative"]
_STRANGERS = ["Agent 2", "Dr. Smith", "Customer Support (Jane)", "Supervisor", "Nurse O'Neil", "Agent #3",
              "Mr Lee-Park", "Interpreter"]
_STAMPS = ["", "[00:01:05] ", "00:01:05 ", "(01:05) ", "[1:02:03.250] ", "00:12 - ", "[00:00:09]"]
_WORDS = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'", min_size=1, max_size=8),
                  min_size=1, max_size=8).map(" ".join).map(lambda s: s + ".")


@st.composite
def spelled_line(draw) -> tuple[str, str, str, str]:
    """``(role, label as spelled, line, words)``: a label in any case and spacing, maybe after a timestamp."""
    role = draw(st.sampled_from([CUSTOMER, AGENT, UNKNOWN]))
    label = draw(st.sampled_from({CUSTOMER: _CUSTOMER_LABELS, AGENT: _AGENT_LABELS, UNKNOWN: _STRANGERS}[role]))
    label = draw(st.sampled_from(["  ", " ", "\t"])).join(draw(st.sampled_from([str, str.lower, str.upper]))(
        label).split(" "))
    stamp = draw(st.sampled_from(_STAMPS))
    before = draw(st.sampled_from(["", " ", ".", "_", " . "])) if not stamp else draw(st.sampled_from(["", "  "]))
    colon = draw(st.sampled_from([":", " :", ":  ", ": ", "\t:\t"]))
    words = draw(_WORDS)
    return role, label, f"{before}{stamp}{label}{colon}{words}", words


@settings(max_examples=300, deadline=None)
@given(st.lists(spelled_line(), min_size=1, max_size=10))
def test_speaker_labels_in_any_spelling_go_to_their_speaker_and_strangers_never_to_the_customer(lines):
    turns = [t for t in parse_text("\n".join(line for _, _, line, _ in lines)) if t.role != META]
    assert [(t.role, t.speaker, t.text) for t in turns] == [
        (role, " ".join(label.split()), words) for role, label, _, words in lines]
    assert customer_text(turns) == "\n".join(words for role, _, _, words in lines if role == CUSTOMER)
    # --speaker maps the strangers, in whatever spelling the map is written.
    mapped = parse_text("\n".join(line for _, _, line, _ in lines), roles={s.upper(): AGENT for s in _STRANGERS})
    assert [t.role for t in mapped if t.role != META] == [AGENT if role == UNKNOWN else role for role, *_ in lines]


# --- exporter notes inside a line (issue 23) ---------------------------------------------------------------------


def test_a_note_in_the_middle_of_a_line_takes_only_itself_to_meta_and_the_words_stay():
    call = read_call(Path(__file__).parent / "fixtures" / "notes" / "notes_inside.txt")
    assert call.customer_text() == ("Hi, my claim was denied again.\n"
                                    "Hmm. Anyway, my claim was denied and I am furious.\n"
                                    "Thanks.\nBye for now, that's note-worthy.")
    assert [t.text for t in call if t.kind == "note"] == [
        "(Note: caller was on hold)", "(Note- sentiment positive, resolved)", "(Note- sentiment positive, resolved)",
        "[Note\u2014 agent (Jane) was rude]", "[note: pending (callback)]"]
    assert "sentiment" not in call.text() and "hold" not in call.text()


@pytest.mark.parametrize("line", ["Member: Okay. (Note- resolved", "Member: Okay. (Note- resolved) ",
                                  "Member: Okay.(NOTE-resolved)"])
def test_a_note_whose_dash_follows_the_word_is_still_a_note(line):
    turns = parse_text(line)
    assert customer_text(turns) == "Okay." and [t.kind for t in turns] == ["speech", "note"]


# --- nothing dropped without a word (issue 23) -------------------------------------------------------------------


@pytest.fixture
def drops(tmp_path) -> Path:
    """The drops fixture with a link to a folder of calls and a link to nothing (links are made here, not in git)."""
    folder = tmp_path / "drops"
    shutil.copytree(Path(__file__).parent / "fixtures" / "drops", folder)
    (folder / "linked").symlink_to(Path(__file__).parent / "fixtures" / "notes", target_is_directory=True)
    (folder / "gone.txt").symlink_to("missing.txt")
    return folder


def test_every_file_left_out_is_named_with_its_reason_and_the_counts_add_up(drops):
    calls, report = read_calls(drops)
    assert [call.name for call in calls] == ["ok"]
    assert dict(report.skipped) == {
        ".copy.txt": "hidden file (its name starts with '.'); rename it without the dot to read it",
        "empty_customer.txt": "the customer's side is empty (2 customer turns, none with words: lines 2, 4); "
                              "nothing for the model to read, check the export",
        "gone.txt": "a link to nothing (missing.txt is not there); point it at the call file or remove it",
    }
    assert dict(report.folders_skipped) == {
        ".checkpoints": "hidden folder (its name starts with '.'); rename it to read its calls",
        "linked": "a link to a folder, not followed (a link may lead out of the folder or round in a loop); give "
                  "its target folder itself, or copy the calls in",
    }
    assert report.ignored == [".export.log"]
    summary = report.summary()
    assert "read 1 of 4 files (.txt 1); skipped 3:" in summary
    for name in (".copy.txt", "empty_customer.txt", "gone.txt", ".checkpoints", "linked", ".export.log"):
        assert name in summary


def test_parse_names_every_file_and_folder_left_out(drops, tmp_path, capsys):
    assert main(["parse", str(drops), "--out", str(tmp_path / "t.csv")]) == 0
    err = capsys.readouterr().err
    assert "read 1 of 4 files" in err and "skipped empty_customer.txt: the customer's side is empty" in err
    assert "not read: folder linked: a link to a folder" in err and "not read: folder .checkpoints: hidden" in err
