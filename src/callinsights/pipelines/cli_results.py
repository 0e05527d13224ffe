"""The commands around the labels: experiments, evaluate, insights, monitor, store, notebooks, reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callinsights import config
from callinsights.pipelines.cli_common import (EXIT_ALERT, EXIT_BAD_INPUT, EXIT_CODES, EXIT_OK, Formatter, positive,
                                               wrap)


def cmd_experiments(args: argparse.Namespace) -> int:
    from datetime import date

    import pandas as pd

    from callinsights.pipelines import label_experiments
    from callinsights.classify.runner import Settings
    from callinsights.llm.models import ModelError
    from callinsights.data.store import Store, StoreError
    from callinsights.data.transcripts import read_calls

    readings = {name: path for name, path in (("guideline", config.GUIDELINE_LABELS_FILE),
                                              ("client", config.LABELS_FILE)) if path.is_file()}
    if not readings:
        print(f"error: no label file in {config.DATA_DIR}; run `make data`", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not config.INSIGHTS_FILE.is_file():
        print(f"error: {config.INSIGHTS_FILE} is missing (its call drivers give accuracy by driver); run "
              "`python -m callinsights insights` or restore it from git", file=sys.stderr)
        return EXIT_BAD_INPUT
    drivers = pd.read_csv(config.INSIGHTS_FILE).set_index("file")["topic"]
    settings = Settings(model=args.model)
    try:
        calls, report = read_calls(args.dir)
        with Store(args.store) as store:
            results = label_experiments.run(calls, store, settings, {k: str(v) for k, v in readings.items()},
                                            drivers, repeats=args.repeats, progress=not args.quiet)
    except (ValueError, FileNotFoundError, ModelError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    heading = f"{date.today():%Y-%m-%d} · probe variants, flip rate, accuracy by driver"
    for path in label_experiments.write(results, heading):
        print(f"wrote {path}")
    print(label_experiments.markdown(results))
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from callinsights.data.store import StoreError
    from callinsights.llm.models import ModelError
    from callinsights.pipelines import evaluation

    plan = evaluation.Plan(data_dir=args.data_dir, sample=args.sample, configurations=args.configurations,
                           n_boot=args.n_boot, seed=args.seed, model=args.model, store=Path(args.store),
                           progress=not args.quiet)
    try:
        result, written = evaluation.run(plan, args.out_dir)
    except (ValueError, FileNotFoundError, ModelError, StoreError) as err:  # bad labels and paths are ValueErrors
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join([f"wrote {path}" for path in written] + [evaluation.summary(result, written)]))
    return EXIT_OK


def cmd_insights(args: argparse.Namespace) -> int:
    from callinsights.data.labels import LabelFileError
    from callinsights.data.outputs import OutputError
    from callinsights.pipelines import insights

    try:
        # The hand labels belong to the data folder read: another --data-dir brings its own label file.
        labels = args.labels or Path(args.data_dir or config.DATA_DIR) / config.LABELS_FILE.name
        written = insights.run(args.data_dir, args.predictions, labels, args.topics, args.seed, args.out_dir)
    except (FileNotFoundError, ValueError, LabelFileError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not Path(args.predictions).is_file():
        print(f"{args.predictions}: not found, so no PPI rate or finding was written; run `make analyze` first",
              file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


#: Commands whose own module parses their arguments.
FORWARDED = ("notebooks", "reports")


def cmd_forward(args: argparse.Namespace) -> int:
    """``notebooks`` and ``reports``: their modules own their options."""
    from callinsights.pipelines import notebooks, reports

    return {"notebooks": notebooks.main, "reports": reports.main}[args.command](args.rest)


def cmd_monitor(args: argparse.Namespace) -> int:
    from callinsights.pipelines.monitor import command

    outcome = command(args.batch, args.reference, args.out, allow_mismatch=args.allow_mismatch)
    return {"ok": EXIT_OK, "alert": EXIT_ALERT}.get(outcome, EXIT_BAD_INPUT)


def cmd_store(args: argparse.Namespace) -> int:
    from callinsights.pipelines.store_care import command

    done = command(args.action, args.store, args.keep, args.outputs, args.stale_hours, args.dry_run)
    return EXIT_OK if done else EXIT_BAD_INPUT


def register(sub) -> None:
    """Add these commands to the ``callinsights`` parser's sub-parsers."""
    p = sub.add_parser("experiments", help="compare the probe's variants held out, measure its topic flip rate",
                       formatter_class=Formatter,
                       description=wrap("Repeated stratified cross-validation of the probe's variants on the "
                                   "labelled calls (fitted on each label file, scored against both), the flip rate "
                                   "under topic swaps, and held-out accuracy by call driver. Writes "
                                   "results/probe_selection.csv, flip_rates.csv, driver_accuracy.csv and a "
                                   "section of docs/experiments.md; reads every model output from the store when "
                                   "it is there."))
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help="folder of calls")
    p.add_argument("--model", default=None, help="GGUF path or name (default: as for analyze)")
    p.add_argument("--repeats", type=positive, default=10, help="fold splits per variant (4 folds each)")
    p.add_argument("--store", default=str(config.STORE_FILE), help="SQLite store of outputs and runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("evaluate", help="score every method on the labelled calls; write the tables notebook 04 shows",
                       formatter_class=Formatter, epilog=EXIT_CODES,
                       description=wrap("Label the hand-labelled calls under each configuration (held out where a "
                                   "probe is fitted; stored outputs reused), score the default with bootstrap "
                                   "intervals against both label files, the baselines, the whole-call ablation, "
                                   "calibration, mistakes and the store's runs. Writes results/metrics.json, "
                                   "results/evaluation/*.csv and a section of docs/experiments.md. A sample, a "
                                   "subset or another data folder writes to --out-dir (default: a new temporary "
                                   "folder), never over results/."))
    p.add_argument("--sample", type=positive, default=None, help="score only the first N labelled calls")
    p.add_argument("--configurations", nargs="+", default=None, metavar="NAME",
                   help="configurations to compare (callinsights.pipelines.experiments.CONFIGURATIONS); default all")
    p.add_argument("--n-boot", type=positive, default=2000, help="bootstrap resamples behind every interval")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples and of the baselines' folds")
    p.add_argument("--model", default=None, help="GGUF path or name (default: as for analyze)")
    p.add_argument("--out-dir", default=None, help="folder for metrics.json and evaluation/ (default: results/)")
    p.add_argument("--data-dir", default=None, help="a folder laid out like data/ (default: the configured one)")
    p.add_argument("--store", default=str(config.STORE_FILE), help="SQLite store of outputs and runs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("insights", help="per-call features and drivers, PPI rates and findings -> results/",
                       formatter_class=Formatter,
                       description=wrap("Features and call driver of every call, the label rates by driver and team "
                                   "corrected by the hand labels (prediction-powered inference), and the "
                                   "comparisons that hold. Writes results/call_insights.csv, ppi_rates.csv and "
                                   "findings.csv; notebook 05 shows the same tables."))
    p.add_argument("--data-dir", default=None, help="a folder laid out like data/ (default: the configured one)")
    p.add_argument("--predictions", default=str(config.PREDICTIONS_FILE), help="predictions to correct")
    p.add_argument("--labels", default=None,
                   help=f"hand labels that correct them (default: {config.LABELS_FILE.name} of the data folder)")
    p.add_argument("--topics", type=positive, default=None, help="number of drivers (default: by silhouette)")
    p.add_argument("--seed", type=int, default=0, help="seed of the topic model")
    p.add_argument("--out-dir", default=None, help="write here instead of results/")
    p.set_defaults(func=cmd_insights)

    p = sub.add_parser("monitor", help="compare a new batch's predictions with the reference run (exit 3: alert)",
                       formatter_class=Formatter, epilog=f"exit codes:\n  {EXIT_OK}  no alert\n  {EXIT_ALERT}  an "
                       f"alert fired (the table is written all the same)\n  {EXIT_BAD_INPUT}  bad input: a missing "
                       "file, not a predictions table, another configuration, or --out unwritable; nothing written",
                       description=wrap("Compare a batch's predictions (the CSV of `analyze --out`) with the "
                                         "reference run's; see callinsights.evaluation.batch_monitor and "
                                         "config.MONITOR_THRESHOLDS."))
    p.add_argument("batch", help="predictions CSV of the new batch")
    p.add_argument("--reference", default=str(config.PREDICTIONS_FILE), help="predictions CSV of the reference run")
    p.add_argument("--out", default=str(config.MONITORING_FILE), help="where the table is written (CSV)")
    p.add_argument("--allow-mismatch", action="store_true", help="compare runs of different configurations")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("store", help="what the prediction store holds (info); drop old runs (prune)",
                       formatter_class=Formatter, epilog=f"exit codes:\n  {EXIT_OK}  done\n  {EXIT_BAD_INPUT}  "
                       "no store at --store, a damaged or busy store, or a bad option; nothing was removed",
                       description=wrap("info: size, outputs and runs per configuration, unfinished runs. prune: "
                                         "keep the last --keep runs of each configuration, then VACUUM."))
    p.add_argument("action", choices=["info", "prune"], help="info or prune")
    p.add_argument("--store", default=str(config.STORE_FILE), help="the SQLite store")
    p.add_argument("--keep", type=positive, default=3, help="for prune: runs kept per configuration")
    p.add_argument("--outputs", action="store_true",
                   help="for prune: also drop stored outputs that no kept run and no saved fit (artifacts/*.skops) read")
    p.add_argument("--stale-hours", type=float, default=24.0,
                   help="for prune: a run marked running that started longer ago was killed and may go")
    p.add_argument("--dry-run", action="store_true", help="for prune: say what would go; remove nothing")
    p.set_defaults(func=cmd_store)

    for name, what in (("notebooks", "run or check the numbered notebooks (`notebooks run --help`)"),
                       ("reports", "render reports/ from the executed notebooks and results (`reports all`)")):
        p = sub.add_parser(name, help=what, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=f"the {name} command's own arguments")
        p.set_defaults(func=cmd_forward)
