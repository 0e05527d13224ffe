"""``python -m callinsights evaluate``: every number notebook 04 shows, computed once and written to result files.

:func:`evaluate` labels the hand-labelled calls under the configurations compared (held out wherever anything is
fitted, :func:`callinsights.pipelines.experiments.compare`), scores the default against the client's file and the
guideline readers with bootstrap intervals, sets it beside the baselines and the other methods, measures calibration,
lists its mistakes, and summarises the store's runs with the agreement of two methods on every call. :func:`write`
puts the results in ``metrics.json`` and the tables of ``evaluation/`` (:data:`callinsights.config.EVALUATION_FILES`)
and, on a full run into ``results/``, a section of ``docs/experiments.md``. Notebook 04 reads the files
(:mod:`callinsights.pipelines.evaluation_results`) and computes no score.

A run is *full* when it scores every labelled call of the configured data folder under every configuration. Only a
full run writes into ``results/``: a sample, a subset of configurations or another data folder goes to another
folder, so a partial measurement never replaces the committed one.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from callinsights import config
from callinsights.classify import baselines
from callinsights.classify.runner import label_calls
from callinsights.classify.settings import texts_for_model
from callinsights.data.labels import load_labels
from callinsights.schema import TASKS
from callinsights.data.artifacts import package_versions
from callinsights.data.outputs import check_output_file, json_ready, write_csv, write_text
from callinsights.data.store import Store
from callinsights.data.call import Call
from callinsights.data.transcripts import read_calls
from callinsights.evaluation import evaluate as scores
from callinsights.evaluation.calibration import calibration_summary
from callinsights.evaluation import monitoring
from callinsights.llm.models import resolve_model
from callinsights.pipelines import evaluation_tables, experiments
from callinsights.pipelines.evaluation_results import COMMAND, result_files
from callinsights.pipelines.evaluation_tables import DEFAULT, SCORE
from callinsights.text import lexicon

#: The prompting closest to the previous solution's: baselines when they are among the configurations.
GENERATE = ["generate, gpt4all", "generate, llama.cpp + grammar"]
#: Customer words shown with a mistake, at most (redacted first, then cut).
MAX_CHARS = 300
#: Versions recorded in run.json: the packages whose behaviour the numbers depend on.
PACKAGES = ["callinsights", "numpy", "pandas", "scikit-learn", "scipy", "llama-cpp-python", "gpt4all",
            "vaderSentiment"]


@dataclass
class Plan:
    """What to evaluate: the command's options.

    Attributes:
        data_dir: A folder laid out like ``data/`` (``transcripts_v3/`` and the label files); None for the
            configured one (:data:`callinsights.config.DATA_DIR`).
        sample: Score only the first N labelled calls; None for all.
        configurations: Names of :data:`callinsights.pipelines.experiments.CONFIGURATIONS` to compare, None for all.
            The default and :data:`SCORE` label the calls either way: every section scores the default, and
            monitoring compares the two.
        n_boot: Bootstrap resamples behind every interval.
        seed: Seed of the resamples and of the baselines' folds.
        model: Model name or GGUF path; None for the default model.
        store: The SQLite store of model outputs and runs (outputs found there are reused).
        progress: Progress bars on stderr.
    """

    data_dir: Path | None = None
    sample: int | None = None
    configurations: list[str] | None = None
    n_boot: int = 2000
    seed: int = 0
    model: str | None = None
    store: Path = config.STORE_FILE
    progress: bool = False

    @property
    def full(self) -> bool:
        """Every labelled call of the configured data folder under every configuration."""
        chosen = experiments.select_configurations(self.configurations)
        return self.data_dir is None and self.sample is None and list(chosen) == list(experiments.CONFIGURATIONS)

    def command(self, out_dir: Path | None = None) -> str:
        """The command line that runs this plan, for the files to name what wrote them."""
        parts = shlex.split(COMMAND)
        if self.data_dir is not None:
            parts += ["--data-dir", str(self.data_dir)]
        if self.sample is not None:
            parts += ["--sample", str(self.sample)]
        if self.configurations is not None:
            parts += ["--configurations", *self.configurations]
        if self.n_boot != Plan.n_boot:
            parts += ["--n-boot", str(self.n_boot)]
        if self.seed != Plan.seed:
            parts += ["--seed", str(self.seed)]
        if self.model is not None:
            parts += ["--model", self.model]
        if out_dir is not None and Path(out_dir).resolve() != config.RESULTS_DIR.resolve():
            parts += ["--out-dir", str(out_dir)]
        return shlex.join(parts)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured.

    Attributes:
        facts: What was evaluated (``evaluation/run.json``): model, calls, configurations, files, seconds.
        tables: One table per CSV key of :data:`callinsights.config.EVALUATION_FILES`.
        metrics: ``metrics.json``: the key numbers and tables, in the layout the README's tests read.
        comparison: The configurations chosen, for the experiment log.
    """

    facts: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    comparison: pd.DataFrame | None = None


