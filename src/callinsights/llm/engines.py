"""The local engines (llama.cpp, gpt4all), the registry of every engine, and an earlier block's hidden states read
in the same pass as the last layer's (the probe reads sentiment there, ``docs/experiments.md`` item 9).

llama.cpp returns the last block's states only; :class:`BlockReader` copies block ``k``'s output from its evaluation
callback and applies the final RMS norm, as a copy of the model cut after ``k`` blocks would (``tests/test_layers.py``).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path
import time
from typing import Sequence

import gguf
import numpy as np
from scipy.special import log_softmax

from callinsights.llm.base import (BLOCK_STATES, GENERATION, SCORES, TURN_STATES, Branch, Engine,
                                   Generation, Scores, TurnStates, default_threads, pool_by_turn, quiet_stderr)
from callinsights.llm.models import ModelError, ModelInfo, count_tokens, gpt4all_compatible_copy, vocabulary
from callinsights.llm.openai_engine import OpenAIEngine

_F32 = 0  # ggml_type GGML_TYPE_F32: the first field of struct ggml_tensor


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
    reader = gguf.GGUFReader(path)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
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
    """Reads the output of transformer ``block`` (counted from 1) of the GGUF model at ``path``, final norm applied,
    during llama.cpp's own evaluation; ModelError for a block the model does not have."""

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
        chunks, self._chunks = self._chunks, []
        if not chunks:
            raise RuntimeError(f"llama.cpp evaluated no {self._name.decode()}: attach the reader before evaluating")
        if any(chunk is None for chunk in chunks):
            raise RuntimeError(f"llama.cpp's {self._name.decode()} is not float32; this reader cannot read it")
        states = np.concatenate(chunks).astype(np.float64).reshape(-1, len(self.weight))
        # RMS norm, as llama.cpp applies it to the last block's output before returning it.
        return states / np.sqrt((states**2).mean(axis=1, keepdims=True) + self.eps) * self.weight


