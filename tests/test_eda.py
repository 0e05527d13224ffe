"""The calls as data: per-call statistics, words shown to a reader, log-odds, data quality."""

from __future__ import annotations

import math
from collections import Counter

import matplotlib
import pytest

from callinsights.analysis import eda, language
from callinsights.data.call import Call
from callinsights.data.transcripts import parse_text, read_calls
from callinsights.text import words

matplotlib.use("Agg")

TWO_CALLS = {
    "a.txt": (
        "Member: Hi, my member ID is MEM123456 and my claim was denied.\n"
        "PA Agent: I apologize, Emily. Let me check your claim.\n"
        "02:36\n"
        "Member: (sighs) This is ridiculous.\n"
        "PA Agent: I have escalated it.\n"
        "PA Agent: Is there anything else?\n"
    ),
    "b.txt": (
        "Member: Hello, can you call me at 555-123-4567 about my password?\n"
        "Technical Support: Sure, I can reset your password now. Is your e-mail jane.roe@example.org?\n"
        "(pause)\n"
        "Member: Great, thank you so much.\n"
    ),
}


@pytest.fixture
def two_calls():
    return [Call.of(parse_text(text, name)) for name, text in TWO_CALLS.items()]


def test_call_stats_counts_words_and_turns_per_side(two_calls):
    stats = eda.call_stats(two_calls)
    assert list(stats.index) == ["a", "b"]
    a = stats.loc["a"]
    assert (a.customer_turns, a.agent_turns, a.turns) == (2, 3, 5)
    assert a.customer_words == 11 + 4  # "(sighs)" is part of the member's turn
    assert a.agent_words == 8 + 4 + 4
    assert a.words == a.customer_words + a.agent_words
    assert a.customer_share == pytest.approx(15 / 31)
    assert (a.agent_team, a.speakers, a.meta_lines) == ("PA Agent", 2, 1)
    assert stats.loc["b", "agent_team"] == "Technical Support"
    assert stats.loc["b", "speaker_labels"] == "Member / Technical Support"


def test_agent_team_is_the_label_with_most_agent_turns():
    turns = parse_text(
        "Member: Hi.\nCustomer Support: Hello.\nClaims Review Team: We reviewed it.\n"
        "Claims Review Team: It is approved.\nMember: Thanks.",
        "x.txt",
    )
    stats = eda.call_stats([Call.of(turns)])
    assert stats.loc["x", "agent_team"] == "Claims Review Team"
    assert stats.loc["x", "speakers"] == 3


def test_length_terciles_split_calls_into_three_equal_groups():
    text = "Member: {}\nAgent: ok"
    calls = [Call.of(parse_text(text.format("word " * (i + 1)), f"c{i}.txt")) for i in range(9)]
    stats = eda.call_stats(calls)
    assert stats["length_tercile"].value_counts().to_dict() == {"short": 3, "medium": 3, "long": 3}
    assert stats.loc["c0", "length_tercile"] == "short" and stats.loc["c8", "length_tercile"] == "long"


def test_side_texts_keep_sides_apart_and_leave_meta_lines_out(two_calls):
    customer = eda.side_texts(two_calls, "customer")
    agent = eda.side_texts(two_calls, "agent")
    whole = eda.side_texts(two_calls, "call")
    assert "apologize" not in customer["a"] and "apologize" in agent["a"]
    assert "ridiculous" in customer["a"] and "ridiculous" not in agent["a"]
    assert "02:36" not in whole["a"] and "(pause)" not in whole["b"]
    with pytest.raises(ValueError, match="side 'member'"):
        eda.side_texts(two_calls, "member")


def test_tokens_are_redacted_and_free_of_placeholders_cues_numbers_and_filler():
    found = words.tokens(
        "Okay, thank you. My member ID is MEM123456, call 555-123-4567 (pause) about the "
        "pre-authorization for my doctor's visit on the 10th; it takes 3-5 days. I'm frustrated!"
    )
    assert found == ["member", "id", "call", "pre-authorization", "doctor", "visit", "takes", "days", "frustrated"]
    assert words.tokens("Write to jane.roe@example.org") == ["write"]  # redacted, and the placeholder dropped
    assert words.tokens("Okay okay, yes, thanks, please, hello") == []
    assert words.tokens("Okay frustrated", stop_words=None) == ["okay", "frustrated"]
    assert words.tokens("I don\u2019t know", stop_words=None) == ["don't", "know"]


