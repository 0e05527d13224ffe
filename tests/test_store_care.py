"""Care of the prediction store: info, pruning to the last runs of each configuration, dropping outputs no kept run
read, runs that may be live, another process holding the lock, and the commands."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from callinsights import config
from callinsights.data import store as store_module
from callinsights.data.store import OutputKey, Store, StoreError, text_hash
from callinsights.data.store import run_configuration
from callinsights.pipelines.cli import EXIT_BAD_INPUT, EXIT_OK, main
from callinsights.pipelines.cli import prune

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
PROBE_CALLS, PROBE_LABELS = MODEL_CALLS.parent / "probe_calls", MODEL_CALLS.parent / "probe_calls_labels.csv"
NONE = {"model": "m.gguf", "engine": "llama.cpp", "method": "score", "prompt_version": "v1", "calibration": "none",
        "side": "customer", "redact_for_model": False, "labels_file": "/a/labels.csv", "threads": None,
        "model_hash": "ab" * 32}
BATCH = {**NONE, "calibration": "batch"}  # another configuration reading the same outputs
GENERATE = {**NONE, "method": "generate", "prompt_version": "v1g"}


def _key(config: dict, file: str) -> OutputKey:
    return OutputKey(config["model_hash"], config["engine"], config["method"], config["prompt_version"],
                     text_hash(f"the text of {file}"))


def _run(store: Store, config: dict, files: list[str], status: str = "done") -> int:
    """A run as the classifier records it: outputs stored (or found), the run started, then finished or failed."""
    for file in files:
        if store.get(_key(config, file)) is None:
            store.put(_key(config, file), file, config["model"], {"text": file}, True, 100, 100, 1.0)
    run_id = store.start_run(config)
    if status == "done":
        labels = pd.DataFrame({"file": files, "sentiment": "neutral", "outcome": "issue resolved",
                               "confidence_sentiment": 0.5, "confidence_outcome": 0.5, "cached": False,
                               "seconds": 1.0, "prompt_tokens": 100})
        store.finish_run(run_id, labels, 0, len(files), 0, float(len(files)))
    elif status == "failed":
        store.fail_run(run_id, "RuntimeError: the engine stopped")
    return run_id


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.sqlite") as opened:
        yield opened


def _runs_left(store: Store) -> dict[str, list[int]]:
    runs = store.runs()
    return {f"{method} {calibration}": sorted(ids)
            for (method, calibration), ids in runs.groupby(["method", "calibration"])["run_id"].agg(list).items()}


def test_run_configuration_ignores_how_a_run_was_carried_out():
    same = run_configuration({**NONE, "threads": 2, "concurrency": 4, "base_url": None})
    assert same == run_configuration(NONE)
    # The score method reads no labels: its label file is not part of its configuration; the probe's is, by name.
    assert run_configuration({**NONE, "labels_file": "/b/other.csv"}) == run_configuration(NONE)
    probe = {**NONE, "method": "probe", "labels_file": "/a/labels.csv"}
    assert run_configuration({**probe, "labels_file": "/elsewhere/labels.csv"}) == run_configuration(probe)
    assert run_configuration({**probe, "labels_file": "/a/guideline.csv"}) != run_configuration(probe)
    assert run_configuration(BATCH) != run_configuration(NONE)
    assert run_configuration(NONE)[1] == "score (none) · llama.cpp · customer · v1 · m.gguf"


def test_prune_keeps_exactly_the_last_k_runs_of_each_configuration(store):
    ids = {"none": [], "batch": []}
    for round_ in range(4):
        ids["none"].append(_run(store, NONE, ["c1", "c2"]))
        if round_ < 3:
            ids["batch"].append(_run(store, BATCH, ["c1", "c2"]))
    only = _run(store, GENERATE, ["c1"])
    outputs_before = store.outputs()

    report = store.prune(2)

    assert _runs_left(store) == {"score none": ids["none"][-2:], "score batch": ids["batch"][-2:],
                                 "generate none": [only]}
    assert sorted(report.removed_runs["run_id"]) == sorted(ids["none"][:2] + ids["batch"][:1])
    assert report.kept_runs == 5 and report.removed_run_labels == 3 * 2
    assert set(store.run_labels()["run_id"]) == set(store.runs()["run_id"])
    # Outputs are not runs: every one stays and is served as before.
    pd.testing.assert_frame_equal(store.outputs(), outputs_before)
    assert store.get(_key(NONE, "c1"))["output"] == {"text": "c1"}


def test_a_dry_run_reports_the_same_and_removes_nothing(store):
    for _ in range(3):
        _run(store, NONE, ["c1"])
    dry = store.prune(1, outputs=True, dry_run=True)
    assert len(store.runs()) == 3 and len(store.run_labels()) == 3
    real = store.prune(1, outputs=True)
    assert list(dry.removed_runs["run_id"]) == list(real.removed_runs["run_id"]) == [1, 2]
    assert len(store.runs()) == 1


def test_a_run_that_may_still_be_going_is_kept_and_a_stale_one_counts(store):
    first, second = _run(store, NONE, ["c1"]), _run(store, NONE, ["c1"])
    live = _run(store, NONE, ["c1"], status="running")

    report = store.prune(1)
    assert set(store.runs()["run_id"]) == {second, live}  # the live run does not count among the one kept
    assert list(report.removed_runs["run_id"]) == [first] and "may be going on in another process" in report.notes[0]

    # Two days later the run is still marked running: it was killed, and it is the last run of its configuration.
    store.prune(1, now=time.time() + 48 * 3600)
    assert set(store.runs()["run_id"]) == {live}


def test_outputs_go_only_when_no_kept_run_can_have_read_them(store):
    _run(store, NONE, ["old1", "old2", "both"])
    _run(store, NONE, ["new", "both"])
    _run(store, GENERATE, ["g_old"])
    _run(store, GENERATE, ["g_partial"], status="failed")  # recorded no labels: its configuration's outputs stay
    store.put(OutputKey("cd" * 32, "llama.cpp", "score", "v1", text_hash("swap")), "swap", "other.gguf",
              {"text": "an experiment's"}, True, 1, 1, 0.1)

    report = store.prune(1, outputs=True)

    left = set(store.outputs()["file"])
    assert left == {"new", "both", "g_old", "g_partial"}
    assert report.removed_outputs == 3  # old1, old2 and the output of a model no run used
    assert store.get(_key(NONE, "new")) is not None and store.get(_key(NONE, "old1")) is None


def test_outputs_written_since_a_live_run_started_are_kept(store):
    _run(store, NONE, ["done1"])
    _run(store, NONE, ["done2"])
    live = store.start_run(GENERATE)  # going on in another process: no labels recorded yet
    time.sleep(0.01)
    # Written meanwhile by a process that records no run (the experiments), for a model no run used.
    store.put(OutputKey("cd" * 32, "llama.cpp", "probe", "f1", text_hash("x")), "in_flight", "other.gguf",
              {"text": "x"}, True, 1, 1, 0.1)

    store.prune(1, outputs=True)

    assert set(store.outputs()["file"]) >= {"in_flight", "done2"} and live in set(store.runs()["run_id"])
    assert "done1" not in set(store.outputs()["file"])


def test_prune_refuses_to_keep_no_run(store):
    with pytest.raises(ValueError, match="keep at least 1 run"):
        store.prune(0)


@pytest.mark.parametrize("keep", ["0", "-1", "two"])
def test_prune_keep_below_one_names_keep_and_no_other_option(tmp_path, capsys, keep):
    with pytest.raises(SystemExit) as stop:
        main(["store", "prune", "--keep", keep, "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert stop.value.code == EXIT_BAD_INPUT and "argument --keep:" in err
    assert "--limit" not in err and ("at least 1" in err or "whole number" in err)


def test_info_counts_runs_and_outputs_per_configuration(store):
    for _ in range(2):
        _run(store, NONE, ["c1", "c2"])
    _run(store, BATCH, ["c1"], status="failed")
    _run(store, GENERATE, ["c3"], status="running")

    info = store.info()

    assert (info.n_runs, info.n_outputs, info.n_run_labels) == (4, 3, 4)
    assert info.size_bytes == store.path.stat().st_size
    counts = info.runs.set_index("name")[["runs", "done", "failed", "running"]]
    assert counts.loc[run_configuration(NONE)[1]].tolist() == [2, 2, 0, 0]
    assert counts.loc[run_configuration(BATCH)[1]].tolist() == [1, 0, 1, 0]
    assert info.outputs["outputs"].sum() == 3
    assert list(info.unfinished["status"]) == ["failed", "running"]
    assert info.unfinished["error"].iloc[0] == "RuntimeError: the engine stopped"


def test_prune_waits_for_another_writer_and_gives_up_cleanly(store, monkeypatch):
    for _ in range(3):
        _run(store, NONE, ["c1"])
    other = sqlite3.connect(store.path, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    release = threading.Timer(0.5, other.commit)
    release.start()
    try:
        report = store.prune(1)  # waits for the lock rather than failing
    finally:
        release.join()
    assert len(report.removed_runs) == 2 and len(store.runs()) == 1

    _run(store, NONE, ["c1"])
    other.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(store_module, "_BUSY_MS", 100)
    try:
        with pytest.raises(StoreError, match="another process is writing to the store.*nothing was removed"):
            store.prune(1)
    finally:
        other.rollback()
        other.close()
    assert len(store.runs()) == 2
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_store_commands_print_what_they_did(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    with Store(path) as opened:
        for _ in range(3):
            _run(opened, NONE, ["c1"])

    assert main(["store", "info", "--store", str(path)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert f"store: {path}" in printed and "runs: 3 (3 done, 0 failed, 0 running) in 1 configuration," in printed

    assert main(["store", "prune", "--keep", "1", "--dry-run", "--store", str(path)]) == EXIT_OK
    assert "would remove 2 runs" in capsys.readouterr().out
    assert main(["store", "prune", "--keep", "1", "--store", str(path)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "removed 2 runs (2 recorded labels) and 0 stored outputs; 1 run kept" in printed
    assert re.search(r"file: [\d.]+ kB -> [\d.]+ kB", printed)


def test_store_commands_on_a_missing_store_say_so_and_create_nothing(tmp_path, capsys):
    path = tmp_path / "nowhere.sqlite"
    assert main(["store", "info", "--store", str(path)]) == EXIT_BAD_INPUT
    assert "nowhere.sqlite: no prediction store there" in capsys.readouterr().err
    assert main(["store", "prune", "--store", str(path)]) == EXIT_BAD_INPUT
    assert not path.exists()
    with pytest.raises(SystemExit):
        main(["store", "prune", "--keep", "0", "--store", str(path)])


@pytest.mark.model
def test_after_pruning_the_store_still_serves_the_kept_runs_calls(tmp_path, capsys):
    store, out = tmp_path / "runs.sqlite", tmp_path / "predictions.csv"
    analyze = ["analyze", str(MODEL_CALLS), "--model", "smollm2-135m", "--method", "score", "--store", str(store),
               "--out", str(out), "--quiet"]
    n_calls = len(list(MODEL_CALLS.glob("*.txt")))
    for calibration in ("none", "none", "batch"):
        assert main([*analyze, "--calibration", calibration]) == EXIT_OK
    first = pd.read_csv(out)
    capsys.readouterr()

    assert main(["store", "prune", "--keep", "1", "--outputs", "--store", str(store)]) == EXIT_OK
    assert f"removed 1 run ({n_calls} recorded labels)" in capsys.readouterr().out
    assert main([*analyze, "--calibration", "batch"]) == EXIT_OK

    assert f"{n_calls} calls labelled ({n_calls} from the store, 0 computed, 0 invalid)" in capsys.readouterr().out
    again = pd.read_csv(out)
    pd.testing.assert_frame_equal(again.drop(columns="cached"), first.drop(columns="cached"))


@pytest.mark.model
def test_prune_keeps_the_outputs_the_saved_fit_read(tmp_path, monkeypatch, capsys):
    # `callinsights fit` records no run: without being told of the saved fit, `prune --outputs` deleted every output
    # it read, and the next refit recomputed every call.
    monkeypatch.setattr(config, "ARTIFACT_FILE", tmp_path / "artifacts" / "probe.skops")
    store = tmp_path / "runs.sqlite"
    assert main(["fit", str(PROBE_CALLS), "--labels", str(PROBE_LABELS), "--model", "smollm2-135m",
                 "--artifact", str(config.ARTIFACT_FILE), "--store", str(store), "--quiet"]) == EXIT_OK
    with Store(store) as opened:
        fitted = set(opened.outputs()["key"])
        _run(opened, NONE, ["c1"])
        _run(opened, NONE, ["c2"])  # the run kept: c1's output goes, so outputs are pruned
    capsys.readouterr()

    assert main(["store", "prune", "--keep", "1", "--outputs", "--store", str(store)]) == EXIT_OK
    assert "removed 1 run (1 recorded label) and 1 stored output" in capsys.readouterr().out
    with Store(store) as opened:
        assert set(opened.outputs()["key"]) == fitted | {_key(NONE, "c2").key}


def test_an_unreadable_saved_fit_keeps_every_output(store, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "ARTIFACT_FILE", tmp_path / "artifacts" / "probe.skops")
    config.ARTIFACT_FILE.parent.mkdir()
    (config.ARTIFACT_FILE.parent / "old.skops").write_bytes(b"not a zip")
    _run(store, NONE, ["c1"])
    _run(store, NONE, ["c2"])

    printed = prune(store.path, 1, outputs=True)

    assert "removed 1 run (1 recorded label) and 0 stored outputs" in printed
    assert "note: outputs kept: the outputs a saved fit read cannot be told" in printed and "old.skops" in printed
    assert set(store.outputs()["file"]) == {"c1", "c2"}


def test_store_info_only_reads_so_a_read_only_store_will_do(tmp_path, capsys):
    # `store info` opened the store read-write (and wrote its header back), so a read-only store was refused.
    path = tmp_path / "runs.sqlite"
    with Store(path) as opened:
        _run(opened, NONE, ["c1"])
    before = path.read_bytes()
    assert main(["store", "info", "--store", str(path)]) == EXIT_OK
    assert "runs: 1 (1 done, 0 failed, 0 running)" in capsys.readouterr().out
    assert path.read_bytes() == before
    with Store(path, read_only=True) as opened, pytest.raises(sqlite3.OperationalError, match="readonly"):
        opened.start_run(NONE)

    path.chmod(0o444)
    tmp_path.chmod(0o555)  # no journal can be made beside it either
    try:  # root ignores file permissions unless the capability is dropped
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        if as_user and not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only file is writable to root")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1] / "src"),
                                                                          os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([*as_user, sys.executable, "-m", "callinsights", "store", "info", "--store", str(path)],
                              capture_output=True, text=True, env=env, timeout=120)
    finally:
        tmp_path.chmod(0o755)
    assert done.returncode == EXIT_OK, done.stderr
    assert "runs: 1 (1 done, 0 failed, 0 running)" in done.stdout and path.read_bytes() == before


def test_callinsights_store_moves_the_store_and_an_empty_value_is_the_default(tmp_path):
    def store_file(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "CALLINSIGHTS_STORE"}
        if value is not None:
            env["CALLINSIGHTS_STORE"] = value
        return subprocess.run([sys.executable, "-c", "from callinsights import config; print(config.STORE_FILE)"],
                              capture_output=True, text=True, env=env, check=True).stdout.strip()

    assert store_file(str(tmp_path / "elsewhere.sqlite")) == str(tmp_path / "elsewhere.sqlite")
    assert store_file("") == store_file(None) == str(config.RESULTS_DIR / "runs.sqlite")


# --- a folder given for the store (issue 23 item 14) ----------------------------------------------------------


@pytest.mark.parametrize(("option", "suffix"), [("--store", ".sqlite"), ("--artifact", ".skops"), ("--out", ".csv")])
def test_a_folder_given_for_a_file_is_answered_with_a_name_of_that_files_kind(tmp_path, capsys, option, suffix):
    from callinsights.data.outputs import OutputError, check_output_file

    with pytest.raises(OutputError) as refused:
        check_output_file(tmp_path, option)
    said = str(refused.value)
    assert f"is a folder, not a file; give {option} a file name such as {tmp_path}{os.sep}" in said
    assert said.split("such as ")[1].split()[0].endswith(suffix)
    if option == "--store":  # through the command, before any model time
        calls = Path(__file__).parent / "fixtures" / "model_calls"
        code = main(["analyze", str(calls), "--method", "score", "--store", str(tmp_path), "--out",
                     str(tmp_path / "p.csv"), "--quiet", "--model", "smollm2-135m"])
        err = capsys.readouterr().err
        assert code == EXIT_BAD_INPUT and "out.csv" not in err and ".sqlite" in err
