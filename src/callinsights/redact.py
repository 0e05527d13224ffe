"""Replacing personal identifiers in call text with placeholders.

Everything shown to a reader -- notebook tables, word clouds, error analysis -- goes through :func:`redact`.
Whether the model sees redacted text is a setting of the classifier (``redact_for_model``), because an identifier
carries no sentiment but its removal changes the tokens the model reads.
"""

from __future__ import annotations

import re

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_ID_WORDS = {
    "claim": "[CLAIM_ID]",
    "case": "[CASE_ID]",
    "reference": "[REFERENCE]",
    "ref": "[REFERENCE]",
    "ticket": "[REFERENCE]",
    "confirmation": "[REFERENCE]",
    "authorization": "[REFERENCE]",
    "tracking": "[REFERENCE]",
    "invoice": "[REFERENCE]",
    "policy": "[POLICY_ID]",
}

# Order matters: specific shapes first, then the catch-all for identifiers named by the word before them.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[EMAIL]"),
    (re.compile(r"\bMEM-?\d{3,}\b", re.IGNORECASE), "[MEMBER_ID]"),
    (re.compile(r"\bCLM-?\d{3,}\b", re.IGNORECASE), "[CLAIM_ID]"),
    (re.compile(r"\bCAS(?:E)?-?\d{3,}\b", re.IGNORECASE), "[CASE_ID]"),
    (re.compile(r"(?<!\w)(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"), "[PHONE]"),
    # Dates of birth: written dates with a year (a bare "January 10th" names a visit, not a person).
    (re.compile(rf"\b{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?,? (?:19|20)\d{{2}}\b"), "[DATE]"),
    (re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTHS},? (?:19|20)\d{{2}}\b"), "[DATE]"),
    (re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-](?:19|20)?\d{2}\b"), "[DATE]"),
    (re.compile(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b"), "[DATE]"),
    # Codes that mix a letter prefix and digits: PA001234, ISS123456, SU-1234-56-789, REF-123456.
    (re.compile(r"\b[A-Z]{1,4}(?:-?\d{2,}){1,4}\b"), "[REFERENCE]"),
]
_NAMED_ID = re.compile(
    r"\b(?P<word>" + "|".join(_ID_WORDS) + r")(?P<gap>\s+(?:(?:number|no\.?|#|id|code)\b\.?)?\s*(?:is\b|:)?\s*)"
    r"(?P<id>#?[A-Z0-9-]*\d[A-Z0-9-]*)\b",
    re.IGNORECASE,
)
# People's names where the call introduces or addresses someone: "my name is Emily Wilson", "Mr. Johnson",
# "Thank you, Emily." A name elsewhere in free text is not caught (no name list is used).
_NAME = r"(?!(?:Mr|Mrs|Ms|Dr|Miss)\b)[A-Z][a-z]+(?:[ -](?!(?:Mr|Mrs|Ms|Dr|Miss)\b)[A-Z][a-z]+)?"
_NAME_PATTERNS = [
    re.compile(rf"(\b[Mm]y name is ){_NAME}"),
    re.compile(rf"(\b[Tt]his is ){_NAME}(?= from\b)"),
    re.compile(rf"(\b(?:Mr|Mrs|Ms|Dr|Miss)\.? ){_NAME}"),
    re.compile(rf"(\b(?:Hi|Hello|Thanks|Thank you|Sure|Okay|Yes|Goodbye|Bye|welcome|sorry),? ){_NAME}(?=[.,!?])"),
]
# Bare numbers of five or more digits left over are account-like (dates of service are written with words here).
_LONG_NUMBER = re.compile(r"\b\d{5,}\b")


def redact(text: str) -> str:
    """Replace member IDs, e-mail addresses, phone numbers, dates of birth, claim/case/reference numbers and names.

    Args:
        text: Any call text.

    Returns:
        The text with identifiers replaced by placeholders such as ``[MEMBER_ID]`` or ``[CLAIM_ID]``.

    Example:
        >>> redact("My ID is MEM123456, claim number 778899, call me at 555-123-4567.")
        'My ID is [MEMBER_ID], claim number [CLAIM_ID], call me at [PHONE].'
    """
    text = _NAMED_ID.sub(lambda m: f"{m['word']}{m['gap']}{_ID_WORDS[m['word'].lower()]}", text)
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    names: set[str] = set()
    for pattern in _NAME_PATTERNS:
        names.update(part for m in pattern.finditer(text) for part in re.split(r"[ -]", m[0][len(m[1]):]))
        text = pattern.sub(r"\1[NAME]", text)
    # A name once introduced is the same person's name wherever else it appears in the text ("..., Emily.").
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", "[NAME]", text)
    return _LONG_NUMBER.sub("[NUMBER]", text)
