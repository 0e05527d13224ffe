"""An earlier block's states read in the same pass as the last layer (llm.layers), and the probe reading sentiment
there.

Real llama.cpp on the embedded model. The reading is checked against two independent references: llama.cpp's own
output (the last block read through the callback) and a copy of the model cut after the block (the ``gguf`` package).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from callinsights.classify.probe import fit_from_outputs
from callinsights.classify.probe import task_states
from callinsights.classify.probe import label_with_probe
from callinsights.classify.runner import Classifier
from callinsights.classify.methods import ProbeMethod, Setup, prepare
from callinsights.classify.probe import features_read, sentiment_block
from callinsights.classify.settings import Settings
from callinsights.llm.engines import load_engine
from callinsights.llm.engines import BlockReader, block_count
from callinsights.llm.models import ModelError, resolve_model
from callinsights.schema import OUTCOMES, SENTIMENTS
from tests.support.cut_model import write_first_blocks

TURNS = ["My claim was denied again and nobody calls me back.", "This is the third time I am calling.",
         "Okay. Thanks, I guess."]


@pytest.fixture(scope="module")
def model():
    return resolve_model("smollm2-135m")


def states(info, turns=TURNS, read_block=None):
    engine = load_engine("llama.cpp", info, 512, 1, states=True, read_block=read_block)
    try:
        return engine.embed_turns(turns)
    finally:
        engine.close()


@pytest.mark.model
def test_the_last_block_read_through_the_callback_is_llama_cpps_own_output(model):
    # The same tensor normed by us and by llama.cpp: equal up to float32 rounding.
    read = states(model, read_block=block_count(model.path))
    np.testing.assert_allclose(read.block, read.last, rtol=0, atol=1e-4)
    assert np.abs(read.last[:, :-1]).max() > 1  # states of real size, not a vanishing comparison


@pytest.mark.model
def test_an_earlier_block_reads_as_a_copy_of_the_model_cut_there(model, tmp_path):
    cut = write_first_blocks(model.path, 8, tmp_path / "first-8.gguf")
    assert block_count(cut) == 8 < block_count(model.path)
    read = states(model, read_block=8)
    np.testing.assert_allclose(read.block, states(replace(model, path=cut, name=cut.name)).last, rtol=0, atol=1e-4)
    assert not np.allclose(read.block[:, :-1], read.last[:, :-1], atol=0.1)  # block 8 is not the last layer
    np.testing.assert_array_equal(read.block[:, -1], read.last[:, -1])  # the same tokens per turn


@pytest.mark.model
def test_a_block_outside_the_model_is_refused(model):
    n = block_count(model.path)
    for block in (0, n + 1):
        with pytest.raises(ModelError, match=f"has {n} blocks; read after 1 to {n} of them, not {block}"):
            BlockReader(model.path, block)
    # Through the command's setting, before any call is read.
    with pytest.raises(ModelError, match="--sentiment-blocks 0 reads the last layer"):
        Classifier(Settings(threads=1, sentiment_blocks=n + 1), None, read_labels=False)


@pytest.mark.model
def test_a_model_with_fewer_blocks_than_the_default_reads_sentiment_from_its_last_layer(model, tmp_path):
    # The default block (26) was chosen on the embedded model's 30 blocks; a shallower model (the client's Llama 3.2
    # 1B has 16) runs unchanged, reading sentiment where the outcome is read.
    cut = write_first_blocks(model.path, 8, tmp_path / "first-8.gguf")
    with Classifier(Settings(model=str(cut), threads=1), None, read_labels=False) as classifier:
        assert sentiment_block(classifier.settings) is None and "sentiment-blocks" not in classifier.prompt_version
        output = classifier.compute("\n".join(TURNS))[0]
    assert "sentiment_turns" not in output and len(output["turns"]) == len(TURNS)
    with Classifier(Settings(threads=1), None, read_labels=False) as classifier:  # the embedded model: block 26
        assert sentiment_block(classifier.settings) == 26 and classifier.prompt_version.endswith("+sentiment-blocks-26")
    # A number given is kept, and refused if the model is shallower (above).
    assert ProbeMethod.settle(Settings(sentiment_blocks=8), model).sentiment_blocks == 8


@pytest.mark.model
def test_the_probe_stores_both_layers_and_sentiment_reads_the_earlier_one(model):
    settings = Settings(model="smollm2-135m", threads=1, sentiment_blocks=8)
    assert "+sentiment-blocks-8" in features_read(settings)
    assert "sentiment-blocks" not in features_read(Settings(sentiment_blocks=0))
    assert ProbeMethod(Setup(settings, model)).version == features_read(settings)
    with Classifier(settings, None, read_labels=False) as classifier:
        output = classifier.compute("\n".join(TURNS))[0]
    read = states(model, read_block=8)
    np.testing.assert_allclose(output["sentiment_turns"], np.round(read.block, 5))
    np.testing.assert_allclose(output["turns"], np.round(read.last, 5))
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
        prepare(Settings(sentiment_blocks=-1))
    # The last layer when asked for, and on a server, which returns no earlier block.
    assert sentiment_block(Settings(sentiment_blocks=0)) is None
    assert sentiment_block(Settings(engine="openai", base_url="http://x/v1")) is None
