"""The report renderer: no code for the reviewer, nothing fetched from another host, text dollars, alt text, cuts."""

from __future__ import annotations

import re

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from callinsights import config

from callinsights.pipelines import notebooks

from callinsights.reporting import rendering
# A 1x1 PNG, enough for an <img>.
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PNG2 = PNG.replace("Wj", "Wk")
# Attributes through which a page loads something; an "http" in prose or an SVG namespace is not a request.
LOADS = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)


def image(data=PNG):
    return new_output("display_data", data={"image/png": data, "text/plain": "<Figure size 640x480 with 1 Axes>"})


def code(source, outputs=(), count=1, **metadata):
    cell = new_code_cell(source, execution_count=count, outputs=list(outputs))
    cell.metadata.update(metadata)
    return cell


def example_notebook():
    table = "<table class=\"dataframe\"><thead><tr><th>x</th></tr></thead><tbody>" + "".join(
        f"<tr><td>row{i}</td></tr>" for i in range(40)) + "</tbody></table>"
    nb = new_notebook(cells=[
        new_markdown_cell("# 09 · Example report\nIt costs $50 and then $20; `echo $HOME` stays code."),
        code("SAMPLE_SIZE = None", tags=["parameters"]),
        code("%load_ext watermark\n%watermark --python", [new_output("stream", name="stdout", text="pandas: 3\n")]),
        new_markdown_cell("## 2. Figures"),
        code("fig, ax = plt.subplots()\nax.set_title(f'Calls per team ({n} calls)')", [image()]),
        code("plot()", [image(PNG2)], caption="Share of calls per driver, largest first"),
        code("import warnings; warnings.warn('old')", [
            new_output("stream", name="stderr", text="UserWarning: old\n"),
            new_output("stream", name="stdout", text="labelling:  40%|####  | 80/200 [00:10<00:15]\rlabelling: 100%|"
                                                     "######| 200/200 [00:20<00:00]\ndone: 200 calls\n"),
            new_output("display_data", data={rendering.WIDGET_MIME: {"model_id": "abc", "version_major": 2},
                                             "text/plain": "labelling:   0%|          | 0/200"}),
        ]),
        code("table", [new_output("execute_result", data={"text/html": table, "text/plain": "x"},
                                  execution_count=1)]),
        code("record_metrics(calls=3)", [new_output("display_data", data={
            notebooks.METRICS_MIME: {"calls": 3}, "text/plain": "{\n \"calls\": 3\n}"})]),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    return nb


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    path = folder / "09_example.ipynb"
    nbformat.write(example_notebook(), str(path))
    report = rendering.render_notebook(path, folder)
    return (BeautifulSoup(report.reviewer.read_text(), "html.parser"),
            BeautifulSoup(report.code.read_text(), "html.parser"), report)


def test_pages_load_nothing_from_another_host_and_have_no_mathjax(pages):
    reviewer, code_page, report = pages
    for path in (report.reviewer, report.code):
        text = path.read_text()
        assert not LOADS.search(text), LOADS.search(text)
        assert "mathjax" not in text.lower()
        assert "widget" not in " ".join(s.get("src", "") for s in BeautifulSoup(text, "html.parser")("script"))


def test_reviewer_page_has_no_code_versions_metrics_json_warnings_or_progress_bars(pages):
    reviewer, _, _ = pages
    text = reviewer.get_text(" ")
    for absent in ("set_title", "SAMPLE_SIZE", "pandas: 3", "\"calls\": 3", "UserWarning", "%|", "0/200"):
        assert absent not in text, absent
    assert "done: 200 calls" in text  # what the cell printed besides the bar stays


def test_code_page_keeps_code_warnings_and_full_tables(pages):
    _, code_page, _ = pages
    text = code_page.get_text(" ")
    assert "set_title" in text and "UserWarning: old" in text and "watermark  --python" in text
    assert "row39" in text and "First" not in text
    assert "%|" not in text  # progress-bar debris goes from both pages


def test_dollar_signs_are_text_and_code_spans_untouched(pages):
    reviewer, _, _ = pages
    text = " ".join(reviewer.get_text(" ").split())
    assert "It costs $50 and then $20;" in text
    assert "echo $HOME" in text


def test_every_figure_has_alt_text_from_caption_title_or_section(pages):
    reviewer, _, _ = pages
    alts = [img["alt"] for img in reviewer("img")]
    assert alts == ["Figure: Calls per team (… calls)", "Share of calls per driver, largest first"]
    assert reviewer.find("figcaption").get_text() == "Share of calls per driver, largest first"
    nb = example_notebook()
    nb.cells[4].source = "display(fig)"
    _, figures = rendering.prepare(nb, reviewer=True)
    assert figures[PNG][0] == "Figure in section “2. Figures” of “09 · Example report”"


def test_long_tables_are_cut_in_the_reviewer_page_with_a_link_to_the_full_one(pages):
    reviewer, _, report = pages
    rows = reviewer.find("table").tbody.find_all("tr")
    assert len(rows) == rendering.MAX_TABLE_ROWS
    note = reviewer.find("p", class_="ci-table-note")
    assert note.get_text().startswith(f"First {rendering.MAX_TABLE_ROWS} of 40 rows.")
    assert note.a["href"] == report.code.name


def test_pages_link_to_the_summary_and_to_each_other(pages):
    reviewer, code_page, report = pages
    assert [a["href"] for a in reviewer.find("nav")("a")] == ["index.html", report.code.name]
    assert [a["href"] for a in code_page.find("nav")("a")] == ["index.html", report.reviewer.name]
    assert reviewer.title.get_text() == "09 · Example report"
    # Rendered alone (no series), the page still ends with the way back to the summary.
    assert [a["href"] for a in reviewer.find("nav", class_="ci-footer")("a")] == ["index.html"]


def test_pages_end_with_previous_summary_and_next_in_the_series(tmp_path):
    series = []
    for number, title in (("08", "Before"), ("09", "Middle"), ("10", "After")):
        nb = new_notebook(cells=[new_markdown_cell(f"# {number} · {title}")])
        series.append(tmp_path / f"{number}_{title.lower()}.ipynb")
        nbformat.write(nb, str(series[-1]))
    report = rendering.render_notebook(series[1], tmp_path, series=series)
    footer = BeautifulSoup(report.reviewer.read_text(), "html.parser").find("nav", class_="ci-footer")
    assert [(a.get_text(), a["href"]) for a in footer("a")] == [
        ("← Previous: 08 · Before", "08_before.html"), ("Back to the summary", "index.html"),
        ("Next: 10 · After →", "10_after.html")]
    code_footer = BeautifulSoup(report.code.read_text(), "html.parser").find("nav", class_="ci-footer")
    assert [a["href"] for a in code_footer("a")] == ["08_before-code.html", "index.html", "10_after-code.html"]
    first = rendering.render_notebook(series[0], tmp_path, series=series)
    links = BeautifulSoup(first.reviewer.read_text(), "html.parser").find("nav", class_="ci-footer")("a")
    assert [a["href"] for a in links] == ["index.html", "09_middle.html"]


def test_answer_cells_open_the_reviewer_page_and_keep_their_place_with_code():
    nb = new_notebook(cells=[
        new_markdown_cell("# 09 · Answer first"),
        new_markdown_cell("## 1. Method"),
        code("x = 1"),
        new_markdown_cell("## In short", metadata={"tags": ["answer"]}),
        code("print('the answer')", [new_output("stream", name="stdout", text="the answer\n")], tags=["answer"]),
    ])
    reviewer, _ = rendering.prepare(nb, reviewer=True)
    assert [rendering.cell_source(c) for c in reviewer.cells][:4] == [
        "# 09 · Answer first", "## In short", "print('the answer')", "## 1. Method"]
    with_code, _ = rendering.prepare(nb, reviewer=False)
    assert rendering.cell_source(with_code.cells[-1]) == "print('the answer')"


def test_a_caption_shown_with_the_figure_goes_under_it_and_into_its_alt_text(tmp_path):
    captioned = image(PNG2)
    captioned.metadata = {"caption": "Login calls need follow-up twice as often."}
    nb = new_notebook(cells=[new_markdown_cell("# 09 · Captions"),
                             code("show(fig, ...)", [image(), captioned], caption=["first figure", "not this"])])
    path = tmp_path / "09_captions.ipynb"
    nbformat.write(nb, str(path))
    soup = BeautifulSoup(rendering.render_notebook(path, tmp_path).reviewer.read_text(), "html.parser")
    assert [f.get_text() for f in soup("figcaption")] == ["first figure", "Login calls need follow-up twice as often."]
    assert soup("img")[1]["alt"] == "Login calls need follow-up twice as often."


def test_table_shows_headings_in_words_a_dash_for_missing_values_and_no_row_numbers():
    import pandas as pd

    frame = pd.DataFrame({"share_agree": [0.5, None], "n_missing": [3.0, None], "note": ["ok", None]},
                         index=pd.Index(["a", "b"], name="agent_team"))
    html_table = rendering.table(frame, {"agent_team": "agent team", "share_agree": "share agreeing",
                                         "n_missing": "missing", "note": "note"},
                                 percent=["share agreeing"]).to_html()
    soup = BeautifulSoup(html_table, "html.parser")
    assert [th.get_text() for th in soup("th")] == ["agent team", "share agreeing", "missing", "note"]
    assert [[td.get_text() for td in tr("td")] for tr in soup.tbody("tr")] == [
        ["a", "50%", "3", "ok"], ["b", rendering.MISSING, rendering.MISSING, rendering.MISSING]]
    # A quote's markup stays text; a column of links is HTML.
    quoted = pd.DataFrame({"quote": ["<b>Fine.</b>"], "calls": ['<a href="calls.html#ids=t_1">1</a>']})
    soup = BeautifulSoup(rendering.table(quoted, html=["calls"]).to_html(), "html.parser")
    assert soup.tbody.td.get_text() == "<b>Fine.</b>" and soup.tbody.find("a")["href"] == "calls.html#ids=t_1"


def test_headline_titles_the_chart_above_its_panels_and_narrows_a_wide_one():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 4))
    fig.suptitle("an old centred title")
    axes[0].set_title("panel")
    fig.tight_layout()
    rendering.headline(fig, "Login calls need follow-up twice as often", "Share of calls; all 200 calls.")
    assert fig.get_size_inches()[0] == 10
    texts = {t.get_text(): t for t in fig.texts}
    assert "Login calls need follow-up twice as often" in texts and fig.get_suptitle() == ""
    top_of_panels = max(ax.get_position().y1 for ax in axes)
    assert texts["Share of calls; all 200 calls."].get_position()[1] > top_of_panels
    assert axes[0].get_title() == "panel"  # panel titles stay when there are several
    plt.close(fig)


