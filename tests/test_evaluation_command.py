"""``python -m callinsights evaluate``: a real run on a sample with the embedded model, its files, and notebook 04
showing them (or saying in one line that they are missing)."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from callinsights import config
from callinsights.data.labels import load_labels
from callinsights.pipelines import cli, evaluation
from callinsights.pipelines import notebooks as nbs
from callinsights.pipelines.evaluation import read_results, result_files
from callinsights.schema import PROBA_COLUMNS, TASKS
from callinsights.text.redact import redact
from tests.support.notebooks import check_notebook, read_metrics

#: The fewest first labelled calls whose folds still leave the probe 8 calls to fit on in every fold.
SAMPLE = 16
CHOSEN = ["probe (cross-validated)", "score, reference-calibrated"]
NOTEBOOK = config.NOTEBOOKS_DIR / "04_evaluation.ipynb"


def committed_bytes() -> dict:
    paths = [config.METRICS_FILE, config.EXPERIMENTS_DOC, *result_files().values()]
    return {path: path.read_bytes() if path.is_file() else None for path in paths}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, client_store):
    """The command run for real on the first labelled calls, into its own folder; its model outputs go to the
    session's store of the client's calls (``conftest.client_store``), whose labelled calls the other modules read
    too."""
    if not any(config.TRANSCRIPTS_DIR.glob("*.txt")) or not config.LABELS_FILE.is_file():
        pytest.skip(f"client data not in {config.DATA_DIR}: run `make data` to link it")
    folder = tmp_path_factory.mktemp("evaluate")
    before = committed_bytes()
    code = cli.main(["evaluate", "--sample", str(SAMPLE), "--configurations", *CHOSEN, "--model", "smollm2-135m",
                     "--n-boot", "200", "--out-dir", str(folder / "out"), "--store", str(client_store),
                     "--quiet"])
    return code, folder / "out", before


@pytest.mark.model
@pytest.mark.clientdata
def test_a_sample_run_writes_every_file_and_leaves_the_committed_results_alone(sample_run):
    code, out, before = sample_run
    assert code == cli.EXIT_OK
    assert all(path.is_file() for path in result_files(out).values())
    assert committed_bytes() == before
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == list(json.loads(config.METRICS_FILE.read_text()))  # the layout tests/test_docs.py reads
    assert (metrics["labelled_calls"], metrics["sample_size"]) == (SAMPLE, SAMPLE)
    assert [row["configuration"] for row in metrics["comparison"]] == CHOSEN[::-1]  # the table's order
    facts = json.loads(result_files(out)["run"].read_text())
    assert facts["full_run"] is False and facts["experiments_doc_heading"] is None
    assert set(facts["configurations_run"]) == {*CHOSEN, evaluation.SCORE}
    assert facts["agreement_scope"] == f"the {SAMPLE} labelled calls of the sample (held out)"


@pytest.mark.model
@pytest.mark.clientdata
def test_held_out_predictions_have_one_row_per_configuration_and_call_with_probabilities(sample_run):
    _, out, _ = sample_run
    table = read_results(out, stop_notebook=False).predictions
    assert list(table.columns[:6]) == ["configuration", "file", "sentiment_true", "outcome_true", "sentiment",
                                       "outcome"]
    assert set(PROBA_COLUMNS.values()) <= set(table.columns)
    gold = load_labels(config.training_labels_file()).head(SAMPLE)  # the default reading, recorded in run.json
    for name, rows in table.groupby("configuration"):
        rows = rows.set_index("file")
        assert list(rows.index) == list(gold.index), name
        assert (rows[["sentiment_true", "outcome_true"]].to_numpy() == gold[["sentiment", "outcome"]].to_numpy()).all()
        for task, labels in TASKS.items():
            np.testing.assert_allclose(rows[[PROBA_COLUMNS[label] for label in labels]].sum(axis=1), 1.0, atol=1e-6)
    probe = table[table["configuration"] == evaluation.DEFAULT]
    assert probe["held_out"].str.startswith("held out").all()


@pytest.mark.model
@pytest.mark.clientdata
def test_the_tables_agree_with_the_predictions_they_come_from(sample_run):
    _, out, _ = sample_run
    results = read_results(out, stop_notebook=False)
    default = results.predictions[results.predictions["configuration"] == evaluation.DEFAULT]
    wrong = sum(int((default[f"{task}_true"] != default[task]).sum()) for task in TASKS)
    assert len(results.mistakes) == wrong
    assert (results.mistakes["truth"] != results.mistakes["predicted"]).all()
    assert all(redact(text) == text for text in results.mistakes["customer_text"].dropna())
    intervals = results.intervals  # one reading: the file run.json names, never both concatenated
    assert results.facts["labels_file"] == config.training_labels_file().name
    assert "reference" not in intervals and not intervals.duplicated(["task", "metric"]).any()
    assert ((intervals["low"] <= intervals["value"]) & (intervals["value"] <= intervals["high"])).all()
    accuracy = intervals.set_index(["task", "metric"]).loc[("sentiment", "accuracy"), "value"]
    assert accuracy == pytest.approx((default["sentiment_true"] == default["sentiment"]).mean())
    assert set(results.baselines["system"]) == {f"default: {evaluation.DEFAULT}", "majority class",
                                                "VADER + pending cues (customer side)",
                                                "words (TF-IDF) + the same probe"}
    assert set(results.differences["baseline"]) == set(results.baselines["system"]) - {f"default: {evaluation.DEFAULT}"}
    assert results.ablation.empty  # no whole-call configuration was chosen
    assert set(results.calibration["system"]) >= {evaluation.DEFAULT, evaluation.SCORE}
    assert set(results.reliability.groupby(["system", "task"])["n"].sum()) == {SAMPLE}
    assert set(results.agreement["calls"]) == {"all"} and (results.agreement["n"] == SAMPLE).all()
    assert results.agreement_pairs.groupby("task")["calls"].sum().eq(SAMPLE).all()
    assert len(results.monitoring) == len(results.monitoring["run_id"].unique()) >= 3


@pytest.mark.model
@pytest.mark.clientdata
def test_notebook_04_shows_a_sample_run(sample_run, tmp_path):
    # It only reads the files (nothing is labelled), so it takes seconds; the time is not asserted (benchmarks measure).
    _, out, _ = sample_run
    result = nbs.run_notebook(NOTEBOOK, tmp_path / NOTEBOOK.name, {"RESULTS_DIR": str(out)}, html_dir=tmp_path)
    assert check_notebook(result.output) == []
    recorded = read_metrics(result.output)
    assert recorded["labelled_calls"] == SAMPLE
    assert set(recorded["comparison_macro_f1"]) == set(CHOSEN)


def test_notebook_04_says_in_one_line_which_command_to_run_when_files_are_missing(tmp_path):
    import nbformat

    result = nbs.run_notebook(NOTEBOOK, tmp_path / NOTEBOOK.name, {"RESULTS_DIR": str(tmp_path / "none")},
                              html_dir=tmp_path)
    nb = nbformat.read(str(result.output), as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    printed = "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    assert printed.strip().splitlines() == [
        f"{tmp_path / 'none' / 'metrics.json'} and {len(result_files()) - 1} more of its files missing: run "
        f"`python -m callinsights evaluate --out-dir {tmp_path / 'none'}` first; this notebook only shows what it "
        "writes."]
    with pytest.raises(LookupError):
        read_metrics(result.output)


def test_a_partial_run_is_refused_in_results_before_any_model_time(capsys):
    code = cli.main(["evaluate", "--sample", "16", "--out-dir", str(config.RESULTS_DIR), "--model", "/nowhere.gguf"])
    assert code == cli.EXIT_BAD_INPUT
    assert "would replace the committed results" in capsys.readouterr().err
    temporary = evaluation.output_folder(evaluation.Plan(sample=16))
    shutil.rmtree(temporary)
    assert temporary.parent == Path(tempfile.gettempdir()) and temporary != config.RESULTS_DIR
    assert evaluation.output_folder(evaluation.Plan()) == config.RESULTS_DIR


def test_bad_configurations_model_and_labels_are_named(tmp_path, capsys):
    out = ["--out-dir", str(tmp_path / "out")]
    assert cli.main(["evaluate", "--configurations", "probe", *out]) == cli.EXIT_BAD_INPUT
    assert "unknown configuration(s) ['probe']; choose from: score, raw log-probabilities" in capsys.readouterr().err
    assert cli.main(["evaluate", "--model", str(tmp_path / "missing.gguf"), *out]) == cli.EXIT_BAD_INPUT
    assert "missing.gguf" in capsys.readouterr().err
    data = tmp_path / "data"
    shutil.copytree(config.PROJ_ROOT / "tests" / "fixtures" / "calls", data / config.TRANSCRIPTS_DIR.name)
    assert cli.main(["evaluate", "--data-dir", str(data), "--model", "smollm2-135m", *out]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{data / config.LABELS_FILE.name}: no label file here. Run `make data`" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_the_command_line_of_a_plan_runs_the_same_plan():
    plan = evaluation.Plan(sample=20, configurations=CHOSEN, n_boot=500, model="smollm2-135m")
    words = shlex.split(plan.command(config.PROJ_ROOT / "elsewhere"))
    assert words[:4] == ["python", "-m", "callinsights", "evaluate"]
    args = cli.build_parser().parse_args(words[3:])
    assert (args.sample, args.configurations, args.n_boot, args.model) == (20, CHOSEN, 500, "smollm2-135m")
    assert args.out_dir == str(config.PROJ_ROOT / "elsewhere")
    assert evaluation.Plan().command(config.RESULTS_DIR) == "python -m callinsights evaluate"



def test_a_damaged_predictions_file_costs_the_batches_only(tmp_path, monkeypatch):
    # The batches are read after all the model work: a damaged file warns, naming it, and the rest is written.
    from callinsights.pipelines.evaluation import batches_of_main_run

    bad = tmp_path / "predictions.csv"
    bad.write_text("file,sentiment\ntranscript_0,positive\n")
    monkeypatch.setattr(config, "PREDICTIONS_FILE", bad)
    with pytest.warns(UserWarning, match=r"no batches monitored: .*predictions\.csv"):
        table = batches_of_main_run(pd.Index(["transcript_0"]))
    assert table.empty and "batch_name" in table.columns
