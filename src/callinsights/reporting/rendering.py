"""An executed notebook as two self-contained pages (nothing fetched from another host): ``<name>.html`` for a
reviewer (no code, stderr, version or parameters cells, metrics or progress bars; long tables cut; cells tagged
``answer`` right under the title) and ``<name>-code.html`` for an engineer; see docs/reports.md.

:func:`table`, :func:`headline` and :func:`show` are the notebooks' helpers for a table, a chart's title and caption.
"""

from __future__ import annotations

import ast
import copy
import html
import logging
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

#: Rows a table keeps in a reviewer report; the ``-code`` page has the full table.
MAX_TABLE_ROWS = 20
CODE_SUFFIX = "-code"
INDEX_PAGE = "index.html"
HIDE_CELL_TAGS = {"remove-cell", "report-hide", "parameters", "injected-parameters"}
HIDE_OUTPUT_TAGS = {"remove-output"}
ANSWER_TAG = "answer"
#: Outputs whose type starts so are the project's own machine-readable records (``record_metrics``), not prose.
PROJECT_MIME_PREFIX = "application/vnd.callinsights."
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_VERSION_CELL = re.compile(r"^\s*%(?:load_ext\s+watermark|watermark)\b", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# tqdm's text bar: "labelling calls:  40%|####      | 80/200 [00:10<00:15, 7.9call/s]"
_PROGRESS_LINE = re.compile(r"^.*\d+%\|.*\|.*$", re.MULTILINE)
_CODE_SPAN = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_URL_IN_SCRIPT = re.compile(r"""["'`]\s*(?:https?:)?//""")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_TITLE_CALLS = {"set_title", "suptitle", "title", "headline"}
#: Missing values in a reviewer's table.
MISSING = "–"

CSS = """
body { max-width: 1100px; margin: 0 auto; padding: 0 1rem 3rem; }
nav.ci-nav { font: 14px/1.5 system-ui, sans-serif; padding: .6rem 0; border-bottom: 1px solid #ccc;
             margin-bottom: 1rem; }
nav.ci-nav a { margin-right: 1.2rem; }
nav.ci-footer { border-top: 1px solid #ccc; border-bottom: none; margin: 2rem 0 0; display: grid;
                grid-template-columns: 1fr auto 1fr; gap: 1.5rem; }
nav.ci-footer a { margin: 0; }
nav.ci-footer > :last-child { text-align: right; }
figure.ci-figure { margin: 0; }
figure.ci-figure figcaption, p.ci-table-note { font: italic 13px/1.4 system-ui, sans-serif; color: #444;
                                               margin: .2rem 0 .8rem; }
"""


@dataclass
class RenderedReport:
    """The pages written for one notebook: ``reviewer`` (without code) and ``code``."""

    reviewer: Path
    code: Path


def cell_source(cell) -> str:
    """A cell's text, whether the notebook stores it as one string or as a list of lines."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def notebook_title(nb) -> str:
    """The first markdown heading of a notebook, without its ``#`` marks ("" when it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell_source(cell), re.MULTILINE)
            if match:
                return match[1].strip()
    return ""


def escape_dollars(markdown: str) -> str:
    """Markdown whose dollar signs, outside code, are the entity ``&#36;``: every markdown renderer passes it through
    and no math parser reads it."""
    return "".join(p if i % 2 else p.replace("$", "&#36;") for i, p in enumerate(_CODE_SPAN.split(markdown)))


def strip_ansi(text: str) -> str:
    """Text without the terminal's colour and cursor codes (tracebacks and progress bars carry them)."""
    return _ANSI.sub("", text)


def clean_stream(text: str) -> str:
    """Stream text without ANSI colours, carriage-return overwrites and tqdm progress bars."""
    text = strip_ansi(text)
    # A progress bar redraws its line with "\r"; only the last drawing of each line is what a terminal shows.
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    text = _PROGRESS_LINE.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def _literal_text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each placeholder shown as an ellipsis."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def titles_in_code(source: str) -> list[str]:
    """Titles a cell's code gives its figures (matplotlib titles, ``plot_*`` helpers' title arguments), in order,
    without repeats; none when the code is not valid Python (a magic)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        texts = [_literal_text(k.value) for k in node.keywords if k.arg == "title"]
        if name in _TITLE_CALLS or name.startswith("plot_"):
            texts += [_literal_text(a) for a in node.args]
        found += [t.strip() for t in texts if t and t.strip() and t.strip() not in found]
    return found


def _alt_text(cell, section: str, title: str, index: int, shown_with: str = "") -> tuple[str, str]:
    """(alt text, visible caption) for the ``index``-th figure of a cell; ``shown_with`` is the caption :func:`show`
    gave that figure."""
    caption = shown_with or cell.metadata.get("caption") or cell.metadata.get("alt") or ""
    if isinstance(caption, list):  # one caption per figure of the cell
        caption = caption[index] if index < len(caption) else ""
    if caption:
        return caption, caption
    titles = titles_in_code(cell_source(cell))
    if titles:
        return f"Figure: {'; '.join(titles)}", ""
    where = f" in section “{section}”" if section else ""
    return f"Figure{where} of “{title}”", ""


def prepare(nb, reviewer: bool) -> tuple[Any, dict[str, tuple[str, str]]]:
    """A copy of an executed notebook ready to render (with the reviewer's cuts when ``reviewer``), and
    ``{base64 image data: (alt, caption)}``."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # saved widget state makes nbconvert load a widget renderer from a CDN
    title = notebook_title(nb)
    section, figures, cells = "", {}, []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            heading = re.search(r"^#{2,}\s+(.+)$", cell_source(cell), re.MULTILINE)
            section = heading[1].strip() if heading else section
            cell.source = escape_dollars(cell_source(cell))
        version_cell = cell.cell_type == "code" and _VERSION_CELL.search(cell_source(cell))
        if reviewer and (tags & HIDE_CELL_TAGS or version_cell):
            continue
        if cell.cell_type == "code":
            if reviewer and tags & HIDE_OUTPUT_TAGS:
                cell.outputs = []
            cell.outputs = [out for out in (_clean_output(o, reviewer) for o in cell.outputs) if out is not None]
            images = [(re.sub(r"\s", "", str(out.data[mime])), out.get("metadata", {}).get("caption", ""))
                      for out in cell.outputs for mime in ("image/png", "image/jpeg") if mime in out.get("data", {})]
            for i, (data, caption) in enumerate(images):
                figures[data] = _alt_text(cell, section, title, i, caption)
        cells.append(cell)
    if reviewer:
        # The answer goes right under the title (the first cell), in the order the notebook computes it.
        answers = [c for c in cells if ANSWER_TAG in c.metadata.get("tags", [])]
        rest = [c for c in cells if ANSWER_TAG not in c.metadata.get("tags", [])]
        cells = rest[:1] + answers + rest[1:]
    nb.cells = cells
    return nb, figures


def _clean_output(out, reviewer: bool):
    """One output made fit to show, or None to drop it."""
    if out.output_type == "stream":
        if reviewer and out.get("name") == "stderr":
            return None  # warnings and logging are for the engineer's page
        out.text = clean_stream(out.text)
        return out if out.text.strip() else None
    if out.output_type == "error":
        return out
    data = out.get("data", {})
    if WIDGET_MIME in data:
        return None  # a live widget (a progress bar) shows nothing offline but its debris
    if reviewer and any(mime.startswith(PROJECT_MIME_PREFIX) for mime in data):
        return None  # the metrics JSON a test reads; the notebook's own prose gives the numbers
    if "text/markdown" in data:
        data["text/markdown"] = escape_dollars(str(data["text/markdown"]))
    return out


def _postprocess(body: str, figures: dict[str, tuple[str, str]], title: str, links: dict[str, str],
                 max_rows: int | None, full_table_href: str | None,
                 footer: Sequence[tuple[str, str] | None] = ()) -> str:
    """Inline-only page: external resources and MathJax removed, alt text and captions added, tables cut."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(body, "html.parser")
    for comment in soup.find_all(string=lambda text: isinstance(text, Comment)):
        comment.extract()
    for tag in soup.find_all(["script", "link", "iframe"]):
        url = tag.get("src", tag.get("href"))
        text = tag.string or ""
        # An empty src (what nbconvert leaves of MathJax) is a request for the page itself; an inline script that
        # imports from a URL (nbconvert's mermaid loader) is one to a CDN.
        if url is not None and (not url.strip() or _EXTERNAL.match(url)) or _URL_IN_SCRIPT.search(text) \
                or "MathJax" in text:
            tag.decompose()
    for style in soup.find_all("style"):
        # Comments in nbconvert's CSS cite web pages; without them the page mentions no URL it does not load.
        style.string = _CSS_COMMENT.sub("", style.string or "")
    for img in soup.find_all("img"):
        src = img.get("src", "")
        if _EXTERNAL.match(src):
            img.decompose()
            continue
        data = re.sub(r"\s", "", src.split(",", 1)[1]) if src.startswith("data:") else ""
        alt, caption = figures.get(data, (img.get("alt") or f"Figure of “{title}”", ""))
        if img.get("alt") in (None, "", "No description has been provided for this image") or data in figures:
            img["alt"] = alt
        if caption:
            figcaption = soup.new_tag("figcaption")
            figcaption.string = caption
            figure = img.wrap(soup.new_tag("figure", attrs={"class": "ci-figure"}))
            figure.append(figcaption)
    if max_rows:
        for table in soup.find_all("table"):
            body_rows = table.tbody.find_all("tr", recursive=False) if table.tbody else []
            if len(body_rows) > max_rows:
                for row in body_rows[max_rows:]:
                    row.decompose()
                note = soup.new_tag("p", attrs={"class": "ci-table-note"})
                note.append(f"First {max_rows} of {len(body_rows)} rows. ")
                if full_table_href:
                    link = soup.new_tag("a", href=full_table_href)
                    link.string = "The full table is in the report with code."
                    note.append(link)
                table.insert_after(note)
    if soup.title is not None:
        soup.title.string = title
    head = soup.head or soup
    style = soup.new_tag("style")
    style.string = CSS
    head.append(style)
    (soup.body or soup).insert(0, _nav(soup, links.items(), "ci-nav"))
    if footer:
        (soup.body or soup).append(_nav(soup, footer, "ci-nav ci-footer"))
    return str(soup)


def _nav(soup, items, cls: str):
    """A row of ``(text, href)`` links; None keeps its slot in the row as an empty span."""
    nav = soup.new_tag("nav", attrs={"class": cls})
    for item in items:
        link = soup.new_tag("a", href=item[1]) if item else soup.new_tag("span")
        link.string = item[0] if item else ""
        nav.append(link)
    return nav


def to_html(nb, reviewer: bool, links: dict[str, str] | None = None, max_rows: int | None = MAX_TABLE_ROWS,
            full_table_href: str | None = None, footer: Sequence[tuple[str, str] | None] = ()) -> str:
    """One self-contained HTML page of an executed notebook: the reviewer's (tables cut to ``max_rows``, their note
    pointing to ``full_table_href``) or the one with code; ``links`` (``{text: href}``) head the page, ``footer``
    links (``(text, href)``, None for an empty slot) end it."""
    from nbconvert import HTMLExporter

    prepared, figures = prepare(nb, reviewer)
    # Empty URLs: nbconvert writes no tag that loads MathJax, require.js or the widget renderer from a CDN.
    exporter = HTMLExporter(template_name="lab", exclude_input=reviewer, exclude_input_prompt=reviewer,
                            exclude_output_prompt=reviewer, mathjax_url="", require_js_url="", widget_renderer_url="")
    # nbconvert warns of images without alt text before _postprocess gives every figure one; the warning misleads.
    level = exporter.log.level
    exporter.log.setLevel(logging.ERROR)
    try:
        body, _ = exporter.from_notebook_node(prepared)
    finally:
        exporter.log.setLevel(level)
    title = notebook_title(nb) or "Report"
    return _postprocess(body, figures, title, links or {}, max_rows if reviewer else None, full_table_href, footer)


def footer_links(notebook: Path, series: Sequence[Path], code: bool = False) -> list[tuple[str, str] | None]:
    """``(text, href)`` of the previous report, the summary and the next report of ``notebook`` in ``series`` (the
    numbered notebooks in reading order), None where there is none; the page with code links to the neighbours'
    pages with code."""
    names = [Path(p).name for p in series]
    position = names.index(notebook.name) if notebook.name in names else None
    suffix = CODE_SUFFIX if code else ""

    def neighbour(offset: int, label: str) -> tuple[str, str] | None:
        if position is None or not 0 <= position + offset < len(names):
            return None
        other = Path(series[position + offset])
        return label.format(title_of(other) or other.stem), f"{other.stem}{suffix}.html"

    return [neighbour(-1, "← Previous: {}"), ("Back to the summary", INDEX_PAGE), neighbour(1, "Next: {} →")]


def title_of(path: Path) -> str:
    """A notebook file's title; "" when it has none or cannot be read (a link to it is then named by its file)."""
    import nbformat

    try:
        return notebook_title(nbformat.read(str(path), as_version=4))
    except Exception:  # whatever nbformat raised
        return ""


def render_notebook(notebook: str | Path, html_dir: str | Path, max_rows: int | None = MAX_TABLE_ROWS,
                    series: Sequence[Path] = ()) -> RenderedReport:
    """Write ``<name>.html`` and ``<name>-code.html`` of an executed notebook into ``html_dir``, linking back to
    the summary and, at the bottom, to its neighbours in ``series`` (the numbered notebooks in order); a file that
    is not a readable notebook is a ValueError naming it."""
    import nbformat

    notebook = Path(notebook)
    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception as err:  # whatever nbformat raised, the reader needs the file's name and what to do
        raise ValueError(f"{notebook}: cannot be read as a notebook ({type(err).__name__}: {err}); "
                         "re-run it with `python -m callinsights notebooks run`") from None
    html_dir = Path(html_dir)
    html_dir.mkdir(parents=True, exist_ok=True)
    reviewer = html_dir / f"{notebook.stem}.html"
    code = html_dir / f"{notebook.stem}{CODE_SUFFIX}.html"
    back = {"Summary of all reports": INDEX_PAGE}
    reviewer.write_text(to_html(nb, True, {**back, "This report with code": code.name}, max_rows, code.name,
                                footer_links(notebook, series)), encoding="utf-8")
    code.write_text(to_html(nb, False, {**back, "This report without code": reviewer.name},
                            footer=footer_links(notebook, series, code=True)), encoding="utf-8")
    return RenderedReport(reviewer, code)


def page(title: str, body_html: str) -> str:
    """A minimal self-contained HTML page (the summary uses it), styled inline."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(title)}</title>"
        "<style>body{font:15px/1.55 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem 1.2rem 3rem;"
        "color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;"
        "padding:.25rem .6rem;text-align:left}th{background:#f3f3f3}.caveat{background:#fff8e1;border-left:4px solid"
        " #f0b400;padding:.4rem .8rem}.missing{color:#8a1c1c}small{color:#555}</style></head>"
        f"<body>{body_html}</body></html>\n"
    )


def table(frame, names: Mapping[str, str] | None = None, digits: int = 2, percent: Sequence[str] = (),
          html: Sequence[str] = ()):
    """A table as a reviewer reads it (a pandas ``Styler``): headings in words, numbers rounded, missing values as
    "–", no row numbers (a named index becomes a column).

    Args:
        names: ``{column: heading}``; when given, only these columns are shown, in this order.
        digits: Decimal places of the numbers that are not whole.
        percent: Columns (by their heading) of shares shown as whole percentages.
        html: Columns (by their heading) whose cells are HTML (links to the calls); every other cell is escaped.
    """
    import pandas as pd

    named = [n for n in frame.index.names if n is not None]
    shown = frame.reset_index(level=named) if named else frame.reset_index(drop=True)
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" ".join(str(part) for part in col if str(part)) for col in shown.columns]
    if names is not None:
        shown = shown[list(names)].rename(columns=dict(names))
    words = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])]
    floats = [c for c in shown.columns if pd.api.types.is_float_dtype(shown[c])]
    formats = {c: f"{{:.{digits}f}}" for c in floats if not shown[c].dropna().apply(float.is_integer).all()}
    formats.update({c: "{:.0%}" for c in percent if c not in words})
    formats.update({c: "{:.0f}" for c in floats if c not in formats})  # counts that a missing value made floats
    style = shown.style.format(formats, na_rep=MISSING, escape="html")
    if html:
        style = style.format(na_rep=MISSING, subset=list(html), escape=None)
    return (style
            .hide(axis="index")
            .set_properties(subset=words, **{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": "text-align: left"}]))


def headline(fig, title: str, subtitle: str = "", max_width: float = 10.0):
    """Title a figure (laid out by ``tight_layout`` or nothing) with its message, left-aligned above it, and a grey
    subtitle saying the measure, which calls and which reading of the labels (the Office for National Statistics'
    style); returns the figure.

    A figure wider than ``max_width`` inches is narrowed, so at 100 dpi it fits a 1,000-pixel column at full size and
    its text stays legible. The plot's figure-wide title, and a single panel's title, give way to the headline.
    """
    if fig.get_suptitle():
        fig.suptitle("").set_in_layout(False)
    if len(fig.axes) == 1:
        fig.axes[0].set_title("")
    width, height = fig.get_size_inches()
    if width > max_width:
        fig.set_size_inches(max_width, height)
        width = max_width
    fig.tight_layout()
    fig.set_layout_engine("none")  # the band added below must not be laid out again
    lines = textwrap.wrap(subtitle, int(width * 100 / 7.4)) if subtitle else []
    band = 0.42 + 0.21 * len(lines)  # inches: the title's line, the subtitle's lines and a gap
    scale = height / (height + band)
    fig.set_size_inches(width, height + band)
    for ax in fig.axes:
        box = ax.get_position()
        ax.set_position([box.x0, box.y0 * scale, box.width, box.height * scale])
    for text in fig.texts:
        x, y = text.get_position()
        text.set_position((x, y * scale))
    top = 1 - 0.08 / (height + band)
    fig.text(0.01, top, title, ha="left", va="top", fontsize=13, fontweight="bold")
    if lines:
        fig.text(0.01, top - 0.3 / (height + band), "\n".join(lines), ha="left", va="top", fontsize=10,
                 color="#555555", linespacing=1.3)
    return fig


def show(fig, caption: str) -> None:
    """Display a figure with the sentence that says what to see in it (in the output's metadata, so a notebook
    computes it from the numbers it shows; the pages show it under the figure), then close it so it shows once."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig, metadata={"caption": caption})
    plt.close(fig)
