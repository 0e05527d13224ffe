"""One reading of the hand labels per result: the committed results name one label file between them, and the
evaluate and insights commands record the file they were given (``data.outputs.label_reading``).

Two readings of the 40 labelled calls exist (the guideline readers' and the client's); a page built on results that
mixed them contradicted itself, so every labelled result carries the record of the file it read and these tests
read the records back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from callinsights import config
from callinsights.data.labels import load_labels
from callinsights.data.outputs import READING_RECORD_SUFFIX, file_sha256, label_reading
from callinsights.pipelines import cli, evaluation

FIXTURES = Path(__file__).parent / "fixtures"
#: Results a command writes from the hand labels, each of which some record must name (results/evaluation's are
#: listed by run.json, checked below).
LABELLED_RESULTS = ("metrics.json", "predictions.csv", "ppi_rates.csv", "findings.csv")


def records(folder: Path) -> list[tuple[Path, str, dict]]:
    """Every reading record under ``folder``: ``(file, where, record)``, ``where`` being ``""`` for a record at the
    top of a JSON file and ``"other_reading"`` for the second reading of the side-by-side tables."""
    found = []
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        if "labels_sha256" in data:
            found.append((path, "", data))
        if isinstance(data.get("other_reading"), dict):
            found.append((path, "other_reading", data["other_reading"]))
    return found


def readings_problems(folder: Path) -> list[str]:
    """What is wrong with the reading records of a results folder: empty when one reading feeds every result and
    the other reading appears only in the side-by-side tables."""
    found = records(folder)
    main = [(path, record) for path, where, record in found if not where]
    problems = []
    shas = {record["labels_sha256"]: record["labels_file"] for _, record in main}
    if len(shas) > 1:
        problems.append("results computed from more than one label file: " + "; ".join(
            f"{path.relative_to(folder)} read {record['labels_file']} ({record['labels_sha256'][:12]})"
            for path, record in main))
    named = {}
    for path, record in main:
        for name in record["files_from_labels"]:
            named.setdefault(path.parent / name, []).append(path)
    for path, where, record in found:
        if where:
            side = {config.EVALUATION_FILES[key] for key in evaluation.SIDE_BY_SIDE}
            if set(record["files_from_labels"]) - side:
                problems.append(f"{path.relative_to(folder)}: the other reading feeds "
                                f"{sorted(set(record['files_from_labels']) - side)}, not only the side-by-side tables")
            if record["labels_sha256"] in shas:
                problems.append(f"{path.relative_to(folder)}: the other reading is the results' own reading")
    for file in named:
        if not file.is_file():
            problems.append(f"{file.relative_to(folder)}: named by a reading record but not there")
    return problems


def test_the_committed_results_were_computed_from_one_reading():
    problems = readings_problems(config.RESULTS_DIR)
    assert problems == []
    main = [record for _, where, record in records(config.RESULTS_DIR) if not where]
    named = {name for record in main for name in record["files_from_labels"]}
    run = json.loads((config.EVALUATION_DIR / config.EVALUATION_FILES["run"]).read_text(encoding="utf-8"))
    labelled = {name for key, name in config.EVALUATION_FILES.items() if key not in evaluation.LABEL_FREE
                and key != "run"}
    assert set(run["files_from_labels"]) == labelled
    unrecorded = [name for name in LABELLED_RESULTS if (config.RESULTS_DIR / name).is_file() and name not in named]
    assert unrecorded == [], "results written from hand labels with no record of which: rerun their command"
    side = run["other_reading"]
    assert side is None or side["files_from_labels"] == sorted(
        config.EVALUATION_FILES[key] for key in evaluation.SIDE_BY_SIDE)
    if config.training_labels_file().is_file():  # the committed results use the default reading of the data now
        assert {record["labels_sha256"] for record in main} == {file_sha256(config.training_labels_file())}


def test_a_result_from_a_second_label_file_is_caught(tmp_path):
    guideline, client = FIXTURES / "probe_calls_labels.csv", tmp_path / "client.csv"
    client.write_text(guideline.read_text().replace("card_reissue,Neutral", "card_reissue,Positive"))
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "metrics.json").write_text(json.dumps(label_reading(guideline, ["metrics.json"])))
    record = tmp_path / f"insights{READING_RECORD_SUFFIX}"
    record.write_text(json.dumps(label_reading(guideline, ["ppi_rates.csv"])))
    (tmp_path / "ppi_rates.csv").write_text("x\n")
    assert readings_problems(tmp_path) == []
    record.write_text(json.dumps(label_reading(client, ["ppi_rates.csv"])))
    assert "results computed from more than one label file" in readings_problems(tmp_path)[0]
    # The other reading may feed the side-by-side tables only.
    record.write_text(json.dumps(label_reading(guideline, ["ppi_rates.csv"])))
    (tmp_path / "evaluation" / "run.json").write_text(json.dumps(
        {**label_reading(guideline, []), "other_reading": label_reading(client, ["other_reading.csv", "mistakes.csv"])}))
    assert readings_problems(tmp_path) == [
        "evaluation/run.json: the other reading feeds ['mistakes.csv'], not only the side-by-side tables"]


# --- the commands record the file they were given ----------------------------------------------------------------

def fixture_data(folder: Path) -> tuple[Path, Path]:
    """A data folder of the twelve fixture calls with two readings: the fixture's labels as the guideline's, and a
    client's file that calls three of its neutral calls positive (as the client's file does)."""
    shutil.copytree(FIXTURES / "probe_calls", folder / config.TRANSCRIPTS_DIR.name)
    guideline, client = folder / config.GUIDELINE_LABELS_FILE.name, folder / config.LABELS_FILE.name
    shutil.copyfile(FIXTURES / "probe_calls_labels.csv", guideline)
    table = pd.read_csv(guideline)
    moved = table["Filename"].isin(["callback_review", "neutral_address", "card_reissue"])
    table.loc[moved, "Sentiment"] = "Positive"
    table.to_csv(client, index=False)
    return guideline, client


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """``evaluate`` on the fixture folder twice, from one store: with the client's file named, and by default."""
    work = tmp_path_factory.mktemp("reading")
    guideline, client = fixture_data(work / "data")
    runs = {}
    for name, option in (("client", ["--labels", str(client)]), ("default", [])):
        out = work / name
        code = cli.main(["evaluate", "--data-dir", str(work / "data"), *option, "--configurations",
                         evaluation.DEFAULT, "--model", "smollm2-135m", "--n-boot", "50", "--out-dir", str(out),
                         "--store", str(work / "runs.sqlite"), "--quiet"])
        assert code == cli.EXIT_OK
        runs[name] = evaluation.read_results(out, stop_notebook=False)
    return guideline, client, runs


