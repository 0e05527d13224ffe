"""Replacing personal identifiers in call text with placeholders (:func:`redact`, used for everything a reader sees).

Presidio's pattern recognisers run beside ours; people's names are found by the way calls introduce and address
people, not by an NER model (Presidio's needs a spaCy model, which no registry package from its publisher provides).
What is matched, and what is kept (organisations, common words), is in ``docs/formats.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
services service department desk office technical
""".split())

# Organisation names: capitalised words ending in an organisation word. Kept whole, never masked in part.
_ORG_WORDS = (r"(?:Medical\s+Group|Medical\s+Center|Medical\s+Centre|Group|Clinic|Clinics|Hospital|Health|"
              r"Healthcare|Pharmacy|Pharmacies|Center|Centre|Associates|Insurance|Labs?|Laboratory|Laboratories|"
              r"Imaging|Orthopedics|Pediatrics|Dental|Practice|Partners|Foundation|University|Institute|Care|"
              r"Cross|Shield|Rx|Inc|LLC|Corp|Company)")
ORGANISATION = re.compile(rf"\b(?:[A-Z][\w'&.-]*\s+){{1,3}}{_ORG_WORDS}\b")

# (pattern, whether a name found by it is masked at its other capitalised mentions too). The name is group "name".
# Introductions ("my name's ...", "this is ...", "... speaking"), family and third parties ("my husband John"), people
# asked for, spelled names and titles propagate; a word merely addressed ("Thanks, Emily.") does not.
_RULES: list[tuple[re.Pattern[str], bool]] = [
    (re.compile(rf"\b(?i:my\s+name\s+is|my\s+name's|the\s+name\s+is|the\s+name's|name\s+is|called|named|"
                rf"by\s+the\s+name\s+of)\s+(?P<name>{_FULL})"), True),
    (re.compile(rf"\b(?i:this\s+is|it's|it\s+is|i\s+am|i'm|i\u2019m)\s+(?P<name>{_FULL})(?=\s+(?i:speaking|calling|"
                rf"here|from|with|of|on|and|at|my|i|i'm)\b|\s*[.,!?;:]|\s*$)"), True),
    (re.compile(rf"(?:^|(?<=[.!?]\s)|(?<=[:\-,]\s))(?P<name>{_FULL})\s+(?:speaking|here|calling)\b", re.MULTILINE),
     True),
    (re.compile(rf"\b(?i:{_OWNERS}\s+(?:\w+\s+)?(?:(?:ex|step|great|grand)-)?{_RELATIVES}(?:-in-law)?"
                rf"(?:\s+(?:is|was|named|called))?),?\s+(?:(?:{_TITLES})\.?\s+)?(?P<name>{_FULL})"), True),
    # Someone asked for by name: "Ask for Robert Smith", "Can I speak to Jennifer", "transfer me to Mr. Hale".
    (re.compile(rf"\b(?i:ask(?:ed|ing)?\s+for|speak(?:ing)?\s+(?:to|with)|spoke\s+(?:to|with)|"
                rf"talk(?:ed|ing)?\s+(?:to|with)|transfer(?:red)?\s+(?:me\s+)?to|put\s+me\s+through\s+to)\s+"
                rf"(?:(?:{_TITLES})\.?\s+)?(?P<name>{_FULL})"), True),
    # A name spelled out letter by letter: "L-O-P-E-Z".
    (re.compile(r"(?<![\w-])(?P<name>[A-Z](?:-[A-Z]){2,})(?![\w-])"), True),
    (re.compile(rf"\b{_TITLES}\.?\s+(?P<name>{_FULL})"), True),
    (re.compile(rf"\b(?i:hi|hello|hey|thanks|thank\s+you|sure|okay|ok|yes|goodbye|bye|welcome|sorry|dear|"
                rf"morning|afternoon|evening|great|perfect|alright|right),?\s+(?P<name>{_FULL})(?=\s*[.,!?])"), False),
]


