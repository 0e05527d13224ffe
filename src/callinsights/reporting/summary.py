"""The reviewer's summary page, ``reports/index.html``: the client's three questions answered from the results files
(those of ``evaluate`` and ``insights``), under one reading of the hand labels.

Every number goes through :func:`number`, the one rounding every page uses. A missing file, or one computed from
another reading than the page's, leaves its part out with a line that says which and how to make it.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from callinsights import config

from callinsights.data.outputs import READING_RECORD_SUFFIX
from callinsights.schema import OUTCOMES
from callinsights.reporting.rendering import CODE_SUFFIX, MISSING, page, title_of

FOLLOW_UP = OUTCOMES[1]
#: The call explorer (:mod:`callinsights.reporting.explorer`), which each finding links to.
EXPLORER_PAGE = "calls.html"
NEGATIVE = "negative"

#: How each kind of quantity is written (see :func:`number`).
FORMATS: dict[str, Callable[[float], str]] = {
    "share": lambda v: f"{min(1.0, max(0.0, v)):.0%}",
    "rate": lambda v: f"{min(100.0, max(0.0, v)):.0f}",
    "points": lambda v: f"{v:+.0f}" if round(v) else "0",
    "score": "{:.2f}".format,
    "ratio": "×{:.2f}".format,
    "count": "{:.0f}".format,
}


def number(value: Any, kind: str) -> str:
    """A number as every page shows it, so one quantity reads the same wherever it appears; "–" when missing.

    ``share`` a fraction as a whole percentage ("44%"); ``rate`` a number per 100 ("93"); ``points`` a signed
    difference already in percentage points ("+63", "-62"); ``score`` two decimals (accuracy, macro-F1, kappa, a
    distance: "0.84"); ``ratio`` a factor ("×1.25"); ``count`` a whole number. Shares and rates are clipped to 0-100:
    a corrected estimate can stray past them on few hand labels, a rate cannot.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown kind of number {kind!r}: use one of {', '.join(FORMATS)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    return MISSING if math.isnan(value) else FORMATS[kind](value)


def estimate(value: Any, low: Any, high: Any, kind: str, label: str = "95% interval") -> str:
    """A number with its interval: "44% (95% interval 29% to 59%)" (" to ", so a negative bound stays readable);
    ``label=""`` for a table whose heading says it."""
    return f"{number(value, kind)} ({label + ' ' if label else ''}{number(low, kind)} to {number(high, kind)})"


#: How each results file is made, for the line that says it is missing or from another reading.
MAKES = {**dict.fromkeys(["metrics.json", "batches.csv"], "python -m callinsights evaluate"),
         **dict.fromkeys(["ppi_rates.csv", "drivers.csv", "pending_work.csv", "findings.csv", "insights.reading.json"],
                         "python -m callinsights insights"),
         "predictions.csv": "make analyze"}
#: The readings of the hand labels a data folder holds: how the page names each, and what it is.
READINGS = {
    config.GUIDELINE_LABELS_FILE.name: ("the guideline reading",
                                        "the majority of three readers who followed the labelling guideline"),
    config.LABELS_FILE.name: ("the client's reading", "the client's own hand labels"),
}
#: The notebook section that sets the two readings side by side, found by its heading.
SIDE_BY_SIDE_PAGE = "04_evaluation.html"
SIDE_BY_SIDE_HEADING = re.compile(r"\breadings?\b.*\bside by side|side by side.*\breadings?\b|"
                                  r"\b(?:two|other|both) readings?\b", re.IGNORECASE)


def reading_name(labels_file: str) -> str:
    """How the page names a reading: its description, or its file name for any other label file."""
    return READINGS.get(labels_file, (f"the reading in {labels_file}",))[0]


@dataclass
class Sources:
    """The results files the page reads (``reading`` is the label file the insights were computed from, ``run`` is
    ``evaluation/run.json``); a missing one is None, with one sentence in ``problems``."""

    reading: str = ""
    metrics: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    rates: pd.DataFrame | None = None
    drivers: pd.DataFrame | None = None
    pending: pd.DataFrame | None = None
    findings: pd.DataFrame | None = None
    batches: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)


