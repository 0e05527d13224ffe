"""The engine on an OpenAI-compatible model server (``--engine openai --base-url URL``): llama-cpp-python's or
llama.cpp's server, vLLM, Ollama or gpt4all's serve the model while this process builds prompts and keeps the store.

Per-turn states come from ``/v1/embeddings`` of a server that does not pool (one vector per token), answer scores
and generation from ``/v1/completions`` on the prompt text we build ourselves, so a server sees the tokens the
in-process engine sees. Each request has one deadline, retries included (``--timeout``); 429 and 5xx answers and
dropped connections are retried with backoff within it (honouring ``Retry-After``); a refused connection, one not
made within ``--connect-timeout`` and any other 4xx fail at once, naming the URL.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from callinsights.llm.base import (GENERATION, SCORES, TURN_STATES, Branch, Engine, Generation, Scores,
                                   TurnStates, pool_by_turn)
from callinsights.llm.models import ModelError, ModelInfo, vocabulary

#: Statuses worth another try: rate limiting and server-side failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ServerError(ModelError):
    """A server that cannot be reached or refuses a request; the message names the URL and what to do."""


@dataclass(frozen=True)
class ServerOptions:
    """How to reach an OpenAI-compatible server: its API root (``/v1`` added when missing), the environment
    variable holding its API key (None: no key), most requests in flight, the seconds one request may take with its
    retries (``timeout``: a small model's answer takes seconds; a server silent that long is stuck) and to make a
    connection (``connect_timeout``), retries after a 429, 5xx or dropped connection (the first after ``backoff``
    seconds, then doubling), and the log-probabilities asked per position when scoring (vLLM and Ollama allow 20 by
    default)."""

    base_url: str
    api_key_env: str | None = None
    concurrency: int = 1
    timeout: float = 120.0
    connect_timeout: float = 5.0
    retries: int = 5
    backoff: float = 0.5
    top_logprobs: int = 20

    @property
    def root(self) -> str:
        """The API root, without a trailing slash, ending in ``/v1``."""
        root = self.base_url.rstrip("/")
        return root if root.endswith("/v1") else root + "/v1"


class OpenAIEngine(Engine):
    """What the local engines compute, asked of a server serving ``model`` (whose chat format and vocabulary are
    read locally); ``n_ctx`` is the context the runner windows calls to, whatever the server's own."""

    name = "openai"
    capabilities = frozenset({TURN_STATES, SCORES, GENERATION})
    key_is_name = False
    needs_server = True

    def __init__(self, model: ModelInfo, options: ServerOptions, n_ctx: int = 4096):
        self.model, self.options, self.n_ctx = model, options, n_ctx
        self._headers = {"Content-Type": "application/json"}
        if options.api_key_env:
            key = os.environ.get(options.api_key_env)
            if not key:
                raise ServerError(f"--api-key-env {options.api_key_env}: that environment variable is not set; "
                                  "export it with the server's API key")
            self._headers["Authorization"] = f"Bearer {key}"
        listed = self.request("GET", "/models")
        if not listed.get("data"):
            raise ServerError(f"{options.root}/models lists no model; start the server with a model loaded")
        #: The served model's id: part of every stored output's key, so outputs of another model are never reused.
        self.model_id = str(self.field(listed, "GET /models", "data", 0, "id"))

    @classmethod
    def load(cls, model: ModelInfo, n_ctx: int = 4096, threads: int | None = None, server=None, states: bool = False,
             read_block: int | None = None) -> "OpenAIEngine":
        if server is None:
            raise ValueError("engine 'openai' needs the server's address: pass --base-url URL")
        return cls(model, server, n_ctx)

    @property
    def key_name(self) -> str:
        """The engine and the server's model id, so that another served model's outputs are never reused."""
        return f"openai:{self.model_id}"

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON request within one deadline (``timeout``), retried with backoff on 429, 5xx and dropped
        connections; ServerError on any other 4xx, a refused connection or one not made in ``connect_timeout``, no
        answer by the deadline, or still failing after the retries."""
        url = self.options.root + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        delay = self.options.backoff
        deadline = time.monotonic() + self.options.timeout
        for attempt in range(self.options.retries + 1):
            last = attempt == self.options.retries
            req = urllib.request.Request(url, data=data, headers=self._headers, method=method)
            left = deadline - time.monotonic()
            req.read_timeout = left  # an answer is awaited until the deadline, however long the model takes
            try:
                with _OPENER.open(req, timeout=max(0.001, min(self.options.connect_timeout, left))) as response:
                    return _json_object(response, f"{method} {url}")
            except TimeoutError:  # connected, but no answer (or not all of it) by the deadline
                raise ServerError(f"{method} {url}: no answer within {self.options.timeout:g} s; the server is stuck "
                                  "or overloaded: check it, or give --timeout more seconds") from None
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", errors="replace")[:300]
                if err.code not in RETRY_STATUSES:
                    raise ServerError(
                        f"{method} {url} answered {err.code} {err.reason}: {detail}. Check --base-url, that the "
                        "server serves a model and supports this request, and --api-key-env"
                    ) from None
                wait = _retry_after(err.headers.get("Retry-After"), delay)
                if last or time.monotonic() + wait >= deadline:
                    raise ServerError(f"{method} {url} still answered {err.code} {err.reason} after {attempt} "
                                      f"retries within {self.options.timeout:g} s: {detail}") from None
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as err:
                reason = getattr(err, "reason", err)
                if isinstance(reason, ConnectionRefusedError):
                    raise ServerError(f"{method} {url}: connection refused: nothing listens there; start the server "
                                      "or correct --base-url") from None
                if isinstance(reason, TimeoutError):
                    within = min(self.options.connect_timeout, self.options.timeout)
                    raise ServerError(f"{method} {url}: could not connect within {within:g} s; check --base-url "
                                      "and that the server is reachable (or give --connect-timeout more)") from None
                wait = delay  # a dropped connection: the server may be restarting
                if last or time.monotonic() + wait >= deadline:
                    raise ServerError(f"{method} {url}: no answer after {attempt} retries within "
                                      f"{self.options.timeout:g} s ({reason}); check that the server is running at "
                                      "--base-url") from None
            time.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def field(self, answer: dict, request: str, *keys: str | int, kind: type | None = None):
        """``answer[keys[0]][keys[1]]...`` of the answer to ``request`` (``"POST /completions"``); a ServerError
        naming the URL and the part missing (or not of ``kind``) when the server answered something else."""
        value = answer
        for depth, key in enumerate(keys):
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                value = _MISSING
            if value is _MISSING or (depth == len(keys) - 1 and kind is not None and not isinstance(value, kind)):
                method, path = request.split(" ", 1)
                where = "".join(f"[{k!r}]" for k in keys[: depth + 1])
                what = f"without {where}" if value is _MISSING else f"{where} that is not {kind.__name__}"
                raise ServerError(f"{method} {self.options.root}{path} answered {what} ({_shown(answer)}); it does "
                                  "not answer as an OpenAI-compatible server: check --base-url, and that the server "
                                  "serves a model")
        return value

    def embed_tokens(self, text: str) -> np.ndarray:
        """Per-token last hidden states of ``text``, ``[n_tokens, dim]``; ServerError when the server pools them."""
        result = self.request("POST", "/embeddings", {"model": self.model_id, "input": text})
        vectors = np.asarray(self.field(result, "POST /embeddings", "data", 0, "embedding"), dtype=np.float64)
        if vectors.ndim != 2:
            raise ServerError(f"{self.options.root}/embeddings returns pooled vectors; per-token hidden states need "
                              "a server without pooling (llama-cpp-python's server with --embedding true)")
        return vectors

    def embed_turns(self, turns: Sequence[str]) -> TurnStates:
        """The turns' token states pooled per turn as the in-process engine pools them, token boundaries from the
        model file's own vocabulary."""
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
        logprobs = self.field(result, "POST /completions", "choices", 0, kind=dict).get("logprobs") or {}
        if logprobs.get("top_logprobs"):  # the completions API's own form: one {token: logprob} per position
            top = logprobs["top_logprobs"][0] or {}
        elif logprobs.get("content"):  # the chat form, which llama.cpp's server also uses for completions
            top = {entry["token"]: entry["logprob"] for entry in logprobs["content"][0].get("top_logprobs", [])}
        else:
            raise ServerError(f"{self.options.root}/completions gave no log-probabilities; --method score needs a "
                              "server that returns them (use --method probe or generate with this server)")
        prompt_tokens = int(result.get("usage", {}).get("prompt_tokens", 0))
        return {str(token): float(lp) for token, lp in top.items()}, prompt_tokens

    def score(self, prefix: str, branches: Sequence[Branch]) -> Scores:
        """Log-probabilities of each branch's answers after ``prefix`` + its suffix, spelled out one listed token at
        a time. A piece outside the top ``top_logprobs`` gets the smallest listed log-probability: an upper bound,
        never a guess in the answer's favour."""
        start = time.perf_counter()
        asked: dict[str, tuple[dict[str, float], int]] = {}
        out = []
        for branch in branches:
            prompt = prefix + branch.suffix
            answers = {}
            for answer in branch.answers:
                logprob, spelled = 0.0, ""
                while spelled != answer:
                    asking = prompt + spelled
                    if asking not in asked:  # each position asked once
                        asked[asking] = self._top_logprobs(asking)
                    listed = asked[asking][0]
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
        prompt_tokens = sum(tokens for _, tokens in asked.values())
        return Scores(out, prompt_tokens, prompt_tokens, time.perf_counter() - start)

    def generate(self, prompt: str, max_tokens: int = 24, grammar: str | None = None, stop: str | None = None
                 ) -> Generation:
        """Greedy completion of a prompt text (chat format applied), grammar-constrained where the server reads
        llama.cpp's ``grammar`` field."""
        start = time.perf_counter()
        body = {"model": self.model_id, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                "top_p": 1.0, "top_k": 1, "min_p": 0.0, "repeat_penalty": 1.0}
        if grammar:
            body["grammar"] = grammar
        if stop:
            body["stop"] = [stop]
        result = self.request("POST", "/completions", body)
        usage = result.get("usage") or {}
        text = self.field(result, "POST /completions", "choices", 0, "text", kind=str)
        return Generation(text.strip(), int(usage.get("prompt_tokens", 0)),
                          int(usage.get("completion_tokens", 0)), time.perf_counter() - start)

    def generate_chat(self, system: str, user: str, max_tokens: int = 24, grammar: str | None = None
                      ) -> Generation:
        chat = self.model.chat
        return self.generate(chat.prompt(system, user), max_tokens, grammar, chat.stop)

    def close(self) -> None:
        """Nothing to free: every request opens and closes its own connection."""


def _timed(connection: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    """``connection`` whose connect waits the request's ``timeout`` and whose reads wait its ``read_timeout``."""

    class Timed(connection):
        def __init__(self, *args, read_timeout: float | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.read_timeout = read_timeout

        def connect(self):
            super().connect()
            self.sock.settimeout(self.read_timeout)

    return Timed


_HTTP, _HTTPS = _timed(http.client.HTTPConnection), _timed(http.client.HTTPSConnection)


class _TimedHandler(urllib.request.HTTPSHandler, urllib.request.HTTPHandler):
    """urllib's HTTP and HTTPS handlers (replacing both in an opener) opening :func:`_timed` connections."""

    def http_open(self, req):
        return self.do_open(_HTTP, req, read_timeout=req.read_timeout)

    def https_open(self, req):
        return self.do_open(_HTTPS, req, context=self._context, read_timeout=req.read_timeout)


#: urllib with separate connect and read timeouts (its own ``timeout`` is one socket timeout for both).
_OPENER = urllib.request.build_opener(_TimedHandler)

_MISSING = object()


def _shown(value: object, limit: int = 120) -> str:
    """The start of an answer, for a message."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else json.dumps(value)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _json_object(response, request: str) -> dict:
    """The JSON object a server answered; a ServerError naming the request's URL when it answered a web page or
    anything but a JSON object (a proxy's error page, another service at that address)."""
    body = response.read()
    try:
        answer = json.loads(body.decode("utf-8"))
    except ValueError:  # not UTF-8, or not JSON
        raise ServerError(f"{request} answered a {response.headers.get_content_type()} page, not JSON "
                          f"({_shown(body)}); check that --base-url is the API root (ending in /v1) of an "
                          "OpenAI-compatible model server") from None
    if not isinstance(answer, dict):
        raise ServerError(f"{request} answered {_shown(answer)}, not a JSON object; check that --base-url is the API "
                          "root of an OpenAI-compatible model server")
    return answer


def _retry_after(header: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header given in seconds (the default when absent or a date)."""
    try:
        return max(0.0, min(float(header), 60.0)) if header else default
    except ValueError:
        return default
