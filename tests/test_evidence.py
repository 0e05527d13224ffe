"""The evidence behind each label: which turns may be quoted, the turn the probe's attribution picks, and the
committed quotes and their faithfulness (ERASER's comprehensiveness and sufficiency against a random turn)."""

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest

from callinsights import config
from callinsights.classify.probe import (WHOLE_CALL, call_features, evidence, evidence_faithfulness, fit_from_outputs,
                                         fit_probe, quote_kind, task_columns, turn_attribution)
from callinsights.evaluation.metrics import faithfulness_table
from callinsights.pipelines.cli import EXIT_OK, main
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.text.redact import redact

# The outcome quotes the issue found in the committed file, and turns of the same shapes.
VERIFICATION = [
    "It's [MEMBER_ID].",
    "My member ID is [MEMBER_ID].",
    "My phone number is [PHONE] and my address is [ADDRESS].",
    "My name is [NAME], and my date of birth is [DATE].",
    "I'm using Google Chrome.",
    "I'm using Google Chrome, version 91.",
    "My username is jsmith and my password is ********.",
    "The procedure code is [NUMBER] and the surgery is scheduled for April 15th.",
    "The doctor's name is Dr. [NAME] and the facility is Mercy Hospital.",
    "It's Ms. [NAME].",
]
GREETING = [
    "Hi, I'd like to schedule an appointment with a specialist.",
    "Hello, I'm calling about a denied claim I received for a recent medical service.",
    "You too. Bye.",
    "Goodbye.",
    "You too, have a great day!",
]
# Turns where the customer voices a feeling or where the issue stands, some in the words of a verification turn.
QUOTABLE = [
    "Yeah, I'm logged in now. Thank you so much for your help!",
    "When I try to register, it says my email address is already in use.",
    "It says my password is incorrect, but I'm sure I'm entering the right one.",
    "I've tried it on Firefox, and it's still not working.",
    "No, that's all. Thank you.",
    "Okay, got it. [REFERENCE]. Thank you for your help.",
    "Okay, I think I'd like to schedule with Dr. [NAME] on Thursday at 10 AM.",
    "(angrily) Fine. Thank you for nothing.",
    "Great.",
    "You too, thank you so much!",
    "That's frustrating. How can we get this resolved?",
]


@pytest.mark.parametrize("turn", VERIFICATION)
def test_a_turn_that_identifies_the_caller_or_the_case_is_not_quoted(turn):
    assert quote_kind(turn) == "verification"


@pytest.mark.parametrize("turn", GREETING)
def test_the_opening_and_a_bare_greeting_or_farewell_are_not_quoted(turn):
    assert quote_kind(turn) == "greeting"


@pytest.mark.parametrize("turn", QUOTABLE)
def test_a_turn_about_the_feeling_or_the_issue_may_be_quoted(turn):
    assert quote_kind(turn) == ""


def test_the_rule_reads_the_redacted_turn_and_stage_directions_do_not_change_it():
    # As the model read it, then redacted for the quote: the identifiers become placeholders the rule sees.
    assert quote_kind(redact("Yes, my phone number is 555-1234, and my insurance is Blue Cross Blue Shield.")) \
        == "verification"
    assert quote_kind(redact("It's MEM123456.")) == "verification"
    assert quote_kind("(sighs) You too. Bye. (00:40)") == "greeting"
    assert quote_kind("(sighs) No, that's all. Thank you. (00:40)") == ""
    assert quote_kind("(hangs up)") == ""  # no words, no greeting: an angry call's last act


def test_quoted_identifiers_leave_no_residue():
    quote = redact("My phone number is 555-123-4567 and my address is 123 Main Street, Anytown, USA 12345.")
    assert quote == "My phone number is [PHONE] and my address is [ADDRESS]."


# A probe fitted on calls of four turns whose outcome is carried by the first state dimension.

