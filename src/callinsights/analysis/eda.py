"""The calls as data: lengths, speakers, what the parser found irregular, and per-call features (holds, transfers,
questions, callbacks, the agent's actions, pending work, the customer's sentiment trajectory)."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from callinsights import config
from callinsights.data.call import AGENT, CUSTOMER, META, Call, Turn, customer_turns
from callinsights.data.transcripts import ParseReport, read_calls
from callinsights.text.redact import redact
from callinsights.text.words import (CALL_ACTIONS, CUE_NAMES, HOLD_CUES, PENDING_WORK, count_cues, cue_pattern,
                                     sentiment_from_compound, vader_baseline)

LENGTH_TERCILES = ("short", "medium", "long")
_STATS_COLUMNS = ["call", "customer_turns", "agent_turns", "customer_words", "agent_words", "words", "turns",
                  "customer_share", "speakers", "speaker_labels", "agent_team", "meta_lines"]  # fmt: skip


def transcripts_dir(data_dir: str | Path | None = None) -> Path:
    """The transcripts folder inside a folder laid out like ``data/`` (None: the configured one)."""
    return config.TRANSCRIPTS_DIR if data_dir is None else Path(data_dir) / config.TRANSCRIPTS_DIR.name


def read_corpus(data_dir: str | Path | None = None, sample_size: int | None = None,
                seed: int = 0) -> tuple[list[Call], ParseReport]:  # fmt: skip
    """The calls of a data folder in file order (a seeded random ``sample_size`` of them if given), and the parse
    report of the whole folder: what a sample leaves out is still a data-quality finding."""
    if sample_size is not None and sample_size < 1:
        raise ValueError(f"sample_size {sample_size}: use a positive number of calls, or None for every call")
    calls, report = read_calls(transcripts_dir(data_dir))
    if sample_size is None or sample_size >= len(calls):
        return calls, report
    kept = set(random.Random(seed).sample([call.name for call in calls], sample_size))
    return [call for call in calls if call.name in kept], report


def call_stats(calls: Iterable[Call]) -> pd.DataFrame:
    """One row per call, indexed by call id: how long each side speaks and who the speakers are.

    ``agent_team`` is the agent label with most turns; ``length_tercile`` cuts ``words`` at these calls' terciles.
    """
    rows = []
    for call in calls:
        speech = [t for t in call if t.role != META]
        customer, agent = ([t for t in speech if t.role == role] for role in (CUSTOMER, AGENT))
        customer_words, agent_words = (sum(len(t.text.split()) for t in side) for side in (customer, agent))
        words = customer_words + agent_words
        teams, speakers = Counter(t.speaker for t in agent), {t.speaker for t in speech}
        rows.append({
            "call": call.name, "customer_turns": len(customer), "agent_turns": len(agent),
            "customer_words": customer_words, "agent_words": agent_words, "words": words,
            "turns": len(customer) + len(agent), "customer_share": customer_words / words if words else float("nan"),
            "speakers": len(speakers), "speaker_labels": " / ".join(sorted(speakers)),
            "agent_team": teams.most_common(1)[0][0] if teams else "(no agent)",
            "meta_lines": sum(t.role == META for t in call),
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=_STATS_COLUMNS).set_index("call")
    if len(frame) >= len(LENGTH_TERCILES):
        # Ranking first keeps the three bins non-empty when several calls have the same length.
        frame["length_tercile"] = pd.qcut(frame["words"].rank(method="first"), len(LENGTH_TERCILES),
                                          labels=list(LENGTH_TERCILES)).astype(str)  # fmt: skip
    else:
        frame["length_tercile"] = LENGTH_TERCILES[0]
    return frame


def side_texts(calls: Iterable[Call], side: str = "call") -> dict[str, str]:
    """Call id -> that ``side``'s turns (``customer``, ``agent`` or ``call`` for both), one per line, unredacted."""
    roles = {"customer": {CUSTOMER}, "agent": {AGENT}, "call": {CUSTOMER, AGENT}}
    if side not in roles:
        raise ValueError(f"side {side!r}: use one of {', '.join(roles)}")
    return {call.name: "\n".join(t.text for t in call if t.role in roles[side] and t.text) for call in calls}


def meta_lines(calls: Iterable[Call]) -> pd.DataFrame:
    """Every line the parser set aside as not speech (``call``, ``kind``, ``text``), redacted."""
    rows = [(call.name, t.kind, redact(t.text)) for call in calls for t in call if t.role == META]
    return pd.DataFrame(rows, columns=["call", "kind", "text"])


