"""Monitoring without labels: label mix, drift, latency."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from callinsights.schema import INVALID
from callinsights.schema import SENTIMENTS
from callinsights.evaluation.monitoring import distribution_drift, label_distribution, latency_summary

POS, NEG, NEU = SENTIMENTS


def test_label_distribution_keeps_every_label_and_shows_invalid():
    shares = label_distribution(pd.Series([POS, POS, NEG, None]), SENTIMENTS)
    assert shares.to_dict() == {POS: 0.5, NEG: 0.25, NEU: 0.0, INVALID: 0.25}
    assert INVALID not in label_distribution(pd.Series([NEU]), SENTIMENTS)


def test_distribution_drift_against_scipy_and_by_hand():
    ref = {POS: 0.5, NEG: 0.3, NEU: 0.2}
    cur = {POS: 0.2, NEG: 0.3, NEU: 0.5}
    d = distribution_drift(ref, cur)
    assert d["total_variation"] == pytest.approx(0.3)
    assert d["jensen_shannon"] == pytest.approx(jensenshannon([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], base=2) ** 2)
    assert d["psi"] == pytest.approx(2 * 0.3 * math.log(2.5))
    same = distribution_drift(ref, pd.Series(ref))
    assert same == pytest.approx({"total_variation": 0.0, "jensen_shannon": 0.0, "psi": 0.0})


def test_distribution_drift_handles_labels_on_one_side_and_counts():
    d = distribution_drift({POS: 10, NEG: 10}, {POS: 1, NEG: 1, INVALID: 2})
    assert d["total_variation"] == pytest.approx(0.5)
    assert d["jensen_shannon"] == pytest.approx(jensenshannon([0.5, 0.5, 0], [0.25, 0.25, 0.5], base=2) ** 2)
    assert math.isfinite(d["psi"]) and d["psi"] > 1
    with pytest.raises(ValueError, match="negative"):
        distribution_drift({POS: -1, NEG: 2}, {POS: 1})


def test_latency_summary_percentiles():
    s = latency_summary([1.0, 2.0, 3.0, 4.0, np.nan, 10.0])
    assert s == pytest.approx({"n": 5, "p50": 3.0, "p95": 8.8, "mean": 4.0, "max": 10.0})
    with pytest.raises(ValueError, match="negative"):
        latency_summary([1.0, -2.0])
    with pytest.raises(ValueError, match="no numeric"):
        latency_summary([np.nan])
