"""The same number is the same everywhere (issue 21 goal 4).

The rendered pages (``reports/index.html``, the notebook pages ``reports/0*.html`` and the call explorer) are read as
text, and each headline quantity is found on them by a labelled pattern: the corrected label shares with their
intervals, the held-out accuracy and macro-F1 with theirs, each finding's number, interval and calls, and each
driver's volume and rates. What a page shows must be the results files' value written by
:func:`callinsights.reporting.summary.number`, the one rounding of every page: a different value or a different
rounding ("33.6%" for "34%", "0.8" or "0.800" for "0.80") fails, naming the page and the quantity.

A labelled pattern is the quantity's label followed, with no other number between, by the number and (for an
estimate) its interval in parentheses; in a table, the label is in the row's first cells or the column's heading and
the cell holds the number. Where the same label legitimately names another number -- the model's share before the
correction, the hand labels alone, the client's reading, a driver's own rate, a baseline -- the text around it must
say so (a word from :data:`ALTERNATES`), and the number must then be that one. Numbers printed with four decimals or
more are raw output, not a number shown to a reader, and are not read.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from callinsights import config
from callinsights.reporting.summary import EXPLORER_PAGE, number, overall_rates

NUM = {
    "share": r"[-+]?\d+(?:\.\d+)?",
    "rate": r"[-+]?\d+(?:\.\d+)?",
    "points": r"[-+]?\d+(?:\.\d+)?",
    "score": r"-?\d\.\d{1,3}(?!\d)",
    "count": r"\d+",
}
#: The number a kind is shown as: a share must carry its "%", a rate or difference may, a score has decimals.
VALUE = {
    "share": NUM["share"] + r"\s?%",
    "rate": NUM["rate"] + r"%?",
    "points": NUM["points"] + r"%?",
    "score": NUM["score"],
    "count": NUM["count"],
}
#: Between a label and its number: a few characters, no digit, no parenthesis, no sentence end.
GAP = r"[^\d().;!?]{0,25}?"
#: The interval after a number: "(21% to 46%)", "(95% interval 44%-85%; ...)", "(adjusted 95% interval -79 to -7)".
INTERVAL = (r"\s?[^().;!?]{{0,60}}?\((?:[^()\d]{{0,30}}?\d{{2}}% )?[^()\d]{{0,30}}?(?P<low>{num})%?\s*(?:to|–|—|-)\s*"
            r"(?P<high>{num})%?\s*[);,]")

#: Words that say a number is another quantity with the same label, and which (see :func:`alternates`).
ALTERNATES = {
    "model": r"model alone|model's own|model's labels|predictions alone|naive|uncorrected|before (?:the )?correct",
    "hand": r"hand labels alone|hand-labelled calls alone|labels alone|hand labels|readers|guideline",
    "client": r"client",
    "baseline": r"majority|most common|most frequent|baseline|vader|tf-idf|\bwords\b|generate|gpt4all|grammar"
                r"|\bscore,|answer scoring|whole call|previous|lexicon|confidence|calibrat",
}


@dataclass
class Quantity:
    """A headline quantity: how pages name it and the values the results files give it, already formatted.

    Attributes:
        name: How a failure names it.
        label: The pattern that names it on a page (in prose, or in a table row's first cells or column heading).
        kind: How :func:`number` writes it.
        expected: ``(value, low, high)`` or ``(value,)`` from the results files.
        others: Alternate key (:data:`ALTERNATES`, or a driver's name) -> the values that label may also name.
        heading: For a table, a pattern the column heading must match (volumes: the column is "Calls"); an
            estimate with a heading is read in tables only.
        context: A pattern the text around must match (a task's score is read where the task is named).
        on_index: Whether the summary must show it (so the check cannot pass by finding nothing).
    """

    name: str
    label: str
    kind: str
    expected: tuple[str, ...]
    others: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    heading: str = ""
    context: str = ""
    on_index: bool = True


def formatted(kind: str, *values) -> tuple[str, ...]:
    return tuple(number(v, kind) for v in values)


def as_rate(*shares) -> list[float]:
    return [100 * float(s) for s in shares]


def quantities(results: Path) -> list[Quantity]:
    """The headline quantities and their values, from the results files in ``results``."""
    evaluation = results / config.EVALUATION_DIR.name
    rates = pd.read_csv(results / config.PPI_RATES_FILE.name)
    drivers = pd.read_csv(results / config.DRIVERS_FILE.name)
    findings = pd.read_csv(results / config.FINDINGS_FILE.name)
    metrics = json.loads((results / config.METRICS_FILE.name).read_text())
    other_path = evaluation / "other_reading.csv"
    other = pd.read_csv(other_path) if other_path.is_file() else pd.DataFrame(
        columns=["reading", "task", "measure", "label", "value", "low", "high"])
    # Every other system scored on the same calls: baselines, every configuration, their calibration, the previous
    # solution's reported scores.
    systems = pd.concat([pd.read_csv(evaluation / name) for name in
                         ("baselines.csv", "comparison_intervals.csv", "calibration.csv")
                         if (evaluation / name).is_file()], ignore_index=True)
    previous = metrics.get("previous_solution_reported_not_remeasured") or {}
    group_rates = rates[rates["group"] != "all calls"]
    out = []

    # The corrected label shares over all calls.
    overall = overall_rates(rates)
    labels = {"neutral": (r"\bneutral\b", "neutral"), "negative": (r"\bnegative\b", "negative"),
              "follow-up": (r"follow-up action needed|\bneed(?:s|ing)? follow-up", "follow-up action needed")}
    for rate, (label, value) in labels.items():
        row = overall.loc[rate]
        hand = [formatted("share", row["labels_only"], row["labels_low"], row["labels_high"])]
        readings = other[(other["measure"] == "share") & (other["label"] == value)]
        out.append(Quantity(
            f"{rate} share (corrected)", label, "share",
            formatted("share", row["ppi"], row["ppi_low"], row["ppi_high"]),
            {"model": [formatted("share", row["naive"], row["naive_low"], row["naive_high"])],
             "hand": hand + [formatted("share", r.value, r.low, r.high) for r in readings.itertuples()
                             if r.reading != "client"],
             "client": [formatted("share", r.value, r.low, r.high) for r in readings.itertuples()
                        if r.reading == "client"],
             **{group: [formatted("share", r.ppi, r.ppi_low, r.ppi_high), formatted("share", r.naive),
                        formatted("share", r.labels_only, r.labels_low, r.labels_high)]
                for group, r in group_rates[group_rates["rate"] == rate].set_index("group").iterrows()}}))

    # The default's held-out scores, per task.
    for task in ("sentiment", "outcome"):
        for metric, label in (("accuracy", r"\baccuracy\b"), ("macro_f1", r"\bmacro[- ]?F1\b")):
            m = next(x for x in metrics["default_held_out"][task] if x["metric"] == metric)
            others = {
                "client": [formatted("score", r.value, r.low, r.high) for r in other.itertuples()
                           if r.measure == metric and r.task == task and r.reading == "client"],
                # A sentence often gives a system's two tasks together: either task's score may be the one read.
                "baseline": [formatted("score", b[metric], b.get(f"{metric}_low"), b.get(f"{metric}_high"))
                             for _, b in systems.iterrows() if pd.notna(b.get(metric))]
                + [formatted("score", previous[key]) for key in (f"sentiment_{metric}", f"outcome_{metric}")
                   if key in previous],
            }
            for d in metrics.get("driver_accuracy") or []:
                if d.get("task") == task and metric in d:
                    others.setdefault(d["driver"], []).append(formatted("score", d[metric]))
            # Where both tasks are named, the other task's score may be the one read.
            other_task = next(t for t in ("sentiment", "outcome") if t != task)
            theirs = next(x for x in metrics["default_held_out"][other_task] if x["metric"] == metric)
            others[other_task] = [formatted("score", theirs["value"], theirs["low"], theirs["high"])]
            out.append(Quantity(f"{task} held-out {metric}", label, "score",
                                formatted("score", m["value"], m["low"], m["high"]), others,
                                context=rf"\b{task}\b"))

    # Each finding's number, interval and calls.
    for _, f in findings.iterrows():
        kind = "points" if "points" in str(f["unit"]) else "rate"
        headline = re.escape(str(f["headline"]))
        out.append(Quantity(f"finding {f['finding']} ({f['headline']})", headline, kind,
                            formatted(kind, f["value"], f["low"], f["high"])))
        out.append(Quantity(f"finding {f['finding']} calls", headline, "count", formatted("count", f["n_calls"]),
                            on_index=False))

    # Each driver's volume and its follow-up and negative calls per 100.
    for _, d in drivers[drivers["driver"] != "all calls"].iterrows():
        name = re.escape(str(d["driver"]))
        own = [formatted("rate", *as_rate(r.ppi, r.ppi_low, r.ppi_high)) for r in
               group_rates[group_rates["group"] == d["driver"]].itertuples()]
        out.append(Quantity(f"{d['driver']}: calls", name, "count", formatted("count", d["calls"]),
                            {"hand": [formatted("count", d["labelled"])]}, heading=r"^calls$"))
        out.append(Quantity(f"{d['driver']}: follow-up per 100 calls", name, "rate",
                            formatted("rate", d["follow_up_per_100"], d["follow_up_low"], d["follow_up_high"]),
                            {"any": own}, heading=r"follow-up.*per 100(?! of all)"))
        out.append(Quantity(f"{d['driver']}: negative per 100 calls", name, "rate",
                            formatted("rate", d["negative_per_100"], d["negative_low"], d["negative_high"]),
                            {"any": own}, heading=r"negative.*per 100|per 100.*negative"))
    return out


def plain(text: str) -> str:
    return " ".join(text.replace("\u2212", "-").replace("\xa0", " ").split())


def read_page(path: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    return _parsed(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _parsed(path: Path, mtime: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style", "select"]) + soup.select(".jp-InputArea, .input_area, .jp-Cell-inputWrapper"):
        tag.decompose()
    cells = []
    for table in soup.find_all("table"):
        head_rows = table.find("thead").find_all("tr") if table.find("thead") else table.find_all("tr")[:1]
        headings: list[str] = []
        for tr in head_rows:  # several heading rows (a pandas MultiIndex): each column's texts joined
            for i, th in enumerate(tr.find_all(["th", "td"])):
                text = plain(th.get_text(" "))
                headings += [""] * (i + 1 - len(headings))
                headings[i] = f"{headings[i]} {text}".strip()
        carried: list[tuple[str, int]] = []  # row labels spanning several rows (rowspan)
        for tr in table.find_all("tr"):
            if tr in head_rows:
                continue
            tds = tr.find_all(["td", "th"])
            texts = [text for text, _ in carried] + [plain(td.get_text(" ")) for td in tds]
            carried = [(text, n - 1) for text, n in carried if n > 1]
            for td in tds:
                if int(td.get("rowspan", 1)) > 1 and not re.search(r"\d", td.get_text()):
                    carried.append((plain(td.get_text(" ")), int(td["rowspan"]) - 1))
            label_cells = []
            for text in texts:
                if re.search(r"\d", text):
                    break
                label_cells.append(text)
            label = " ".join(label_cells)
            for i, text in enumerate(texts[len(label_cells):], start=len(label_cells)):
                cells.append((label, headings[i] if i < len(headings) else "", text))
        table.decompose()
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z*])", plain(soup.get_text(" ")))
    return sentences, cells


def shown_in(path: Path, quantity: Quantity) -> list[tuple[tuple[str, ...], int, str]]:
    """Every place the page shows the quantity: the numbers read, which of the quantity's numbers the first is (0 the
    value, 1 the low end, 2 the high end: a table may give them columns of their own) and the text around them.

    A number of an estimate is read with its interval, or alone where the text says it is another quantity
    (:data:`ALTERNATES`: "Model alone") or in a column of the interval's ends.
    """
    sentences, cells = read_page(path)
    value, num = VALUE[quantity.kind], NUM[quantity.kind]
    interval = INTERVAL.format(num=num)
    named_other = re.compile("|".join(ALTERNATES.values()), re.IGNORECASE)
    found = []
    # A mean with its spread ("0.84 ± 0.04") is another quantity (repeated runs), not the estimate.
    prose = re.compile(rf"(?:{quantity.label}){GAP}(?<![\d.])(?P<value>{value})(?!\s*(?:±|\+-))(?:{interval})?",
                       re.IGNORECASE)
    if quantity.kind == "count":  # "Claim denied (44 calls", "Claim denied: 44 calls", "Claim denied 44 (22%)"
        prose = re.compile(rf"(?:{quantity.label})\s*[(:,]?\s*(?P<value>\d+)(?: calls\b|\s\(\d+%\))",
                           re.IGNORECASE)
    for sentence in sentences if quantity.kind == "count" or not quantity.heading else ():
        if quantity.context and not re.search(quantity.context, sentence, re.IGNORECASE):
            continue
        for m in prose.finditer(sentence):
            numbers = (m["value"],) + ((m["low"], m["high"]) if m.groupdict().get("low") else ())
            if len(numbers) < len(quantity.expected) and not named_other.search(sentence):
                continue
            found.append((numbers, 0, sentence))
    cell_pattern = re.compile(rf"(?P<value>{value})(?:\s*\(\s*(?:95% interval )?(?P<low>{num})%?\s*(?:to|–|—|-)\s*"
                              rf"(?P<high>{num})%?\s*\))?(?: \*)?", re.IGNORECASE)
    label = re.compile(quantity.label, re.IGNORECASE)
    for row, heading, text in cells:
        context = f"{row} {heading}"
        if quantity.heading:
            if not (label.fullmatch(row.rstrip(" *")) and re.search(quantity.heading, heading, re.IGNORECASE)):
                continue
        elif not label.search(context):
            continue
        if quantity.context and not re.search(quantity.context, context, re.IGNORECASE):
            continue
        m = cell_pattern.fullmatch(text)
        if not m:
            continue
        numbers = (m["value"],) + ((m["low"], m["high"]) if m["low"] else ())
        position = 0
        if len(numbers) < len(quantity.expected):
            position = 1 if re.search(r"\b(?:low|lower|from)\b", heading, re.IGNORECASE) else (
                2 if re.search(r"\b(?:high|upper|to)\b", heading, re.IGNORECASE) else 0)
            if re.search(r"\bwid(?:th|e)\b", heading, re.IGNORECASE) or (
                    position == 0 and not named_other.search(context)):
                continue
        found.append((numbers, position, f"{row} | {heading}: {text}"))
    return found


def normal(numbers: tuple[str, ...]) -> tuple[str, ...]:
    """Numbers compared as written, less the signs of their unit (a rate may be shown as "93" or "93%")."""
    return tuple(n.replace("%", "").replace(" ", "").replace("×", "").lstrip("+") for n in numbers)


def distance(a: str, b: str) -> float:
    try:
        return abs(float(normal((a,))[0]) - float(normal((b,))[0]))
    except ValueError:
        return float("inf")


def allowed(quantity: Quantity, context: str) -> list[tuple[str, ...]]:
    """The values the quantity's label may name in this context: its own, and those the context says it is."""
    values = [quantity.expected]
    for key, others in quantity.others.items():
        pattern = ALTERNATES.get(key, re.escape(key) if key != "any" else "")
        if key == "any" or re.search(pattern, context, re.IGNORECASE):
            values += others
    return values


def differences(pages: list[Path], results: Path) -> tuple[list[str], dict[str, set[str]]]:
    """Every number shown that is not the results files' number rounded by :func:`number`, and where each quantity
    was found."""
    problems, where = [], {}
    for quantity in quantities(results):
        for page in pages:
            for numbers, position, context in shown_in(page, quantity):
                span = slice(position, position + len(numbers))
                if any(len(v) >= span.stop and normal(v[span]) == normal(numbers)
                       for v in allowed(quantity, context)):
                    if normal(numbers) == normal(quantity.expected[span]):
                        where.setdefault(quantity.name, set()).add(page.name)
                    continue
                named = [key for key in quantity.others if key != "any" and re.search(
                    ALTERNATES.get(key, re.escape(key)), context, re.IGNORECASE)]
                nearest = sorted(allowed(quantity, context)[1:], key=lambda v: distance(v[position], numbers[0]))
                also = (f", or, as named there ({', '.join(named)}), nearest "
                        f"{'; '.join(' / '.join(v) for v in nearest[:2])}" if named else "")
                problems.append(f"{page.name}: {quantity.name} shown as {' / '.join(numbers)}; the results give "
                                f"{' / '.join(quantity.expected)}{also} (in: {context[:160]!r})")
    return problems, where


def committed_pages() -> list[Path]:
    return [config.REPORTS_DIR / "index.html", *sorted(config.REPORTS_DIR.glob("0*.html")),
            config.REPORTS_DIR / EXPLORER_PAGE]


def test_every_page_shows_the_results_numbers_rounded_one_way():
    problems, _ = differences(committed_pages(), config.RESULTS_DIR)
    assert not problems, "\n".join(problems)


def test_the_summary_shows_every_headline_quantity():
    # So the check above cannot pass by finding nothing: each headline quantity is found on the summary.
    index = config.REPORTS_DIR / "index.html"
    _, where = differences([index], config.RESULTS_DIR)
    missing = [q.name for q in quantities(config.RESULTS_DIR) if q.on_index and "index.html" not in where.get(q.name, ())]
    assert not missing, f"index.html does not show: {missing}"


def test_each_findings_calls_are_counted_the_same_on_the_summary_and_the_explorer():
    findings = pd.read_csv(config.FINDINGS_FILE)
    soup = BeautifulSoup((config.REPORTS_DIR / "index.html").read_text(encoding="utf-8"), "html.parser")
    links = {a["href"].split("=", 1)[1]: a.get_text(" ") for a in soup.select(f"a[href^='{EXPLORER_PAGE}#finding=']")}
    assert links, "index.html links no finding to its calls"
    for _, f in findings.iterrows():
        assert re.search(rf"\b{number(f['n_calls'], 'count')} calls\b", links[str(f["finding"])]), (
            f"finding {f['finding']}: index.html links '{links[str(f['finding'])]}', findings.csv has {f['n_calls']}")
    _, where = differences([config.REPORTS_DIR / EXPLORER_PAGE], config.RESULTS_DIR)
    assert all(f"finding {n} calls" in where for n in findings["finding"]), where


@pytest.fixture
def copies(tmp_path):
    """Copies of the committed results and pages, to change one number and see the check fail."""
    results, reports = tmp_path / "results", tmp_path / "reports"
    shutil.copytree(config.RESULTS_DIR, results, ignore=shutil.ignore_patterns("*.sqlite", "benchmarks"))
    reports.mkdir()
    for page in committed_pages():
        shutil.copy(page, reports / page.name)
    return results, reports


def test_the_check_fails_when_a_results_value_changes(copies):
    results, reports = copies
    rates = pd.read_csv(results / "ppi_rates.csv")
    rates.loc[(rates["group"] == "all calls") & (rates["rate"] == "neutral"), "ppi"] += 0.05
    rates.to_csv(results / "ppi_rates.csv", index=False)
    problems, _ = differences(sorted(reports.glob("*.html")), results)
    assert any(p.startswith("index.html: neutral share (corrected) shown as") for p in problems), problems


def test_the_check_fails_when_a_page_rounds_a_number_another_way(copies):
    results, reports = copies
    index = reports / "index.html"
    rates = overall_rates(pd.read_csv(results / "ppi_rates.csv")).loc["neutral"]
    shown = f"{number(rates['ppi'], 'share')} ({number(rates['ppi_low'], 'share')} to"
    assert shown in index.read_text(encoding="utf-8")
    index.write_text(index.read_text(encoding="utf-8").replace(
        shown, f"{100 * rates['ppi']:.1f}% ({number(rates['ppi_low'], 'share')} to", 1), encoding="utf-8")
    findings = pd.read_csv(results / "findings.csv")
    calls = reports / EXPLORER_PAGE
    first = f"{findings.loc[0, 'headline']} ({findings.loc[0, 'n_calls']} calls)"
    assert first in calls.read_text(encoding="utf-8")
    calls.write_text(calls.read_text(encoding="utf-8").replace(
        first, f"{findings.loc[0, 'headline']} ({findings.loc[0, 'n_calls'] + 1} calls)"), encoding="utf-8")
    problems, _ = differences(sorted(reports.glob("*.html")), results)
    assert any(p.startswith(f"index.html: neutral share (corrected) shown as {100 * rates['ppi']:.1f}%")
               for p in problems), problems
    assert any(p.startswith(f"calls.html: finding {findings.loc[0, 'finding']} calls") for p in problems), problems
