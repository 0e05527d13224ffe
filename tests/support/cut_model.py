"""A copy of a GGUF model cut after its first blocks: the independent reference for reading an earlier block's states
in the same pass (``tests/test_layers.py``) and the copies ``benchmarks/layer_probe.py`` probes."""

from __future__ import annotations

from pathlib import Path

import gguf


def write_first_blocks(source: str | Path, keep: int, out: str | Path) -> Path:
    """Write a copy of ``source`` with its first ``keep`` blocks (every metadata field, the block count changed, and
    the tensors outside the dropped blocks); llama.cpp runs it as a model whose last states are block ``keep``'s.
    Returns ``out``."""
    reader = gguf.GGUFReader(source)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    out = Path(out)
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
        value = keep if field.name == f"{arch}.block_count" else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub)
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
    return out
