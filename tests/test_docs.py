"""The numbers the README quotes are the ones notebook 04 computed (results/metrics.json), not typed-in values."""

import json
import re

from callinsights import config
README = config.PROJ_ROOT / "README.md"


def readme_row(label: str) -> tuple[float, float]:
    for line in README.read_text().splitlines():
        if line.startswith("|") and label in line:
            cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
            return float(cells[-2]), float(cells[-1])
    raise AssertionError(f"README has no table row for {label!r}")


def test_readme_quotes_the_measured_macro_f1():
    metrics = json.loads(config.METRICS_FILE.read_text())
    comparison = {row["configuration"]: row for row in metrics["comparison"]}
    baselines = {(row["system"], row["task"]): row["macro_f1"] for row in metrics["baselines"]}
    quoted = {
        "**`probe` (default)**": comparison["probe (cross-validated)"],
        "`score`, batch-calibrated |": comparison["score, batch-calibrated"],
        "`score`, reference-calibrated": comparison["score, reference-calibrated"],
        "`generate`, llama.cpp + grammar": comparison["generate, llama.cpp + grammar"],
        "`generate`, gpt4all": comparison["generate, gpt4all"],
    }
    for label, row in quoted.items():
        assert readme_row(label) == (round(row["sentiment_macro_f1"], 2), round(row["outcome_macro_f1"], 2)), label
    for label, system in (("majority class", "majority class"),
                          ("VADER lexicon", "VADER + pending cues (customer side)"),
                          ("words (TF-IDF)", "words (TF-IDF) + the same probe")):
        assert readme_row(label) == (round(baselines[(system, "sentiment")], 2),
                                     round(baselines[(system, "outcome")], 2)), label


def test_readme_names_the_default_method_the_code_uses():
    from callinsights.classify.runner import Settings

    assert f"**`{Settings.method}` (default)**" in README.read_text()
    assert re.search(rf"### Why `{Settings.method}` is the default", README.read_text())


def test_readme_quotes_the_measured_intervals_and_ablation():
    metrics = json.loads(config.METRICS_FILE.read_text())
    text = " ".join(README.read_text().split())
    for task in ("sentiment", "outcome"):
        f1 = next(m for m in metrics["default_held_out"][task] if m["metric"] == "macro_f1")
        assert f"{f1['low']:.2f}-{f1['high']:.2f} ({task})" in text, task
    whole = next(r for r in metrics["comparison"] if r["configuration"] == "probe (cross-validated), whole call")
    assert f"outcome score to {whole['outcome_macro_f1']:.2f}" in text


def test_readme_quotes_the_redaction_evaluation_as_the_script_prints_it():
    from callinsights.text.redaction_eval import evaluate, read_fixture, table

    assert table(evaluate(read_fixture())) in README.read_text()


def test_readme_quotes_the_probe_selection_and_flip_rates():
    """The labels section's figures are those `python -m callinsights experiments` wrote."""
    import pandas as pd

    text = " ".join(README.read_text().split())
    table = pd.read_csv(config.RESULTS_DIR / "probe_selection.csv")
    default = table[table["variant"].str.startswith("default")].set_index(["task", "fitted_on", "reference"])
    for key in [("sentiment", "guideline", "guideline"), ("sentiment", "client", "guideline"),
                ("sentiment", "guideline", "client"), ("sentiment", "client", "client"),
                ("outcome", "guideline", "guideline")]:
        row = default.loc[key]
        assert f"{row['macro_f1_mean']:.3f} ± {row['macro_f1_std']:.3f}" in text, key
    negative = default.loc[("sentiment", "guideline", "guideline")]
    assert f"Negative F1 is {negative['negative_f1_mean']:.3f} ± {negative['negative_f1_std']:.3f}" in text
    references = pd.read_csv(config.RESULTS_DIR / "brier_reference.csv").set_index(["task", "reference"])
    for task in ("sentiment", "outcome"):
        brier = default.loc[(task, "guideline", "guideline"), "brier_mean"]
        assert f"{brier:.3f} against {references.loc[(task, 'guideline'), 'no_model_brier']:.3f}" in text, task
    flips = pd.read_csv(config.RESULTS_DIR / "flip_rates.csv").set_index("task")
    assert f"**{flips.loc['sentiment', 'flip_rate']:.1%}** of {flips.loc['sentiment', 'pairs']} swaps" in text
    assert f"**{flips.loc['outcome', 'flip_rate']:.1%}** the outcome" in text


def test_readme_speed_figures_are_what_the_benchmarks_wrote():
    # `make benchmark` and `make benchmark-scale` write results/benchmarks/*.md; the README quotes them, never retyped.
    text = README.read_text()
    throughput = config.BENCHMARK_FILES["throughput"].read_text().splitlines()
    pipeline = re.search(r"pipeline: [\d.]+ s/call, [\d.]+ calls/min", throughput[1])[0]
    tokens = re.search(r"\d+ tokens/s", throughput[2])[0]
    ratio = throughput[3].removeprefix("ratio ")
    flat = " ".join(text.split())
    assert f"`{pipeline}`" in flat and f"llama.cpp `{tokens}`" in flat and f"{ratio} times llama.cpp's own" in flat
    scale = config.BENCHMARK_FILES["scale"].read_text()
    tables = [line for line in scale.splitlines() if line.startswith("|") or line.startswith("local backend:")]
    assert tables and all(line in text for line in tables), "README's speed tables differ from the scale benchmark"
    path = config.BENCHMARK_FILES["analyst_path"].read_text().splitlines()
    assert all(f"`{line}`" in flat for line in path[1:]), "README's analyst's path differs from its benchmark"
