"""The command line, `python -m callinsights COMMAND`: every command's options, exit codes and small bodies."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd

from callinsights import config
from callinsights.classify.probe import ARTIFACT_FORMAT, ARTIFACT_KIND, REMEDY, TRUSTED_TYPES
from callinsights.data.calls import CALL_SUFFIXES
from callinsights.data.outputs import (ArtifactError, OutputError, check_output_file, load_artifact,
                                       refuse_overwriting_inputs, write_csv)
from callinsights.data.store import STALE_RUN_HOURS, Store, StoreError, StoreInfo
from callinsights.evaluation.monitoring import (ALERT, FEW, MonitorInputError, alerts, compare,
                                                configuration_differences, read_predictions)

# The exit codes, as EXIT_CODES explains them to the user.
EXIT_OK = 0
EXIT_INVALID_ANSWERS = 1
EXIT_BAD_INPUT = 2
EXIT_ALERT = 3

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  done
  {EXIT_INVALID_ANSWERS}  done, but some model answers could not be read as labels (rows with valid=False)
  {EXIT_BAD_INPUT}  bad input: a folder with no readable call, a bad option value, label file, output
     path or store; nothing was written and any previous output is unchanged
  {EXIT_ALERT}  (monitor) an alert fired on the batch
  130, 143  interrupted by SIGINT (Ctrl-C) or SIGTERM: finished calls are kept in the store and the
     run is marked interrupted; the same command resumes from them"""


def fail(message: object) -> int:
    """Say what went wrong on stderr; the exit code of bad input."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def say(line: str) -> None:
    print(line, file=sys.stderr)


def roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        label, sep, role = pair.rpartition("=")
        if not sep or role not in ("customer", "agent", "meta"):
            raise SystemExit(f"--speaker {pair!r}: write LABEL=ROLE with ROLE customer, agent or meta")
        roles[label] = role
    return roles


def positive(value: str) -> int:
    """argparse type: an integer of at least 1 (argparse names the option at fault, so the message does not)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of at least 1, or leave the option out for "
                                         "its default")
    return number


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after every option's help unless it says its own; descriptions and epilogs kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def command(sub, name: str, func, help: str, epilog: str | None = EXIT_CODES) -> argparse.ArgumentParser:
    """A sub-command's parser, running ``func(args)``; its description is ``func``'s docstring, wrapped for the
    terminal (the formatter keeps line breaks as written)."""
    description = textwrap.fill(" ".join((func.__doc__ or help).split()), width=100)  # no docstring under -OO
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=Formatter)
    parser.set_defaults(func=func)
    return parser


_LABELS_DEFAULT = (f"default: {config.GUIDELINE_LABELS_FILE.name} of the data folder, the guideline readers' majority, "
                   f"else {config.LABELS_FILE.name}")

#: The options several commands share, by name; a command may give its own help.
SHARED_OPTIONS = {
    "dir": {"nargs": "?", "default": str(config.TRANSCRIPTS_DIR),
            "help": "folder of .txt/.vtt calls, or a table of turns as parse writes it (.csv, .jsonl, .parquet)"},
    "model": {"help": "GGUF path or name (default: as for analyze)"},
    "labels": {"help": f"label file to fit on ({_LABELS_DEFAULT})"},
    "artifact": {"default": str(config.ARTIFACT_FILE),
                 "help": "the saved probe (fitted and saved here when missing or out of date, as analyze does)"},
    "store": {"default": str(config.STORE_FILE), "help": "SQLite store of model outputs"},
    "data_dir": {"help": "a folder laid out like data/ (default: the configured one)"},
    "n_boot": {"type": positive, "default": 2000, "help": "bootstrap resamples behind every interval"},
    "speaker": {"action": "append", "default": [], "metavar": "LABEL=ROLE",
                "help": "map an extra speaker label, e.g. 'Supervisor=agent' (repeatable)"},
    "quiet": {"action": "store_true", "help": "no progress bars"},
}


def add_options(parser: argparse.ArgumentParser, *names: str, **helps: str) -> None:
    """Add the shared options ``names`` (keys of :data:`SHARED_OPTIONS`), with the help ``helps`` gives any."""
    for name in names:
        options = {**SHARED_OPTIONS[name], "help": helps.get(name, SHARED_OPTIONS[name]["help"])}
        parser.add_argument(name if name == "dir" else "--" + name.replace("_", "-"), **options)


# `callinsights store info|prune`: what the prediction store holds, and keeping it to the runs worth keeping.

