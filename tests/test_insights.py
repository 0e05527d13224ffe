"""Insights: features counted on written calls, topics on synthetic groups, distinctive language, label source."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from callinsights.analysis import eda, topics
from callinsights.data.call import Call
from callinsights.data.transcripts import parse_text, read_calls
from callinsights.pipelines.insights import InsightFiles, write_insight_files

CALL = """Member: Hi, I can't log in to my account. Can you help? Is the website broken?
Agent: I'm sorry about that. Please hold for a moment.
(pause)
Agent: Thank you for holding. I'll transfer you to our technical team.
Member: Okay.
Technical Support: We will call you back within 3-5 business days.
02:41
Member: Thanks, that's great.
"""


# ---- per-call features --------------------------------------------------------------------------------------


def test_call_features_count_holds_questions_transfers_and_callbacks():
    found = eda.call_features(parse_text(CALL, "call.txt"))
    assert found["holds"] == 3  # "hold", "holding" and the (pause) direction
    assert found["customer_questions"] == 2
    assert found["transfers"] == 2  # "transfer", "team"
    assert found["callbacks"] == 2  # "call you back", "within 3-5 business days"


def test_call_events_and_pending_work_are_read_from_the_cue_lists():
    call = parse_text(
        "Member: My claim was denied again. I'd like a supervisor.\n"
        "Customer Support: It's because your new policy is not in our system yet, which is why it was denied. "
        "I'll escalate this to our claims team and transfer you now; they will reprocess the claim and issue a refund.\n"
        "Customer Support: Please fax the medical records to us. We'll get back to you within 5 business days.\n"
        "Member: Fine.", "call.txt")
    found = eda.call_features(call)
    assert found["explained"] == 2 and found["escalated"] == 1 and found["transferred"] == 1
    assert found["self_service"] == 0  # the words are the agent's only: the member's "supervisor" is not counted
    assert found["pending_documents"] == 2  # "fax" and "medical records"
    assert found["pending_another_team"] == 3  # the member's "supervisor", "escalate", "claims team"
    assert found["pending_reprocessing"] == 2 and found["callbacks"] == 2 and found["pending_ticket"] == 0
    walk = parse_text("Member: I can't log in.\nTechnical Support: Let's try clearing your cache, then click on "
                      "'Forgot password'.\nMember: It works!", "walk.txt")
    assert eda.call_features(walk)["self_service"] == 2
    assert set(eda.ACTION_COLUMNS) | set(eda.PENDING_COLUMNS) <= set(eda.INSIGHT_COLUMNS) | {"callbacks"}


def test_a_call_without_those_events_counts_zero():
    call = "Member: My card arrived, thank you.\nCustomer Support: Glad to hear it. Goodbye."
    found = eda.call_features(parse_text(call))
    counted = [found[k] for k in ("holds", "customer_questions", "transfers", "callbacks")]
    assert counted == [0, 0, 0, 0]


def test_a_note_that_states_the_outcome_is_never_counted():
    call = "Member: Fine.\nAgent: Done.\n(Note: the agent will call you back, customer was on hold)"
    found = eda.call_features(parse_text(call))
    assert found["holds"] == 0 and found["callbacks"] == 0


def test_trajectory_compares_first_and_last_third():
    traj = eda.trajectory([-0.5, -0.4, 0.0, 0.1, 0.6, 0.8])
    assert traj["sent_first_third"] == pytest.approx(-0.45)
    assert traj["sent_last_third"] == pytest.approx(0.7)
    assert traj["sent_last_turn"] == pytest.approx(0.8)
    assert traj["sent_change"] == pytest.approx(1.15)
    assert traj["starts_negative"] and traj["ends_positive"]
    single = eda.trajectory([-0.3])
    assert single["sent_first_third"] == single["sent_last_third"] == -0.3
    assert not single["ends_positive"]


def test_customer_sentiment_follows_the_customer_not_the_agent():
    angry = "Member: This is ridiculous, I am furious.\nAgent: We are delighted to help, wonderful!"
    found = eda.call_features(parse_text(angry))
    assert found["sent_last_turn"] < -0.3 and found["starts_negative"]


def test_call_frame_has_one_row_per_call_with_team_and_redacted_text():
    calls = [Call.of(parse_text(CALL, "a.txt")),
             Call.of(parse_text("Member: My ID is MEM123456, all good.\nPA Agent: Done.", "b.txt"))]
    frame = eda.call_frame(calls).set_index("file")
    assert list(frame.index) == ["a", "b"]
    assert frame.loc["a", "agent_team"] == "Agent" and frame.loc["b", "agent_team"] == "PA Agent"
    assert frame.loc["a", "customer_turns"] == 3 and frame.loc["a", "holds"] == 3
    assert "MEM123456" not in frame.loc["b", "text"] and "[MEMBER_ID]" in frame.loc["b", "text"]
    assert "Agent:" not in frame.loc["a", "text"]  # speaker labels never become words


# ---- terms --------------------------------------------------------------------------------------------------


def test_terms_pair_adjacent_words_within_a_clause_only():
    found = topics.terms("The doctor's bill for [MEMBER_ID] was wrong, refund denied. (pause) Great news", frozenset())
    assert "doctor bill" in found and "refund denied" in found and "great news" in found
    assert "wrong refund" not in found  # the comma ends the clause
    assert "pause" not in found  # a cue is not a word
    assert "member_id" not in found and "member" not in found


# ---- topics -------------------------------------------------------------------------------------------------


def _synthetic_groups(n: int = 12, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    login = ["password", "login", "browser", "website", "username", "reset", "error", "portal", "cookies", "locked"]
    pharmacy = ["prescription", "pharmacy", "refill", "medication", "dosage", "pills", "formulary", "generic",
                "pharmacist", "insulin"]  # fmt: skip
    texts, truth = [], []
    for group, vocab in enumerate((login, pharmacy)):
        for _ in range(n):
            picked = rng.choice(vocab, size=6, replace=False)
            texts.append("Member: hello, I am calling about " + " and ".join(picked) + ". Agent: sure, one moment.")
            truth.append(group)
    return texts, truth


def test_topic_discovery_separates_two_obviously_different_groups():
    texts, truth = _synthetic_groups()
    model = topics.discover_topics(texts, k_range=range(2, 5), min_df=2, max_df=0.6)
    assert model.k == 2
    assert adjusted_rand_score(truth, model.labels) == 1.0
    chosen = model.selection[model.selection["chosen"]]
    assert chosen["k"].tolist() == [2] and chosen["silhouette"].item() > 0.1
    assert np.allclose(model.shares.sum(axis=1), 1)
    assert sorted(model.names) == ["Online account / login", "Prescription / pharmacy"]


def test_topics_are_numbered_by_size():
    texts, _ = _synthetic_groups()
    texts = texts + texts[:6]  # the login group becomes the larger
    model = topics.discover_topics(texts, n_topics=2, min_df=2, max_df=0.7)
    assert np.bincount(model.labels).tolist() == [18, 12]
    assert model.names[0] == "Online account / login"


def test_too_few_calls_for_topics_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3 calls"):
        topics.discover_topics(["password reset", "pharmacy refill"])


def test_topic_names_come_from_matching_terms():
    assert topics.name_topic(["password", "try", "login", "account"]) == ("Online account / login", 3)
    assert topics.name_topic(["weather", "holiday", "beach"]) == ("weather / holiday / beach", 0)
    assert topics.name_topic(["copay", "weather", "holiday"])[1] == 0  # one shared term is not enough


def test_a_name_goes_to_one_topic_only():
    names = topics.name_topics([["copay", "refund", "charged"], ["copay", "bill", "weather"]], topics.TOPIC_NAMES)
    assert names == ["Copay / billing dispute", "copay / bill / weather"]


def test_write_insights_keeps_the_documented_columns_only(tmp_path):
    calls = [Call.of(parse_text(CALL, "a.txt")), Call.of(parse_text(CALL.replace("log in", "get a refund"), "b.txt"))]
    frame = eda.call_frame(calls).assign(topic="t", topic_id=0, topic_terms="x / y", topic_share=1.0)
    paths = write_insight_files(frame, None, InsightFiles.under(tmp_path))
    assert paths == [tmp_path / "call_insights.csv"]  # no predictions: no rates and no findings
    written = pd.read_csv(paths[0])
    assert list(written.columns) == eda.INSIGHT_COLUMNS and len(written) == 2


# ---- the client's calls -------------------------------------------------------------------------------------


@pytest.mark.clientdata
def test_every_client_call_gets_a_topic(client_calls):
    calls, report = read_calls(client_calls)
    frame = eda.call_frame(calls)
    model = topics.discover_topics(frame["text"].tolist(), k_range=range(3, 7))
    frame = topics.add_topics(frame, model)
    assert len(frame) == report.files_read == len(list(client_calls.glob("*.txt")))
    assert frame["topic"].notna().all() and (frame["topic"].str.len() > 0).all()
    assert frame["topic_share"].between(0, 1).all()
    assert np.bincount(model.labels, minlength=model.k).min() > 0


@pytest.mark.clientdata
def test_insights_command_writes_the_committed_result_files(client_calls, tmp_path):
    # The committed insight files are exactly what the command writes from the committed predictions and the
    # default reading of the hand labels: no notebook owns them.
    from callinsights.pipelines.cli import main
    from callinsights.pipelines.insights import InsightFiles

    assert main(["insights", "--out-dir", str(tmp_path)]) == 0
    for path in InsightFiles().all():
        written = pd.read_csv(tmp_path / path.name)
        pd.testing.assert_frame_equal(written, pd.read_csv(path), check_exact=False, atol=1e-4)
    assert (tmp_path / InsightFiles().reading.name).read_text() == InsightFiles().reading.read_text()


def test_insights_command_without_predictions_writes_the_call_table_only(tmp_path, capsys):
    from callinsights.pipelines.cli import main

    folder = tmp_path / "data" / "transcripts_v3"
    folder.mkdir(parents=True)
    for source in sorted((Path(__file__).parent / "fixtures" / "model_calls").glob("*.txt")):
        for copy in range(3):  # a driver needs terms shared by a few calls
            (folder / f"{source.stem}_{copy}.txt").write_text(source.read_text())
    data = folder.parent
    code = main(["insights", "--data-dir", str(data), "--predictions", str(tmp_path / "none.csv"),
                 "--topics", "3", "--out-dir", str(tmp_path / "out")])
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["call_insights.csv"]
    assert "none.csv: not found" in capsys.readouterr().err


def test_insights_command_refuses_an_unwritable_out_dir_before_any_work(tmp_path, capsys):
    from callinsights.pipelines.cli import EXIT_BAD_INPUT, main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["insights", "--out-dir", str(blocker / "out"), "--data-dir", str(tmp_path / "nowhere")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "a_file is a file, not a folder; give --out-dir another path" in err and "nowhere" not in err


def test_insights_with_another_data_dir_corrects_with_that_folders_labels(tmp_path, capsys):
    # Another data folder brings its own hand labels: the configured folder's must never correct its predictions.
    from callinsights.pipelines.cli import EXIT_BAD_INPUT, main

    data = tmp_path / "data"
    (data / "transcripts_v3").mkdir(parents=True)
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("file,sentiment,outcome\n")
    assert main(["insights", "--data-dir", str(data), "--predictions", str(predictions),
                 "--out-dir", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert str(data / "test_actual_label.csv") in capsys.readouterr().err