def read_result(path: Path, reader: Callable[[Path], Any], problems: list[str]) -> Any:
    how = MAKES.get(path.name)
    if not path.is_file():
        problems.append(f"{path.name} not found" + (f": run `{how}`." if how else "."))
        return None
    try:
        return reader(path)
    except (ValueError, OSError, KeyError) as err:  # a truncated or hand-edited file: say which, keep the page
        problems.append(f"{path.name} could not be read ({type(err).__name__}: {err})"
                        + (f"; run `{how}` again." if how else "."))
        return None


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def read_sources(results_dir: str | Path = config.RESULTS_DIR) -> Sources:
    """Read every results file the page uses; a file computed from another reading than the insights' is set aside
    with a line that says so, so no part of the page mixes two readings."""
    results_dir = Path(results_dir)
    evaluation = results_dir / config.EVALUATION_DIR.name
    problems: list[str] = []
    record = read_result(results_dir / f"insights{READING_RECORD_SUFFIX}", read_json, problems) or {}
    src = Sources(reading=record.get("labels_file", config.GUIDELINE_LABELS_FILE.name), problems=problems)
    src.metrics = read_result(results_dir / config.METRICS_FILE.name, read_json, problems)
    run = evaluation / "run.json"
    src.run = read_json(run) if run.is_file() else None
    if src.metrics is not None and src.metrics.get("labels_file") != src.reading:
        problems.append(f"Held-out scores left out: metrics.json was computed from "
                        f"{src.metrics.get('labels_file') or 'a reading it does not record'}, not {src.reading}; "
                        f"run `{MAKES['metrics.json']}`.")
        src.metrics = None
    src.rates = read_result(results_dir / config.PPI_RATES_FILE.name, pd.read_csv, problems)
    src.drivers = read_result(results_dir / config.DRIVERS_FILE.name, pd.read_csv, problems)
    src.pending = read_result(results_dir / config.PENDING_WORK_FILE.name, pd.read_csv, problems)
    src.findings = read_result(results_dir / config.FINDINGS_FILE.name, pd.read_csv, problems)
    src.batches = read_result(evaluation / "batches.csv", pd.read_csv, problems)
    return src


def escape(value: Any) -> str:
    return html.escape(str(value))


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A small table of text already formatted (the cells are escaped here)."""
    return ("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</tbody></table>")


def _code_spans(text: str) -> str:
    """Escaped text whose `commands` are shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _missing(text: str) -> str:
    return f"<p class=\"missing\">{escape(text)}</p>"


def _held_out(metrics: dict, task: str, name: str) -> dict | None:
    return next((m for m in metrics.get("default_held_out", {}).get(task, []) if m.get("metric") == name), None)


def _baseline(metrics: dict, task: str) -> dict | None:
    """The scores of always answering the most common label."""
    return next((b for b in metrics.get("baselines", []) if b.get("system") == "majority class"
                 and b.get("task") == task), None)


def _scored(metric: dict) -> str:
    """A held-out score with its interval, for a table whose heading names the interval."""
    return estimate(metric["value"], metric["low"], metric["high"], "score", "")


def overall_rates(rates: pd.DataFrame) -> pd.DataFrame:
    """The corrected share of each label over all calls (one row per label; ``ppi_rates.csv`` repeats them per
    grouping)."""
    return rates[rates["group"] == "all calls"].drop_duplicates("rate").set_index("rate")


def _corrected(rates: pd.DataFrame, key: str) -> str:
    """A corrected share of :func:`overall_rates` with its interval."""
    return estimate(rates.loc[key, "ppi"], rates.loc[key, "ppi_low"], rates.loc[key, "ppi_high"], "share", "")