def open_existing(path: str | Path, read_only: bool = False) -> Store:
    """Open a store that exists (a read-only one will do for ``read_only``): a missing path is a StoreError here."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no prediction store there; `callinsights analyze` creates one (default "
                         "results/runs.sqlite): give --store the file it wrote")
    return Store(path, read_only)


def saved_fits(folder: str | Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``(model hash, method, prompt version)`` of each fit saved in ``folder`` (its ``.skops`` files), and why each
    file that could not be read was not. A fit's outputs belong to no run: a prune not told of them deletes them and
    the next refit recomputes every call."""
    fits, unreadable = [], []
    for path in sorted(Path(folder).glob("*.skops")):
        try:
            metadata = load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, TRUSTED_TYPES, REMEDY).metadata
            fits.append((str(metadata["model"]["sha256"]), "probe", str(metadata["reads"])))  # a fit is the probe's
        except ArtifactError as err:  # its message names the file
            unreadable.append(str(err))
        except OSError as err:
            unreadable.append(f"{path}: cannot be read ({err.strerror or err})")
        except (KeyError, TypeError) as err:
            unreadable.append(f"{path}: its metadata lacks the model hash or what the model read ({err!r})")
    return fits, unreadable


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def info_text(info: StoreInfo) -> str:
    """The store's contents for the terminal."""
    runs, outputs = info.runs, info.outputs
    status = ", ".join(f"{int(runs[s].sum())} {s}" for s in ("done", "failed", "running"))
    lines = [f"store: {info.path} ({_size(info.size_bytes)})",
             f"outputs: {info.n_outputs} stored model outputs"
             + (f", created {outputs['oldest'].min()} to {outputs['newest'].max()} UTC" if len(outputs) else ""),
             f"runs: {info.n_runs} ({status}) in {_count(len(runs), 'configuration')}, {info.n_run_labels} labels "
             "recorded"
             + (f", started {runs['first'].min()} to {runs['last'].max()} UTC" if len(runs) else ""), ""]
    if len(runs):
        lines += ["runs per configuration (most recent first):",
                  runs[["configuration", "runs", "done", "failed", "running", "last", "name"]]
                  .to_string(index=False), ""]
    if len(outputs):
        lines += ["outputs per configuration:", outputs.to_string(index=False), ""]
    if len(info.unfinished):
        shown = info.unfinished.assign(hours_ago=info.unfinished["hours_ago"].round(1),
                                       error=info.unfinished["error"].fillna(""))
        lines += ["runs not done (a run killed outright stays 'running'; its finished calls are in the outputs):",
                  shown[["run_id", "status", "started", "hours_ago", "error", "name"]].to_string(index=False)]
    return "\n".join(lines).rstrip()


def prune(path: str | Path, keep: int, outputs: bool = False, stale_hours: float = STALE_RUN_HOURS,
          dry_run: bool = False) -> str:
    """``store prune``: prune, then VACUUM (unless dry), and say what went (or would go). With ``outputs``, the
    outputs the saved fits read stay (:func:`saved_fits`). Raises StoreError: no store at ``path``, or it is locked."""
    fits, unreadable = saved_fits(config.ARTIFACT_FILE.parent) if outputs else ([], [])
    with open_existing(path) as store:
        before = store.path.stat().st_size
        report = store.prune(keep, outputs and not unreadable, stale_hours=stale_hours, dry_run=dry_run, fits=fits)
        vacuumed = dry_run or store.vacuum()
        after = store.path.stat().st_size
    removed = report.removed_runs
    lines = [(f"{'would remove' if dry_run else 'removed'} {_count(len(removed), 'run')} "
              f"({_count(report.removed_run_labels, 'recorded label')}) and "
              f"{_count(report.removed_outputs, 'stored output')}; {_count(report.kept_runs, 'run')} kept (the last "
              f"{keep} of each configuration)")]
    if len(removed):
        per = removed.groupby(["configuration", "name"], sort=False)["run_id"].agg(
            lambda ids: ", ".join(map(str, ids))).reset_index()
        lines += [f"runs {'that would go' if dry_run else 'removed'}, per configuration:",
                  per[["configuration", "run_id", "name"]].rename(columns={"run_id": "run ids"}).to_string(index=False)]
    lines += [f"note: {note}" for note in report.notes]
    lines += [f"note: outputs kept: the outputs a saved fit read cannot be told ({why})" for why in unreadable]
    if dry_run:
        return "\n".join([*lines, "dry run: nothing was removed"])
    return "\n".join([*lines, f"file: {_size(before)} -> {_size(after)}" + (
        "" if vacuumed else " (VACUUM skipped: another process kept the store busy; the space is reclaimed by the next "
                            "prune)")])


def cmd_store(args: argparse.Namespace) -> int:
    """info: size, outputs and runs per configuration, unfinished runs. prune: keep the last --keep runs of each
    configuration, then VACUUM."""
    try:
        if args.action == "info":
            with open_existing(args.store, read_only=True) as store:
                print(info_text(store.info()))
        else:
            print(prune(args.store, args.keep, args.outputs, args.stale_hours, args.dry_run))
    except (StoreError, ValueError) as err:
        return fail(err)
    except sqlite3.Error as err:
        return fail(f"{args.store}: the prediction store failed ({err}); nothing was removed")
    return EXIT_OK


