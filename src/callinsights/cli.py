"""The command line: ``python -m callinsights {data,parse,analyze,models} ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callinsights import config


def _roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        label, sep, role = pair.rpartition("=")
        if not sep or role not in ("customer", "agent", "meta"):
            raise SystemExit(f"--speaker {pair!r}: write LABEL=ROLE with ROLE customer, agent or meta")
        roles[label] = role
    return roles


def cmd_data(args: argparse.Namespace) -> int:
    from callinsights.data import link_client_data

    for line in link_client_data(Path(args.source), Path(args.target)):
        print(line)
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from callinsights.transcripts import TURN_COLUMNS, read_calls, turns_frame

    try:
        turns, report = read_calls(args.dir, _roles(args.speaker))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    frame = turns_frame(turns)[TURN_COLUMNS]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    customer = int((frame["role"] == "customer").sum())
    print(f"{len(frame)} turns ({customer} customer) written to {args.out}")
    print(report.summary(), file=sys.stderr)
    return 0 if report.files_read else 1


def cmd_analyze(args: argparse.Namespace) -> int:
    import time

    from callinsights.classify import Classifier, PREDICTION_COLUMNS, Settings, texts_for_model
    from callinsights.models import ModelError
    from callinsights.store import Store
    from callinsights.transcripts import read_calls

    settings = Settings(model=args.model, engine=args.engine, method=args.method, prompt_version=args.prompt,
                        calibration=args.calibration, side=args.side, redact_for_model=args.redact_for_model,
                        labels_file=args.labels, base_url=args.base_url, api_key_env=args.api_key_env,
                        concurrency=args.concurrency)
    try:
        settings.check()
        if args.backend == "local" and (args.address or args.workers != 1):
            raise ValueError("--address and --workers are for --backend ray")
        turns, report = read_calls(args.dir, _roles(args.speaker))
        texts = texts_for_model(turns, settings)
        if args.limit:
            texts = dict(list(texts.items())[: args.limit])
        with Store(args.store) as store:
            classifier = Classifier(settings, store)
            print(f"callinsights: {len(texts)} calls; {classifier.describe()}", file=sys.stderr)
            compute_missing = None
            if args.backend == "ray":
                from callinsights.ray_backend import RayCompute

                compute_missing = RayCompute(settings, address=args.address, workers=args.workers)
            try:
                result = classifier.run(texts, progress=not args.quiet, compute_missing=compute_missing)
            finally:
                classifier.close()
    except (ValueError, FileNotFoundError, ModelError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions = result.predictions[PREDICTION_COLUMNS]
    predictions.to_csv(out, index=False, float_format="%.4f")
    invalid = int((~predictions["valid"]).sum())
    print(report.summary(), file=sys.stderr)
    print(
        f"{len(predictions)} calls labelled ({result.n_cached} from the store, {result.n_computed} computed, "
        f"{invalid} invalid) in {result.seconds:.1f} s -> {out}  [run {result.run_id} in {args.store}]"
    )
    for task in ("sentiment", "outcome"):
        counts = predictions[task].fillna("invalid").value_counts()
        print(f"  {task}: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    return 0 if invalid == 0 else 1


def cmd_models(args: argparse.Namespace) -> int:
    from callinsights.models import KNOWN_MODELS, ModelError, find_on_disk, pull_model, resolve_model

    try:
        if args.action == "pull":
            print(f"{args.name}: {pull_model(args.name)}")
            return 0
        for name, file_name in KNOWN_MODELS.items():
            try:
                where = resolve_model(name).path
            except ModelError:
                where = "not on disk (python -m callinsights models pull %s)" % name
            print(f"{name:14s} {file_name:36s} {where}")
        print(f"default: {resolve_model(None).name}")
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="callinsights", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="link the client's calls and labels into data/")
    p.add_argument("--source", default=str(config.SHARED_DATA_DIR))
    p.add_argument("--target", default=str(config.DATA_DIR))
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("parse", help="split a folder of calls into speaker turns (CSV)")
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help="folder of .txt calls")
    p.add_argument("--out", default="turns.csv", help="CSV to write: file,turn,speaker,role,text")
    p.add_argument("--speaker", action="append", default=[], metavar="LABEL=ROLE",
                   help="map an extra speaker label, e.g. 'Supervisor=agent' (repeatable)")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("analyze", help="label every call's sentiment and outcome with a local LLM")
    p.add_argument("dir", nargs="?", default=str(config.TRANSCRIPTS_DIR), help="folder of .txt calls")
    p.add_argument("--out", default=str(config.PREDICTIONS_FILE), help="predictions CSV to write")
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
                   help="score: calibrated answer log-probabilities; generate: constrained answer; probe: linear "
                        "read-out of the model's hidden states fitted on the labelled calls")
    p.add_argument("--labels", default=None, help="for --method probe: label file to fit on (default data/...)")
    p.add_argument("--calibration", default="batch", choices=["batch", "none"],
                   help="for --method score: how answer log-probabilities are calibrated")
    p.add_argument("--prompt", default="v1", help="prompt version")
    p.add_argument("--side", default="customer", choices=["customer", "call"],
                   help="what the model reads: the customer's turns (default) or the whole call (ablation)")
    p.add_argument("--redact-for-model", action="store_true", help="the model reads redacted text")
    p.add_argument("--store", default=str(config.STORE_FILE), help="SQLite store of outputs and runs")
    p.add_argument("--limit", type=int, default=None, help="label only the first N calls")
    p.add_argument("--speaker", action="append", default=[], metavar="LABEL=ROLE")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("models", help="list known models, or pull one (needs internet; never automatic)")
    p.add_argument("action", nargs="?", default="list", choices=["list", "pull"])
    p.add_argument("name", nargs="?", default="llama-3.2-1b")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    return args.func(args)