class LlamaCppEngine(Engine):
    """llama.cpp through llama-cpp-python: answer log-probabilities, grammar-constrained greedy generation, or (loaded
    with ``states``) per-turn hidden states, also after block ``read_block`` in the same pass (:class:`BlockReader`).
    """

    name = "llama.cpp"
    capabilities = frozenset({TURN_STATES, BLOCK_STATES, SCORES, GENERATION})

    def __init__(self, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, states: bool = False,
                 read_block: int | None = None):
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelError(f"llama-cpp-python is not installed ({err}); run `make install`") from None
        self.model, self.n_ctx = model, n_ctx
        threads = threads or default_threads()
        try:
            with quiet_stderr():
                self.llm = Llama(
                    model_path=str(model.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                    # A text's states come from one batch, so the batch is the whole context (llama-cpp-python
                    # would cut the text at n_batch); pooling type 0 keeps every token's state.
                    n_batch=n_ctx if states else 512, n_ubatch=n_ctx if states else 512,
                    logits_all=False, verbose=False, embedding=states, **({"pooling_type": 0} if states else {}),
                )
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"llama.cpp cannot load {model.path}: {err}") from None
        self.n_vocab = self.llm.n_vocab()
        self.block_reader = None
        if read_block:
            if not states:
                raise ValueError("read_block needs the engine loaded with states=True")
            self.block_reader = BlockReader(model.path, read_block)
            with quiet_stderr():
                self.block_reader.attach(self.llm)

    @classmethod
    def load(cls, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, server=None, states: bool = False,
             read_block: int | None = None) -> "LlamaCppEngine":
        return cls(model, n_ctx, threads, states, read_block)

    def tokenize(self, text: str, bos: bool = False) -> list[int]:
        """Tokens of ``text``; special tokens such as ``<|im_start|>`` are parsed as such."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def prompt_tokens(self, prompt: str, closed: bool = True) -> list[int]:
        """Tokens of a prompt the model's chat format built: its markers special, the call's text plain
        (:meth:`callinsights.llm.models.ChatFormat.pieces`)."""
        return [token for part, special in self.model.chat.pieces(prompt, closed)
                for token in self.llm.tokenize(part.encode("utf-8"), add_bos=False, special=special)]

    def _eval_reusing(self, tokens: list[int]) -> int:
        """Evaluate ``tokens`` reusing the longest prefix already in the KV cache; returns how many were evaluated."""
        cached = self.llm.input_ids[: self.llm.n_tokens]
        common = next((i for i, (a, b) in enumerate(zip(cached, tokens)) if a != b), min(len(cached), len(tokens)))
        # Keep one token to evaluate so that the last position's logits are fresh.
        common = min(common, len(tokens) - 1)
        self.llm.n_tokens = common  # eval() drops the cache beyond n_tokens
        self.llm.eval(tokens[common:])
        return len(tokens) - common

    def _last_logprobs(self) -> np.ndarray:
        from llama_cpp import llama_get_logits_ith

        # Without logits_all only the last position's logits are computed, as cheap as llama.cpp's own prompt pass.
        logits = np.ctypeslib.as_array(llama_get_logits_ith(self.llm.ctx, -1), shape=(self.n_vocab,))
        return log_softmax(logits.astype(np.float64))

    def score(self, prefix: str, branches: Sequence[Branch]) -> Scores:
        """Log-probabilities of each branch's answers, evaluating the shared ``prefix`` once."""
        start = time.perf_counter()
        prefix_tokens = self.prompt_tokens(prefix, closed=False)
        evaluated = self._eval_reusing(prefix_tokens)
        n_prefix = len(prefix_tokens)
        total = n_prefix
        out = []
        for branch in branches:
            suffix_tokens = self.tokenize(branch.suffix)
            self.llm.n_tokens = n_prefix
            self.llm.eval(suffix_tokens)
            evaluated += len(suffix_tokens)
            total += len(suffix_tokens)
            first = self._last_logprobs()
            answers = {}
            for answer in branch.answers:
                answer_tokens = self._answer_tokens(branch.suffix, suffix_tokens, answer)
                logprob = float(first[answer_tokens[0]])
                # Longer answers: walk their tokens one at a time (rare; answers are chosen to differ early).
                for i in range(1, len(answer_tokens)):
                    self.llm.n_tokens = n_prefix + len(suffix_tokens) + i - 1
                    self.llm.eval([answer_tokens[i - 1]])
                    evaluated += 1
                    logprob += float(self._last_logprobs()[answer_tokens[i]])
                answers[answer] = logprob
            out.append(answers)
        return Scores(out, total, evaluated, time.perf_counter() - start)

    def embed_turns(self, turns: Sequence[str]) -> TurnStates:
        """The turns read as one text (one per line, so each turn's states carry what was said before it), token
        states mean-pooled per turn (:func:`pool_by_turn`), and the same from ``read_block`` if loaded to read one."""
        start = time.perf_counter()
        text = "\n".join(turns)
        tokens = self.llm.tokenize(text.encode("utf-8"))  # exactly as Llama.embed tokenises its input
        if len(tokens) > self.llm.n_ctx():
            raise ValueError(f"text of {len(tokens)} tokens is longer than the context ({self.llm.n_ctx()}); "
                             "raise n_ctx")
        if self.block_reader:
            self.block_reader.clear()
        states = np.asarray(self.llm.embed(text, normalize=False, truncate=False), dtype=np.float64)
        if states.ndim != 2 or len(states) != len(tokens):
            raise RuntimeError(f"llama.cpp returned {states.shape} token states for {len(tokens)} tokens; "
                               "load the engine with states=True")
        pieces = [len(self.llm.detokenize([t])) for t in tokens]
        block = None
        if self.block_reader:
            early = self.block_reader.take()
            if len(early) != len(tokens):
                raise RuntimeError(f"llama.cpp gave block {self.block_reader.block}'s states for {len(early)} tokens "
                                   f"of {len(tokens)}")
            block = pool_by_turn(early, pieces, turns)
        return TurnStates(pool_by_turn(states, pieces, turns), len(tokens), time.perf_counter() - start, block)

    def _answer_tokens(self, suffix: str, suffix_tokens: list[int], answer: str) -> list[int]:
        joint = self.tokenize(suffix + answer)
        if joint[: len(suffix_tokens)] == suffix_tokens and len(joint) > len(suffix_tokens):
            return joint[len(suffix_tokens):]
        return self.tokenize(answer)

    def generate(self, prompt: str, max_tokens: int = 24, grammar: str | None = None, stop: str | None = None
                 ) -> Generation:
        """Greedy completion of a prompt text (chat format applied), following the GBNF ``grammar`` if given."""
        from llama_cpp import LlamaGrammar

        start = time.perf_counter()
        # The pinned llama-cpp-python keeps the text and parses it per completion: nothing to cache here.
        compiled = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        result = self.llm.create_completion(
            self.prompt_tokens(prompt), max_tokens=max_tokens, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0,
            repeat_penalty=1.0, grammar=compiled, stop=[stop] if stop else None,
        )
        usage = result["usage"]
        return Generation(result["choices"][0]["text"].strip(), usage["prompt_tokens"], usage["completion_tokens"],
                          time.perf_counter() - start)

    def generate_chat(self, system: str, user: str, max_tokens: int = 24, grammar: str | None = None
                      ) -> Generation:
        chat = self.model.chat
        return self.generate(chat.prompt(system, user), max_tokens, grammar, chat.stop)

    def close(self) -> None:
        self.llm.close()