def test_stop_words_are_wordclouds_list_plus_call_filler():
    assert {"okay", "yes", "thank", "thanks", "please"} <= words.CALL_FILLER_WORDS <= words.STOP_WORDS
    assert {"the", "and", "you"} <= words.STOP_WORDS
    # words that carry feeling or subject matter must survive
    assert not {"frustrated", "great", "appreciate", "claim", "denied"} & words.STOP_WORDS


def test_proper_nouns_are_names_written_capitalised_mid_sentence_only():
    texts = [
        "Thank you, Emily. I see Mr. Johnson called. Claim approved.",
        "Emily, your ID is ready. The claim was paid on Wednesday.",
    ]
    names = words.proper_nouns(texts)
    assert {"emily", "johnson", "wednesday"} <= names
    assert "claim" not in names  # capitalised only at the start of a sentence, lower case elsewhere
    assert "id" not in names  # an acronym is not a name
    counts = language.word_counts(texts)
    assert "emily" not in counts and counts["claim"] == 2



def test_the_pronoun_i_and_titles_are_no_proper_nouns():
    """"I'm" is always capitalised, yet no name (issue 21 item 7)."""
    texts = ["Hi, I'm calling about my claim, and I'm certain it's covered. My name is Emily.",
             "Yes, I've paid. I'll wait, I'd say. Thanks, Ms. Lee."]
    names = words.proper_nouns(texts)
    assert not names & {"i", "i'm", "i've", "i'll", "i'd", "ms"} and {"emily", "lee"} <= names

def test_most_frequent_counts_and_percentages():
    table = language.most_frequent(["claim claim claim denied denied refund", "refund claim"], n=2)
    assert table["word"].tolist() == ["claim", "denied"]
    assert table["count"].tolist() == [4, 2]
    assert table["percent"].tolist() == pytest.approx([50.0, 25.0])


def test_log_odds_matches_monroe_et_al_by_hand():
    a, b = Counter({"refund": 10, "policy": 10}), Counter({"refund": 2, "policy": 18})
    table = language.log_odds_dirichlet(a, b, prior_size=20).set_index("word")
    # prior from a + b: refund 12/40 and policy 28/40 of alpha_0 = 20
    alpha = 20 * 12 / 40
    delta = math.log((10 + alpha) / (20 + 20 - 10 - alpha)) - math.log((2 + alpha) / (20 + 20 - 2 - alpha))
    z = delta / math.sqrt(1 / (10 + alpha) + 1 / (2 + alpha))
    assert table.loc["refund", "log_odds"] == pytest.approx(delta)
    assert table.loc["refund", "z"] == pytest.approx(z)
    assert table.loc["policy", "z"] < 0 < table.loc["refund", "z"]


def test_log_odds_is_antisymmetric_and_grows_with_evidence():
    a, b = Counter({"x": 5, "y": 5}), Counter({"x": 1, "y": 9})
    forward = language.log_odds_dirichlet(a, b).set_index("word")
    backward = language.log_odds_dirichlet(b, a).set_index("word")
    assert forward["z"].to_dict() == pytest.approx((-backward["z"]).to_dict())
    ten_times = language.log_odds_dirichlet(
        Counter({k: 10 * v for k, v in a.items()}), Counter({k: 10 * v for k, v in b.items()})
    ).set_index("word")
    assert ten_times.loc["x", "z"] > forward.loc["x", "z"] > 0


def test_log_odds_prior_shrinks_rare_words():
    # "once" is said twice by A only; "often" 100 times by A and 20 by B: the prior ranks "often" first.
    a = Counter({"once": 2, "often": 100, "common": 500})
    b = Counter({"often": 20, "common": 600})
    table = language.log_odds_dirichlet(a, b)
    assert table["word"].iloc[0] == "often"
    with pytest.raises(ValueError, match="empty"):
        language.log_odds_dirichlet(a, Counter())


