"""The README and docs/ tell the truth: the figures they quote are the ones the result files hold (never typed-in
values), the commands, options and make targets they name exist, and their links lead somewhere."""

import contextlib
import functools
import io
import json
import re
from contextlib import suppress
from pathlib import Path

import pytest

from callinsights import config

ROOT = config.PROJ_ROOT
README = ROOT / "README.md"
DOCS = ROOT / "docs"
METHODS = DOCS / "methods.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


def flat(path: Path) -> str:
    """The page's text with every run of white space (line breaks included) as one space."""
    return " ".join(path.read_text().split())


def table_row(path: Path, label: str) -> tuple[float, float]:
    for line in path.read_text().splitlines():
        if line.startswith("|") and label in line:
            cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
            return float(cells[-2]), float(cells[-1])
    raise AssertionError(f"{path.name} has no table row for {label!r}")


def test_the_methods_page_quotes_the_measured_macro_f1():
    metrics = json.loads(config.METRICS_FILE.read_text())
    comparison = {row["configuration"]: row for row in metrics["comparison"]}
    baselines = {(row["system"], row["task"]): row["macro_f1"] for row in metrics["baselines"]}
    quoted = {
        "**`probe` (default)**": comparison["probe (cross-validated)"],
        "`score`, batch-calibrated |": comparison["score, batch-calibrated"],
        "`score`, reference-calibrated": comparison["score, reference-calibrated"],
        "`generate`, llama.cpp + grammar": comparison["generate, llama.cpp + grammar"],
        "`generate`, gpt4all": comparison["generate, gpt4all"],
    }
    for label, row in quoted.items():
        assert table_row(METHODS, label) == (round(row["sentiment_macro_f1"], 2),
                                             round(row["outcome_macro_f1"], 2)), label
    for label, system in (("majority class", "majority class"),
                          ("VADER lexicon", "VADER + pending cues (customer side)"),
                          ("words (TF-IDF)", "words (TF-IDF) + the same probe")):
        assert table_row(METHODS, label) == (round(baselines[(system, "sentiment")], 2),
                                             round(baselines[(system, "outcome")], 2)), label


def test_the_docs_name_the_default_method_the_code_uses():
    from callinsights.classify.settings import Settings

    text = METHODS.read_text()
    assert f"**`{Settings.method}` (default)**" in text and f"- **`{Settings.method}` (the default)**" in text
    assert re.search(rf"### Why `{Settings.method}` is the default", text)


def test_the_methods_page_quotes_the_measured_intervals_and_ablation():
    metrics = json.loads(config.METRICS_FILE.read_text())
    text = flat(METHODS)
    for task in ("sentiment", "outcome"):
        f1 = next(m for m in metrics["default_held_out"][task] if m["metric"] == "macro_f1")
        assert f"{f1['low']:.2f}-{f1['high']:.2f} ({task})" in text, task
    whole = next(r for r in metrics["comparison"] if r["configuration"] == "probe (cross-validated), whole call")
    assert f"outcome score to {whole['outcome_macro_f1']:.2f}" in text


def test_the_formats_page_quotes_the_redaction_evaluation_as_the_script_prints_it():
    from tests.support.pii import evaluate, read_fixture, table

    assert table(evaluate(read_fixture())) in (DOCS / "formats.md").read_text()


def test_the_probe_selection_and_flip_rates_are_what_the_experiments_wrote():
    """The figures `make experiments` wrote, in the methods page, and the two headline ones in the README."""
    import pandas as pd

    text = flat(METHODS)
    table = pd.read_csv(config.RESULTS_DIR / "probe_selection.csv")
    default = table[table["variant"].str.startswith("default")].set_index(["task", "fitted_on", "reference"])

    def spread(key) -> str:
        return f"{default.loc[key, 'macro_f1_mean']:.3f} ± {default.loc[key, 'macro_f1_std']:.3f}"

    for key in [("sentiment", "guideline", "guideline"), ("sentiment", "client", "guideline"),
                ("sentiment", "guideline", "client"), ("sentiment", "client", "client"),
                ("outcome", "guideline", "guideline")]:
        assert spread(key) in text, key
    readme = flat(README)
    assert (f"sentiment macro-F1 is **{spread(('sentiment', 'guideline', 'guideline'))}** and outcome "
            f"**{spread(('outcome', 'guideline', 'guideline'))}**") in readme
    negative = default.loc[("sentiment", "guideline", "guideline")]
    assert f"Negative F1 is {negative['negative_f1_mean']:.3f} ± {negative['negative_f1_std']:.3f}" in text
    references = pd.read_csv(config.RESULTS_DIR / "brier_reference.csv").set_index(["task", "reference"])
    for task in ("sentiment", "outcome"):
        brier = default.loc[(task, "guideline", "guideline"), "brier_mean"]
        assert f"{brier:.3f} against {references.loc[(task, 'guideline'), 'no_model_brier']:.3f}" in text, task
    flips = pd.read_csv(config.RESULTS_DIR / "flip_rates.csv").set_index("task")
    assert f"**{flips.loc['sentiment', 'flip_rate']:.1%}** of {flips.loc['sentiment', 'pairs']} swaps" in text
    assert f"**{flips.loc['outcome', 'flip_rate']:.1%}** the outcome" in text


