"""An engine that runs the methods on an OpenAI-compatible model server (``--engine openai --base-url URL``).

Servers that speak the OpenAI HTTP API -- llama-cpp-python's and llama.cpp's own server, vLLM, Ollama, gpt4all's API
server -- let many machines, or one bigger machine, serve the model while this process only builds prompts and keeps
the store. The engine has the methods the classifier calls on :class:`callinsights.llm.engines.LlamaCppEngine`:

- :meth:`OpenAIEngine.embed` via ``/v1/embeddings``. A server that pools returns one vector; a server that does not
  (llama-cpp-python's, for a model with no pooling of its own) returns one vector per token, and the engine takes
  their mean -- the same mean pooling the in-process engine asks llama.cpp for. :meth:`OpenAIEngine.embed_tokens`
  returns the per-token vectors themselves where the server gives them.
- :meth:`OpenAIEngine.score` via ``/v1/completions`` with ``logprobs``: the top log-probabilities of the token after
  each question. An answer made of several tokens is followed one token at a time. Where a server gives no
  log-probabilities the method fails with a message saying so (see the README for which servers do).
- :meth:`OpenAIEngine.generate` via ``/v1/completions`` on the prompt text we build ourselves (the chat format
  applied as for the local engines, so a server sees the same tokens as the in-process engine), greedy, with the GBNF
  grammar in the ``grammar`` field that llama.cpp's servers read.

As a client it keeps to a bounded number of requests in flight (the classifier's thread pool, ``--concurrency``),
gives every request a timeout, retries 429 and 5xx answers with exponential backoff (honouring ``Retry-After``), and
fails at once on any other 4xx with the URL and the status.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from callinsights.llm.base import Branch, Generation, Scores, TurnStates, pool_by_turn
from callinsights.llm.models import ModelError, ModelInfo, vocabulary

#: Statuses worth another try: rate limiting and server-side failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ServerError(ModelError):
    """A server that cannot be reached or refuses a request; the message names the URL and what to do."""


@dataclass(frozen=True)
class ServerOptions:
    """How to reach an OpenAI-compatible server.

    Attributes:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (``/v1`` is added when missing).
        api_key_env: Name of the environment variable holding the API key (None: no key sent).
        concurrency: Most requests in flight at once.
        timeout: Seconds a request may take.
        retries: Further tries after a 429, a 5xx or a dropped connection.
        backoff: Seconds before the first retry; doubled after each.
        top_logprobs: Log-probabilities asked for per position when scoring (vLLM and Ollama allow 20 by default).
    """

    base_url: str
    api_key_env: str | None = None
    concurrency: int = 1
    timeout: float = 300.0
    retries: int = 5
    backoff: float = 0.5
    top_logprobs: int = 20

    @property
    def root(self) -> str:
        """The API root, without a trailing slash, ending in ``/v1``."""
        root = self.base_url.rstrip("/")
        return root if root.endswith("/v1") else root + "/v1"


class OpenAIEngine:
    """The methods of the local engines, computed by an OpenAI-compatible server.

    Args:
        model: The model whose chat format the prompts use (the server should serve the same model).
        options: Where the server is and how to talk to it.
    """

    name = "openai"

    def __init__(self, model: ModelInfo, options: ServerOptions):
        self.model = model
        self.options = options
        self._headers = {"Content-Type": "application/json"}
        if options.api_key_env:
            key = os.environ.get(options.api_key_env)
            if not key:
                raise ServerError(f"--api-key-env {options.api_key_env}: that environment variable is not set; "
                                  "export it with the server's API key")
            self._headers["Authorization"] = f"Bearer {key}"
        models = self.request("GET", "/models").get("data") or []
        if not models:
            raise ServerError(f"{options.root}/models lists no model; start the server with a model loaded")
        #: The served model's id: part of every stored output's key, so outputs of another model are never reused.
        self.model_id = str(models[0]["id"])

    @property
    def key_name(self) -> str:
        """The engine field of the store key: the engine and the server's model id."""
        return f"openai:{self.model_id}"

    # --- HTTP ------------------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON request, retried with exponential backoff on 429, 5xx and dropped connections.

        Raises:
            ServerError: Any other 4xx (at once), or still failing after the retries.
        """
        url = self.options.root + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        delay = self.options.backoff
        for attempt in range(self.options.retries + 1):
            last = attempt == self.options.retries
            req = urllib.request.Request(url, data=data, headers=self._headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.options.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", errors="replace")[:300]
                if err.code not in RETRY_STATUSES:
                    raise ServerError(
                        f"{method} {url} answered {err.code} {err.reason}: {detail}. Check --base-url, that the "
                        "server serves a model and supports this request, and --api-key-env"
                    ) from None
                if last:
                    raise ServerError(f"{method} {url} still answered {err.code} {err.reason} after "
                                      f"{self.options.retries} retries: {detail}") from None
                wait = _retry_after(err.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if last:
                    reason = getattr(err, "reason", err)
                    raise ServerError(f"{method} {url}: no answer after {self.options.retries} retries ({reason}); "
                                      "check that the server is running at --base-url") from None
                wait = delay
            time.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    # --- the methods -----------------------------------------------------------------------------------------------

    def _embeddings(self, text: str) -> tuple[np.ndarray, int]:
        result = self.request("POST", "/embeddings", {"model": self.model_id, "input": text})
        vectors = np.asarray(result["data"][0]["embedding"], dtype=np.float64)
        tokens = int(result.get("usage", {}).get("prompt_tokens") or (len(vectors) if vectors.ndim == 2 else 0))
        return vectors, tokens

    def embed(self, text: str) -> tuple[np.ndarray, int, float]:
        """Mean-pooled last hidden state of ``text`` (the server's own pooling, or the mean of its per-token vectors).

        Returns:
            ``(vector, tokens, seconds)``.
        """
        start = time.perf_counter()
        vectors, tokens = self._embeddings(text)
        vector = vectors.mean(axis=0) if vectors.ndim == 2 else vectors
        return vector, tokens, time.perf_counter() - start

    def embed_tokens(self, text: str) -> np.ndarray:
        """Per-token last hidden states of ``text``, shape ``[n_tokens, dim]``.

        Raises:
            ServerError: The server pools the vectors itself (started with a pooling type), so it has no per-token
                vectors to give.
        """
        vectors, _ = self._embeddings(text)
        if vectors.ndim != 2:
            raise ServerError(f"{self.options.root}/embeddings returns pooled vectors; per-token hidden states need "
                              "a server without pooling (llama-cpp-python's server with --embedding true)")
        return vectors

    def embed_turns(self, turns: Sequence[str]) -> TurnStates:
        """The server's per-token states of the turns read as one text, pooled per turn as
        :meth:`callinsights.llm.engines.LlamaCppEngine.embed_turns` pools them (the same features as in-process).

        The token boundaries come from the model file's own vocabulary, read locally (``--model``), since the
        OpenAI API has no tokenizer endpoint.
        """
        start = time.perf_counter()
        text = "\n".join(turns)
        states = self.embed_tokens(text)
        vocab = vocabulary(self.model.path)
        tokens = vocab.tokenize(text.encode("utf-8"))
        if len(tokens) != len(states):
            raise ServerError(f"{self.options.root}/embeddings gave {len(states)} token states for {len(tokens)} "
                              f"tokens of {self.model.path.name}: the server runs another model than --model")
        pieces = [len(vocab.detokenize([t])) for t in tokens]
        return TurnStates(pool_by_turn(states, pieces, turns), len(tokens), time.perf_counter() - start)

    def _top_logprobs(self, prompt: str) -> tuple[dict[str, float], int]:
        """The server's top log-probabilities of the token after ``prompt``, and the prompt's token count."""
        result = self.request("POST", "/completions", {
            "model": self.model_id, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
            "logprobs": self.options.top_logprobs,
        })
        logprobs = result["choices"][0].get("logprobs") or {}
        if logprobs.get("top_logprobs"):  # the completions API's own form: one {token: logprob} per position
            top = logprobs["top_logprobs"][0] or {}
        elif logprobs.get("content"):  # the chat form, which llama.cpp's server also uses for completions
            top = {entry["token"]: entry["logprob"] for entry in logprobs["content"][0].get("top_logprobs", [])}
        else:
            raise ServerError(f"{self.options.root}/completions gave no log-probabilities; --method score needs a "
                              "server that returns them (use --method probe or generate with this server)")
        return {str(token): float(lp) for token, lp in top.items()}, int(result.get("usage", {}).get("prompt_tokens", 0))

    def score(self, prefix: str, branches: Sequence[Branch]) -> Scores:
        """Log-probabilities of each branch's answers after ``prefix`` + the branch's suffix.

        Each position is asked once and shared by the answers that pass through it. An answer is read as the
        longest listed token it starts with, then the next position is asked, until the answer is spelled out. An
        answer whose next piece is not among the top ``top_logprobs`` gets the smallest listed log-probability for
        that piece: an upper bound, never a guess in its favour.

        Returns:
            Per-branch answer log-probabilities and the prompt tokens the server read.
        """
        start = time.perf_counter()
        asked: dict[str, tuple[dict[str, float], int]] = {}
        prompt_tokens = 0

        def top(prompt: str) -> dict[str, float]:
            nonlocal prompt_tokens
            if prompt not in asked:
                asked[prompt] = self._top_logprobs(prompt)
                prompt_tokens += asked[prompt][1]
            return asked[prompt][0]

        out = []
        for branch in branches:
            prompt = prefix + branch.suffix
            answers = {}
            for answer in branch.answers:
                logprob, spelled = 0.0, ""
                while spelled != answer:
                    listed = top(prompt + spelled)
                    rest = answer[len(spelled):]
                    pieces = [t for t in listed if t and rest.startswith(t)]
                    if not pieces:
                        logprob += min(listed.values())
                        break
                    piece = max(pieces, key=len)
                    logprob += listed[piece]
                    spelled += piece
                answers[answer] = logprob
            out.append(answers)
        return Scores(out, prompt_tokens, prompt_tokens, time.perf_counter() - start)

    def generate(self, prompt: str, max_tokens: int = 24, grammar: str | None = None, stop: str | None = None
                 ) -> Generation:
        """Greedy completion of a full prompt text (chat format already applied), grammar-constrained where the
        server reads llama.cpp's ``grammar`` field.

        Returns:
            The answer and its costs.
        """
        start = time.perf_counter()
        body = {"model": self.model_id, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                "top_p": 1.0, "top_k": 1, "min_p": 0.0, "repeat_penalty": 1.0}
        if grammar:
            body["grammar"] = grammar
        if stop:
            body["stop"] = [stop]
        result = self.request("POST", "/completions", body)
        usage = result.get("usage", {})
        return Generation(result["choices"][0]["text"].strip(), int(usage.get("prompt_tokens", 0)),
                          int(usage.get("completion_tokens", 0)), time.perf_counter() - start)

    def close(self) -> None:
        """Nothing to free: every request opens and closes its own connection."""


def _retry_after(header: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header given in seconds (the default when absent or a date)."""
    try:
        return max(0.0, min(float(header), 60.0)) if header else default
    except ValueError:
        return default
