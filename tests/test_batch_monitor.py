"""Monitoring a new batch against the reference run: alerts on real shifts, none on batches drawn from the reference,
"not enough calls" on small batches, the command's exit codes and its messages on bad input.

Batches are built from rows of the committed main run (``results/predictions.csv``, copied into a temporary folder):
resampled as they are, or resampled towards one kind of call to shift one quantity.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from callinsights import config
from callinsights.evaluation.monitoring import ALERT, FEW, OK, alerts, check_predictions, compare
from callinsights.pipelines.cli import EXIT_ALERT, EXIT_BAD_INPUT, EXIT_OK, main


@pytest.fixture(scope="module")
def reference_rows() -> pd.DataFrame:
    return pd.read_csv(config.PREDICTIONS_FILE)


@pytest.fixture
def reference(tmp_path, reference_rows):
    path = tmp_path / "reference.csv"
    shutil.copy(config.PREDICTIONS_FILE, path)
    return path


def _status(table: pd.DataFrame, quantity: str) -> str:
    return table.set_index("quantity").loc[quantity, "status"]


def _compare(reference_rows: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    return compare(check_predictions(reference_rows, "reference"), check_predictions(batch, "batch"))


def _new_calls(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows resampled with replacement as a batch of new calls like them: each call named once, as in a real batch
    (a table repeating a call is refused)."""
    return rows.assign(file=[f"new_call_{i}" for i in range(len(rows))])


