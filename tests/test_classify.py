"""Labelling calls: reading generated answers, calibrating answer scores, settings, and whole runs of ``analyze``
with the embedded model over calls written for the tests (behavioural tests in the spirit of Made-With-ML)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from callinsights.classify.methods import GenerateMethod, calibrated_probabilities, parse_answer, prepare
from callinsights.classify.runner import Classifier, analyze
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.llm.base import CapabilityError
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.schema import PREDICTION_COLUMNS, PROBA_COLUMNS
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
CALLS = sorted(p.stem for p in MODEL_CALLS.glob("*.txt"))
EMBEDDED = "smollm2-135m"  # named, so that a Llama file on this machine does not change what is tested
# Runs use answer scoring (issue 3's method); the probe needs hand-labelled calls, which the fixture calls are not.

RESOLVED, FOLLOW_UP = "issue resolved", "follow-up action needed"


# --- parsing generated answers (no model) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("sentiment: positive\noutcome: resolved", ("positive", RESOLVED)),
        ("Sentiment: NEGATIVE\nOutcome: Follow-Up", ("negative", FOLLOW_UP)),
        ("SENTIMENT: Positive.\nOUTCOME: Resolved.", ("positive", RESOLVED)),
        ("sentiment:negative\noutcome:follow-up action needed", ("negative", FOLLOW_UP)),
        ("Sentiment: Neutral\nOutcome: Issue Resolved", ("neutral", RESOLVED)),
        ("  sentiment :  neutral  \n\n  outcome =  follow up ", ("neutral", FOLLOW_UP)),
        # markdown
        ("**Sentiment:** Neutral\n**Outcome:** Resolved", ("neutral", RESOLVED)),
        ("- sentiment: positive\n- outcome: resolved", ("positive", RESOLVED)),
        ("`sentiment: negative`\n`outcome: escalated`", ("negative", FOLLOW_UP)),
        ("_sentiment_: *negative*\n_outcome_: *pending*", ("negative", FOLLOW_UP)),
        # JSON-ish
        ('{"sentiment": "negative", "outcome": "follow-up"}', ("negative", FOLLOW_UP)),
        ("{'sentiment': 'positive', 'outcome': 'issue resolved'}", ("positive", RESOLVED)),
        ("sentiment = positive; outcome = follow up", ("positive", FOLLOW_UP)),
        # extra prose around the two lines
        ("Sure! Here is my analysis.\nsentiment: negative\noutcome: follow-up\nThe customer was upset.",
         ("negative", FOLLOW_UP)),
        # negations name the other value
        ("sentiment: negative\noutcome: not resolved", ("negative", FOLLOW_UP)),
        ("sentiment: negative\noutcome: not yet resolved", ("negative", FOLLOW_UP)),
        ("sentiment: negative\noutcome: unresolved", ("negative", FOLLOW_UP)),
        ("sentiment: neutral\noutcome: no follow-up needed", ("neutral", RESOLVED)),
        # ambiguous: not guessed
        ("sentiment: positive or neutral\noutcome: resolved", (None, RESOLVED)),
        ("sentiment: negative\noutcome: resolved or follow-up", ("negative", None)),
        ("sentiment: positive|negative|neutral\noutcome: resolved|follow-up", (None, None)),  # the template echoed
        ("sentiment: not positive\noutcome: resolved", (None, RESOLVED)),
        ("sentiment: positive\nsentiment: negative\noutcome: resolved", (None, RESOLVED)),
        ("sentiment: negative\noutcome: resolved\noutcome: follow-up", ("negative", None)),
        ("sentiment: positively\noutcome: resolved", (None, RESOLVED)),
        # a field missing
        ("sentiment: negative", ("negative", None)),
        ("outcome: resolved", (None, RESOLVED)),
        ("The sentiment is positive and the outcome is resolved.", (None, None)),
        ("positive\nresolved", (None, None)),
        # empty and garbage
        ("", (None, None)),
        (None, (None, None)),
        ("   \n\n", (None, None)),
        ("asdf qwerty 123 ::: {}", (None, None)),
        ("I'm sorry for the misunderstanding. I'm here to help you.", (None, None)),
        ("sentiment: 42\noutcome: ???", (None, None)),
        # the instruction echoed back, or a hedge: ambiguous, not the first word
        ("Sentiment: positive, negative or neutral", (None, None)),
        ("sentiment: positive\noutcome: resolved, but follow-up needed", ("positive", None)),
        ('{"sentiment": "negative", "outcome": "follow-up"}', ("negative", "follow-up action needed")),
    ],
)
def test_parse_answer(answer, expected):
    assert parse_answer(answer) == expected


# --- calibration (no model) ----------------------------------------------------------------------------------------


def test_calibration_none_is_the_softmax_of_the_raw_log_probabilities():
    logprobs = pd.DataFrame([[-1.0, -2.0, -3.0], [-1.0, -3.0, -2.0]], columns=list(SENTIMENTS), index=["a", "b"])
    proba = calibrated_probabilities(logprobs, "none")

    # e^-1 : e^-2 : e^-3, normalised
    z = math.exp(-1) + math.exp(-2) + math.exp(-3)
    np.testing.assert_allclose(proba.loc["a"], [math.exp(-1) / z, math.exp(-2) / z, math.exp(-3) / z])
    np.testing.assert_allclose(proba.loc["a"], [0.665241, 0.244728, 0.090031], atol=1e-6)
    assert list(proba.idxmax(axis=1)) == ["positive", "positive"]  # the label the model likes everywhere wins


def test_batch_calibration_removes_what_every_call_shares():
    logprobs = pd.DataFrame([[-1.0, -2.0, -3.0], [-1.0, -3.0, -2.0]], columns=list(SENTIMENTS), index=["a", "b"])
    proba = calibrated_probabilities(logprobs, "batch")

    # Column means (-1, -2.5, -2.5) subtracted: a -> (0, .5, -.5), b -> (0, -.5, .5), then softmax.
    z = 1 + math.exp(0.5) + math.exp(-0.5)
    np.testing.assert_allclose(proba.loc["a"], [1 / z, math.exp(0.5) / z, math.exp(-0.5) / z])
    np.testing.assert_allclose(proba.loc["a"], [0.307196, 0.506480, 0.186324], atol=1e-6)
    np.testing.assert_allclose(proba.loc["b"], proba.loc["a"].to_numpy()[[0, 2, 1]])
    assert list(proba.idxmax(axis=1)) == ["negative", "neutral"]
    assert list(proba.columns) == list(SENTIMENTS) and list(proba.index) == ["a", "b"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_batch_calibration_of_a_single_call_says_nothing():
    proba = calibrated_probabilities(pd.DataFrame([[-0.1, -5.0]], columns=list(OUTCOMES)), "batch")
    np.testing.assert_allclose(proba.to_numpy(), [[0.5, 0.5]])


def test_reference_calibration_subtracts_fixed_means_so_a_call_ignores_its_neighbours():
    reference = {"positive": -1.0, "negative": -2.5, "neutral": -2.5}
    a = pd.DataFrame([[-1.0, -2.0, -3.0]], columns=list(SENTIMENTS), index=["a"])
    both = pd.concat([a, pd.DataFrame([[-1.0, -3.0, -2.0]], columns=list(SENTIMENTS), index=["b"])])
    alone = calibrated_probabilities(a, "reference", reference)
    z = 1 + math.exp(0.5) + math.exp(-0.5)
    np.testing.assert_allclose(alone.loc["a"], [1 / z, math.exp(0.5) / z, math.exp(-0.5) / z])
    pd.testing.assert_frame_equal(alone, calibrated_probabilities(both, "reference", reference).loc[["a"]])
    with pytest.raises(ValueError, match="reference means"):
        calibrated_probabilities(a, "reference")


def test_unknown_calibration_is_refused():
    with pytest.raises(ValueError, match="'platt'"):
        calibrated_probabilities(pd.DataFrame([[-1.0, -2.0]]), "platt")


# --- settings (no inference) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["score", "probe"])
def test_a_method_gpt4all_cannot_serve_is_refused_naming_both(method):
    with pytest.raises(CapabilityError) as err:
        prepare(Settings(engine="gpt4all", method=method))
    message = str(err.value)
    assert repr(method) in message and "gpt4all" in message
    assert "--engine llama.cpp" in message and "--method generate" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("method", "guess"), ("engine", "vllm"), ("calibration", "platt"), ("side", "agent"),
     ("prompt_version", "v99")],
)
def test_a_setting_outside_its_values_is_named(field, value):
    with pytest.raises(ValueError, match=rf"{field} '{value}' is not one of"):
        prepare(Settings(**{field: value}))


def test_defaults_and_generate_with_gpt4all_are_accepted_and_prepared_once():
    setup = prepare(Settings(model=EMBEDDED, engine="gpt4all", method="generate"))
    assert setup.method is GenerateMethod and setup.model.name.startswith("SmolLM2")
    assert prepare(setup) is setup  # a run handed a prepared setup checks and resolves nothing again
    assert prepare(Settings(model=EMBEDDED)).settings.sentiment_blocks == 26  # the probe's block, settled


# --- whole runs with the embedded model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("store") / "runs.sqlite"


@pytest.fixture(scope="module")
def first_run(one_thread, store_path):
    return analyze(MODEL_CALLS, Settings(model=EMBEDDED, method="score"), store_path=store_path, progress=False)


@pytest.fixture(scope="module")
def second_run(first_run, store_path):
    return analyze(MODEL_CALLS, Settings(model=EMBEDDED, method="score"), store_path=store_path, progress=False)


def by_call(result) -> pd.DataFrame:
    return result.predictions.set_index("file")


@pytest.mark.model
def test_analyze_labels_every_call_with_allowed_values(first_run):
    predictions = first_run.predictions

    assert list(predictions.columns) == PREDICTION_COLUMNS
    assert sorted(predictions["file"]) == CALLS
    assert predictions["valid"].all()
    assert set(predictions["sentiment"]) <= set(SENTIMENTS)
    assert set(predictions["outcome"]) <= set(OUTCOMES)
    sentiment_p = predictions[[PROBA_COLUMNS[s] for s in SENTIMENTS]]
    outcome_p = predictions[[PROBA_COLUMNS[o] for o in OUTCOMES]]
    np.testing.assert_allclose(sentiment_p.sum(axis=1), 1.0)
    np.testing.assert_allclose(outcome_p.sum(axis=1), 1.0)
    np.testing.assert_allclose(predictions["confidence_sentiment"], sentiment_p.max(axis=1))
    np.testing.assert_allclose(predictions["confidence_outcome"], outcome_p.max(axis=1))
    assert (predictions["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf").all()
    assert (predictions[["engine", "method", "calibration", "side"]] == ["llama.cpp", "score", "reference", "customer"]
            ).all().all()
    assert (predictions["prompt_tokens"] > 0).all() and not predictions["cached"].any()
    assert (first_run.n_cached, first_run.n_computed) == (0, len(CALLS))
    assert first_run.skipped == []


@pytest.mark.model
def test_a_second_run_is_served_from_the_store_with_identical_labels(first_run, second_run, store_path):
    assert (second_run.n_cached, second_run.n_computed) == (len(CALLS), 0)
    assert second_run.predictions["cached"].all()
    same = ["file", "sentiment", "outcome", "confidence_sentiment", "confidence_outcome", *PROBA_COLUMNS.values(),
            "raw"]
    pd.testing.assert_frame_equal(first_run.predictions[same], second_run.predictions[same])
    with Store(store_path) as store:
        runs = store.runs().set_index("run_id").loc[[first_run.run_id, second_run.run_id]]
    assert list(runs["status"]) == ["done", "done"]
    assert list(runs["n_cached"]) == [0, len(CALLS)] and list(runs["n_computed"]) == [len(CALLS), 0]


# Behavioural tests: what any usable labeller must get right on calls whose labels nobody could argue about.


@pytest.mark.model
def test_the_angry_unsolved_call_is_not_positive(first_run):
    assert by_call(first_run).loc["angry_unsolved", "sentiment"] != "positive"


@pytest.mark.model
@pytest.mark.xfail(strict=True, reason=(
    "measured: with score + reference calibration (the default since issue 14) the embedded 135M model calls it "
    "'issue resolved' (p 0.53); batch calibration over these 4 calls got it right only because of what else was in "
    "the batch. It still ranks it below the call fixed on the spot (see below)"))
def test_the_call_waiting_for_a_review_and_callback_is_not_resolved(first_run):
    assert by_call(first_run).loc["callback_review", "outcome"] != RESOLVED


@pytest.mark.model
def test_the_delighted_call_is_more_positive_and_less_negative_than_the_angry_one(first_run):
    labels = by_call(first_run)
    assert labels.loc["delighted_fixed", "p_positive"] > labels.loc["angry_unsolved", "p_positive"]
    assert labels.loc["delighted_fixed", "p_negative"] < labels.loc["angry_unsolved", "p_negative"]


@pytest.mark.model
def test_the_call_fixed_on_the_spot_is_more_resolved_than_the_ones_left_pending(first_run):
    labels = by_call(first_run)
    for pending in ("angry_unsolved", "callback_review"):
        assert labels.loc["delighted_fixed", "p_issue_resolved"] > labels.loc[pending, "p_issue_resolved"]


@pytest.mark.model
def test_the_angry_unsolved_call_is_negative(first_run):
    assert by_call(first_run).loc["angry_unsolved", "sentiment"] == "negative"


@pytest.mark.model
def test_gpt4all_answers_that_cannot_be_read_are_kept_as_invalid_never_guessed(one_thread, tmp_path):
    two_calls = ("angry_unsolved", "neutral_address")  # two are enough to reach invalid answers; keep it short
    (tmp_path / "calls").mkdir()
    for call in two_calls:
        shutil.copy(MODEL_CALLS / f"{call}.txt", tmp_path / "calls")
    store_path = tmp_path / "runs.sqlite"
    result = analyze(tmp_path / "calls", Settings(model=EMBEDDED, engine="gpt4all", method="generate"),
                     store_path=store_path, progress=False)
    predictions = by_call(result)

    assert sorted(predictions.index) == list(two_calls)
    assert not predictions["valid"].all(), "every answer was valid: this test no longer reaches invalid answers"
    assert (predictions["engine"] == "gpt4all").all()
    for call, row in predictions.iterrows():
        assert isinstance(row["raw"], str) and row["raw"].strip(), call  # the model's own words are kept
        sentiment, outcome = (None if pd.isna(row[task]) else row[task] for task in ("sentiment", "outcome"))
        assert (sentiment, outcome) == parse_answer(row["raw"]), call
        assert row["valid"] == (sentiment is not None and outcome is not None), call
        assert sentiment in (*SENTIMENTS, None) and outcome in (*OUTCOMES, None), call
    with Store(store_path) as store:
        run = store.runs().set_index("run_id").loc[result.run_id]
        stored = store.run_labels(result.run_id).set_index("file")
    assert run["n_invalid"] == int((~predictions["valid"]).sum())
    assert stored.loc[predictions.index[~predictions["valid"]], ["sentiment", "outcome"]].isna().any(axis=1).all()


# Invariance: identifiers carry no sentiment and no outcome.

OTHER_IDS = {"MEM482913": "MEM550061", "MEM305117": "MEM912340"}
OTHER_NAME = {"Robert Hale": "Maria Lopez", "Mr. Hale": "Ms. Lopez"}


def _variant(folder: Path, replacements: dict[str, str]) -> Path:
    """A copy of the fixture calls with some words replaced (each replacement must occur)."""
    folder.mkdir()
    texts = {path.name: path.read_text() for path in MODEL_CALLS.glob("*.txt")}
    for old in replacements:
        assert any(old in text for text in texts.values()), old
    for name, text in texts.items():
        for old, new in replacements.items():
            text = text.replace(old, new)
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("variants")
    return {"original": MODEL_CALLS, "ids": _variant(root / "ids", OTHER_IDS),
            "name": _variant(root / "name", OTHER_NAME)}


@pytest.fixture(scope="module")
def redacted_runs(one_thread, tmp_path_factory, variants):
    """Runs with redact_for_model over the calls as written, with other member IDs, and with another customer name
    (one classifier for the three runs, as a notebook would do, so the model is resolved and loaded once)."""
    settings = Settings(model=EMBEDDED, method="score", redact_for_model=True)
    with Store(tmp_path_factory.mktemp("invariance") / "runs.sqlite") as store:
        classifier = Classifier(settings, store)
        try:
            return {name: classifier.run(texts_for_model(read_calls(folder)[0], settings), progress=False)
                    for name, folder in variants.items()}
        finally:
            classifier.close()


def _labels(result) -> pd.DataFrame:
    return by_call(result)[["sentiment", "outcome"]]


@pytest.mark.model
def test_other_member_ids_change_no_label_when_the_model_reads_redacted_text(redacted_runs):
    # The model reads the same text, so every output comes from the store.
    assert (redacted_runs["ids"].n_cached, redacted_runs["ids"].n_computed) == (len(CALLS), 0)
    pd.testing.assert_frame_equal(_labels(redacted_runs["original"]), _labels(redacted_runs["ids"]))


@pytest.mark.model
def test_another_customer_name_changes_no_label_when_the_model_reads_redacted_text(redacted_runs):
    assert (redacted_runs["name"].n_cached, redacted_runs["name"].n_computed) == (len(CALLS), 0)
    pd.testing.assert_frame_equal(_labels(redacted_runs["original"]), _labels(redacted_runs["name"]))


# Before issue 14 this failed under batch calibration (callback_review's sentiment flipped with the name, negative p
# 0.361 -> positive p 0.366); with the reference calibration the name changes no label of these calls.
@pytest.mark.model
def test_another_customer_name_changes_no_label_even_unredacted(first_run, variants, store_path):
    renamed = analyze(variants["name"], Settings(model=EMBEDDED, method="score"), store_path=store_path,
                      progress=False)
    assert renamed.n_computed == 1  # only the call that names the customer reads differently
    pd.testing.assert_frame_equal(_labels(first_run), _labels(renamed))


def test_probe_without_a_label_file_fails_before_any_model_time(tmp_path):
    from callinsights.classify.runner import Classifier

    with Store(tmp_path / "s.sqlite") as store, pytest.raises(FileNotFoundError, match="use --method score"):
        Classifier(Settings(method="probe", labels_file=str(tmp_path / "missing.csv")), store)
