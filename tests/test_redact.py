"""Redaction of identifiers in anything shown to a reader."""

import pytest

from callinsights.text.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My member ID is MEM456789.", "My member ID is [MEMBER_ID]."),
        ("Write to john.doe@example.com.", "Write to [EMAIL]."),
        ("Call me at 555-123-4567 or (555) 123 4567.", "Call me at [PHONE] or [PHONE]."),
        ("My date of birth is March 12, 1985.", "My date of birth is [DATE]."),
        ("Born 03/12/1985.", "Born [DATE]."),
        ("The claim CLM123456 was denied.", "The claim [CLAIM_ID] was denied."),
        ("Your case number is PA001234.", "Your case number is [CASE_ID]."),
        ("claim number 778899", "claim number [CLAIM_ID]"),
        ("reference REF-123456 and ticket ISS123456", "reference [REFERENCE] and ticket [REFERENCE]"),
        ("Code SU-1234-56-789 applies.", "Code [REFERENCE] applies."),
        ("account 0012345678", "account [NUMBER]"),
        ("Hi, my name is Emily Wilson and", "Hi, my name is [NAME] and"),
        ("Thank you, Emily. Dr. Smith agreed, Mr. Johnson.", "Thank you, [NAME]. Dr. [NAME] agreed, Mr. [NAME]."),
        ("Thank you, Mr. Hale.", "Thank you, Mr. [NAME]."),
        ("Hi Sarah, this is Tom from claims.", "Hi [NAME], this is [NAME] from claims."),
        ("My name is Emily Wilson.\nAgent: Emily, your claim is approved.", "My name is [NAME].\nAgent: [NAME], your claim is approved."),
        # issue 14: what leaked
        ("My SSN is 123-45-6789.", "My SSN is [SSN]."),
        ("Card 4111 1111 1111 1111 or 4111-1111-1111-1111.", "Card [CARD_NUMBER] or [CARD_NUMBER]."),
        ("I live at 742 Evergreen Terrace, Springfield.", "I live at [ADDRESS]."),
        ("Hi, this is Maria Lopez from Ohio.", "Hi, this is [NAME] from Ohio."),
        ("my husband John and my daughter Sofia", "my husband [NAME] and my daughter [NAME]"),
        ("My son Carlos, my friend Kevin and Dr. O'Brien.", "My son [NAME], my friend [NAME] and Dr. [NAME]."),
        ("I am Maria.", "I am [NAME]."),
        ("It's Maria Lopez speaking.", "It's [NAME] speaking."),
        ("My name's Maria Lopez.", "My name's [NAME]."),
        # organisations are kept, people masked (docs/formats.md's rule)
        ("Dr. Smith at Smith Medical Group.", "Dr. [NAME] at Smith Medical Group."),
    ],
)
def test_identifiers_become_placeholders(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I had a physical therapy session on January 10th.",
        "Can you give me a reference number for this case?",
        "My claim was denied and I am upset.",
        "It costs $25 and takes 3-5 business days.",
        # issue 14: what was over-masked
        "Thanks, Bye.",
        "Okay, Great.",
        "Thank you, Doctor.",
        "Thanks, May. I have waited since May 2024.",
        "I'm fine, I'd like to know, I've asked.",
        "Smith Medical Group billed me twice.",
        "The bill says 250.00 and the code on the letter was wrong.",
    ],
)
def test_ordinary_words_and_small_numbers_stay(text):
    assert redact(text) == text


def test_client_calls_have_no_member_id_or_email_left(client_calls):
    import re

    for path in client_calls.glob("*.txt"):
        text = redact(path.read_text())
        assert not re.search(r"MEM\d+|@\w+\.\w+|\d{3}-\d{3}-\d{4}", text), path.name


def test_a_word_masked_once_is_not_masked_everywhere():
    # "Hi Sarah" masks Sarah by address only; that never spreads to other uses of the word.
    assert redact("Okay, Grace. Grace period ends in May.") == "Okay, [NAME]. Grace period ends in May."
    # An introduced name does spread, capitalised, in the same text.
    assert redact("This is Derek. Yes, Derek.") == "This is [NAME]. Yes, [NAME]."


def test_non_text_passes_through():
    assert redact(None) is None
    assert redact("") == ""


def test_the_pii_fixture_meets_the_goals():
    """No SSN, card or ID leaks, name recall >= 0.95, no line without an identifier changed (issue 14's goals)."""
    from tests.support.pii import evaluate, read_fixture

    result = evaluate(read_fixture())
    counts = result["types"]
    assert sum(c["gold"] for c in counts.values()) >= 100
    for kind in ("SSN", "CARD", "ID"):
        assert counts[kind]["caught"] == counts[kind]["gold"] > 0, (kind, result["leaks"])
    assert counts["NAME"]["caught"] / counts["NAME"]["gold"] >= 0.95, result["leaks"]
    assert result["clean_changed"] == [] and result["clean_lines"] >= 20


