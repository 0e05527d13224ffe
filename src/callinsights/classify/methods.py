"""The labelling methods: what each asks the engine to compute for a call, how its outputs are stored, and how a
run's stored outputs become labels and probabilities; with the reading of generated answers and the calibration of
answer scores against fixed reference calls."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import pandas as pd
from scipy.special import softmax

from callinsights import config
from callinsights.classify.probe import (FittedProbe, features_read, fingerprint, fit_from_outputs, label_with_probe,
                                         sentiment_block, stale_reasons)
from callinsights.classify.settings import CALIBRATIONS, Settings, assign_probabilities, texts_for_model
from callinsights.data.call import Call
from callinsights.data.labels import load_labels
from callinsights.data.outputs import write_text
from callinsights.data.store import OutputKey, text_hash
from callinsights.data.transcripts import parse_text
from callinsights.llm.base import GENERATION, SCORES, TURN_STATES, Branch, CapabilityError, Engine
from callinsights.llm.engines import ENGINES, block_count, check_block
from callinsights.llm.models import ChatFormat, ModelInfo, resolve_model
from callinsights.llm.prompts import (CUSTOMER_ONLY, GENERATE_GRAMMAR, GENERATE_INSTRUCTIONS, PROMPTS, SYSTEM,
                                      WHOLE_CALL)
from callinsights.schema import SENTIMENTS, TASKS
from callinsights.text.redact import redact_in_context

#: Tokens ``generate`` leaves for its answer.
ANSWER_TOKENS = 24
#: What :meth:`Method.compute` returns: the JSON-ready output, whether it is valid, prompt and evaluated tokens,
#: seconds.
Computed = tuple[dict, bool, int, int, float]


@dataclass(frozen=True)
class Setup:
    """A run's settings, checked, with its model resolved and what depends on the model settled (:func:`prepare`)."""

    settings: Settings
    model: ModelInfo

    @property
    def method(self) -> type[Method]:
        return METHODS[self.settings.method]


def prepare(settings: Settings | Setup) -> Setup:
    """Check ``settings`` and resolve the model, once per run; a :class:`Setup` is returned as it is.

    Raises:
        ValueError: An option outside its values; CapabilityError for a method the engine cannot serve.
        ModelError: The model cannot be found, or lacks the sentiment block asked for.
    """
    if isinstance(settings, Setup):
        return settings
    settings.check()
    if settings.method not in METHODS:
        raise ValueError(f"method {settings.method!r} is not one of: {', '.join(METHODS)}")
    method, engine = METHODS[settings.method], ENGINES[settings.engine]
    if method.needs not in engine.capabilities:
        engines = " or ".join(f"--engine {n}" for n, e in ENGINES.items() if method.needs in e.capabilities)
        methods = " or ".join(f"--method {n}" for n, m in METHODS.items() if m.needs in engine.capabilities)
        raise CapabilityError(f"method {settings.method!r} needs {method.needs}, which {settings.engine} does not "
                              f"expose; use {engines}, or {methods} with {settings.engine}")
    model = resolve_model(settings.model)
    return Setup(method.settle(settings, model), model)


class Method:
    """One labelling method for one run: a new method is a subclass registered in :data:`METHODS`.

    Args:
        setup: The run's setup.
        fitted: For a fitted method, the fit to label with (None: fitted on the run's labelled calls).
        read_labels: Read the labels a fitted method needs now, so that a missing file fails before model time.
    """

    name: ClassVar[str]
    #: The engine capability it asks for (:data:`callinsights.llm.base.TURN_STATES` ...).
    needs: ClassVar[str]

    def __init__(self, setup: Setup, fitted: FittedProbe | None = None, read_labels: bool = False):
        self.settings, self.model = setup.settings, setup.model
        #: The stored version: the exact wording or features, and what the model reads.
        self.version = self.stored_version()

    @classmethod
    def settle(cls, settings: Settings, model: ModelInfo) -> Settings:
        """``settings`` with what depends on the model settled."""
        return settings

    def stored_version(self) -> str:
        raise NotImplementedError

    def engine_options(self) -> dict:
        """How to load the engine (:func:`callinsights.llm.engines.load_engine`)."""
        return {}

    def key(self, engine_key: str, text: str) -> OutputKey:
        """The store key of one call's output."""
        return OutputKey(self.model.sha256, engine_key, self.name, self.version, text_hash(text))

    def tokens_needed(self, text: str, count: Callable[[str, bool, bool], int]) -> int:
        """Tokens of context the engine needs for ``text``, counted with ``count(text, bos, special)`` the way
        :meth:`compute` hands the text to the engine."""
        raise NotImplementedError

    def compute(self, engine: Engine, text: str) -> Computed:
        raise NotImplementedError

    def label(self, frame: pd.DataFrame, texts: dict[str, str], compute: Callable[[str], Computed]) -> None:
        """Fill the labels, probabilities and ``raw`` of a run's predictions from its stored outputs (in ``raw``).

        Args:
            frame: One row per call: ``file``, ``raw`` and the columns every method shares.
            texts: Call id -> the text the model read.
            compute: Runs the method on a text with the run's engine (for reference calls).
        """
        raise NotImplementedError

    def describe(self) -> str:
        """What a run prints about the method after its name."""
        return ""

    def caution(self, n_calls: int) -> str:
        """What a run of ``n_calls`` calls should be warned of before any model time ("" for nothing)."""
        return ""


