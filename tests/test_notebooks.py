"""The notebook runner and the check of committed notebooks, on small notebooks written here, notebook 01 run small and
every committed notebook."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from callinsights import config
from callinsights.pipelines import notebooks as nbs
from tests.support.notebooks import check_notebook, read_metrics
def make_notebook(path, cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def executed(source, count, outputs=None, tags=None):
    cell = new_code_cell(source, execution_count=count, outputs=outputs or [])
    if tags:
        cell.metadata["tags"] = tags
    return cell


def stream(text):
    return new_output("stream", name="stdout", text=text)


def good_cells():
    return [
        new_markdown_cell("# 09 · Example\nWhat it does."),
        executed("SAMPLE_SIZE = None  # calls to read, None for all", 1, tags=["parameters"]),
        executed("import math", 2),
        executed("print(math.pi)", 3, [stream("3.14159\n")]),
    ]


def test_a_notebook_run_top_to_bottom_passes(tmp_path):
    assert check_notebook(make_notebook(tmp_path / "09_good.ipynb", good_cells())) == []


def test_counts_out_of_order_are_reported(tmp_path):
    cells = good_cells()
    cells[2].execution_count, cells[3].execution_count = 3, 2
    problems = check_notebook(make_notebook(tmp_path / "09_order.ipynb", cells))
    assert len(problems) == 1
    assert "09_order.ipynb: execution counts [1, 3, 2] are not 1..3 in order (first off at cell 3)" in problems[0]


def test_counts_that_do_not_start_at_one_are_reported(tmp_path):
    cells = good_cells()
    for cell, count in zip(cells[1:], (4, 5, 6)):
        cell.execution_count = count
    problems = check_notebook(make_notebook(tmp_path / "09_restart.ipynb", cells))
    assert any("not 1..3 in order" in p for p in problems)


def test_an_error_output_is_reported(tmp_path):
    cells = good_cells()
    cells[3].outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    problems = check_notebook(make_notebook(tmp_path / "09_error.ipynb", cells))
    assert problems == ["09_error.ipynb: cell 4 has an error output (ZeroDivisionError: division by zero)"]


def test_unexecuted_notebook_parameters_tag_and_sys_path_are_reported(tmp_path):
    cells = [
        new_code_cell("SAMPLE_SIZE = None"),
        new_code_cell("import sys\nsys.path.append('..')"),
    ]
    problems = check_notebook(make_notebook(tmp_path / "09_raw.ipynb", cells))
    text = "\n".join(problems)
    assert "no outputs" in text
    assert "no cell tagged `parameters`" in text
    assert "cell 2 uses sys.path" in text
    assert "execution counts" not in text  # a notebook never run has one problem: no outputs


def test_a_cell_never_executed_among_executed_ones_is_reported(tmp_path):
    cells = good_cells() + [new_code_cell("print('late')")]
    problems = check_notebook(make_notebook(tmp_path / "09_partial.ipynb", cells))
    assert problems == [
        "09_partial.ipynb: cell(s) 5 never executed; run it with `python -m callinsights notebooks run --only 09`"
    ]


def test_a_parameter_papermill_cannot_read_is_reported(tmp_path):
    cells = good_cells()
    cells[1].source = "SAMPLE_SIZE = None  # None = every call\nSEED = 0"
    problems = check_notebook(make_notebook(tmp_path / "09_params.ipynb", cells))
    assert len(problems) == 1 and "assigns SAMPLE_SIZE in a form papermill cannot read" in problems[0]


def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "09_broken.ipynb"
    path.write_text("{not json")
    assert check_notebook(path)[0].startswith("09_broken.ipynb: cannot be read as a notebook")


def test_check_names_the_notebook_and_the_cell_of_a_problem(tmp_path):
    good = make_notebook(tmp_path / "09_good.ipynb", good_cells())
    cells = good_cells()
    cells[3].outputs = [new_output("error", ename="ValueError", evalue="bad", traceback=[])]
    bad = make_notebook(tmp_path / "10_bad.ipynb", cells)
    assert check_notebook(good) == []
    assert check_notebook(bad) == ["10_bad.ipynb: cell 4 has an error output (ValueError: bad)"]


def test_notebook_paths_are_numbered_notebooks_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "10_c.ipynb", "scratch.ipynb", "1_x.ipynb"):
        make_notebook(tmp_path / name, good_cells())
    assert [p.name for p in nbs.notebook_paths(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert [p.name for p in nbs.notebook_paths(tmp_path, ["02", "10"])] == ["02_b.ipynb", "10_c.ipynb"]


def test_read_metrics_finds_the_recorded_numbers(tmp_path):
    cells = good_cells()
    cells.append(executed("record_metrics(calls=3)", 4, [
        new_output("display_data", data={nbs.METRICS_MIME: {"calls": 3}, "text/plain": "{}"})
    ]))
    assert read_metrics(make_notebook(tmp_path / "09_m.ipynb", cells)) == {"calls": 3}
    with pytest.raises(LookupError, match="no metrics recorded"):
        read_metrics(make_notebook(tmp_path / "09_none.ipynb", good_cells()))


def parameterised_notebook(path, body):
    return make_notebook(path, [
        new_markdown_cell("# 09 · Runner test"),
        executed("SAMPLE_SIZE = None  # calls, None for all\nLABEL = 'full'", None, tags=["parameters"]),
        new_code_cell("from callinsights.pipelines.notebooks import record_metrics"),
        new_code_cell(body),
    ])


def test_run_passes_declared_parameters_renders_html_and_leaves_the_source(tmp_path):
    body = "import os\nrecord_metrics(size=SAMPLE_SIZE, label=LABEL, cwd=os.getcwd())"
    source = parameterised_notebook(tmp_path / "09_run.ipynb", body)
    before = source.read_text()
    out = tmp_path / "out"
    result = nbs.run_notebook(source, out / source.name, {"SAMPLE_SIZE": 7, "NOT_DECLARED": 1}, html_dir=out)
    assert result.parameters == {"SAMPLE_SIZE": 7}
    assert read_metrics(result.output) == {"size": 7, "label": "full", "cwd": str(tmp_path)}
    assert check_notebook(result.output) == []
    assert (out / "09_run.html").read_text().count("<html") == 1
    assert source.read_text() == before


def test_a_full_run_drops_parameters_injected_by_an_earlier_small_run(tmp_path):
    source = parameterised_notebook(tmp_path / "09_inplace.ipynb", "record_metrics(size=SAMPLE_SIZE)")
    nbs.run_notebook(source, None, {"SAMPLE_SIZE": 5}, html_dir=tmp_path)
    assert read_metrics(source) == {"size": 5}
    nbs.run_notebook(source, None, None, html_dir=tmp_path)
    assert read_metrics(source) == {"size": None}
    assert check_notebook(source) == []


def test_a_failing_notebook_raises_and_keeps_the_committed_copy(tmp_path):
    source = parameterised_notebook(tmp_path / "09_fail.ipynb", "1 / 0")
    before = source.read_text()
    with pytest.raises(nbs.NotebookRunError, match=r"(?s)09_fail.ipynb: .*ZeroDivisionError.*left as it was") as err:
        nbs.run_notebook(source, None, None, html_dir=tmp_path)
    assert source.read_text() == before
    assert not (tmp_path / "09_fail.html").exists()
    kept = Path(re.search(r"notebook is (\S+);", str(err.value))[1])
    assert nbformat.read(str(kept), as_version=4).cells[-1].outputs[0].ename == "ZeroDivisionError"
    shutil.rmtree(kept.parent)


def test_run_command_refuses_a_parameter_no_notebook_declares(tmp_path, capsys):
    parameterised_notebook(tmp_path / "09_p.ipynb", "pass")
    assert nbs.main(["run", "--dir", str(tmp_path), "-p", "SAMPLE_SIZ=3", "--out-dir", str(tmp_path / "o")]) == 2
    assert "declares SAMPLE_SIZ" in capsys.readouterr().err


@pytest.mark.clientdata
def test_notebook_01_runs_small_through_the_runner(client_calls, tmp_path):
    source = config.NOTEBOOKS_DIR / "01_eda_wordclouds.ipynb"
    before = source.read_bytes()
    result = nbs.run_notebook(source, tmp_path / source.name, nbs.SMALL_PARAMETERS, html_dir=tmp_path)
    assert check_notebook(result.output) == []
    metrics = read_metrics(result.output)
    assert metrics["calls"] == nbs.SMALL_PARAMETERS["SAMPLE_SIZE"]
    assert metrics["files_read"] == len(list(client_calls.glob("*.txt")))
    assert 0 < metrics["median_customer_share"] < 1
    assert (tmp_path / "01_eda_wordclouds.html").stat().st_size > 10_000
    assert source.read_bytes() == before


def test_every_committed_notebook_was_run_top_to_bottom():
    paths = nbs.notebook_paths()
    assert len(paths) >= 5, f"notebooks 01-05 missing from {config.NOTEBOOKS_DIR}"
    assert [problem for path in paths for problem in check_notebook(path)] == []
