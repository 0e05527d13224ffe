"""Words of a call as a reader may see them, and the word lexicons (VADER, cue lists) read from them.

Text for a figure or table goes through :func:`tokens` or :func:`display_text`, which redact it and drop the
placeholders left (``[MEMBER_ID]``), so an identifier never reaches a figure and a placeholder never becomes a word.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable

import pandas as pd
from wordcloud import STOPWORDS

from callinsights.text.redact import redact

#: Words every support call is full of that say nothing about its subject or mood ("thank" and "please" are said in
#: almost every turn); words that carry feeling ("great", "frustrated", "appreciate") are deliberately not here.
CALL_FILLER_WORDS: frozenset[str] = frozenset(
    """
    okay ok yes yeah yep yup uh um umm hmm oh ah alright right sure well
    thank thanks thankyou please hi hello hey bye goodbye welcome
    mr mrs ms miss mx dr sir ma'am
    just also actually really let go going ahead get got know see one
    can will may might could would today moment
    """.split()
)

#: Stop words for word clouds and word tables.
STOP_WORDS: frozenset[str] = frozenset(STOPWORDS) | CALL_FILLER_WORDS

#: Placeholders :func:`callinsights.text.redact.redact` writes, e.g. ``[MEMBER_ID]``.
PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")

# Runs of letters and digits with inner apostrophes or hyphens ("don't", "follow-up"); a run holding a digit
# ("10th", "3-5") is not a word here.
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

# A cue in brackets inside a turn, "(pause)", "(sighs)": the speaker's tone, not words they said.
_CUE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")

# Words as written (case kept), and sentence ends that are not the period of a title such as "Mr." or "Dr.".
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_SENTENCE_END = re.compile(r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bProf)[.!?:;]+\s+|\n|\"")


def display_text(text: str) -> str:
    """Text as a reader may see it in a figure: redacted, with the placeholders removed."""
    return PLACEHOLDER.sub(" ", redact(text))


def tokens(text: str, stop_words: Iterable[str] | None = STOP_WORDS, min_length: int = 2) -> list[str]:
    """Lower-case words of ``text`` once redacted, in order, without placeholders, stop words, bracketed cues such as
    ``(pause)`` or words shorter than ``min_length``; a possessive ``'s`` is dropped ("doctor's" is "doctor")."""
    stop = frozenset(stop_words or ())
    lowered = _CUE.sub(" ", display_text(text)).lower().replace("\u2019", "'")
    words = (w.removesuffix("'s") for w in _TOKEN.findall(lowered) if not any(c.isdigit() for c in w))
    return [w for w in words if len(w) >= min_length and w not in stop]


def proper_nouns(texts: Iterable[str]) -> frozenset[str]:
    """Words the raw ``texts`` only ever write ``Titlecase`` inside a sentence (names of people, places, products),
    lower case as :func:`tokens` writes them.

    Redaction replaces a name only where someone is introduced or addressed, and agents repeat the member's name in
    almost every turn: left in, a first name would be the biggest word of a cloud.
    """
    capitalised: Counter = Counter()
    lower: set[str] = set()
    for text in texts:
        # The raw text, not the redacted one: a name that redaction replaced in one call can stand unreplaced in
        # another, and only the raw text shows it written mid-sentence.
        plain = _CUE.sub(" ", text).replace("\u2019", "'")
        for sentence in _SENTENCE_END.split(plain):
            for i, word in enumerate(_WORD.findall(sentence)):
                key = word.lower().removesuffix("'s")
                if word.islower():
                    lower.add(key)
                elif i > 0 and word[0].isupper() and word[1:].islower():
                    capitalised[key] += 1
    # Stop words are never names, though some are always capitalised: "I'm", "I've", and titles ("Ms.").
    return frozenset(w for w in capitalised if w not in lower and w not in STOP_WORDS)


#: Phrases in the customer's words that mean something is still pending after the call (the lexicon baseline's
#: outcome rule). Written from the label definitions, not fitted to the calls; matched from a word start, so
#: ``escalat`` covers escalate, escalated and escalation.
PENDING_CUES = (
    r"call(?:ing)? (?:me |you )?back", r"callback", r"escalat", r"review", r"follow(?:ing)?[ -]?up", r"get back to",
    r"hear back", r"business days", r"send", r"mail", r"fax", r"upload", r"submit", r"pending", r"ticket", r"wait",
    r"appeal", r"supervisor", r"manager", r"next week", r"tomorrow", r"still (?:not|haven't|hasn't|no)",
    r"not (?:been )?resolved",
)  # fmt: skip

# What happens in a call and what it leaves pending, as cue lists a reader can check (:func:`cue_pattern`). Written
# from the label definitions and a reading of calls, never fitted to the labels; a cue says the words occur, not that
# the work was done (negation and tense are not read).

#: A hold: the words, or a stage direction such as ``(pause)``.
HOLD_CUES = r"hold(?:s|ing)?\b|paus(?:e|ed|es|ing)\b"

