"""A fixed reference for calibrating answer scores, so that a call's label never depends on the other calls.

A small model prefers some answers whatever it reads ("positive", "resolved"). Calibration removes that preference by
subtracting each answer's mean log-probability over a set of calls before the softmax. Over *the run's own calls*
(``batch``) a call's label changes with its neighbours, and a one-call run comes out uniform. The ``reference``
calibration subtracts the means over the fixed calls below instead: written for this purpose (never client calls),
balanced over the three sentiments and the two outcomes, so the means measure the model's preference, not the
calls' content.

The means depend on the model, engine, prompt wording and what the model reads (side, redaction), all in the key
of the cached file; they are computed once with the model (about a second per reference call) and kept as JSON in
``<cache>/calibration/`` (:func:`save_reference`, :func:`load_reference`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from callinsights import config
from callinsights.data.call import Call
from callinsights.data.transcripts import parse_text

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
