"""The OpenAI-compatible server engine against real servers started here on 127.0.0.1: llama-cpp-python's server with
the embedded model (same features and labels as the in-process engine, clear 4xx errors, a killed run resumes), and a
tiny http.server that answers 503/429 before it answers 200 (retries with backoff)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import contextlib
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from llama_cpp import Llama

from callinsights.classify.runner import Classifier, Settings, texts_for_model
from callinsights.pipelines.cli import main
from callinsights.llm.engines import LlamaCppEngine
from callinsights.llm import models
from callinsights.llm.base import Branch
from callinsights.llm.models import resolve_model
from callinsights.llm.openai_engine import OpenAIEngine, ServerError, ServerOptions
from callinsights.llm.prompts import PROMPTS
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
EMBEDDED = "smollm2-135m"


def model_texts(method: str) -> dict[str, str]:
    calls, _ = read_calls(MODEL_CALLS)
    return texts_for_model(calls, Settings(model=EMBEDDED, method=method))


# --- retries and errors against a tiny real HTTP server (no model) ----------------------------------------------------


class FlakyServer:
    """A real HTTP server on 127.0.0.1 that answers each path's scripted statuses in turn, then 200 with a body.

    Args:
        script: Path -> statuses to answer before succeeding (e.g. ``[503, 429]``).
    """

    def __init__(self, script: dict[str, list[int]], answers: dict | None = None):
        self.script = {path: list(statuses) for path, statuses in script.items()}
        self.answers = answers or {}  # path -> the body of its 200 answer, from the request's JSON
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                outer.seen.append((self.path, body))
                pending = outer.script.get(self.path, [])
                status = pending.pop(0) if pending else 200
                if self.path in outer.answers and status == 200:
                    payload = outer.answers[self.path](json.loads(body) if body else {})
                elif self.path.endswith("/models") and status == 200:
                    payload = {"object": "list", "data": [{"id": "flaky-model", "object": "model"}]}
                elif status == 200:
                    payload = {"choices": [{"text": "sentiment: neutral\noutcome: resolved"}],
                               "usage": {"prompt_tokens": 7, "completion_tokens": 5}}
                else:
                    payload = {"error": {"message": f"scripted {status}"}}
                page = isinstance(payload, bytes)  # an answer given as bytes is sent as a web page
                data = payload if page else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if page else "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FlakyServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_503_and_429_are_retried_with_backoff_until_the_server_answers():
    with FlakyServer({"/v1/models": [503], "/v1/completions": [503, 429, 502]}) as server:
        engine = OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url, backoff=0.01))
        generation = engine.generate("prompt", max_tokens=8)

    assert engine.model_id == "flaky-model" and engine.key_name == "openai:flaky-model"
    assert generation.text == "sentiment: neutral\noutcome: resolved" and generation.prompt_tokens == 7
    assert [path for path, _ in server.seen] == ["/v1/models"] * 2 + ["/v1/completions"] * 4
    sent = json.loads(server.seen[-1][1])
    assert sent["prompt"] == "prompt" and sent["model"] == "flaky-model" and sent["temperature"] == 0.0


def test_a_server_still_failing_after_the_retries_is_a_clear_error():
    with FlakyServer({"/v1/models": [500] * 10}) as server:
        with pytest.raises(ServerError, match=r"/v1/models still answered 500 .* after 2 retries"):
            OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url, retries=2, backoff=0.01))
    assert len(server.seen) == 3


def test_a_4xx_is_not_retried_and_names_the_url_and_status():
    with FlakyServer({"/v1/models": [404]}) as server:
        with pytest.raises(ServerError) as err:
            OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url, backoff=0.01))
    assert f"GET {server.url}/models answered 404" in str(err.value) and "--base-url" in str(err.value)
    assert len(server.seen) == 1


def test_the_model_vocabulary_is_loaded_once_for_the_chat_format_and_the_server_engines_tokens(monkeypatch):
    # The server engine loaded the vocabulary again to split the server's token states by turn, though resolving
    # the model had just loaded it for the chat template.
    served = Llama(model_path=str(resolve_model(EMBEDDED).path), vocab_only=True, verbose=False)  # the "server's"
    per_token = {"/v1/embeddings": lambda body: {"data": [{"embedding": [[float(t), 1.0] for t in served.tokenize(
        body["input"].encode("utf-8"))]}]}}
    loads = []
    real_init = Llama.__init__

    def counted(self, *args, **kwargs):
        loads.append(kwargs.get("vocab_only", False))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Llama, "__init__", counted)
    models.load_vocabulary.cache_clear()
    turns = ["I was charged twice.", "Let me refund that."]
    with FlakyServer({}, per_token) as server:
        engine = OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url))
        first, second = engine.embed_turns(turns), engine.embed_turns(turns)
    n_tokens, first, second = first.tokens, first.last, second.last
    assert loads == [True]
    assert first.shape == (2, 3) and n_tokens == len(served.tokenize("\n".join(turns).encode()))
    np.testing.assert_array_equal(first, second)
    served.close()


def test_a_missing_api_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("CALLINSIGHTS_TEST_KEY", raising=False)
    with pytest.raises(ServerError, match="CALLINSIGHTS_TEST_KEY"):
        OpenAIEngine(resolve_model(EMBEDDED), ServerOptions("http://127.0.0.1:9/v1", "CALLINSIGHTS_TEST_KEY"))


def test_the_api_key_is_sent_as_a_bearer_token(monkeypatch):
    monkeypatch.setenv("CALLINSIGHTS_TEST_KEY", "sekret")
    seen_headers = []
    with FlakyServer({}) as server:
        original = server.httpd.RequestHandlerClass._answer

        def spy(handler):
            seen_headers.append(handler.headers.get("Authorization"))
            original(handler)

        server.httpd.RequestHandlerClass.do_GET = spy
        OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url, "CALLINSIGHTS_TEST_KEY"))
    assert seen_headers == ["Bearer sekret"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [(dict(engine="openai"), "--base-url"),
     (dict(engine="llama.cpp", base_url="http://x/v1"), "are for --engine openai"),
     (dict(engine="openai", base_url="http://x/v1", concurrency=0), "concurrency 0"),
     (dict(engine="llama.cpp", timeout=5.0), "--timeout and --connect-timeout are for --engine openai"),
     (dict(engine="openai", base_url="http://x/v1", connect_timeout=0.0), "--connect-timeout 0: give a number")],
)
def test_server_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        Settings(**settings).check()


# --- malformed answers: the URL and what was wrong, exit 2 (issue 23) -------------------------------------------------

MALFORMED = {
    "no choices": ({"/v1/completions": lambda body: {"id": "x", "object": "text_completion"}},
                   r"POST {url}/completions answered without \['choices'\]"),
    "no text": ({"/v1/completions": lambda body: {"choices": [{"index": 0}]}},
                r"POST {url}/completions answered without \['choices'\]\[0\]\['text'\]"),
    "empty choices": ({"/v1/completions": lambda body: {"choices": []}},
                      r"POST {url}/completions answered without \['choices'\]\[0\]"),
    "an HTML page": ({"/v1/completions": lambda body: b"<html><body>Welcome to nginx!</body></html>"},
                     r"POST {url}/completions answered a text/html page, not JSON \('<html><body>Welcome"),
    "a model without id": ({"/v1/models": lambda body: {"data": [{"name": "m"}]}},
                           r"GET {url}/models answered without \['data'\]\[0\]\['id'\]"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_answer_names_the_url_and_what_was_wrong(case):
    answers, message = MALFORMED[case]
    with FlakyServer({}, answers) as server:
        with pytest.raises(ServerError, match=message.format(url=re.escape(server.url))) as refused:
            OpenAIEngine(resolve_model(EMBEDDED), ServerOptions(server.url, backoff=0.01)).generate("prompt")
    assert "--base-url" in str(refused.value)


def test_a_server_answering_without_choices_stops_the_run_with_exit_2(tmp_path, capsys):
    with FlakyServer({}, MALFORMED["no choices"][0]) as server:
        code = main(["analyze", str(MODEL_CALLS), "--model", EMBEDDED, "--method", "generate", "--engine", "openai",
                     "--base-url", server.url, "--store", str(tmp_path / "s.sqlite"), "--out",
                     str(tmp_path / "p.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "KeyError" not in err
    assert f"POST {server.url}/completions answered without ['choices']" in err
    assert not (tmp_path / "p.csv").exists()


# --- a server that never answers, or is not there: given up on in seconds (issue 23) ---------------------------------


@contextlib.contextmanager
def silent_socket(accepting: bool = True):
    """A real socket on 127.0.0.1 that never answers. ``accepting``: the kernel completes every connection (a
    server stuck after accepting); else its one-place queue is taken, so a connection is never completed."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8 if accepting else 0)
        held = []
        if not accepting:
            held.append(socket.create_connection(listener.getsockname(), timeout=1))
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        finally:
            for connection in held:
                connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _given_up_on(options: ServerOptions) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ServerError) as refused:
        OpenAIEngine(resolve_model(EMBEDDED), options)
    return str(refused.value), time.monotonic() - start


