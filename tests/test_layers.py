"""An earlier layer's states: the model cut after its first blocks (llm.layers), and the probe reading sentiment there.

Real llama.cpp on the embedded model; a copy that keeps every block must give the model's own states exactly.
"""

from __future__ import annotations

from dataclasses import replace

import gguf
import numpy as np
import pandas as pd
import pytest

from callinsights.classify.fitting import fit_from_outputs
from callinsights.classify.probe import task_states
from callinsights.classify.probe_labels import label_with_probe
from callinsights.classify.runner import Classifier
from callinsights.classify.settings import Settings, prompt_version
from callinsights.llm.engines import load_engine
from callinsights.llm.layers import _write_first_blocks, block_count, first_blocks
from callinsights.llm.models import ModelError, resolve_model
from callinsights.schema import OUTCOMES, SENTIMENTS

TURNS = ["My claim was denied again and nobody calls me back.", "This is the third time I am calling.",
         "Okay. Thanks, I guess."]


@pytest.fixture(scope="module")
def model():
    return resolve_model("smollm2-135m")


def states(info, turns=TURNS) -> np.ndarray:
    engine = load_engine("llama.cpp", info, 512, 1, embedding=True, pooling=False)
    try:
        return engine.embed_turns(turns)[0]
    finally:
        engine.close()


@pytest.mark.model
def test_a_copy_with_every_block_reads_exactly_as_the_model(model, tmp_path):
    # The writer is checked where its result is known: keeping all blocks must change nothing the model computes.
    reader = gguf.GGUFReader(model.path)
    blocks = block_count(model.path)
    out = tmp_path / "all.gguf"
    _write_first_blocks(reader, "llama", "llama.block_count", blocks, out)
    copy = first_blocks(model, blocks)
    assert copy is model  # no copy is made when every block is kept
    np.testing.assert_array_equal(states(model), states(replace(model, path=out, name=out.name)))


@pytest.mark.model
def test_the_first_blocks_are_a_model_of_their_own(model, tmp_path):
    cut = first_blocks(model, 8, cache_dir=tmp_path)
    assert block_count(cut.path) == 8 < block_count(model.path)
    assert cut.sha256 != model.sha256 and not cut.embedded and cut.chat == model.chat
    assert first_blocks(model, 8, cache_dir=tmp_path).path == cut.path  # written once
    early, last = states(cut), states(model)
    assert early.shape == last.shape and not np.allclose(early[:, :-1], last[:, :-1])
    np.testing.assert_array_equal(early[:, -1], last[:, -1])  # same tokens per turn: same vocabulary
    with pytest.raises(ModelError, match="give 1 or more"):
        first_blocks(model, 0)


@pytest.mark.model
def test_the_probe_stores_both_layers_and_sentiment_reads_the_earlier_one(model, tmp_path, monkeypatch):
    monkeypatch.setattr("callinsights.config.CACHE_DIR", tmp_path)
    settings = Settings(model="smollm2-135m", threads=1, sentiment_blocks=8)
    assert "+sentiment-blocks-8" in prompt_version(settings)
    assert "sentiment-blocks" not in prompt_version(Settings(sentiment_blocks=0))
    with Classifier(settings, None, read_labels=False) as classifier:
        output = classifier.compute("\n".join(TURNS))[0]
    np.testing.assert_allclose(output["sentiment_turns"], np.round(states(first_blocks(model, 8)), 5))
    np.testing.assert_allclose(output["turns"], np.round(states(model), 5))
    assert task_states(output, "sentiment").tolist() == output["sentiment_turns"]
    assert task_states(output, "outcome").tolist() == output["turns"]


def test_a_fitted_probe_reads_each_task_from_its_own_states():
    # Sentiment is written into the early states only, the outcome into the last layer's only: each task's probe
    # can be right only by reading its own.
    rng = np.random.default_rng(1)
    sentiments, outcomes = list(SENTIMENTS) * 8, list(OUTCOMES) * 12
    ids = [f"c{i}" for i in range(24)]
    counts = np.full((3, 1), 5.0)
    # One direction per class, well apart from the noise.
    outputs = {cid: {"turns": np.hstack([rng.normal(size=(3, 4)) + 6 * np.eye(4)[3] * OUTCOMES.index(o),
                                         counts]).tolist(),
                     "sentiment_turns": np.hstack([rng.normal(size=(3, 4)) + 6 * np.eye(4)[SENTIMENTS.index(s)],
                                                   counts]).tolist()}
               for cid, s, o in zip(ids, sentiments, outcomes)}
    texts = {cid: f"one {cid}\ntwo\nthree" for cid in ids}
    gold = pd.DataFrame({"sentiment": sentiments, "outcome": outcomes}, index=pd.Index(ids, name="file"))
    fitted = fit_from_outputs(outputs, texts, gold.iloc[:18], "labels.csv")
    frame = pd.DataFrame({"file": ids[18:], "raw": [outputs[cid] for cid in ids[18:]]})
    label_with_probe(frame, {cid: texts[cid] + " new" for cid in ids[18:]}, fitted)
    assert frame["sentiment"].tolist() == sentiments[18:] and frame["outcome"].tolist() == outcomes[18:]


def test_a_negative_block_count_is_refused_by_its_flag():
    with pytest.raises(ValueError, match="--sentiment-blocks -1: give a number of blocks, or 0 for the last layer"):
        Settings(sentiment_blocks=-1).check()
    assert Settings(sentiment_blocks=0).early_blocks is None and Settings(engine="openai", base_url="http://x/v1"
                                                                             ).early_blocks is None
