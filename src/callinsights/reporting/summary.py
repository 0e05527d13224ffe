"""The reviewer's summary page, ``reports/index.html``: the client's three questions answered from results files.

Every number on the page is read or computed here from the committed results -- ``results/metrics.json``
(``python -m callinsights evaluate``, shown by notebook 04), ``results/predictions.csv`` (``make analyze``),
``results/call_insights.csv`` and ``results/findings.csv`` (``python -m callinsights insights``) -- never typed in.
A missing or unreadable file leaves its part of the page out with a line that names the file and how to make it;
the rest still renders.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from callinsights import config

from callinsights.analysis import stats
from callinsights.analysis.eda import ACTION_COLUMNS, FEATURE_LABELS, FEATURES, PENDING_COLUMNS
from callinsights.data.outputs import READING_RECORD_SUFFIX
from callinsights.schema import OUTCOMES, SENTIMENTS
from callinsights.reporting.rendering import CODE_SUFFIX, notebook_title, page
from callinsights.text.redact import redact

FOLLOW_UP = OUTCOMES[1]
NEGATIVE = "negative"
ALPHA = 0.05
FINDINGS_FILE = config.RESULTS_DIR / "findings.csv"
#: Findings listed on the page (the survivors first); the rest are in the file.
MAX_FINDINGS_SHOWN = 12
#: How each results file is made, for the line that says it is missing.
MAKES = {
    "metrics.json": "run `python -m callinsights evaluate`",
    "predictions.csv": "run `make analyze`",
    "call_insights.csv": "run `python -m callinsights insights`",
    "findings.csv": "run `python -m callinsights insights` (after `make analyze`)",
}


@dataclass
class Sources:
    """The results files the page reads; a missing one is None and its problem is listed.

    Attributes:
        metrics: ``metrics.json`` as a dict.
        predictions: ``predictions.csv``.
        insights: ``call_insights.csv``.
        findings: ``findings.csv``.
        problems: One sentence per file that is missing or unreadable.
    """

    metrics: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None
    insights: pd.DataFrame | None = None
    findings: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)


def _shown(path: Path) -> str:
    """A path as the page shows it: relative to the project, never the build machine's folders."""
    try:
        return str(path.resolve().relative_to(config.PROJ_ROOT))
    except ValueError:
        return path.name


def _read(path: Path, reader: Callable[[Path], Any], problems: list[str]) -> Any:
    if not path.is_file():
        problems.append(f"{_shown(path)} not found: {MAKES.get(path.name, 'create it')}.")
        return None
    try:
        return reader(path)
    except (ValueError, OSError, KeyError) as err:  # a truncated or hand-edited file: say which, keep the page
        problems.append(f"{_shown(path)} could not be read ({type(err).__name__}: {err}); "
                        f"{MAKES.get(path.name, '')}.")
        return None


def read_sources(results_dir: str | Path = config.RESULTS_DIR) -> Sources:
    """Read every results file the page uses, recording what is missing instead of failing."""
    results_dir = Path(results_dir)
    problems: list[str] = []
    return Sources(
        metrics=_read(results_dir / config.METRICS_FILE.name, lambda p: json.loads(p.read_text()), problems),
        predictions=_read(results_dir / config.PREDICTIONS_FILE.name, pd.read_csv, problems),
        insights=_read(results_dir / config.INSIGHTS_FILE.name, pd.read_csv, problems),
        findings=_read(results_dir / FINDINGS_FILE.name, pd.read_csv, problems),
        problems=problems,
    )


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True, na_rep="")


def _metric(metrics: dict, task: str, name: str) -> dict | None:
    return next((m for m in metrics.get("default_held_out", {}).get(task, []) if m.get("metric") == name), None)


def _baseline(metrics: dict, system: str, task: str) -> dict | None:
    return next((b for b in metrics.get("baselines", []) if b.get("system") == system and b.get("task") == task),
                None)


def _labelled_frame(src: Sources) -> pd.DataFrame | None:
    """Predictions joined to the per-call insights by file (the calls both describe)."""
    if src.predictions is None or src.insights is None:
        return None
    preds = src.predictions[["file", "sentiment", "outcome"]]
    return src.insights.merge(preds, on="file", how="inner")


