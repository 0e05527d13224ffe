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