_SPELLED = re.compile(r"[A-Z](?:-[A-Z]){2,}")
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
    """Sorted, non-overlapping ``(start, end)`` spans of people's names in ``text``."""
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
                words = re.split(r"\s+", text[span[0]:span[1]])
                # A spelled name ("L-O-P-E-Z") is the same person as the word it spells ("Lopez").
                words += [w.replace("-", "").capitalize() for w in words if _SPELLED.fullmatch(w)]
                known.update(w for w in words if not _is_common(w))
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


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
#: The word naming an identifier (``claim number 778899``) -> its entity.
_ID_WORDS = {
    "claim": "CLAIM_ID", "case": "CASE_ID", "reference": "REFERENCE", "ref": "REFERENCE", "ticket": "REFERENCE",
    "confirmation": "REFERENCE", "authorization": "REFERENCE", "tracking": "REFERENCE", "invoice": "REFERENCE",
    "policy": "POLICY_ID", "member": "MEMBER_ID", "account": "NUMBER", "group": "NUMBER",
}  # fmt: skip
_STREET = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Terrace|Way|Place|Pl|"
           r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Loop|Row|Crescent|Close)")

#: Our own patterns: (entity, pattern, group holding the identifier). Specific shapes first.
_PATTERNS: list[tuple[str, re.Pattern[str], str | int]] = [
    ("EMAIL_ADDRESS", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), 0),
    # Any SSN-shaped number: Presidio's own recogniser rejects well-known sample numbers (123-45-6789), which a
    # careless caller may still give as theirs.
    ("US_SSN", re.compile(r"(?<![\w-])\d{3}[- ]\d{2}[- ]\d{4}(?![\w-])"), 0),
    ("MEMBER_ID", re.compile(r"\bMEM-?\d{3,}\b", re.IGNORECASE), 0),
    ("CLAIM_ID", re.compile(r"\bCLM-?\d{3,}\b", re.IGNORECASE), 0),
    ("CASE_ID", re.compile(r"\bCAS(?:E)?-?\d{3,}\b", re.IGNORECASE), 0),
    ("PHONE_NUMBER", re.compile(r"(?<!\w)(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"), 0),
    # A local number without its area code ("my phone number is 555-1234"), which the calls also give.
    ("PHONE_NUMBER", re.compile(r"(?<![\w-])\d{3}-\d{4}(?![\w-])"), 0),
    # A card's expiry and security code, named by the words before them: "expiry 12/27", "CVV 123".
    ("CARD_DETAIL", re.compile(
        r"\b(?i:exp(?:iry|iration)?(?:\s+date)?|expires?|valid\s+(?:thru|through|until))\.?\s*(?:(?i:is|on)\s+|:\s*)?"
        r"(?P<id>(?:0?[1-9]|1[0-2])\s?/\s?(?:20\d{2}|\d{2}))(?![\w/])"), "id"),
    ("CARD_DETAIL", re.compile(
        r"\b(?i:cvv2?|cvc2?|csc|security\s+code|card\s+code)\.?\s*(?:(?i:is|number)\s+|:\s*|#\s*)?"
        r"(?P<id>\d{3,4})\b"), "id"),
    # Dates of birth: written dates with a year (a bare "January 10th" names a visit, not a person).
    ("DATE", re.compile(rf"\b{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?,? (?:19|20)\d{{2}}\b"), 0),
    ("DATE", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTHS},? (?:19|20)\d{{2}}\b"), 0),
    ("DATE", re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-](?:19|20)?\d{2}\b"), 0),
    ("DATE", re.compile(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b"), 0),
    # Street addresses: a house number, capitalised street words, a street type, then unit, town, state, ZIP.
    ("ADDRESS", re.compile(
        rf"\b\d{{1,6}}[A-Z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\s+){{1,3}}{_STREET}\b\.?"
        rf"(?:,?\s+(?:Apt|Apartment|Suite|Unit|#)\.?\s*\w+)?"
        # The state is a whole two-letter word ("USA" once left "[ADDRESS]A"), and a country may follow it.
        rf"(?:,\s+[A-Z][a-z]+(?:\s[A-Z][a-z]+){{0,2}})?(?:,?\s+[A-Z]{{2}}\b)?(?:,?\s+USA\b)?"
        rf"(?:,?\s+\d{{5}}(?:-\d{{4}})?)?"), 0),
    ("ADDRESS", re.compile(r"\b(?:P\.?\s?O\.?\s+Box|PO\s+Box)\s+\d+\b", re.IGNORECASE), 0),
    # Card-like digit groups that fail Luhn (a misread card is still a card to a reader): 4-4-4-1..7.
    ("NUMBER", re.compile(r"(?<![\w-])\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}(?![\w-])"), 0),
    # Codes that mix a letter prefix and digits: PA001234, ISS123456, SU-1234-56-789, REF-123456.
    ("REFERENCE", re.compile(r"\b[A-Z]{1,4}(?:-?\d{2,}){1,4}\b"), 0),
    # A number given with a hash ("It's #2023-01-001."), or three or more groups of digits ("2023-01-001"): a
    # claim, case or reference number even where no word before it says which.
    ("REFERENCE", re.compile(r"(?<![\w#])#\s?\d[\d-]*\d\b"), 0),
    ("REFERENCE", re.compile(r"(?<![\w-])\d{2,}(?:-\d{2,}){2,}(?![\w-])"), 0),
    # A diagnosis or procedure code, named by the words before it ("diagnosis code is 250.00", "CPT code 27447"):
    # health information about the member.
    ("MEDICAL_CODE", re.compile(
        r"\b(?i:diagnosis|diagnostic|icd(?:-?(?:9|10))?|cpt|procedure)\s+(?i:codes?)\s*(?:(?i:is|are)\s+|:\s*)?"
        r"(?P<id>[A-Z]?\d[0-9A-Z]{1,4}(?:\.[0-9A-Z]{1,4})?)(?!\w|\.\d)"), "id"),
    # An identifier named by the word before it: "claim number 778899", "policy #A12-3456".
    ("NAMED_ID", re.compile(
        r"\b(?P<word>" + "|".join(_ID_WORDS) + r")(?:\s+(?:(?:number|no\.?|id|code)\b\.?)?\s*(?:is\b|:)?\s*)"
        r"(?P<id>(?:#\s?)?[A-Z0-9-]*\d[A-Z0-9-]*)\b", re.IGNORECASE), "id"),
    # Bare numbers of five or more digits are account-like (dates of service are written with words here).
    ("NUMBER", re.compile(r"\b\d{5,}\b"), 0),
]

#: Entity -> placeholder written in the text.
PLACEHOLDERS = {
    "PERSON": "[NAME]", "US_SSN": "[SSN]", "CREDIT_CARD": "[CARD_NUMBER]", "CARD_DETAIL": "[CARD_DETAIL]",
    "PHONE_NUMBER": "[PHONE]", "EMAIL_ADDRESS": "[EMAIL]", "IBAN_CODE": "[ACCOUNT]", "IP_ADDRESS": "[IP_ADDRESS]",
    "MEMBER_ID": "[MEMBER_ID]", "CLAIM_ID": "[CLAIM_ID]", "CASE_ID": "[CASE_ID]", "POLICY_ID": "[POLICY_ID]",
    "REFERENCE": "[REFERENCE]", "DATE": "[DATE]", "ADDRESS": "[ADDRESS]", "NUMBER": "[NUMBER]",
    "MEDICAL_CODE": "[MEDICAL_CODE]",
}  # fmt: skip
#: Presidio's recognisers we use, by entity (their names in ``presidio_analyzer.predefined_recognizers``).
_PRESIDIO = {"US_SSN": "UsSsnRecognizer", "CREDIT_CARD": "CreditCardRecognizer", "PHONE_NUMBER": "PhoneRecognizer",
             "IBAN_CODE": "IbanRecognizer", "IP_ADDRESS": "IpRecognizer"}
# On spans of equal length the specific kind wins over the catch-alls ("case number PA001234" is a case ID).
_GENERIC = {"NUMBER": 2, "REFERENCE": 1}
# Below this Presidio's recognisers are guessing without context (its weak SSN and bank patterns score 0.05).
_MIN_SCORE = 0.3
# Titles a name found elsewhere in the call may carry ("Dr. Ruiz"): never masked on their own.
_TITLE_WORDS = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "doctor"})


