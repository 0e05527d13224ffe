"""Finding people's names in call text by the way calls introduce and address people.

No NER model is used: Presidio's person recogniser needs a spaCy model, and no registry package of one comes from its
publisher (Explosion publishes its models elsewhere; the PyPI copies are third parties' re-uploads). A call names
people in a few ways, and those are what is matched (the name is a capitalised word, optionally a second and third):

- introductions: "my name is / my name's / the name is", "this is Maria Lopez", "I am Maria", "I'm Maria",
  "it's Maria Lopez speaking", "Maria Lopez speaking", "Maria here";
- family and third parties: "my husband John", "my daughter, Sofia", "a friend named Kevin", "his doctor, Dr. Ruiz";
- titles: "Mr. Hale", "Dr. O'Brien", "Nurse Kim" (never the bare title: "Thank you, Doctor." stays);
- address: "Thanks, Emily.", "Hi Sarah, ...", "Goodbye, Carlos!" -- unless the word is a common one
  ("Thanks, Bye.", "Okay, Great.").

A name found this way is masked wherever else it stands capitalised in the same text ("..., Emily."), but only a
name found by an introduction, a family word or a title, and never a common word or a word inside an organisation's
name. Organisations (``Smith Medical Group``, ``Blue Cross``) are kept as written: they are not a person.
"""

from __future__ import annotations

import re

# A name word: capitalised, with inner apostrophes or hyphens (O'Brien, McDonald, Smith-Jones, José).
_WORD = r"(?:[A-Z][a-z]{0,2}['\u2019])?[A-Z][a-z\u00e0-\u00ff]+(?:-[A-Z][a-z\u00e0-\u00ff]+)?"
_FULL = rf"{_WORD}(?:\s{_WORD}){{0,2}}"
_TITLES = r"(?:Mr|Mrs|Ms|Mx|Dr|Miss|Doctor|Nurse|Prof|Professor|Sister|Father|Pastor|Judge|Officer|Agent)"
_RELATIVES = (
    r"(?:husband|wife|spouse|partner|son|daughter|child|kid|baby|mother|father|mom|mum|dad|brother|sister|"
    r"grandmother|grandfather|grandma|grandpa|grandson|granddaughter|aunt|uncle|nephew|niece|cousin|friend|"
    r"neighbou?r|boss|manager|colleague|coworker|roommate|caregiver|carer|fianc[ée]e?|boyfriend|girlfriend|"
    r"stepson|stepdaughter|stepmother|stepfather|dependa?ent|doctor|dentist|therapist|physician|surgeon|nurse|"
    r"pharmacist|lawyer|attorney|landlord|employer|supervisor)"
)
_OWNERS = r"(?:my|our|his|her|their|your|the)"

#: Words that are never taken as a name, though a call may capitalise them where a name could stand.
COMMON_WORDS = frozenset("""
a about after again all alright also always am an and any anyway anything appreciate are as at awesome
be because been before best bless both brilliant but bye by calling can cheers claims cool could customer
day dear definitely did do doctor does done dr everybody everyone excellent fantastic fine folks for from
gentlemen get glad go goodbye good got great guys had happy has have he hello help her here hey hi him his
hold how i if in is it its just kind later let like lovely ma'am madam maybe me member much my nice no
nope not nothing now of oh ok okay on one or our out perfect please pleasure really right see she should
so some sorry still super support sure take team thank thanks that the their them then there they this
those though today tomorrow too totally true understood up us very wait was we welcome well were what
when where which who why will wise with wonderful would wow yeah yep yes yesterday you your yours
mr mrs ms miss sir nurse professor agent officer representative supervisor billing pharmacy insurance
monday tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december medicare medicaid
""".split())

# Organisation names: capitalised words ending in an organisation word. Kept whole, never masked in part.
_ORG_WORDS = (r"(?:Medical\s+Group|Medical\s+Center|Medical\s+Centre|Group|Clinic|Clinics|Hospital|Health|"
              r"Healthcare|Pharmacy|Pharmacies|Center|Centre|Associates|Insurance|Labs?|Laboratory|Laboratories|"
              r"Imaging|Orthopedics|Pediatrics|Dental|Practice|Partners|Foundation|University|Institute|Care|"
              r"Cross|Shield|Rx|Inc|LLC|Corp|Company)")
