"""Hostile inputs and failures after finished work (issue 14), through the real commands.

The end-to-end runs start ``python -m callinsights`` as a user would, with the embedded model; the failure cases
check that nothing is lost, nothing is overwritten and no model time is spent before the problem is reported.
"""

from __future__ import annotations

import os
import signal
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from callinsights.pipelines.cli import EXIT_BAD_INPUT, EXIT_OK, build_parser, main
from tests.conftest import one_cpu

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
SRC = Path(__file__).resolve().parents[1] / "src"
READABLE = {"angry_billing", "Thankful_Refill", "windows_export", "=HYPERLINK(1)"}
# Printed once the classifier is set up, i.e. just before model time: failures must come before it.
MODEL_TIME = "callinsights: "


def run_cli(*args: str, cache: Path | None = None, drop_root: bool = False) -> subprocess.CompletedProcess:
    """``python -m callinsights ARGS`` in a fresh process (one llama.cpp thread: the machine is shared).

    ``drop_root`` runs it without the capability that lets root ignore file permissions, so read-only files and
    folders are read-only to it as to any user.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    if cache is not None:
        env["CALLINSIGHTS_CACHE_DIR"] = str(cache)
    command = [sys.executable, "-m", "callinsights", *args]
    if drop_root and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only file is writable to root")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    with one_cpu():
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One calibration cache for the module: the reference calls are scored once, by the first run."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, cache):
    """The hostile folder labelled end to end with the embedded model and the no-label method."""
    out = tmp_path_factory.mktemp("hostile") / "predictions.csv"
    store = out.parent / "runs.sqlite"
    done = run_cli("analyze", str(HOSTILE), "--model", "smollm2-135m", "--method", "score", "--out", str(out),
                   "--store", str(store), "--quiet", cache=cache)
    return done, out, store


# --- end to end over the hostile folder ----------------------------------------------------------------------------


@pytest.mark.model
def test_hostile_folder_is_labelled_end_to_end(hostile_run):
    done, out, _ = hostile_run
    assert done.returncode == EXIT_OK, done.stderr
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    # Subfolder, .TXT, UTF-16 with a BOM, a formula-like name: all read. The formula is neutralised in the CSV.
    assert {f.removeprefix("'") for f in frame["file"]} == READABLE
    assert "'=HYPERLINK(1)" in set(frame["file"])
    assert not any(cell.startswith(("=", "+", "-", "@")) for column in frame for cell in frame[column])
    # Everything dropped is said on screen, with the reason.
    for said in ("skipped empty.txt: empty file", "skipped agent_only.txt: no customer turn",
                 "ignored 1 file(s) not ending in .txt or .vtt: export_log.csv",
                 "read 4 of 6 files (.txt 4); skipped 2:"):
        assert said in done.stderr


@pytest.mark.model
def test_exporter_notes_in_every_spelling_never_reach_the_model(hostile_run):
    _, _, store = hostile_run
    with sqlite3.connect(store) as db:
        files = {row[0] for row in db.execute("SELECT file FROM outputs")}
    assert files == READABLE
    from callinsights.data.call import customer_text
    from callinsights.data.transcripts import read_call

    for path in (HOSTILE / "angry_billing.txt", HOSTILE / "more" / "Thankful_Refill.TXT"):
        text = customer_text(read_call(path))
        assert "sentiment" not in text.lower() and "note" not in text.lower(), path.name


@pytest.mark.model
def test_a_calls_label_does_not_depend_on_its_neighbours(tmp_path, cache):
    """The same call alone, and in two different batches, gets the same label and probabilities."""
    call = "angry_unsolved"
    batches = {"alone": [call], "with_delighted": [call, "delighted_fixed"], "with_review": [call, "callback_review"]}
    store = tmp_path / "runs.sqlite"
    rows = {}
    for name, calls in batches.items():
        folder = tmp_path / name
        folder.mkdir()
        for c in calls:
            shutil.copy(MODEL_CALLS / f"{c}.txt", folder)
        out = tmp_path / f"{name}.csv"
        done = run_cli("analyze", str(folder), "--model", "smollm2-135m", "--method", "score", "--out", str(out),
                       "--store", str(store), "--quiet", cache=cache)
        assert done.returncode == EXIT_OK, done.stderr
        rows[name] = pd.read_csv(out).set_index("file").loc[call]
    columns = ["sentiment", "outcome", "p_positive", "p_negative", "p_neutral", "p_issue_resolved", "p_follow_up"]
    for name in ("with_delighted", "with_review"):
        pd.testing.assert_series_equal(rows["alone"][columns], rows[name][columns], check_names=False)
    # Alone, the call is not flattened to uniform probabilities (what batch calibration did to a one-call run).
    assert rows["alone"]["p_positive"] != pytest.approx(1 / 3, abs=1e-3)
    assert rows["alone"]["sentiment"] != "positive"


# --- nothing lost: empty runs and outputs --------------------------------------------------------------------------


def _unreadable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    (folder / "agent.txt").write_text("Agent: hello?\n")
    return folder


@pytest.mark.parametrize("command", ["analyze", "parse"])
def test_a_run_with_no_readable_call_is_an_error_and_keeps_the_previous_output(tmp_path, capsys, command):
    out = tmp_path / "previous.csv"
    out.write_text("file,sentiment\nx,positive\n")
    code = main([command, str(_unreadable_folder(tmp_path)), "--out", str(out),
                 *(["--store", str(tmp_path / "s.sqlite"), "--quiet"] if command == "analyze" else [])])
    assert code == EXIT_BAD_INPUT
    assert out.read_text() == "file,sentiment\nx,positive\n"
    err = capsys.readouterr().err
    assert "no call file could be read" in err and "previous output is left as it was" in err


@pytest.mark.parametrize("limit", ["0", "-5", "two"])
def test_a_limit_below_one_is_refused(limit, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["analyze", str(HOSTILE), "--limit", limit])
    assert stop.value.code == 2
    assert "--limit" in capsys.readouterr().err


# --- failures found before any model time --------------------------------------------------------------------------


def _analyze(tmp_path: Path, *extra: str, drop_root: bool = False) -> subprocess.CompletedProcess:
    args = ["analyze", str(MODEL_CALLS), "--method", "score", "--model", "smollm2-135m", "--quiet"]
    if "--out" not in extra:
        args += ["--out", str(tmp_path / "p.csv")]
    if "--store" not in extra:
        args += ["--store", str(tmp_path / "s.sqlite")]
    return run_cli(*args, *extra, drop_root=drop_root)


def test_out_is_a_folder(tmp_path):
    done = _analyze(tmp_path, "--out", str(tmp_path))
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" not in done.stderr
    assert "is a folder, not a file" in done.stderr and MODEL_TIME not in done.stderr


def test_out_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    done = _analyze(tmp_path, "--out", str(tmp_path / "afile" / "p.csv"))
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" not in done.stderr
    assert "is a file, not a folder" in done.stderr and MODEL_TIME not in done.stderr


def test_out_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        done = _analyze(tmp_path, "--out", str(folder / "p.csv"), drop_root=True)
    finally:
        folder.chmod(0o755)
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" not in done.stderr
    assert "cannot write in" in done.stderr and MODEL_TIME not in done.stderr


def test_a_read_only_store(tmp_path):
    store = tmp_path / "s.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE t (x)")
    store.chmod(0o444)
    done = _analyze(tmp_path, "--store", str(store), drop_root=True)
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" not in done.stderr
    assert "read-only" in done.stderr and str(store) in done.stderr and MODEL_TIME not in done.stderr


def test_a_store_corrupted_mid_file(tmp_path):
    from callinsights.data.store import Store

    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for i in range(400):
            store.db.execute("INSERT INTO runs (config, started, status) VALUES (?, 0, 'done')", ("x" * 500,))
        store.db.commit()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = b"A" * 4096
    path.write_bytes(bytes(data))
    done = _analyze(tmp_path, "--store", str(path))
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" not in done.stderr
    assert "not a usable prediction store" in done.stderr and "move it aside" in done.stderr
    assert MODEL_TIME not in done.stderr


# --- label files checked up front ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("Filename,Sentiment,Call_Outcome\n", "has a header but no label rows"),
        ("Filename,Sentiment,Call_Outcome\nangry_unsolved,Negative,Follow-up action needed\n"
         "callback_review,Negative,Issue resolved\n", "has sentiment 'negative'"),
        ("Filename,Sentiment,Call_Outcome\nAngry_Unsolved,Negative,Follow-up action needed\n"
         "delighted_fixed,Positive,Issue resolved\n", "'Angry_Unsolved' matches no call, but 'angry_unsolved'"),
    ],
    ids=["empty", "header-only", "one-class", "case-mismatch"],
)
def test_label_problems_are_found_before_any_model_time(tmp_path, capsys, content, message):
    # The probe is fitted by `fit` (or by analyze through the same checks) on the folder holding the labelled calls.
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    store, artifact = tmp_path / "s.sqlite", tmp_path / "probe.skops"
    code = main(["fit", str(MODEL_CALLS), "--labels", str(labels), "--artifact", str(artifact), "--store", str(store),
                 "--quiet", "--model", "smollm2-135m"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    # "fitting the probe" is said just before the model reads the calls.
    assert message in err and str(labels) in err and "fitting the probe" not in err
    assert not artifact.exists()
    if store.exists():  # no call was read by the model
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM outputs").fetchone()[0] == 0


@pytest.mark.model
def test_a_run_that_fails_after_starting_is_marked_failed(tmp_path):
    from callinsights.classify.runner import Classifier, Settings
    from callinsights.data.store import Store

    labels = tmp_path / "labels.csv"
    labels.write_text("Filename,Sentiment,Call_Outcome\nsomeone_else,Negative,Issue resolved\n")
    settings = Settings(model="smollm2-135m", method="probe", labels_file=str(labels))
    with Store(tmp_path / "s.sqlite") as store:
        classifier = Classifier(settings, store)
        try:
            with pytest.raises(ValueError, match="none of its calls"):
                classifier.run({"one": "I am upset, nobody called me back."}, progress=False)
        finally:
            classifier.close()
        runs = store.runs()
    assert list(runs["status"]) == ["failed"]
    assert "none of its calls" in runs["error"].iloc[0]
    assert runs["ended"].notna().all()


# --- help ---------------------------------------------------------------------------------------------------------


def test_help_has_no_markup_documents_exit_codes_and_every_argument():
    parser = build_parser()
    top = parser.format_help()
    assert "``" not in top and "exit codes" in top
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"data", "parse", "analyze", "fit", "models", "evaluate", "evidence", "insights",
                             "monitor", "store", "notebooks", "reports"}
    for name, sub in commands.items():
        text = sub.format_help()
        assert "``" not in text, name
        for action in sub._actions:
            assert action.help, f"{name} {action.dest} has no help"
    analyze = commands["analyze"].format_help()
    assert "exit codes" in analyze and "needs the label file" in analyze and "--method score" in analyze
    assert "(default: results" in analyze.replace("\n", " ") or "results/predictions.csv" in analyze
    assert analyze.count("(default:") >= 8


def test_notebooks_and_reports_take_their_own_options_through_the_one_command_line(capsys):
    from callinsights.pipelines.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["notebooks", "--help"])
    assert stop.value.code == 0 and "usage: callinsights notebooks" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["reports", "nonsense"])
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", "--bogus"])  # other commands still refuse what they do not know
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


# --- what the probe's fit needs, per class and per fold, checked before any model time (issue 23) ----------------

PROBE_CALLS = Path(__file__).parent / "fixtures" / "probe_calls"
LABELS = Path(__file__).parent / "fixtures" / "labels"


@pytest.mark.parametrize("labels", ["eight_labelled.csv", "ten_labelled.csv"])
def test_too_few_labelled_calls_per_fold_are_refused_before_any_model_time(tmp_path, capsys, labels):
    store, artifact = tmp_path / "s.sqlite", tmp_path / "probe.skops"
    code = main(["fit", str(PROBE_CALLS), "--labels", str(LABELS / labels), "--artifact", str(artifact),
                 "--store", str(store), "--quiet", "--model", "smollm2-135m"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "fitting the probe" not in err and not artifact.exists()
    assert str(LABELS / labels) in err and "one fold trains on" in err and "Label more calls" in err
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM outputs").fetchone()[0] == 0


def test_check_fit_asks_what_every_fold_will_need():
    from callinsights.data.labels import check_fit, load_labels

    gold = load_labels(PROBE_CALLS.with_name("probe_calls_labels.csv"))
    assert check_fit(gold, gold.index) == []  # 12 calls, 4 of each sentiment: 4 folds train on 9 each
    eight = check_fit(gold.head(8), gold.index, "eight.csv")
    assert any("sentiment" in p and "2-fold" in p and "one fold trains on 4" in p for p in eight), eight
    three = check_fit(gold.head(3), gold.index, "three.csv")
    assert any("3 labelled calls" in p and "at least 8" in p for p in three), three


# --- an output path that is also an input of the same run is refused before any work (issue 23) -------------------

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _inputs(t: Path) -> dict[str, Path]:
    """Inputs every case can name: labels, a store, a turn table, a saved fit, a folder of calls, predictions."""
    from callinsights.data.store import Store

    (t / "sub").mkdir()
    shutil.copy(PROBE_CALLS.with_name("probe_calls_labels.csv"), t / "labels.csv")
    Store(t / "s.sqlite").close()
    (t / "turns.csv").write_text("file,turn,speaker,text\nc1,0,Member,My claim was denied and I am furious.\n"
                                 "c1,1,Agent,I am sorry about that.\n")
    (t / "probe.skops").write_bytes(b"someone's fitted probe")
    shutil.copytree(PROBE_CALLS, t / "calls")
    shutil.copy(RESULTS / "predictions.csv", t / "findings.csv")  # predictions named like an insights output
    for name in ("s.sqlite", "turns.csv", "probe.skops"):
        (t / f"link_{name}").symlink_to(t / name)
    return {"labels": t / "labels.csv", "store": t / "s.sqlite", "table": t / "turns.csv",
            "artifact": t / "probe.skops", "call": t / "calls" / "angry_unsolved.txt",
            "predictions": t / "findings.csv"}


_TWICE = {  # case -> (the command's arguments, which input it would have replaced)
    "fit --artifact is the label file (via ..)": (
        "fit {calls} --labels {t}/labels.csv --artifact {t}/sub/../labels.csv --store {t}/s.sqlite", "labels"),
    "fit --artifact is the store (via a link)": (
        "fit {calls} --labels {t}/labels.csv --artifact {t}/link_s.sqlite --store {t}/s.sqlite", "store"),
    "fit --artifact is a call of the folder": (
        "fit {t}/calls --labels {t}/labels.csv --artifact {t}/calls/angry_unsolved.txt --store {t}/s.sqlite", "call"),
    "analyze --out is the store (via ..)": (
        "analyze {models} --method score --out {t}/sub/../s.sqlite --store {t}/s.sqlite", "store"),
    "analyze --out is the turn table (via a link)": (
        "analyze {t}/turns.csv --method score --out {t}/link_turns.csv --store {t}/s.sqlite", "table"),
    "analyze --out is the label file": (
        "analyze {calls} --labels {t}/labels.csv --artifact {t}/new.skops --out {t}/labels.csv --store {t}/s.sqlite",
        "labels"),
    "analyze --out is the artifact (via a link)": (
        "analyze {calls} --labels {t}/labels.csv --artifact {t}/probe.skops --out {t}/link_probe.skops "
        "--store {t}/s.sqlite", "artifact"),
    "analyze --store is the label file": (
        "analyze {calls} --labels {t}/labels.csv --artifact {t}/new.skops --store {t}/labels.csv", "labels"),
    "parse --out is the turn table": ("parse {t}/turns.csv --out {t}/turns.csv", "table"),
    "evidence --out is the store": (
        "evidence {models} --artifact {t}/new.skops --out {t}/s.sqlite --store {t}/s.sqlite", "store"),
    "monitor --out is the batch": (
        "monitor {t}/findings.csv --reference {results}/predictions.csv --out {t}/sub/../findings.csv",
        "predictions"),
    "insights --out-dir holds the predictions": (
        "insights --predictions {t}/findings.csv --labels {t}/labels.csv --out-dir {t}", "predictions"),
    "evaluate --store is the label file": (
        "evaluate --labels {t}/labels.csv --store {t}/labels.csv --sample 12 --out-dir {t}/eval", "labels"),
}


@pytest.mark.parametrize("case", list(_TWICE))
def test_an_output_that_is_an_input_of_the_run_is_refused_before_any_work(tmp_path, capsys, case):
    inputs = _inputs(tmp_path)
    line, replaced = _TWICE[case]
    args = line.format(t=tmp_path, calls=PROBE_CALLS, models=MODEL_CALLS, results=RESULTS).split()
    if args[0] in ("fit", "analyze", "evidence"):
        args += ["--quiet", "--model", "smollm2-135m"]
    before = {name: path.read_bytes() for name, path in inputs.items()}
    code = main(args)
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    assert "the same file as" in err or "inside the folder" in err, err
    assert "nothing was done" in err and "Traceback" not in err
    assert MODEL_TIME not in err and "fitting the probe" not in err  # refused before any work
    assert {name: path.read_bytes() for name, path in inputs.items()} == before, f"{replaced} was written"


def test_refuse_overwriting_inputs_sees_through_links_and_never_compares_an_option_with_itself(tmp_path):
    from callinsights.data.outputs import OutputError, refuse_overwriting_inputs

    store = tmp_path / "s.sqlite"
    store.write_bytes(b"x")
    os.link(store, tmp_path / "hard.sqlite")
    refuse_overwriting_inputs({"--store": store, "--out": tmp_path / "p.csv"}, {"--store": store})
    with pytest.raises(OutputError, match=r"--out .*hard.sqlite: the same file as --store .*s.sqlite.*another path"):
        refuse_overwriting_inputs({"--out": tmp_path / "hard.sqlite"}, {"--store": store})
    (tmp_path / "calls").mkdir()
    refuse_overwriting_inputs({"--out": tmp_path / "calls" / "p.csv"}, {"DIR": tmp_path / "calls"}, (".txt",))
    with pytest.raises(OutputError, match="inside the folder DIR"):
        refuse_overwriting_inputs({"--out": tmp_path / "calls" / "x.TXT"}, {"DIR": tmp_path / "calls"}, (".txt",))


@pytest.mark.parametrize("sample", ["8", "10"])
def test_evaluate_with_a_sample_too_small_for_the_folds_fails_before_any_model_time(tmp_path, capsys, sample):
    shutil.copytree(PROBE_CALLS, tmp_path / "data" / "transcripts_v3")
    store = tmp_path / "s.sqlite"
    code = main(["evaluate", "--sample", sample, "--data-dir", str(tmp_path / "data"), "--labels",
                 str(PROBE_CALLS.with_name("probe_calls_labels.csv")), "--store", str(store), "--out-dir",
                 str(tmp_path / "out"), "--quiet", "--model", "smollm2-135m", "--n-boot", "10"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "one fold trains on" in err and f"--sample {sample}" in err
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM outputs").fetchone()[0] == 0


def test_evaluate_sample_12_of_the_client_labels_fails_fast(client_calls, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code = main(["evaluate", "--sample", "12", "--store", str(store), "--out-dir", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "--sample 12" in err and "negative" in err
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM outputs").fetchone()[0] == 0


@pytest.mark.model
def test_batch_calibration_on_one_call_warns_before_any_model_time(tmp_path, capsys):
    (tmp_path / "one").mkdir()
    shutil.copy(MODEL_CALLS / "angry_unsolved.txt", tmp_path / "one")
    code = main(["analyze", str(tmp_path / "one"), "--method", "score", "--calibration", "batch", "--model",
                 "smollm2-135m", "--out", str(tmp_path / "p.csv"), "--store", str(tmp_path / "s.sqlite"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_OK
    warning = next(line for line in err.splitlines() if line.startswith("warning: --calibration batch"))
    assert "1 call" in warning and "uniform" in warning and "--calibration reference" in warning
    lines = err.splitlines()
    run_line = next(i for i, line in enumerate(lines) if line.startswith("callinsights: 1 calls"))
    assert lines[run_line + 1] == warning  # said with the run's line, before any model time
    frame = pd.read_csv(tmp_path / "p.csv")
    assert frame["p_positive"].iloc[0] == pytest.approx(1 / 3, abs=1e-3)  # what it warns of


# --- SIGINT and SIGTERM during a run: finished calls kept, the run marked interrupted, a line on how to resume ------


def _many_calls(folder: Path, copies: int = 3) -> Path:
    """The twelve probe calls, each also in ``copies - 1`` versions with one more customer line: 36 distinct texts."""
    folder.mkdir()
    for path in sorted(PROBE_CALLS.glob("*.txt")):
        for n in range(copies):
            extra = f"\nMember: One more thing, this is note {n} of the call." if n else ""
            (folder / f"{path.stem}{'_' + str(n) if n else ''}.txt").write_text(path.read_text().rstrip() + extra)
    return folder


def _outputs_stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM outputs").fetchone()[0])
    except sqlite3.Error:  # created but no table yet
        return 0


@pytest.fixture(scope="module")
def fitted_probe(tmp_path_factory) -> tuple[Path, Path]:
    """A probe fitted on the twelve labelled probe calls, and the store of its outputs."""
    folder = tmp_path_factory.mktemp("fitted")
    artifact, store = folder / "probe.skops", folder / "fit.sqlite"
    done = run_cli("fit", str(PROBE_CALLS), "--labels", str(PROBE_CALLS.with_name("probe_calls_labels.csv")),
                   "--artifact", str(artifact), "--store", str(store), "--model", "smollm2-135m", "--quiet")
    assert done.returncode == EXIT_OK, done.stderr
    return artifact, store


@pytest.mark.model
# Each method once and each signal once: the handler is the same for every method, the exit code per signal.
@pytest.mark.parametrize(("method", "stop"), [("score", signal.SIGTERM), ("probe", signal.SIGINT)])
def test_a_signal_during_a_run_keeps_the_finished_calls_and_says_how_to_resume(tmp_path, cache, fitted_probe,
                                                                              method, stop):
    calls, store, out = _many_calls(tmp_path / "calls"), tmp_path / "s.sqlite", tmp_path / "p.csv"
    args = ["analyze", str(calls), "--model", "smollm2-135m", "--method", method, "--out", str(out), "--store",
            str(store), "--quiet"]
    if method == "probe":
        args += ["--labels", str(PROBE_CALLS.with_name("probe_calls_labels.csv")), "--artifact", str(fitted_probe[0])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
           "CALLINSIGHTS_CACHE_DIR": str(cache)}
    with one_cpu():
        process = subprocess.Popen([sys.executable, "-m", "callinsights", *args], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _outputs_stored(store) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)

    assert process.returncode == 128 + stop, err  # 130 for SIGINT, 143 for SIGTERM
    assert "Traceback" not in err and "Exception ignored" not in err, err
    said = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(said) == 1 and signal.Signals(stop).name in said[0] and "run the same command again" in said[0], err
    kept = _outputs_stored(store)
    assert 2 <= kept < 36 and not out.exists()
    with sqlite3.connect(store) as db:
        status, error = db.execute("SELECT status, error FROM runs ORDER BY run_id DESC").fetchone()
    assert status == "interrupted" and signal.Signals(stop).name in error
    # The same command resumes: the finished calls are read from the store, not computed again.
    with one_cpu():
        again = subprocess.run([sys.executable, "-m", "callinsights", *args], env=env, text=True,
                               capture_output=True, timeout=600)
    assert again.returncode == EXIT_OK, again.stderr
    assert f"({kept} from the store, {36 - kept} computed" in again.stdout
