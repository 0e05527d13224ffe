"""Packaging: the ranges pyproject.toml declares admit the exact versions requirements*.txt pins and CI tests."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-scale.txt"):
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#]+)", line.strip())
            if match:
                pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DECLARED = [Requirement(r) for r in PROJECT["dependencies"]] + [
    Requirement(r) for extra in PROJECT["optional-dependencies"].values() for r in extra]


@pytest.mark.parametrize("requirement", DECLARED, ids=str)
def test_each_declared_range_admits_the_pinned_version(requirement):
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is declared in pyproject.toml but not pinned in requirements*.txt"
    assert requirement.specifier.contains(pins[name]), (
        f"{requirement.name}=={pins[name]} (requirements) is outside pyproject.toml's {requirement.specifier}")


def test_the_license_file_is_there():
    assert PROJECT["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