def test_the_notebook_itself_is_left_unchanged():
    nb = example_notebook()
    before = nbformat.writes(nb)
    rendering.to_html(nb, reviewer=True)
    assert nbformat.writes(nb) == before


def test_an_unreadable_notebook_names_the_file(tmp_path):
    bad = tmp_path / "09_bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"09_bad.ipynb: cannot be read as a notebook"):
        rendering.render_notebook(bad, tmp_path)


def test_titles_in_code_reads_matplotlib_and_plot_helper_titles():
    source = ("ax.set_title('A')\nfig.suptitle(f'B {x}')\neda.plot_word_cloud(cloud, 'C')\n"
              "insights.plot_forest(t, title='D')\nax.set_xlabel('not a title')")
    assert rendering.titles_in_code(source) == ["A", "B …", "C", "D"]
    assert rendering.titles_in_code("%matplotlib inline") == []


def test_strip_ansi_removes_colours_and_cursor_codes_and_cell_source_joins_lines():
    line = "\x1b[0;31mValueError\x1b[0m: bad\x1b[?25l\x1b[2K"
    assert rendering.strip_ansi(line) == "ValueError: bad"
    assert rendering.cell_source({"source": ["a = 1\n", "b = 2"]}) == rendering.cell_source({"source": "a = 1\nb = 2"})