#: What the agent does in the call (matched in the agent's turns).
CALL_ACTIONS: dict[str, str] = {
    # The agent gives the reason or the rule on the spot.
    "explained": r"which is why|that(?:'s| is) why|(?:this|that|it)(?:'s| is| was) (?:likely |probably )?because"
                 r"|(?:this|that) means|is (?:likely |probably )?the reason|according to (?:our records|your "
                 r"(?:policy|plan|benefits))|your (?:policy|plan) (?:only )?(?:covers|does(?:n't| not) cover)"
                 r"|let me explain",
    "transferred": r"transfer\w*|connect(?:ing)? you (?:with|to)|put you through|on the line with",
    "escalated": r"escalat\w*|supervisor|manager\b",
    # Steps the customer is walked through to do it themselves (the online account's usual fixes).
    "self_service": r"clear(?:ing)? (?:your |the )?(?:browser(?:'s)? )?(?:cache|cookies|history)"
                    r"|reset (?:your|the) password|password reset|reset link|click\w*|(?:different|another) browser"
                    r"|incognito|private (?:browsing|window)|try (?:logging|signing) in|refresh(?:ing)? (?:the|your) page"
                    r"|updat\w* (?:your|the) browser",
}

#: Work a call leaves pending (matched in both sides' words: the agent often says what happens next).
PENDING_WORK: dict[str, str] = {
    "documents": r"fax\w*|(?:send|submit|upload|provide|mail|email)\w*(?: \w+){0,4} (?:documents?|documentation"
                 r"|records|forms?|receipts?|treatment plan|a copy|proof|statement)|(?:additional|medical|supporting"
                 r"|necessary|required) (?:information|documentation|documents|records)|once (?:we|I) receive",
    "another_team": CALL_ACTIONS["escalated"] + r"|(?:claims|billing|technical|policy(?: update)?|IT|appeals?|review"
                    r"|provider relations|pharmacy|clinical|medical review|specialist) (?:team|department)"
                    r"|forward\w* (?:this|it|your)|pass (?:this|it) (?:on|along)",
    "reprocessing": r"re-?process\w*|re-?submit\w*|refund\w*|reimburs\w*|adjust(?:ment|ed|ing)?\b"
                    r"|credit(?:ed)? (?:back|to your account)|re-?review|appeal\w*",
    # A promise that someone comes back to the customer later.
    "callback": r"call (?:you|me) back\b|get back to you\b|be in touch\b|reach out to you\b|follow up with you\b"
                r"|contact you\b|within (?:the next )?(?:\d+|a few|one|two|three|five|seven|ten)"
                r"(?:\s*(?:-|to)\s*\d+)? (?:business |working )?(?:days?|hours?)\b",
    "ticket": r"ticket|glitch|bug\b|outage|(?:system|technical|website|server|login) (?:issue|error|problem|glitch)"
              r"|IT (?:team|department)|investigat\w* (?:the|this|your) (?:issue|problem|error)",
}

#: How a reader sees each cue list.
CUE_NAMES: dict[str, str] = {
    "explained": "explained on the spot", "transferred": "transferred", "escalated": "escalated",
    "self_service": "walked through self-service steps", "documents": "documents to send",
    "another_team": "another team or escalation", "reprocessing": "reprocessing or a refund",
    "callback": "a callback", "ticket": "a technical ticket",
}  # fmt: skip


@lru_cache(maxsize=None)
def cue_pattern(expression: str) -> re.Pattern:
    """A cue list compiled as the lexicon reads it: case-insensitive, each alternative from a word start."""
    return re.compile(r"\b(?:" + expression + r")", re.IGNORECASE)


_CUE_PATTERN = cue_pattern("|".join(f"(?:{c})" for c in PENDING_CUES))


def without_cues(text: str) -> str:
    """A quote without its bracketed cues ("(sighs)", "(hangs up)"): what the speaker said, spaces tidied."""
    return " ".join(_CUE.sub(" ", text or "").split())


def count_cues(text: str, expression: str) -> int:
    """How often a cue list (:data:`CALL_ACTIONS`, :data:`PENDING_WORK`, :data:`HOLD_CUES`) matches a text."""
    return len(cue_pattern(expression).findall(text or ""))


@lru_cache(maxsize=1)
def vader_analyzer():
    """VADER's analyzer, built once: reading its lexicon costs more than scoring."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_from_compound(compound: float) -> str:
    """VADER's standard reading of a compound score (its documented thresholds, +-0.05)."""
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


def pending_cues(text: str) -> list[str]:
    """The pending-work phrases found in a text, in order, lower-cased (why :func:`vader_baseline` said follow-up)."""
    return [m.group(0).lower() for m in _CUE_PATTERN.finditer(text or "")]


def vader_baseline(texts: pd.Series) -> pd.DataFrame:
    """Lexicon baseline per customer text: VADER sentiment, and follow-up when any of :data:`PENDING_CUES` occurs.

    Its blind spots are a word-level baseline's: routine thanks push calls towards positive, and the cues ignore
    negation and tense ("no need to call back" still counts as pending). ``compound`` is VADER's score in [-1, 1].
    """
    texts = texts.fillna("").astype(str)
    compound = texts.map(lambda text: vader_analyzer().polarity_scores(text)["compound"])
    pending = texts.str.contains(_CUE_PATTERN)
    return pd.DataFrame({
        "sentiment": compound.map(sentiment_from_compound),
        "outcome": pending.map({True: "follow-up action needed", False: "issue resolved"}),
        "compound": compound,
    }, index=texts.index)