def data_quality(calls: Iterable[Call], report: ParseReport) -> pd.DataFrame:
    """What a reader should know about the files before trusting an analysis of them, one row per finding with
    how many lines and calls it concerns and an example (redacted)."""
    calls = list(calls)
    rows = [("files read", "parsed into turns", pd.NA, report.files_read, "")]
    rows += [("file skipped", reason, pd.NA, 1, name) for name, reason in report.skipped]
    unknown = pd.DataFrame(report.unknown_speakers, columns=["call", "label"])
    rows += [("unknown speaker label", repr(label), pd.NA, len(group), group["call"].iloc[0])
             for label, group in unknown.groupby("label", sort=True)]  # fmt: skip
    for kind, group in meta_lines(calls).groupby("kind", sort=True):
        first = group.iloc[0]
        rows.append(("non-speech line set aside", kind, len(group), group["call"].nunique(),
                     f"{first['call']}: {first['text'][:80]}"))  # fmt: skip
    empty = [(call.name, t) for call in calls for t in call if t.role != META and not t.text.strip()]
    if empty:
        rows.append(("speech turn with no words", "a label with nothing after it", len(empty),
                     len({name for name, _ in empty}), f"{empty[0][0]}: {empty[0][1].speaker}:"))  # fmt: skip
    stats = call_stats(calls)
    multi = [call.name for call in calls if len({t.speaker for t in call if t.role == AGENT}) > 1]
    if multi:
        rows.append(("more than one agent label", "call handed to another team", pd.NA, len(multi),
                     f"{multi[0]}: {stats.loc[multi[0], 'speaker_labels']}"))  # fmt: skip
    no_agent = stats.index[stats["agent_turns"] == 0].tolist()
    if no_agent:
        rows.append(("no agent turn", "no turn by a known agent label", pd.NA, len(no_agent), no_agent[0]))
    frame = pd.DataFrame(rows, columns=["finding", "detail", "lines", "calls", "example"])
    frame["lines"] = frame["lines"].astype("Int64")
    return frame