def output_folder(plan: Plan, out_dir: str | Path | None = None) -> Path:
    """Where a run writes: ``results/`` for a full run, else ``out_dir`` or a new temporary folder.

    Raises:
        ValueError: A partial run was pointed at ``results/``, whose files it would replace.
    """
    if out_dir is None:
        return config.RESULTS_DIR if plan.full else Path(tempfile.mkdtemp(prefix="callinsights-evaluate-"))
    out_dir = Path(out_dir)
    if not plan.full and out_dir.resolve() == config.RESULTS_DIR.resolve():
        raise ValueError(f"--out-dir {out_dir}: a sample, a subset of configurations or another data folder would "
                         "replace the committed results of a full run there; give --out-dir another folder")
    return out_dir


def run(plan: Plan, out_dir: str | Path | None = None) -> tuple[Evaluation, list[Path]]:
    """Evaluate and write: the command's work. The output folder is checked before any model time is spent.

    Returns:
        The evaluation and the files written.
    """
    folder = output_folder(plan, out_dir)
    fresh = out_dir is None and folder != config.RESULTS_DIR
    try:
        for path in result_files(folder).values():
            check_output_file(path, "--out-dir")
        evaluation = evaluate(plan, folder)
    except BaseException:
        if fresh:  # a temporary folder made for this run holds nothing yet
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return evaluation, write(evaluation, folder)


def summary(evaluation: Evaluation, written: list[Path]) -> str:
    """The command's last line: what was scored, how long it took, and how notebook 04 shows it."""
    facts = evaluation.facts
    folder = Path(written[-1]).parent
    show = "python -m callinsights notebooks run --only 04"
    if folder.resolve() != config.RESULTS_DIR.resolve():
        show += f" -p RESULTS_DIR={shlex.quote(str(folder))}"
    return (f"{facts['labelled_calls']} labelled calls under {len(facts['configurations_run'])} configurations in "
            f"{facts['seconds_to_run']:.0f} s; show them with `{show}`")


