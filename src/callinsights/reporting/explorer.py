"""The call explorer, ``reports/calls.html``: every call with its driver, labels, confidence and redacted evidence.

The rows are HTML (readable without script, and scanned for personal data like every page) with the short columns;
each call's details (team, call events, pending work, the customer's words) are JSON that a small inline script adds
as columns, shown on demand, so the page a reviewer opens stays short. The script sorts, filters and searches offline
and reads the address's fragment, so a finding links to its calls (with their words shown):
``calls.html#finding=2``, ``calls.html#ids=transcript_3,transcript_9``, ``#q=refund``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from callinsights import config
from callinsights.analysis.eda import ACTION_COLUMNS, PENDING_COLUMNS
from callinsights.data.outputs import READING_RECORD_SUFFIX
from callinsights.reporting.rendering import page
from callinsights.reporting.summary import EXPLORER_PAGE, FOLLOW_UP, escape, number, read_json, read_result
from callinsights.schema import OUTCOMES, SENTIMENTS, TASKS
from callinsights.text.redact import redact

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
table.ci-calls .ci-extra{display:none}
table.ci-calls.ci-words .ci-extra{display:table-cell}
.neg{color:#a11d2e;font-weight:600}.fu{color:#8a5a00}
body{max-width:none}
"""

#: The script that sorts, filters and searches the table, and follows the fragment (no library, no other host).
EXPLORER_JS = r"""
(function () {
  var table = document.getElementById('ci-calls');
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var findings = JSON.parse(document.getElementById('ci-findings').textContent);
  var details = JSON.parse(document.getElementById('ci-details').textContent);
  var words = document.getElementById('ci-words');
  function cell(tag, text, className) {
    var c = document.createElement(tag);
    c.className = 'ci-extra' + (className ? ' ' + className : '');
    c.textContent = text;
    return c;
  }
  details.columns.forEach(function (label) {
    var th = cell('th', '');
    th.scope = 'col';
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    th.appendChild(b);
    table.tHead.rows[0].appendChild(th);
  });
  rows.forEach(function (row) {
    (details.calls[row.id] || []).forEach(function (text, i) {
      row.appendChild(cell('td', text, details.quote[i] ? 'quote' : ''));
    });
  });
  function showWords() { table.classList.toggle('ci-words', words.checked); }
  words.addEventListener('change', showWords);
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
    if (only) { words.checked = true; showWords(); }
    banner.hidden = !text;
    document.getElementById('ci-banner-text').textContent = text;
    apply();
  }

  function apply() {
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var ok = !only || only.has(row.id);
      selects.forEach(function (s) { if (ok && s.value && row.getAttribute('data-' + s.dataset.column) !== s.value) { ok = false; } });
      if (ok && terms.length) {
        var text = row.textContent.toLowerCase();
        ok = terms.every(function (w) { return text.indexOf(w) >= 0; });
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
    return "".join(ch for ch in call if ch.isdigit()) or "0"


def explorer_rows(predictions: pd.DataFrame, insights: pd.DataFrame | None) -> pd.DataFrame:
    """One row per call as the explorer shows it: driver, team, labels and confidences, what happened in the call,
    the pending work, whether a person labelled it, and the model's evidence quotes, redacted again on the way (a
    quote is the customer's own words)."""
    frame = predictions.copy()
    if insights is not None:
        keep = [c for c in ["file", "topic", "agent_team", *ACTION_COLUMNS, *PENDING_COLUMNS] if c in insights]
        frame = frame.merge(insights[keep], on="file", how="left")
    optional = ["topic", "agent_team", "held_out", *(f"{kind}_{task}" for kind in ("confidence", "evidence")
                                                       for task in TASKS)]
    frame = frame.reindex(columns=[*frame.columns, *(c for c in optional if c not in frame)])  # missing: empty
    out = pd.DataFrame({"call": frame["file"].astype(str), "driver": frame["topic"].fillna(""),
                        "team": frame["agent_team"].fillna("")})
    for task in TASKS:
        out[task] = frame[task].fillna("").astype(str)
        out[f"confidence_{task}"] = pd.to_numeric(frame[f"confidence_{task}"], errors="coerce")
    out["in_the_call"] = [_cues(row, ACTION_COLUMNS) for _, row in frame.iterrows()]
    out["pending"] = [_cues(row, PENDING_COLUMNS) for _, row in frame.iterrows()]
    out["hand_labelled"] = frame["held_out"].astype(str).str.startswith("held out").map({True: "yes", False: ""})
    for task in TASKS:
        out[f"evidence_{task}"] = frame[f"evidence_{task}"].fillna("").astype(str).map(redact)
    return out