def test_the_speed_figures_are_what_the_benchmarks_wrote():
    # `make benchmark` and `make benchmark-scale` write results/benchmarks/*.md; docs/scale.md quotes them, never
    # retyped, and the README quotes the analyst's path.
    scale_page = DOCS / "scale.md"
    throughput = config.BENCHMARK_FILES["throughput"].read_text().splitlines()
    pipeline = re.search(r"pipeline: [\d.]+ s/call, [\d.]+ calls/min", throughput[1])[0]
    tokens = re.search(r"\d+ tokens/s", throughput[2])[0]
    ratio = throughput[3].removeprefix("ratio ")
    text = flat(scale_page)
    assert f"`{pipeline}`" in text and f"llama.cpp `{tokens}`" in text and f"{ratio} times llama.cpp's own" in text
    scale = config.BENCHMARK_FILES["scale"].read_text()
    tables = [line for line in scale.splitlines() if line.startswith("|") or line.startswith("local backend:")]
    page = scale_page.read_text()
    assert tables and all(line in page for line in tables), "docs/scale.md's speed tables differ from the benchmark"
    path = config.BENCHMARK_FILES["analyst_path"].read_text().splitlines()
    assert all(f"`{line}`" in flat(README) for line in path[1:]), "README's analyst's path differs from its benchmark"


# --- Commands, targets and links -------------------------------------------------------------------------------

_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")
_COMMAND = re.compile(r"^(?:\S*python3? -m )?(?:callinsights )?([a-z]+)(?=\s|$)(.*)$")
_MAKE = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")
_OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def code_lines(path: Path) -> list[str]:
    """The page's shell lines (fenced blocks, continuations joined, comments dropped) and inline code spans."""
    text = path.read_text()
    lines = []
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            lines.append(" ".join(line.split(" #")[0].split()))
    return lines + [span.strip() for span in _SPAN.findall(_FENCE.sub("", text))]


@functools.cache
def command_help(words: tuple[str, ...]) -> str:
    """What ``python -m callinsights WORDS --help`` prints (the forwarded ``notebooks`` and ``reports`` included)."""
    from callinsights.pipelines.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), suppress(SystemExit):
        main([*words, "--help"])
    return out.getvalue()


def command_names() -> set[str]:
    listed = command_help(()).split("positional arguments:")[1].split("options:")[0]
    return set(re.findall(r"^    ([a-z]+)\b", listed, re.MULTILINE))


def options(words: tuple[str, ...]) -> set[str]:
    """The options the help of ``callinsights WORDS`` lists."""
    return set(_OPTION.findall(command_help(words)))


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def wrong_options(line: str) -> list[str]:
    """The options a shell line passes to a ``callinsights`` command that the command does not have."""
    match = _COMMAND.match(line)
    if not match or match[1] not in command_names():
        return []
    words = match[2].split()
    command = (match[1], words[0]) if words and not words[0].startswith("-") else (match[1],)
    return [option for option in _OPTION.findall(match[2]) if option not in options(command)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_option_a_page_names_exists(page):
    wrong = [f"`{line}`: {', '.join(found)}" for line in code_lines(page) if (found := wrong_options(line))]
    assert wrong == [], f"{page.name} names options its command does not have:\n" + "\n".join(wrong)


def test_the_checker_catches_a_wrong_option_and_target(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Run `python -m callinsights analyze --no-such-flag` and `make nowhere`; see `reports/01-code.html`.\n"
                    "```bash\n.venv/bin/python -m callinsights notebooks run --only 04 \\\n    --bad  # a comment --x\n"
                    "callinsights store prune --keep 3 --dry-run\n```\n")
    lines = code_lines(page)
    assert [wrong_options(line) for line in lines] == [["--bad"], [], ["--no-such-flag"], [], []]
    assert {t for line in lines for t in _MAKE.findall(line)} - make_targets() == {"nowhere"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_a_page_names_exists(page):
    named = {target for line in code_lines(page) for target in _MAKE.findall(line)}
    assert named - make_targets() == set(), f"{page.name} names make targets the Makefile lacks"


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", _FENCE.sub("", path.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists() or (anchor and anchor not in anchors(path)):
            broken.append(target)
    assert broken == [], f"{page.name}: broken links {broken}"


def test_the_readme_reads_in_ten_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/ (issue 22 asks about 250)"
    linked = set(_LINK.findall(README.read_text()))
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"docs/{p.name}" not in linked]
    assert unlinked == [], f"docs pages the README does not link: {unlinked}"