def evaluate(plan: Plan, out_dir: Path | None = None) -> Evaluation:
    """Label the labelled calls under each configuration and score everything notebook 04 shows.

    Args:
        plan: What to evaluate.
        out_dir: Where the results will go (only named in the facts).

    Raises:
        ValueError: An unknown configuration, a bad label file, or a sample too small to cross-validate the probe.
        FileNotFoundError: No calls or no label file in the data folder.
        callinsights.llm.models.ModelError: The model is missing.
        callinsights.data.store.StoreError: The store cannot be opened.
    """
    started = time.perf_counter()
    selected = experiments.select_configurations(plan.configurations)
    model = resolve_model(plan.model)
    data_dir = Path(plan.data_dir) if plan.data_dir is not None else config.DATA_DIR
    calls, _ = read_calls(data_dir / config.TRANSCRIPTS_DIR.name)
    customer = {call.name: call.customer_text() for call in calls}
    labels_path = data_dir / config.LABELS_FILE.name
    training_path = config.training_labels_file(plan.data_dir)
    guideline_path = data_dir / config.GUIDELINE_LABELS_FILE.name
    gold_all = load_labels(labels_path, known_calls=set(customer))
    gold = gold_all.head(plan.sample) if plan.sample else gold_all

    to_run = {name: replace(settings, labels_file=str(training_path))
              for name, settings in experiments.CONFIGURATIONS.items() if name in {*selected, DEFAULT, SCORE}}
    compare_started = time.perf_counter()
    try:
        with Store(plan.store) as store:
            table_all, predictions = experiments.compare(calls, gold, store, to_run, model=plan.model,
                                                         progress=plan.progress)
    except ValueError as err:
        if plan.sample is None or "labelled calls" not in str(err):
            raise
        raise ValueError(f"{err}\n--sample {plan.sample}: too few labelled calls of each class to hold the probe's "
                         "predictions out; give a larger --sample") from None
    compare_seconds = time.perf_counter() - compare_started
    comparison = table_all[table_all["configuration"].isin(selected)].reset_index(drop=True)
    default = predictions[DEFAULT]
    n_boot, seed = plan.n_boot, plan.seed

    intervals = evaluation_tables.intervals(gold, default, n_boot, seed)
    guideline = None
    if guideline_path.is_file():
        second = load_labels(guideline_path, known_calls=set(customer)).reindex(gold.index)
        guideline = evaluation_tables.intervals(second, default, n_boot, seed)
    generate = [name for name in GENERATE if name in predictions]
    systems = {
        f"default: {DEFAULT}": default,
        "majority class": baselines.majority_baseline(gold, gold.index),
        "VADER + pending cues (customer side)": lexicon.vader_baseline(
            pd.Series({cid: customer.get(cid, "") for cid in gold.index})),
        "words (TF-IDF) + the same probe": baselines.words_probe_baseline(pd.Series(customer), gold, seed=seed),
        **{name: predictions[name] for name in generate},
    }
    baseline_table = scores.report_table(gold, systems, n_boot=n_boot, seed=seed)
    ablation = experiments.ablation_table(gold, predictions, n_boot=n_boot, seed=seed)
    calibrated = {name: predictions[name] for name, settings in experiments.CONFIGURATIONS.items()
                  if name in predictions and settings.method != "generate" and settings.side == "customer"}
    calibration = calibration_summary(gold, calibrated)

    with Store(plan.store) as store:
        all_calls, scope = _every_call(plan, calls, gold, predictions, training_path, store)
        runs, run_labels = store.runs(), store.run_labels()
    agreement = evaluation_tables.agreement(all_calls, gold_all.index)
    monitor = monitoring.monitor_runs(runs, run_labels)

    tables = {
        "predictions": evaluation_tables.held_out_table(gold, predictions),
        "report": evaluation_tables.report(gold, default),
        "intervals": pd.concat({"client": intervals, **({"guideline": guideline} if guideline is not None else {})},
                               names=["reference"]).reset_index(),
        "baselines": baseline_table,
        "differences": evaluation_tables.differences(gold, systems, n_boot, seed),
        "comparison": table_all,
        "comparison_intervals": scores.report_table(
            gold, {name: predictions[name] for name in comparison["configuration"]}, n_boot=n_boot, seed=seed),
        "ablation": ablation,
        "calibration": calibration,
        "reliability": evaluation_tables.reliability(gold, calibrated),
        "mistakes": scores.mistakes(gold, default, customer, max_chars=MAX_CHARS),
        "agreement": agreement,
        "agreement_pairs": evaluation_tables.pairs(all_calls),
        "monitoring": monitor,
        # The main run's own file: the batches are the calls the analyst will meet, labelled as the main job does.
        "batches": evaluation_tables.batches_of_main_run(gold_all.index),
    }
    computed = monitor.dropna(subset=["seconds_p50"])
    facts = {
        "command": plan.command(out_dir), "written": date.today().isoformat(), "full_run": plan.full,
        "model": model.name, "model_source": "embedded in the package" if model.embedded else str(model.path),
        "calls_read": len(calls), "labelled_calls": len(gold), "labelled_calls_in_file": len(gold_all),
        "sample_size": plan.sample, "labels_file": labels_path.name, "training_labels_file": training_path.name,
        "guideline_file": guideline_path.name if guideline is not None else None,
        "default_configuration": DEFAULT, "score_configuration": SCORE, "generate_configurations": generate,
        "configurations_chosen": list(selected), "configurations_run": list(to_run),
        "compare_seconds": round(compare_seconds, 1), "n_boot": n_boot, "seed": seed, "agreement_scope": scope,
        "experiments_doc_heading": None, "packages": package_versions(PACKAGES),
    }
    metrics = json_ready({
        "model": model.name,
        "labelled_calls": len(gold),
        "sample_size": plan.sample,
        "n_boot": n_boot,
        "default_configuration": DEFAULT,
        "default_held_out": {task: intervals.loc[task] for task in TASKS},
        "default_fitted_on": training_path.name,
        "default_held_out_guideline": {task: guideline.loc[task] for task in TASKS} if guideline is not None else None,
        "flip_rates": _committed_table("flip_rates.csv"),
        "driver_accuracy": _committed_table("driver_accuracy.csv"),
        "baselines": baseline_table,
        "previous_solution_reported_not_remeasured": experiments.PREVIOUS_SOLUTION,
        "comparison": comparison,
        "whole_call_ablation": ablation,
        "calibration": calibration,
        "monitoring": {
            "finished_runs": len(monitor),
            "unfinished_runs": int((runs["status"] != "done").sum()),
            "max_invalid_share": monitor["invalid_share"].max(),
            "latest_latency_by_configuration": computed.groupby("configuration").tail(1).set_index("configuration")[
                ["seconds_p50", "seconds_p95", "tokens_per_second"]],
            "max_drift_total_variation": monitor[["sentiment_tv", "outcome_tv"]].max(),
            "agreement_scope": scope,
            "agreement_probe_vs_score": agreement,
        },
        "seconds_to_run": round(time.perf_counter() - started, 1),
    })
    facts["seconds_to_run"] = metrics["seconds_to_run"]
    return Evaluation(facts, tables, metrics, comparison)