def _call(rng, resolved: bool) -> np.ndarray:
    states = rng.normal(0, 0.3, size=(4, 3))
    states[:, 0] += 1.0 if resolved else -1.0
    return np.hstack([states, np.full((4, 1), 5.0)])


@pytest.fixture(scope="module")
def outcome_probe():
    rng = np.random.default_rng(0)
    labels = [OUTCOMES[i % 2] for i in range(40)]
    calls = [_call(rng, label == "issue resolved") for label in labels]
    features = np.array([call_features(c) for c in calls])
    return fit_probe(features[:, task_columns("outcome", features.shape[1])], pd.Series(labels))


def _with_turns(first: float, second: float) -> np.ndarray:
    """A call leaning to neither outcome but through its first two turns."""
    states = np.zeros((4, 4))
    states[:, -1] = 5.0
    states[0, 0], states[1, 0] = first, second
    return states


def test_the_quote_is_the_turn_whose_leaving_out_lowers_the_label_most(outcome_probe):
    states = _with_turns(first=1.0, second=1.5)
    drops = turn_attribution(outcome_probe, states, "outcome", "issue resolved")
    assert drops.argmax() == 1 and drops[1] > 0.01
    # Against the other label the same turn is the one that lowers it least.
    assert turn_attribution(outcome_probe, states, "outcome", "follow-up action needed").argmin() == 1
    text = "Hi, I'm calling about my account.\nOkay, it works now, thank you.\nSure.\nBye."
    assert evidence(outcome_probe, states, "outcome", "issue resolved", text) == "Okay, it works now, thank you."


def test_a_verification_turn_is_passed_over_even_when_it_carries_the_label_most(outcome_probe):
    states = _with_turns(first=1.0, second=1.5)
    text = "I'm calling about my account.\nIt's MEM123456.\nOkay, it works now.\nBye."
    assert evidence(outcome_probe, states, "outcome", "issue resolved", text) == "I'm calling about my account."


def test_when_no_quotable_turn_carries_the_label_the_call_as_a_whole_is_named(outcome_probe):
    states = _with_turns(first=0.0, second=1.0)  # only the member ID turn moves the probe
    text = "I'm calling about my account.\nIt's MEM123456.\nOkay.\nBye."
    assert evidence(outcome_probe, states, "outcome", "issue resolved", text) == WHOLE_CALL


def test_faithfulness_of_a_run_compares_the_quote_with_the_calls_other_turns():
    # Fitted as the method fits: sentiment reads the last three turns, the outcome the whole call and the ending.
    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in range(24)]
    sentiments, outcomes = [SENTIMENTS[i % 3] for i in range(24)], [OUTCOMES[i % 2] for i in range(24)]
    outputs, texts = {}, {}
    for cid, s, o in zip(ids, sentiments, outcomes):
        states = np.hstack([rng.normal(0, 0.3, size=(5, 4)), np.full((5, 1), 6.0)])
        states[4, SENTIMENTS.index(s)] += 3.0  # the last turn says how they feel
        states[2, 3] += 3.0 if o == "issue resolved" else -3.0  # a middle turn says where the issue stands
        outputs[cid] = {"turns": states.tolist()}
        texts[cid] = "\n".join(f"turn {t} of {cid}" for t in range(5))
    gold = pd.DataFrame({"sentiment": sentiments, "outcome": outcomes}, index=pd.Index(ids, name="file"))
    fitted = fit_from_outputs(outputs, texts, gold, "labels.csv")
    per_call = evidence_faithfulness(outputs, texts, gold, fitted)
    assert len(per_call) == 2 * len(ids)
    quoted = per_call.set_index(["task", "file"])["quoted"]
    assert (quoted["sentiment"] == 4).mean() >= 0.9 and (quoted["outcome"] == 2).mean() >= 0.9
    table = faithfulness_table(per_call, n_boot=200).set_index(["task", "measure"])
    for task in ("sentiment", "outcome"):
        assert table.loc[(task, "comprehensiveness"), "difference_low"] > 0
        assert table.loc[(task, "sufficiency"), "difference_high"] < 0