def test_model_generated_text_is_redacted_in_predictions(tmp_path):
    """A stored generated answer naming someone is shown redacted in the predictions (no model call: stored)."""
    from callinsights.classify.runner import Classifier, Settings
    from callinsights.data.store import Store

    settings = Settings(model="smollm2-135m", method="generate")
    answer = "sentiment: negative\noutcome: follow-up (Mr. Hale, SSN 123-45-6789)"
    with Store(tmp_path / "s.sqlite") as store:
        classifier = Classifier(settings, store)
        text = "I am upset."
        store.put(classifier.key(text), "c1", classifier.model.name, {"text": answer}, True, 5, 5, 0.1)
        result = classifier.run({"c1": text}, progress=False)
        assert classifier._engine is None  # served from the store
    row = result.predictions.iloc[0]
    assert row["raw"] == "sentiment: negative\noutcome: follow-up (Mr. [NAME], SSN [SSN])"
    assert (row["sentiment"], row["outcome"]) == ("negative", "follow-up action needed")


def test_a_name_the_model_repeats_from_the_call_is_masked_in_predictions(tmp_path):
    """Generated text can repeat a caller's name with no "my name is" of its own (gpt4all answered "Emily Wilson,
    1985, Mercy Hospital" for one client call): the call the model read names the person, so it is masked."""
    from callinsights.classify.runner import Classifier, Settings
    from callinsights.data.store import Store

    settings = Settings(model="smollm2-135m", method="generate")
    text = "Hi, my name is Dana Whitfield and my claim was denied.\nThanks."
    with Store(tmp_path / "s.sqlite") as store:
        classifier = Classifier(settings, store)
        store.put(classifier.key(text), "c1", classifier.model.name, {"text": "Dana Whitfield, Mercy Hospital"}, False,
                  5, 5, 0.1)
        result = classifier.run({"c1": text}, progress=False)
    assert result.predictions.iloc[0]["raw"] == "[NAME] [NAME], Mercy Hospital"


# --- the second round of hostile inputs (issue 23 item 7; issue 21 item 7) -----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maria Lopez here, about my bill.", "[NAME] here, about my bill."),
        ("Hello, Maria Lopez here.", "Hello, [NAME] here."),
        ("Hi, Maria calling about my claim.", "Hi, [NAME] calling about my claim."),
        ("My mother-in-law Carmen Ruiz is on my plan.", "My mother-in-law [NAME] is on my plan."),
        ("I'm calling for my sister-in-law, Ana.", "I'm calling for my sister-in-law, [NAME]."),
        ("Ask for Robert Smith when you call back.", "Ask for [NAME] when you call back."),
        ("Can I speak to Jennifer again?", "Can I speak to [NAME] again?"),
        ("My last name is Lopez, L-O-P-E-Z.", "My last name is [NAME], [NAME]."),
        ("It's L-O-P-E-Z. Mrs. Lopez.", "It's [NAME]. Mrs. [NAME]."),
        ("The card's expiry 12/27, CVV 123.", "The card's expiry [CARD_DETAIL], CVV [CARD_DETAIL]."),
        ("It expires 03/2026 and the security code is 4321.",
         "It expires [CARD_DETAIL] and the security code is [CARD_DETAIL]."),
        ("It's #2023-01-001.", "It's [REFERENCE]."),
        ("The case is 2023-01-001, claim # 44-1234.", "The case is [CASE_ID], claim [CLAIM_ID]."),
        ("My phone number is 555-1234 and my address is 12 Oak Street, Anytown, USA 12345.",
         "My phone number is [PHONE] and my address is [ADDRESS]."),
    ],
)
def test_what_leaked_in_the_second_round_is_masked(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Health information tied to a member: what a diagnosis or procedure code says is as personal as a name.
        ("The diagnosis code is 250.00 and the provider's name is Dr. Smith.",
         "The diagnosis code is [MEDICAL_CODE] and the provider's name is Dr. [NAME]."),
        ("Okay, the diagnosis code is 715.16, and the CPT code is 27447.",
         "Okay, the diagnosis code is [MEDICAL_CODE], and the CPT code is [MEDICAL_CODE]."),
        ("ICD code: E11.9, procedure code 99213.", "ICD code: [MEDICAL_CODE], procedure code [MEDICAL_CODE]."),
    ],
)
def test_diagnosis_and_procedure_codes_are_masked(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hi, I'm calling about a denied claim, and I'm certain it should be covered.",
        "Can I speak to Customer Support or Member Services?",
        "Ask for Billing when you call.",
        "I was on hold from 12:30 to 1:15 and took 1/2 of the dose.",
        "Okay, Nothing else here.",
        "I live in the U.S.A. and use an HMO.",
    ],
)
def test_common_words_after_a_greeting_or_a_request_stay(text):
    assert redact(text) == text
