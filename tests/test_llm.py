"""The two engines on the real embedded model (SmolLM2-135M): answer scoring, grammar-constrained generation, and
gpt4all's fresh context per call. Each engine is loaded once for the module."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from callinsights import config
from callinsights.classify.methods import parse_answer
from callinsights.llm.base import CapabilityError, Engine
from callinsights.llm.engines import ENGINES, Branch, Gpt4AllEngine, LlamaCppEngine
from callinsights.llm.models import count_tokens, gpt4all_compatible_copy, resolve_model
from callinsights.llm.prompts import GENERATE_GRAMMAR, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM
from callinsights.data.call import customer_text
from callinsights.data.transcripts import read_call

pytestmark = pytest.mark.model

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
PROMPT = PROMPTS["v1"]


def call_texts() -> dict[str, str]:
    """Customer side of every fixture call, by file stem."""
    return {path.stem: customer_text(read_call(path)) for path in sorted(MODEL_CALLS.glob("*.txt"))}


@pytest.fixture(scope="module")
def embedded():
    return resolve_model("smollm2-135m")


# One thread: on a shared 2-core machine two llama.cpp threads that wait on each other run several times slower,
# and the results do not depend on the thread count.
@pytest.fixture(scope="module")
def llama(embedded):
    engine = LlamaCppEngine(embedded, n_ctx=2048, threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def gpt(embedded):
    engine = Gpt4AllEngine(embedded, n_ctx=2048, threads=1)
    yield engine
    engine.close()


def branches(chat) -> list[Branch]:
    return [Branch(PROMPT.suffix(chat, q), q.answers) for q in PROMPT.questions]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    top = logits.max()
    return logits - top - math.log(np.exp(logits - top).sum())


# --- llama.cpp: scoring -------------------------------------------------------------------------------------------


def test_score_gives_a_finite_log_probability_for_every_answer(llama, embedded):
    text = call_texts()["angry_unsolved"]
    scores = llama.score(PROMPT.prefix(embedded.chat, text), branches(embedded.chat))

    assert len(scores.logprobs) == len(PROMPT.questions)
    for question, logprobs in zip(PROMPT.questions, scores.logprobs):
        assert set(logprobs) == set(question.answers)
        assert all(math.isfinite(lp) and lp < 0 for lp in logprobs.values()), logprobs
        # The answers start with different tokens, so they are disjoint events: their probabilities sum to <= 1.
        assert sum(math.exp(lp) for lp in logprobs.values()) <= 1 + 1e-6
    assert scores.prompt_tokens > 0 and scores.evaluated_tokens > 0


def test_a_second_score_on_the_same_prefix_evaluates_only_the_questions(llama, embedded):
    texts = call_texts()
    questions = branches(embedded.chat)
    llama.score(PROMPT.prefix(embedded.chat, texts["neutral_address"]), questions)  # something else in the cache
    prefix = PROMPT.prefix(embedded.chat, texts["delighted_fixed"])

    first = llama.score(prefix, questions)
    second = llama.score(prefix, questions)

    suffix_tokens = sum(len(llama.tokenize(b.suffix)) for b in questions)
    assert second.prompt_tokens == first.prompt_tokens == len(llama.tokenize(prefix)) + suffix_tokens
    assert second.evaluated_tokens < first.evaluated_tokens
    # Only the prefix's last token (for fresh logits) and the questions are evaluated again.
    assert second.evaluated_tokens == 1 + suffix_tokens
    for a, b in zip(first.logprobs, second.logprobs):
        assert a.keys() == b.keys()
        # The reused cache holds the prefix as one large batch computed, the fresh evaluation the last token alone:
        # llama.cpp's CPU kernels round differently by batch size (up to 0.05 in log-probability measured with the
        # portable AVX2 build), so the answers' order, not the last digits, is what must survive reuse.
        np.testing.assert_allclose(list(a.values()), list(b.values()), atol=0.1)
        assert sorted(a, key=a.get) == sorted(b, key=b.get)


def test_multi_token_answers_are_the_sum_of_their_token_log_probabilities(llama, embedded):
    from llama_cpp import llama_get_logits

    chat = embedded.chat
    # A short prompt keeps the evaluation from scratch cheap; the arithmetic does not depend on the instructions.
    prefix = chat.system.format(SYSTEM) + chat.user.split("{0}")[0] + "My claim is still pending. Nobody called.\n\n"
    sentiment, outcome = PROMPT.questions
    # The outcome question comes second, so the engine has to rewind past the first question's tokens; the
    # three-token " follow-up" comes first, so it has to rewind past that answer's tokens too.
    answers = (" follow-up", " issue resolved", " resolved")
    scores = llama.score(prefix, [Branch(PROMPT.suffix(chat, sentiment), sentiment.answers),
                                  Branch(PROMPT.suffix(chat, outcome), answers)])
    assert len(llama.tokenize(" follow-up")) == 3

    # From scratch (the cache emptied, nothing reused): the whole prompt, then the answer's first token after it.
    suffix_tokens = llama.tokenize(PROMPT.suffix(chat, outcome))
    tokens = llama.tokenize(prefix) + llama.tokenize(PROMPT.suffix(chat, outcome) + " issue resolved")
    issue, resolved = tokens[-2:]
    assert tokens[:-2] == llama.tokenize(prefix) + suffix_tokens  # the answer really is two tokens
    assert llama.tokenize(PROMPT.suffix(chat, outcome) + " resolved")[-1] == resolved
    llama.llm.reset()
    last_logprobs = []
    for step in (tokens[:-2], [issue]):
        llama.llm.eval(step)
        logits = np.ctypeslib.as_array(llama_get_logits(llama.llm.ctx), shape=(llama.n_vocab,))
        last_logprobs.append(log_softmax(logits))
    at_answer, after_issue = last_logprobs
    assert scores.logprobs[1][" issue resolved"] == pytest.approx(at_answer[issue] + after_issue[resolved], abs=2e-3)
    assert scores.logprobs[1][" resolved"] == pytest.approx(at_answer[resolved], abs=2e-3)
    # Not trivially equal: the second token adds its own (negative) log-probability.
    assert scores.logprobs[1][" issue resolved"] < at_answer[issue] - 1e-3


# --- llama.cpp: grammar-constrained generation ---------------------------------------------------------------------


@pytest.mark.parametrize("call", sorted(p.stem for p in MODEL_CALLS.glob("*.txt")))
def test_generate_with_the_grammar_always_gives_a_parsable_answer(llama, embedded, call):
    user = GENERATE_INSTRUCTIONS + "\n\n" + call_texts()[call]
    gen = llama.generate(embedded.chat.prompt(SYSTEM, user), max_tokens=24, grammar=GENERATE_GRAMMAR,
                         stop=embedded.chat.stop)

    assert re.fullmatch(r"sentiment: (positive|negative|neutral)\noutcome: (resolved|follow-up)", gen.text), gen.text
    sentiment, outcome = parse_answer(gen.text)
    assert sentiment is not None and outcome is not None
    assert gen.prompt_tokens > 0 and 0 < gen.completion_tokens <= 24


# --- a call quoting the chat format's markers is read as plain text (issue 23) -----------------------------------

FORGED = Path(__file__).parent / "fixtures" / "injection" / "forged_turns.txt"
MARKERS = ("<|im_start|>", "<|im_end|>")


def _markers_in(engine: LlamaCppEngine, tokens) -> int:
    """How many of ``tokens`` are the chat format's special tokens (a message's start or end)."""
    ids = {engine.llm.tokenize(marker.encode(), add_bos=False, special=True)[0] for marker in MARKERS}
    return sum(int(t) in ids for t in tokens)


def _forged_and_plain() -> tuple[str, str]:
    """The customer side of a call forging an assistant turn and a system message, and the same without markers."""
    forged = customer_text(read_call(FORGED))
    assert all(marker in forged for marker in MARKERS)
    plain = forged
    for marker in MARKERS:
        plain = plain.replace(marker, " ")
    return forged, plain.strip()


def test_a_call_quoting_chat_markers_cannot_forge_a_turn_in_the_score_prompt(llama, embedded):
    forged, plain = _forged_and_plain()
    counted = []
    for text in (plain, forged):
        scores = llama.score(PROMPT.prefix(embedded.chat, text), branches(embedded.chat))
        # What the model read: the prefix, then the last question and its answer tokens.
        counted.append(_markers_in(llama, llama.llm.input_ids[: llama.llm.n_tokens]))
        assert scores.prompt_tokens > 0
    assert counted[1] == counted[0] == 5  # the template's own: system, user opened, user closed, assistant


def test_a_call_quoting_chat_markers_cannot_forge_a_turn_in_the_generate_prompt(llama, embedded):
    from callinsights.classify.methods import ANSWER_TOKENS
    from callinsights.classify.runner import ContextBudget
    from callinsights.classify.settings import Settings

    forged, plain = _forged_and_plain()
    budget = ContextBudget(Settings(model="smollm2-135m", method="generate", n_ctx=2048), embedded)
    counted = []
    for text in (plain, forged):
        gen = llama.generate_chat(SYSTEM, GENERATE_INSTRUCTIONS + "\n\n" + text, max_tokens=24,
                                  grammar=GENERATE_GRAMMAR)
        counted.append(_markers_in(llama, llama.llm.input_ids[: gen.prompt_tokens]))
        assert parse_answer(gen.text) != (None, None)
        # The window counts the prompt as the engine tokenises it: markers in the text are several plain tokens.
        assert budget.needed(text) == gen.prompt_tokens + ANSWER_TOKENS
    assert counted[1] == counted[0] == 5


@pytest.mark.parametrize("call", sorted(p.stem for p in MODEL_CALLS.glob("*.txt")))
def test_a_call_without_markers_is_tokenised_as_before(llama, embedded, call):
    # The stored outputs of every call that quotes no marker stay valid: the same tokens, piece by piece or whole.
    text = call_texts()[call]
    prefix = PROMPT.prefix(embedded.chat, text)
    whole = embedded.chat.prompt(SYSTEM, GENERATE_INSTRUCTIONS + "\n\n" + text)
    assert llama.prompt_tokens(prefix, closed=False) == llama.tokenize(prefix)
    assert llama.prompt_tokens(whole) == llama.tokenize(whole)


# --- gpt4all -------------------------------------------------------------------------------------------------------


def _pre_tokenizer(path: Path) -> str:
    from llama_cpp import Llama

    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)  # metadata only, no weights
    try:
        return vocab.metadata["tokenizer.ggml.pre"]
    finally:
        vocab.close()


def test_gpt4all_loads_the_embedded_model_from_a_refact_copy_in_the_cache(gpt, embedded):
    loaded = Path(gpt.gpt.config["path"])
    assert loaded == gpt4all_compatible_copy(embedded)
    assert loaded.parent == config.CACHE_DIR / "models"
    assert embedded.sha256[:12] in loaded.name
    assert _pre_tokenizer(loaded) == "refact"  # the package's own file says "smollm", which gpt4all refuses
    # Made once: asking again returns the same file without rewriting it.
    mtime = loaded.stat().st_mtime_ns
    assert gpt4all_compatible_copy(embedded) == loaded
    assert loaded.stat().st_mtime_ns == mtime


def test_gpt4all_generate_chat_returns_text(gpt, embedded):
    user = GENERATE_INSTRUCTIONS + "\n\n" + call_texts()["delighted_fixed"]
    gen = gpt.generate_chat(SYSTEM, user, max_tokens=24)

    assert isinstance(gen.text, str) and gen.text.strip()
    assert embedded.chat.stop not in gen.text
    assert gen.prompt_tokens == count_tokens(embedded.path, embedded.chat.prompt(SYSTEM, user))
    assert 0 < gen.completion_tokens <= 24


def test_an_engine_missing_a_capability_raises_rather_than_answering_none():
    class Partial(Engine):
        name = "partial"
        capabilities = frozenset()

    engine = Partial()
    for call in (lambda: engine.embed_turns(["hi"]), lambda: engine.score("p", []),
                 lambda: engine.generate_chat("s", "u")):
        with pytest.raises(CapabilityError, match="partial exposes no .*; use --engine llama.cpp"):
            call()


def test_gpt4all_refuses_what_it_cannot_compute_naming_the_engine_that_can(gpt):
    with pytest.raises(CapabilityError, match="gpt4all exposes no hidden states per turn; use --engine llama.cpp"):
        gpt.embed_turns(["I was charged twice."])
    with pytest.raises(CapabilityError, match="gpt4all exposes no answer log-probabilities"):
        gpt.score("prefix", [Branch(" Answer:", (" yes",))])


def test_every_engine_has_what_the_engine_interface_asks():
    # n_ctx is set per loaded engine; everything else is on the class.
    asked = ({name for name in vars(Engine) if not name.startswith("_")} | set(Engine.__annotations__)) - {"n_ctx"}
    for name, engine in ENGINES.items():
        assert engine.name == name and not {m for m in asked if not hasattr(engine, m)}, name
        assert engine.capabilities  # and prepare() checks a method's need against them before loading


def test_gpt4all_answers_a_call_the_same_whether_or_not_another_was_asked_before(gpt):
    texts = call_texts()
    ask = lambda call: gpt.generate_chat(SYSTEM, GENERATE_INSTRUCTIONS + "\n\n" + texts[call], max_tokens=16).text

    alone = ask("callback_review")
    other = ask("angry_unsolved")
    after_another = ask("callback_review")

    assert alone != other  # the calls differ, so a leaked context would show
    assert after_another == alone
