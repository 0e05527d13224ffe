"""Turn tables (CSV, JSON Lines, Parquet) as input: the calls ``parse`` wrote read back word for word, roles from the
speaker labels when the table has none, every bad row or call named while the others are read, and a table that
cannot be read at all refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from callinsights.data.calls import read_source
from callinsights.data.call import AGENT, CUSTOMER, META, TURN_COLUMNS, UNKNOWN, all_turns, customer_text, turns_frame
from callinsights.data.transcripts import read_calls
from callinsights.data.calls import TurnTableError, read_turn_table
from callinsights.pipelines.cli import EXIT_BAD_INPUT, EXIT_OK, main

FIXTURES = Path(__file__).parent / "fixtures"
MODEL_CALLS = FIXTURES / "model_calls"


def write(frame: pd.DataFrame, path: Path) -> Path:
    """The table in the format its suffix names, as another tool would write it."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.to_dict("records")))
    else:
        frame.to_parquet(path, index=False)
    return path


def texts(calls) -> dict[str, tuple[str, str]]:
    return {call.name: (call.customer_text(), call.text()) for call in calls}


def test_the_calls_parse_wrote_read_back_as_the_folder_reads_them(tmp_path, capsys):
    out = tmp_path / "turns.csv"
    assert main(["parse", str(FIXTURES / "calls"), "--out", str(out), "--no-redact"]) == EXIT_OK
    folder_calls, _ = read_calls(FIXTURES / "calls")
    calls, report = read_source(out)
    turns = all_turns(calls)
    assert texts(calls) == texts(folder_calls)
    assert [t.role for t in turns] == [t.role for t in all_turns(folder_calls)]  # meta rows too, in order
    assert report.files_read == 4 and not report.skipped and not report.bad_rows
    assert report.unknown_speakers == [("unknown_speaker.txt", "Supervisor")]
    assert report.summary().startswith("read 4 of 4 calls in turns.csv")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_gives_the_customer_text_of_the_txt_calls(tmp_path, suffix):
    folder_calls, _ = read_calls(MODEL_CALLS)
    frame = turns_frame(folder_calls)[TURN_COLUMNS].sample(frac=1, random_state=0)  # rows in any order
    calls, report = read_turn_table(write(frame, tmp_path / f"calls{suffix}"))
    assert texts(calls) == texts(folder_calls)
    assert [call.name for call in calls] == sorted(p.stem for p in MODEL_CALLS.glob("*.txt"))
    assert report.summary() == f"read 4 of 4 calls in calls{suffix}"


def test_without_a_role_column_roles_come_from_the_labels_and_speaker_maps_the_rest(tmp_path):
    rows = pd.DataFrame({"File": ["c.txt"] * 3, "Turn": [0, 1, 2], "Speaker": ["Representative", "Caller", "Boss"],
                         "Text": ["Hello.", "My claim was denied.", "I can help."]})
    path = write(rows, tmp_path / "t.csv")
    calls, report = read_turn_table(path)
    turns = all_turns(calls)
    assert [t.role for t in turns] == [AGENT, CUSTOMER, UNKNOWN]
    assert report.unknown_speakers == [("c.txt", "Boss")] and "--speaker LABEL=ROLE" in report.summary()
    calls, _ = read_turn_table(path, roles={"Boss": "agent"})
    turns = all_turns(calls)
    assert [t.role for t in turns] == [AGENT, CUSTOMER, AGENT]
    # A role parse wrote as unknown is mapped now; a role given is kept.
    rows["role"] = ["agent", "customer", "unknown"]
    calls, _ = read_turn_table(write(rows, tmp_path / "t.jsonl"), roles={"boss": "agent"})
    turns = all_turns(calls)
    assert [t.role for t in turns] == [AGENT, CUSTOMER, AGENT]