@dataclass(frozen=True)
class Span:
    """One identifier found in a text: ``text[start:end]``, its ``entity`` a key of :data:`PLACEHOLDERS`."""

    start: int
    end: int
    entity: str


def _own_spans(text: str) -> list[Span]:
    """Spans found by our patterns and name rules."""
    spans = []
    for entity, pattern, group in _PATTERNS:
        for match in pattern.finditer(text):
            kind = _ID_WORDS[match["word"].lower()] if entity == "NAMED_ID" else entity
            spans.append(Span(match.start(group), match.end(group), kind))
    spans += [Span(start, end, "PERSON") for start, end in find_names(text)]
    return spans


@lru_cache(maxsize=1)
def analyzer():
    """Presidio's analyzer with its pattern recognisers and ours, built once per process (building takes a second).

    Its NLP engine is a blank English spaCy pipeline: a tokenizer for the recognisers' context words, no model.
    """
    import logging

    import spacy
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
    from presidio_analyzer import predefined_recognizers
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    class BlankSpacyEngine(SpacyNlpEngine):
        """A spaCy engine over ``spacy.blank('en')``: nothing to download, no NER."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    class CallRecognizer(EntityRecognizer):
        """Our patterns and name rules as one Presidio recogniser."""

        def load(self) -> None:
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            return [RecognizerResult(s.entity, s.start, s.end, 0.9) for s in _own_spans(text)
                    if s.entity in entities]

    registry = RecognizerRegistry(supported_languages=["en"])
    for name in _PRESIDIO.values():
        registry.add_recognizer(getattr(predefined_recognizers, name)(supported_language="en"))
    own = sorted({e for e, _, _ in _PATTERNS} - {"NAMED_ID"} | set(_ID_WORDS.values()) | {"PERSON"})
    registry.add_recognizer(CallRecognizer(supported_entities=own, name="CallRecognizer", supported_language="en"))
    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def find_pii(text: str) -> list[Span]:
    """Every identifier in ``text``, in text order, overlaps resolved (the longer span wins; on a tie, the specific
    kind, then the first)."""
    if not text:
        return []
    results = analyzer().analyze(text=text, language="en", entities=list(PLACEHOLDERS), score_threshold=_MIN_SCORE)
    found = sorted((Span(r.start, r.end, r.entity_type) for r in results),
                   key=lambda s: (-(s.end - s.start), _GENERIC.get(s.entity, 0), s.start))
    kept: list[Span] = []
    for span in found:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


@lru_cache(maxsize=1)
def anonymizer():
    """Presidio's anonymizer, built once per process."""
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