def question_labels(src: Sources) -> str:
    """Question 1: each call's sentiment and outcome, and how far to trust them."""
    out = ["<h2>1. What is each call's sentiment and outcome?</h2>"]
    p = src.predictions
    if p is not None:
        valid = p["valid"].astype(str).str.lower().eq("true") if "valid" in p else pd.Series(True, index=p.index)
        made_by = ", ".join(f"{c} {'/'.join(sorted(map(str, p[c].dropna().unique())))}"
                            for c in ("model", "engine", "method") if c in p)
        out.append(f"<p><b>{len(p)} calls labelled</b> ({(~valid).sum()} invalid) by {_e(made_by)}; one row per "
                   "call in <code>results/predictions.csv</code>.</p>")
        rows = []
        for task, order in (("sentiment", SENTIMENTS), ("outcome", OUTCOMES)):
            counts = p.loc[valid, task].value_counts()
            for label in order:
                n = int(counts.get(label, 0))
                low, high = stats.wilson_interval(n, int(valid.sum()))
                rows.append({"label": task, "value": label, "calls": n, "share": _pct(n / max(valid.sum(), 1)),
                             "95% interval of the share (sampling only)": f"{_pct(low)}-{_pct(high)}"})
        out.append(_table(pd.DataFrame(rows)))
    m = src.metrics
    if m is not None:
        n = m.get("labelled_calls")
        lines = []
        for task in ("sentiment", "outcome"):
            acc, f1 = _metric(m, task, "accuracy"), _metric(m, task, "macro_f1")
            majority = _baseline(m, "majority class", task)
            if acc and f1:
                line = (f"<li><b>{task}</b>: accuracy {acc['value']:.2f} (95% interval {acc['low']:.2f}-"
                        f"{acc['high']:.2f}), macro-F1 {f1['value']:.2f} ({f1['low']:.2f}-{f1['high']:.2f})")
                if majority:
                    line += (f"; always answering the most frequent label scores macro-F1 "
                             f"{majority['macro_f1']:.2f}, accuracy {majority['accuracy']:.2f}")
                lines.append(line + ".</li>")
        out.append(f"<div class=\"caveat\"><p><b>How far to trust them.</b> Measured on the {_e(n)} hand-labelled "
                   f"calls, each predicted by a model not fitted on it ({_e(m.get('default_configuration', ''))}, "
                   f"{_e(m.get('model', ''))}; intervals from {_e(m.get('n_boot', ''))} bootstrap resamples):</p>"
                   f"<ul>{''.join(lines)}</ul>{labels_support(m)}</div>")
    return "\n".join(out)


def labels_support(m: dict) -> str:
    """What the labels can and cannot support, with the numbers that decide it."""
    n = m.get("labelled_calls")
    acc = {task: _metric(m, task, "accuracy") for task in ("sentiment", "outcome")}
    f1 = {task: _metric(m, task, "macro_f1") for task in ("sentiment", "outcome")}
    if not all(acc.values()) or not all(f1.values()):
        return ""
    wrong = {task: 1 - a["value"] for task, a in acc.items()}
    widest = max(f1.values(), key=lambda x: x["high"] - x["low"])
    return (
        "<p><b>The labels can support</b> counts and shares over many calls, read with their error: about "
        f"{_pct(wrong['sentiment'])} of sentiment labels and {_pct(wrong['outcome'])} of outcome labels are wrong "
        f"on the hand-labelled calls. <b>They cannot support</b> a decision about one call (check it by hand), nor "
        f"telling apart methods or groups whose scores differ by less than the interval width (macro-F1 intervals "
        f"are up to {widest['high'] - widest['low']:.2f} wide with {_e(n)} labelled calls). A finding below that "
        "rests on the labels inherits their error.</p>"
    )