def test_bad_rows_and_calls_are_named_and_the_other_calls_read(tmp_path):
    rows = pd.DataFrame([
        ("good.txt", "0", "Agent", "How can I help?"),
        ("good.txt", "1", "Member", "My card was charged twice."),
        ("good.txt", "2", "Member", ""),                                # no text
        ("good.txt", "two", "Member", "Thanks."),                       # turn not a number
        ("", "3", "Member", "Whose words?"),                            # no call
        ("good.txt", "4", "", "Nobody said this."),                     # no speaker, no role
        ("agents.txt", "0", "Agent", "Hello?"),                         # no customer turn
        ("empty.txt", "0", "Member", "   "),                            # every row bad
        ("good.txt", "5", "Member", "Bye. (Note: the customer is happy)"),
    ], columns=["file", "turn", "speaker", "text"])
    calls, report = read_turn_table(write(rows, tmp_path / "t.csv"))
    turns = all_turns(calls)
    assert customer_text(turns) == "My card was charged twice.\nBye."
    assert [t.text for t in turns if t.role == META] == ["(Note: the customer is happy)"]
    assert report.bad_rows == [
        ("row 3 (good, turn 2)", "no text"),
        ("row 4 (good, turn two)", "turn 'two' is not a whole number"),
        ("row 5", "no file name: the row belongs to no call"),
        ("row 6 (good, turn 4)", "no speaker and no role"),
        ("row 8 (empty, turn 0)", "no text"),
    ]
    assert report.skipped == [
        ("agents.txt", "no customer turn (speakers found: Agent); if the customer has another label, map it with "
                       "--speaker LABEL=customer"),
        ("empty.txt", "no usable row (see the rows listed)"),
    ]
    summary = report.summary()
    assert summary.startswith("read 1 of 3 calls in t.csv; skipped 2:\n  skipped agents.txt: no customer turn")
    assert "5 row(s) with a problem (fix them in the table to use them):\n    row 3 (good, turn 2): no text" in summary


def test_rows_are_ordered_by_turn_and_a_repeated_turn_is_named(tmp_path):
    rows = pd.DataFrame({"file": ["c"] * 3, "turn": [2, 0, 2], "speaker": ["Member"] * 3,
                         "text": ["third", "first", "fourth"], "role": ["customer", "", "customer"]})
    calls, report = read_turn_table(write(rows, tmp_path / "t.parquet"))
    turns = all_turns(calls)
    assert [t.text for t in turns] == ["first", "third", "fourth"] and [t.turn for t in turns] == [0, 1, 2]
    assert report.bad_rows == [("c", "a turn number appears more than once; those rows are kept in file order")]


def test_a_role_outside_the_four_is_a_bad_row(tmp_path):
    rows = pd.DataFrame({"file": ["c", "c"], "turn": [0, 1], "speaker": ["Member", "Agent"], "text": ["hi", "hello"],
                         "role": ["customer", "staff"]})
    calls, report = read_turn_table(write(rows, tmp_path / "t.csv"))
    turns = all_turns(calls)
    assert [t.text for t in turns] == ["hi"]
    assert report.bad_rows == [("row 2 (c, turn 1)", "role 'staff' is not one of customer, agent, meta, unknown")]


def test_a_bad_json_line_is_a_bad_row(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"file": "c", "turn": 0, "speaker": "Member", "text": "hi"}\n{"file": "c", "turn": 1,\n\n'
                    '[1, 2]\n"just text"\n{"file": "c", "turn": 2.0, "speaker": "Member", "text": "bye"}\n')
    calls, report = read_turn_table(path)
    turns = all_turns(calls)
    assert customer_text(turns) == "hi\nbye"  # 2.0 is turn 2, as a spreadsheet may write it
    assert report.bad_rows == [("line 2", "not JSON (Expecting property name enclosed in double quotes at column "
                                          "25)"),
                               ("line 4", "not a JSON object {...}"), ("line 5", "not a JSON object {...}")]


