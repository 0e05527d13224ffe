"""How long one bootstrap interval takes: scipy.stats.bootstrap with the vectorised scores of callinsights.evaluation.metrics
against scipy.stats.bootstrap scoring each resample with scikit-learn.

    .venv/bin/python -m benchmarks.bootstrap_speed

The figures are quoted in the docstring of ``callinsights.evaluation.metrics``. 40 calls, 3 labels, 2,000 resamples, as in
notebook 04.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score

from callinsights.evaluation.metrics import resample_scores


def main(n: int = 40, n_boot: int = 2000) -> None:
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 3, n), rng.integers(0, 4, n)  # code 3: an invalid answer
    per_resample = {
        "macro_f1": lambda a, b: f1_score(a, b, labels=[0, 1, 2], average="macro", zero_division=0),
        "kappa": lambda a, b: cohen_kappa_score(a, b, replace_undefined_by=np.nan),
    }
    for name, score in per_resample.items():
        start = time.perf_counter()
        stats.bootstrap((t, p), lambda a, b, axis=-1: resample_scores(np.atleast_2d(a), np.atleast_2d(b), 3, name),
                        n_resamples=n_boot, vectorized=True, paired=True, method="percentile", rng=0)
        vectorised = time.perf_counter() - start
        start = time.perf_counter()
        stats.bootstrap((t, p), score, n_resamples=n_boot, vectorized=False, paired=True, method="percentile", rng=0)
        looped = time.perf_counter() - start
        print(f"{name}: vectorised {vectorised:.3f} s, scikit-learn per resample {looped:.1f} s "
              f"({n_boot} resamples of {n} calls)")


if __name__ == "__main__":
    main()