@pytest.mark.parametrize("notebook", notebooks.notebook_paths(), ids=lambda p: p.stem)
def test_committed_notebooks_render_offline_with_alt_text(notebook, tmp_path):
    report = rendering.render_notebook(notebook, tmp_path)
    for path in (report.reviewer, report.code):
        text = path.read_text()
        assert not LOADS.search(text), f"{path.name} loads {LOADS.search(text)[0]!r}"
        soup = BeautifulSoup(text, "html.parser")
        assert all(img.get("alt", "").strip() for img in soup("img")), f"{path.name}: an image without alt text"
    assert "hl-ipython3" in report.code.read_text() and "hl-ipython3" not in report.reviewer.read_text()


def test_committed_reports_are_the_ones_the_renderer_makes():
    # reports/ must not go stale: every notebook has both pages, built with this renderer (its CSS marks them).
    for notebook in notebooks.notebook_paths():
        for name in (f"{notebook.stem}.html", f"{notebook.stem}{rendering.CODE_SUFFIX}.html"):
            page = config.REPORTS_DIR / name
            assert page.is_file(), f"{page} missing: run `make reports`"
            assert "nav class=\"ci-nav\"" in page.read_text(), f"{page} predates the renderer: run `make reports`"


#: What a reviewer must never read: missing values as pandas prints them, escaped line breaks, absolute paths, module
#: paths, and column names as code writes them (snake_case; call names such as transcript_12 and file names excepted).
RAW = {
    "NaN": re.compile(r"\b(?:NaN|nan)\b"),
    "<NA>": re.compile(r"<NA>"),
    "a literal \\n": re.compile(r"\\n"),
    "an absolute path": re.compile(r"(?<![\w.:/])/(?:work|home|tmp|usr|Users|var|opt)/"),
    "a module path": re.compile(r"\bcallinsights\.[a-z_]+"),
    "a raw column name": re.compile(r"\b(?!transcript_\d)[a-z]+(?:_[a-z0-9]+)+\b"
                                    r"(?!\.(?:csv|json|html|ipynb|sqlite|md|txt|vtt|gguf))"),
}
MAX_WORDS = 3000


