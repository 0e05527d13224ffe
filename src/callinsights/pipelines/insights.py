"""The insights command: per-call features and drivers, PPI rates and the decided findings, written as result files.

``callinsights insights`` writes ``results/call_insights.csv`` (one row per call: features and driver, no text, no
labels), ``results/ppi_rates.csv`` and ``results/findings.csv``. Notebook 05 calls :func:`calls_with_drivers` and
:func:`ppi_tables` too, so what it shows is what the command writes; it writes nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from callinsights import config
from callinsights.analysis import eda, insights, ppi, topics
from callinsights.data.labels import load_labels
from callinsights.data.outputs import check_output_file, write_csv
from callinsights.data.call import Call


def calls_with_drivers(parsed: list[Call], n_topics: int | None = None, seed: int = 0
                       ) -> tuple[pd.DataFrame, topics.TopicModel]:
    """One row per call with its features (:func:`callinsights.analysis.eda.call_frame`) and its driver.

    Args:
        parsed: Parsed calls.
        n_topics: Number of drivers, or None to choose it by silhouette.
        seed: Seed of the topic model.

    Returns:
        The calls frame (with ``topic``, ``topic_id``, ``topic_terms``, ``topic_share``) and the topic model.
    """
    calls = eda.call_frame(parsed)
    stop = topics.stop_words(calls["text"])
    model = topics.discover_topics(calls["text"].tolist(), n_topics=n_topics, seed=seed, stop=stop)
    return topics.add_topics(calls, model), model


def ppi_tables(calls: pd.DataFrame, predictions: pd.DataFrame, gold: pd.DataFrame
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predictions corrected by the hand labels: the PPI frame, the rates by driver and team, the decided findings.

    Args:
        calls: :func:`calls_with_drivers`'s frame (the covariates: driver, team, events, features).
        predictions: A predictions table (``results/predictions.csv``).
        gold: The hand labels that correct the predictions.

    Returns:
        ``(frame, rates, decided)``: :func:`callinsights.analysis.ppi.ppi_frame`, the
        :func:`~callinsights.analysis.ppi.rate_table` of every grouping, and
        :func:`callinsights.analysis.insights.decide` over every comparison.
    """
    covariates = calls.set_index("file")[list(dict.fromkeys([*insights.GROUPINGS, *insights.FLAGS,
                                                            *eda.FEATURES]))]
    frame = ppi.ppi_frame(predictions, gold, covariates)
    rates = pd.concat([ppi.rate_table(frame, by) for by in insights.GROUPINGS], ignore_index=True)
    return frame, rates, insights.decide(insights.comparisons(frame))


@dataclass
class InsightFiles:
    """Where :func:`write_insight_files` puts its tables (defaults: the configured results files)."""

    calls: Path = config.INSIGHTS_FILE
    rates: Path = config.PPI_RATES_FILE
    findings: Path = config.FINDINGS_FILE

    @classmethod
    def under(cls, folder: str | Path) -> "InsightFiles":
        """The same file names in another folder."""
        folder = Path(folder)
        return cls(folder / config.INSIGHTS_FILE.name, folder / config.PPI_RATES_FILE.name,
                   folder / config.FINDINGS_FILE.name)


def write_insight_files(calls: pd.DataFrame, rates: pd.DataFrame | None, decided: pd.DataFrame | None,
                        files: InsightFiles | None = None) -> list[Path]:
    """Write the per-call table and, when there are predictions, the rates and the findings (atomically).

    Returns:
        The paths written.
    """
    files = files or InsightFiles()
    write_csv(calls[eda.INSIGHT_COLUMNS], files.calls, float_format="%.4f")
    written = [files.calls]
    if rates is not None and decided is not None:
        out = decided.assign(sentence=[insights.sentence(row) for _, row in decided.iterrows()])
        write_csv(rates, files.rates, float_format="%.4f")
        write_csv(out, files.findings, float_format="%.4f")
        written += [files.rates, files.findings]
    return written


def run(data_dir: str | Path | None = None, predictions: str | Path = config.PREDICTIONS_FILE,
        labels: str | Path = config.LABELS_FILE, n_topics: int | None = None, seed: int = 0,
        out_dir: str | Path | None = None) -> list[Path]:
    """Compute the insight tables from the calls, the predictions and the hand labels, and write them.

    Without a predictions file only ``call_insights.csv`` is written (no rate or finding can be corrected).

    Args:
        data_dir: A folder laid out like the project data folder (None: the configured one).
        predictions: The predictions table (``make analyze`` writes it).
        labels: The hand labels that correct the predictions (the client's file by default).
        n_topics: Number of drivers, or None to choose it by silhouette.
        seed: Seed of the topic model.
        out_dir: Where to write (None: the configured results files).

    Returns:
        The paths written.
    """
    files = InsightFiles.under(out_dir) if out_dir else InsightFiles()
    for path in (files.calls, files.rates, files.findings):
        check_output_file(path, "--out-dir")  # said before the topic model runs, not after
    gold = load_labels(labels) if Path(predictions).is_file() else None
    parsed, _ = eda.read_corpus(data_dir)
    calls, _ = calls_with_drivers(parsed, n_topics, seed)
    rates = decided = None
    if gold is not None:
        _, rates, decided = ppi_tables(calls, pd.read_csv(predictions), gold)
    return write_insight_files(calls, rates, decided, files)
