"""An earlier layer's hidden states: a copy of the model that keeps only its first transformer blocks.

llama.cpp returns the hidden states of the last layer only. A GGUF copy with ``<arch>.block_count`` set to ``k`` and
the tensors of the blocks from ``k`` on left out runs the first ``k`` blocks, then the model's final norm, so its
"last" states are the output of block ``k``. The probe reads sentiment from such a copy: on the labelled calls, every
earlier layer tried read the customer's mood better than the last one, which a 135M model spends on predicting the
next token (``docs/experiments.md``, item 9; ``benchmarks/layer_probe.py``). A copy with every block reproduces the
model's own states exactly (checked there and in ``tests/test_layers.py``).

The copy is derived, never downloaded: written once from the model file into the cache and named by the source's
hash and ``k``, so a changed model gets a new copy.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gguf

from callinsights import config
from callinsights.llm.models import ModelError, ModelInfo, file_sha256


def block_count(path: str | Path) -> int:
    """The number of transformer blocks of a GGUF model."""
    reader = gguf.GGUFReader(path)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    return int(reader.get_field(f"{arch}.block_count").contents())


def first_blocks(model: ModelInfo, keep: int, cache_dir: str | Path | None = None) -> ModelInfo:
    """The model cut after its first ``keep`` blocks (written once into the cache), as a model of its own.

    Args:
        model: The resolved model.
        keep: Blocks to keep; more than the model has keeps them all.
        cache_dir: Where copies go (default ``config.CACHE_DIR / "models"``).

    Returns:
        The copy's :class:`~callinsights.llm.models.ModelInfo` (same chat format; its own hash, so outputs read from
        it are stored under their own key), or ``model`` itself when ``keep`` covers every block.

    Raises:
        ModelError: ``keep`` is below 1, or the copy cannot be written.
    """
    if keep < 1:
        raise ModelError(f"cannot keep {keep} blocks of {model.path}; give 1 or more")
    reader = gguf.GGUFReader(model.path)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    count_key = f"{arch}.block_count"
    blocks = int(reader.get_field(count_key).contents())
    if keep >= blocks:
        return model
    name = f"{model.path.stem}.blocks-{keep}-of-{blocks}-{model.sha256[:12]}.gguf"
    out = Path(cache_dir or config.CACHE_DIR / "models") / name
    if not out.is_file():
        try:
            _write_first_blocks(reader, arch, count_key, keep, out)
        except OSError as err:
            raise ModelError(f"could not write the first {keep} blocks of {model.path} to {out}: {err}") from None
    return replace(model, path=out, name=out.name, sha256=file_sha256(out), embedded=False)


def _write_first_blocks(reader: gguf.GGUFReader, arch: str, count_key: str, keep: int, out: Path) -> None:
    """Write the copy: every metadata field (the block count changed) and the tensors outside the dropped blocks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")  # renamed when whole, so a killed write never leaves a broken model
    writer = gguf.GGUFWriter(tmp, arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    for field in reader.fields.values():
        # The writer writes the architecture and the GGUF.* header fields itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, keep if field.name == count_key else field.contents(), kind, sub_type=sub)
    kept = [t for t in reader.tensors if not t.name.startswith("blk.") or int(t.name.split(".")[1]) < keep]
    for t in kept:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in kept:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    tmp.rename(out)
