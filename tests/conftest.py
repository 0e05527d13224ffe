"""Shared fixtures: fixture calls written for the tests, and the client's data when data/ holds it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from callinsights import config
from callinsights.llm import engines as llm

FIXTURES = Path(__file__).parent / "fixtures"

#: Modules that take minutes, longest first (each fills a store from the model first). `make test` runs two
#: pytest-xdist workers that take whole modules in collection order, so these go first: the other worker runs the many
#: short modules meanwhile, instead of one of them starting last and running alone.
SLOW_FIRST = ("test_topic_invariance.py", "test_fit.py", "test_evaluation_command.py", "test_notebooks_small.py")


def pytest_collection_modifyitems(items):
    # Longest first; a stable sort, so all else keeps its order.
    items.sort(key=lambda item: SLOW_FIRST.index(item.path.name) if item.path.name in SLOW_FIRST else len(SLOW_FIRST))


@contextlib.contextmanager
def one_cpu():
    """Processes started inside run on one CPU, so llama.cpp in them takes one thread, as in every in-process test
    (a command, a notebook's kernel): they inherit this process's CPUs, which are put back afterwards. Each
    pytest-xdist worker has its own CPU, so two workers' processes never share a core, nor wait on each other."""
    cpus = os.sched_getaffinity(0)
    ordered = sorted(cpus)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    os.sched_setaffinity(0, {ordered[int(worker) % len(ordered)] if worker.isdigit() else ordered[0]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """llama.cpp with one thread in every test that leaves the thread count to the default: on a shared 2-core
    machine two threads that wait on each other run several times slower (the sample evaluate took 313 s with two,
    74 s with one), and outputs do not depend on it (the store's key has no thread count). Commands run in a
    subprocess are pinned to one CPU by their tests instead."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(llm, "default_threads", lambda: 1)
        yield


#: The analyst's own local files, which git does not show: no test may write them (tests use their own stores and
#: artifacts). Taken when the tests are collected, before any test points ``config`` elsewhere.
ANALYSTS_FILES = (config.STORE_FILE, config.ARTIFACT_FILE)


def _stamp(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None


@pytest.fixture(scope="session", autouse=True)
def analysts_files_untouched():
    """Fails the session (an error at its end) if a test wrote the analyst's store or saved probe."""
    before = {path: _stamp(path) for path in ANALYSTS_FILES}
    yield
    changed = [str(path) for path in ANALYSTS_FILES if _stamp(path) != before[path]]
    assert not changed, f"a test wrote the analyst's {changed}: give it its own --store / --artifact"


@pytest.fixture
def fixture_calls() -> Path:
    """Folder of small calls written for the tests (never client data)."""
    return FIXTURES / "calls"


@pytest.fixture
def client_calls() -> Path:
    """The client's transcripts folder; skips the test when data/ does not hold them."""
    if not any(config.TRANSCRIPTS_DIR.glob("*.txt")):
        pytest.skip(f"client data not in {config.TRANSCRIPTS_DIR}: run `make data` to link it")
    return config.TRANSCRIPTS_DIR


@pytest.fixture
def client_labels() -> Path:
    """The client's 40 hand labels; skips the test when data/ does not hold them."""
    if not config.LABELS_FILE.is_file():
        pytest.skip(f"client labels not at {config.LABELS_FILE}: run `make data` to link them")
    return config.LABELS_FILE


@pytest.fixture(scope="session")
def client_store(tmp_path_factory) -> Path:
    """One store of model outputs shared by the tests that read the client's calls: outputs are keyed by the exact
    text read, so sharing only saves recomputing the same call. Both pytest-xdist workers open the same file (SQLite
    serialises their writes, and a run checks the store for each call just before computing it), so a call one
    worker has computed is read by the other: a clean clone reads the labelled calls once, not once per worker. A
    copy of the project's store seeds it when there is one (never the store itself: the tests add runs). Tests that
    count runs or outputs use their own store."""
    common = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        common = common.parent  # each worker's temporary folder is one of the session's
    path = common / "client_store" / "runs.sqlite"
    path.parent.mkdir(exist_ok=True)
    with open(common / "client_store.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker seeds it; the other waits for the whole copy
        if not path.is_file() and config.STORE_FILE.is_file():
            partial = path.with_suffix(".partial")
            shutil.copyfile(config.STORE_FILE, partial)
            partial.replace(path)
    return path


#: Calls of the client's folder besides the labelled ones in :func:`small_client_data`: enough for a test to copy
#: eight of them under new names and one more, whose speakers alternate, as a WebVTT file.
SMALL_OTHERS = 9


@pytest.fixture(scope="session")
def small_client_data(tmp_path_factory) -> Path:
    """A data folder laid out as ``data/`` holding the client's label files, every labelled call and a few others.

    What does not depend on how many calls a folder holds (a fit on the configured folder, renamed copies labelled
    as in the full run) is tested on it: a cold store reads its ~50 calls once, not all 200. The others are the
    first unlabelled calls in reading order, which the topic test reads too, so the session store computes them
    once; one of them has speakers that alternate (a WebVTT copy keeps its text). Copies, so that no test can
    change the client's files. Skips the test when data/ does not hold the client's calls and labels.
    """
    from callinsights.data.labels import load_labels
    from callinsights.data.call import natural_key
    from callinsights.data.transcripts import read_call

    labels = [path for path in (config.LABELS_FILE, config.GUIDELINE_LABELS_FILE) if path.is_file()]
    if not any(config.TRANSCRIPTS_DIR.glob("*.txt")) or not labels:
        pytest.skip(f"client data not in {config.DATA_DIR}: run `make data` to link it")
    labelled = set()
    for path in labels:
        labelled |= set(load_labels(path).index)
    calls = sorted(config.TRANSCRIPTS_DIR.glob("*.txt"), key=natural_key)
    others = [path for path in calls if path.stem not in labelled]
    keep = others[:SMALL_OTHERS]
    if not any(speakers_alternate(read_call(path)) for path in keep):
        keep[-1] = next(path for path in others if speakers_alternate(read_call(path)))
    folder = tmp_path_factory.mktemp("small_data")
    (folder / config.TRANSCRIPTS_DIR.name).mkdir()
    for path in [path for path in calls if path.stem in labelled] + keep:
        shutil.copyfile(path, folder / config.TRANSCRIPTS_DIR.name / path.name)
    for path in labels:
        shutil.copyfile(path, folder / path.name)
    return folder


def speakers_alternate(turns) -> bool:
    """No two speech turns in a row by one speaker: WebVTT joins one voice's cues into one turn, so only such a
    call has the same text as a WebVTT file."""
    speech = [t.speaker for t in turns if t.kind == "speech"]
    return all(a != b for a, b in zip(speech, speech[1:]))