def question_monitoring(src: Sources) -> str:
    """Question 2: the numbers that watch the model once no labels are at hand."""
    out = ["<h2>2. Which metrics monitor the model?</h2>"]
    mon = (src.metrics or {}).get("monitoring")
    if not mon:
        return "\n".join(out + ["<p class=\"missing\">No monitoring numbers: results/metrics.json lacks them.</p>"])
    drift = mon.get("max_drift_total_variation", {})
    out.append(
        f"<ul><li><b>{_e(mon.get('finished_runs'))} runs</b> recorded in the store, "
        f"{_e(mon.get('unfinished_runs'))} unfinished; the largest share of invalid answers in a run was "
        f"{_pct(mon.get('max_invalid_share', float('nan')))} (a broken configuration shows here first).</li>"
        f"<li><b>Label drift</b> between consecutive runs, largest total-variation distance: "
        f"{drift.get('sentiment_tv', float('nan')):.2f} (sentiment), {drift.get('outcome_tv', float('nan')):.2f} "
        "(outcome); 0 is the same label mix, 1 none in common.</li></ul>"
    )
    latency = pd.DataFrame(mon.get("latest_latency_by_configuration", []))
    if len(latency):
        out.append("<p>Seconds per call in the latest run of each configuration:</p>"
                   + _table(latency.round(2)))
    agreement = pd.DataFrame(mon.get("agreement_probe_vs_score", []))
    if len(agreement):
        strongest = agreement["kappa"].abs().max()
        out.append(
            f"<p>Agreement between two methods on the same calls ({_e(mon.get('agreement_scope', ''))}), a check "
            "that needs no labels:</p>" + _table(agreement.round(3))
            + f"<p class=\"caveat\">Cohen's kappa is at most {strongest:.2f} here: "
            + ("the two methods agree little more than chance, so their disagreement says which method is weak, "
               "not which calls are hard." if strongest < 0.2 else "the methods agree beyond chance.") + "</p>"
        )
    return "\n".join(out)


