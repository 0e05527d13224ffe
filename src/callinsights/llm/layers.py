"""An earlier block's hidden states, read in the same pass as the last layer's.

llama.cpp returns the states after the model's last block (and its final norm) only. Its evaluation callback
(``cb_eval``) shows us each tensor of the graph as it is computed: :class:`BlockReader` asks for the output of block
``k`` (the tensor llama.cpp names ``l_out-{k-1}``), copies it, and applies the model's final RMS norm itself. That is
what a copy of the model cut after ``k`` blocks returns as its "last" states, at no extra pass. The probe reads
sentiment there: on the labelled calls every earlier layer tried read the customer's mood better than the last one,
which a 135M model spends on predicting the next token (``docs/experiments.md``, item 9).

:func:`write_first_blocks` writes such a cut copy (the ``gguf`` package). It is the independent check of the reading:
``tests/test_layers.py`` compares the two, and compares the last block read through the callback with llama.cpp's own
output.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

import gguf
import numpy as np

from callinsights.llm.models import ModelError, vocabulary

_F32 = 0  # ggml_type GGML_TYPE_F32: the first field of struct ggml_tensor


def _model_facts(path: str | Path) -> tuple[gguf.GGUFReader, str]:
    """The parsed GGUF file and its architecture (the prefix of its metadata keys)."""
    reader = gguf.GGUFReader(path)
    return reader, reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()


def block_count(path: str | Path) -> int:
    """The number of transformer blocks of a GGUF model, from the metadata of its (cached) vocabulary, so that
    settling the settings of a run served from the store costs nothing."""
    metadata = vocabulary(Path(path)).metadata
    return int(metadata[f"{metadata['general.architecture']}.block_count"])


def check_block(path: str | Path, block: int) -> None:
    """Raise ModelError unless ``block`` is one of the model's blocks (1 .. its block count)."""
    blocks = block_count(path)
    if not 1 <= block <= blocks:
        raise ModelError(f"{Path(path).name} has {blocks} blocks; read after 1 to {blocks} of them, "
                         f"not {block} (--sentiment-blocks 0 reads the last layer)")


@lru_cache(maxsize=4)
def _final_norm(path: str, _mtime_ns: int, _size: int) -> tuple[np.ndarray, float]:
    """Final norm weight and epsilon of a model file, read once per process and file version: ``GGUFReader`` parses
    the whole vocabulary to get there (about 4 s for the embedded model)."""
    reader, arch = _model_facts(path)
    norm = next((t for t in reader.tensors if t.name == "output_norm.weight"), None)
    eps = reader.get_field(f"{arch}.attention.layer_norm_rms_epsilon")
    if norm is None or eps is None:
        raise ModelError(f"{Path(path).name} has no final RMS norm (output_norm.weight and "
                         f"{arch}.attention.layer_norm_rms_epsilon), so an earlier block cannot be read from it; "
                         "use --sentiment-blocks 0")
    weight = np.asarray(norm.data, dtype=np.float64)
    weight.setflags(write=False)  # shared by every reader of this file
    return weight, float(eps.contents())


class BlockReader:
    """Reads the output of one transformer block, final norm applied, during llama.cpp's own evaluation.

    Args:
        path: The GGUF model file (its final norm's weight and epsilon are read from it).
        block: The block whose output is read, counted from 1 (``block_count`` reads the last one).

    Raises:
        ModelError: ``block`` is outside 1 .. the model's block count.
    """

    def __init__(self, path: str | Path, block: int):
        check_block(path, block)
        stat = Path(path).stat()
        self.weight, self.eps = _final_norm(str(path), stat.st_mtime_ns, stat.st_size)
        self.block = block
        self._name = f"l_out-{block - 1}".encode()
        self._chunks: list[np.ndarray | None] = []
        from llama_cpp import ggml_backend_sched_eval_callback
        from llama_cpp._ggml import libggml

        self._ggml = libggml
        for fn, restype, argtypes in (("ggml_get_name", ctypes.c_char_p, [ctypes.c_void_p]),
                                      ("ggml_nbytes", ctypes.c_size_t, [ctypes.c_void_p]),
                                      ("ggml_backend_tensor_get", None,
                                       [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t])):
            getattr(libggml, fn).restype, getattr(libggml, fn).argtypes = restype, argtypes
        # Kept on the instance: llama.cpp holds only the C pointer, so the Python object must outlive the context.
        self.callback = ggml_backend_sched_eval_callback(self._see)

    def _see(self, tensor: int, ask: bool, _user_data) -> bool:
        """llama.cpp asks about every tensor (``ask``: do we want it?), then hands over the ones we said yes to."""
        if ask:
            return self._ggml.ggml_get_name(tensor) == self._name
        if ctypes.c_int.from_address(tensor).value != _F32:
            # Raised by take(): an exception here would only be printed, and False would abort the evaluation.
            self._chunks.append(None)
            return True
        size = self._ggml.ggml_nbytes(tensor)
        out = np.empty(size // 4, dtype=np.float32)
        self._ggml.ggml_backend_tensor_get(tensor, out.ctypes.data, 0, size)
        self._chunks.append(out)  # one chunk per micro-batch, in token order
        return True  # False would stop the evaluation

    def attach(self, llm) -> None:
        """Evaluate ``llm`` (a ``llama_cpp.Llama``) with this reader watching.

        llama-cpp-python builds its context in ``Llama.__init__`` with no way to pass ``cb_eval``, so the context is
        built again with the same parameters plus the callback. That uses its private ``_ctx``, ``_model``,
        ``_internals`` and ``_ggml``, as of the pinned version; ``tests/test_layers.py`` fails if they change.
        """
        from llama_cpp._internals import LlamaContext

        params = llm.context_params
        params.cb_eval = self.callback
        llm._ctx.close()
        llm._ctx = LlamaContext(model=llm._model, params=params, verbose=False)

    def clear(self) -> None:
        """Forget what was read (an evaluation that failed half way leaves some micro-batches behind)."""
        self._chunks = []

    def take(self) -> np.ndarray:
        """The normed states of every token read since the last call, one row per token (then forgotten)."""
        if not self._chunks:
            raise RuntimeError(f"llama.cpp evaluated no {self._name.decode()}: attach the reader before evaluating")
        if any(chunk is None for chunk in self._chunks):
            self._chunks = []
            raise RuntimeError(f"llama.cpp's {self._name.decode()} is not float32; this reader cannot read it")
        states = np.concatenate(self._chunks).astype(np.float64).reshape(-1, len(self.weight))
        self._chunks = []
        # RMS norm, as llama.cpp applies it to the last block's output before returning it.
        return states / np.sqrt((states**2).mean(axis=1, keepdims=True) + self.eps) * self.weight


def write_first_blocks(source: str | Path, keep: int, out: str | Path) -> Path:
    """Write a copy of a GGUF model that keeps its first ``keep`` blocks: every metadata field (the block count
    changed) and the tensors outside the dropped blocks. llama.cpp runs it as a model of its own, whose last states
    are the output of block ``keep``.

    Returns:
        ``out``.
    """
    reader, arch = _model_facts(source)
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
