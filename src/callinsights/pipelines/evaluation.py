"""``python -m callinsights evaluate``: every configuration's held-out predictions on the hand-labelled calls, the
tables scored from them (:data:`callinsights.config.EVALUATION_FILES`), and reading them back for notebook 04."""

from __future__ import annotations

import filecmp
import json
import re
import shlex
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import classification_report

from callinsights import config
from callinsights.analysis.stats import wilson_interval
from callinsights.classify import baselines
from callinsights.classify.runner import label_calls
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.call import Call, natural_key
from callinsights.data.labels import LabelFileError, check_fit, load_labels
from callinsights.data.outputs import (check_output_file, json_ready, label_reading, package_versions, write_csv,
                                       write_text)
from callinsights.data.store import Store
from callinsights.data.transcripts import read_calls
from callinsights.evaluation import metrics as scores
from callinsights.evaluation import monitoring
from callinsights.llm.models import resolve_model
from callinsights.schema import PROBA_COLUMNS, TASKS
from callinsights.text import words

#: The command that writes the files, as a reader should type it.
COMMAND = "python -m callinsights evaluate"

#: Configurations compared, by readable name. The whole-call rows are the ablation the client asked about.
CONFIGURATIONS: dict[str, Settings] = {
    "score, raw log-probabilities": Settings(method="score", calibration="none"),
    "score, batch-calibrated": Settings(method="score", calibration="batch"),
    "score, reference-calibrated": Settings(method="score", calibration="reference"),
    "generate, llama.cpp + grammar": Settings(method="generate"),
    "generate, gpt4all": Settings(method="generate", engine="gpt4all"),
    "probe (cross-validated)": Settings(method="probe"),
    "score, batch-calibrated, whole call": Settings(method="score", calibration="batch", side="call"),
    "probe (cross-validated), whole call": Settings(method="probe", side="call"),
}
#: The configuration of the main job (``Settings()``): what ``results/predictions.csv`` is labelled with.
DEFAULT = next(name for name, settings in CONFIGURATIONS.items() if settings == Settings())
#: The label-free method monitoring compares with the default on every call (notebook 04, section 7).
SCORE = "score, batch-calibrated"
#: The prompting closest to the previous solution's: baselines when they are among the configurations.
GENERATE = ["generate, gpt4all", "generate, llama.cpp + grammar"]

#: What the previous solution reported for itself. Not re-measured here: it ran Llama 3.2 1B in one chat session
#: shared by all calls (earlier calls leak into later answers), so its numbers are shown apart, never as a row of
#: a computed table.
PREVIOUS_SOLUTION = {
    "system": "previous solution (reported, not re-measured)",
    "model": "Llama 3.2 1B",
    "setup": "one chat session shared by all calls",
    "sentiment_macro_f1": 0.64,
    "outcome_macro_f1": 0.55,
}

#: How many batches notebook 04 splits the unlabelled calls into, in the order the client exported them.
BATCHES = 4
#: Tables computed without the hand labels: the store's runs, and the batches of ``results/predictions.csv`` (whose
#: reading is the one its fit recorded, ``predictions.reading.json``).
LABEL_FREE = ("monitoring", "batches")
#: The two tables that show the other reading beside the run's: the only files computed from both.
SIDE_BY_SIDE = ("other_reading", "reading_differences")
#: Versions recorded in run.json: the packages whose behaviour the numbers depend on.
PACKAGES = ["callinsights", "numpy", "pandas", "scikit-learn", "scipy", "llama-cpp-python", "gpt4all",
            "vaderSentiment"]


# Labelling the hand-labelled calls under each configuration, always held out.

def select_configurations(names: list[str] | None = None) -> dict[str, Settings]:
    """The configurations called ``names`` (all for None), in the table's order; an unknown name is a ValueError."""
    if names is None:
        return dict(CONFIGURATIONS)
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; choose from: {'; '.join(CONFIGURATIONS)}")
    return {name: settings for name, settings in CONFIGURATIONS.items() if name in names}