@lru_cache(maxsize=8192)
def redact(text: str) -> str:
    """Any call text (or a model's answer) with its identifiers replaced by placeholders (:data:`PLACEHOLDERS`).

    Example:
        >>> redact("My ID is MEM123456, claim number 778899, call me at 555-123-4567.")
        'My ID is [MEMBER_ID], claim number [CLAIM_ID], call me at [PHONE].'
    """
    if not isinstance(text, str):
        return text
    spans = find_pii(text)
    if not spans:
        return text
    from presidio_analyzer import RecognizerResult
    from presidio_anonymizer.entities import OperatorConfig

    results = [RecognizerResult(s.entity, s.start, s.end, 1.0) for s in spans]
    operators = {entity: OperatorConfig("replace", {"new_value": placeholder})
                 for entity, placeholder in PLACEHOLDERS.items()}
    return anonymizer().anonymize(text=text, analyzer_results=results, operators=operators).text


def redact_in_context(text: str, context: str) -> str:
    """:func:`redact` ``text``, also masking the people ``context`` names: a part of a call (the customer's side)
    can name someone only the rest of it introduces ("Can I have your last name?" -- "Johnson.")."""
    names = {context[s.start:s.end] for s in find_pii(context) if s.entity == "PERSON"}
    words = {w for name in names for w in re.findall(r"[A-Z][\w'-]+", name)
             if w.rstrip(".").lower() not in _TITLE_WORDS}
    redacted = redact(text)
    if not words:
        return redacted
    pattern = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")
    return pattern.sub(PLACEHOLDERS["PERSON"], redacted)
