"""Redaction of identifiers in anything shown to a reader."""

import pytest

from callinsights.redact import redact


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
    ],
)
def test_ordinary_words_and_small_numbers_stay(text):
    assert redact(text) == text


def test_client_calls_have_no_member_id_or_email_left(client_calls):
    import re

    for path in client_calls.glob("*.txt"):
        text = redact(path.read_text())
        assert not re.search(r"MEM\d+|@\w+\.\w+|\d{3}-\d{3}-\d{4}", text), path.name
