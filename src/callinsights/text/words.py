"""Words of a call as a reader may see them: redacted, without placeholders, cues or filler words.

Everything that turns call text into words for a figure or a table goes through :func:`tokens` or
:func:`display_text`, which run :func:`callinsights.text.redact.redact` first and then drop the placeholders it
leaves (``[MEMBER_ID]``), so an identifier never reaches a figure and a placeholder never becomes a "word".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from wordcloud import STOPWORDS

from callinsights.text.redact import redact

#: Words every support call is full of that say nothing about its subject or mood: greetings, acknowledgements,
#: politeness formulas, hesitations, forms of address and hold-the-line phrases. "thank" and "please" are here
#: because agents and members alike say them in almost every turn; words that carry feeling ("great",
#: "frustrated", "appreciate") are deliberately not.
CALL_FILLER_WORDS: frozenset[str] = frozenset(
    """
    okay ok yes yeah yep yup uh um umm hmm oh ah alright right sure well
    thank thanks thankyou please hi hello hey bye goodbye welcome
    mr mrs ms miss mx dr sir ma'am
    just also actually really let go going ahead get got know see one
    can will may might could would today moment
    """.split()
)

#: Stop words for word clouds and word tables: wordcloud's English list plus :data:`CALL_FILLER_WORDS`.
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



def count_words(text: str) -> int:
    """Words in a text, counted as runs of characters between spaces."""
    return len(text.split())



def display_text(text: str) -> str:
    """Text as a reader may see it in a figure: redacted, with the placeholders removed."""
    return PLACEHOLDER.sub(" ", redact(text))



def tokens(text: str, stop_words: Iterable[str] | None = STOP_WORDS, min_length: int = 2) -> list[str]:
    """Lower-case words of a redacted text, placeholders and stop words left out.

    Args:
        text: Any call text; it is redacted here.
        stop_words: Words to leave out (lower case); ``None`` keeps every word.
        min_length: Shorter words are left out.

    Returns:
        The words in order. Cues in brackets such as ``(pause)`` are not words; curly apostrophes count as
        straight ones; a possessive ``'s`` is dropped, so "doctor's" counts as "doctor".
    """
    stop = frozenset(stop_words or ())
    lowered = _CUE.sub(" ", display_text(text)).lower().replace("\u2019", "'")
    words = (w.removesuffix("'s") for w in _TOKEN.findall(lowered) if not any(c.isdigit() for c in w))
    return [w for w in words if len(w) >= min_length and w not in stop]



def proper_nouns(texts: Iterable[str]) -> frozenset[str]:
    """Words the texts only ever write capitalised inside a sentence: names of people, places, days, products.

    :func:`callinsights.text.redact.redact` replaces names only where the call introduces or addresses someone, and a
    support call repeats the member's name in almost every agent turn; left in, a first name would be the biggest
    word of a cloud. A word
    counts as a proper noun when it is written ``Titlecase`` at least once after the start of a sentence and never
    in lower case; sentence starts prove nothing, acronyms (``ID``, ``MRI``) are not names, and the period of
    ``Mr.`` or ``Dr.`` does not end a sentence.

    Args:
        texts: Call texts, as written (not redacted).

    Returns:
        The proper nouns, lower case, as :func:`tokens` writes words.
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
    return frozenset(w for w in capitalised if w not in lower)