class Gpt4AllEngine(Engine):
    """gpt4all, the client's engine: greedy generation in a fresh chat for every call (the embedded SmolLM2 from
    :func:`callinsights.llm.models.gpt4all_compatible_copy`). It exposes no hidden states or log-probabilities."""

    name = "gpt4all"
    capabilities = frozenset({GENERATION})

    def __init__(self, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None):
        try:
            from gpt4all import GPT4All
        except ImportError as err:
            raise ModelError(f"gpt4all is not installed ({err}); run `make install`") from None
        self.model, self.n_ctx = model, n_ctx
        path = gpt4all_compatible_copy(model)
        try:
            with quiet_stderr():
                self.gpt = GPT4All(path.name, model_path=str(path.parent), allow_download=False, device="cpu",
                                   n_threads=threads or default_threads(), n_ctx=n_ctx, verbose=False)
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"gpt4all cannot load {path}: {err}") from None

    @classmethod
    def load(cls, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, server=None, states: bool = False,
             read_block: int | None = None) -> "Gpt4AllEngine":
        return cls(model, n_ctx, threads)

    def generate_chat(self, system: str, user: str, max_tokens: int = 24, grammar: str | None = None
                      ) -> Generation:
        """Greedy answer in a new chat session; gpt4all takes no grammar, so the answer is parsed as written."""
        chat = self.model.chat
        start = time.perf_counter()
        pieces: list[str] = []

        def collect(_token_id: int, piece: str) -> bool:
            pieces.append(piece)
            return chat.stop not in "".join(pieces)

        # gpt4all ingests the system prompt verbatim (special tokens on), so it gets the formatted system block.
        with self.gpt.chat_session(system_prompt=chat.system.format(system), prompt_template=chat.user):
            self.gpt.generate(
                user, max_tokens=max_tokens, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                n_batch=512, callback=collect,
            )
        text = "".join(pieces).split(chat.stop)[0].strip()
        # Counted in the model file's vocabulary: gpt4all has no tokenizer API.
        prompt_tokens = count_tokens(self.model.path, chat.prompt(system, user))
        return Generation(text, prompt_tokens, len(pieces), time.perf_counter() - start)

    def close(self) -> None:
        self.gpt.close()


#: The engines by ``--engine`` name: a new engine is a class implementing :class:`callinsights.llm.base.Engine`.
ENGINES: dict[str, type[Engine]] = {"llama.cpp": LlamaCppEngine, "gpt4all": Gpt4AllEngine, "openai": OpenAIEngine}


def load_engine(name: str, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, server=None,
                states: bool = False, read_block: int | None = None) -> Engine:
    """The engine ``name`` loaded for ``model`` (see :meth:`callinsights.llm.base.Engine.load`); ``server`` (a
    :class:`callinsights.llm.openai_engine.ServerOptions`) says where a server engine is.

    Raises:
        ValueError: Unknown engine name, or a server engine without server options.
        ModelError: The engine cannot load the model (message says what to do).
    """
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    return ENGINES[name].load(model, n_ctx, threads, server, states, read_block)
