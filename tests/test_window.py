"""Calls longer than the model's context: where they failed, and the window they are read from now (their last
turns that fit, flagged in the predictions), while a call that fits is read exactly as before."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from callinsights.classify.runner import Classifier, label_calls
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.classify.methods import ANSWER_TOKENS
from callinsights.classify.runner import ContextBudget, fit_to_context, window_note
from callinsights.data.store import Store
from callinsights.data.transcripts import read_call, read_calls
from callinsights.llm import models
from callinsights.llm.models import resolve_model
from callinsights.text.redact import redact

FIXTURES = Path(__file__).parent / "fixtures"
MODEL_CALLS = FIXTURES / "model_calls"
EMBEDDED = "smollm2-135m"
METHODS = ("probe", "score", "generate")
N_CTX = 512  # small, so that a call of a few hundred words is too long and the test is quick
REPEATS = 30  # rounds of the argument: the customer's side is well over N_CTX tokens


def long_call(folder: Path) -> Path:
    """angry_unsolved.txt made long: the same opening and ending, thirty rounds of argument in between."""
    lines = (MODEL_CALLS / "angry_unsolved.txt").read_text().splitlines()
    middle = [line for i in range(REPEATS) for line in (
        f"Customer Support: Let me look at the claim again, check number {i}.",
        f"Member: This is check number {i} and my denied claim is still not fixed after all these calls.")]
    path = folder / "long_angry.txt"
    path.write_text("\n".join(lines[:2] + middle + lines[2:]) + "\n")
    return path


@pytest.fixture
def long_text(tmp_path) -> str:
    return texts_for_model([read_call(long_call(tmp_path))], Settings())["long_angry"]


def budget(method: str, n_ctx: int = N_CTX) -> ContextBudget:
    return ContextBudget(Settings(model=EMBEDDED, method=method, n_ctx=n_ctx), resolve_model(EMBEDDED))


# --- the window (the model file's vocabulary, no inference) --------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_calls_that_fit_are_read_unchanged_and_no_tokenizer_is_loaded(method):
    settings = Settings(model=EMBEDDED, method=method)  # the default context, 4096
    texts = texts_for_model(read_calls(MODEL_CALLS)[0], settings)
    model = resolve_model(EMBEDDED)
    before = models.load_vocabulary.cache_info()
    fitted, windows = fit_to_context(texts, settings, model)
    # The same text is the same store key: stored outputs and predictions of these calls stay valid.
    assert fitted == texts and list(fitted) == list(texts) and windows == {}
    assert models.load_vocabulary.cache_info() == before  # a few hundred bytes fit without counting tokens


@pytest.mark.parametrize("method", METHODS)
def test_a_long_call_is_read_from_its_last_turns_that_fit(method, long_text):
    b = budget(method)
    turns = long_text.split("\n")
    window = b.window(long_text)
    kept = len(turns) - window.dropped_turns
    assert window.windowed and 0 < kept < len(turns)
    assert window.text == "\n".join(turns[-kept:])  # whole turns, the last ones: the end of the call is kept
    assert window.text.endswith("No, you don't. Nothing has been solved. I'm done with this company.")
    assert b.needed(long_text) > N_CTX >= b.needed(window.text)
    assert b.needed("\n".join(turns[-kept - 1:])) > N_CTX  # not one turn more would fit


def test_a_turn_longer_than_the_context_keeps_its_last_words():
    words = " ".join(f"word{i}" for i in range(600))
    b = budget("probe", 128)
    window = b.window(words)
    assert window.windowed and window.dropped_turns == 1  # the one turn, cut: not read whole
    assert words.endswith(" " + window.text) and window.text.endswith("word599")
    assert b.needed(window.text) <= 128 < b.needed("word0 " + window.text)


def _unbroken(n_chars: int) -> str:
    """One token-like run of letters and digits with no space (a pasted blob, an encoded attachment)."""
    rng = random.Random(0)
    return "".join(rng.choices(string.ascii_letters + string.digits, k=n_chars))


@pytest.mark.parametrize("method", METHODS)
def test_a_call_holding_one_unbroken_150_kb_token_is_cut_to_the_end_that_fits(method):
    blob = _unbroken(150_000)
    text = "My card was charged twice.\n" + blob
    b = budget(method)
    window = b.window(text)
    assert window.windowed and window.dropped_turns == 2  # the first turn left out, the blob cut
    assert blob.endswith(window.text) and len(window.text) > 50
    assert b.needed(window.text) <= N_CTX < b.needed(blob[-len(window.text) - 1:])


def test_one_call_too_long_to_cut_by_words_does_not_stop_the_batch():
    texts = {"short": "I was charged twice.", "blob": _unbroken(150_000), "also_short": "Thanks, that fixed it."}
    settings = Settings(model=EMBEDDED, method="score", n_ctx=N_CTX)
    read, windows = fit_to_context(texts, settings, resolve_model(EMBEDDED))
    assert list(read) == list(texts) and read["short"] == texts["short"] and read["also_short"] == texts["also_short"]
    assert list(windows) == ["blob"] and texts["blob"].endswith(read["blob"])


def test_a_200_kb_single_line_cut_to_its_last_words_is_not_reported_as_nothing_left_out():
    line = " ".join(f"word{i}" for i in range(25_000))
    assert len(line) > 150_000
    window = budget("probe").window(line)
    assert window.windowed and window.dropped_turns == 1 and line.endswith(" " + window.text)
    import pandas as pd

    note = window_note(pd.DataFrame({"file": ["one_line"], "windowed": [True],
                                     "dropped_turns": [window.dropped_turns]}), N_CTX)
    assert "one_line (1 turn left out or cut)" in note and "0 turns" not in note


def test_a_context_too_small_for_the_prompt_is_named():
    with pytest.raises(ValueError, match="a context of 64 tokens leaves no room for a call's words beside the score "
                                         "prompt; raise n_ctx"):
        budget("score", 64).window("I was charged twice and nobody called back.")


# --- with the embedded model ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """One classifier per method at the small context (engines loaded on first use, freed at the end)."""
    store = Store(tmp_path_factory.mktemp("window") / "runs.sqlite")
    made = {m: Classifier(Settings(model=EMBEDDED, method=m, n_ctx=N_CTX, threads=1), store, read_labels=False)
            for m in METHODS}
    yield made
    for classifier in made.values():
        classifier.close()
    store.close()


@pytest.mark.model
@pytest.mark.parametrize(("method", "error"), [
    ("probe", "text of \\d+ tokens is longer than the context \\(512\\)"),
    ("score", "llama_decode returned 1"),
    ("generate", "Requested tokens \\(\\d+\\) exceed context window of 512"),
])
def test_without_the_window_an_over_long_call_fails_in_the_engine(classifiers, long_text, method, error):
    # Where it failed before the window: the engine refuses the text, and the run stopped on the first long call.
    with pytest.raises((ValueError, RuntimeError), match=error):
        classifiers[method].compute(long_text)


@pytest.mark.model
@pytest.mark.parametrize("method", METHODS)
def test_the_window_counts_the_tokens_the_engine_reads(classifiers, long_text, method):
    b = budget(method)
    window = b.window(long_text)
    output, valid, prompt_tokens, _, _ = classifiers[method].compute(window.text)
    assert valid
    if method == "probe":
        assert prompt_tokens == b.needed(window.text)
    elif method == "generate":
        assert prompt_tokens == b.needed(window.text) - ANSWER_TOKENS
    kept = len(long_text.split("\n")) - window.dropped_turns
    if method != "generate":  # generate past the context shortens its answer instead of failing
        with pytest.raises((ValueError, RuntimeError)):
            classifiers[method].compute("\n".join(long_text.split("\n")[-kept - 1:]))


@pytest.mark.model
def test_a_long_call_is_labelled_from_its_window_and_flagged(tmp_path):
    # The default method, probe, fitted on the twelve labelled fixture calls; the long call is not labelled.
    for path in (FIXTURES / "probe_calls").glob("*.txt"):
        (tmp_path / path.name).write_text(path.read_text())
    long_call(tmp_path)
    settings = Settings(model=EMBEDDED, n_ctx=N_CTX, threads=1, labels_file=str(FIXTURES / "probe_calls_labels.csv"))
    texts = texts_for_model(read_calls(tmp_path)[0], settings)
    with Store(tmp_path / "runs.sqlite") as store:
        first = label_calls(texts, settings, store, progress=False)
        again = label_calls(texts, settings, store, progress=False)
        window = budget("probe").window(texts["long_angry"])
        with Classifier(settings, None, read_labels=False) as classifier:
            stored = store.get(classifier.key(window.text))
    rows = first.predictions.set_index("file")
    assert rows.loc["long_angry", "windowed"] and rows.loc["long_angry", "dropped_turns"] == window.dropped_turns > 0
    assert rows.loc["long_angry", "valid"] and rows.loc["long_angry", "sentiment"] in ("positive", "negative", "neutral")
    # Its evidence is one of the window's turns (redacted for reading): the probe read the window, turn by turn.
    assert rows.loc["long_angry", "evidence_sentiment"] in [redact(t) for t in window.text.split("\n")]
    others = rows.drop(index="long_angry")
    assert not others["windowed"].any() and (others["dropped_turns"] == 0).all()
    # What the model read is the window, stored under its own text: a re-run is served from the store.
    assert stored is not None and again.n_cached == len(texts)
    assert again.predictions.drop(columns="cached").equals(first.predictions.drop(columns="cached"))
    # Reading outputs alone (what `fit` and the experiments do) windows the same way, from the same stored outputs.
    with Store(tmp_path / "runs.sqlite") as store, Classifier(settings, store, read_labels=False) as classifier:
        records = classifier.outputs(texts, progress=False)
        assert classifier.texts_read["long_angry"] == window.text
    assert all(cached for _, _, cached in records)


def test_analyze_names_the_windowed_calls_and_says_nothing_when_none_is():
    import pandas as pd

    predictions = pd.DataFrame({"file": ["a", "long_b"], "windowed": [False, True], "dropped_turns": [0, 12]})
    assert window_note(predictions, 512) == ("  1 call(s) longer than the model's context (512 tokens), labelled from "
                                             "their end that fits (column windowed): long_b (12 turns left out or "
                                             "cut)\n")
    assert window_note(predictions.iloc[:1], 512) == ""


@pytest.mark.model
def test_analyze_labels_a_batch_holding_a_150_kb_token_and_names_the_cut_call(tmp_path, capsys):
    import shutil

    import pandas as pd

    from callinsights.pipelines.cli import main

    for path in MODEL_CALLS.glob("*.txt"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "pasted_blob.txt").write_text("Customer Support: How can I help?\nMember: " + _unbroken(150_000) + "\n")
    # A context of 1,024 tokens: the window is cut the same way as at 4,096, with a quarter of the model time.
    code = main(["analyze", str(tmp_path), "--model", EMBEDDED, "--method", "score", "--out", str(tmp_path / "p.csv"),
                 "--store", str(tmp_path / "s.sqlite"), "--n-ctx", "1024", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    rows = pd.read_csv(tmp_path / "p.csv").set_index("file")
    assert len(rows) == 5 and rows["valid"].all()
    assert rows.loc["pasted_blob", "windowed"] and rows.loc["pasted_blob", "dropped_turns"] == 1
    assert "pasted_blob (1 turn left out or cut)" in out