class ProbeMethod(Method):
    """Logistic regression on per-turn hidden states, fitted on the hand-labelled calls (:mod:`classify.probe`)."""

    name, needs = "probe", TURN_STATES

    def __init__(self, setup: Setup, fitted: FittedProbe | None = None, read_labels: bool = False):
        super().__init__(setup)
        self.fitted = fitted
        self.labels_file = self.settings.labels_file or config.training_labels_file()
        if fitted is not None:
            # Only what the features depend on: which labels to fit on is the caller's business (pipelines.fit).
            mismatch = stale_reasons(fitted.metadata, self.fingerprint(), labels=False)
            if mismatch:
                raise ValueError("the fitted probe does not match this run: " + "; ".join(mismatch))
        self.gold = self._load_gold() if read_labels and fitted is None else None

    @classmethod
    def settle(cls, settings: Settings, model: ModelInfo) -> Settings:
        """The sentiment block settled: the default becomes ``config.SENTIMENT_BLOCKS`` where the model is deeper,
        else its last layer (0), since no block of another model was measured; a block given must exist."""
        if not sentiment_block(settings):
            return settings
        if settings.sentiment_blocks is None:
            deeper = config.SENTIMENT_BLOCKS < block_count(model.path)
            return replace(settings, sentiment_blocks=config.SENTIMENT_BLOCKS if deeper else 0)
        check_block(model.path, settings.sentiment_blocks)
        return settings

    def stored_version(self) -> str:
        return features_read(self.settings)

    def fingerprint(self) -> dict:
        return fingerprint(self.settings, self.model, self.labels_file)

    def _load_gold(self) -> pd.DataFrame:
        try:
            return load_labels(self.labels_file)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{err} The default method, probe, is fitted on hand labels; without them use --method score."
            ) from None

    def engine_options(self) -> dict:
        # The sentiment block is read in the same pass as the last layer.
        return {"states": True, "read_block": sentiment_block(self.settings)}

    def tokens_needed(self, text: str, count) -> int:
        return count("\n".join(t for t in text.split("\n") if t.strip()), True, False)

    def compute(self, engine: Engine, text: str) -> Computed:
        states = engine.embed_turns([t for t in text.split("\n") if t.strip()])
        output = {"turns": np.round(states.last, 5).tolist()}
        if states.block is not None:
            output["sentiment_turns"] = np.round(states.block, 5).tolist()
        return output, True, states.tokens, states.tokens, states.seconds

    def label(self, frame: pd.DataFrame, texts: dict[str, str], compute) -> None:
        fitted = self.fitted or fit_from_outputs(dict(zip(frame["file"], frame["raw"])), texts, self.gold,
                                                 self.labels_file, depends_on=self.fingerprint())
        label_with_probe(frame, texts, fitted)

    def describe(self) -> str:
        if self.fitted is not None:
            when = self.fitted.metadata.get("created", "in this session")
            extra = (f", fitted on {len(self.fitted.fitted_texts)} calls of "
                     f"{self.fitted.metadata.get('labels', {}).get('file')} ({when})")
        else:
            extra = f", fitted on {self.labels_file} (the labelled calls of this run)"
        block = sentiment_block(self.settings)
        return extra + (f", sentiment read after block {block}" if block else "")


def prompt_version(settings: Settings, wording: str) -> str:
    """The prompt's version name and a digest of the exact wording sent, so that an edited prompt is never served
    outputs stored under the old one, renamed or not."""
    return f"{settings.prompt_version}@{hashlib.sha256(wording.encode()).hexdigest()[:8]}" + settings.reads