# The committed files: results/predictions.csv (make analyze) and results/evidence_faithfulness.csv (evidence).

@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    return pd.read_csv(config.PREDICTIONS_FILE)


@pytest.mark.parametrize("column", ["evidence_sentiment", "evidence_outcome"])
def test_at_most_one_quote_in_twenty_is_a_verification_or_greeting_turn(predictions, column):
    quotes = predictions[column]
    assert quotes.notna().all() and (quotes != "").all()
    kinds = quotes[quotes != WHOLE_CALL].map(quote_kind)
    assert (kinds != "").sum() <= 0.05 * len(quotes), quotes[kinds != ""].value_counts().head()


@pytest.mark.parametrize("column", ["evidence_sentiment", "evidence_outcome"])
def test_committed_quotes_are_redacted_without_residue(predictions, column):
    quotes = predictions[column]
    residue = quotes[quotes.str.contains(r"\][\w]|[\w]\[")]
    assert residue.empty, residue.tolist()
    assert (quotes.map(redact) == quotes).all()  # nothing left to redact: no phone, ID or name in the clear
    assert not quotes.str.contains(r"\d{3}-\d{4}").any()


FAITHFULNESS_COLUMNS = ["task", "measure", "evidence", "evidence_low", "evidence_high", "random_turn",
                        "random_turn_low", "random_turn_high", "difference", "difference_low", "difference_high",
                        "calls", "quoted"]


@pytest.mark.model
@pytest.mark.clientdata
def test_the_evidence_command_measures_the_quotes_analyze_writes(small_client_data, client_store, tmp_path):
    # On the small copy of data/ (its calls are in the session's store): analyze and evidence label the same way, so
    # the calls evidence measures as quoted are those whose quote in analyze's file is a turn.
    calls = small_client_data / config.TRANSCRIPTS_DIR.name
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DATA_DIR", small_client_data)
        patch.setattr(config, "TRANSCRIPTS_DIR", calls)
        common = ["--model", "smollm2-135m", "--artifact", str(tmp_path / "probe.skops"), "--store", str(client_store),
                  "--quiet"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["analyze", str(calls), "--out", str(tmp_path / "p.csv"), *common]) == EXIT_OK
            assert main(["evidence", str(calls), "--out", str(tmp_path / "e.csv"), *common]) == EXIT_OK
    written = pd.read_csv(tmp_path / "p.csv")
    table = pd.read_csv(tmp_path / "e.csv")
    assert list(table.columns) == FAITHFULNESS_COLUMNS
    for task in ("sentiment", "outcome"):
        row = table[(table["task"] == task) & (table["measure"] == "comprehensiveness")].iloc[0]
        assert row["calls"] == len(written)
        assert row["quoted"] == (written[f"evidence_{task}"] != WHOLE_CALL).sum()


def test_committed_quotes_are_more_faithful_than_a_random_turn_of_the_call(predictions):
    table = pd.read_csv(config.EVIDENCE_FILE)
    assert list(table.columns) == FAITHFULNESS_COLUMNS
    table = table.set_index(["task", "measure"])
    for task in ("sentiment", "outcome"):
        # The quote is chosen as the turn that lowers the label most when left out, so its comprehensiveness beats
        # a random turn's by construction; the sufficiency (the quoted turn read alone) was not chosen on.
        assert table.loc[(task, "comprehensiveness"), "difference_low"] > 0
        assert table.loc[(task, "sufficiency"), "difference_high"] < 0
        # The same run: the calls it quotes as a whole are those predictions.csv names so.
        assert table.loc[(task, "comprehensiveness"), "calls"] == len(predictions)
        whole = (predictions[f"evidence_{task}"] == WHOLE_CALL).sum()
        assert table.loc[(task, "comprehensiveness"), "quoted"] == len(predictions) - whole
    assert not re.search(r"nan", table.to_csv(), re.IGNORECASE)