def test_a_server_that_never_answers_is_given_up_on_at_the_deadline():
    with silent_socket() as url:
        message, seconds = _given_up_on(ServerOptions(url, timeout=1.0, connect_timeout=0.5))
    assert 0.9 < seconds < 3, seconds  # one deadline for the request, not a timeout per try
    assert f"GET {url}/models: no answer within 1 s" in message and "--timeout" in message


def test_a_connection_never_completed_is_given_up_on_after_the_connect_timeout():
    with silent_socket(accepting=False) as url:
        message, seconds = _given_up_on(ServerOptions(url, timeout=30.0, connect_timeout=0.5))
    assert 0.4 < seconds < 3, seconds
    assert f"GET {url}/models: could not connect within 0.5 s" in message and "--base-url" in message


def test_a_refused_connection_is_reported_in_seconds_with_the_default_options():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    message, seconds = _given_up_on(ServerOptions(url))
    assert seconds < 2, seconds  # not after 17 s of retries
    assert f"GET {url}/models: connection refused" in message and "--base-url" in message


def test_retries_stop_at_the_deadline():
    with FlakyServer({"/v1/models": [503] * 1000}) as server:
        message, seconds = _given_up_on(ServerOptions(server.url, timeout=1.0, retries=1000, backoff=0.05))
    assert seconds < 3, seconds
    assert f"GET {server.url}/models still answered 503" in message and "within 1 s" in message


