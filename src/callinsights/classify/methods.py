"""From a model's raw output to labels: parsing generated answers, calibrating answer log-probabilities.
"""

from __future__ import annotations

import json
import re
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import softmax

from callinsights.classify.settings import CALIBRATIONS
from callinsights.schema import PROBA_COLUMNS
from callinsights import config
from callinsights.data.call import Call
from callinsights.data.transcripts import parse_text

_SENTIMENT_WORDS = {"positive": "positive", "negative": "negative", "neutral": "neutral"}
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
    """Read sentiment and outcome from a generated answer.

    Accepts the requested ``sentiment: X`` / ``outcome: Y`` lines with any case, spacing, markdown or quoting, and
    JSON-like answers. A field is None when the answer does not name exactly one allowed value for it -- an
    ambiguous answer ("positive or neutral", an echoed ``resolved|follow-up``, "not positive", two lines that
    disagree) is not guessed.

    Args:
        text: The model's raw answer.

    Returns:
        ``(sentiment, outcome)``, each a project label or None.
    """
    cleaned = re.sub(r"[*_`\"'{}]", " ", text or "").lower()
    fields: dict[str, str] = {}
    # A field's value runs to the end of its line or to the next field name (JSON puts both on one line); it is
    # not cut at a comma, so an echoed "positive, negative or neutral" stays ambiguous instead of reading "positive".
    parts = re.split(r"\b(sentiment|outcome)\s*[:=-]", cleaned)
    for name, value in zip(parts[1::2], parts[2::2]):
        fields[name] = fields.get(name, "") + " " + value.split("\n")[0]
    sentiment_text = fields.get("sentiment", "")
    found = {v for w, v in _SENTIMENT_WORDS.items() if re.search(rf"\b{w}\b", sentiment_text)}
    negated = re.search(r"\bnot\s+(?:positive|negative|neutral)\b", sentiment_text)
    sentiment = found.pop() if len(found) == 1 and not negated else None
    outcome_text = fields.get("outcome", "")
    for pattern, replacement in _NEGATED_OUTCOME:
        outcome_text = pattern.sub(replacement, outcome_text)
    hits = {label for pattern, label in _OUTCOME_PATTERNS if pattern.search(outcome_text)}
    outcome = hits.pop() if len(hits) == 1 else None
    return sentiment, outcome


# --- probabilities -------------------------------------------------------------------------------------------------


def calibrated_probabilities(logprobs: pd.DataFrame, calibration: str,
                             reference: dict[str, float] | None = None) -> pd.DataFrame:
    """Probabilities per label from answer log-probabilities.

    Args:
        logprobs: One row per call, one column per label of one task.
        calibration: ``none`` (softmax of the raw log-probabilities), ``reference`` (each label's mean over the
            fixed reference calls subtracted first, see :mod:`callinsights.classify.methods`) or ``batch`` (each label's
            mean over these calls subtracted: a label the model prefers for every call gains nothing from it, but
            each call's label depends on the others).
        reference: For ``reference``: label -> mean log-probability over the reference calls.

    Returns:
        Same shape, rows summing to one.
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


def assign_probabilities(frame: pd.DataFrame, task: str, proba: pd.DataFrame) -> None:
    """Write one task's probabilities, chosen label and its confidence into the predictions frame (in place)."""
    for label in proba.columns:
        frame[PROBA_COLUMNS[label]] = proba[label].to_numpy()
    frame[task] = proba.idxmax(axis=1).to_numpy()
    frame[f"confidence_{task}"] = proba.max(axis=1).to_numpy()


def round_logprobs(output: dict) -> str:
    """Stored answer log-probabilities as a short JSON string for the ``raw`` column."""
    return json.dumps({task: {k: round(v, 4) for k, v in lp.items()} for task, lp in output.items()})



# A fixed reference for calibrating answer scores, so that a call's label never depends on the other calls.

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


def reference_calls() -> list[Call]:
    """The reference calls, parsed as the run's own calls are."""
    return [Call.of(parse_text(text, f"{name}.txt")) for name, text in REFERENCE_CALLS]


def reference_key(*parts: str) -> str:
    """A file-name-safe key for the cached means: a digest of everything they depend on."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def reference_path(key: str, cache_dir: str | Path | None = None) -> Path:
    """Where the means for ``key`` are kept."""
    return Path(cache_dir or config.CACHE_DIR) / "calibration" / f"{key}.json"


def load_reference(path: str | Path) -> dict[str, dict[str, float]] | None:
    """The saved means, or None when the file is missing or unreadable (then they are computed again)."""
    try:
        means = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(means, dict) or not all(isinstance(v, dict) for v in means.values()):
        return None
    return means


def save_reference(path: str | Path, means: dict[str, dict[str, float]]) -> None:
    """Save the means atomically (a temporary file renamed over the target)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(means, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reference_means(key: str, texts: list[str], compute: Callable[[str], dict],
                    cache_dir: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Each answer's mean log-probability over the reference calls, per task; loaded if saved, else computed.

    Args:
        key: From :func:`reference_key` over the model, engine, prompt and the reference texts.
        texts: The reference calls' texts as the model reads them.
        compute: Text -> ``{task: {label: log-probability}}`` (the score method's output for one call).
        cache_dir: Folder for the cache (default :data:`callinsights.config.CACHE_DIR`).

    Returns:
        ``{task: {label: mean log-probability}}``.
    """
    path = reference_path(key, cache_dir)
    means = load_reference(path)
    if means is not None:
        return means
    outputs = [compute(text) for text in texts]
    means = {task: {label: float(np.mean([out[task][label] for out in outputs])) for label in outputs[0][task]}
             for task in outputs[0]}
    try:
        save_reference(path, means)
    except OSError:
        pass  # an unwritable cache only costs recomputing next time
    return means
