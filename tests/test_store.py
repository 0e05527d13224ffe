"""The SQLite store of model outputs and runs: keys, round trips, run records, a corrupt file, and resuming a run
that was killed half-way."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from callinsights.pipelines.cli import main
from callinsights.data.store import OutputKey, Store, text_hash
from tests.conftest import one_cpu

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
KEY = OutputKey("ab" * 32, "llama.cpp", "score", "v1", text_hash("I waited three weeks."))
OUTPUT = {"sentiment": {"positive": -0.25, "negative": -2.5, "neutral": -4.125},
          "outcome": {"issue resolved": -1.5, "follow-up action needed": -3.75}}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.sqlite") as opened:
        yield opened


def test_put_then_get_round_trips_the_output(store):
    store.put(KEY, "transcript_7", "model.gguf", OUTPUT, True, 321, 123, 0.75)
    record = store.get(KEY)

    assert record["output"] == OUTPUT
    assert record["file"] == "transcript_7" and record["model"] == "model.gguf"
    assert (record["model_hash"], record["engine"], record["method"], record["prompt_version"], record["text_hash"]) \
        == dataclasses.astuple(KEY)
    assert (record["valid"], record["prompt_tokens"], record["evaluated_tokens"], record["seconds"]) \
        == (1, 321, 123, 0.75)
    assert record["created"] <= time.time()


def test_get_of_an_unknown_key_is_none(store):
    assert store.get(KEY) is None


def test_a_stored_output_survives_reopening_the_file(tmp_path):
    with Store(tmp_path / "runs.sqlite") as first:
        first.put(KEY, "transcript_7", "model.gguf", {"text": "sentiment: neutral"}, False, 10, 10, 0.1)
    with Store(tmp_path / "runs.sqlite") as second:
        assert second.get(KEY)["output"] == {"text": "sentiment: neutral"}
        assert second.get(KEY)["valid"] == 0


def test_put_of_the_same_key_replaces_the_output(store):
    store.put(KEY, "transcript_7", "model.gguf", {"text": "old"}, False, 10, 10, 0.1)
    store.put(KEY, "transcript_7", "model.gguf", {"text": "new"}, True, 10, 10, 0.1)
    assert store.get(KEY)["output"] == {"text": "new"}
    assert len(store.outputs()) == 1


@pytest.mark.parametrize(
    ("field", "other"),
    [("model_hash", "cd" * 32), ("engine", "gpt4all"), ("method", "generate"), ("prompt_version", "v1/redacted"),
     ("text_hash", text_hash("I waited three weeks!"))],
)
def test_the_key_depends_on_every_field(store, field, other):
    changed = dataclasses.replace(KEY, **{field: other})
    assert changed.key != KEY.key

    store.put(KEY, "transcript_7", "model.gguf", OUTPUT, True, 1, 1, 0.1)
    assert store.get(changed) is None


def test_text_hash_is_the_exact_text():
    assert text_hash("Thank you.") == text_hash("Thank you.")
    variants = ["Thank you.", "Thank you", "thank you.", " Thank you."]
    assert len({text_hash(text) for text in variants}) == len(variants)


def test_runs_and_the_labels_they_gave_are_recorded(store):
    run_id = store.start_run({"engine": "llama.cpp", "method": "score", "model": "model.gguf"})
    running = store.runs()
    assert list(running["status"]) == ["running"] and running["ended"].isna().all()

    labels = pd.DataFrame({
        "file": ["transcript_1", "transcript_2"],
        "sentiment": ["negative", None],
        "outcome": ["follow-up action needed", None],
        "confidence_sentiment": [0.61, float("nan")],
        "confidence_outcome": [0.55, float("nan")],
        "cached": [True, False],
        "seconds": [0.0, 1.5],
        "prompt_tokens": [300, 280],
    })
    store.finish_run(run_id, labels, n_cached=1, n_computed=1, n_invalid=1, seconds_computing=1.5)

    run = store.runs().set_index("run_id").loc[run_id]
    assert run["status"] == "done" and run["ended"] >= run["started"]
    assert (run["n_calls"], run["n_cached"], run["n_computed"], run["n_invalid"]) == (2, 1, 1, 1)
    assert (run["engine"], run["method"], run["model"]) == ("llama.cpp", "score", "model.gguf")  # config expanded
    given = store.run_labels(run_id).set_index("file")
    assert given.loc["transcript_1", "sentiment"] == "negative"
    assert given.loc["transcript_1", "confidence_sentiment"] == pytest.approx(0.61)
    assert given.loc["transcript_1", "cached"] == 1 and given.loc["transcript_2", "cached"] == 0
    assert given.loc["transcript_2", ["sentiment", "outcome"]].isna().all()  # an invalid answer stays empty
    assert math.isnan(given.loc["transcript_2", "confidence_sentiment"])
    assert store.run_labels(run_id + 1).empty and len(store.run_labels()) == 2


def test_a_corrupt_store_file_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not an SQLite database\n" * 200)

    with pytest.raises(RuntimeError, match=re.escape(str(path))) as err:
        Store(path)
    assert "not a usable prediction store" in str(err.value) and "move it aside" in str(err.value)


def test_analyze_with_a_corrupt_store_exits_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"\x00garbage" * 500)

    code = main(["analyze", str(MODEL_CALLS), "--store", str(path), "--out", str(tmp_path / "p.csv"), "--quiet"])

    assert code == 2
    assert f"error: {path}: not a usable prediction store" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


# --- resuming a killed run -----------------------------------------------------------------------------------------


def _count_outputs(path: Path) -> int:
    """Rows in the store's outputs table, 0 before the file or its schema exists (a plain read-write connection,
    so that a journal left by a killed writer is rolled back rather than refused)."""
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=10)) as db:
            return db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet
        return 0


@pytest.mark.model
def test_a_run_killed_half_way_resumes_from_the_stored_outputs(tmp_path):
    store, out = tmp_path / "runs.sqlite", tmp_path / "predictions.csv"
    command = [sys.executable, "-m", "callinsights", "analyze", str(MODEL_CALLS), "--model", "smollm2-135m",
               "--method", "score", "--store", str(store), "--out", str(out), "--quiet"]
    n_calls = len(list(MODEL_CALLS.glob("*.txt")))

    with one_cpu():  # outputs do not depend on the thread count
        killed = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while _count_outputs(store) < 1:
            assert killed.poll() is None, f"analyze ended before it could be killed: {killed.communicate()}"
            assert time.monotonic() < deadline, "no output stored within 180 s"
            time.sleep(0.05)
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    stored_before = _count_outputs(store)
    assert 1 <= stored_before <= n_calls
    assert not out.exists()

    with one_cpu():
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    summary = re.search(r"(\d+) calls labelled \((\d+) from the store, (\d+) computed, (\d+) invalid\)", done.stdout)
    assert summary, done.stdout
    assert tuple(map(int, summary.groups())) == (n_calls, stored_before, n_calls - stored_before, 0)
    predictions = pd.read_csv(out)
    assert sorted(predictions["file"]) == sorted(p.stem for p in MODEL_CALLS.glob("*.txt"))
    assert predictions["sentiment"].notna().all() and predictions["outcome"].notna().all()
    assert predictions["cached"].sum() == stored_before
    with Store(store) as reopened:
        runs = reopened.runs()
    assert list(runs["status"]) == ["running", "done"]  # the killed run never finished
    assert (runs.iloc[1]["n_cached"], runs.iloc[1]["n_computed"]) == (stored_before, n_calls - stored_before)


# ---- layout version -------------------------------------------------------------------------------------------

_UNVERSIONED_LAYOUT = """
CREATE TABLE outputs (key TEXT PRIMARY KEY, file TEXT NOT NULL, model TEXT NOT NULL, model_hash TEXT NOT NULL,
    engine TEXT NOT NULL, method TEXT NOT NULL, prompt_version TEXT NOT NULL, text_hash TEXT NOT NULL,
    output TEXT NOT NULL, valid INTEGER NOT NULL, prompt_tokens INTEGER, evaluated_tokens INTEGER, seconds REAL,
    created REAL NOT NULL);
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, config TEXT NOT NULL, started REAL NOT NULL, ended REAL,
    n_calls INTEGER, n_cached INTEGER, n_computed INTEGER, n_invalid INTEGER, seconds_computing REAL,
    status TEXT NOT NULL);
