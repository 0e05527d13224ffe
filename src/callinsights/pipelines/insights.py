"""The insights command: per-call features and drivers, and what one reading of the hand labels says about them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from callinsights import config
from callinsights.analysis import eda, insights, ppi, topics
from callinsights.classify.probe import WHOLE_CALL
from callinsights.data.labels import load_labels
from callinsights.data.outputs import READING_RECORD_SUFFIX, check_output_file, write_csv, write_label_reading


def ppi_tables(calls: pd.DataFrame, predictions: pd.DataFrame, gold: pd.DataFrame
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predictions corrected by one reading's hand labels ``gold``: the PPI frame, the rates by every grouping, and
    the decided comparisons; ``calls`` (one row per call, with its driver) gives the covariates."""
    columns = [*insights.GROUPINGS, *insights.CALL_EVENTS, *insights.CONSISTENCY_CHECKS, *insights.PENDING_KINDS,
               *eda.FEATURES]  # fmt: skip
    covariates = calls.set_index("file")[[c for c in dict.fromkeys(columns) if c in calls.columns]]
    frame = ppi.ppi_frame(predictions, gold, covariates)
    rates = pd.concat([ppi.rate_table(frame, by) for by in insights.GROUPINGS], ignore_index=True)
    return frame, rates, insights.decide(insights.comparisons(frame))


@dataclass
class Insights:
    """What one reading of the hand labels says about the calls (see :mod:`callinsights.analysis.insights`)."""

    rates: pd.DataFrame
    drivers: pd.DataFrame
    pending: pd.DataFrame
    decided: pd.DataFrame
    findings: pd.DataFrame


def insight_tables(calls: pd.DataFrame, predictions: pd.DataFrame, gold: pd.DataFrame) -> Insights:
    """Every labelled table the command writes; the predictions' ``evidence_sentiment``, if any, quotes the negative
    calls."""
    frame, rates, decided = ppi_tables(calls, predictions, gold)
    quotes = None
    if "evidence_sentiment" in predictions.columns:
        quotes = predictions.set_index("file")["evidence_sentiment"]
        quotes = quotes[quotes != WHOLE_CALL]  # no turn to quote: the label rests on the whole call
    drivers = insights.driver_table(frame, quotes)
    pending = insights.pending_work_table(frame)
    found = insights.actionable(drivers, pending, decided, frame)
    return Insights(rates, drivers, pending, decided, found)


@dataclass
class InsightFiles:
    """Where :func:`write_insight_files` puts its tables (defaults: the configured results files)."""

    calls: Path = config.INSIGHTS_FILE
    rates: Path = config.PPI_RATES_FILE
    drivers: Path = config.DRIVERS_FILE
    pending: Path = config.PENDING_WORK_FILE
    comparisons: Path = config.COMPARISONS_FILE
    findings: Path = config.FINDINGS_FILE

    @classmethod
    def under(cls, folder: str | Path) -> "InsightFiles":
        """The same file names in another folder."""
        return cls(*(Path(folder) / getattr(cls(), f.name).name for f in fields(cls)))

    @property
    def reading(self) -> Path:
        """The record of the label file the labelled tables were computed from, beside them."""
        return self.findings.with_name(f"insights{READING_RECORD_SUFFIX}")

    def all(self) -> list[Path]:
        """Every table, the per-call one first."""
        return [getattr(self, f.name) for f in fields(self)]


def write_insight_files(calls: pd.DataFrame, found: Insights | None, files: InsightFiles | None = None,
                        labels: str | Path | None = None) -> list[Path]:  # fmt: skip
    """Write the per-call table and, when ``found`` (None without predictions), every labelled table and the record
    of the ``labels`` file they were computed from; returns the paths written."""
    files = files or InsightFiles()
    write_csv(calls[eda.INSIGHT_COLUMNS], files.calls, float_format="%.4f")
    written = [files.calls]
    if found is None:
        return written
    decided = found.decided.assign(sentence=[insights.sentence(row) for _, row in found.decided.iterrows()])
    for frame, path in ((found.rates, files.rates), (found.drivers, files.drivers), (found.pending, files.pending),
                        (decided, files.comparisons), (found.findings, files.findings)):
        write_csv(frame, path, float_format="%.4f")
        written.append(path)
    if labels is not None:
        written.append(write_label_reading(files.reading, labels, written[1:]))
    return written


def run(data_dir: str | Path | None = None, predictions: str | Path = config.PREDICTIONS_FILE,
        labels: str | Path | None = None, n_topics: int | None = None, seed: int = 0,
        out_dir: str | Path | None = None) -> list[Path]:
    """Compute the insight tables and write them; returns the paths written. ``labels`` defaults to the reading the
    probe is fitted on; without a predictions file only the per-call table is written (nothing to correct)."""
    files = InsightFiles.under(out_dir) if out_dir else InsightFiles()
    for path in files.all():
        check_output_file(path, "--out-dir")  # said before the topic model runs, not after
    labels = Path(labels) if labels else config.training_labels_file(Path(data_dir) if data_dir else None)
    gold = load_labels(labels) if Path(predictions).is_file() else None
    parsed, _ = eda.read_corpus(data_dir)
    calls = eda.call_frame(parsed)  # one row per call with its features, and its driver (topic) added
    calls = topics.add_topics(calls, topics.discover_topics(calls["text"].tolist(), n_topics=n_topics, seed=seed))
    found = insight_tables(calls, pd.read_csv(predictions), gold) if gold is not None else None
    return write_insight_files(calls, found, files, labels if found is not None else None)
