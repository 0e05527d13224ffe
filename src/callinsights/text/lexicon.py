"""Word-level reading of a customer's text: VADER sentiment and phrases that signal pending work.

It reads words, not situations, so it has known blind spots (see :func:`vader_baseline`) that a language model
should not share. It serves both the classify layer (a baseline the model must beat) and the analysis layer (a
sentiment trajectory per turn), which is why it lives here, below both.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd

#: VADER's documented thresholds on the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

#: Phrases in the customer's words that mean something is still pending after the call: a callback, a review or
#: escalation, a wait for a decision or documents, or a step the customer must take later. Written from the label
#: definitions, not fitted to the client's calls; each is a regular expression matched case-insensitively at word
#: starts, so ``escalat`` covers escalate, escalated and escalation.
PENDING_CUES = (
    r"call(?:ing)? (?:me |you )?back",
    r"callback",
    r"escalat",
    r"review",
    r"follow(?:ing)?[ -]?up",
    r"get back to",
    r"hear back",
    r"business days",
    r"send",
    r"mail",
    r"fax",
    r"upload",
    r"submit",
    r"pending",
    r"ticket",
    r"wait",
    r"appeal",
    r"supervisor",
    r"manager",
    r"next week",
    r"tomorrow",
    r"still (?:not|haven't|hasn't|no)",
    r"not (?:been )?resolved",
)

_CUE_PATTERN = re.compile(r"\b(?:" + "|".join(f"(?:{c})" for c in PENDING_CUES) + r")", re.IGNORECASE)


@lru_cache(maxsize=1)
def _analyzer():
    """VADER's analyzer, built once: it reads its lexicon files on construction, which costs more than scoring."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_from_compound(compound: float) -> str:
    """VADER's standard reading of a compound score: positive at 0.05 or above, negative at -0.05 or below."""
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def pending_cues(text: str) -> list[str]:
    """The pending-work phrases found in a text, in order, lower-cased (why :func:`vader_baseline` said follow-up)."""
    return [m.group(0).lower() for m in _CUE_PATTERN.finditer(text or "")]


def vader_baseline(texts: pd.Series) -> pd.DataFrame:
    """Lexicon baseline: VADER sentiment and a keyword rule for the outcome, for each call's customer text.

    Sentiment comes from VADER's compound score with its standard thresholds (:func:`sentiment_from_compound`). The
    outcome is ``follow-up action needed`` when any of :data:`PENDING_CUES` occurs, else ``issue resolved``.

    Known blind spots, by design of a word-level baseline: routine thanks ("thank you, bye") push calls towards
    positive although the labels count that as neutral; a frustrated but polite customer can score positive; the
    cues ignore negation and tense ("no need to call back", "they sent it last week" still count as pending).

    Args:
        texts: The customer's side of each call, indexed by call id (missing text is read as empty).

    Returns:
        Columns ``sentiment``, ``outcome`` and ``compound`` (VADER's score in [-1, 1]), same index as ``texts``.
    """
    analyzer = _analyzer()
    rows = []
    for text in texts.fillna("").astype(str):
        compound = analyzer.polarity_scores(text)["compound"]
        rows.append({
            "sentiment": sentiment_from_compound(compound),
            "outcome": "follow-up action needed" if _CUE_PATTERN.search(text) else "issue resolved",
            "compound": compound,
        })
    return pd.DataFrame(rows, index=texts.index, columns=["sentiment", "outcome", "compound"])