# `callinsights monitor BATCH.csv`: a new batch's predictions against the reference run, as a table and a CSV.

def monitor(batch: str | Path, reference: str | Path, out: str | Path,
            allow_mismatch: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Compare a batch with the reference run, write the table to ``out`` (checked before anything is read) and
    return it with the warnings a reader should see. Raises MonitorInputError (a file is missing or not a predictions
    table, or the configurations differ without ``allow_mismatch``) or OutputError (``out`` cannot be written)."""
    refuse_overwriting_inputs({"--out": out}, {"BATCH": batch, "--reference": reference})
    out = check_output_file(out, "--out")
    ref = read_predictions(reference, "reference")
    new = read_predictions(batch, "batch")
    try:
        differences = configuration_differences(ref, new, str(reference), str(batch))
    except ValueError as err:
        raise MonitorInputError(str(err)) from None
    if differences and not allow_mismatch:
        raise MonitorInputError(
            f"{batch}: labelled with another configuration than the reference {reference} "
            f"({'; '.join(differences)}); the label mix and confidence move with the configuration alone. Label the "
            "batch with the reference's settings, give --reference a run made with the batch's settings, or pass "
            "--allow-mismatch to compare anyway")
    warnings = [(f"configurations differ ({'; '.join(differences)}): shifts may be the configuration's, not "
                 "the calls'")] if differences else []
    shared = len(set(new["file"].astype(str)) & set(ref["file"].astype(str)))
    if Path(batch).resolve() == Path(reference).resolve():
        warnings.append(f"{batch} is the reference itself: nothing can shift")
    elif shared:
        warnings.append(f"{shared} of the batch's {len(new)} file names are also in the reference: if they are the "
                        "same calls, the two are not independent samples and shifts are harder to see")
    table = compare(ref, new)
    few = table[table["status"] == FEW]["quantity"].tolist()
    if few:
        warnings.append(f"not enough calls (fewer than {config.MONITOR_THRESHOLDS['min_calls']:g} on a side) to "
                        f"judge: {', '.join(few)}")
    write_csv(table, out, float_format="%.6g")
    return table, warnings


def _number(value: object) -> str:
    return "" if pd.isna(value) else f"{value:.3g}"


def format_table(table: pd.DataFrame) -> str:
    """The table for the terminal: one line per quantity, alerts marked with ``!``."""
    shown = pd.DataFrame({
        "": ["!" if s == ALERT else "" for s in table["status"]],
        "quantity": table["quantity"],
        "reference": table["reference"].map(_number),
        "batch": table["batch"].map(_number),
        "change": [f"{_number(c)} ({k})" if k else "" for c, k in zip(table["change"], table["change_kind"])],
        "interval": [f"[{_number(lo)}, {_number(hi)}]" if pd.notna(lo) else ""
                     for lo, hi in zip(table["ci_low"], table["ci_high"])],
        "p": table["p_value"].map(_number),
        "threshold": table["threshold"].map(_number),
        "status": table["status"],
    })
    return shown.to_string(index=False)


def cmd_monitor(args: argparse.Namespace) -> int:
    """Compare a batch's predictions (the CSV of `analyze --out`) with the reference run's; see
    callinsights.evaluation.monitoring and config.MONITOR_THRESHOLDS."""
    try:
        table, warnings = monitor(args.batch, args.reference, args.out, args.allow_mismatch)
    except (MonitorInputError, OutputError) as err:
        return fail(err)
    except OSError as err:
        return fail(f"{args.out}: could not be written ({err}); the previous file, if any, is unchanged")
    for warning in warnings:
        say(f"warning: {warning}")
    print(format_table(table))
    fired = alerts(table)["quantity"].tolist()
    out = Path(args.out)
    print(f"{_count(len(fired), 'alert')}: {', '.join(fired)} -> {out}" if fired else f"no alert -> {out}")
    return EXIT_ALERT if fired else EXIT_OK


# The labelling commands: data, parse, analyze, fit, models.

def cmd_data(args: argparse.Namespace) -> int:
    """Link the client's call folder and label file into the project's data folder (symbolic links; nothing is
    copied or committed)."""
    from callinsights.data.outputs import link_client_data

    for line in link_client_data(Path(args.source), Path(args.target)):
        print(line)
    return EXIT_OK


def _read_calls(source: str, speakers: dict[str, str]) -> list:
    """The calls of a folder or turn table, the reading's report on stderr; a ValueError when none could be read."""
    from callinsights.data.calls import read_source

    calls, report = read_source(source, speakers)
    say(report.summary())
    if not report.files_read:
        raise ValueError(f"{source}: no call file could be read (see the reasons above); nothing was written and any "
                         "previous output is left as it was")
    return calls


def cmd_parse(args: argparse.Namespace) -> int:
    """Split every call under a folder (subfolders too; .txt and WebVTT .vtt in any case; UTF-8, or UTF-16 with a
    byte-order mark), or of a turn table, into speaker turns and write file,turn,speaker,role,text. The file is meant
    for reading, so the text is redacted unless --no-redact is given."""
    from callinsights.data.call import TURN_COLUMNS, turns_frame
    from callinsights.text.redact import redact

    try:
        speakers = roles(args.speaker)
        refuse_overwriting_inputs({"--out": args.out}, {"DIR": args.dir}, CALL_SUFFIXES)
        check_output_file(args.out)
        frame = turns_frame(_read_calls(args.dir, speakers))[TURN_COLUMNS]
    except (FileNotFoundError, ValueError) as err:  # an output path or a turn table that cannot be used
        return fail(err)
    if args.redact:
        frame["text"] = frame["text"].map(redact)
    try:
        write_csv(frame, args.out)
    except OSError as err:
        return fail(f"{args.out}: could not be written ({err}); the previous file, if any, is unchanged")
    how = "redacted" if args.redact else "NOT redacted (--no-redact)"
    print(f"{len(frame)} turns ({int((frame['role'] == 'customer').sum())} customer), {how}, written to {args.out}")
    return EXIT_OK


def _refuse_paths_given_twice(args: argparse.Namespace, probe: bool) -> None:
    """analyze and evidence: what they write (--out, --store, and the probe's --artifact, saved when it is fitted)
    must be none of what they read (the calls, the store, the saved fit, the label file the probe is fitted on)."""
    labels = getattr(args, "labels", None)
    label_file = {("--labels" if labels else "the label file"): labels or config.training_labels_file()}
    artifact = args.artifact if probe else None
    refuse_overwriting_inputs({"--out": args.out, "--store": args.store, "--artifact": artifact},
                              {"DIR": args.dir, "--store": args.store, "--artifact": artifact,
                               **(label_file if probe else {})}, CALL_SUFFIXES)


def cmd_analyze(args: argparse.Namespace) -> int:
    """Label every call under a folder (or in a turn table) with a local language model and write one row per call.
    The default method, probe, labels with the probe saved by `callinsights fit` (--artifact), so any folder can be
    analysed; labelled calls it was fitted on get held-out answers. When there is no saved probe, or the model, the
    features or the label file changed since it was fitted, analyze says so and fits it first: that needs the label
    file (--labels, linked by `make data`) and the labelled calls in the data folder. Without labels use --method
    score. The output path, the store, the saved probe and the labels are checked before any model time is spent. A
    call longer than the model's context is read from its last turns that fit (column windowed)."""
    from callinsights.classify.methods import prepare
    from callinsights.classify.runner import RayCompute, label_calls, window_note
    from callinsights.classify.settings import Settings, texts_for_model
    from callinsights.data.outputs import READING_RECORD_SUFFIX, write_label_reading
    from callinsights.pipelines import fit
    from callinsights.schema import PREDICTION_COLUMNS

    settings = Settings(model=args.model, engine=args.engine, method=args.method, prompt_version=args.prompt,
                        calibration=args.calibration, side=args.side, redact_for_model=args.redact_for_model,
                        labels_file=args.labels, base_url=args.base_url, api_key_env=args.api_key_env,
                        concurrency=args.concurrency, timeout=args.timeout, connect_timeout=args.connect_timeout,
                        sentiment_blocks=args.sentiment_blocks, n_ctx=args.n_ctx or Settings.n_ctx)
    out = Path(args.out)
    try:
        # Everything that can be checked is checked before the first model call.
        _refuse_paths_given_twice(args, probe=args.method == "probe")
        setup = prepare(settings)  # checked and the model resolved, once: a missing model is named first
        settings = setup.settings
        if args.backend == "local" and (args.address or args.workers != 1):
            raise ValueError("--address and --workers are for --backend ray")
        speakers = roles(args.speaker)
        check_output_file(out, "--out")
        check_output_file(args.store, "--store")
        Store(args.store).close()  # damaged or read-only: said now, not after the model has run
        texts = texts_for_model(_read_calls(args.dir, speakers), settings)
        if not texts:
            raise ValueError(f"{args.dir}: no call has words to read on the {settings.side} side; nothing written")
        if args.limit is not None:
            texts = dict(list(texts.items())[: args.limit])
        # The probe's saved fit is loaded and compared now; a fit it needs is checked now and made in the store.
        planned = fit.plan(setup, args.artifact) if settings.method == "probe" else None
        ray = RayCompute(settings, address=args.address, workers=args.workers) if args.backend == "ray" else None
        with Store(args.store) as store:
            fitted = fit.fitted_probe(planned, store, not args.quiet, say) if planned else None
            result = label_calls(texts, setup, store, progress=not args.quiet, compute_missing=ray, announce=True,
                                 fitted=fitted)
    except (*fit.ERRORS, RuntimeError) as err:
        return fail(err)
    except sqlite3.Error as err:
        return fail(f"{args.store}: the prediction store failed ({err}); move it aside and run again")
    predictions = result.predictions[PREDICTION_COLUMNS]
    try:
        write_csv(predictions, out, float_format="%.4f")
        if fitted is not None:  # the probe's labels come from its fit's reading of the hand labels: say which
            fitted_on = fitted.metadata["labels"]
            write_label_reading(out.with_name(out.stem + READING_RECORD_SUFFIX), fitted_on["file"], [out],
                                fitted_on["sha256"])
    except OSError as err:
        return fail(f"{out}: could not be written ({err}); the labels are in the store {args.store} (run "
                    f"{result.run_id}): run again with another --out to write them without model time")
    invalid = int((~predictions["valid"]).sum())
    print(f"{len(predictions)} calls labelled ({result.n_cached} from the store, {result.n_computed} computed, "
          f"{invalid} invalid) in {result.seconds:.1f} s -> {out}  [run {result.run_id} in {args.store}]")
    for task in ("sentiment", "outcome"):
        counts = predictions[task].fillna("invalid").value_counts()
        print(f"  {task}: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    print(window_note(predictions, settings.n_ctx), end="")
    return EXIT_OK if invalid == 0 else EXIT_INVALID_ANSWERS


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit the probe on the label file and the labelled calls of a folder (its other calls are used, without labels,
    to standardise the features) and save it as a skops file with what it was fitted on, the package versions and its
    held-out (cross-validated) macro-F1. `callinsights analyze` then labels any folder with it. Model outputs are read
    from the store when it has them."""
    from callinsights.pipelines import fit

    try:
        print(fit.command(args.dir, args.labels, args.model, args.artifact, args.store, args.show, not args.quiet,
                          say))
    except fit.ERRORS as err:
        return fail(err)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    """List the known models and where each is on disk, or pull one with gpt4all (needs internet; nothing is ever
    downloaded on its own)."""
    from callinsights.llm.models import KNOWN_MODELS, ModelError, pull_model, resolve_model

    try:
        if args.action == "pull":
            print(f"{args.name}: {pull_model(args.name)}")
            return EXIT_OK
        for name, file_name in KNOWN_MODELS.items():
            try:
                where = resolve_model(name).path
            except ModelError:
                where = f"not on disk (python -m callinsights models pull {name})"
            print(f"{name:14s} {file_name:36s} {where}")
        print(f"default: {resolve_model(None).name}")
    except ModelError as err:
        return fail(err)
    return EXIT_OK


# The commands around the labels: evaluate, evidence, insights, monitor, store, notebooks, reports.

def cmd_evaluate(args: argparse.Namespace) -> int:
    """Label the hand-labelled calls under each configuration (held out where a probe is fitted; stored outputs
    reused), score the default with bootstrap intervals, the baselines, the whole-call ablation, calibration, mistakes
    and the store's runs, all against one reading of the hand labels (--labels; each file records it). The other
    reading is shown once beside it: evaluation/other_reading.csv and reading_differences.csv. Writes
    results/metrics.json, results/evaluation/*.csv and a section of docs/experiments.md. A sample, a subset, another
    data folder or another label file writes to --out-dir (default: a new temporary folder), never over results/."""
    from callinsights.pipelines import evaluation, fit

    plan = evaluation.Plan(data_dir=args.data_dir, labels=args.labels, sample=args.sample,
                           configurations=args.configurations, n_boot=args.n_boot, seed=args.seed,
                           model=args.model, store=Path(args.store), progress=not args.quiet)
    try:
        labels = args.labels or config.training_labels_file(args.data_dir)
        written_there = evaluation.result_files(args.out_dir).values() if args.out_dir else []
        refuse_overwriting_inputs({"--store": args.store, **{f"--out-dir ({p.name})": p for p in written_there}},
                                  {"--labels": labels, "--store": args.store})
        result, written = evaluation.run(plan, args.out_dir)
    except fit.ERRORS as err:  # bad labels and paths are ValueErrors
        return fail(err)
    print("\n".join([f"wrote {path}" for path in written] + [evaluation.summary(result, written)]))
    return EXIT_OK


def cmd_evidence(args: argparse.Namespace) -> int:
    """Label every call of a folder as analyze does (the saved probe, the stored model outputs; no run is recorded)
    and measure its evidence quotes as the ERASER benchmark measures a rationale: comprehensiveness (how much the
    label's probability drops when the quoted turn is left out) and sufficiency (the probability from the whole call
    minus that from the quoted turn alone), each beside a random turn of the same call, with bootstrap intervals over
    calls."""
    from callinsights.classify.probe import evidence_faithfulness, label_with_probe
    from callinsights.classify.runner import Classifier
    from callinsights.classify.settings import Settings, texts_for_model
    from callinsights.evaluation.metrics import faithfulness_table
    from callinsights.pipelines import fit

    out = Path(args.out)
    try:
        _refuse_paths_given_twice(args, probe=True)
        check_output_file(out, "--out")
        check_output_file(args.store, "--store")
        calls = _read_calls(args.dir, {})
        # The calls labelled as analyze labels them (the saved probe, stored outputs), without recording a run.
        planned = fit.plan(Settings(model=args.model), args.artifact)
        with Store(args.store) as store:
            fitted = fit.fitted_probe(planned, store, not args.quiet, say)
            with Classifier(planned.setup, store, read_labels=False) as classifier:
                records = classifier.outputs(texts_for_model(calls, planned.setup.settings), progress=not args.quiet)
                texts = classifier.texts_read
    except (*fit.ERRORS, sqlite3.Error) as err:
        return fail(err)
    outputs = {cid: record["output"] for cid, record, _ in records}
    frame = pd.DataFrame({"file": list(outputs), "raw": list(outputs.values())})
    label_with_probe(frame, texts, fitted)
    table = faithfulness_table(evidence_faithfulness(outputs, texts, frame.set_index("file"), fitted),
                               n_boot=args.n_boot, seed=args.seed)
    write_csv(table, out, float_format="%.4f")
    for row in table.itertuples():
        print(f"{row.task} {row.measure}: evidence {row.evidence:.3f}, a random turn of the call {row.random_turn:.3f}"
              f" (difference {row.difference:.3f}, 95% interval {row.difference_low:.3f} to {row.difference_high:.3f};"
              f" {row.quoted} of {row.calls} calls quote a turn)")
    print(f"wrote {out}")
    return EXIT_OK


def cmd_insights(args: argparse.Namespace) -> int:
    """Features, call events, pending work and driver of every call; the label rates by driver and team corrected by
    the hand labels (prediction-powered inference), each driver's workload, the work follow-up calls leave pending,
    the comparisons that hold and the findings worth acting on. Writes results/call_insights.csv, ppi_rates.csv,
    drivers.csv, pending_work.csv, comparisons.csv, findings.csv and insights.reading.json (the label file read)."""
    from callinsights.pipelines import insights

    try:
        # The hand labels belong to the data folder read: another --data-dir brings its own label files.
        labels = args.labels or config.training_labels_file(args.data_dir)
        files = insights.InsightFiles.under(args.out_dir) if args.out_dir else insights.InsightFiles()
        refuse_overwriting_inputs({f"--out-dir ({p.name})": p for p in [*files.all(), files.reading]},
                                  {"--predictions": args.predictions, "--labels": labels})
        written = insights.run(args.data_dir, args.predictions, labels, args.topics, args.seed, args.out_dir)
    except (FileNotFoundError, ValueError) as err:  # label files and output paths raise ValueErrors
        return fail(err)
    if not Path(args.predictions).is_file():
        say(f"{args.predictions}: not found, so no PPI rate or finding was written; run `make analyze` first")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


#: Commands whose own module parses their arguments.
FORWARDED = ("notebooks", "reports")


def cmd_forward(args: argparse.Namespace) -> int:
    from callinsights.pipelines import notebooks

    return {"notebooks": notebooks.main, "reports": notebooks.reports_main}[args.command](args.rest)


# The command line: python -m callinsights COMMAND ... (``--help`` lists the commands).

def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="callinsights", epilog=EXIT_CODES, formatter_class=Formatter,
        description="callinsights: sentiment and outcome of customer-support calls, read from the customer's side by "
                    "a local\nlanguage model. Run 'python -m callinsights COMMAND --help' for a command's options and "
                    "defaults.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = command(sub, "data", cmd_data, "link the client's calls and labels into data/", epilog=None)
    p.add_argument("--source", default=str(config.SHARED_DATA_DIR),
                   help="folder holding the client's transcripts_v3/ and test_actual_label.csv")
    p.add_argument("--target", default=str(config.DATA_DIR),
                   help="the project's data folder (CALLINSIGHTS_DATA_DIR moves it)")

    p = command(sub, "parse", cmd_parse, "split calls into speaker turns (CSV), redacted")
    add_options(p, "dir")
    p.add_argument("--out", default="turns.csv", help="CSV to write: file,turn,speaker,role,text")
    p.add_argument("--redact", action=argparse.BooleanOptionalAction, default=True,
                   help="replace names, IDs, SSNs, card numbers, phones, e-mails, addresses and dates of birth "
                        "with placeholders such as [NAME]")
    add_options(p, "speaker")

    p = command(sub, "analyze", cmd_analyze, "label every call's sentiment and outcome with a local LLM")
    add_options(p, "dir")
    p.add_argument("--out", default=str(config.PREDICTIONS_FILE),
                   help="predictions CSV to write (replaced only when the run succeeds)")
    add_options(p, "model", model="GGUF path or name (llama-3.2-1b, smollm2-135m); default: Llama 3.2 1B if on disk, "
                                  "else the embedded SmolLM2-135M")
    p.add_argument("--engine", default="llama.cpp", choices=["llama.cpp", "gpt4all", "openai"],
                   help="openai: an OpenAI-compatible server at --base-url (llama.cpp's, vLLM, Ollama, ...)")
    p.add_argument("--base-url", help="for --engine openai: the API root, e.g. http://HOST:8000/v1")
    p.add_argument("--api-key-env", metavar="VAR", help="for --engine openai: environment variable holding the API key")
    p.add_argument("--concurrency", type=int, default=1, help="for --engine openai: most requests in flight")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="for --engine openai: seconds one request may take, retries included (default 120)")
    p.add_argument("--connect-timeout", type=float, metavar="SECONDS",
                   help="for --engine openai: seconds to make a connection (default 5)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="ray: spread the calls over a Ray cluster's actors (pip install -e .[scale])")
    p.add_argument("--address", help="for --backend ray: the cluster (default: start a local one)")
    p.add_argument("--workers", type=int, default=1, help="for --backend ray: actors, each loading the engine once")
    p.add_argument("--method", default="probe", choices=["score", "generate", "probe"],
                   help="probe: linear read-out of the model's hidden states fitted on the labelled calls (needs "
                        "--labels); score: calibrated answer log-probabilities (no labels); generate: constrained "
                        "answer (the only one gpt4all runs)")
    add_options(p, "labels", "artifact", labels=f"for --method probe: label file to fit on ({_LABELS_DEFAULT})",
                artifact="for --method probe: the saved probe (fitted and saved here when missing or out of date)")
    p.add_argument("--calibration", default="reference", choices=["reference", "batch", "none"],
                   help="for --method score: subtract each answer's mean log-probability over fixed reference "
                        "calls (reference), over this run's calls (batch: labels then depend on the batch), or "
                        "not at all (none)")
    p.add_argument("--prompt", default="v1", help="prompt version (callinsights.llm.prompts.PROMPTS)")
    p.add_argument("--side", default="customer", choices=["customer", "call"],
                   help="what the model reads: the customer's turns, or the whole call (an ablation)")
    p.add_argument("--sentiment-blocks", type=int, metavar="N",
                   help="for --method probe on llama.cpp: read sentiment after the model's first N blocks (in the "
                        f"same pass); 0 reads it from the last layer (default: {config.SENTIMENT_BLOCKS} for a model "
                        "with more blocks, as the embedded one has 30; the last layer for any other)")
    p.add_argument("--n-ctx", type=positive, metavar="TOKENS",
                   help="the model's context in tokens (default: 4096); a longer call is labelled from the end of it "
                        "that fits")
    p.add_argument("--redact-for-model", action="store_true",
                   help="the model reads redacted text (outputs shown to readers are redacted either way)")
    add_options(p, "store", store="SQLite store of model outputs and runs (re-runs and killed runs resume from it)")
    p.add_argument("--limit", type=positive, help="label only the first N calls (N >= 1); default all")
    add_options(p, "speaker", "quiet")

    p = command(sub, "fit", cmd_fit, "fit the default method (the probe) on the labelled calls and save it")
    add_options(p, "dir", "labels", "model", "artifact", "store", dir="folder holding the labelled calls",
                artifact="where to save the fitted probe")
    p.add_argument("--show", action="store_true", help="print the saved probe's metadata and fit nothing")
    add_options(p, "quiet")

    p = command(sub, "models", cmd_models, "list known models, or pull one (needs internet; never automatic)",
                epilog=None)
    p.add_argument("action", nargs="?", default="list", choices=["list", "pull"],
                   help="list: show the known models and which is used by default; pull: download NAME (default: list)")
    p.add_argument("name", nargs="?", default="llama-3.2-1b", help="for pull: the model to download")

    p = command(sub, "evaluate", cmd_evaluate, "score every method on the labelled calls; write the tables notebook 04 "
                                               "shows")
    p.add_argument("--sample", type=positive, help="score only the first N labelled calls")
    p.add_argument("--configurations", nargs="+", metavar="NAME",
                   help="configurations to compare (callinsights.pipelines.evaluation.CONFIGURATIONS); default all")
    add_options(p, "n_boot")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples and of the baselines' folds")
    add_options(p, "model")
    p.add_argument("--out-dir", help="folder for metrics.json and evaluation/ (default: results/)")
    add_options(p, "data_dir", "labels", "store", "quiet", store="SQLite store of model outputs and runs",
                labels=f"the reading of the hand labels to fit on and score against ({_LABELS_DEFAULT})")

    p = command(sub, "evidence", cmd_evidence, "how faithful each call's evidence quotes are to the probe -> results/")
    add_options(p, "dir")
    p.add_argument("--out", default=str(config.EVIDENCE_FILE), help="CSV to write")
    add_options(p, "model", "artifact", "n_boot")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples")
    add_options(p, "store", "quiet")

    p = command(sub, "insights", cmd_insights, "per-call features and drivers, PPI rates and findings -> results/",
                epilog=None)
    add_options(p, "data_dir")
    p.add_argument("--predictions", default=str(config.PREDICTIONS_FILE), help="predictions to correct")
    add_options(p, "labels", labels=f"the reading of the hand labels that corrects them ({_LABELS_DEFAULT}); the fit "
                                    "of --predictions should use the same")
    p.add_argument("--topics", type=positive, help="number of drivers (default: by silhouette)")
    p.add_argument("--seed", type=int, default=0, help="seed of the topic model")
    p.add_argument("--out-dir", help="write here instead of results/")

    p = command(sub, "monitor", cmd_monitor, "compare a new batch's predictions with the reference run (exit 3: alert)",
                epilog=f"exit codes:\n  {EXIT_OK}  no alert\n  {EXIT_ALERT}  an alert fired (the table is written all "
                       f"the same)\n  {EXIT_BAD_INPUT}  bad input: a missing file, not a predictions table, another "
                       "configuration, or --out unwritable; nothing written")
    p.add_argument("batch", help="predictions CSV of the new batch")
    p.add_argument("--reference", default=str(config.PREDICTIONS_FILE), help="predictions CSV of the reference run")
    p.add_argument("--out", default=str(config.MONITORING_FILE), help="where the table is written (CSV)")
    p.add_argument("--allow-mismatch", action="store_true", help="compare runs of different configurations")

    p = command(sub, "store", cmd_store, "what the prediction store holds (info); drop old runs (prune)",
                epilog=f"exit codes:\n  {EXIT_OK}  done\n  {EXIT_BAD_INPUT}  no store at --store, a damaged or busy "
                       "store, or a bad option; nothing was removed")
    p.add_argument("action", choices=["info", "prune"], help="info or prune")
    add_options(p, "store", store="SQLite store of model outputs and runs")
    p.add_argument("--keep", type=positive, default=3, help="for prune: runs kept per configuration")
    p.add_argument("--outputs", action="store_true",
                   help="for prune: also drop stored outputs that no kept run and no saved fit (artifacts/*.skops) "
                        "read")
    p.add_argument("--stale-hours", type=float, default=STALE_RUN_HOURS,
                   help="for prune: a run marked running that started longer ago was killed and may go")
    p.add_argument("--dry-run", action="store_true", help="for prune: say what would go; remove nothing")

    for name, what in (("notebooks", "run the numbered notebooks (`notebooks run --help`)"),
                       ("reports", "render reports/ from the executed notebooks and results (`reports all`)")):
        p = sub.add_parser(name, help=what, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=f"the {name} command's own arguments")
        p.set_defaults(func=cmd_forward)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :data:`EXIT_CODES`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in FORWARDED:  # their modules own their options, --help included
        args.rest = [*extra, *args.rest]  # REMAINDER takes all from the first word; options before it are extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from callinsights.classify.runner import Interrupted

    def terminated(signum, _frame):
        raise Interrupted(signum)

    # SIGTERM stops a command as Ctrl-C does, so a run is marked interrupted instead of left "running".
    main_thread = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    previous = signal.signal(signal.SIGTERM, terminated) if main_thread else None
    try:
        return args.func(args)
    except (Interrupted, KeyboardInterrupt) as err:
        stopped = err if isinstance(err, Interrupted) else Interrupted(signal.SIGINT)
        run = f" (run {stopped.run_id} marked interrupted)" if stopped.run_id is not None else ""
        kept = (f": every call finished before it is kept in {args.store}{run}; run the same command again to "
                "resume from them") if getattr(args, "store", None) else ""
        say(f"interrupted by {stopped}{kept}")
        return stopped.exit_code
    except SystemExit as stop:  # --speaker's or notebooks -p's message
        if isinstance(stop.code, str):
            return fail(stop.code)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