def test_distinctive_words_put_each_sides_words_on_its_side(two_calls):
    customer = eda.side_texts(two_calls, "customer").values()
    agent = eda.side_texts(two_calls, "agent").values()
    table = language.distinctive_words(customer, agent, n=3)
    assert set(table["side"]) == {"customer", "agent"}
    assert (table["z"] > 0).all()
    customer_words = set(table.loc[table["side"] == "customer", "word"])
    agent_words = set(table.loc[table["side"] == "agent", "word"])
    assert "apologize" in agent_words | set(language.distinctive_words(customer, agent, n=20)["word"])
    assert not customer_words & agent_words
    assert {"count_customer", "count_agent"} <= set(table.columns)


def test_word_cloud_shows_no_identifier_placeholder_or_name(two_calls):
    cloud = language.word_cloud(eda.side_texts(two_calls).values())
    words = set(cloud.words_)
    assert {"claim", "password"} <= words
    assert not any(any(c.isdigit() for c in w) for w in words)
    assert not words & {"mem123456", "member_id", "phone", "email", "jane", "roe", "example", "org"}
    assert "emily" not in words
    assert cloud.to_array().shape == (450, 900, 3)
    with pytest.raises(ValueError, match="no words"):
        language.word_cloud(["Okay, thank you. MEM123456"])


def test_data_quality_reports_skipped_files_unknown_speakers_and_meta_kinds(fixture_calls):
    calls, report = read_calls(fixture_calls)
    table = eda.data_quality(calls, report)
    findings = table.groupby("finding")["calls"].sum().to_dict()
    assert findings["files read"] == report.files_read == 4
    assert findings["file skipped"] == len(report.skipped) == 4
    assert set(table.loc[table["finding"] == "file skipped", "example"]) == {
        "binary.txt", "empty.txt", "latin1.txt", "no_customer.txt"
    }
    unknown = table[table["finding"] == "unknown speaker label"]
    assert unknown["detail"].tolist() == ["'Supervisor'"]
    meta = table[table["finding"] == "non-speech line set aside"].set_index("detail")["lines"].to_dict()
    assert meta == report.irregular
    assert "no agent turn" in set(table["finding"])


def test_meta_lines_are_redacted():
    turns = parse_text("Member: Hi.\n(Note: member MEM123456 was upset)\nAgent: Hello.", "n.txt")
    table = eda.meta_lines([Call.of(turns)])
    assert table["kind"].tolist() == ["note"]
    assert "MEM123456" not in table["text"].iloc[0] and "[MEMBER_ID]" in table["text"].iloc[0]


def test_read_corpus_sample_is_seeded(fixture_calls, tmp_path):
    folder = tmp_path / eda.transcripts_dir().name
    folder.mkdir()
    for i in range(6):
        (folder / f"transcript_{i}.txt").write_text(f"Member: call {i}\nAgent: ok\n")
    first, report = eda.read_corpus(tmp_path, sample_size=3, seed=1)
    again, _ = eda.read_corpus(tmp_path, sample_size=3, seed=1)
    calls = [call.name for call in first]
    assert len(calls) == 3 and calls == [call.name for call in again]
    assert report.files_read == 6
    everything, _ = eda.read_corpus(tmp_path)
    assert [call.name for call in everything] == [f"transcript_{i}" for i in range(6)]


def test_plots_have_titles_and_axis_labels(two_calls):
    stats = eda.call_stats(two_calls)
    customer = eda.side_texts(two_calls, "customer").values()
    agent = eda.side_texts(two_calls, "agent").values()
    figures = [
        eda.plot_lengths(stats),
        eda.plot_teams(stats),
        language.plot_frequent(language.most_frequent(customer, 5), "top words"),
        language.plot_distinctive(language.distinctive_words(customer, agent, n=3)),
    ]
    for fig in figures:
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel()
    cloud = language.plot_word_cloud(language.word_cloud(customer), "customer side")
    assert cloud.axes[0].get_title() == "customer side"


def test_distinctive_words_need_words_on_both_sides():
    with pytest.raises(ValueError, match="both sides"):
        language.distinctive_words(["The claim was denied twice."], ["MEM123456"])
