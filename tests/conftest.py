"""Shared fixtures: fixture calls written for the tests, and the client's data when data/ holds it."""

from __future__ import annotations

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