CREATE TABLE run_labels (run_id INTEGER NOT NULL, file TEXT NOT NULL, sentiment TEXT, outcome TEXT,
    confidence_sentiment REAL, confidence_outcome REAL, cached INTEGER NOT NULL, seconds REAL, prompt_tokens INTEGER,
    PRIMARY KEY (run_id, file));
INSERT INTO outputs VALUES ('k1', 'a.txt', 'm', 'h', 'llama.cpp', 'probe', 'v', 't', '{"turns": [[1.0]]}', 1, 3, 3,
    0.5, 0);
"""


def test_a_new_store_carries_the_current_layout_version(tmp_path):
    from callinsights.data.store import SCHEMA_VERSION

    with Store(tmp_path / "s.sqlite") as store:
        assert store.version == SCHEMA_VERSION >= 1


def test_an_unversioned_store_is_migrated_and_keeps_its_outputs(tmp_path):
    from callinsights.data.store import SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(_UNVERSIONED_LAYOUT)
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        assert "error" in set(store.runs().columns)
        assert store.outputs()["key"].tolist() == ["k1"]
        run = store.start_run({"method": "probe"})
        store.fail_run(run, "ValueError: stopped")  # the migrated column is written
        assert store.runs().set_index("run_id").loc[run, "error"] == "ValueError: stopped"


def test_a_store_from_a_newer_version_is_refused_with_what_to_do(tmp_path):
    from callinsights.data.store import SCHEMA_VERSION, StoreError

    path = tmp_path / "new.sqlite"
    Store(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.commit()
    with pytest.raises(StoreError, match=r"new\.sqlite: store layout .* newer callinsights.*--store another path"):
        Store(path)


def test_a_store_of_another_layout_is_refused_with_how_to_rebuild(tmp_path):
    from callinsights.data.store import StoreError

    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE outputs (key TEXT PRIMARY KEY, answer TEXT)")
        db.commit()
    with pytest.raises(StoreError, match=r"other\.sqlite: table outputs lacks .*move it aside"):
        Store(path)
