"""The labelling workflow: stratified sampling, the labelling form, label-file checks and agreement."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from callinsights import config

from callinsights.analysis import eda

from callinsights.labelling import sampling as labelling
from callinsights.data.labels import LabelFileError, load_labels, write_labels


def calls_frame(sizes: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Calls with given stratum sizes, named transcript_0, transcript_1, ..."""
    rows = [(team, tercile) for (team, tercile), n in sizes.items() for _ in range(n)]
    frame = pd.DataFrame(rows, columns=["agent_team", "length_tercile"])
    frame.index = [f"transcript_{i}" for i in range(len(frame))]
    return frame


def label_table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["file", "sentiment", "outcome"]).set_index("file")


# Stratified sample


def test_sample_is_proportional_to_strata():
    frame = calls_frame(
        {("Customer Support", "short"): 60, ("Technical Support", "long"): 30, ("PA Agent", "medium"): 10}
    )
    sample = labelling.stratified_sample(frame, 10, seed=3)
    assert len(sample) == 10 and sample.index.is_unique
    counts = sample.groupby("agent_team").size().to_dict()
    assert counts == {"Customer Support": 6, "Technical Support": 3, "PA Agent": 1}


def test_sample_excludes_labelled_calls_and_keeps_the_total_with_remainders():
    frame = calls_frame({("A", "short"): 5, ("A", "long"): 5, ("B", "short"): 5})
    labelled = ["transcript_0", "transcript_1", "transcript_2"]
    sample = labelling.stratified_sample(frame, 7, seed=0, exclude=labelled)
    assert len(sample) == 7
    assert not set(sample.index) & set(labelled)
    # pool 2/5/5 of 12: quotas 1.17/2.92/2.92 -> 1/3/3 by largest remainder
    assert sample.groupby(["agent_team", "length_tercile"]).size().to_dict() == {
        ("A", "long"): 3, ("A", "short"): 1, ("B", "short"): 3
    }


def test_sample_is_reproducible_with_a_seed_and_changes_with_another():
    frame = calls_frame({("A", "short"): 40, ("B", "long"): 40})
    first = labelling.stratified_sample(frame, 10, seed=1).index.tolist()
    assert first == labelling.stratified_sample(frame, 10, seed=1).index.tolist()
    assert first != labelling.stratified_sample(frame, 10, seed=2).index.tolist()
    assert first == sorted(first, key=lambda c: int(c.split("_")[1]))  # natural call order


def test_sample_errors_say_what_is_wrong():
    frame = calls_frame({("A", "short"): 3})
    with pytest.raises(ValueError, match="cannot draw 3 calls: 2 are left after leaving out 1"):
        labelling.stratified_sample(frame, 3, exclude=["transcript_0"])
    with pytest.raises(KeyError, match="no such column"):
        labelling.stratified_sample(frame, 1, by=["team"])


def test_strata_table_compares_pool_and_sample():
    frame = calls_frame({("A", "short"): 6, ("B", "long"): 2})
    sample = labelling.stratified_sample(frame, 4, seed=0)
    table = labelling.strata_table(frame, sample)
    assert table["calls"].tolist() == [6, 2] and table["sampled"].tolist() == [3, 1]
    assert table["percent"].tolist() == pytest.approx([75.0, 25.0])
    assert table["sampled_percent"].sum() == pytest.approx(100.0)


# Label files


def test_label_file_problems_lists_each_problem(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "Filename,Sentiment,Call_Outcome\n"
        "call_1,Positive,Issue Resolved\n"
        "call_2,Happy,Issue Resolved\n"
        "call_2,Negative,Follow-up action needed\n"
        "call_3,,Issue Resolved\n"
        "call_9, neutral ,Done\n"
    )
    problems = labelling.label_file_problems(path, {"call_1", "call_2", "call_3"})
    assert len(problems) == 5
    text = "\n".join(problems)
    assert "row 3: sentiment 'happy'" in text
    assert "row 6: outcome 'done'" in text
    assert "call_2 is labelled more than once" in text
    assert "call_9 has no transcript" in text
    assert "row 5: empty cell" in text
    assert all(str(path) in p for p in problems)