def test_analyze_gives_up_on_a_silent_server_at_its_timeout_with_exit_2(tmp_path, capsys):
    start = time.monotonic()
    with silent_socket() as url:
        code = main(["analyze", str(MODEL_CALLS), "--model", EMBEDDED, "--method", "generate", "--engine", "openai",
                     "--base-url", url, "--timeout", "1", "--connect-timeout", "0.5", "--store",
                     str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "p.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - start < 30 and "Traceback" not in err
    assert f"{url}/models: no answer within 1 s" in err and not (tmp_path / "p.csv").exists()


# --- llama-cpp-python's server with the embedded model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url():
    pytest.importorskip("llama_cpp.server.app", reason="server extras missing: pip install -r requirements-scale.txt")
    from tests.support.server import running_server

    with running_server(EMBEDDED, threads=1) as url:
        yield url


@pytest.fixture(scope="module")
def embedded():
    return resolve_model(EMBEDDED)


@pytest.mark.scale
def test_probe_features_through_the_server_match_the_in_process_engine(server_url, embedded):
    settings = dict(model=EMBEDDED, method="probe")
    local = Classifier(Settings(**settings, threads=1), store=None, read_labels=False)
    remote = Classifier(Settings(**settings, engine="openai", base_url=server_url), store=None, read_labels=False)
    try:
        for cid, text in model_texts("probe").items():
            mine, theirs = np.array(local.compute(text)[0]["turns"]), np.array(remote.compute(text)[0]["turns"])
            # One row per customer turn: its mean hidden state (576 numbers) and its token count.
            assert mine.shape == theirs.shape == (len(text.splitlines()), 577), cid
            np.testing.assert_array_equal(theirs[:, -1], mine[:, -1])
            np.testing.assert_allclose(theirs, mine, rtol=1e-3, atol=2e-3, err_msg=cid)
    finally:
        local.close()


@pytest.mark.scale
def test_the_server_gives_the_in_process_per_token_hidden_states(server_url, embedded):
    from llama_cpp import Llama

    text = next(iter(model_texts("probe").values()))
    engine = OpenAIEngine(embedded, ServerOptions(server_url))
    tokens = engine.embed_tokens(text)
    # The same model in-process, un-pooled (pooling type NONE): one row per token.
    llm = Llama(model_path=str(embedded.path), n_ctx=2048, n_batch=2048, n_ubatch=2048, n_threads=1,
                embedding=True, pooling_type=0, verbose=False)
    try:
        expected = np.asarray(llm.embed(text, normalize=False, truncate=False))
    finally:
        llm.close()
    assert tokens.shape == expected.shape and tokens.shape[1] == 576 and tokens.shape[0] > 20
    np.testing.assert_allclose(tokens, expected, rtol=1e-3, atol=2e-3)


@pytest.mark.scale
def test_answer_scores_through_the_server_are_the_in_process_scores_of_the_same_prompt_text(server_url, embedded):
    # A server reads each question's prompt as one text; the in-process engine evaluates the call once and branches
    # the questions off it, so at that seam it has one token ("\n\n") where one text has two. Compared on the same
    # text, the scores agree.
    prompt = PROMPTS["v1"]
    chat = embedded.chat
    local = LlamaCppEngine(embedded, n_ctx=2048, threads=1)
    remote = OpenAIEngine(embedded, ServerOptions(server_url))
    try:
        for text in model_texts("score").values():
            prefix = prompt.prefix(chat, text)
            for question in prompt.questions:
                branch = Branch(prompt.suffix(chat, question), question.answers)
                # The question ends the user message: in-process it is read with the call (plain text), the
                # format's closing markers after it as special tokens, as the server reads the one text.
                closing = branch.suffix.removeprefix(question.text)
                mine = local.score(prefix + question.text, [Branch(closing, question.answers)]).logprobs[0]
                theirs = remote.score(prefix, [branch])
                assert theirs.logprobs[0].keys() == mine.keys()
                np.testing.assert_allclose([theirs.logprobs[0][k] for k in mine], list(mine.values()), atol=1e-3)
                assert theirs.prompt_tokens > 100
    finally:
        local.close()


# `score` is not compared label for label: its in-process prompt has a token at the call/question seam that no text
# sent to a server can reproduce (see the scores test above), and batch calibration over 4 calls turns the small
# difference into different labels. `generate` reads the same prompt text on both sides.
@pytest.mark.scale
def test_the_same_calls_get_the_same_labels_in_process_and_through_the_server(server_url, tmp_path):
    method = "generate"
    texts = model_texts(method)
    runs = {}
    for name, extra in {"local": dict(threads=1),
                        "server": dict(engine="openai", base_url=server_url, concurrency=2)}.items():
        with Store(tmp_path / f"{name}.sqlite") as store:
            classifier = Classifier(Settings(model=EMBEDDED, method=method, **extra), store)
            runs[name] = classifier.run(texts, progress=False).predictions.set_index("file")
            classifier.close()
            engines = store.outputs()["engine"].unique().tolist()
        assert engines == (["llama.cpp"] if name == "local" else ["openai:" + str(resolve_model(EMBEDDED).path)])
    local, server = runs["local"], runs["server"].loc[runs["local"].index]
    assert len(local) == len(texts) == 4 and server["valid"].all()
    pd.testing.assert_frame_equal(server[["sentiment", "outcome"]], local[["sentiment", "outcome"]])
    assert list(server["raw"]) == list(local["raw"])  # greedy and grammar-constrained: the same answer


@pytest.mark.scale
def test_a_wrong_base_url_exits_2_naming_the_url_and_status(server_url, tmp_path, capsys):
    wrong = server_url.removesuffix("/v1") + "/nothing/v1"
    code = main(["analyze", str(MODEL_CALLS), "--model", EMBEDDED, "--method", "score", "--engine", "openai",
                 "--base-url", wrong, "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "p.csv"),
                 "--quiet"])
    assert code == 2
    assert f"GET {wrong}/models answered 404" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def _count_outputs(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=10)) as db:
            return db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet
        return 0


@pytest.mark.scale
def test_a_run_through_the_server_killed_half_way_resumes_from_the_store(server_url, tmp_path):
    store, out = tmp_path / "runs.sqlite", tmp_path / "predictions.csv"
    command = [sys.executable, "-m", "callinsights", "analyze", str(MODEL_CALLS), "--model", EMBEDDED,
               "--method", "score", "--engine", "openai", "--base-url", server_url, "--concurrency", "2",
               "--store", str(store), "--out", str(out), "--quiet"]
    n_calls = len(list(MODEL_CALLS.glob("*.txt")))
    killed = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while _count_outputs(store) < 1:
            assert killed.poll() is None, f"analyze ended before it could be killed: {killed.communicate()}"
            assert time.monotonic() < deadline, "no output stored within 180 s"
            time.sleep(0.02)
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate()
    stored_before = _count_outputs(store)
    assert 1 <= stored_before < n_calls and not out.exists()

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    summary = re.search(r"(\d+) calls labelled \((\d+) from the store, (\d+) computed, (\d+) invalid\)", done.stdout)
    assert summary and tuple(map(int, summary.groups())) == (n_calls, stored_before, n_calls - stored_before, 0)
    assert pd.read_csv(out)["cached"].sum() == stored_before
