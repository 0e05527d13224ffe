"""Monitoring without labels: label mix and drift."""

import math

import pandas as pd
import pytest

from callinsights.evaluation.monitoring import distribution_drift, label_distribution
from callinsights.schema import INVALID, SENTIMENTS

POS, NEG, NEU = SENTIMENTS


def test_label_distribution_keeps_every_label_and_shows_invalid():
    shares = label_distribution(pd.Series([POS, POS, NEG, None]), SENTIMENTS)
    assert shares.to_dict() == {POS: 0.5, NEG: 0.25, NEU: 0.0, INVALID: 0.25}
    assert INVALID not in label_distribution(pd.Series([NEU]), SENTIMENTS)


def test_distribution_drift_by_hand():
    ref = {POS: 0.5, NEG: 0.3, NEU: 0.2}
    cur = {POS: 0.2, NEG: 0.3, NEU: 0.5}
    d = distribution_drift(ref, cur)
    assert d["total_variation"] == pytest.approx(0.3)
    assert d["psi"] == pytest.approx(2 * 0.3 * math.log(2.5))
    same = distribution_drift(ref, pd.Series(ref))
    assert same == pytest.approx({"total_variation": 0.0, "psi": 0.0})


def test_distribution_drift_handles_labels_on_one_side_and_counts():
    d = distribution_drift({POS: 10, NEG: 10}, {POS: 1, NEG: 1, INVALID: 2})
    assert d["total_variation"] == pytest.approx(0.5)
    assert math.isfinite(d["psi"]) and d["psi"] > 1



def test_monitor_runs_reads_latency_from_computed_calls_and_drift_from_the_first_run():
    from callinsights.evaluation.monitoring import monitor_runs

    runs = pd.DataFrame({"run_id": [1, 2], "status": "done", "started": [0, 60], "model": "m", "method": "probe",
                         "engine": "llama.cpp", "side": "customer", "n_invalid": 0})
    files = [f"c{i}" for i in range(6)]
    labels = pd.DataFrame({"run_id": [1] * 6 + [2] * 6, "file": files * 2, "sentiment": [POS] * 6 + [NEG] * 6,
                           "outcome": "issue resolved", "cached": [0] * 5 + [1] + [1] * 6, "prompt_tokens": 100,
                           "seconds": [1.0, 2.0, 3.0, 4.0, 10.0, 99.0] + [1.0] * 6})
    table = monitor_runs(runs, labels).set_index("run_id")
    assert table.loc[1, "seconds_p50"] == 3.0 and table.loc[1, "seconds_p95"] == pytest.approx(8.8)
    assert math.isnan(table.loc[2, "seconds_p50"]) and table.loc[2, "reference_run"] == 1
    assert table.loc[2, "sentiment_tv"] == pytest.approx(1.0) and table.loc[1, "sentiment_tv"] == 0.0