def held_out_predictions(name: str, settings: Settings, calls: list[Call], gold: pd.DataFrame, store: Store,
                         model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, float]:
    """One configuration's predictions for the labelled calls (indexed by call id), held out where anything is
    fitted, and the mean seconds of model time per call."""
    settings = replace(settings, model=model)
    # Only the labelled calls are read: the probe's held-out predictions need nothing else, and batch calibration
    # over them is as label-free as over all calls.
    texts = {cid: t for cid, t in texts_for_model(calls, settings).items() if cid in gold.index}
    result = label_calls(texts, settings, store, progress=progress)
    predictions = result.predictions.set_index("file")
    if settings.method == "probe" and not predictions["held_out"].str.startswith("held out").all():
        # A fitted figure must never be reported as held out.
        raise ValueError(f"{name}: some labelled calls were not held out; label more calls of each class")
    return predictions.reindex(gold.index).assign(configuration=name), float(result.predictions["seconds"].mean())


def compare(calls: list[Call], gold: pd.DataFrame, store: Store, configurations: dict[str, Settings] | None = None,
            model: str | None = None, progress: bool = False) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every configuration's held-out macro-F1, accuracy and seconds per call (one row each), and its predictions."""
    rows, predictions = [], {}
    for name, settings in (configurations or CONFIGURATIONS).items():
        predictions[name], seconds = held_out_predictions(name, settings, calls, gold, store, model, progress)
        row = {"configuration": name, "engine": settings.engine, "method": settings.method, "side": settings.side}
        for task, labels in TASKS.items():
            found = scores.classification_metrics(gold[task], predictions[name][task], list(labels))
            row |= {f"{task}_macro_f1": found["macro_f1"], f"{task}_accuracy": found["accuracy"]}
        rows.append({**row, "seconds_per_call": seconds})
    return pd.DataFrame(rows), predictions


# The tables, each from held-out predictions and one reading of the hand labels; nothing here runs a model.