def test_label_file_problems_for_a_missing_file_or_column(tmp_path):
    assert "no label file here" in labelling.label_file_problems(tmp_path / "nope.csv")[0]
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Filename,Mood\ncall_1,Positive\n")
    assert "missing column(s)" in labelling.label_file_problems(wrong)[0]
    good = tmp_path / "good.csv"
    good.write_text("Filename,Sentiment,Call_Outcome\ncall_1,Positive,Issue Resolved\n")
    assert labelling.label_file_problems(good, {"call_1"}) == []


def test_labels_file_and_known_calls(tmp_path):
    assert labelling.labels_file() == config.LABELS_FILE
    assert labelling.labels_file(tmp_path) == tmp_path / config.LABELS_FILE.name
    (tmp_path / "transcript_3.txt").write_text("Member: hi")
    (tmp_path / "notes.md").write_text("x")
    assert labelling.known_calls(tmp_path) == {"transcript_3"}


# Agreement

A = label_table([
    ("c1", "positive", "issue resolved"),
    ("c2", "negative", "follow-up action needed"),
    ("c3", "neutral", "issue resolved"),
    ("c4", "positive", "issue resolved"),
    ("c5", "negative", "follow-up action needed"),
])


def test_identical_files_agree_perfectly():
    results = labelling.agreement(A, A.copy())
    assert set(results) == {"sentiment", "outcome"}
    for r in results.values():
        assert (r.n_calls, r.share_agreeing, r.kappa) == (5, 1.0, 1.0)
        assert int(r.confusion.to_numpy().trace()) == 5


def test_agreement_matches_sklearn_and_counts_disagreements():
    b = A.copy()
    b.loc["c3", "sentiment"] = "positive"
    b.loc["c5", "outcome"] = "issue resolved"
    results = labelling.agreement(A, b, names=("ann", "bob"))
    sentiment = results["sentiment"]
    assert sentiment.share_agreeing == pytest.approx(4 / 5)
    assert sentiment.kappa == pytest.approx(cohen_kappa_score(A["sentiment"], b["sentiment"]))
    assert sentiment.confusion.loc["neutral", "positive"] == 1
    assert sentiment.confusion.index.name == "ann" and sentiment.confusion.columns.name == "bob"
    assert list(sentiment.confusion.index) == ["positive", "negative", "neutral"]
    outcome = results["outcome"]
    assert outcome.confusion.loc["follow-up action needed", "issue resolved"] == 1
    # kappa is agreement beyond chance: (p_o - p_e) / (1 - p_e)
    assert outcome.kappa == pytest.approx(
        (outcome.share_agreeing - outcome.chance_agreement) / (1 - outcome.chance_agreement)
    )
    table = labelling.agreement_table(results)
    assert table.loc["outcome", "calls"] == 5 and table.loc["sentiment", "share_agreeing"] == pytest.approx(0.8)


def test_plot_agreement_shows_counts_and_row_shares_per_task():
    import matplotlib.pyplot as plt

    b = A.copy()
    b.loc["c3", "sentiment"] = "positive"
    fig = labelling.plot_agreement(labelling.agreement(A, b, names=("ann", "bob")))
    try:
        first = fig.axes[0]
        assert first.get_ylabel() == "label in ann" and first.get_xlabel() == "label in bob"
        texts = [t.get_text() for t in first.texts]
        assert len(texts) == 9 and all("\n" in t and t.endswith("%") for t in texts)
        assert "kappa" in first.get_title() and len(fig.axes) == 2
    finally:
        plt.close(fig)


def test_agreement_uses_only_shared_calls_and_accepts_file_columns():
    b = label_table([("c1", "positive", "issue resolved"), ("c9", "negative", "issue resolved")])
    results = labelling.agreement(A.reset_index(), b.reset_index())
    assert results["sentiment"].n_calls == 1