def prompt_count(chat: ChatFormat, prompt: str, count: Callable[[str, bool, bool], int], closed: bool = True) -> int:
    """Tokens of a chat prompt counted as the engine tokenises it: markers special, the call's text plain
    (:meth:`ChatFormat.pieces`), so a call quoting the markers is counted at its real length."""
    return sum(count(part, False, special) for part, special in chat.pieces(prompt, closed))


class ScoreMethod(Method):
    """Log-probabilities of each answer to the prompt's questions, calibrated into probabilities."""

    name, needs = "score", SCORES

    def stored_version(self) -> str:
        prompt = PROMPTS[self.settings.prompt_version]
        return prompt_version(self.settings, SYSTEM + prompt.intro + repr(prompt.questions))

    def _prefix(self, text: str) -> str:
        prompt = PROMPTS[self.settings.prompt_version]
        return prompt.prefix(self.model.chat, text, whole_call=self.settings.side == "call")

    def tokens_needed(self, text: str, count) -> int:
        # The prompt up to the call text, then each question and answer after it; the last answer token is read,
        # never evaluated: hence the -1.
        prompt = PROMPTS[self.settings.prompt_version]
        tails = [prompt.suffix(self.model.chat, q) + answer for q in prompt.questions for answer in q.answers]
        return (prompt_count(self.model.chat, self._prefix(text), count, closed=False)
                + max(count(tail, False, True) for tail in tails) - 1)

    def compute(self, engine: Engine, text: str) -> Computed:
        prompt = PROMPTS[self.settings.prompt_version]
        branches = [Branch(prompt.suffix(self.model.chat, q), q.answers) for q in prompt.questions]
        scores = engine.score(self._prefix(text), branches)
        output = {q.task: {label: lp[answer] for answer, label in zip(q.answers, q.labels)}
                  for q, lp in zip(prompt.questions, scores.logprobs)}
        return output, True, scores.prompt_tokens, scores.evaluated_tokens, scores.seconds

    def label(self, frame: pd.DataFrame, texts: dict[str, str], compute) -> None:
        calibration = self.settings.calibration
        reference = self.reference(compute) if calibration == "reference" else {}
        for task, labels in TASKS.items():
            logprobs = pd.DataFrame([out[task] for out in frame["raw"]], columns=list(labels))
            assign_probabilities(frame, task, calibrated_probabilities(logprobs, calibration, reference.get(task)))
        frame["calibration"] = calibration
        # The answer log-probabilities, rounded, as a short JSON string.
        frame["raw"] = [json.dumps({task: {k: round(v, 4) for k, v in lp.items()} for task, lp in out.items()})
                        for out in frame["raw"]]

    def reference(self, compute) -> dict[str, dict[str, float]]:
        """``{task: {label: mean log-probability}}`` over the :data:`REFERENCE_CALLS` under this run's settings:
        computed once, then read from a cache file named by a digest of all they depend on (model, engine, prompt,
        texts); a missing or unreadable file is computed again, an unwritable one only costs that next time."""
        calls = [Call.of(parse_text(text, f"{name}.txt")) for name, text in REFERENCE_CALLS]
        texts = list(texts_for_model(calls, self.settings).values())
        key = hashlib.sha256("\x1f".join([self.model.sha256, self.settings.engine, self.version, *texts]).encode())
        path = Path(config.CACHE_DIR) / "calibration" / f"{key.hexdigest()[:24]}.json"
        with contextlib.suppress(OSError, ValueError):
            means = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(means, dict) and all(isinstance(v, dict) for v in means.values()):
                return means
        outputs = [compute(text)[0] for text in texts]
        means = {task: {label: float(np.mean([out[task][label] for out in outputs])) for label in outputs[0][task]}
                 for task in outputs[0]}
        with contextlib.suppress(OSError):
            write_text(path, json.dumps(means, indent=1, sort_keys=True))
        return means

    def describe(self) -> str:
        return f", calibration {self.settings.calibration}"

    def caution(self, n_calls: int) -> str:
        if self.settings.calibration != "batch" or n_calls >= BATCH_CALIBRATION_MIN_CALLS:
            return ""
        return (f"--calibration batch over {n_calls} call{'s' * (n_calls != 1)}: each answer's mean is taken over "
                "this batch, so "
                + ("the call gets uniform probabilities" if n_calls == 1 else "each call's label leans on the others")
                + f" (fewer than {BATCH_CALIBRATION_MIN_CALLS} calls); use --calibration reference (the default)")