def write(evaluation: Evaluation, out_dir: str | Path) -> list[Path]:
    """Write ``metrics.json``, ``evaluation/*`` and, for a full run into ``results/``, the experiment log's section.

    Each file is written whole or not at all (:func:`callinsights.data.outputs.write_csv`).

    Returns:
        The files written.
    """
    out_dir = Path(out_dir)
    files = result_files(out_dir)
    written = []
    for key, table in evaluation.tables.items():
        written.append(write_csv(table, files[key]))
    facts = dict(evaluation.facts)
    if facts["full_run"] and out_dir.resolve() == config.RESULTS_DIR.resolve():
        heading = f"{facts['written']} · {facts['model']}"
        note = (f"{facts['labelled_calls']} hand-labelled calls; macro-F1 from held-out predictions (the probe 4-fold "
                "cross-validated); seconds per call are model time, a stored output keeping the seconds of the run "
                "that computed it (under whatever load the machine had then: indicative, not a benchmark). Written "
                f"by `{COMMAND}` (`callinsights.pipelines.evaluation`).")
        written.append(experiments.write_markdown(evaluation.comparison, heading, note))
        facts["experiments_doc_heading"] = heading
    written.append(write_text(files["run"], json.dumps(facts, indent=1) + "\n"))
    written.append(write_text(files["metrics"], json.dumps(evaluation.metrics, indent=1) + "\n"))
    return written


def _every_call(plan: Plan, calls: list[Call], gold: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                labels_path: Path, store: Store) -> tuple[dict[str, pd.DataFrame], str]:
    """The default's and :data:`SCORE`'s labels of every call (a full run), or of the sample's labelled calls.

    As the main job labels calls: stored outputs reused, the probe fitted on the label file the main job uses.
    """
    if not plan.full:
        # A partial run does not label every call: it compares the two methods on its held-out predictions.
        return ({name: predictions[name] for name in (DEFAULT, SCORE)},
                f"the {len(gold)} labelled calls of the sample (held out)")
    every = {}
    for name in (DEFAULT, SCORE):
        settings = replace(experiments.CONFIGURATIONS[name], model=plan.model, labels_file=str(labels_path))
        every[name] = label_calls(texts_for_model(calls, settings), settings, store,
                                  progress=plan.progress).predictions.set_index("file")
    return every, f"all {len(every[DEFAULT])} calls"


def _committed_table(name: str) -> pd.DataFrame | None:
    """A table ``python -m callinsights experiments`` wrote to ``results/``, or None before it has run."""
    path = config.RESULTS_DIR / name
    return pd.read_csv(path) if path.is_file() else None