def test_agreement_without_shared_calls_is_a_clear_error():
    b = label_table([("c8", "positive", "issue resolved"), ("c9", "negative", "issue resolved")])
    with pytest.raises(LabelFileError, match="ann and bob label no call in common .*c8"):
        labelling.agreement(A, b, names=("ann", "bob"))


def test_agreement_refuses_invalid_labels():
    b = A.copy()
    b.loc["c1", "sentiment"] = "happy"
    with pytest.raises(LabelFileError, match="bob row 2: sentiment 'happy'"):
        labelling.agreement(A, b, names=("ann", "bob"))


def test_kappa_is_undefined_when_both_files_use_one_value():
    same = label_table([("c1", "positive", "issue resolved"), ("c2", "positive", "issue resolved")])
    results = labelling.agreement(same, same.copy())
    assert math.isnan(results["sentiment"].kappa)
    assert results["sentiment"].share_agreeing == 1.0


def test_label_session_saves_every_answer_and_resumes(tmp_path):
    out = tmp_path / "analyst.csv"
    session = labelling.LabelSession(["transcript_2", "transcript_10"], out)
    session.record("transcript_10", "negative", "follow-up action needed")
    assert load_labels(out).loc["transcript_10", "sentiment"] == "negative"
    assert session.next_unlabelled() == 0
    resumed = labelling.LabelSession(["transcript_2", "transcript_10"], out)
    assert resumed.labels == {"transcript_10": ("negative", "follow-up action needed")}
    with pytest.raises(ValueError, match="sentiment 'happy'"):
        resumed.record("transcript_2", "happy", "issue resolved")
    with pytest.raises(ValueError, match="not one of the calls"):
        resumed.record("transcript_99", "neutral", "issue resolved")


def test_label_widget_records_what_the_analyst_clicks(tmp_path):
    out = tmp_path / "analyst.csv"
    form = labelling.label_widget(
        {"transcript_1": "My ID is MEM123456.\nThis is ridiculous.", "transcript_2": "Thanks, that's great."}, out
    )
    header, text, sentiment, outcome, buttons, status = form.children
    back, save = buttons.children
    assert "MEM123456" not in text.value and "[MEMBER_ID]" in text.value  # shown redacted
    assert sentiment.value is None and outcome.value is None  # nothing pre-selected
    save.click()
    assert "Choose a sentiment" in status.value and not out.exists()
    sentiment.value, outcome.value = "Negative", "Follow-up action needed"
    save.click()
    assert "transcript_2" in header.value  # moved on to the next call
    sentiment.value, outcome.value = "Positive", "Issue resolved"
    save.click()
    assert "All 2 calls labelled" in status.value
    saved = load_labels(out)
    assert saved.loc["transcript_1"].tolist() == ["negative", "follow-up action needed"]
    assert saved.loc["transcript_2"].tolist() == ["positive", "issue resolved"]
    assert out.read_text().splitlines()[0] == "Filename,Sentiment,Call_Outcome"


def test_label_widget_never_writes_the_clients_file():
    with pytest.raises(ValueError, match="client's label file"):
        labelling.label_widget({"transcript_1": "hi"}, config.LABELS_FILE)


# On the client's data


@pytest.mark.clientdata
def test_sample_of_client_calls_leaves_the_labelled_calls_out(client_calls, client_labels):
    calls, _ = eda.read_corpus()
    stats = eda.call_stats(calls)
    labels = load_labels(client_labels, labelling.known_calls(client_calls))
    sample = labelling.stratified_sample(stats, 12, seed=0, exclude=labels.index)
    assert len(sample) == 12 and not set(sample.index) & set(labels.index)
    assert labelling.label_file_problems(client_labels, labelling.known_calls(client_calls)) == []


@pytest.mark.clientdata
def test_client_labels_round_trip_through_write_labels(client_labels, tmp_path):
    labels = load_labels(client_labels)
    write_labels(labels.reset_index(), tmp_path / "copy.csv")
    results = labelling.agreement(labels, load_labels(tmp_path / "copy.csv"))
    assert all(r.kappa == 1.0 and r.n_calls == len(labels) for r in results.values())
