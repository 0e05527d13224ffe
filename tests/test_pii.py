"""No personal data in anything the project shows: committed notebook outputs, rendered reports and result files.

The names and identifiers searched for are learned from the client's calls by the project's own redaction rules
(tests.support.pii); the calls are read only to know what must not appear. Without data/ the scans skip.
"""

from __future__ import annotations

import pytest

from callinsights import config
from callinsights.pipelines import notebooks
from tests.support import pii


@pytest.fixture(scope="module")
def identifiers():
    if not any(config.TRANSCRIPTS_DIR.glob("*.txt")):
        pytest.skip(f"client data not in {config.TRANSCRIPTS_DIR}: run `make data` to link it")
    found = pii.identifiers_in_calls(config.TRANSCRIPTS_DIR)
    assert found.names, "no names learned from the calls' introductions: has redact() stopped masking names?"
    return found


def test_identifiers_are_learned_by_the_redaction_rules():
    call = ("Customer Support: Thank you for calling, my name is Emily Wilson. How can I help?\n"
            "Member: Hi Emily, I'm calling about claim number 7788991. My ID is MEM123456, "
            "e-mail jo.doe@example.com, phone 555-123-4567, born January 10, 1985.\n")
    found = pii.identifiers_in(call)
    assert found.names == {"Emily", "Wilson"}
    assert found.values["MEMBER_ID"] == {"MEM123456"}
    assert found.values["EMAIL"] == {"jo.doe@example.com"}
    assert found.values["PHONE"] == {"555-123-4567"}
    assert found.values["DATE"] == {"January 10, 1985"}
    assert found.values["CLAIM_ID"] == {"7788991"}
    assert pii.identifiers_in("Member: Nothing personal here.\n").names == set()


def test_find_pii_reports_names_identifiers_and_shapes_with_their_place():
    found = pii.Identifiers(names={"Emily"}, values={"MEMBER_ID": {"MEM123456"}})
    hits = pii.find_pii([("01.ipynb cell 3", "Thanks, Emily. Your ID MEM123456 and a@b.org, 555-222-3333."),
                         ("02.html", "Emily's fine? emily (lower case) and [NAME] are not names here.")], found)
    kinds = [h.split(": ", 1)[1].split(" '")[0] for h in hits]
    assert kinds == ["name", "member_id", "e-mail", "phone", "member ID", "name"]
    assert hits[0].startswith("01.ipynb cell 3: name 'Emily'")
    assert pii.find_pii([("05.html", "Follow-up rate with 95% Wilson intervals")], pii.Identifiers({"Wilson"})) == []


@pytest.mark.clientdata
@pytest.mark.parametrize("notebook", notebooks.notebook_paths(), ids=lambda p: p.stem)
def test_no_personal_data_in_notebook_outputs(identifiers, notebook):
    hits = pii.find_pii(pii.notebook_texts(notebook), identifiers)
    assert hits == [], f"{len(hits)} identifier(s) shown:\n" + "\n".join(hits[:30])


@pytest.mark.clientdata
@pytest.mark.parametrize("page", sorted(config.REPORTS_DIR.glob("*.html")), ids=lambda p: p.name)
def test_no_personal_data_in_reports(identifiers, page):
    hits = pii.find_pii(pii.report_texts(page), identifiers)
    assert hits == [], f"{len(hits)} identifier(s) shown:\n" + "\n".join(hits[:30])


RESULT_FILES = sorted(p for pattern in ("*.csv", "*.json", "evaluation/*.csv", "evaluation/*.json")
                      for p in config.RESULTS_DIR.glob(pattern))


@pytest.mark.clientdata
@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: str(p.relative_to(config.RESULTS_DIR)))
def test_no_personal_data_in_committed_results(identifiers, path):
    # The result files are committed and read as they are: evidence turns, mistakes, the models' generated answers.
    hits = pii.find_pii([(path.name, path.read_text(encoding="utf-8"))], identifiers)
    assert hits == [], f"{len(hits)} identifier(s) in {path.name}:\n" + "\n".join(hits[:30])
