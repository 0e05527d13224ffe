"""Every numbered notebook runs top to bottom with small parameters, as ``notebooks run --small`` runs it.

Notebook 01 is run small by ``test_notebooks.py``, where its recorded figures are checked too. These run here rather
than after pytest, so that the two test workers share them with the other modules.
"""

from __future__ import annotations

import pytest

from callinsights import config
from callinsights.pipelines import notebooks as nbs
from tests.support.notebooks import check_notebook
from tests.conftest import one_cpu


@pytest.mark.model
@pytest.mark.clientdata
@pytest.mark.parametrize("number", ["02", "03", "04", "05"])
def test_a_notebook_runs_small_top_to_bottom(number, client_calls, client_store, tmp_path, capsys, monkeypatch):
    (source,) = nbs.notebook_paths(only=[number])
    before = source.read_bytes()
    # The kernel reads and adds to the session's store of the client's calls, never the analyst's results/runs.sqlite
    # (a test run there would show in the store's monitoring); the labelled calls notebook 03 reads are there already.
    monkeypatch.setenv("CALLINSIGHTS_STORE", str(client_store))
    analysts_store = config.RESULTS_DIR / "runs.sqlite"
    store_before = analysts_store.stat().st_mtime_ns if analysts_store.is_file() else None
    # On one CPU: a kernel on both waited on the other worker's model (notebook 03 took 159 s that way, 30 s alone).
    with one_cpu():
        code = nbs.main(["run", "--small", "--only", number, "--out-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    executed = tmp_path / source.name
    assert check_notebook(executed) == []
    assert (tmp_path / source.with_suffix(".html").name).stat().st_size > 10_000
    assert source.read_bytes() == before  # the committed notebook is left as it is
    assert (analysts_store.stat().st_mtime_ns if analysts_store.is_file() else None) == store_before