def _reading_line(src: Sources) -> str:
    n = ""
    if src.rates is not None and len(src.rates):
        n = f"{number(src.rates['labelled'].max(), 'count')} hand-labelled calls, "
    source = READINGS.get(src.reading, ("", ""))[1]
    return (f"<p class=\"reading\"><b>One reading of the hand labels throughout: "
            f"{escape(reading_name(src.reading))}</b> ({escape(source + '; ' if source else '')}{n}"
            f"file {escape(src.reading)}). "
            "The model is fitted on it, and every share, score and finding below is measured against it.</p>")


def in_short(src: Sources) -> str:
    """The three answers in a sentence each, for a reader who reads nothing else."""
    items = []
    if src.rates is not None:
        r = overall_rates(src.rates)
        shares = "; ".join(f"{label} {_corrected(r, key)}" for key, label in (
            ("neutral", "neutral"), (NEGATIVE, NEGATIVE), ("follow-up", "need follow-up")) if key in r.index)
        items.append(f"<li><b>Labels:</b> {escape(shares)}, corrected by the hand labels.</li>")
    if src.metrics is not None:
        f1, base = _held_out(src.metrics, "sentiment", "macro_f1"), _baseline(src.metrics, "sentiment")
        if f1:
            against = (f" against {number(base['macro_f1'], 'score')} for always answering the most common label"
                       if base else "")
            items.append(f"<li><b>Trust:</b> held out, sentiment macro-F1 {escape(_scored(f1))}{escape(against)}: "
                         "good for shares over many calls, not for one call.</li>")
    verdict = batch_verdict(src.batches)
    if verdict:
        items.append(f"<li><b>Monitoring:</b> {escape(verdict)}.</li>")
    if src.findings is not None and len(src.findings):
        items.append(f"<li><b>To act on:</b> {number(len(src.findings), 'count')} findings, first: "
                     f"{escape(src.findings['headline'].iloc[0])}.</li>")
    return "<h2>In short</h2><ul>" + "".join(items) + "</ul>" if items else ""


def question_labels(src: Sources, reports_dir: Path) -> str:
    """Question 1: the label shares, corrected, how far the labels hold on calls the model was not fitted on, and
    where they are weakest."""
    out = ["<h2 id=\"q1\">1. What is each call's sentiment and outcome, and how far can you trust it?</h2>"]
    if src.rates is not None:
        r = overall_rates(src.rates)
        rows = [[task, label, _corrected(r, key), number(r.loc[key, "naive"], "share")]
                for key, task, label in (("neutral", "Sentiment", "neutral"), (NEGATIVE, "Sentiment", NEGATIVE),
                                         ("follow-up", "Outcome", FOLLOW_UP)) if key in r.index]
        calls = number(r["calls"].max(), "count")
        out.append(f"<p>The model labelled all {calls} calls from the customer's words. Each share below is "
                   "corrected by the hand-labelled calls, so the model's own lean does not carry into it.</p>"
                   + _table(["Task", "Label", f"Share of the {calls} calls, corrected (95% interval)",
                             "Model alone"], rows)
                   + "<p>The other calls are positive (sentiment) and issue resolved (outcome).</p>")
    m = src.metrics
    if m is not None:
        rows = []
        for task in ("sentiment", "outcome"):
            acc, f1, base = _held_out(m, task, "accuracy"), _held_out(m, task, "macro_f1"), _baseline(m, task) or {}
            if acc and f1:
                rows.append([task.capitalize(), _scored(acc), _scored(f1), number(base.get("accuracy"), "score"),
                             number(base.get("macro_f1"), "score")])
        out.append(f"<p><b>Held out:</b> each of the {number(m.get('labelled_calls'), 'count')} hand-labelled calls "
                   "is predicted by a model fitted without it.</p>"
                   + _table(["Task", "Accuracy (95% interval)", "Macro-F1 (95% interval)",
                             "Always the most common label: accuracy", "Its macro-F1"], rows)
                   + macro_f1_line(m))
        out.append(weakest(m))
    else:
        out.append(_missing("Held-out scores left out: see the end of the page."))
    out.append(_other_reading_line(src, reports_dir))
    return "\n".join(p for p in out if p)


