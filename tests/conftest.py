"""Shared fixtures: fixture calls written for the tests, and the client's data when data/ holds it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callinsights import config

FIXTURES = Path(__file__).parent / "fixtures"


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
    text read, so sharing only saves recomputing the same call. A copy of the project's store seeds it when there is
    one (never the store itself: the tests add runs). Tests that count runs or outputs use their own store."""
    path = tmp_path_factory.mktemp("client_store") / "runs.sqlite"
    if config.STORE_FILE.is_file():
        shutil.copyfile(config.STORE_FILE, path)
    return path