class GenerateMethod(Method):
    """A generated two-line answer, grammar-constrained where the engine allows, parsed into labels."""

    name, needs = "generate", GENERATION

    def stored_version(self) -> str:
        return prompt_version(self.settings, SYSTEM + GENERATE_INSTRUCTIONS + GENERATE_GRAMMAR)

    def _user(self, text: str) -> str:
        user = GENERATE_INSTRUCTIONS + "\n\n" + text.strip()
        return user.replace(CUSTOMER_ONLY, WHOLE_CALL) if self.settings.side == "call" else user

    def tokens_needed(self, text: str, count) -> int:
        return prompt_count(self.model.chat, self.model.chat.prompt(SYSTEM, self._user(text)), count) + ANSWER_TOKENS

    def compute(self, engine: Engine, text: str) -> Computed:
        gen = engine.generate_chat(SYSTEM, self._user(text), max_tokens=ANSWER_TOKENS, grammar=GENERATE_GRAMMAR)
        sentiment, outcome = parse_answer(gen.text)
        return {"text": gen.text}, sentiment is not None and outcome is not None, gen.prompt_tokens, \
            gen.prompt_tokens, gen.seconds

    def label(self, frame: pd.DataFrame, texts: dict[str, str], compute) -> None:
        parsed = [parse_answer(out["text"]) for out in frame["raw"]]
        frame["sentiment"] = [p[0] for p in parsed]
        frame["outcome"] = [p[1] for p in parsed]
        # Shown to readers, so redacted like any call text, and with the people the call names masked: a model
        # repeats "Emily Wilson" without the "my name is" that redact() looks for.
        frame["raw"] = [redact_in_context(out["text"], texts.get(cid, ""))
                        for cid, out in zip(frame["file"], frame["raw"])]


#: The methods by ``--method`` name.
METHODS: dict[str, type[Method]] = {"probe": ProbeMethod, "score": ScoreMethod, "generate": GenerateMethod}


# --- reading generated answers ---------------------------------------------------------------------------------------

_OUTCOME_PATTERNS = [
    (re.compile(r"follow[\s-]*up|pending|unresolved|escalat", re.I), "follow-up action needed"),
    (re.compile(r"\bresolved\b", re.I), "issue resolved"),
]
# Negated answers name the other value: "not resolved" is pending, "no follow-up needed" is resolved.
_NEGATED_OUTCOME = [
    (re.compile(r"\bnot\s+(?:yet\s+|fully\s+)?resolved\b", re.I), "pending"),
    (re.compile(r"\bno\s+(?:further\s+)?follow[\s-]*up\b", re.I), "resolved"),
]


def parse_answer(text: str) -> tuple[str | None, str | None]:
    """``(sentiment, outcome)`` read from a generated answer: the ``sentiment: X`` / ``outcome: Y`` lines in any case,
    spacing, markdown or quoting, or JSON-like. A field that does not name exactly one allowed value is None: an
    ambiguous answer ("positive or neutral", an echoed ``resolved|follow-up``, "not positive") is not guessed."""
    cleaned = re.sub(r"[*_`\"'{}]", " ", text or "").lower()
    fields: dict[str, str] = {}
    # A field's value runs to the end of its line or to the next field name (JSON puts both on one line); it is
    # not cut at a comma, so an echoed "positive, negative or neutral" stays ambiguous instead of reading "positive".
    parts = re.split(r"\b(sentiment|outcome)\s*[:=-]", cleaned)
    for name, value in zip(parts[1::2], parts[2::2]):
        fields[name] = fields.get(name, "") + " " + value.split("\n")[0]
    sentiment_text = fields.get("sentiment", "")
    found = {label for label in SENTIMENTS if re.search(rf"\b{label}\b", sentiment_text)}
    negated = re.search(r"\bnot\s+(?:positive|negative|neutral)\b", sentiment_text)
    sentiment = found.pop() if len(found) == 1 and not negated else None
    outcome_text = fields.get("outcome", "")
    for pattern, replacement in _NEGATED_OUTCOME:
        outcome_text = pattern.sub(replacement, outcome_text)
    hits = {label for pattern, label in _OUTCOME_PATTERNS if pattern.search(outcome_text)}
    outcome = hits.pop() if len(hits) == 1 else None
    return sentiment, outcome


# --- probabilities -------------------------------------------------------------------------------------------------

#: Fewer calls than this make ``batch`` calibration a guess: the means it subtracts are the model's bias only over a
#: batch with calls of every kind; over one call they are its own answers, and its probabilities come out uniform.
BATCH_CALIBRATION_MIN_CALLS = 30