def held_out_table(gold: pd.DataFrame, predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per configuration and labelled call: the hand labels, the prediction and its probabilities."""
    columns = ["sentiment", "outcome", "confidence_sentiment", "confidence_outcome", *PROBA_COLUMNS.values(),
               "valid", "held_out", "seconds", "cached", "raw"]
    true = gold[list(TASKS)].add_suffix("_true")
    parts = {name: true.join(preds.reindex(gold.index)[columns]) for name, preds in predictions.items()}
    return pd.concat(parts, names=["configuration", "file"]).reset_index()


def report(gold: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's ``classification_report`` per task as rows (the accuracy row has its value under f1-score, as
    the printed report places it)."""
    rows = []
    for task, labels in TASKS.items():
        found = classification_report(gold[task], scores.clean_predictions(predictions[task], labels),
                                      labels=list(labels), zero_division=0, output_dict=True)
        rows += [{"task": task, "class": name,
                  **(values if isinstance(values, dict) else {"f1-score": values, "support": len(gold)})}
                 for name, values in found.items()]
    return pd.DataFrame(rows, columns=["task", "class", "precision", "recall", "f1-score", "support"]).astype(
        {"support": int})


def differences(gold: pd.DataFrame, systems: dict[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """The default's (the first system's) macro-F1 minus each other's, with a paired bootstrap interval and verdict."""
    (_, default), *others = systems.items()
    rows = []
    for task, labels in TASKS.items():
        for other, preds in others:
            diff, low, high = scores.bootstrap_difference(gold[task], default[task], preds[task].reindex(gold.index),
                                                          "macro_f1", list(labels), n_boot=n_boot, seed=seed)
            verdict = "better" if low > 0 else "worse" if high < 0 else "not distinguishable"
            rows.append({"task": task, "baseline": other, "difference": diff, "low": low, "high": high,
                         "verdict": verdict})
    return pd.DataFrame(rows, columns=["task", "baseline", "difference", "low", "high", "verdict"])


def ablation_table(gold: pd.DataFrame, predictions: dict[str, pd.DataFrame], n_boot: int = 2000, seed: int = 0
                   ) -> pd.DataFrame:
    """Each whole-call configuration beside its customer-side twin: whole call minus customer side, with a paired
    bootstrap interval; a pair with either side missing from ``predictions`` is left out."""
    rows = []
    for whole, settings in CONFIGURATIONS.items():
        twin = next((name for name, s in CONFIGURATIONS.items() if s == replace(settings, side="customer")), None)
        if settings.side != "call" or twin not in predictions or whole not in predictions:
            continue
        for task, labels in TASKS.items():
            a, b = predictions[whole][task].reindex(gold.index), predictions[twin][task].reindex(gold.index)
            difference, low, high = scores.bootstrap_difference(gold[task], a, b, "macro_f1", list(labels), n_boot,
                                                                seed)
            rows.append({
                "customer_side": twin, "whole_call": whole, "task": task,
                "customer_macro_f1": scores.classification_metrics(gold[task], b, list(labels))["macro_f1"],
                "whole_call_macro_f1": scores.classification_metrics(gold[task], a, list(labels))["macro_f1"],
                "difference": difference, "low": low, "high": high,
            })
    return pd.DataFrame(rows, columns=["customer_side", "whole_call", "task", "customer_macro_f1",
                                       "whole_call_macro_f1", "difference", "low", "high"])


def reliability(gold: pd.DataFrame, systems: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each probability-giving system's reliability table per task (bands of confidence in the predicted label)."""
    parts = {(name, task): scores.reliability_table(gold[task], scores.proba_frame(preds, task), labels)
             for name, preds in systems.items() for task, labels in TASKS.items()}
    return pd.concat(parts, names=["system", "task", "band"]).reset_index().drop(columns="band")


def agreement_table(every: dict[str, pd.DataFrame], labelled: pd.Index) -> pd.DataFrame:
    """Agreement of the default and :data:`SCORE` per task, on all calls and on the unlabelled ones alone."""
    a, b = every[DEFAULT], every[SCORE]
    unlabelled = a.index.difference(labelled)
    rows = [{"task": task, "calls": scope, **scores.agreement(a[task].loc[idx], b[task].loc[idx])}
            for task in TASKS for scope, idx in (("all", a.index), ("unlabelled only", unlabelled)) if len(idx)]
    return pd.DataFrame(rows)


def pairs(every: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """How many calls got each pair of labels from the default and :data:`SCORE`, per task (invalid left out)."""
    parts = []
    for task in TASKS:
        counts = pd.crosstab(every[DEFAULT][task].rename("default_label"), every[SCORE][task].rename("score_label"))
        parts.append(counts.stack().rename("calls").reset_index().assign(task=task))
    return pd.concat(parts, ignore_index=True)[["task", "default_label", "score_label", "calls"]]


def batches_of_main_run(labelled: pd.Index) -> pd.DataFrame:
    """The unlabelled calls of ``results/predictions.csv`` as :data:`BATCHES` batches in file order, as if they had
    arrived month by month, each monitored against the labelled calls' predictions (where held-out accuracy is
    known); no rows (same columns) when the file is missing or holds none of ``labelled`` (another data folder)."""
    empty = pd.DataFrame(columns=[*monitoring.TABLE_COLUMNS, "batch_name"])
    if not config.PREDICTIONS_FILE.is_file():
        return empty
    try:
        table = monitoring.read_predictions(config.PREDICTIONS_FILE, "reference")  # read and checked
    except monitoring.MonitorInputError as err:  # a damaged file must not throw away the evaluation computed before it
        warnings.warn(f"no batches monitored: {err}", stacklevel=2)
        return empty
    is_labelled = table["file"].isin(labelled)
    if not is_labelled.any():
        return empty
    rest = table[~is_labelled].sort_values("file", key=lambda files: files.map(natural_key))
    size = -(-len(rest) // BATCHES)
    chunks = {f"batch {k + 1}": rest.iloc[k * size:(k + 1) * size] for k in range(BATCHES) if len(rest.iloc[k * size:])}
    reference = table[is_labelled]
    return monitoring.batch_table({name: monitoring.compare(reference, chunk) for name, chunk in chunks.items()})


# The other reading of the hand labels, shown once beside the run's own and never mixed into its computations.

#: Short names of the two readings a data folder holds, by file name (any other file is named by its stem).
READING_NAMES = {config.GUIDELINE_LABELS_FILE.name: "guideline", config.LABELS_FILE.name: "client"}
OTHER_READING_COLUMNS = ["reading", "labels_file", "task", "measure", "label", "calls", "value", "low", "high"]


def reading_name(path: str | Path) -> str:
    """``guideline`` or ``client`` for the two readings a data folder holds, else the file's stem."""
    return READING_NAMES.get(Path(path).name, Path(path).stem)


def other_labels_file(labels: Path, data_dir: Path) -> Path | None:
    """The reading shown beside ``labels``: the data folder's guideline or client file that differs from it (the
    guideline's first), or None when the folder holds no other."""
    for name in (config.GUIDELINE_LABELS_FILE.name, config.LABELS_FILE.name):
        candidate = data_dir / name
        if candidate.is_file() and not filecmp.cmp(candidate, labels, shallow=False):
            return candidate
    return None


def reading_table(labels: Path, gold: pd.DataFrame, predictions: pd.DataFrame, n_boot: int, seed: int
                  ) -> pd.DataFrame:
    """One reading's label shares (Wilson 95% intervals) and the default's held-out accuracy and macro-F1 (bootstrap
    intervals), the default fitted on and scored against that same reading; ``label`` is empty for the metrics."""
    rows = []
    for task, labels_of_task in TASKS.items():
        for label in labels_of_task:
            hits = int((gold[task] == label).sum())
            low, high = wilson_interval(hits, len(gold))
            rows.append({"task": task, "measure": "share", "label": label, "value": hits / len(gold),
                         "low": low, "high": high})
        held_out = scores.metric_intervals(gold[task], predictions[task], labels_of_task, n_boot=n_boot, seed=seed)
        rows += [{"task": task, "measure": metric, "label": "", **held_out.loc[metric, ["value", "low", "high"]]}
                 for metric in ("accuracy", "macro_f1")]
    table = pd.DataFrame(rows).assign(reading=reading_name(labels), labels_file=labels.name, calls=len(gold))
    return table[OTHER_READING_COLUMNS]


def reading_differences(gold: pd.DataFrame, other: pd.DataFrame, names: tuple[str, str], model: pd.DataFrame
                        ) -> pd.DataFrame:
    """The labelled calls on which two readings (named by ``names``) differ, per task, with the default's held-out
    label (``model``, fitted on ``gold``): columns ``file, task, <names[0]>, <names[1]>, model``."""
    parts = []
    for task in TASKS:
        both = pd.DataFrame({names[0]: gold[task], names[1]: other[task].reindex(gold.index),
                             "model": model[task].reindex(gold.index)})
        parts.append(both[both[names[0]] != both[names[1]]].assign(task=task).rename_axis("file").reset_index())
    return pd.concat(parts, ignore_index=True)[["file", "task", *names, "model"]]


# The comparison kept for readers of the repository: the experiment log, docs/experiments.md.

def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table for docs/experiments.md (``DataFrame.to_markdown``, via tabulate)."""
    shown = table[["configuration", "sentiment_macro_f1", "outcome_macro_f1", "seconds_per_call"]].set_axis(
        ["what", "held-out sentiment macro-F1", "held-out outcome macro-F1", "seconds per call"], axis=1)
    return shown.to_markdown(index=False, floatfmt=("", ".3f", ".3f", ".2f"))


def write_markdown(table: pd.DataFrame, heading: str, note: str = "", path: str | Path = config.EXPERIMENTS_DOC
                   ) -> Path:
    """Put the comparison (:func:`compare`), after ``note``, into the experiment log under ``## heading``."""
    return write_section(heading, (f"{note.strip()}\n\n" if note.strip() else "") + markdown_table(table), path)


def write_section(heading: str, body: str, path: str | Path = config.EXPERIMENTS_DOC) -> Path:
    """Put ``body`` into a Markdown file under ``## heading``, replacing a section of that heading and keeping the
    others (earlier dates, other models), so the file is a log; returns the file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else (
        "# Experiments\n\nMethods, engines and ablations compared on the hand-labelled calls, always on held-out "
        "predictions (`callinsights.pipelines.evaluation`, run by `python -m callinsights evaluate` and shown in "
        "notebook 04).\n"
    )
    section = f"## {heading}\n\n{body.strip()}\n"
    same = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if same.search(text):
        text = same.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return path


# The command: every number notebook 04 shows, computed once and written to result files.

@dataclass
class Plan:
    """What to evaluate: the command's options (``data_dir``, ``labels``, ``model`` None for the configured ones;
    ``sample`` None for every labelled call; ``configurations`` None for all, the default and :data:`SCORE` label
    the calls either way, as every section scores the default and monitoring compares the two)."""

    data_dir: Path | None = None
    labels: Path | None = None
    sample: int | None = None
    configurations: list[str] | None = None
    n_boot: int = 2000
    seed: int = 0
    model: str | None = None
    store: Path = config.STORE_FILE
    progress: bool = False

    @property
    def labels_file(self) -> Path:
        """The label file read: :attr:`labels`, or the data folder's default reading."""
        return Path(self.labels) if self.labels is not None else config.training_labels_file(self.data_dir)

    @property
    def full(self) -> bool:
        """Every labelled call of the configured data folder, in its default reading, under every configuration:
        the run whose files are committed in ``results/``."""
        chosen = select_configurations(self.configurations)
        default_reading = self.labels is None or (
            Path(self.labels).resolve() == config.training_labels_file().resolve())
        return (self.data_dir is None and default_reading and self.sample is None
                and list(chosen) == list(CONFIGURATIONS))

    def command(self, out_dir: Path | None = None) -> str:
        """The command line that runs this plan, for the files to name what wrote them."""
        parts = shlex.split(COMMAND)
        for option, value in (("--data-dir", self.data_dir), ("--labels", self.labels), ("--sample", self.sample),
                              ("--configurations", self.configurations),
                              ("--n-boot", None if self.n_boot == Plan.n_boot else self.n_boot),
                              ("--seed", None if self.seed == Plan.seed else self.seed), ("--model", self.model)):
            if value is not None:
                parts += [option, *(value if isinstance(value, (list, tuple)) else [str(value)])]
        if out_dir is not None and Path(out_dir).resolve() != config.RESULTS_DIR.resolve():
            parts += ["--out-dir", str(out_dir)]
        return shlex.join(parts)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: ``run.json``'s facts, one table per CSV of
    :data:`callinsights.config.EVALUATION_FILES`, ``metrics.json`` and the configurations chosen."""

    facts: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    comparison: pd.DataFrame | None = None


def output_folder(plan: Plan, out_dir: str | Path | None = None) -> Path:
    """Where a run writes: ``results/`` for a full run, else ``out_dir`` or a new temporary folder."""
    if out_dir is None:
        return config.RESULTS_DIR if plan.full else Path(tempfile.mkdtemp(prefix="callinsights-evaluate-"))
    out_dir = Path(out_dir)
    if not plan.full and out_dir.resolve() == config.RESULTS_DIR.resolve():
        raise ValueError(f"--out-dir {out_dir}: a sample, a subset of configurations, another data folder or "
                         "another label file would replace the committed results of a full run there; give "
                         "--out-dir another folder")
    return out_dir


def run(plan: Plan, out_dir: str | Path | None = None) -> tuple[Evaluation, list[Path]]:
    """Evaluate and write, the output folder checked before any model time; returns the files written too."""
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
    show = "python -m callinsights notebooks run --only 04"
    if Path(written[-1]).parent.resolve() != config.RESULTS_DIR.resolve():
        show += f" -p RESULTS_DIR={shlex.quote(str(Path(written[-1]).parent))}"
    return (f"{facts['labelled_calls']} labelled calls under {len(facts['configurations_run'])} configurations in "
            f"{facts['seconds_to_run']:.0f} s; show them with `{show}`")


def evaluate(plan: Plan, out_dir: Path | None = None) -> Evaluation:
    """Label the labelled calls under each configuration and score everything notebook 04 shows (``out_dir`` is
    only named in the facts).

    Raises:
        ValueError: An unknown configuration, a bad label file, or a sample too small to cross-validate the probe.
        FileNotFoundError: No calls or no label file in the data folder.
        callinsights.llm.models.ModelError: The model is missing.
        callinsights.data.store.StoreError: The store cannot be opened.
    """
    started = time.perf_counter()
    selected = select_configurations(plan.configurations)
    model = resolve_model(plan.model)
    data_dir = Path(plan.data_dir) if plan.data_dir is not None else config.DATA_DIR
    calls, _ = read_calls(data_dir / config.TRANSCRIPTS_DIR.name)
    customer = {call.name: call.customer_text() for call in calls}
    # One reading of the hand labels for every computation: the probe is fitted on it and every table scored
    # against it. The other reading is only shown beside it (other_reading.csv, reading_differences.csv).
    labels_path = plan.labels_file
    gold_all = load_labels(labels_path, known_calls=set(customer))
    gold = gold_all.head(plan.sample) if plan.sample else gold_all
    problems = check_fit(gold, customer, labels_path)  # what the probe's fit will need, asked before model time
    if problems:
        hint = f"\n--sample {plan.sample}: give a larger --sample" if plan.sample else ""
        raise LabelFileError("\n".join(problems) + hint)

    to_run = {name: replace(settings, labels_file=str(labels_path))
              for name, settings in CONFIGURATIONS.items() if name in {*selected, DEFAULT, SCORE}}
    with Store(plan.store) as store:
        compare_started = time.perf_counter()
        table_all, predictions = compare(calls, gold, store, to_run, model=plan.model, progress=plan.progress)
        compare_seconds = time.perf_counter() - compare_started
        other_path, beside, disagree = _other_reading(plan, labels_path, data_dir, calls, gold, predictions[DEFAULT],
                                                      store)
        all_calls, scope = _every_call(plan, calls, gold, predictions, labels_path, store)
        runs, run_labels = store.runs(), store.run_labels()
    comparison = table_all[table_all["configuration"].isin(selected)].reset_index(drop=True)
    default = predictions[DEFAULT]
    n_boot, seed = plan.n_boot, plan.seed

    intervals = pd.concat({task: scores.metric_intervals(gold[task], default[task], labels, n_boot=n_boot, seed=seed)
                           for task, labels in TASKS.items()}, names=["task"])
    generate = [name for name in GENERATE if name in predictions]
    systems = {
        f"default: {DEFAULT}": default,
        "majority class": baselines.majority_baseline(gold, gold.index),
        "VADER + pending cues (customer side)": words.vader_baseline(
            pd.Series({cid: customer.get(cid, "") for cid in gold.index})),
        "words (TF-IDF) + the same probe": baselines.words_probe_baseline(pd.Series(customer), gold, seed=seed),
        **{name: predictions[name] for name in generate},
    }
    baseline_table = scores.report_table(gold, systems, n_boot=n_boot, seed=seed)
    ablation = ablation_table(gold, predictions, n_boot=n_boot, seed=seed)
    calibrated = {name: predictions[name] for name, settings in CONFIGURATIONS.items()
                  if name in predictions and settings.method != "generate" and settings.side == "customer"}
    calibration = scores.calibration_summary(gold, calibrated)
    agreement = agreement_table(all_calls, gold_all.index)
    monitor = monitoring.monitor_runs(runs, run_labels)

    tables = {
        "predictions": held_out_table(gold, predictions),
        "report": report(gold, default),
        "intervals": intervals.reset_index(),
        "baselines": baseline_table,
        "differences": differences(gold, systems, n_boot, seed),
        "comparison": table_all,
        "comparison_intervals": scores.report_table(
            gold, {name: predictions[name] for name in comparison["configuration"]}, n_boot=n_boot, seed=seed),
        "ablation": ablation,
        "calibration": calibration,
        "reliability": reliability(gold, calibrated),
        "mistakes": scores.mistakes(gold, default, customer),  # customer words redacted, then cut
        "agreement": agreement,
        "agreement_pairs": pairs(all_calls),
        "monitoring": monitor,
        # The main run's own file: the batches are the calls the analyst will meet, labelled as the main job does.
        "batches": batches_of_main_run(gold_all.index),
        "other_reading": beside,
        "reading_differences": disagree,
    }
    reading = label_reading(labels_path, [result_files()[key] for key in tables if key not in LABEL_FREE])
    computed = monitor.dropna(subset=["seconds_p50"])
    facts = {
        "command": plan.command(out_dir), "written": date.today().isoformat(), "full_run": plan.full,
        "model": model.name, "model_source": "embedded in the package" if model.embedded else str(model.path),
        "calls_read": len(calls), "labelled_calls": len(gold), "labelled_calls_in_file": len(gold_all),
        "sample_size": plan.sample, **reading,
        "other_reading": (label_reading(other_path, [result_files()[key] for key in SIDE_BY_SIDE])
                          if other_path is not None else None),
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
        **label_reading(labels_path, [config.METRICS_FILE]),
        "default_held_out": {task: intervals.loc[task] for task in TASKS},
        "flip_rates": _committed_table("flip_rates.csv"),
        "driver_accuracy": _driver_accuracy(reading_name(labels_path)),
        "baselines": baseline_table,
        "previous_solution_reported_not_remeasured": PREVIOUS_SOLUTION,
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
    """Write ``metrics.json``, ``evaluation/*`` (each file whole or not at all) and, for a full run into
    ``results/``, the experiment log's section; returns the files written."""
    out_dir = Path(out_dir)
    files = result_files(out_dir)
    written = [write_csv(table, files[key]) for key, table in evaluation.tables.items()]
    facts = dict(evaluation.facts)
    if facts["full_run"] and out_dir.resolve() == config.RESULTS_DIR.resolve():
        heading = f"{facts['written']} · {facts['model']}"
        note = (f"{facts['labelled_calls']} hand-labelled calls in one reading, `{facts['labels_file']}` (the probes "
                "fitted on it, every figure scored against it); macro-F1 from held-out predictions (the probe 4-fold "
                "cross-validated); seconds per call are model time, a stored output keeping the seconds of the run "
                "that computed it (under whatever load the machine had then: indicative, not a benchmark). Written "
                f"by `{COMMAND}` (`callinsights.pipelines.evaluation`).")
        written.append(write_markdown(evaluation.comparison, heading, note))
        facts["experiments_doc_heading"] = heading
    written.append(write_text(files["run"], json.dumps(facts, indent=1) + "\n"))
    written.append(write_text(files["metrics"], json.dumps(evaluation.metrics, indent=1) + "\n"))
    return written


def _every_call(plan: Plan, calls: list[Call], gold: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                labels_path: Path, store: Store) -> tuple[dict[str, pd.DataFrame], str]:
    """The default's and :data:`SCORE`'s labels of every call as the main job labels them (a full run), or their
    held-out predictions of the sample's labelled calls; and a line saying which."""
    if not plan.full:
        return ({name: predictions[name] for name in (DEFAULT, SCORE)},
                f"the {len(gold)} labelled calls of the sample (held out)")
    every = {}
    for name in (DEFAULT, SCORE):
        settings = replace(CONFIGURATIONS[name], model=plan.model, labels_file=str(labels_path))
        every[name] = label_calls(texts_for_model(calls, settings), settings, store,
                                  progress=plan.progress).predictions.set_index("file")
    return every, f"all {len(every[DEFAULT])} calls"


def _other_reading(plan: Plan, labels_path: Path, data_dir: Path, calls: list[Call], gold: pd.DataFrame,
                   default: pd.DataFrame, store: Store) -> tuple[Path | None, pd.DataFrame, pd.DataFrame]:
    """The other reading's file (None without one), both readings' shares and the default fitted on and scored
    against each (from the stored features, so no model time), and the calls they label differently."""
    other_path = other_labels_file(labels_path, data_dir)
    if other_path is None:
        return None, pd.DataFrame(columns=OTHER_READING_COLUMNS), pd.DataFrame(
            columns=["file", "task", reading_name(labels_path), "other", "model"])
    other = load_labels(other_path, known_calls={call.name for call in calls})
    # Both readings on the calls both label (all 40 for the guideline's and the client's files).
    common = gold.index.intersection(other.index)
    gold, other = gold.loc[common], other.loc[common]
    settings = replace(CONFIGURATIONS[DEFAULT], labels_file=str(other_path))
    other_default, _ = held_out_predictions(DEFAULT, settings, calls, other, store, plan.model, plan.progress)
    shares = pd.concat([reading_table(labels_path, gold, default.loc[common], plan.n_boot, plan.seed),
                        reading_table(other_path, other, other_default, plan.n_boot, plan.seed)], ignore_index=True)
    names = (reading_name(labels_path), reading_name(other_path))
    return other_path, shares, reading_differences(gold, other, names, default)


def _driver_accuracy(reading: str) -> pd.DataFrame | None:
    """``results/driver_accuracy.csv`` (``python -m callinsights experiments``) under one reading only."""
    table = _committed_table("driver_accuracy.csv")
    if table is None or "reference" not in table:
        return table
    return table[table["reference"] == reading].drop(columns="reference").reset_index(drop=True)


def _committed_table(name: str) -> pd.DataFrame | None:
    """A table ``python -m callinsights experiments`` wrote to ``results/``, or None before it has run."""
    path = config.RESULTS_DIR / name
    return pd.read_csv(path) if path.is_file() else None


# Reading what the command wrote, for notebook 04, which shows the files and computes nothing.

def result_files(results_dir: str | Path | None = None) -> dict[str, Path]:
    """Every file the command writes into a results folder (its ``--out-dir``; None for ``results/``), by key:
    ``metrics`` and those of :data:`callinsights.config.EVALUATION_FILES`, in ``evaluation/``."""
    folder = Path(results_dir) if results_dir is not None else config.RESULTS_DIR
    return {"metrics": folder / config.METRICS_FILE.name,
            **{key: folder / config.EVALUATION_DIR.name / name for key, name in config.EVALUATION_FILES.items()}}


@dataclass
class Results:
    """One evaluate run read back: ``metrics.json``, ``run.json``'s facts, and every CSV table as an attribute named
    by its key in :data:`callinsights.config.EVALUATION_FILES` (``results.comparison``)."""

    folder: Path
    metrics: dict[str, Any]
    facts: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """The folder as a reader should see it: relative to the project when inside it."""
        return shown(self.folder)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"no table {name!r}; the tables are: {', '.join(tables)}")


def read_results(results_dir: str | Path | None = None, stop_notebook: bool = True) -> Results | None:
    """Every file of an evaluate run; when any is missing, None after one line naming it and the command that writes
    it (and with ``stop_notebook``, every later notebook cell made a no-op)."""
    files = result_files(results_dir)
    missing = [path for path in files.values() if not path.is_file()]
    if missing:
        where = "" if results_dir is None else f" --out-dir {results_dir}"
        more = f" and {len(missing) - 1} more of its files" if len(missing) > 1 else ""
        print(f"{shown(missing[0])}{more} missing: run `{COMMAND}{where}` first; this notebook only shows what it "
              "writes.")
        if stop_notebook:
            skip_rest_of_notebook()
        return None
    tables = {key: pd.read_csv(path) for key, path in files.items() if path.suffix == ".csv"}
    metrics, facts = (json.loads(files[key].read_text(encoding="utf-8")) for key in ("metrics", "run"))
    return Results(folder=files["metrics"].parent, metrics=metrics, facts=facts, tables=tables)


def skip_rest_of_notebook() -> None:
    """In a notebook, empty the code of every later cell, so it runs to its end without an error output (``make
    notebooks`` goes on to the next) instead of failing at the first table it lacks; elsewhere, do nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is not None:
        get_ipython().input_transformers_post.append(lambda lines: [])


def shown(path: Path) -> str:
    """A path relative to the project when it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(config.PROJ_ROOT))
    except ValueError:
        return str(path)