def _driver_findings(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Findings on drivers and outcomes from the labelled calls, each with its test and whether it survives."""
    rows = []
    for target, positive, what in (("outcome", FOLLOW_UP, "follow-up"), ("sentiment", NEGATIVE, "negative")):
        test = stats.association(frame, "topic", target)
        rates = stats.rate_table(frame, "topic", target, positive)
        top = rates.iloc[0]
        overall = float((frame[target] == positive).mean())
        survives = test.p_permutation < ALPHA and top["ci_low"] > overall
        rows.append({
            "finding": f"{top['topic']} has the highest {what} rate",
            "number": f"{top['count']} of {top['calls']} calls ({_pct(top['rate'])}, 95% CI {_pct(top['ci_low'])}-"
                      f"{_pct(top['ci_high'])}) against {_pct(overall)} overall",
            "test": f"driver × {target}: Cramér's V {test.cramers_v:.2f}, permutation p "
                    f"{stats.format_p(test.p_permutation)}",
            "survives": "yes" if survives else "no: " + ("the association is not distinguishable from chance"
                                                         if test.p_permutation >= ALPHA else
                                                         "its interval includes the overall rate"),
        })
    tests = stats.compare_groups(frame, FEATURES, "outcome", FOLLOW_UP).dropna(subset=["p_holm"])
    for row in tests.sort_values("p_holm").itertuples():
        direction = "higher" if row.rank_biserial > 0 else "lower"
        rows.append({
            "finding": f"{FEATURE_LABELS.get(row.feature, row.feature)}: {direction} in follow-up calls",
            "number": f"median {row.median_pos:g} vs {row.median_rest:g}; rank-biserial {row.rank_biserial:+.2f}",
            "test": f"Mann-Whitney, Holm p {stats.format_p(row.p_holm)} over {len(tests)} features",
            "survives": "yes" if row.p_holm < ALPHA else "no: not distinguishable from chance",
        })
    return rows


def tested_findings(src: Sources) -> pd.DataFrame | None:
    """The tested findings: those of notebook 05's finding rules (``findings.csv``: prediction-powered intervals
    corrected by the hand labels) when it is there, else tests on the hand-labelled calls alone (None when
    predictions or per-call insights are missing too). ``attrs["rule"]`` says which rule decided."""
    if src.findings is not None and {"sentence", "survives", "verdict"} <= set(src.findings.columns):
        table = pd.DataFrame({
            "finding": src.findings["sentence"].str.replace("**", "", regex=False),
            "survives": ["yes" if str(kept).lower() == "true" else f"no: {verdict}"
                         for kept, verdict in zip(src.findings["survives"], src.findings["verdict"])],
        })
        table.attrs["rule"] = ("its prediction-powered interval, Bonferroni-adjusted over every comparison and "
                               "corrected by the hand labels, excludes 0, with enough hand-labelled calls on each side")
        return table
    frame = _labelled_frame(src)
    if frame is None or not len(frame) or "topic" not in frame:
        return None
    table = pd.DataFrame(_driver_findings(frame))
    table.attrs["rule"] = (f"a permutation or Holm-corrected test below {ALPHA} and, for a rate, an interval that "
                           "excludes the overall rate")
    return table


def in_short(src: Sources, findings: pd.DataFrame | None) -> str:
    """The answers in three sentences, for a reader who reads nothing else."""
    items = []
    if src.predictions is not None:
        shares = {task: src.predictions[task].value_counts(normalize=True) for task in ("sentiment", "outcome")}
        items.append(f"<li>{len(src.predictions)} calls labelled: most often <b>{_e(shares['sentiment'].index[0])}"
                     f"</b> ({_pct(shares['sentiment'].iloc[0])}) and <b>{_e(shares['outcome'].index[0])}</b> "
                     f"({_pct(shares['outcome'].iloc[0])}).</li>")
    if src.metrics is not None:
        acc = {task: _metric(src.metrics, task, "accuracy") for task in ("sentiment", "outcome")}
        if all(acc.values()):
            items.append("<li>Right on " + " and ".join(
                f"{_pct(a['value'])} of calls for {task} (95% interval {_pct(a['low'])}-{_pct(a['high'])})"
                for task, a in acc.items()) + f" of the {_e(src.metrics.get('labelled_calls'))} hand-labelled calls: "
                "good enough for shares over many calls, not for a decision on one call.</li>")
    if findings is not None:
        kept = findings[findings["survives"] == "yes"]
        items.append(f"<li>{len(kept)} of {len(findings)} tested findings survive"
                     + (": " + "; ".join(_e(f) for f in kept["finding"]) if len(kept) else "") + ".</li>")
    return "<h2>In short</h2><ul>" + "".join(items) + "</ul>" if items else ""


def question_insights(src: Sources, findings: pd.DataFrame | None) -> str:
    """Question 3: what the calls are about and what goes with follow-up or an unhappy customer."""
    out = ["<h2>3. What do the calls tell operations?</h2>"]
    if src.insights is not None and "topic" in src.insights:
        counts = src.insights["topic"].value_counts()
        out.append(f"<p><b>{len(counts)} call drivers</b> (topics found from the calls' words) over "
                   f"{len(src.insights)} calls: "
                   + ", ".join(f"{_e(t)} {n} ({_pct(n / len(src.insights))})" for t, n in counts.items()) + ".</p>")
    if findings is not None:
        kept = findings[findings["survives"] == "yes"]
        shown = pd.concat([kept, findings[findings["survives"] != "yes"]]).head(MAX_FINDINGS_SHOWN)
        out.append(f"<p><b>{len(kept)} of {len(findings)} tested findings survive</b> ({_e(findings.attrs['rule'])}). "
                   "The survivors come first; every comparison is in "
                   f"<code>results/{FINDINGS_FILE.name}</code>.</p>" + _table(shown))
    return "\n".join(out)


def report_links(reports_dir: Path, notebooks_dir: Path = config.NOTEBOOKS_DIR) -> str:
    """Links to every notebook's reviewer report (and its page with code) found in ``reports_dir``."""
    import nbformat

    items = []
    for report in sorted(reports_dir.glob("[0-9][0-9]_*.html")):
        if report.stem.endswith(CODE_SUFFIX):
            continue
        notebook = notebooks_dir / f"{report.stem}.ipynb"
        title = notebook_title(nbformat.read(str(notebook), as_version=4)) if notebook.is_file() else report.stem
        code = report.with_name(f"{report.stem}{CODE_SUFFIX}.html")
        extra = f" (<a href=\"{_e(code.name)}\">with code</a>)" if code.is_file() else ""
        items.append(f"<li><a href=\"{_e(report.name)}\">{_e(title or report.stem)}</a>{extra}</li>")
    return "<h2>The reports</h2><ul>" + "".join(items) + "</ul>" if items else ""


def build_index(results_dir: str | Path = config.RESULTS_DIR, reports_dir: str | Path = config.REPORTS_DIR) -> Path:
    """Write ``index.html`` into ``reports_dir`` from the results files; returns the page written."""
    reports_dir = Path(reports_dir)
    src = read_sources(results_dir)
    findings = tested_findings(src)
    parts = [
        "<h1>Customer-support calls: labels, their reliability, and what they show</h1>",
        "<p>Built by <code>python -m callinsights reports index</code> from the files in <code>results/</code>; "
        "every number below is read or computed from them.</p>",
        in_short(src, findings),
        question_labels(src),
        question_monitoring(src),
        question_insights(src, findings),
        report_links(reports_dir),
    ]
    if src.problems:
        parts.append("<h2>Left out</h2><ul class=\"missing\">"
                     + "".join(f"<li>{_e(p)}</li>" for p in src.problems) + "</ul>")
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "index.html"
    path.write_text(page("Call insights: summary", "\n".join(parts)), encoding="utf-8")
    return path