def macro_f1_line(metrics: dict) -> str:
    """Why macro-F1 is the score to read, with the numbers that show it, so an accuracy below the most-common-label
    baseline is not read as worse than guessing."""
    f1, base = _held_out(metrics, "sentiment", "macro_f1"), _baseline(metrics, "sentiment")
    if not f1 or not base:
        return ""
    return ("<p><b>Read macro-F1, not accuracy.</b> Always answering the most common label is right on many calls "
            "but never finds the other labels; macro-F1 counts each label equally, so that shortcut scores "
            f"{number(base['macro_f1'], 'score')} on sentiment against the model's {number(f1['value'], 'score')}.</p>")


def weakest(metrics: dict) -> str:
    """Held-out accuracy by driver under the page's reading (evaluate keeps that reading's rows only), or a line
    that says why it is left out."""
    table = pd.DataFrame(metrics.get("driver_accuracy") or [])
    if not len(table) or "reference" in table or not {"driver", "task", "accuracy", "calls"} <= set(table):
        return _missing("Accuracy by driver left out: metrics.json holds none for this reading.")
    wide = table.pivot_table(index="driver", columns="task", values=["accuracy", "calls"], aggfunc="first")
    rows = [[driver, number(wide.loc[driver, ("calls", "sentiment")], "count"),
             number(wide.loc[driver, ("accuracy", "sentiment")], "score"),
             number(wide.loc[driver, ("accuracy", "outcome")], "score")] for driver in wide.index]
    worst = {task: table[table["task"] == task].sort_values("accuracy").iloc[0] for task in ("sentiment", "outcome")}
    said = "; ".join(f"{task} on {w['driver']} ({number(w['accuracy'], 'score')} on {number(w['calls'], 'count')} "
                     "calls)" for task, w in worst.items())
    few, many = number(table["calls"].min(), "count"), number(table["calls"].max(), "count")
    return (f"<p><b>Where the model is weakest:</b> {escape(said)}. With {few} to {many} hand-labelled calls per "
            "driver, read these as where to look, not as firm differences.</p>"
            + _table(["Driver", "Hand-labelled calls", "Sentiment accuracy", "Outcome accuracy"], rows))


def _side_by_side_link(reports_dir: Path) -> str:
    """Notebook 04's page, at its side-by-side section when its heading is found."""
    path = reports_dir / SIDE_BY_SIDE_PAGE
    if not path.is_file():
        return SIDE_BY_SIDE_PAGE
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for heading in soup.find_all(re.compile(r"^h[1-4]$")):
        if heading.get("id") and SIDE_BY_SIDE_HEADING.search(heading.get_text(" ")):
            return f"{SIDE_BY_SIDE_PAGE}#{heading['id']}"
    return SIDE_BY_SIDE_PAGE


def _other_reading_line(src: Sources, reports_dir: Path) -> str:
    other = (src.run or {}).get("other_reading") or {}
    if not other.get("labels_file"):
        return ""
    return (f"<p>Against {escape(reading_name(other['labels_file']))} instead, the shares and scores differ: notebook "
            f"04 shows the two <a href=\"{escape(_side_by_side_link(reports_dir))}\">side by side</a>, with the calls "
            "they label differently.</p>")


# Question 2: what watches the model, from the batches evaluate monitors as the monitor command does.

#: The watched signals as a reader sees them: name -> (quantities in the batch table, how the change is shown).
SIGNALS = {
    "Label mix": (r"^(?:sentiment|outcome) mix$", "distance"),
    "Each label's share": (r"^(?:sentiment|outcome): .* share$", "points"),
    "Model's confidence (mean)": (r"^confidence (?:sentiment|outcome) \(mean\)$", "score"),
    "Invalid answers": (r"^invalid share$", "points"),
    "Prompt length (median)": (r"^prompt tokens per call \(median\)$", "ratio"),
    "Time per call (median)": (r"^seconds per call \(median\)$", "ratio"),
    "Calls too long to read at once": (r"^windowed share$", "points"),
}
STATUS = {"ok": "no alert", "alert": "ALERT", "not enough calls": "too few calls to judge"}