def _more_negative(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """100 real rows, 30 of them negative (the reference has about 7% negative)."""
    negative = rows[rows["sentiment"] == "negative"]
    others = rows[rows["sentiment"] != "negative"]
    return _new_calls(pd.concat([negative.sample(30, replace=True, random_state=seed),
                                 others.sample(70, random_state=seed)]))


def test_a_batch_with_many_more_negative_calls_alerts_on_the_sentiment_mix(reference_rows):
    table = _compare(reference_rows, _more_negative(reference_rows))

    assert _status(table, "sentiment mix") == ALERT
    negative = table.set_index("quantity").loc["sentiment: negative share"]
    assert negative["status"] == ALERT
    share = (reference_rows["sentiment"] == "negative").mean()  # read from the committed run, not typed in
    assert negative["reference"] == pytest.approx(share) and negative["batch"] == pytest.approx(0.30)
    assert negative["ci_low"] > 0 and negative["change"] == pytest.approx(0.30 - share)
    # The outcome was not touched on purpose: whatever moved there is within noise.
    assert _status(table, "outcome mix") == OK


@pytest.mark.parametrize("replace", [False, True], ids=["subsample", "bootstrap"])
def test_batches_drawn_from_the_reference_raise_no_alert(reference_rows, replace):
    for seed in range(20):
        batch = _new_calls(reference_rows.sample(100, replace=replace, random_state=seed))
        fired = alerts(_compare(reference_rows, batch))
        assert fired.empty, f"seed {seed}: {fired[['quantity', 'change', 'ci_low', 'ci_high', 'p_value']]}"


def test_a_rise_in_invalid_answers_alerts(reference_rows):
    batch = reference_rows.sample(100, random_state=1).reset_index(drop=True)
    broken = batch.index[:15]
    batch.loc[broken, "valid"] = False
    batch.loc[broken, ["sentiment", "outcome", "confidence_sentiment", "confidence_outcome"]] = np.nan

    table = _compare(reference_rows, batch).set_index("quantity")

    assert table.loc["invalid share", "status"] == ALERT
    assert table.loc["invalid share", "batch"] == pytest.approx(0.15)
    # Invalid answers are left out of the label shares, so they do not alert there a second time.
    assert table.loc["sentiment: positive share", "n_batch"] == 85


def test_longer_calls_alert_on_tokens_and_slower_calls_on_seconds(reference_rows):
    # Relative to the committed run, whose model time per call depends on the method's passes.
    seconds = reference_rows["seconds"]
    long_calls = _new_calls(reference_rows[reference_rows["prompt_tokens"] > 210].sample(60, replace=True,
                                                                                          random_state=0))
    slow_calls = _new_calls(reference_rows[seconds > seconds.quantile(0.9)].sample(60, replace=True, random_state=0))
    fast_calls = _new_calls(reference_rows[seconds < seconds.quantile(0.1)].sample(60, replace=True, random_state=0))

    assert _status(_compare(reference_rows, long_calls), "prompt tokens per call (median)") == ALERT
    assert _status(_compare(reference_rows, slow_calls), "seconds per call (median)") == ALERT
    # Faster is no fault: seconds alert on a rise only.
    assert _status(_compare(reference_rows, fast_calls), "seconds per call (median)") == OK


def test_latency_is_read_from_the_calls_computed_in_the_batch(reference_rows):
    batch = reference_rows.sample(100, random_state=2).reset_index(drop=True)
    batch["cached"] = [False] * 60 + [True] * 40
    batch.loc[:59, "seconds"] *= 3  # this machine is three times slower than when the cached calls were computed

    row = _compare(reference_rows, batch).set_index("quantity").loc["seconds per call (median)"]

    assert row["status"] == ALERT and row["n_batch"] == 60
    assert "60 calls computed in the run" in row["note"]


def test_lower_confidence_alerts(reference_rows):
    confidence = reference_rows["confidence_sentiment"]
    unsure = _new_calls(reference_rows[confidence < confidence.quantile(0.25)].sample(60, replace=True,
                                                                                      random_state=0))
    assert _status(_compare(reference_rows, unsure), "confidence sentiment (mean)") == ALERT


def test_calls_over_the_context_alert_when_the_batch_has_the_column(reference_rows):
    reference_rows = reference_rows.drop(columns=["windowed", "dropped_turns"], errors="ignore")  # older tables
    batch = reference_rows.sample(100, random_state=4).reset_index(drop=True)
    assert "windowed share" not in set(_compare(reference_rows, batch)["quantity"])

    batch["windowed"] = False
    assert _status(_compare(reference_rows, batch), "windowed share") == OK
    batch.loc[:19, "windowed"] = True
    row = _compare(reference_rows, batch).set_index("quantity").loc["windowed share"]
    assert row["status"] == ALERT and row["reference"] == 0 and row["batch"] == pytest.approx(0.2)


def test_a_small_batch_says_not_enough_calls_instead_of_alerting(reference_rows):
    negative = reference_rows[reference_rows["sentiment"] == "negative"].head(12)

    table = _compare(reference_rows, negative)

    assert alerts(table).empty
    assert _status(table, "calls") == FEW
    assert _status(table, "sentiment mix") == FEW and _status(table, "sentiment: negative share") == FEW


def test_monitor_exits_3_on_an_alert_and_writes_the_table(tmp_path, reference, reference_rows, capsys):
    batch, out = tmp_path / "batch.csv", tmp_path / "monitoring.csv"
    _more_negative(reference_rows).to_csv(batch, index=False)

    code = main(["monitor", str(batch), "--reference", str(reference), "--out", str(out)])

    assert code == EXIT_ALERT
    printed = capsys.readouterr().out
    assert "alert" in printed and "sentiment: negative share" in printed
    table = pd.read_csv(out)
    assert set(table.loc[table["status"] == ALERT, "quantity"]) >= {"sentiment mix", "sentiment: negative share"}


def test_monitor_exits_0_on_a_batch_from_the_reference(tmp_path, reference, reference_rows, capsys):
    batch, out = tmp_path / "batch.csv", tmp_path / "monitoring.csv"
    reference_rows.sample(100, random_state=3).to_csv(batch, index=False)

    assert main(["monitor", str(batch), "--reference", str(reference), "--out", str(out)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "no alert" in captured.out
    assert "100 of the batch's 100 file names are also in the reference" in captured.err
    assert (pd.read_csv(out)["status"] == OK).all()


def test_monitor_exits_0_and_warns_on_a_small_batch(tmp_path, reference, reference_rows, capsys):
    batch = tmp_path / "batch.csv"
    reference_rows[reference_rows["sentiment"] == "negative"].head(12).to_csv(batch, index=False)

    code = main(["monitor", str(batch), "--reference", str(reference), "--out", str(tmp_path / "m.csv")])

    assert code == EXIT_OK
    assert "not enough calls (fewer than 30 on a side)" in capsys.readouterr().err


def _refused(tmp_path, capsys, batch, reference, *extra) -> str:
    out = tmp_path / "monitoring.csv"
    out.write_text("previous table\n")
    code = main(["monitor", str(batch), "--reference", str(reference), "--out", str(out), *extra])
    assert code == EXIT_BAD_INPUT
    assert out.read_text() == "previous table\n"  # a refused comparison leaves the previous table as it was
    return capsys.readouterr().err


def test_a_missing_batch_is_named(tmp_path, reference, capsys):
    err = _refused(tmp_path, capsys, tmp_path / "nope.csv", reference)
    assert "nope.csv: no such file; give the batch predictions" in err


def test_a_missing_reference_says_how_to_restore_it(tmp_path, reference_rows, capsys):
    batch = tmp_path / "batch.csv"
    reference_rows.head(50).to_csv(batch, index=False)
    err = _refused(tmp_path, capsys, batch, tmp_path / "gone.csv")
    assert "gone.csv: no such file; give the reference predictions" in err and "git checkout" in err


def test_a_table_that_is_not_predictions_is_refused_naming_the_missing_columns(tmp_path, reference, capsys):
    turns = tmp_path / "turns.csv"
    pd.DataFrame({"file": ["a"], "turn": [0], "speaker": ["Member"], "role": ["customer"], "text": ["hi"]}
                 ).to_csv(turns, index=False)
    err = _refused(tmp_path, capsys, turns, reference)
    assert "turns.csv: not a predictions table (no column sentiment, outcome," in err
    assert "callinsights analyze --out" in err


@pytest.mark.parametrize(("content", "expected"), [
    ("", "cannot be read as a CSV table"),
    (None, "has no row"),
    ("bad valid", "column valid holds 'maybe'"),
])
def test_empty_and_malformed_tables_are_refused(tmp_path, reference, reference_rows, capsys, content, expected):
    batch = tmp_path / "batch.csv"
    if content == "bad valid":
        rows = reference_rows.head(40).copy()
        rows["valid"] = ["maybe"] + [True] * 39
        rows.to_csv(batch, index=False)
    elif content is None:
        reference_rows.head(0).to_csv(batch, index=False)
    else:
        batch.write_text(content)
    assert expected in _refused(tmp_path, capsys, batch, reference)


def test_a_label_outside_the_vocabulary_is_refused_naming_the_value(tmp_path, reference, reference_rows, capsys):
    batch = tmp_path / "happy.csv"
    reference_rows.head(40).assign(sentiment="happy").to_csv(batch, index=False)
    err = _refused(tmp_path, capsys, batch, reference)
    assert "happy.csv: column sentiment holds 'happy' (40 rows) where one of positive, negative, neutral" in err
    assert "callinsights analyze --out" in err


def test_a_call_repeated_in_a_table_is_refused_naming_the_call(tmp_path, reference, reference_rows, capsys):
    batch = tmp_path / "copies.csv"
    pd.concat([reference_rows.head(1)] * 40).to_csv(batch, index=False)
    err = _refused(tmp_path, capsys, batch, reference)
    call = reference_rows["file"].iloc[0]
    assert f"copies.csv: call {call!r} has 40 rows" in err and "one row per call" in err


def test_a_batch_of_another_method_is_refused_unless_allowed(tmp_path, reference, reference_rows, capsys):
    batch = tmp_path / "score.csv"
    rows = reference_rows.sample(60, random_state=0)
    rows.assign(method="score").to_csv(batch, index=False)

    err = _refused(tmp_path, capsys, batch, reference)
    assert "score.csv: labelled with another configuration" in err and "method: reference probe, batch score" in err
    assert "--allow-mismatch" in err

    out = tmp_path / "allowed.csv"
    code = main(["monitor", str(batch), "--reference", str(reference), "--out", str(out), "--allow-mismatch"])
    assert code == EXIT_OK and out.is_file()
    assert "configurations differ (method: reference probe, batch score)" in capsys.readouterr().err


def test_a_table_mixing_two_runs_is_refused(tmp_path, reference, reference_rows, capsys):
    batch = tmp_path / "mixed.csv"
    rows = reference_rows.head(60).copy()
    rows.loc[rows.index[:30], "prompt_version"] = "v2"
    rows.to_csv(batch, index=False)
    assert "mixed.csv: rows of more than one configuration (prompt_version:" in _refused(tmp_path, capsys, batch,
                                                                                         reference)


def test_an_output_path_under_a_file_is_refused_before_reading(tmp_path, reference, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    code = main(["monitor", str(reference), "--reference", str(reference), "--out", str(blocker / "m.csv")])
    assert code == EXIT_BAD_INPUT
    assert "is a file, not a folder; give --out another path" in capsys.readouterr().err


def test_the_batch_plot_has_a_panel_per_quantity_with_its_threshold(reference_rows):
    import matplotlib

    matplotlib.use("Agg")
    from callinsights.evaluation.monitoring import batch_table, plot_batches

    table = batch_table({"quiet": _compare(reference_rows, reference_rows.sample(100, random_state=1)),
                         "shifted": _compare(reference_rows, _more_negative(reference_rows))})
    fig = plot_batches(table)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [q for q in dict.fromkeys(table["quantity"]) if q != "calls"]
    negative = next(ax for ax in panels if ax.get_title() == "sentiment: negative share")
    dashed = sorted(line.get_ydata()[0] for line in negative.get_lines() if line.get_linestyle() == "--")
    assert dashed == pytest.approx([-0.10, 0.10])  # config.MONITOR_THRESHOLDS["label_share"], both ways
    colours = negative.collections[-1].get_facecolors()
    assert tuple(colours[1][:3]) == pytest.approx(matplotlib.colors.to_rgb("tab:red"))  # the shifted batch alerts