def reviewer_text(page):
    soup = BeautifulSoup(page.read_text(), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup, soup.get_text(" ")


@pytest.mark.parametrize("notebook", notebooks.notebook_paths(), ids=lambda p: p.stem)
def test_committed_reviewer_pages_are_short_and_free_of_raw_output(notebook):
    page = config.REPORTS_DIR / f"{notebook.stem}.html"
    soup, text = reviewer_text(page)
    words = len(text.split())
    assert words <= MAX_WORDS, f"{page.name}: {words} words, more than {MAX_WORDS}; move detail to the -code page"
    found = {what: sorted(set(pattern.findall(text)))[:5] for what, pattern in RAW.items() if pattern.search(text)}
    assert not found, f"{page.name} shows {found}"
    for img in soup("img"):
        figure = img.find_parent("figure")
        assert figure is not None and figure.figcaption.get_text(strip=True), \
            f"{page.name}: a figure without a caption ({img.get('alt', '')[:60]!r})"


def test_committed_reviewer_pages_link_to_the_previous_and_next_report_and_the_summary():
    series = notebooks.notebook_paths()
    for i, notebook in enumerate(series):
        footer = BeautifulSoup((config.REPORTS_DIR / f"{notebook.stem}.html").read_text(), "html.parser").find(
            "nav", class_="ci-footer")
        assert footer is not None, f"{notebook.stem}.html has no links at the bottom: run `make reports`"
        expected = ([f"{series[i - 1].stem}.html"] if i else []) + ["index.html"] + (
            [f"{series[i + 1].stem}.html"] if i + 1 < len(series) else [])
        assert [a["href"] for a in footer("a")] == expected, notebook.stem


def test_the_call_explorer_opens_short():
    # The details (team, events, pending work, quotes) are the script's data, shown on demand.
    _, text = reviewer_text(config.REPORTS_DIR / "calls.html")
    assert len(text.split()) <= MAX_WORDS, f"calls.html: {len(text.split())} words, more than {MAX_WORDS}"
