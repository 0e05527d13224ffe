"""The experiment log's Markdown table."""

import pandas as pd

from callinsights.pipelines.evaluation import markdown_table, write_markdown

TABLE = pd.DataFrame({"configuration": ["probe · llama.cpp · customer", "score"], "sentiment_macro_f1": [0.6412, 0.2],
                      "outcome_macro_f1": [0.63, 0.5], "seconds_per_call": [1.234, 0.5], "n": [40, 40]})


def test_markdown_table_has_one_row_per_configuration_with_rounded_scores():
    lines = markdown_table(TABLE).splitlines()
    assert len(lines) == 4 and lines[1].startswith("|:--")
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == [
        "what", "held-out sentiment macro-F1", "held-out outcome macro-F1", "seconds per call"]
    assert [cell.strip() for cell in lines[2].strip("|").split("|")] == [
        "probe · llama.cpp · customer", "0.641", "0.630", "1.23"]


def test_write_markdown_replaces_the_section_of_the_same_heading(tmp_path):
    path = tmp_path / "experiments.md"
    write_markdown(TABLE, "run 1", path=path)
    write_markdown(TABLE.iloc[:1], "run 2", note="second", path=path)
    write_markdown(TABLE.iloc[1:], "run 1", path=path)
    text = path.read_text(encoding="utf-8")
    assert text.count("## run 1") == 1 and text.count("## run 2") == 1 and "second" in text
    run1 = text.split("## run 1")[1].split("## run 2")[0]
    assert "| score" in run1 and "probe" not in run1
