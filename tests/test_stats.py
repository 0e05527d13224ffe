"""Wilson intervals and p-values for prose."""

import pytest

from callinsights.analysis import stats


def test_wilson_interval_known_value():
    low, high = stats.wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_interval_ends_are_exact():
    assert stats.wilson_interval(0, 7)[0] == 0.0 and stats.wilson_interval(7, 7)[1] == 1.0
    for k in range(8):
        low, high = stats.wilson_interval(k, 7)
        assert low <= k / 7 <= high


def test_format_p_words():
    assert (stats.format_p(0.0004), stats.format_p(0.2), stats.format_p(float("nan"))) == ("< 0.001", "0.200", "n/a")