def test_cells_parse_protected_against_spreadsheet_formulas_are_read_as_said(tmp_path, capsys):
    calls = tmp_path / "calls"
    calls.mkdir()
    (calls / "c.txt").write_text("Agent: Rate us?\nMember: -5 stars, never again\nMember: =SUM(A1)\n")
    out = tmp_path / "turns.csv"
    assert main(["parse", str(calls), "--out", str(out), "--no-redact"]) == EXIT_OK
    assert "'-5 stars" in out.read_text()
    calls, _ = read_source(out)
    turns = all_turns(calls)
    assert customer_text(turns) == "-5 stars, never again\n=SUM(A1)"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("t.csv", "file,turn,text\nc,0,hi\n", "t.csv: no column speaker (columns found: file, turn, text); a turn table "
                                          "needs columns file,turn,speaker,text (role optional)"),
    ("t.csv", "file,turn,speaker,text\n", "t.csv: no rows under the header"),
    ("t.csv", "", "t.csv: empty file"),
    ("t.csv", b"\x00\x01PAR1", "t.csv: binary content"),
    ("t.csv", 'file,turn,speaker,text\nc,0,Member,"unclosed\n', "t.csv: cannot be read as CSV"),
    ("t.parquet", "file,turn,speaker,text\nc,0,Member,hi\n", "t.parquet: cannot be read as Parquet"),
    ("t.jsonl", '{"file": "c"}\n', "t.jsonl: no column turn, speaker, text"),
])
def test_a_table_that_cannot_be_read_is_refused_naming_it_and_what_to_do(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TurnTableError) as err:
        read_source(path)
    assert str(err.value).startswith(message), str(err.value)


def test_a_missing_table_or_a_file_of_another_kind_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv: no such file"):
        read_source(tmp_path / "missing.csv")
    (tmp_path / "call.docx").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"call.docx: not a folder of calls nor a turn table; give a folder "
                                                r"of .txt and .vtt calls, or a .csv, .jsonl, .parquet table"):
        read_source(tmp_path / "call.docx")


def test_analyze_refuses_an_unreadable_table_before_any_model_time(tmp_path, capsys):
    table = tmp_path / "calls.csv"
    table.write_text("file,speaker,text\nc,Member,hi\n")
    out = tmp_path / "predictions.csv"
    code = main(["analyze", str(table), "--method", "score", "--model", "smollm2-135m", "--out", str(out),
                 "--store", str(tmp_path / "runs.sqlite"), "--quiet"])
    said = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and not out.exists()
    assert "error: calls.csv: no column turn" in said
    assert "as `callinsights parse` writes them" in said and "callinsights: " not in said  # before model time


def test_parse_refuses_an_unreadable_table_and_writes_nothing(tmp_path, capsys):
    table = tmp_path / "calls.jsonl"
    table.write_text("")
    out = tmp_path / "turns.csv"
    assert main(["parse", str(table), "--out", str(out)]) == EXIT_BAD_INPUT
    assert "error: calls.jsonl: empty file" in capsys.readouterr().err and not out.exists()


def test_rows_whose_speaker_is_not_recognised_are_named_by_table_row(tmp_path):
    rows = pd.DataFrame({"file": ["c.txt"] * 3, "turn": [0, 1, 2], "speaker": ["Member", "Dr. Smith", "Member"],
                         "text": ["My claim was denied.", "Your claim is denied.", "Why?"]})
    calls, report = read_turn_table(write(rows, tmp_path / "t.csv"))
    assert calls[0].customer_text() == "My claim was denied.\nWhy?"
    assert report.unknown_lines == [("c.txt", 2, "Dr. Smith")]
    assert "t.csv row 2 (c): 'Dr. Smith'" in report.summary()


def test_a_note_inside_a_row_takes_only_itself_to_meta(tmp_path):
    rows = pd.DataFrame({"file": ["c.txt"] * 2, "turn": [0, 1], "speaker": ["Member", "Agent"],
                         "text": ["Hmm. (Note: caller was on hold) Anyway, my claim was denied.", "Sorry."]})
    calls, _ = read_turn_table(write(rows, tmp_path / "t.csv"))
    assert calls[0].customer_text() == "Hmm. Anyway, my claim was denied."
    assert [t.text for t in calls[0] if t.role == META] == ["(Note: caller was on hold)"]
