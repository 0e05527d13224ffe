"""Calls longer than the model's context: read from their last turns that fit, and flagged.

The model reads at most ``Settings.n_ctx`` tokens (4096 by default). The probe reads the customer's turns in one
pass; ``score`` and ``generate`` wrap them in a prompt and need room for the answer. Before this window, a longer
call stopped the whole run (llama.cpp: "text of N tokens is longer than the context", "llama_decode returned 1",
"Requested tokens exceed context window").

A call that does not fit is labelled from a window: its **last** turns (one per line of the text the model reads)
that fit together with the prompt, because the labelling guideline weighs how a call ends most. Whole turns are
kept and the earliest dropped; when even the last turn alone is too long, its last words that fit are kept. The
prediction says so: ``windowed`` True and ``dropped_turns`` (how many of the call's turns were left out). The window
counts tokens with the model file's own vocabulary, the way each method hands its text to the engine; a server
(``--engine openai``) is windowed to ``n_ctx`` as well, whatever its own context.

A call that fits is left exactly as it was, so its store key (a hash of the text read) and its prediction are what
they were before the window existed. Most calls are seen to fit without a tokenizer at all: a token is never shorter
than a byte, so a prompt with fewer bytes than the context has room for fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from callinsights.classify.settings import Settings
from callinsights.llm.models import ModelInfo, vocabulary
from callinsights.llm.prompts import CUSTOMER_ONLY, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM, WHOLE_CALL

#: Tokens ``generate`` leaves for its answer: the ``max_tokens`` of ``Classifier.compute`` (classify.runner).
ANSWER_TOKENS = 24
# Tokens a text may have beyond its bytes: a BOS, an end token, a leading space some vocabularies add.
_BYTE_SLACK = 4


@dataclass(frozen=True)
class Window:
    """What the model reads of one call.

    Attributes:
        text: The text read: the call's text unchanged, or its last turns that fit.
        dropped_turns: Turns (lines) of the call's text left out, from its start.
        windowed: The text is not the whole call.
    """

    text: str
    dropped_turns: int = 0
    windowed: bool = False


class ContextBudget:
    """Whether a call's text fits in the context with the prompt of the chosen method, and its window if not.

    Args:
        settings: The run's settings (method, prompt, side, ``n_ctx``).
        model: The resolved model (its vocabulary counts the tokens, its chat format builds the prompt).
    """

    def __init__(self, settings: Settings, model: ModelInfo):
        self.settings = settings
        self.model = model
        self.n_ctx = settings.n_ctx
        if settings.method == "score":
            prompt = PROMPTS[settings.prompt_version]
            # After the call text: each question, then its answer's tokens, evaluated one after another.
            self._tails = [prompt.suffix(model.chat, q) + answer for q in prompt.questions for answer in q.answers]
        self._tail: dict[bool, int] = {}  # the longest tail, counted once per kind (not per bisection step)

    def _count(self, text: str, bos: bool, special: bool, exact: bool) -> int:
        if not exact:
            return len(text.encode("utf-8")) + _BYTE_SLACK
        return len(vocabulary(self.model.path).tokenize(text.encode("utf-8"), add_bos=bos, special=special))

    def _longest_tail(self, exact: bool) -> int:
        if exact not in self._tail:
            self._tail[exact] = max(self._count(tail, False, True, exact) for tail in self._tails)
        return self._tail[exact]

    def needed(self, text: str, exact: bool = True) -> int:
        """Tokens of context the model needs for ``text`` (an upper bound from its bytes with ``exact=False``).

        Mirrors how :meth:`callinsights.classify.runner.Classifier.compute` hands the text to the engine: the probe
        tokenizes the turns as one text (with BOS, no special tokens); ``score`` evaluates the prompt up to the
        call text, then each question and answer after it; ``generate`` needs its prompt and the answer's tokens.
        """
        s, chat = self.settings, self.model.chat
        if s.method == "probe":
            return self._count("\n".join(t for t in text.split("\n") if t.strip()), True, False, exact)
        if s.method == "score":
            prefix = PROMPTS[s.prompt_version].prefix(chat, text, whole_call=s.side == "call")
            # The last answer token is read, never evaluated: hence the -1.
            return (self._count(prefix, False, True, exact)
                    + self._longest_tail(exact) - 1)
        user = GENERATE_INSTRUCTIONS + "\n\n" + text.strip()
        if s.side == "call":
            user = user.replace(CUSTOMER_ONLY, WHOLE_CALL)
        return self._count(chat.prompt(SYSTEM, user), False, True, exact) + ANSWER_TOKENS

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits in the context with its prompt (decided from its bytes when they are few)."""
        return self.needed(text, exact=False) <= self.n_ctx or self.needed(text) <= self.n_ctx

    def window(self, text: str) -> Window:
        """The call's text if it fits, else its last turns that fit (see the module's rules).

        Raises:
            ValueError: Not even one word fits beside the prompt: ``n_ctx`` is too small for the method.
        """
        if self.fits(text):
            return Window(text)
        lines = text.split("\n")
        kept = _most(len(lines) - 1, lambda k: self.fits("\n".join(lines[-k:])))
        if kept:
            return Window("\n".join(lines[-kept:]), len(lines) - kept, True)
        words = lines[-1].split(" ")
        kept = _most(len(words) - 1, lambda k: self.fits(" ".join(words[-k:])))
        if not kept:
            raise ValueError(f"a context of {self.n_ctx} tokens leaves no room for a call's words beside the "
                             f"{self.settings.method} prompt; raise n_ctx")
        return Window(" ".join(words[-kept:]), len(lines) - 1, True)


def _most(upper: int, fits) -> int:
    """The largest ``k`` in ``0..upper`` with ``fits(k)`` (0 when none), by bisection: more turns, more tokens."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_to_context(texts: dict[str, str], settings: Settings, model: ModelInfo
                   ) -> tuple[dict[str, str], dict[str, Window]]:
    """Each call's text as the model can read it, and the windows of the calls that had to be cut.

    Args:
        texts: Call id -> the text the model would read (see :func:`callinsights.classify.settings.texts_for_model`).
        settings: The run's settings.
        model: The resolved model.

    Returns:
        The texts in the same order (a call that fits unchanged, a longer one windowed), and call id -> window for
        the windowed calls only.
    """
    budget = ContextBudget(settings, model)
    windows = {cid: budget.window(text) for cid, text in texts.items()}
    return ({cid: w.text for cid, w in windows.items()},
            {cid: w for cid, w in windows.items() if w.windowed})


def window_note(predictions, n_ctx: int) -> str:
    """A line naming the calls read from a window (with a newline), or nothing: ``analyze`` prints it."""
    windowed = predictions[predictions["windowed"]]
    if windowed.empty:
        return ""
    calls = ", ".join(f"{row.file} ({row.dropped_turns} turns left out)" for row in windowed.itertuples())
    return (f"  {len(windowed)} call(s) longer than the model's context ({n_ctx} tokens), labelled from their last "
            f"turns that fit (column windowed): {calls}\n")