def latest_batch(batches: pd.DataFrame | None) -> pd.DataFrame | None:
    if batches is None or not len(batches) or "batch_name" not in batches:
        return None
    return batches[batches["batch_name"] == batches["batch_name"].iloc[-1]]


def batch_verdict(batches: pd.DataFrame | None) -> str:
    """"latest batch (batch 4, 40 calls): no alert", or the alerts by name."""
    latest = latest_batch(batches)
    if latest is None:
        return ""
    fired = latest.loc[latest["status"] == "alert", "quantity"].tolist()
    size = number(latest["n_batch"].max(), "count")
    return (f"latest batch ({latest['batch_name'].iloc[0]}, {size} calls): "
            + (f"{len(fired)} alert{'s' if len(fired) > 1 else ''} ({', '.join(fired)})" if fired else "no alert"))


def _rule(rows: pd.DataFrame, shown: str) -> str:
    threshold = float(rows["threshold"].iloc[0])
    rise_only = rows["note"].fillna("").str.contains("rise only").any()
    if shown == "distance":
        return f"moves {number(threshold, 'score')} or more (total variation)"
    if shown == "ratio":
        below = "" if rise_only else f", or {number(1 / threshold, 'ratio')} or less"
        return f"{number(threshold, 'ratio')} or more{below}"
    if shown == "score":
        return f"moves {number(threshold, 'score')} or more"
    return f"{'rises' if rise_only else 'moves'} {number(100 * threshold, 'rate')} points or more"


def _change(rows: pd.DataFrame, shown: str) -> str:
    """The largest change among the rows of one signal, named when the signal has several rows."""
    biggest = rows.loc[rows["change"].abs().idxmax()] if rows["change"].notna().any() else rows.iloc[0]
    change = biggest["change"]
    if shown == "ratio":
        text = number(change, "ratio")
    elif shown == "points":
        text = f"{number(100 * change, 'points')} points"
    else:
        text = ("+" if shown == "score" and change > 0 else "") + number(change, "score")
    what = re.sub(r"^(confidence )?(.*?)( mix| share| \(mean\))?$", r"\2", str(biggest["quantity"]))
    return f"{text} ({what})" if len(rows) > 1 else text


def question_monitoring(src: Sources) -> str:
    """Question 2: the signals that need no labels, their alert rules and the latest batch's verdict."""
    out = ["<h2 id=\"q2\">2. What watches the model once no labels are at hand?</h2>"]
    latest = latest_batch(src.batches)
    if latest is None:
        return "\n".join(out + [_missing("No monitored batch: see the end of the page.")])
    alpha = config.MONITOR_THRESHOLDS["alpha"]
    reference = number(latest["n_reference"].max(), "count")
    out.append(f"<p>Each new batch of calls is compared with a reference, the model's labels on the {reference} "
               "hand-labelled calls, where its accuracy is known. A signal alerts when it passes its threshold and "
               f"the move is beyond chance ({number(1 - alpha, 'share')} level). Next month, "
               "<code>python -m callinsights monitor</code> does this; here the calls not hand-labelled, in file "
               "order, stand in for new batches.</p>")
    rows = []
    for name, (pattern, shown) in SIGNALS.items():
        part = latest[latest["quantity"].str.contains(pattern, regex=True)]
        if not len(part):
            continue
        status = "alert" if (part["status"] == "alert").any() else part["status"].iloc[0]
        rows.append([name, _rule(part, shown), _change(part, shown), STATUS.get(status, status)])
    out.append(_table(["Signal", "Alert when it", "Latest batch: largest change", "Verdict"], rows))
    agreement = pd.DataFrame(((src.metrics or {}).get("monitoring") or {}).get("agreement_probe_vs_score") or [])
    if len(agreement) and {"task", "calls", "kappa"} <= set(agreement):
        every = agreement[agreement["calls"] == "all"].set_index("task")["kappa"]
        out.append("<p><b>Agreement between two methods</b> (the model against answer scoring, Cohen's kappa, all "
                   "calls, no threshold): " + ", ".join(f"{task} {number(k, 'score')}" for task, k in every.items())
                   + ". Near 0 is chance: scoring is weak, so disagreement does not mark a hard call.</p>")
    out.append(f"<p class=\"verdict\"><b>Verdict on the {escape(batch_verdict(src.batches))}.</b></p>")
    return "\n".join(out)