def calibrated_probabilities(logprobs: pd.DataFrame, calibration: str,
                             reference: dict[str, float] | None = None) -> pd.DataFrame:
    """Probabilities per label (rows summing to one) from one task's answer log-probabilities (a row per call).

    ``calibration``: ``none`` is their softmax; ``reference`` subtracts each label's mean over the fixed reference
    calls first (``reference``: label -> that mean); ``batch`` its mean over these calls, so a label the model
    prefers for every call gains nothing, but each call's label depends on the others.
    """
    values = logprobs.to_numpy(dtype=float)
    if calibration == "reference":
        if reference is None:
            raise ValueError("calibration 'reference' needs the reference means (see callinsights.classify.methods)")
        values = values - np.array([[reference[label] for label in logprobs.columns]])
    elif calibration == "batch":
        values = values - values.mean(axis=0, keepdims=True)
    elif calibration != "none":
        raise ValueError(f"calibration {calibration!r} is not one of: {', '.join(CALIBRATIONS)}")
    return pd.DataFrame(softmax(values, axis=1), index=logprobs.index, columns=logprobs.columns)


# --- a fixed reference for calibrating answer scores, so that a call's label never depends on the other calls ------

#: The reference calls: (name, transcript). Balanced: two calls for each sentiment and outcome pair (4 positive,
#: 4 negative, 4 neutral; 6 resolved, 6 follow-up). Editing them changes the cache key, so stale means are never used.
REFERENCE_CALLS: tuple[tuple[str, str], ...] = (
    ("ref_positive_resolved_1",
     "Member: Hi, I wanted to check whether my new plan covers physiotherapy.\n"
     "Customer Support: It does, twenty sessions a year with no referral needed.\n"
     "Member: Oh, that's wonderful, thank you so much. That's everything I needed."),
    ("ref_positive_resolved_2",
     "Member: My card arrived with a typo in my name.\n"
     "Customer Support: I've corrected it and a new card is printed today; your old one still works.\n"
     "Member: Perfect, that was quick. Thanks, you've been very helpful."),
    ("ref_positive_followup_1",
     "Member: I'm calling to get a pre-authorization for my knee surgery.\n"
     "Customer Support: I've submitted it; the review team will call you within five days.\n"
     "Member: Great, thank you for being so clear. I'll wait for their call."),
    ("ref_positive_followup_2",
     "Member: I'd like to add my newborn to my plan.\n"
     "Customer Support: Congratulations! I've started it; we need the birth certificate, then it takes a week.\n"
     "Member: Lovely, thank you, you've been so kind. I'll send it tomorrow."),
    ("ref_negative_followup_1",
     "Member: This is the third time I'm calling about the same denied claim.\n"
     "Customer Support: I'm sorry, I have to escalate it to a supervisor, who will call you back.\n"
     "Member: This is ridiculous. Nobody ever calls back and I'm still stuck with the bill."),
    ("ref_negative_followup_2",
     "Member: You charged my premium twice this month.\n"
     "Customer Support: I can see it; a refund request is open, it takes up to ten business days.\n"
     "Member: Ten days? That's unacceptable. I'm really frustrated with this."),
    ("ref_negative_resolved_1",
     "Member: I waited forty minutes on hold just to change my address.\n"
     "Customer Support: I apologise for the wait. The address is updated now.\n"
     "Member: Fine. It's done, but that wait was awful and I'm not happy about it."),
    ("ref_negative_resolved_2",
     "Member: Your website locked me out again. This is so annoying.\n"
     "Customer Support: I've unlocked it and reset your password; you can log in now.\n"
     "Member: Okay, it works. Still, I'm fed up with this happening every month."),
    ("ref_neutral_resolved_1",
     "Member: What is the deductible on my plan?\n"
     "Customer Support: It is five hundred dollars a year.\n"
     "Member: Okay. That's all, goodbye."),
    ("ref_neutral_resolved_2",
     "Member: I need the fax number for claims.\n"
     "Customer Support: It is printed on the back of your card, and I've also sent it by e-mail.\n"
     "Member: Got it. Thanks."),
    ("ref_neutral_followup_1",
     "Member: I sent the form for my dependant last week. Has it been processed?\n"
     "Customer Support: Not yet; it is in the queue and you will get a letter once it is.\n"
     "Member: Alright, I'll wait for the letter then."),
    ("ref_neutral_followup_2",
     "Member: I need a copy of my explanation of benefits for March.\n"
     "Customer Support: I've requested it; it will be mailed within ten business days.\n"
     "Member: Okay. I'll look out for it."),
)
