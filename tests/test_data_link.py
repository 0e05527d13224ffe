"""`make data` links the client's files, the guideline reading among them when the client's folder has it."""

from __future__ import annotations

from callinsights.data.outputs import link_client_data


def test_guideline_labels_are_linked_when_present_and_optional_otherwise(tmp_path):
    source, target = tmp_path / "shared", tmp_path / "data"
    (source / "transcripts_v3").mkdir(parents=True)
    (source / "test_actual_label.csv").write_text("Filename,Sentiment,Call_Outcome\n")
    lines = link_client_data(source, target)
    assert not (target / "guideline_labels.csv").exists()
    assert not any("guideline_labels.csv" in line for line in lines)  # optional: no complaint when absent
    (source / "guideline_labels.csv").write_text("Filename,Sentiment,Call_Outcome\n")
    lines = link_client_data(source, target)
    assert (target / "guideline_labels.csv").resolve() == (source / "guideline_labels.csv").resolve()
    assert any("guideline_labels.csv ->" in line for line in lines)
