"""An earlier block's hidden states, read in the same pass as the last layer's.

llama.cpp returns the states after the model's last block (and its final norm) only. Its evaluation callback
(``cb_eval``) shows us each tensor of the graph as it is computed: :class:`BlockReader` asks for the output of block
``k`` (the tensor llama.cpp names ``l_out-{k-1}``), copies it, and applies the model's final RMS norm itself. That is
what a copy of the model cut after ``k`` blocks returns as its "last" states, at no extra pass. The probe reads
sentiment there: on the labelled calls every earlier layer tried read the customer's mood better than the last one,
which a 135M model spends on predicting the next token (``docs/experiments.md``, item 9).

``tests/test_layers.py`` checks the reading against such a cut copy and the last block against llama.cpp's own output.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path
import time
from typing import Sequence

import gguf
import numpy as np

from callinsights.llm.models import ModelError, vocabulary
from callinsights.llm.base import (Branch, Generation, Scores, TurnStates, default_threads, pool_by_turn,
                                   quiet_stderr)
from callinsights.llm.models import ModelInfo, gpt4all_compatible_copy
from callinsights.llm.openai_engine import OpenAIEngine

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


# Local LLM engines behind one small interface: llama.cpp (llama-cpp-python) and gpt4all.

ENGINES = ("llama.cpp", "gpt4all", "openai")


class LlamaCppEngine:
    """llama.cpp through llama-cpp-python: greedy generation, grammars, and answer log-probabilities.

    Args:
        model: The resolved model file.
        n_ctx: Context length in tokens.
        threads: CPU threads (default: all cores).
        embedding: Load for :meth:`embed` (mean-pooled hidden states) instead of scoring and generation.
        pooling: With ``embedding``, pool in llama.cpp (:meth:`embed`); False keeps every token's state
            (:meth:`embed_turns`).
        read_block: With ``pooling=False``, also read the output of this block (counted from 1) in the same pass
            (:class:`callinsights.llm.engines.BlockReader`).
    """

    name = "llama.cpp"

    def __init__(self, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, embedding: bool = False,
                 pooling: bool = True, read_block: int | None = None):
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelError(f"llama-cpp-python is not installed ({err}); run `make install`") from None
        self.model = model
        threads = threads or default_threads()
        try:
            with quiet_stderr():
                self.llm = Llama(
                    model_path=str(model.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                    # A text is pooled in one batch, so for embeddings the batch is the whole context
                    # (llama-cpp-python would cut the text at n_batch).
                    n_batch=n_ctx if embedding else 512, n_ubatch=n_ctx if embedding else 512,
                    logits_all=False, verbose=False, embedding=embedding,
                    # Mean over the text's tokens (the model has no pooling of its own), or none (0): every token.
                    **({"pooling_type": 1 if pooling else 0} if embedding else {}),
                )
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"llama.cpp cannot load {model.path}: {err}") from None
        self.n_vocab = self.llm.n_vocab()
        self._grammars: dict = {}
        self.block_reader = None
        if read_block:
            if not embedding or pooling:
                raise ValueError("read_block needs the engine loaded with embedding=True, pooling=False")
            self.block_reader = BlockReader(model.path, read_block)
            with quiet_stderr():
                self.block_reader.attach(self.llm)

    def tokenize(self, text: str, bos: bool = False) -> list[int]:
        """Tokens of ``text``; special tokens such as ``<|im_start|>`` are parsed as such."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def count_tokens(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.tokenize(text))

    def _eval_reusing(self, tokens: list[int]) -> int:
        """Evaluate ``tokens`` from the start of the context, reusing the longest prefix already in the KV cache.

        Returns:
            How many tokens had to be evaluated.
        """
        cached = self.llm.input_ids[: self.llm.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        # Keep one token to evaluate so that the last position's logits are fresh.
        common = min(common, len(tokens) - 1)
        self.llm.n_tokens = common  # eval() drops the cache beyond n_tokens
        self.llm.eval(tokens[common:])
        return len(tokens) - common

    def _last_logprobs(self) -> np.ndarray:
        from llama_cpp import llama_get_logits_ith

        # Logits of the last evaluated position; without logits_all only that row is computed, which keeps
        # prompt evaluation as cheap as llama.cpp's own.
        logits = np.ctypeslib.as_array(llama_get_logits_ith(self.llm.ctx, -1), shape=(self.n_vocab,)).astype(
            np.float64
        )
        top = logits.max()
        return logits - top - np.log(np.exp(logits - top).sum())

    def score(self, prefix: str, branches: Sequence[Branch]) -> Scores:
        """Log-probabilities of each branch's answers, evaluating ``prefix`` once.

        Args:
            prefix: Prompt text shared by all branches (system block, instructions, call text).
            branches: Questions that follow the prefix, each with its candidate answers.

        Returns:
            Per-branch answer log-probabilities and token counts.
        """
        start = time.perf_counter()
        prefix_tokens = self.tokenize(prefix, bos=False)
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

    def embed(self, text: str) -> tuple[np.ndarray, int, float]:
        """Mean-pooled last hidden state of ``text`` (the engine must be loaded with ``embedding=True``).

        Returns:
            ``(vector, tokens, seconds)``.
        """
        start = time.perf_counter()
        tokens = self.tokenize(text)
        if len(tokens) > self.llm.n_ctx():
            raise ValueError(f"text of {len(tokens)} tokens is longer than the context ({self.llm.n_ctx()}); "
                             "raise n_ctx")
        vector = np.asarray(self.llm.embed(text, normalize=False, truncate=False), dtype=np.float64)
        return vector, len(tokens), time.perf_counter() - start

    def embed_turns(self, turns: Sequence[str]) -> TurnStates:
        """Hidden states of a customer's turns read in one pass, mean-pooled per turn.

        The turns are read as one text (one turn per line), so each turn's states carry the context of what the
        customer said before it; the engine must be loaded with ``embedding=True, pooling=False``. Pooling per
        turn from the un-pooled token states gives, at the cost of one pass, the whole-text mean (the token-weighted
        mean of the rows), the last turns, and a per-turn reading for trajectories and evidence.

        Args:
            turns: The customer's turns, in order (non-empty strings).

        Returns:
            One row per turn (mean of its tokens' last hidden states; a turn that shares its only token with a
            neighbour gets that token's state), with the token count of each turn in the last column; and the same
            from the block the engine was loaded to read (``read_block``), if any.
        """
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
                               "load the engine with pooling=False")
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
        """Greedy completion of a full prompt text.

        Args:
            prompt: The prompt, chat format already applied.
            max_tokens: Most tokens to generate.
            grammar: A GBNF grammar the answer must follow.
            stop: Text that ends the answer.

        Returns:
            The answer and its costs.
        """
        from llama_cpp import LlamaGrammar

        start = time.perf_counter()
        compiled = None
        if grammar:
            # Parsed once per engine: every call of a run uses the same grammar.
            if grammar not in self._grammars:
                with quiet_stderr():
                    self._grammars[grammar] = LlamaGrammar.from_string(grammar, verbose=False)
            compiled = self._grammars[grammar]
        result = self.llm.create_completion(
            self.tokenize(prompt), max_tokens=max_tokens, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0,
            repeat_penalty=1.0, grammar=compiled, stop=[stop] if stop else None,
        )
        usage = result["usage"]
        return Generation(
            result["choices"][0]["text"].strip(), usage["prompt_tokens"], usage["completion_tokens"],
            time.perf_counter() - start,
        )

    def close(self) -> None:
        """Free the model."""
        self.llm.close()


