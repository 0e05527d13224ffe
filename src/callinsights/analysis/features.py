"""Per-call features: length, turns and agent team, holds, transfers, customer questions, callback promises, and the
customer's turn-by-turn VADER trajectory (first third, last third, last turn).

Meta lines never count, except stage directions such as ``(pause)`` or ``(Member holds for 2 minutes)``, which are
holds; an exporter's note ("the agent will call back") is never a feature. No labels and no text go into
``results/call_insights.csv``.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from callinsights.analysis import eda
from callinsights.data.call import META, Call, Turn, customer_turns
from callinsights.text.lexicon import sentiment_from_compound, vader_baseline
from callinsights.text.redact import redact

#: Agent teams in display order (the client's agent speaker labels); any other label is kept as written.
TEAMS = ("Customer Support", "Technical Support", "PA Agent", "Agent")

#: Mentions of a hold: the words, or a stage direction such as ``(pause)`` or ``(pausing for 30 seconds)``.
HOLD = re.compile(r"\bhold(?:s|ing)?\b|\bpaus(?:e|ed|es|ing)\b", re.IGNORECASE)

#: Mentions of a hand-over to someone else.
TRANSFER = re.compile(r"\btransfer\w*|\bescalat\w*|\bsupervisor\w*|\bteam\b", re.IGNORECASE)

#: Promises that someone will come back to the customer later.
CALLBACK = re.compile(
    r"\bcall (?:you|me) back\b|\bget back to you\b|\bbe in touch\b|\breach out to you\b|\bfollow up with you\b"
    r"|\bcontact you\b|\bwithin (?:the next )?(?:\d+|a few|one|two|three|five|seven|ten)"
    r"(?:\s*(?:-|to)\s*\d+)? (?:business |working )?(?:days?|hours?)\b",
    re.IGNORECASE,
)

#: Per-call features that describe a call as counts or scores, in display order.
FEATURES = ["words", "customer_turns", "holds", "transfers", "customer_questions", "callbacks"]

TRAJECTORY = ["sent_first_third", "sent_last_third", "sent_last_turn", "sent_change"]

#: How a reader should see the feature names in figures and findings.
FEATURE_LABELS = {
    "words": "call length (words)",
    "customer_turns": "customer turns",
    "holds": "holds mentioned",
    "transfers": "transfers / other teams mentioned",
    "customer_questions": "customer questions",
    "callbacks": "callback promises",
    "sent_first_third": "customer sentiment, first third",
    "sent_last_third": "customer sentiment, last third",
    "sent_last_turn": "customer sentiment, last turn",
    "sent_change": "customer sentiment, change",
}

#: Columns of ``results/call_insights.csv`` (config.INSIGHTS_FILE), one row per call; no labels, no text.
INSIGHT_COLUMNS = [
    "file", "topic", "topic_id", "topic_terms", "topic_share", "agent_team",
    "words", "turns", "customer_turns", "customer_words", "holds", "transfers", "customer_questions", "callbacks",
    *TRAJECTORY, "starts_negative", "ends_positive",
]  # fmt: skip



def turn_sentiments(texts: Sequence[str]) -> list[float]:
    """VADER compound score (-1 to 1) of each text, as :func:`callinsights.text.lexicon.vader_baseline` scores it."""
    if not texts:
        return []
    return vader_baseline(pd.Series(list(texts), dtype=object))["compound"].tolist()



def trajectory(scores: Sequence[float]) -> dict[str, float | bool]:
    """Summarise a sequence of per-turn scores as beginning versus end.

    The first and last thirds hold ``ceil(n / 3)`` turns each, so a call with one or two customer turns has the same
    turn at both ends.

    Args:
        scores: Per-turn compound scores in call order.

    Returns:
        ``sent_first_third``, ``sent_last_third`` (means), ``sent_last_turn``, ``sent_change`` (last minus first
        third), ``starts_negative`` and ``ends_positive`` (VADER's reading of the first and last third,
        :func:`callinsights.text.lexicon.sentiment_from_compound`); scores are NaN and flags False when empty.
    """
    if len(scores) == 0:
        nan = float("nan")
        return dict(sent_first_third=nan, sent_last_third=nan, sent_last_turn=nan, sent_change=nan,
                    starts_negative=False, ends_positive=False)  # fmt: skip
    third = math.ceil(len(scores) / 3)
    first, last = float(np.mean(scores[:third])), float(np.mean(scores[-third:]))
    return dict(
        sent_first_third=first,
        sent_last_third=last,
        sent_last_turn=float(scores[-1]),
        sent_change=last - first,
        starts_negative=sentiment_from_compound(first) == "negative",
        ends_positive=sentiment_from_compound(last) == "positive",
    )



def call_features(turns: Sequence[Turn]) -> dict[str, object]:
    """Holds, transfers, customer questions, callback promises and sentiment trajectory of one call.

    Args:
        turns: Turns of one call (as :func:`callinsights.data.transcripts.read_call` gives them).

    Returns:
        ``holds`` (hold words in anyone's speech plus stage directions about a pause or hold), ``transfers`` and
        ``callbacks`` (matches of :data:`TRANSFER` and :data:`CALLBACK` in anyone's speech), ``customer_questions``
        (``?`` in the customer's turns) and the :func:`trajectory` of the customer's turns.
    """
    said = "\n".join(t.text for t in turns if t.role != META)
    directions = [t.text for t in turns if t.role == META and t.kind == "direction"]
    mine = customer_turns(turns)
    return {
        "holds": len(HOLD.findall(said)) + sum(bool(HOLD.search(d)) for d in directions),
        "transfers": len(TRANSFER.findall(said)),
        "customer_questions": sum(t.text.count("?") for t in mine),
        "callbacks": len(CALLBACK.findall(said)),
        **trajectory(turn_sentiments([t.text for t in mine if t.text])),
    }



def opening_request(turns: Sequence[Turn], min_words: int = 6) -> str:
    """The customer's first substantive turn (usually why they call), redacted.

    Args:
        turns: Turns of one call.
        min_words: A turn shorter than this (``Hi.``) is skipped when a longer one follows.
    """
    mine = [t.text for t in customer_turns(turns) if t.text]
    longer = [text for text in mine if len(text.split()) >= min_words]
    return redact((longer or mine or [""])[0])



def call_frame(calls: Iterable[Call]) -> pd.DataFrame:
    """One row per call: :func:`callinsights.analysis.eda.call_stats`, :func:`call_features`, and redacted text columns.

    Args:
        calls: Calls, as :func:`callinsights.data.transcripts.read_calls` returns them.

    Returns:
        Columns ``file``, the columns of :func:`callinsights.analysis.eda.call_stats` (``words``, ``turns``,
        ``customer_turns``, ``agent_team``, ...), those of :func:`call_features`, ``text`` (both sides' words,
        redacted, no speaker labels so that a team name cannot become a topic term), ``customer_text`` (the
        customer's words, redacted) and ``opening`` (:func:`opening_request`); calls in file order.
    """
    calls = list(calls)
    texts = {side: eda.side_texts(calls, side) for side in ("call", "customer")}
    rows = [
        {
            "file": call.name,
            **call_features(call),
            "text": redact(texts["call"][call.name]),
            "customer_text": redact(texts["customer"][call.name]),
            "opening": opening_request(call),
        }
        for call in calls
    ]
    stats = eda.call_stats(calls).rename_axis("file").reset_index()
    return stats.merge(pd.DataFrame(rows), on="file", how="left", validate="one_to_one")



def start_end_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Calls by how the customer starts (first third of their turns) and ends (last third), in VADER's classes.

    Args:
        frame: Columns ``sent_first_third`` and ``sent_last_third`` (from :func:`call_frame`).

    Returns:
        Counts, rows the start (``negative``, ``neutral``, ``positive``), columns the end, every class present.
    """
    order = ["negative", "neutral", "positive"]
    start = pd.Categorical(frame["sent_first_third"].map(sentiment_from_compound), categories=order)
    end = pd.Categorical(frame["sent_last_third"].map(sentiment_from_compound), categories=order)
    table = pd.crosstab(start, end, dropna=False).reindex(index=order, columns=order, fill_value=0)
    return table.rename_axis(index="starts", columns="ends")