# The call explorer, reports/calls.html: every call with its driver, labels, confidence and redacted evidence, sortable,
# filterable and searchable offline. The rows are HTML (readable without script, and scanned for personal data like
# every page); a small inline script of our own sorts and filters them and reads the address's fragment, so a
# finding links to its calls: ``calls.html#finding=2``, ``calls.html#ids=transcript_3,transcript_9``, ``#q=refund``.

EXPLORER_PAGE = "calls.html"

EXPLORER_CSS = """
.ci-controls{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.6rem 0;font-size:14px}
.ci-controls input[type=search]{min-width:16rem;padding:.25rem .4rem}
#ci-banner{background:#e8f1fb;border-left:4px solid #2b6cb0;padding:.4rem .8rem;margin:.4rem 0}
#ci-banner[hidden]{display:none}
table.ci-calls{font-size:13px;width:100%}
table.ci-calls th button{all:unset;cursor:pointer;font-weight:600}
table.ci-calls th button:focus-visible{outline:2px solid #2b6cb0}
table.ci-calls th[aria-sort=ascending] button::after{content:" \\25B2"}
table.ci-calls th[aria-sort=descending] button::after{content:" \\25BC"}
table.ci-calls td.quote{max-width:22rem}
table.ci-calls tr[hidden]{display:none}
.neg{color:#a11d2e;font-weight:600}.fu{color:#8a5a00}
body{max-width:none}
"""

#: The script that sorts, filters and searches the table, and follows the fragment (no library, no other host).
EXPLORER_JS = r"""
(function () {
  var table = document.getElementById('ci-calls');
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var findings = JSON.parse(document.getElementById('ci-findings').textContent);
  var search = document.getElementById('ci-search');
  var selects = Array.prototype.slice.call(document.querySelectorAll('select[data-column]'));
  var count = document.getElementById('ci-count');
  var banner = document.getElementById('ci-banner');
  var only = null;

  function fromHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ''));
    var text = '';
    only = null;
    if (params.has('finding')) {
      var f = findings[params.get('finding')];
      if (f) {
        only = new Set(f.ids);
        text = 'The ' + f.ids.length + ' calls behind finding ' + params.get('finding') + ': ' + f.headline + '.';
      } else {
        text = 'There is no finding ' + params.get('finding') + '; every call is shown.';
      }
    } else if (params.has('ids')) {
      only = new Set(params.get('ids').split(',').map(function (s) { return s.trim(); }).filter(Boolean));
      text = 'The ' + only.size + ' calls named in the address.';
    }
    if (params.has('q')) { search.value = params.get('q'); }
    banner.hidden = !text;
    document.getElementById('ci-banner-text').textContent = text;
    apply();
  }

  function apply() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var ok = !only || only.has(row.id);
      selects.forEach(function (s) { if (ok && s.value && row.getAttribute('data-' + s.dataset.column) !== s.value) { ok = false; } });
      if (ok && words.length) {
        var text = row.textContent.toLowerCase();
        ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      }
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' calls shown';
  }

  function sortBy(th, index) {
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var numeric = th.dataset.type === 'number';
    function key(row) {
      var cell = row.cells[index];
      var value = cell.getAttribute('data-sort') || cell.textContent;
      return numeric ? parseFloat(value) : value.toLowerCase();
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = numeric ? (isNaN(x) ? 1 : isNaN(y) ? -1 : x - y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    var button = th.querySelector('button');
    if (button) { button.addEventListener('click', function () { sortBy(th, index); }); }
  });
  search.addEventListener('input', apply);
  selects.forEach(function (s) { s.addEventListener('change', apply); });
  document.getElementById('ci-show-all').addEventListener('click', function () {
    search.value = '';
    selects.forEach(function (s) { s.value = ''; });
    history.replaceState(null, '', location.pathname + location.search);
    fromHash();
  });
  window.addEventListener('hashchange', fromHash);
  fromHash();
})();
"""


def _cues(row: pd.Series, columns: dict[str, str]) -> str:
    """The cue lists a call's words match, by how a reader sees them."""
    return ", ".join(label for column, label in columns.items() if column in row and float(row[column] or 0) > 0)