class Gpt4AllEngine:
    """gpt4all, the client's engine: greedy generation with a fresh context for every call.

    Args:
        model: The resolved model file (the embedded SmolLM2 is loaded from a compatible copy, see
            :func:`callinsights.llm.models.gpt4all_compatible_copy`).
        n_ctx: Context length in tokens.
        threads: CPU threads (default: all cores).
    """

    name = "gpt4all"

    def __init__(self, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None):
        try:
            from gpt4all import GPT4All
        except ImportError as err:
            raise ModelError(f"gpt4all is not installed ({err}); run `make install`") from None
        self.model = model
        path = gpt4all_compatible_copy(model)
        try:
            with quiet_stderr():
                self.gpt = GPT4All(
                    path.name, model_path=str(path.parent), allow_download=False, n_threads=threads or default_threads(),
                    device="cpu", n_ctx=n_ctx, verbose=False,
                )
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"gpt4all cannot load {path}: {err}") from None

    def count_tokens(self, text: str) -> int:
        """Number of tokens in ``text`` (gpt4all has no tokenizer API, so llama.cpp's vocabulary is read)."""
        return len(vocabulary(self.model.path).tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate_chat(self, system: str, user: str, max_tokens: int = 24) -> Generation:
        """Greedy answer to one user message in a new chat session (nothing carried over from earlier calls).

        Args:
            system: The system prompt.
            user: The user message.
            max_tokens: Most tokens to generate.
        """
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
        return Generation(
            text, self.count_tokens(chat.prompt(system, user)), len(pieces), time.perf_counter() - start
        )

    def close(self) -> None:
        """Free the model."""
        self.gpt.close()


def load_engine(name: str, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None,
                embedding: bool = False, pooling: bool = True, server=None, read_block: int | None = None):
    """An engine by name (``llama.cpp``, ``gpt4all`` or ``openai``); ``embedding`` loads llama.cpp for hidden
    states (pooled by llama.cpp, or per token with ``pooling=False``, then also from block ``read_block``); ``server`` (a
    :class:`callinsights.llm.openai_engine.ServerOptions`) says where the ``openai`` engine's server is.

    Raises:
        ValueError: Unknown engine name, or ``openai`` without server options.
        ModelError: The engine cannot load the model (message says what to do).
    """
    if name == "openai":
        if server is None:
            raise ValueError("engine 'openai' needs the server's address: pass --base-url URL")
        return OpenAIEngine(model, server)
    if name == "llama.cpp":
        return LlamaCppEngine(model, n_ctx, threads, embedding, pooling, read_block)
    if name == "gpt4all":
        return Gpt4AllEngine(model, n_ctx, threads)
    raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
