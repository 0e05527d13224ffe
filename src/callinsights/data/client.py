"""Filling the project's ``data/`` folder with the client's files, which are never committed."""

from __future__ import annotations

import shutil
from pathlib import Path

from callinsights import config
def link_client_data(source: Path = config.SHARED_DATA_DIR, target: Path = config.DATA_DIR) -> list[str]:
    """Link (or, where links fail, copy) the client's transcripts and labels into ``target``.

    Existing entries in ``target`` are left alone, so a user's own copies are never overwritten. The guideline
    reading (``guideline_labels.csv``) is linked when the client's folder has it; the project runs without it
    (notebook 02 then skips the agreement between readers).

    Args:
        source: Folder with ``transcripts_v3/``, ``test_actual_label.csv`` and optionally ``guideline_labels.csv``.
        target: The project's data folder.

    Returns:
        One line per entry saying what was done, for the setup step to print.
    """
    names = (config.TRANSCRIPTS_DIR.name, config.LABELS_FILE.name)
    optional = (config.GUIDELINE_LABELS_FILE.name,)
    if not source.is_dir():
        present = [n for n in names if (target / n).exists()]
        if len(present) == len(names):
            return [f"{target}: already holds {', '.join(names)}"]
        return [
            f"{source}: not found, so nothing was linked. Put the calls in {target / 'transcripts_v3'}/ "
            f"(one .txt per call) and the labels in {target / 'test_actual_label.csv'}."
        ]
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