# Question 3: the findings, the workload by driver and the pending work.

def _finding_number(row: pd.Series) -> str:
    unit = re.sub(r"\s*\(adjusted interval\)", "", str(row["unit"]))
    kind = "points" if "points" in unit else "rate"
    label = "adjusted 95% interval" if "adjusted interval" in str(row["unit"]) else "95% interval"
    how = ", on the hand-labelled calls alone" if row["method"] == "hand labels" else ""
    return f"{estimate(row['value'], row['low'], row['high'], kind, label)} {unit}{how}"


def findings_list(src: Sources) -> str:
    if src.findings is None or not len(src.findings):
        return _missing("No findings: see the end of the page.")
    items = []
    for _, row in src.findings.iterrows():
        n = int(row["finding"])
        calls = number(row["n_calls"], "count")
        items.append(f"<li><b>{escape(row['headline'])}:</b> {escape(_finding_number(row))}. <i>To do:</i> "
                     f"{escape(row['action'])}. <a href=\"{EXPLORER_PAGE}#finding={n}\">The {calls} calls</a></li>")
    return "<ol class=\"findings\">" + "".join(items) + "</ol>"


def workload_table(drivers: pd.DataFrame) -> str:
    rows = []
    ordered = pd.concat([drivers[drivers["driver"] != "all calls"].sort_values("calls", ascending=False),
                         drivers[drivers["driver"] == "all calls"]])
    for _, d in ordered.iterrows():
        mark = " *" if str(d["few_labels"]).lower() == "true" else ""
        name = "All calls" if d["driver"] == "all calls" else d["driver"]
        rows.append([f"{name}{mark}", number(d["calls"], "count"), number(d["share_of_calls"], "share"),
                     estimate(d["follow_up_per_100"], d["follow_up_low"], d["follow_up_high"], "rate", ""),
                     estimate(d["negative_per_100"], d["negative_low"], d["negative_high"], "rate", "")])
    return (_table(["Driver", "Calls", "Share of calls", "Follow-up per 100 calls (95% interval)",
                    "Negative per 100 calls (95% interval)"], rows)
            + "<p><small>* fewer than 10 hand-labelled calls: the interval is wide.</small></p>")


def pending_table(pending: pd.DataFrame) -> str:
    overall = pending[(pending["driver"] == "all calls") & (pending["kind"] != "any of these")]
    by_driver = pending[pending["driver"] != "all calls"]
    rows = []
    for _, k in overall.iterrows():
        part = by_driver[by_driver["kind"] == k["kind"]].sort_values("follow_up_with_kind", ascending=False)
        top = (f"{part.iloc[0]['driver']} ({number(part.iloc[0]['follow_up_with_kind'], 'count')})"
               if len(part) and part.iloc[0]["follow_up_with_kind"] > 0 else MISSING)
        rows.append([k["kind"], estimate(k["share_of_follow_up"], k["share_low"], k["share_high"], "share", ""),
                     number(k["follow_up_with_kind"], "count"), top])
    return _table(["Work left pending", "Share of follow-up calls (95% interval)",
                   "Follow-up calls with it", "Most of them in"], rows)


def question_insights(src: Sources) -> str:
    """Question 3: the findings, each with its number, interval and calls; the workload; the pending work."""
    out = ["<h2 id=\"q3\">3. What can operations act on?</h2>",
           "<p>Each finding holds under label error (its interval is corrected by the hand labels unless it says "
           "otherwise) and links to its calls.</p>",
           findings_list(src)]
    if src.drivers is not None:
        out.append("<h3>Workload by driver</h3>" + workload_table(src.drivers))
    if src.pending is not None:
        out.append("<h3>What the follow-up is</h3><p>Cues read in the whole call, among the calls that need "
                   "follow-up (a call can leave several):</p>" + pending_table(src.pending))
    return "\n".join(out)


