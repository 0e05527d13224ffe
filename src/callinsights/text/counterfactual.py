"""Counterfactual calls: the same customer words with the call's topic swapped.

A label should follow how the customer feels and whether something is pending, not what the call is about. With 40
labelled calls, most neutral ones about claims, a probe can learn "claim = neutral" instead; it then labels a
prior-authorization call by its topic. Swapping the topic words (claim <-> appointment <-> password <-> pre-
authorization, the words these calls use) keeps everything that should decide the label and changes only the topic, so:

- the share of calls whose label flips under a swap (:func:`flip_rate`) measures, without any label, how much the
  labels follow the topic;
- swapped copies of the labelled calls, with the original labels, teach the probe that the topic does not matter
  (counterfactual data augmentation).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Topic words, aligned by grammatical role (singular, plural): a topic's n-th phrase replaces the n-th phrase of
#: another topic. The four are the call drivers found in the calls (notebook 05).
TOPICS: dict[str, tuple[str, ...]] = {
    "claim": ("claim", "claims"),
    "appointment": ("appointment", "appointments"),
    "password": ("password", "passwords"),
    "pre-authorization": ("pre-authorization", "pre-authorizations"),
}
#: Other spellings of the same nouns, read as the topic's phrase of that role (written back in canonical form).
ALIASES: dict[str, tuple[str, int]] = {
    "prior authorization": ("pre-authorization", 0), "prior authorizations": ("pre-authorization", 1),
    "preauthorization": ("pre-authorization", 0), "pre-auth": ("pre-authorization", 0),
    "login": ("password", 0), "log-in": ("password", 0),
}
ROTATION = tuple(TOPICS)


def _pattern() -> tuple[re.Pattern, dict[str, tuple[str, int]]]:
    where = {phrase: (topic, i) for topic, phrases in TOPICS.items() for i, phrase in enumerate(phrases)}
    where.update(ALIASES)
    alternatives = sorted(where, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in alternatives) + r")\b", re.IGNORECASE), where


_PATTERN, _WHERE = _pattern()


def _match_case(source: str, target: str) -> str:
    if source.isupper() and len(source) > 1:
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


def swap_topic(text: str, shift: int) -> str:
    """``text`` with every topic phrase moved ``shift`` places along :data:`ROTATION` (all at once, so two topics
    in one call stay distinct).

    Args:
        text: Customer text.
        shift: 1, 2 or 3 (0 returns the text unchanged).

    Returns:
        The counterfactual text.
    """
    def replace(match: re.Match) -> str:
        topic, i = _WHERE[match.group(0).lower()]
        target = ROTATION[(ROTATION.index(topic) + shift) % len(ROTATION)]
        return _match_case(match.group(0), TOPICS[target][i])

    return _PATTERN.sub(replace, text)


def has_topic(text: str) -> bool:
    """Whether ``text`` names any topic phrase (a swap changes nothing otherwise)."""
    return _PATTERN.search(text) is not None


def counterfactuals(texts: dict[str, str], every_shift: set[str] | None = None) -> pd.DataFrame:
    """Topic swaps of the calls that name a topic.

    Args:
        texts: Call id -> customer text.
        every_shift: Calls that get all three swaps (the labelled ones, whose copies a probe may be fitted on);
            the others get one, the shifts taking turns over the calls, which measures a flip rate at a third of
            the model time. None: every call gets all three.

    Returns:
        One row per (call, shift): ``file, shift, text``.
    """
    rows, turn = [], 0
    for cid, text in texts.items():
        if not has_topic(text):
            continue
        if every_shift is None or cid in every_shift:
            shifts = range(1, len(ROTATION))
        else:
            shifts, turn = [1 + turn % (len(ROTATION) - 1)], turn + 1
        rows += [{"file": cid, "shift": shift, "text": swap_topic(text, shift)} for shift in shifts]
    return pd.DataFrame(rows, columns=["file", "shift", "text"])


def flip_rate(original: pd.Series, swapped: pd.DataFrame, task: str) -> float:
    """Share of counterfactual pairs whose label differs from the original call's.

    Args:
        original: Label per call id.
        swapped: One row per pair with ``file`` and the predicted ``task`` label.
        task: Column of ``swapped`` holding the label.
    """
    if swapped.empty:
        return float("nan")
    return float(np.mean(swapped[task].to_numpy() != original.reindex(swapped["file"]).to_numpy()))
