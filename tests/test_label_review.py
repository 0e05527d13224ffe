"""Reviewing the hand labels (callinsights.labelling.review): readers' agreement, departures, cleanlab's suspects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from callinsights import config

from callinsights.labelling import review as label_review
from callinsights.data.labels import LabelFileError, load_labels

HEADER = ("Filename,Sentiment,Call_Outcome,reader1_sentiment,reader1_outcome,reader2_sentiment,reader2_outcome,"
          "reader3_sentiment,reader3_outcome")  # fmt: skip
R, F = "Issue Resolved", "Follow-up action needed"


def write(tmp_path, rows, header=HEADER):
    path = tmp_path / "guideline_labels.csv"
    path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
    return path


ROWS = [
    ("c1", "Positive", R, "Positive", R, "Positive", R, "Neutral", R),
    ("c2", "Neutral", F, "Neutral", F, "Neutral", F, "Neutral", F),
    ("c3", "Negative", F, "Negative", F, "Negative", R, "Negative", F),
    ("c4", "Neutral", R, "Neutral", R, "Positive", R, "Neutral", R),
    ("c5", "Positive", F, "Positive", F, "Positive", F, "Positive", F),
]


def test_guideline_file_is_read_with_each_readers_labels(tmp_path):
    table = label_review.load_guideline_labels(write(tmp_path, ROWS))
    assert list(table.index) == ["c1", "c2", "c3", "c4", "c5"]
    assert table.loc["c1", "sentiment"] == "positive" and table.loc["c1", "reader3_sentiment"] == "neutral"
    assert table.loc["c3", "reader2_outcome"] == "issue resolved"
    assert label_review.reader_names(table) == ["reader1", "reader2", "reader3"]


def test_guideline_file_errors_name_the_file_and_the_value(tmp_path):
    bad = [ROWS[0], ("c2", "Neutral", F, "Happy", F, "Neutral", F, "Neutral", F)]
    with pytest.raises(LabelFileError, match=r"guideline_labels.csv \(reader1\) row 3: sentiment 'happy'"):
        label_review.load_guideline_labels(write(tmp_path, bad))
    with pytest.raises(LabelFileError, match="at least two readers"):
        label_review.load_guideline_labels(write(tmp_path, [r[:5] for r in ROWS], ",".join(HEADER.split(",")[:5])))
    with pytest.raises(FileNotFoundError, match="make data"):
        label_review.load_guideline_labels(tmp_path / "absent.csv")


def test_reader_agreement_is_cohens_kappa_per_pair_and_fleiss_overall(tmp_path):
    table = label_review.load_guideline_labels(write(tmp_path, ROWS))
    pairs, overall = label_review.reader_agreement(table)
    assert len(pairs) == 6  # 3 pairs x 2 tasks
    row = pairs.set_index(["task", "pair"]).loc[("sentiment", "reader1 - reader3")]
    expected = cohen_kappa_score(table["reader1_sentiment"], table["reader3_sentiment"],
                                 labels=["positive", "negative", "neutral"])  # fmt: skip
    assert row["kappa"] == pytest.approx(expected) and row["share_agreeing"] == pytest.approx(4 / 5)
    # Fleiss by hand for the outcome: 4 unanimous calls, one 2-1 split.
    p_i = np.array([1, 1, 1 / 3, 1, 1])
    share_f = (0 + 3 + 2 + 0 + 3) / 15
    p_e = share_f**2 + (1 - share_f) ** 2
    assert overall.loc["outcome", "fleiss_kappa"] == pytest.approx((p_i.mean() - p_e) / (1 - p_e))
    assert overall.loc["outcome", "share_unanimous"] == pytest.approx(4 / 5)


def test_perfect_agreement_gives_kappa_one(tmp_path):
    same = [(c, s, o, s, o, s, o, s, o) for c, s, o, *_ in ROWS]
    pairs, overall = label_review.reader_agreement(label_review.load_guideline_labels(write(tmp_path, same)))
    assert np.allclose(pairs["kappa"], 1) and np.allclose(overall["fleiss_kappa"], 1)


def test_departures_list_exactly_the_calls_where_the_client_differs(tmp_path):
    guideline = label_review.load_guideline_labels(write(tmp_path, ROWS))
    client = guideline[["sentiment", "outcome"]].copy()
    client.loc["c2", "sentiment"] = "positive"
    client.loc["c3", "outcome"] = "issue resolved"
    table = label_review.departures(client, guideline)
    assert list(zip(table["file"], table["task"])) == [("c2", "sentiment"), ("c3", "outcome")]
    c3 = table.set_index("file").loc["c3"]
    assert c3["client"] == "issue resolved" and c3["guideline"] == "follow-up action needed"
    assert c3["readers_with_client"] == 1 and c3["reader2"] == "issue resolved"


def test_cleanlab_flags_labels_the_held_out_probabilities_contradict():
    rng = np.random.default_rng(0)
    n = 60
    truth = rng.integers(0, 2, n)
    p1 = np.clip(np.where(truth == 1, 0.85, 0.15) + rng.normal(0, 0.05, n), 0.01, 0.99)
    proba = pd.DataFrame({"issue resolved": 1 - p1, "follow-up action needed": p1},
                         index=[f"c{i}" for i in range(n)])  # fmt: skip
    given = np.where(truth == 1, "follow-up action needed", "issue resolved")
    wrong = [3, 17, 42]
    given[wrong] = np.where(truth[wrong] == 1, "issue resolved", "follow-up action needed")
    gold = pd.DataFrame({"outcome": given}, index=proba.index)
    guideline = pd.DataFrame({"outcome": np.where(truth == 1, "follow-up action needed", "issue resolved")},
                             index=proba.index)  # fmt: skip
    issues = label_review.label_issues(gold, proba, "outcome", guideline)
    flagged = set(issues.loc[issues["flagged"], "file"])
    assert len(flagged) >= 2 and flagged <= {"c3", "c17", "c42"}  # no correct label flagged
    assert set(issues["file"][:3]) == {"c3", "c17", "c42"}  # the mislabelled calls are the most suspect
    assert not issues.loc[issues["flagged"], "guideline_agrees"].any()
    assert (issues.loc[issues["flagged"], "model_suggests"] == issues.loc[issues["flagged"], "guideline"]).all()


def test_cleanlab_refuses_missing_probabilities():
    gold = pd.DataFrame({"outcome": ["issue resolved", "follow-up action needed"]}, index=["a", "b"])
    proba = pd.DataFrame({"issue resolved": [0.5, np.nan], "follow-up action needed": [0.5, np.nan]}, index=["a", "b"])
    with pytest.raises(ValueError, match="missing"):
        label_review.label_issues(gold, proba, "outcome")
    with pytest.raises(ValueError, match="no predicted probabilities"):
        label_review.label_issues(gold, proba.iloc[:1], "outcome")


def test_client_guideline_file_matches_what_its_readme_states(client_labels):
    if not config.GUIDELINE_LABELS_FILE.is_file():
        pytest.skip(f"no {config.GUIDELINE_LABELS_FILE}: run `make data` to link it")
    guideline = label_review.load_guideline_labels()
    client = load_labels(client_labels)
    table = label_review.departures(client, guideline)
    assert table["task"].value_counts().to_dict() == {"sentiment": 13, "outcome": 3}
    pairs, _ = label_review.reader_agreement(guideline)
    assert pairs["share_agreeing"].between(0.8, 1).all()
