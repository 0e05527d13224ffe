"""Labelling through Ray Data on a real local Ray instance (2 CPUs, 2 actors): the same labels as the local backend,
results stored by the driver, and calls already in the store never sent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from callinsights.classify.runner import Classifier, Settings, texts_for_model
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls

ray = pytest.importorskip("ray", reason="Ray missing: pip install -r requirements-scale.txt")

pytestmark = pytest.mark.scale

MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
EMBEDDED = "smollm2-135m"
LABELS = ["sentiment", "outcome", "p_positive", "p_negative", "p_neutral", "p_issue_resolved", "p_follow_up"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    calls, _ = read_calls(MODEL_CALLS)
    return texts_for_model(calls, Settings(model=EMBEDDED, method="score"))


def run(store_path: Path, texts: dict[str, str], compute_missing=None):
    with Store(store_path) as store:
        classifier = Classifier(Settings(model=EMBEDDED, method="score", threads=1), store)
        try:
            return classifier.run(texts, progress=False, compute_missing=compute_missing)
        finally:
            classifier.close()


def test_two_ray_workers_give_the_labels_of_the_local_backend_and_skip_stored_calls(local_ray, texts, tmp_path):
    from callinsights.classify.runner import RayCompute

    local = run(tmp_path / "local.sqlite", texts)

    # One call is in the store already: Ray must compute only the other three.
    first = dict(list(texts.items())[:1])
    run(tmp_path / "ray.sqlite", first)
    sent: list[str] = []

    class Recording(RayCompute):
        def __call__(self, missing):
            sent.extend(missing)
            yield from super().__call__(missing)

    distributed = run(tmp_path / "ray.sqlite", texts, Recording(Settings(model=EMBEDDED, method="score"), workers=2))

    assert sorted(sent) == sorted(set(texts) - set(first))
    assert (distributed.n_cached, distributed.n_computed) == (1, len(texts) - 1)
    by_file = distributed.predictions.set_index("file")
    expected = local.predictions.set_index("file")
    pd.testing.assert_frame_equal(by_file.loc[expected.index, LABELS[:2]], expected[LABELS[:2]])
    pd.testing.assert_frame_equal(by_file.loc[expected.index, LABELS[2:]], expected[LABELS[2:]], atol=1e-6)
    with Store(tmp_path / "ray.sqlite") as store:
        assert len(store.outputs()) == len(texts)  # the driver stored every result