def explorer_findings(findings: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Finding number -> its headline and its calls (``findings.csv``), for the fragment ``#finding=N``."""
    if findings is None or not {"finding", "headline", "calls"} <= set(findings.columns):
        return {}
    return {str(int(row["finding"])): {"headline": str(row["headline"]), "ids": str(row["calls"]).split()}
            for _, row in findings.iterrows() if isinstance(row["calls"], str)}  # fmt: skip


#: The details the script adds as columns, shown on demand: column -> header (quotes last).
DETAILS = {"team": "Agent team", "in_the_call": "In the call", "pending": "Pending work",
           "evidence_sentiment": "Customer's words (sentiment)", "evidence_outcome": "Customer's words (outcome)"}


def explorer_details(rows: pd.DataFrame) -> dict[str, Any]:
    """Each call's details (:data:`DETAILS`) in column order, with their headers, for the script."""
    return {"columns": list(DETAILS.values()), "quote": [c.startswith("evidence") for c in DETAILS],
            "calls": {row["call"]: [row[c] for c in DETAILS] for _, row in rows.iterrows()}}


def _explorer_table(rows: pd.DataFrame) -> str:
    """The calls' short columns as an HTML table whose headers sort it (``data-type="number"`` sorts numerically)."""
    headers = [("call", "Call", "number"), ("driver", "Driver", ""), ("sentiment", "Sentiment", ""),
               ("confidence_sentiment", "Confidence", "number"), ("outcome", "Outcome", ""),
               ("confidence_outcome", "Confidence", "number"), ("hand_labelled", "Hand-labelled", "")]
    numeric = ' data-type="number"'
    head = "".join(f"<th scope=\"col\"{numeric if kind else ''}><button type=\"button\">{escape(label)}</button></th>"
                   for _, label, kind in headers)
    body = []
    for row in rows.itertuples(index=False):
        cells = []
        for column, _, kind in headers:
            value = getattr(row, column)
            if column == "call":
                cells.append(f"<td data-sort=\"{_call_number(value)}\">{escape(value)}</td>")
            elif kind:
                cells.append(f"<td data-sort=\"{value:.4f}\">{number(value, 'share')}</td>" if pd.notna(value)
                             else "<td></td>")
            else:
                mark = {"negative": "neg", FOLLOW_UP: "fu"}.get(value)
                cells.append(f"<td class=\"{mark}\">{escape(value)}</td>" if mark else f"<td>{escape(value)}</td>")
        body.append(f"<tr id=\"{escape(row.call)}\" data-driver=\"{escape(row.driver)}\" data-sentiment="
                    f"\"{escape(row.sentiment)}\" data-outcome=\"{escape(row.outcome)}\">{''.join(cells)}</tr>")
    return (f"<table id=\"ci-calls\" class=\"ci-calls\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table>")


def _select(column: str, label: str, values: list[str]) -> str:
    options = "".join(f"<option value=\"{escape(v)}\">{escape(v)}</option>" for v in values)
    return (f"<label>{escape(label)} <select data-column=\"{escape(column)}\"><option value=\"\">all</option>{options}"
            "</select></label>")


def explorer_page(predictions: pd.DataFrame, insights: pd.DataFrame | None = None,
                  findings: pd.DataFrame | None = None, labels_file: str = "") -> str:  # fmt: skip
    """The call explorer as one self-contained HTML page from ``predictions.csv``, ``call_insights.csv`` (driver,
    team, call events, pending work), ``findings.csv`` (for ``#finding=N``) and the findings' hand-label file."""
    rows = explorer_rows(predictions, insights)
    found = explorer_findings(findings)
    made_by = ", ".join(f"{c} {'/'.join(sorted(map(str, predictions[c].dropna().unique())))}"
                        for c in ("method", "engine") if c in predictions)  # fmt: skip
    reading = (f" The findings' rates are corrected by the hand labels of <code>{escape(labels_file)}</code>."
               if labels_file else "")
    links = "".join(f"<li><a href=\"#finding={n}\">Finding {n}</a>: {escape(f['headline'])} ({len(f['ids'])} "
                    "calls)</li>" for n, f in found.items())
    drivers = sorted(v for v in rows["driver"].unique() if v)
    parts = [
        "<p><a href=\"index.html\">Back to the summary</a></p>",
        "<h1>Every call: its driver, labels and the customer's words</h1>",
        f"<p>{len(rows)} calls, labelled from the customer's side ({escape(made_by)}); confidence is the model's "
        "probability of the label it gave. The quotes are the customer's words the label rests on, with names and "
        f"numbers replaced (<code>[NAME]</code>, <code>[MEMBER_ID]</code>).{reading} Click a column's name to sort; "
        "the choices and the search box filter the rows (the search reads the details too); nothing is fetched from "
        "another host.</p>",
        f"<details open><summary>The findings and their calls</summary><ul>{links}</ul></details>" if links else "",
        "<div id=\"ci-banner\" role=\"status\" hidden><span id=\"ci-banner-text\"></span> "
        "<button type=\"button\" id=\"ci-show-all\">Show every call</button></div>",
        "<div class=\"ci-controls\"><label>Search <input type=\"search\" id=\"ci-search\" "
        "placeholder=\"words, call, driver\"></label>"
        + _select("driver", "Driver", drivers) + _select("sentiment", "Sentiment", list(SENTIMENTS))
        + _select("outcome", "Outcome", list(OUTCOMES))
        + "<label><input type=\"checkbox\" id=\"ci-words\"> Show each call's team, events, pending work and the "
        "customer's words</label><span id=\"ci-count\" aria-live=\"polite\"></span></div>",
        "<noscript><p>Without script the table shows the short columns only; each call's details are in "
        "<code>results/predictions.csv</code> and <code>results/call_insights.csv</code>.</p></noscript>",
        _explorer_table(rows),
        "<p><a href=\"index.html\">Back to the summary</a></p>",
        f"<style>{EXPLORER_CSS}</style>",
        # JSON inside a script element: "</" must not end the element early.
        "<script type=\"application/json\" id=\"ci-findings\">" + json.dumps(found).replace("</", "<\\/") + "</script>",
        "<script type=\"application/json\" id=\"ci-details\">"
        + json.dumps(explorer_details(rows)).replace("</", "<\\/") + "</script>",
        f"<script>{EXPLORER_JS}</script>",
    ]
    return page("Call explorer", "\n".join(p for p in parts if p))


def build_explorer(results_dir: str | Path = config.RESULTS_DIR, reports_dir: str | Path = config.REPORTS_DIR) -> Path:
    """Write ``calls.html`` into ``reports_dir`` from the results files; returns the page written, or raises
    FileNotFoundError naming the command that writes a missing ``predictions.csv``."""
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    problems: list[str] = []
    predictions = read_result(results_dir / config.PREDICTIONS_FILE.name, pd.read_csv, problems)
    if predictions is None:
        raise FileNotFoundError(" ".join(problems))
    insights = read_result(results_dir / config.INSIGHTS_FILE.name, pd.read_csv, problems)
    findings = read_result(results_dir / config.FINDINGS_FILE.name, pd.read_csv, problems)
    reading = read_result(results_dir / f"insights{READING_RECORD_SUFFIX}", read_json, problems) or {}
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / EXPLORER_PAGE
    path.write_text(explorer_page(predictions, insights, findings, reading.get("labels_file", "")), encoding="utf-8")
    return path