GLOSSARY = {
    "Hand labels": "calls a person labelled; they fit and check the model.",
    "Reading": "one set of hand labels for the calls; two exist, the guideline's and the client's.",
    "Driver": "what a call is about (its topic), found from the calls' words.",
    "Follow-up": "the outcome \"follow-up action needed\": the customer's issue is not settled in the call.",
    "Corrected share (PPI)": "prediction-powered inference: the model's share, corrected by how its labels differ "
                             "from the hand labels.",
    "95% interval": "where the true value lies, given how many calls there are; wide when calls are few.",
    "Adjusted interval": "widened because several comparisons were made, so chance differences do not pass.",
    "Held out": "each hand-labelled call scored by a model fitted without it, as new calls will be.",
    "Accuracy": "the share of calls labelled as the hand labels.",
    "Macro-F1": "per label, how often the model is right when it gives it and finds it when it is there (F1), "
                "averaged over the labels; 0 to 1.",
    "Per 100 calls": "how many of every 100 calls; points: the difference of two such numbers.",
    "Total variation": "the share of calls that would have to change label to turn one mix into the other.",
    "Cohen's kappa": "agreement beyond chance: 0 is chance, 1 full agreement.",
}


def glossary() -> str:
    return ("<h2 id=\"glossary\">Glossary</h2><dl class=\"glossary\">"
            + "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in GLOSSARY.items()) + "</dl>")


def report_links(reports_dir: Path, notebooks_dir: Path = config.NOTEBOOKS_DIR) -> str:
    """Links to every notebook's reviewer page found in ``reports_dir`` (each links to its page with code), and to
    the call explorer."""
    pages = [p for p in sorted(reports_dir.glob("[0-9][0-9]_*.html")) if not p.stem.endswith(CODE_SUFFIX)]
    items = [f"<li><a href=\"{escape(p.name)}\">{escape(title_of(notebooks_dir / (p.stem + '.ipynb')) or p.stem)}"
             "</a></li>" for p in pages]
    items.append(f"<li><a href=\"{EXPLORER_PAGE}\">Call explorer</a>: every call with its labels and the customer's "
                 "words</li>")
    return "<h2 id=\"pages\">The detailed pages</h2><ul>" + "".join(items) + "</ul>"


INDEX_CSS = """
.reading{background:#eef4fb;border-left:4px solid #2b6cb0;padding:.4rem .8rem}
.verdict{background:#eef7ee;border-left:4px solid #2f855a;padding:.4rem .8rem}
ol.findings li{margin:.35rem 0}
td{vertical-align:top}
dl.glossary{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
dl.glossary dt{font-weight:600}dl.glossary dd{margin:0}
"""


def build_index(results_dir: str | Path = config.RESULTS_DIR, reports_dir: str | Path = config.REPORTS_DIR) -> Path:
    """Write ``index.html`` into ``reports_dir`` from the results files; returns the page written."""
    reports_dir = Path(reports_dir)
    src = read_sources(results_dir)
    parts = ["<h1>Customer-support calls: what they show, how far to trust it, what to do</h1>", _reading_line(src),
             in_short(src), question_labels(src, reports_dir), question_monitoring(src), question_insights(src),
             glossary(), report_links(reports_dir)]
    if src.problems:
        parts.append("<h2 id=\"left-out\">Left out</h2><ul class=\"missing\">"
                     + "".join(f"<li>{_code_spans(p)}</li>" for p in src.problems) + "</ul>")
    parts.append(f"<style>{INDEX_CSS}</style>")
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "index.html"
    path.write_text(page("Call insights: summary", "\n".join(p for p in parts if p)), encoding="utf-8")
    return path