@pytest.mark.model
def test_evaluate_scores_against_the_file_given_and_shows_the_other_beside_it(evaluated):
    guideline, client, runs = evaluated
    for name, chosen, other in (("client", client, guideline), ("default", guideline, client)):
        results = runs[name]
        for recorded in (results.facts, results.metrics):
            assert (recorded["labels_file"], recorded["labels_sha256"]) == (chosen.name, file_sha256(chosen))
        assert results.facts["other_reading"]["labels_sha256"] == file_sha256(other)
        assert readings_problems(results.folder) == []
        gold = load_labels(chosen)
        held = results.predictions.set_index("file")
        assert (held["sentiment_true"] == gold.loc[held.index, "sentiment"]).all()
        shares = results.other_reading.set_index(["labels_file", "task", "measure", "label"])["value"]
        assert shares[(chosen.name, "sentiment", "share", "positive")] == pytest.approx(
            (gold["sentiment"] == "positive").mean())
        assert set(results.other_reading["labels_file"]) == {chosen.name, other.name}
    differences = runs["client"].reading_differences
    assert sorted(differences["file"]) == ["callback_review", "card_reissue", "neutral_address"]
    assert (differences[["client", "guideline"]].to_numpy() == [["positive", "neutral"]] * 3).all()
    # The same reading's figures do not depend on which file was chosen: the default fitted on and scored against
    # the client's file is the same in both runs' side-by-side tables.
    figures = {name: runs[name].other_reading.set_index(["reading", "task", "measure", "label"])["value"]
               for name in runs}
    pd.testing.assert_series_equal(figures["client"].sort_index(), figures["default"].sort_index())


def test_insights_corrects_with_the_file_given_and_records_it(tmp_path):
    guideline, client = fixture_data(tmp_path / "data")
    predictions = tmp_path / "predictions.csv"
    labels = load_labels(guideline)  # predictions that agree with the guideline's reading but for one call
    labels.loc["angry_unsolved", "sentiment"] = "neutral"
    labels.rename_axis("file").reset_index().to_csv(predictions, index=False)
    for option, chosen in (([], guideline), (["--labels", str(client)], client)):
        out = tmp_path / chosen.stem
        assert cli.main(["insights", "--data-dir", str(tmp_path / "data"), "--predictions", str(predictions),
                         *option, "--topics", "2", "--out-dir", str(out)]) == cli.EXIT_OK
        found = [record for _, _, record in records(out)]
        assert found and {(r["labels_file"], r["labels_sha256"]) for r in found} == {(chosen.name,
                                                                                      file_sha256(chosen))}
        assert {config.PPI_RATES_FILE.name, config.FINDINGS_FILE.name} <= {
            name for record in found for name in record["files_from_labels"]}
