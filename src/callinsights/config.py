"""The one place that names the project's folders and files, so notebooks and commands never spell a path.

``CALLINSIGHTS_DATA_DIR``, ``CALLINSIGHTS_CACHE_DIR`` and ``CALLINSIGHTS_STORE`` move the data, the derived model
files and the store of model outputs without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    # An empty variable means unset: Path("") would be the working folder, which nobody means.
    return Path(os.environ.get(name) or default)


DATA_DIR = _env_path("CALLINSIGHTS_DATA_DIR", PROJ_ROOT / "data")
TRANSCRIPTS_DIR = DATA_DIR / "transcripts_v3"
# The client's reading of the 40 hand-labelled calls (never written): a second reading, shown beside the default
# once and never mixed into a result computed from the default.
LABELS_FILE = DATA_DIR / "test_actual_label.csv"
# The default reading: three readers following the labelling guideline, each reader's labels and their majority.
GUIDELINE_LABELS_FILE = DATA_DIR / "guideline_labels.csv"
# Labels an analyst records with notebook 02's form; never the client's file.
ANALYST_LABELS_FILE = DATA_DIR / "analyst_labels.csv"


def training_labels_file(data_dir: Path | None = None) -> Path:
    """The default reading of the hand labels in a data folder: the guideline majority when the folder has it (a
    probe fitted on it scores higher held out, against either reading), else the client's file."""
    folder = Path(data_dir) if data_dir else DATA_DIR
    guideline = folder / GUIDELINE_LABELS_FILE.name
    return guideline if guideline.is_file() else folder / LABELS_FILE.name


# Where the client's files are in this workplace; `make data` links them into DATA_DIR.
SHARED_DATA_DIR = PROJ_ROOT.parent / "shared" / "data"

RESULTS_DIR = PROJ_ROOT / "results"
REPORTS_DIR = PROJ_ROOT / "reports"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
PREDICTIONS_FILE = RESULTS_DIR / "predictions.csv"
# How faithful the evidence quotes of PREDICTIONS_FILE are to the probe (`python -m callinsights evidence`).
EVIDENCE_FILE = RESULTS_DIR / "evidence_faithfulness.csv"
METRICS_FILE = RESULTS_DIR / "metrics.json"
INSIGHTS_FILE = RESULTS_DIR / "call_insights.csv"
# What `callinsights insights` writes from one reading of the hand labels (results/insights.reading.json says which).
PPI_RATES_FILE = RESULTS_DIR / "ppi_rates.csv"
DRIVERS_FILE = RESULTS_DIR / "drivers.csv"
PENDING_WORK_FILE = RESULTS_DIR / "pending_work.csv"
COMPARISONS_FILE = RESULTS_DIR / "comparisons.csv"
FINDINGS_FILE = RESULTS_DIR / "findings.csv"
STORE_FILE = _env_path("CALLINSIGHTS_STORE", RESULTS_DIR / "runs.sqlite")
# The default method fitted on the hand labels; derived from client data, so never committed.
ARTIFACT_FILE = PROJ_ROOT / "artifacts" / "probe.skops"
# `python -m callinsights evaluate` writes METRICS_FILE and, in this folder, the tables notebook 04 shows (under
# another --out-dir they go to the folder of the same name inside it).
EVALUATION_DIR = RESULTS_DIR / "evaluation"
EVALUATION_FILES = {
    "run": "run.json",  # what was evaluated: model, calls, configurations, seconds
    "predictions": "held_out_predictions.csv",  # one row per configuration and labelled call
    "report": "classification_report.csv",
    "intervals": "intervals.csv",
    "baselines": "baselines.csv",
    "differences": "baseline_differences.csv",
    "comparison": "comparison.csv",
    "comparison_intervals": "comparison_intervals.csv",
    "ablation": "ablation.csv",
    "calibration": "calibration.csv",
    "reliability": "reliability.csv",
    "mistakes": "mistakes.csv",
    "agreement": "agreement.csv",
    "agreement_pairs": "agreement_pairs.csv",
    "monitoring": "store_runs.csv",  # the store's runs (invalid share, speed, label drift); not MONITORING_FILE
    "batches": "batches.csv",  # the unlabelled calls as batches, each monitored against the labelled set's run
    # The other reading of the hand labels beside the run's, the only files computed from both: each reading's label
    # shares and the default fitted on and scored against it; the calls the two readings label differently.
    "other_reading": "other_reading.csv",
    "reading_differences": "reading_differences.csv",
}
EXPERIMENTS_DOC = PROJ_ROOT / "docs" / "experiments.md"

CACHE_DIR = _env_path("CALLINSIGHTS_CACHE_DIR", Path.home() / ".cache" / "callinsights")
# gpt4all's own model folder: a model pulled with `callinsights models pull` lands here, where gpt4all looks too.
GPT4ALL_MODELS_DIR = Path.home() / ".cache" / "gpt4all"

#: What `callinsights monitor` compares a new batch's predictions with, and where it writes its table.
MONITORING_FILE = RESULTS_DIR / "monitoring.csv"
# The probe reads sentiment after this many of the model's transformer blocks (0: the last layer): of SmolLM2-135M's
# 30, block 26 is at least as good as the last in every column held out (docs/experiments.md, item 9). Models with no
# more blocks than this (Llama 3.2 1B has 16) read the last layer (classify.methods.ProbeMethod.settle).
SENTIMENT_BLOCKS = 26
# What `make benchmark` and `make benchmark-scale` printed last (docs/scale.md's figures are checked against them).
BENCHMARK_FILES = {"throughput": RESULTS_DIR / "benchmarks" / "throughput.md",
                   "scale": RESULTS_DIR / "benchmarks" / "scale.md",
                   "analyst_path": RESULTS_DIR / "benchmarks" / "analyst_path.md"}

#: When `callinsights monitor` raises an alert: a shift both larger than its threshold here (a size that matters) and
#: beyond sampling noise, so a large batch is not flagged for a trivial shift and a small one not for noise.
MONITOR_THRESHOLDS: dict[str, float] = {
    # Fewer calls on either side: "not enough calls", never an alert. Below 30 a share's 95% interval is wider than
    # about +/-0.18 and the tests' large-sample approximations do not hold yet.
    "min_calls": 30,
    # Level of every test and interval: about one false alarm in a hundred per quantity (a task's label shares split
    # it, Bonferroni, as they are read together).
    "alpha": 0.01,
    # One label's share of the labelled calls moved by this much (0.10 = ten percentage points), either way.
    "label_share": 0.10,
    # A task's whole label mix moved by this total variation distance (the share of calls that would have to change
    # label), tested with a chi-square test.
    "label_mix_tv": 0.10,
    # Mean confidence of a task moved by this much (confidences lie in [1/labels, 1]), either way.
    "confidence": 0.05,
    # The share of calls whose answer could not be read as labels rose by this much.
    "invalid_share": 0.05,
    # Median prompt tokens per call changed by this factor, either way (longer calls, or a parse that drops turns).
    "tokens_ratio": 1.25,
    # Median model seconds per call rose by this factor (a slower machine or engine; machine load alone can do it).
    "seconds_ratio": 1.5,
    # The share of calls longer than the model's context (read in windows) rose by this much.
    "windowed_share": 0.05,
}
