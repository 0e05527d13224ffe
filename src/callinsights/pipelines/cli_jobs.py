"""The labelling commands: data, parse, analyze, fit, models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callinsights import config
from callinsights.pipelines.cli_common import (EXIT_BAD_INPUT, EXIT_CODES, EXIT_INVALID_ANSWERS, EXIT_OK, Formatter,
                                               positive, roles, wrap)


def cmd_data(args: argparse.Namespace) -> int:
    from callinsights.data.client import link_client_data

    for line in link_client_data(Path(args.source), Path(args.target)):
        print(line)
    return 0


def _read_calls_or_explain(folder: str, roles: dict[str, str]):
    """Read the calls (folder or turn table: a bad table raises a ValueError); None, saying why, when none is read."""
    from callinsights.data.calls import read_source

    calls, report = read_source(folder, roles)
    print(report.summary(), file=sys.stderr)
    if not report.files_read:
        print(f"error: {folder}: no call file could be read (see the reasons above); nothing was written and any "
              "previous output is left as it was", file=sys.stderr)
        return None
    return calls, report


def cmd_parse(args: argparse.Namespace) -> int:
    from callinsights.data.outputs import check_output_file, write_csv
    from callinsights.text.redact import redact
    from callinsights.data.call import TURN_COLUMNS, turns_frame

    try:
        speakers = roles(args.speaker)
        check_output_file(args.out)
        read = _read_calls_or_explain(args.dir, speakers)
    except (FileNotFoundError, ValueError) as err:  # an output path or a turn table that cannot be used
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if read is None:
        return EXIT_BAD_INPUT
    frame = turns_frame(read[0])[TURN_COLUMNS]
    if args.redact:
        frame["text"] = frame["text"].map(redact)
    try:
        write_csv(frame, args.out)
    except OSError as err:
        print(f"error: {args.out}: could not be written ({err}); the previous file, if any, is unchanged",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    customer = int((frame["role"] == "customer").sum())
    how = "redacted" if args.redact else "NOT redacted (--no-redact)"
    print(f"{len(frame)} turns ({customer} customer), {how}, written to {args.out}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    import sqlite3

    from callinsights.classify.runner import label_calls
    from callinsights.classify.settings import Settings, texts_for_model
    from callinsights.classify.window import window_note
    from callinsights.schema import PREDICTION_COLUMNS
    from callinsights.llm.models import ModelError, resolve_model
    from callinsights.pipelines import fit
    from callinsights.data.outputs import check_output_file, write_csv
    from callinsights.data.store import Store, StoreError

    settings = Settings(model=args.model, engine=args.engine, method=args.method, prompt_version=args.prompt,
                        calibration=args.calibration, side=args.side, redact_for_model=args.redact_for_model,
                        labels_file=args.labels, base_url=args.base_url, api_key_env=args.api_key_env,
                        concurrency=args.concurrency, sentiment_blocks=args.sentiment_blocks)
    out = Path(args.out)
    try:
        # Everything that can be checked is checked before the first model call: settings, output path, store,
        # calls, labels.
        settings.check()
        if args.backend == "local" and (args.address or args.workers != 1):
            raise ValueError("--address and --workers are for --backend ray")
        resolve_model(settings.model)  # a missing or broken model file is named before anything else is read
        speakers = roles(args.speaker)
        check_output_file(out, "--out")
        check_output_file(args.store, "--store")
        Store(args.store).close()  # damaged or read-only: said now, not after the model has run
        read = _read_calls_or_explain(args.dir, speakers)
        if read is None:
            return EXIT_BAD_INPUT
        texts = texts_for_model(read[0], settings)
        if not texts:
            raise ValueError(f"{args.dir}: no call has words to read on the {settings.side} side; nothing written")
        if args.limit is not None:
            texts = dict(list(texts.items())[: args.limit])
        # The probe's saved fit is loaded and compared now; a fit it needs is checked now and made in the store.
        planned = fit.plan(settings, args.artifact) if settings.method == "probe" else None
        compute_missing = None
        if args.backend == "ray":
            from callinsights.classify.ray_backend import RayCompute

            compute_missing = RayCompute(settings, address=args.address, workers=args.workers)
        with Store(args.store) as store:
            fitted = fit.fitted_probe(planned, store, not args.quiet, _say) if planned else None
            result = label_calls(texts, settings, store, progress=not args.quiet, compute_missing=compute_missing,
                                 announce=True, fitted=fitted)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, ModelError, StoreError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except sqlite3.Error as err:
        print(f"error: {args.store}: the prediction store failed ({err}); move it aside and run again",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    predictions = result.predictions[PREDICTION_COLUMNS]
    try:
        write_csv(predictions, out, float_format="%.4f")
    except OSError as err:
        print(f"error: {out}: could not be written ({err}); the labels are in the store {args.store} (run "
              f"{result.run_id}): run again with another --out to write them without model time", file=sys.stderr)
        return EXIT_BAD_INPUT
    invalid = int((~predictions["valid"]).sum())
    print(
        f"{len(predictions)} calls labelled ({result.n_cached} from the store, {result.n_computed} computed, "
        f"{invalid} invalid) in {result.seconds:.1f} s -> {out}  [run {result.run_id} in {args.store}]"
    )
    for task in ("sentiment", "outcome"):
        counts = predictions[task].fillna("invalid").value_counts()
        print(f"  {task}: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    print(window_note(predictions, settings.n_ctx), end="")
    return EXIT_OK if invalid == 0 else EXIT_INVALID_ANSWERS


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_fit(args: argparse.Namespace) -> int:
    from callinsights.pipelines import fit

    try:
        print(fit.command(args.dir, args.labels, args.model, args.artifact, args.store, args.show, not args.quiet,
                          _say))
    except fit.ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from callinsights.llm.models import KNOWN_MODELS, ModelError, pull_model, resolve_model

    try:
        if args.action == "pull":
            print(f"{args.name}: {pull_model(args.name)}")
            return EXIT_OK
        for name, file_name in KNOWN_MODELS.items():
            try:
                where = resolve_model(name).path
            except ModelError:
                where = "not on disk (python -m callinsights models pull %s)" % name
            print(f"{name:14s} {file_name:36s} {where}")
        print(f"default: {resolve_model(None).name}")
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


_SOURCE_HELP = "folder of .txt/.vtt calls, or a table of turns as parse writes it (.csv, .jsonl, .parquet)"


def register(sub) -> None:
    """Add these commands to the ``callinsights`` parser's sub-parsers."""
    p = sub.add_parser("data", help="link the client's calls and labels into data/", formatter_class=Formatter,
                       description=wrap("Link the client's call folder and label file into the project's data folder "
                                   "(symbolic links; nothing is copied or committed)."))
    p.add_argument("--source", default=str(config.SHARED_DATA_DIR),
                   help="folder holding the client's transcripts_v3/ and test_actual_label.csv")
    p.add_argument("--target", default=str(config.DATA_DIR),
                   help="the project's data folder (CALLINSIGHTS_DATA_DIR moves it)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("parse", help="split calls into speaker turns (CSV), redacted", formatter_class=Formatter,
                       epilog=EXIT_CODES,
                       description=wrap("Split every call under a folder (subfolders too; .txt and WebVTT .vtt in "
                                   "any case; UTF-8, or UTF-16 with a byte-order mark), or of a turn table, into "
                                   "speaker turns and write file,turn,speaker,role,text. The file is meant for "
                                   "reading, so the text is redacted unless --no-redact is given."))
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help=_SOURCE_HELP)
    p.add_argument("--out", default="turns.csv", help="CSV to write: file,turn,speaker,role,text")
    p.add_argument("--redact", action=argparse.BooleanOptionalAction, default=True,
                   help="replace names, IDs, SSNs, card numbers, phones, e-mails, addresses and dates of birth "
                        "with placeholders such as [NAME]")
    p.add_argument("--speaker", action="append", default=[], metavar="LABEL=ROLE",
                   help="map an extra speaker label, e.g. 'Supervisor=agent' (repeatable)")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser(
        "analyze", help="label every call's sentiment and outcome with a local LLM", formatter_class=Formatter,
        epilog=EXIT_CODES,
        description=wrap("Label every call under a folder (or in a turn table) with a local language model and "
                    "write one row per call. The default method, probe, labels with the probe saved by "
                    "`callinsights fit` (--artifact), so any folder can be analysed; labelled calls it was fitted on "
                    "get held-out answers. When there is no saved probe, or the model, the features or the label "
                    "file changed since it was fitted, analyze says so and fits it first: that needs the label file "
                    "(--labels, linked by `make data`) and the labelled calls in the data folder. Without labels use "
                    "--method score. The output path, the store, the saved probe and the labels are checked before "
                    "any model time is spent. A call longer than the model's context is read from its last turns "
                    "that fit (column windowed)."))
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help=_SOURCE_HELP)
    p.add_argument("--out", default=str(config.PREDICTIONS_FILE),
                   help="predictions CSV to write (replaced only when the run succeeds)")
    p.add_argument("--model", default=None,
                   help="GGUF path or name (llama-3.2-1b, smollm2-135m); default: Llama 3.2 1B if on disk, "
                        "else the embedded SmolLM2-135M")
    p.add_argument("--engine", default="llama.cpp", choices=["llama.cpp", "gpt4all", "openai"],
                   help="openai: an OpenAI-compatible server at --base-url (llama.cpp's, vLLM, Ollama, ...)")
    p.add_argument("--base-url", default=None, help="for --engine openai: the API root, e.g. http://HOST:8000/v1")
    p.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="for --engine openai: environment variable holding the API key")
    p.add_argument("--concurrency", type=int, default=1, help="for --engine openai: most requests in flight")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="ray: spread the calls over a Ray cluster's actors (pip install -e .[scale])")
    p.add_argument("--address", default=None, help="for --backend ray: the cluster (default: start a local one)")
    p.add_argument("--workers", type=int, default=1, help="for --backend ray: actors, each loading the engine once")
    p.add_argument("--method", default="probe", choices=["score", "generate", "probe"],
                   help="probe: linear read-out of the model's hidden states fitted on the labelled calls (needs "
                        "--labels); score: calibrated answer log-probabilities (no labels); generate: constrained "
                        "answer (the only one gpt4all runs)")
    p.add_argument("--labels", default=None,
                   help=f"for --method probe: label file to fit on (default: {config.GUIDELINE_LABELS_FILE.name}, the "
                        f"guideline readers' majority, when {config.DATA_DIR} has it, else "
                        f"{config.LABELS_FILE.name})")
    p.add_argument("--artifact", default=str(config.ARTIFACT_FILE),
                   help="for --method probe: the saved probe (fitted and saved here when missing or out of date)")
    p.add_argument("--calibration", default="reference", choices=["reference", "batch", "none"],
                   help="for --method score: subtract each answer's mean log-probability over fixed reference "
                        "calls (reference), over this run's calls (batch: labels then depend on the batch), or "
                        "not at all (none)")
    p.add_argument("--prompt", default="v1", help="prompt version (callinsights.llm.prompts.PROMPTS)")
    p.add_argument("--side", default="customer", choices=["customer", "call"],
                   help="what the model reads: the customer's turns, or the whole call (an ablation)")
    p.add_argument("--sentiment-blocks", type=int, default=None, metavar="N",
                   help="for --method probe on llama.cpp: read sentiment after the model's first N blocks (in the "
                        f"same pass); 0 reads it from the last layer (default: {config.SENTIMENT_BLOCKS} for a model "
                        "with more blocks, as the embedded one has 30; the last layer for any other)")
    p.add_argument("--redact-for-model", action="store_true",
                   help="the model reads redacted text (outputs shown to readers are redacted either way)")
    p.add_argument("--store", default=str(config.STORE_FILE),
                   help="SQLite store of model outputs and runs (re-runs and killed runs resume from it)")
    p.add_argument("--limit", type=positive, default=None, help="label only the first N calls (N >= 1); default all")
    p.add_argument("--speaker", action="append", default=[], metavar="LABEL=ROLE",
                   help="map an extra speaker label, e.g. 'Supervisor=agent' (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("fit", help="fit the default method (the probe) on the labelled calls and save it",
                       formatter_class=Formatter, epilog=EXIT_CODES,
                       description=wrap("Fit the probe on the label file and the labelled calls of a folder (its "
                                   "other calls are used, without labels, to standardise the features) and save "
                                   "it as a skops file with what it was fitted on, the package versions and its "
                                   "held-out (cross-validated) macro-F1. `callinsights analyze` then labels any "
                                   "folder with it. Model outputs are read from the store when it has them."))
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR),
                   help="folder holding the labelled calls")
    p.add_argument("--labels", default=None,
                   help=f"label file to fit on (default: {config.GUIDELINE_LABELS_FILE.name} when "
                        f"{config.DATA_DIR} has it, else {config.LABELS_FILE.name})")
    p.add_argument("--model", default=None, help="GGUF path or name (default: as for analyze)")
    p.add_argument("--artifact", default=str(config.ARTIFACT_FILE), help="where to save the fitted probe")
    p.add_argument("--store", default=str(config.STORE_FILE), help="SQLite store of model outputs")
    p.add_argument("--show", action="store_true", help="print the saved probe's metadata and fit nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("models", help="list known models, or pull one (needs internet; never automatic)",
                       formatter_class=Formatter,
                       description=wrap("List the known models and where each is on disk, or pull one with gpt4all "
                                   "(needs internet; nothing is ever downloaded on its own)."))
    p.add_argument("action", nargs="?", default="list", choices=["list", "pull"],
                   help="list: show the known models and which is used by default; pull: download NAME (default: list)")
    p.add_argument("name", nargs="?", default="llama-3.2-1b", help="for pull: the model to download")
    p.set_defaults(func=cmd_models)
