"""Saved fitted models ("artifacts"): skops files carrying their own metadata.

An artifact is made by one person and loaded by others, so it is never a pickle (loading a pickle runs whatever
code it names). It is written with skops (``skops.io``), whose loader builds only the types it knows to be safe
plus those the caller lists; :func:`load_artifact` takes that list explicitly and refuses a file naming any other
type, naming the type, instead of trusting the file.

Each artifact is one dictionary: ``kind`` and ``format_version`` (what wrote it, so a reader can refuse a file it
does not understand), ``metadata`` (plain numbers, strings, lists and dictionaries: what it was fitted on, when,
with which package versions, how well it did held out) and ``payload`` (the fitted objects). This module only
reads and writes them; what the payload holds is the business of the layer that fits it
(:mod:`callinsights.classify.fitting`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from callinsights.data.outputs import write_bytes

#: Packages whose versions every artifact records (distribution names as pip knows them).
RECORDED_PACKAGES = ("callinsights", "scikit-learn", "numpy", "llama-cpp-python", "skops")


class ArtifactError(ValueError):
    """An artifact that cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact.

    Attributes:
        path: Where it was read from.
        kind: What it holds (e.g. ``"callinsights-probe"``).
        format_version: The layout of ``payload`` it was written with.
        metadata: What it was fitted on, when and how (plain values).
        payload: The fitted objects.
    """

    path: Path
    kind: str
    format_version: int
    metadata: dict[str, Any]
    payload: dict[str, Any]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Iterable[str] = RECORDED_PACKAGES) -> dict[str, str]:
    """The installed version of each package ("not installed" when it is not)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_artifact(path: str | Path, kind: str, format_version: int, metadata: dict[str, Any],
                  payload: dict[str, Any]) -> Path:
    """Write an artifact atomically: a reader (or a run killed mid-write) sees the old file or the new one, and a
    file written over keeps its permissions.

    Args:
        path: The ``.skops`` file; its folder is created.
        kind: What it holds.
        format_version: The payload's layout.
        metadata: Plain values only (numbers, strings, booleans, None, lists, dictionaries).
        payload: The fitted objects (scikit-learn estimators, NumPy arrays, plain values).

    Returns:
        The path written.
    """
    import skops.io

    data = skops.io.dumps({"kind": kind, "format_version": format_version, "metadata": metadata,
                           "payload": payload})
    return write_bytes(path, data)


def load_artifact(path: str | Path, kind: str, format_version: int, trusted: Iterable[str], remedy: str
                  ) -> Artifact:
    """Read an artifact, building only skops' safe types and the ``trusted`` ones.

    Args:
        path: The ``.skops`` file.
        kind: The kind expected.
        format_version: The payload layout expected.
        trusted: Fully qualified names of the extra types the payload may hold (as
            ``skops.io.get_untrusted_types`` names them); any other type is refused.
        remedy: What to do about an unusable file, appended to every message (e.g. the command that remakes it).

    Raises:
        FileNotFoundError: No file at ``path``.
        ArtifactError: Not a skops file, damaged, naming an untrusted type, of another kind or format version.
    """
    import skops.io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no artifact here. {remedy}")
    data = path.read_bytes()
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as err:  # noqa: BLE001 -- zip, JSON and schema errors all mean the same: not a usable file
        raise ArtifactError(f"{path}: not a readable skops artifact ({type(err).__name__}: {err}); it may be "
                            f"damaged, or a pickle or other file. {remedy}") from None
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise ArtifactError(f"{path}: names type(s) this version does not load: {', '.join(refused)}; it was not "
                            f"written by this version of callinsights, or was altered. {remedy}")
    try:
        content = skops.io.loads(data, trusted=sorted(set(untrusted)))
    except Exception as err:  # noqa: BLE001 -- a damaged member or a type that fails to rebuild
        raise ArtifactError(f"{path}: could not be loaded ({type(err).__name__}: {err}); it is damaged. "
                            f"{remedy}") from None
    if not isinstance(content, dict) or content.get("kind") != kind:
        found = content.get("kind") if isinstance(content, dict) else type(content).__name__
        raise ArtifactError(f"{path}: holds {found!r}, not a {kind} artifact. {remedy}")
    if content.get("format_version") != format_version:
        raise ArtifactError(f"{path}: written in artifact format {content.get('format_version')!r}; this version "
                            f"reads format {format_version}. {remedy}")
    if not isinstance(content.get("metadata"), dict) or not isinstance(content.get("payload"), dict):
        raise ArtifactError(f"{path}: has no metadata or payload; it is damaged. {remedy}")
    return Artifact(path, kind, format_version, content["metadata"], content["payload"])
