"""Writing output files so that finished work is never lost and a spreadsheet never runs a cell; saved fits
(skops artifacts with their SHA-256 beside them); the record of which label file a result used.

Output paths are checked before any model time is spent; files are written to a temporary file and renamed over the
target, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from callinsights import config

#: First characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says what to do."""


#: The file name suggested when a folder is given for an option's file: one of the file's own kind.
_EXAMPLE_NAMES = {"--store": config.STORE_FILE.name, "--artifact": config.ARTIFACT_FILE.name}


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """``path``, once sure a file can be written there before any work is done (its folder is created).

    Raises:
        OutputError: The path is a folder, a parent is a file, or its folder cannot be created or written; the
            message names ``option``, the command-line option that sets it.
    """
    path = Path(path)
    if path.is_dir():
        example = path / _EXAMPLE_NAMES.get(option, "out.csv")
        raise OutputError(f"{path}: is a folder, not a file; give {option} a file name such as {example}")
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{path}: {ancestor} is a file, not a folder; give {option} another path")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Permission bits do not tell (root, read-only mounts, ACLs): trying is the only sure check.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as err:
        raise OutputError(f"{path}: cannot write in {path.parent} ({err.strerror or err}); give {option} a path in a "
                          "folder you can write to") from None
    return path


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: resolved (links, ``..``), or the same inode when both exist (hard links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(outputs: Mapping[str, str | Path | None], inputs: Mapping[str, str | Path | None],
                              read_in_folders: Iterable[str] = ()) -> None:
    """Refuse, before any work, an output path that is also an input of the same run.

    A path given twice (``fit --artifact`` the label file, ``analyze --out`` the store) would otherwise be replaced
    by the output at the end of the run, with exit 0. Paths are compared resolved, so a link or ``..`` does not hide
    the clash; an option both read and written (``--store``) is never compared with itself. ``outputs`` and
    ``inputs`` map options to paths (None skipped); an input folder clashes with an output inside it whose suffix is
    one of ``read_in_folders`` (it would replace or join the calls read).

    Raises:
        OutputError: Naming both options, the path, and what to do.
    """
    read_in_folders = tuple(read_in_folders)
    pairs = ((out_name, Path(out), in_name, Path(source)) for out_name, out in outputs.items()
             for in_name, source in inputs.items() if out is not None and source is not None and in_name != out_name)
    for out_name, out, in_name, source in pairs:
        if _same_file(out, source):
            shown = "" if str(out) == str(source) else f" (both are {out.resolve()})"
            raise OutputError(f"{out_name} {out}: the same file as {in_name} {source}{shown}, which this run "
                              f"reads; writing it would replace that file. Give {out_name} another path "
                              "(nothing was done)")
        if source.is_dir() and out.suffix.lower() in read_in_folders and out.resolve().is_relative_to(
                source.resolve()):
            raise OutputError(f"{out_name} {out}: inside the folder {in_name} {source}, among the calls this run "
                              f"reads; writing it there would replace or add a call. Give {out_name} a path "
                              "outside that folder (nothing was done)")


def neutralise(value: object) -> object:
    """A text cell a spreadsheet would evaluate (``=HYPERLINK(...)``, ``-5 stars``), prefixed with an apostrophe as
    OWASP advises against CSV injection; anything else (the number -5) unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell passed through :func:`neutralise` (numbers untouched)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: object) -> Path:
    """Write a table as CSV atomically (its folder created), formula cells neutralised; ``to_csv`` goes to
    :meth:`pandas.DataFrame.to_csv` (``index=False`` unless given). Returns the path."""
    to_csv.setdefault("index", False)
    return _atomic(path, lambda handle: neutralised(frame).to_csv(handle, **to_csv))


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (a temp file beside it, then a rename): a failure leaves the old file whole."""
    return _atomic(path, lambda handle: handle.write(text))


def _atomic(path: str | Path, write, binary: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permission bits the file would get from a plain ``open``: kept if it exists, else 0o666 less the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def json_ready(value: Any) -> Any:
    """``value`` (nested freely) as strict JSON: numpy and pandas scalars as numbers, NaN as None, Series as dicts,
    frames as lists of records."""
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex):  # a named index is data too (e.g. the metric of each row)
            value = value.reset_index()
        return [json_ready(row) for row in value.to_dict(orient="records")]
    if isinstance(value, (pd.Series, Mapping)):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# Saved fitted models ("artifacts"): skops files carrying their own metadata.

#: Packages whose versions every artifact records (distribution names as pip knows them).
RECORDED_PACKAGES = ("callinsights", "scikit-learn", "numpy", "llama-cpp-python", "skops")


class ArtifactError(ValueError):
    """An artifact that cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: what it holds (``kind``, e.g. ``"callinsights-probe"``), the layout of ``payload`` (the
    fitted objects), and ``metadata``: what it was fitted on, when and how (plain values)."""

    path: Path
    kind: str
    format_version: int
    metadata: dict[str, Any]
    payload: dict[str, Any]


#: Beside every artifact, the SHA-256 of the bytes written, in ``sha256sum`` format (``sha256sum -c`` checks it).
DIGEST_SUFFIX = ".sha256"


def digest_record(path: str | Path) -> Path:
    """The file beside an artifact that records its SHA-256 when it was written."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# Which reading of the hand labels a result was computed from. Two readings of the 40 labelled calls exist (the
# guideline readers' and the client's); a result mixing them contradicts the next one, so each records its own.

#: The name of a record that a command writing only CSVs puts beside them (see :func:`label_reading`).
READING_RECORD_SUFFIX = ".reading.json"


def label_reading(labels: str | Path, files: Iterable[str | Path] = (), sha256: str | None = None) -> dict[str, Any]:
    """``{"labels_file": name, "labels_sha256": hex, "files_from_labels": [names]}``: which label file a result used
    (its SHA-256 tells an edited file with the same name apart), the one mechanism every labelled result follows.

    A command that writes a JSON file merges this record into it (``results/metrics.json``), naming every file it
    wrote from these labels; one that writes only CSVs writes it beside them (:func:`write_label_reading`).
    ``tests/test_label_reading.py`` fails when two readings feed the results. ``sha256``, when already known (a saved
    fit records it), records a label file no longer at hand.
    """
    return {"labels_file": Path(labels).name, "labels_sha256": sha256 or file_sha256(labels),
            "files_from_labels": sorted(Path(name).name for name in files)}


def write_label_reading(path: str | Path, labels: str | Path, files: Iterable[str | Path], sha256: str | None = None
                        ) -> Path:
    """Write :func:`label_reading` at ``path`` for CSVs that have no JSON of their own to carry it: in their folder,
    named after the command or its one file plus :data:`READING_RECORD_SUFFIX` (``results/insights.reading.json``)."""
    return write_text(path, json.dumps(label_reading(labels, files, sha256), indent=1) + "\n")


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
    """Write an artifact (a ``.skops`` file) atomically, its SHA-256 recorded beside it (:func:`digest_record`) so
    that a file changed afterwards is refused by :func:`load_artifact`. ``metadata`` holds plain values only,
    ``payload`` the fitted objects (scikit-learn estimators, NumPy arrays, plain values). Returns the path."""
    import skops.io

    data = skops.io.dumps({"kind": kind, "format_version": format_version, "metadata": metadata, "payload": payload})
    _atomic(path, lambda handle: handle.write(data), binary=True)
    write_text(digest_record(path), f"{hashlib.sha256(data).hexdigest()}  {Path(path).name}\n")
    return Path(path)


def load_artifact(path: str | Path, kind: str, format_version: int, trusted: Iterable[str], remedy: str
                  ) -> Artifact:
    """Read an artifact of ``kind`` and ``format_version``, building only skops' safe types and the ``trusted`` ones
    (fully qualified names, as ``skops.io.get_untrusted_types`` gives them).

    ``remedy`` says what to do about an unusable file (e.g. the command that remakes it) and ends every message;
    ``{path}`` in it becomes the file's path, quoted for a shell.

    Raises:
        FileNotFoundError: No file at ``path``.
        ArtifactError: Not a skops file, damaged, naming an untrusted type, of another kind or format version, or
            its bytes differ from the SHA-256 recorded beside it when it was written (a file without a record, made
            before records were kept or copied alone, cannot be checked so and is read).
    """
    import skops.io

    path = Path(path)
    remedy = remedy.replace("{path}", shlex.quote(str(path)))
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
    record = digest_record(path)
    if record.is_file():
        recorded = record.read_text(encoding="utf-8", errors="replace").split(maxsplit=1)[:1]
        actual = hashlib.sha256(data).hexdigest()
        if recorded != [actual]:
            raise ArtifactError(f"{path}: changed since it was written: its SHA-256 is {actual[:16]}..., not the "
                                f"{(recorded or ['nothing'])[0][:16]}... recorded beside it in {record}. A fit "
                                f"changed afterwards is not used. {remedy}")
    return Artifact(path, kind, format_version, content["metadata"], content["payload"])


# Filling the project's ``data/`` folder with the client's files, which are never committed.

def link_client_data(source: Path = config.SHARED_DATA_DIR, target: Path = config.DATA_DIR) -> list[str]:
    """Link (or, where links fail, copy) the client's transcripts and labels into ``target``; one line per entry
    saying what was done, for the setup step to print.

    Existing entries in ``target`` are left alone, so a user's own copies are never overwritten. The guideline
    reading (``guideline_labels.csv``) is linked when ``source`` has it; the project runs without it.
    """
    names = (config.TRANSCRIPTS_DIR.name, config.LABELS_FILE.name)
    optional = (config.GUIDELINE_LABELS_FILE.name,)
    if not source.is_dir():
        if all((target / n).exists() for n in names):
            return [f"{target}: already holds {', '.join(names)}"]
        return [f"{source}: not found, so nothing was linked. Put the calls in {target / 'transcripts_v3'}/ "
                f"(one .txt per call) and the labels in {target / 'test_actual_label.csv'}."]
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name in (*names, *optional):
        src, dst = source / name, target / name
        if dst.exists() or dst.is_symlink():
            done.append(f"{dst}: already there, left as it is")
            continue
        if not src.exists():
            if name not in optional:
                done.append(f"{src}: missing in the client's folder, skipped")
            continue
        try:
            dst.symlink_to(src.resolve(), target_is_directory=src.is_dir())
            done.append(f"{dst} -> {src.resolve()} (link)")
        except OSError:
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
            done.append(f"{dst}: copied from {src}")
    return done