ORGANISATION = re.compile(rf"\b(?:[A-Z][\w'&.-]*\s+){{1,3}}{_ORG_WORDS}\b")

# (pattern, whether a name found by it is propagated to its other mentions). The name is group "name".
_RULES: list[tuple[re.Pattern[str], bool]] = [
    (re.compile(rf"\b(?i:my\s+name\s+is|my\s+name's|the\s+name\s+is|the\s+name's|name\s+is|called|named|"
                rf"by\s+the\s+name\s+of)\s+(?P<name>{_FULL})"), True),
    (re.compile(rf"\b(?i:this\s+is|it's|it\s+is|i\s+am|i'm|i\u2019m)\s+(?P<name>{_FULL})(?=\s+(?i:speaking|calling|"
                rf"here|from|with|of|on|and|at|my|i|i'm)\b|\s*[.,!?;:]|\s*$)"), True),
    (re.compile(rf"(?:^|(?<=[.!?]\s)|(?<=[:\-]\s))(?P<name>{_FULL})\s+(?:speaking|here)\b", re.MULTILINE), True),
    (re.compile(rf"\b(?i:{_OWNERS}\s+(?:\w+\s+)?{_RELATIVES}(?:\s+(?:is|was|named|called))?),?\s+"
                rf"(?:(?:{_TITLES})\.?\s+)?(?P<name>{_FULL})"), True),
    (re.compile(rf"\b{_TITLES}\.?\s+(?P<name>{_FULL})"), True),
    (re.compile(rf"\b(?i:hi|hello|hey|thanks|thank\s+you|sure|okay|ok|yes|goodbye|bye|welcome|sorry|dear|"
                rf"morning|afternoon|evening|great|perfect|alright|right),?\s+(?P<name>{_FULL})(?=\s*[.,!?])"), False),
]


_AND_NAME = re.compile(rf",?\s+(?:and|or|&)\s+(?P<name>{_FULL})")


def _is_common(word: str) -> bool:
    return word.lower().strip("'\u2019") in COMMON_WORDS


def _trim(name: str, start: int) -> tuple[int, int] | None:
    """The span of ``name`` (starting at ``start``) without its leading and trailing common words, or None."""
    words = list(re.finditer(r"\S+", name))
    while words and _is_common(words[0][0]):
        words.pop(0)
    while words and _is_common(words[-1][0]):
        words.pop()
    if not words:
        return None
    return start + words[0].start(), start + words[-1].end()


def find_names(text: str) -> list[tuple[int, int]]:
    """Character spans of people's names in ``text`` (see the module docstring for what is matched).

    Args:
        text: Any call text.

    Returns:
        ``(start, end)`` spans, sorted, not overlapping.
    """
    protected = [m.span() for m in ORGANISATION.finditer(text)]

    def inside_org(start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in protected)

    spans: list[tuple[int, int]] = []
    known: set[str] = set()
    for pattern, propagate in _RULES:
        for match in pattern.finditer(text):
            span = _trim(match["name"], match.start("name"))
            if span is None or inside_org(*span):
                continue
            spans.append(span)
            if propagate:
                known.update(w for w in re.split(r"\s+", text[span[0]:span[1]]) if not _is_common(w))
    # People named together: "my daughter Sofia and Carlos", "Sofia, Carlos and Ana".
    for start, end in list(spans):
        follow = _AND_NAME.match(text, end)
        while follow:
            span = _trim(follow["name"], follow.start("name"))
            if span is None or inside_org(*span):
                break
            spans.append(span)
            follow = _AND_NAME.match(text, span[1])
    # The same person named again elsewhere, capitalised: "My name is Emily Wilson. ... Thanks, Emily."
    for word in sorted(known, key=len, reverse=True):
        for match in re.finditer(rf"(?<![\w'\u2019-]){re.escape(word)}(?![\w'\u2019-])", text):
            if not inside_org(*match.span()):
                spans.append(match.span())
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