def _call_number(call: str) -> str:
    """A sort key that puts transcript_9 before transcript_10."""
    digits = "".join(ch for ch in call if ch.isdigit())
    return digits or "0"


def explorer_rows(predictions: pd.DataFrame, insights: pd.DataFrame | None) -> pd.DataFrame:
    """One row per call as the explorer shows it: driver, team, labels and confidences, what happened in the call,
    the pending work, whether a person labelled it, and the model's evidence quotes, redacted again on the way (a
    quote is the customer's own words)."""
    frame = predictions.copy()
    if insights is not None:
        keep = [c for c in ["file", "topic", "agent_team", *ACTION_COLUMNS, *PENDING_COLUMNS] if c in insights]
        frame = frame.merge(insights[keep], on="file", how="left")
    out = pd.DataFrame({"call": frame["file"].astype(str)})
    out["driver"] = frame["topic"].fillna("") if "topic" in frame else ""
    out["team"] = frame["agent_team"].fillna("") if "agent_team" in frame else ""
    for task in ("sentiment", "outcome"):
        out[task] = frame[task].fillna("").astype(str)
        column = f"confidence_{task}"
        out[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else float("nan")
    out["in_the_call"] = [_cues(row, ACTION_COLUMNS) for _, row in frame.iterrows()]
    out["pending"] = [_cues(row, PENDING_COLUMNS) for _, row in frame.iterrows()]
    held = frame["held_out"].astype(str) if "held_out" in frame else pd.Series("", index=frame.index)
    out["hand_labelled"] = held.str.startswith("held out").map({True: "yes", False: ""})
    for task in ("sentiment", "outcome"):
        column = f"evidence_{task}"
        said = frame[column] if column in frame else pd.Series("", index=frame.index)
        out[f"evidence_{task}"] = said.fillna("").astype(str).map(redact)
    return out


def explorer_findings(findings: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Finding number -> its headline and its calls (``findings.csv``), for the fragment ``#finding=N``."""
    if findings is None or not {"finding", "headline", "calls"} <= set(findings.columns):
        return {}
    return {str(int(row["finding"])): {"headline": str(row["headline"]), "ids": str(row["calls"]).split()}
            for _, row in findings.iterrows() if isinstance(row["calls"], str)}  # fmt: skip


def _explorer_table(rows: pd.DataFrame) -> str:
    """The calls as an HTML table whose headers sort it (``data-type="number"`` sorts numerically)."""
    headers = [("call", "Call", "number"), ("driver", "Driver", ""), ("team", "Agent team", ""),
               ("sentiment", "Sentiment", ""), ("confidence_sentiment", "Confidence", "number"),
               ("outcome", "Outcome", ""), ("confidence_outcome", "Confidence", "number"),
               ("in_the_call", "In the call", ""), ("pending", "Pending work", ""),
               ("hand_labelled", "Hand-labelled", ""), ("evidence_sentiment", "Customer's words (sentiment)", ""),
               ("evidence_outcome", "Customer's words (outcome)", "")]  # fmt: skip
    typed = {"number": " data-type=\"number\""}
    head = "".join(f"<th scope=\"col\"{typed.get(kind, '')}><button type=\"button\">{_e(label)}</button></th>"
                   for _, label, kind in headers)
    body = []
    for row in rows.itertuples(index=False):
        cells = []
        for column, _, kind in headers:
            value = getattr(row, column)
            if column == "call":
                cells.append(f"<td data-sort=\"{_call_number(value)}\">{_e(value)}</td>")
            elif kind:
                cells.append(f"<td data-sort=\"{value:.4f}\">{value:.0%}</td>" if pd.notna(value) else "<td></td>")
            else:
                mark = {"negative": " class=\"neg\"", FOLLOW_UP: " class=\"fu\""}.get(value, "")
                quote = " class=\"quote\"" if column.startswith("evidence") else mark
                cells.append(f"<td{quote}>{_e(value)}</td>")
        body.append(f"<tr id=\"{_e(row.call)}\" data-driver=\"{_e(row.driver)}\" data-sentiment=\"{_e(row.sentiment)}\""
                    f" data-outcome=\"{_e(row.outcome)}\">{''.join(cells)}</tr>")
    return (f"<table id=\"ci-calls\" class=\"ci-calls\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table>")


def _select(column: str, label: str, values: list[str]) -> str:
    options = "".join(f"<option value=\"{_e(v)}\">{_e(v)}</option>" for v in values)
    return (f"<label>{_e(label)} <select data-column=\"{_e(column)}\"><option value=\"\">all</option>{options}"
            "</select></label>")


def explorer_page(predictions: pd.DataFrame, insights: pd.DataFrame | None = None,
                  findings: pd.DataFrame | None = None, labels_file: str = "") -> str:  # fmt: skip
    """The call explorer as one self-contained HTML page (see :data:`EXPLORER_JS` for what it does in the browser).

    Args:
        predictions: ``results/predictions.csv``.
        insights: ``results/call_insights.csv`` (driver, team, call events, pending work), or None.
        findings: ``results/findings.csv`` (each finding's calls, for ``#finding=N``), or None.
        labels_file: The hand-label file the findings were computed from (``results/insights.reading.json``).
    """
    rows = explorer_rows(predictions, insights)
    found = explorer_findings(findings)
    made_by = ", ".join(f"{c} {'/'.join(sorted(map(str, predictions[c].dropna().unique())))}"
                        for c in ("method", "engine") if c in predictions)  # fmt: skip
    reading = (f" The findings' rates are corrected by the hand labels of <code>{_e(labels_file)}</code>."
               if labels_file else "")
    links = "".join(f"<li><a href=\"#finding={n}\">Finding {n}</a>: {_e(f['headline'])} ({len(f['ids'])} calls)</li>"
                    for n, f in found.items())  # fmt: skip
    drivers = sorted(v for v in rows["driver"].unique() if v)
    parts = [
        "<p><a href=\"index.html\">Back to the summary</a></p>",
        "<h1>Every call: its driver, labels and the customer's words</h1>",
        f"<p>{len(rows)} calls, labelled from the customer's side ({_e(made_by)}); confidence is the model's "
        "probability of the label it gave. The quotes are the customer's words the label rests on, with names and "
        f"numbers replaced (<code>[NAME]</code>, <code>[MEMBER_ID]</code>).{reading} Click a column's name to sort; "
        "the choices and the search box filter the rows; nothing is fetched from another host.</p>",
        f"<details open><summary>The findings and their calls</summary><ul>{links}</ul></details>" if links else "",
        "<div id=\"ci-banner\" role=\"status\" hidden><span id=\"ci-banner-text\"></span> "
        "<button type=\"button\" id=\"ci-show-all\">Show every call</button></div>",
        "<div class=\"ci-controls\"><label>Search <input type=\"search\" id=\"ci-search\" "
        "placeholder=\"words, call, driver\"></label>"
        + _select("driver", "Driver", drivers) + _select("sentiment", "Sentiment", list(SENTIMENTS))
        + _select("outcome", "Outcome", list(OUTCOMES)) + "<span id=\"ci-count\" aria-live=\"polite\"></span></div>",
        _explorer_table(rows),
        "<p><a href=\"index.html\">Back to the summary</a></p>",
        f"<style>{EXPLORER_CSS}</style>",
        # JSON inside a script element: "</" must not end the element early.
        "<script type=\"application/json\" id=\"ci-findings\">" + json.dumps(found).replace("</", "<\\/") + "</script>",
        f"<script>{EXPLORER_JS}</script>",
    ]
    return page("Call explorer", "\n".join(p for p in parts if p))


def build_explorer(results_dir: str | Path = config.RESULTS_DIR, reports_dir: str | Path = config.REPORTS_DIR) -> Path:
    """Write ``calls.html`` into ``reports_dir`` from the results files; returns the page written.

    Raises:
        FileNotFoundError: ``predictions.csv`` is missing (the message says which command writes it).
    """
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    problems: list[str] = []
    predictions = _read(results_dir / config.PREDICTIONS_FILE.name, pd.read_csv, problems)
    if predictions is None:
        raise FileNotFoundError(" ".join(problems))
    insights = _read(results_dir / config.INSIGHTS_FILE.name, pd.read_csv, problems)
    findings = _read(results_dir / config.FINDINGS_FILE.name, pd.read_csv, problems)
    reading = results_dir / f"insights{READING_RECORD_SUFFIX}"
    labels_file = json.loads(reading.read_text()).get("labels_file", "") if reading.is_file() else ""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / EXPLORER_PAGE
    path.write_text(explorer_page(predictions, insights, findings, labels_file), encoding="utf-8")
    return path
