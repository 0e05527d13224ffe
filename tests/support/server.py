"""llama-cpp-python's OpenAI-compatible server for a model on this machine, for the tests and ``make benchmark-scale``.

Hidden states on and a batch as long as the context, so one server answers all three methods (``/v1/embeddings``
for ``probe``, ``/v1/completions`` with ``logprobs`` or a ``grammar`` for ``score`` and ``generate``). Needs the
server extras (``pip install -r requirements-scale.txt``); ``python -m tests.support.server`` keeps one running.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from callinsights.llm.models import ModelError, resolve_model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(model_path: Path, port: int, threads: int = 1, n_ctx: int = 4096) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        # One batch per text: the server cuts an embedded text at n_batch tokens without a word.
        "--n_batch", str(n_ctx), "--n_ubatch", str(n_ctx), "--embedding", "true", "--verbose", "false",
    ]


@contextmanager
def running_server(model: str = "smollm2-135m", threads: int = 1, port: int | None = None,
                   startup_seconds: float = 120.0) -> Iterator[str]:
    """Run the server for ``model`` while the block runs and yield its API root URL; a server that exits or does not
    answer within ``startup_seconds`` is a ModelError with its output."""
    port = port or free_port()
    path = resolve_model(model).path
    process = subprocess.Popen(server_command(path, port, threads), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise ModelError(f"llama-cpp-python's server for {path} exited with {process.returncode}: "
                                 f"{process.stdout.read()[-2000:]} (install the extras: pip install -e .[scale])")
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as response:
                    json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise ModelError(f"llama-cpp-python's server for {path} did not answer at {url} within "
                                     f"{startup_seconds:.0f} s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        with running_server(args.model, args.threads, args.port) as url:
            print(f"serving {args.model} at {url} (Ctrl-C stops it)")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