def plot_lengths(stats: pd.DataFrame):
    """Words and turns per call (:func:`call_stats`), customer and agent overlaid."""
    import matplotlib.pyplot as plt

    sides = (("customer", "tab:orange"), ("agent", "tab:blue"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    words = stats[["customer_words", "agent_words"]]
    bins = np.linspace(words.min().min(), words.max().max(), 31)
    for side, colour in sides:
        column = stats[f"{side}_words"]
        axes[0].hist(column, bins=bins, alpha=0.6, color=colour, label=f"{side} (median {column.median():.0f})")
    # Turns are small whole numbers: bars side by side at each count read better than overlapping bins.
    low, high = int(stats[["customer_turns", "agent_turns"]].min().min()), int(stats["turns"].max())
    values = np.arange(low, max(high, low) + 1)
    for offset, (side, colour) in zip((-0.2, 0.2), sides):
        column = stats[f"{side}_turns"]
        counts = column.value_counts().reindex(values, fill_value=0)
        axes[1].bar(values + offset, counts.values, width=0.4, color=colour,
                    label=f"{side} (median {column.median():.0f})")
    axes[1].set_xlim(low - 1, int(stats[["customer_turns", "agent_turns"]].max().max()) + 1)
    for ax, unit in ((axes[0], "words"), (axes[1], "turns")):
        ax.set(title=f"{unit.capitalize()} per call, by side", xlabel=f"{unit} in the call", ylabel="calls")
        ax.legend()
    fig.suptitle(f"Length of {len(stats)} calls", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_teams(stats: pd.DataFrame):
    """Calls per agent team, and the customer's share of the words per team (:func:`call_stats`)."""
    import matplotlib.pyplot as plt

    counts = stats["agent_team"].value_counts()[::-1]  # the largest team on top
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    axes[0].barh(counts.index, counts.values, color="tab:blue")
    for y, value in enumerate(counts.values):
        axes[0].text(value, y, f" {value}", va="center")
    axes[0].set(title="Calls per agent team (agent's speaker label)", xlabel="calls", xlim=(0, counts.max() * 1.15))
    data = [stats.loc[stats["agent_team"] == team, "customer_share"].dropna() * 100 for team in counts.index]
    axes[1].boxplot(data, orientation="horizontal", tick_labels=counts.index)
    axes[1].set(title="Customer's share of the words, per team", xlabel="customer words as % of the call's words")
    fig.tight_layout()
    return fig


#: Mentions of a hold, of a hand-over to someone else, and of a promise to come back.
HOLD = cue_pattern(HOLD_CUES)
TRANSFER = cue_pattern(CALL_ACTIONS["transferred"] + "|" + PENDING_WORK["another_team"])
CALLBACK = cue_pattern(PENDING_WORK["callback"])

#: Per-call columns of what the agent does in the call (counted in the agent's turns) -> how a reader sees them.
ACTION_COLUMNS = {name: CUE_NAMES[name] for name in CALL_ACTIONS}
#: Per-call columns of the work a call leaves pending (counted in both sides' words) -> how a reader sees them;
#: callback promises are the ``callbacks`` feature.
PENDING_COLUMNS = {("callbacks" if name == "callback" else f"pending_{name}"): CUE_NAMES[name] for name in PENDING_WORK}

#: Per-call features that describe a call as counts or scores, in display order.
FEATURES = ["words", "customer_turns", "holds", "transfers", "customer_questions", "callbacks"]

TRAJECTORY = ["sent_first_third", "sent_last_third", "sent_last_turn", "sent_change"]


#: Columns of ``results/call_insights.csv``, one row per call; no labels, no text.
INSIGHT_COLUMNS = [
    "file", "topic", "topic_id", "topic_terms", "topic_share", "agent_team",
    "words", "turns", "customer_turns", "customer_words", "holds", "transfers", "customer_questions", "callbacks",
    *ACTION_COLUMNS, *(c for c in PENDING_COLUMNS if c != "callbacks"), *TRAJECTORY, "starts_negative", "ends_positive",
]  # fmt: skip


def trajectory(scores: Sequence[float]) -> dict[str, float | bool]:
    """Per-turn scores in call order summarised as beginning (first third) versus end (last third).

    Each third holds ``ceil(n / 3)`` turns, so a call with one or two customer turns has the same turn at both ends.
    Scores are NaN and flags False when there is no turn.
    """
    first = last = end = float("nan")
    if len(scores):
        third = math.ceil(len(scores) / 3)
        first, last, end = float(np.mean(scores[:third])), float(np.mean(scores[-third:])), float(scores[-1])
    return {"sent_first_third": first, "sent_last_third": last, "sent_last_turn": end, "sent_change": last - first,
            "starts_negative": sentiment_from_compound(first) == "negative",
            "ends_positive": sentiment_from_compound(last) == "positive"}  # fmt: skip


def call_features(turns: Sequence[Turn]) -> dict[str, object]:
    """Holds (words, and stage directions about a pause), transfers, customer questions (``?``), callback promises,
    what the agent does, the work left pending, and the customer's :func:`trajectory` in one call."""
    said = "\n".join(t.text for t in turns if t.role != META)
    directions = [t.text for t in turns if t.role == META and t.kind == "direction"]
    agent = "\n".join(t.text for t in turns if t.role == AGENT)
    mine = customer_turns(turns)
    spoken = [t.text for t in mine if t.text]
    # VADER's compound score (-1 to 1) of each customer turn, as the lexicon baseline scores it.
    scores = vader_baseline(pd.Series(spoken, dtype=object))["compound"].tolist() if spoken else []
    actions = {name: count_cues(agent, CALL_ACTIONS[name]) for name in ACTION_COLUMNS}
    # A second agent label is a hand-over the words may not name.
    actions["transferred"] += len({t.speaker for t in turns if t.role == AGENT}) > 1
    return {
        "holds": len(HOLD.findall(said)) + sum(bool(HOLD.search(d)) for d in directions),
        "transfers": len(TRANSFER.findall(said)),
        "customer_questions": sum(t.text.count("?") for t in mine),
        "callbacks": len(CALLBACK.findall(said)),
        **actions,
        **{f"pending_{name}": count_cues(said, PENDING_WORK[name]) for name in PENDING_WORK if name != "callback"},
        **trajectory(scores),
    }


def call_frame(calls: Iterable[Call]) -> pd.DataFrame:
    """One row per call in file order: :func:`call_stats`, :func:`call_features`, and the redacted ``text`` of both
    sides, without speaker labels so that a team name cannot become a topic term."""
    calls = list(calls)
    texts = side_texts(calls)
    rows = [{"file": call.name, **call_features(call), "text": redact(texts[call.name])} for call in calls]
    stats = call_stats(calls).rename_axis("file").reset_index()
    return stats.merge(pd.DataFrame(rows), on="file", how="left", validate="one_to_one")
