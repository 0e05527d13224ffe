"""The calls as data: lengths, speakers, words, and what the parser found irregular.

Everything here that produces words for a reader (word clouds, frequency and distinctiveness tables, example lines)
runs the text through :func:`callinsights.redact.redact` first and then drops the placeholders it leaves
(``[MEMBER_ID]``), so an identifier never reaches a figure and a placeholder never becomes a "word".
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from wordcloud import STOPWORDS, WordCloud

from callinsights import config
from callinsights.redact import redact
from callinsights.transcripts import (
    AGENT,
    CUSTOMER,
    META,
    ParseReport,
    Turn,
    call_id,
    group_calls,
    read_calls,
)

#: Words every support call is full of that say nothing about its subject or mood: greetings, acknowledgements,
#: politeness formulas, hesitations, forms of address and hold-the-line phrases. "thank" and "please" are here
#: because agents and members alike say them in almost every turn; words that carry feeling ("great",
#: "frustrated", "appreciate") are deliberately not.
CALL_FILLER_WORDS: frozenset[str] = frozenset(
    """
    okay ok yes yeah yep yup uh um umm hmm oh ah alright right sure well
    thank thanks thankyou please hi hello hey bye goodbye welcome
    mr mrs ms miss mx dr sir ma'am
    just also actually really let go going ahead get got know see one
    can will may might could would today moment
    """.split()
)

#: Stop words for word clouds and word tables: wordcloud's English list plus :data:`CALL_FILLER_WORDS`.
STOP_WORDS: frozenset[str] = frozenset(STOPWORDS) | CALL_FILLER_WORDS

#: Placeholders :func:`callinsights.redact.redact` writes, e.g. ``[MEMBER_ID]``.
PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
# Runs of letters and digits with inner apostrophes or hyphens ("don't", "follow-up"); a run holding a digit
# ("10th", "3-5") is not a word here.
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# A cue in brackets inside a turn, "(pause)", "(sighs)": the speaker's tone, not words they said.
_CUE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
# Words as written (case kept), and sentence ends that are not the period of a title such as "Mr." or "Dr.".
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_SENTENCE_END = re.compile(r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bProf)[.!?:;]+\s+|\n|\"")

LENGTH_TERCILES = ("short", "medium", "long")
_STATS_COLUMNS = [
    "call", "customer_turns", "agent_turns", "customer_words", "agent_words", "words", "turns", "customer_share",
    "speakers", "speaker_labels", "agent_team", "meta_lines",
]


def transcripts_dir(data_dir: str | Path | None = None) -> Path:
    """The transcripts folder inside a data folder.

    Args:
        data_dir: A folder laid out like the project's ``data/``; ``None`` means :data:`config.DATA_DIR`.

    Returns:
        :data:`config.TRANSCRIPTS_DIR`, or the folder of the same name inside ``data_dir``.
    """
    if data_dir is None:
        return config.TRANSCRIPTS_DIR
    return Path(data_dir) / config.TRANSCRIPTS_DIR.name


def read_corpus(
    data_dir: str | Path | None = None, sample_size: int | None = None, seed: int = 0
) -> tuple[list[Turn], ParseReport]:
    """Read the calls of a data folder, optionally a seeded random sample of them.

    Args:
        data_dir: See :func:`transcripts_dir`.
        sample_size: Keep this many calls, drawn at random with ``seed``; ``None`` keeps every call.
        seed: Seed of the draw.

    Returns:
        The kept calls' turns in file order, and the parse report of the whole folder (what a sample leaves out
        is still a data-quality finding).

    Raises:
        ValueError: ``sample_size`` is less than one.
        FileNotFoundError: The transcripts folder is missing or empty (from ``read_calls``).
    """
    if sample_size is not None and sample_size < 1:
        raise ValueError(f"sample_size {sample_size}: use a positive number of calls, or None for every call")
    turns, report = read_calls(transcripts_dir(data_dir))
    if sample_size is None:
        return turns, report
    calls = list(group_calls(turns))
    if sample_size >= len(calls):
        return turns, report
    kept = set(random.Random(seed).sample(calls, sample_size))
    return [t for t in turns if call_id(t.file) in kept], report


def count_words(text: str) -> int:
    """Words in a text, counted as runs of characters between spaces."""
    return len(text.split())


def call_stats(turns: Iterable[Turn]) -> pd.DataFrame:
    """One row per call: how long each side speaks and who the speakers are.

    Args:
        turns: Turns of one or more calls, as :func:`callinsights.transcripts.read_calls` returns them.

    Returns:
        A frame indexed by call identifier, in file order, with columns ``customer_turns``, ``agent_turns``,
        ``customer_words``, ``agent_words``, ``words`` (both sides), ``turns`` (both sides), ``customer_share``
        (the customer's share of the words), ``speakers`` (number of distinct speaker labels), ``speaker_labels``
        (those labels, joined by ``" / "``), ``agent_team`` (the agent's label, the one with most turns when a
        call has several), ``meta_lines`` (non-speech lines set aside) and ``length_tercile`` (``short``,
        ``medium`` or ``long`` by ``words``, cut at the terciles of these calls).
    """
    rows = []
    for call, call_turns in group_calls(turns).items():
        speech = [t for t in call_turns if t.role != META]
        by_role = {role: [t for t in speech if t.role == role] for role in (CUSTOMER, AGENT)}
        agent_labels = Counter(t.speaker for t in by_role[AGENT])
        customer_words = sum(count_words(t.text) for t in by_role[CUSTOMER])
        agent_words = sum(count_words(t.text) for t in by_role[AGENT])
        words = customer_words + agent_words
        rows.append(
            {
                "call": call,
                "customer_turns": len(by_role[CUSTOMER]),
                "agent_turns": len(by_role[AGENT]),
                "customer_words": customer_words,
                "agent_words": agent_words,
                "words": words,
                "turns": len(by_role[CUSTOMER]) + len(by_role[AGENT]),
                "customer_share": customer_words / words if words else float("nan"),
                "speakers": len({t.speaker for t in speech}),
                "speaker_labels": " / ".join(sorted({t.speaker for t in speech})),
                "agent_team": agent_labels.most_common(1)[0][0] if agent_labels else "(no agent)",
                "meta_lines": sum(t.role == META for t in call_turns),
            }
        )
    frame = pd.DataFrame(rows, columns=_STATS_COLUMNS).set_index("call")
    if len(frame) >= len(LENGTH_TERCILES):
        # Ranking first keeps the three bins non-empty when several calls have the same length.
        frame["length_tercile"] = pd.qcut(
            frame["words"].rank(method="first"), len(LENGTH_TERCILES), labels=list(LENGTH_TERCILES)
        ).astype(str)
    else:
        frame["length_tercile"] = LENGTH_TERCILES[0]
    return frame


def side_texts(turns: Iterable[Turn], side: str = "call") -> dict[str, str]:
    """Each call's words from one side, unredacted (redact before showing them).

    Args:
        turns: Turns of one or more calls.
        side: ``customer``, ``agent`` or ``call`` (both sides; meta lines are never included).

    Returns:
        Call identifier -> that side's turns, one per line.

    Raises:
        ValueError: ``side`` is none of the three.
    """
    roles = {"customer": {CUSTOMER}, "agent": {AGENT}, "call": {CUSTOMER, AGENT}}
    if side not in roles:
        raise ValueError(f"side {side!r}: use one of {', '.join(roles)}")
    return {
        call: "\n".join(t.text for t in call_turns if t.role in roles[side] and t.text)
        for call, call_turns in group_calls(turns).items()
    }


def display_text(text: str) -> str:
    """Text as a reader may see it in a figure: redacted, with the placeholders removed."""
    return PLACEHOLDER.sub(" ", redact(text))


def tokens(text: str, stop_words: Iterable[str] | None = STOP_WORDS, min_length: int = 2) -> list[str]:
    """Lower-case words of a redacted text, placeholders and stop words left out.

    Args:
        text: Any call text; it is redacted here.
        stop_words: Words to leave out (lower case); ``None`` keeps every word.
        min_length: Shorter words are left out.

    Returns:
        The words in order. Cues in brackets such as ``(pause)`` are not words; curly apostrophes count as
        straight ones; a possessive ``'s`` is dropped, so "doctor's" counts as "doctor".
    """
    stop = frozenset(stop_words or ())
    lowered = _CUE.sub(" ", display_text(text)).lower().replace("\u2019", "'")
    words = (w.removesuffix("'s") for w in _TOKEN.findall(lowered) if not any(c.isdigit() for c in w))
    return [w for w in words if len(w) >= min_length and w not in stop]


def proper_nouns(texts: Iterable[str]) -> frozenset[str]:
    """Words the texts only ever write capitalised inside a sentence: names of people, places, days, products.

    :func:`callinsights.redact.redact` replaces names only where the call introduces or addresses someone, and a
    support call repeats the member's name in almost every agent turn; left in, a first name would be the biggest
    word of a cloud. A word
    counts as a proper noun when it is written ``Titlecase`` at least once after the start of a sentence and never
    in lower case; sentence starts prove nothing, acronyms (``ID``, ``MRI``) are not names, and the period of
    ``Mr.`` or ``Dr.`` does not end a sentence.

    Args:
        texts: Call texts, as written (not redacted).

    Returns:
        The proper nouns, lower case, as :func:`tokens` writes words.
    """
    capitalised: Counter = Counter()
    lower: set[str] = set()
    for text in texts:
        # The raw text, not the redacted one: a name that redaction replaced in one call can stand unreplaced in
        # another, and only the raw text shows it written mid-sentence.
        plain = _CUE.sub(" ", text).replace("\u2019", "'")
        for sentence in _SENTENCE_END.split(plain):
            for i, word in enumerate(_WORD.findall(sentence)):
                key = word.lower().removesuffix("'s")
                if word.islower():
                    lower.add(key)
                elif i > 0 and word[0].isupper() and word[1:].islower():
                    capitalised[key] += 1
    return frozenset(w for w in capitalised if w not in lower)


def word_counts(
    texts: Iterable[str], stop_words: Iterable[str] | None = STOP_WORDS, drop_proper_nouns: bool = True
) -> Counter:
    """How often each word occurs in the texts (see :func:`tokens`).

    Args:
        texts: Call texts, as written (not redacted).
        stop_words: See :func:`tokens`.
        drop_proper_nouns: Leave out the :func:`proper_nouns` of these texts (people's names above all).

    Returns:
        Word -> count.
    """
    texts = list(texts)
    stop = frozenset(stop_words or ())
    if drop_proper_nouns:
        stop |= proper_nouns(texts)
    counts: Counter = Counter()
    for text in texts:
        counts.update(tokens(text, stop))
    return counts


def most_frequent(
    texts: Iterable[str],
    n: int = 20,
    stop_words: Iterable[str] | None = STOP_WORDS,
    drop_proper_nouns: bool = True,
) -> pd.DataFrame:
    """The most frequent words with their counts and percentage of all counted words.

    Args:
        texts: Call texts, as written (not redacted).
        n: Number of words.
        stop_words: See :func:`tokens`.
        drop_proper_nouns: See :func:`word_counts`.

    Returns:
        Columns ``word``, ``count`` and ``percent`` (of all words counted in the texts); ties in count are ordered
        alphabetically.
    """
    counts = word_counts(texts, stop_words, drop_proper_nouns)
    total = sum(counts.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return pd.DataFrame([(w, c, 100 * c / total) for w, c in top], columns=["word", "count", "percent"])


def log_odds_dirichlet(
    counts_a: Counter,
    counts_b: Counter,
    prior: Counter | None = None,
    prior_size: float = 1000.0,
) -> pd.DataFrame:
    """Log-odds ratio of every word between two corpora with an informative Dirichlet prior.

    Monroe, Colaresi and Quinn (2008), "Fightin' Words", section 3.5: with counts ``y_a``, ``y_b``, corpus sizes
    ``n_a``, ``n_b`` and prior pseudo-counts ``alpha_w`` summing to ``alpha_0``,

    ``delta_w = log((y_aw + alpha_w) / (n_a + alpha_0 - y_aw - alpha_w))
              - log((y_bw + alpha_w) / (n_b + alpha_0 - y_bw - alpha_w))``,

    ``var(delta_w) ~ 1 / (y_aw + alpha_w) + 1 / (y_bw + alpha_w)`` and ``z_w = delta_w / sqrt(var)``. The prior
    shrinks the log-odds of rare words towards zero, so a word said twice by one side only does not outrank one
    said a hundred times more often by that side; the z-score ranks words by how sure the difference is.

    Args:
        counts_a: Word counts of corpus A.
        counts_b: Word counts of corpus B.
        prior: Background counts that set the prior's shape; ``None`` uses A and B together.
        prior_size: ``alpha_0``, the prior's total pseudo-count (its weight against the data).

    Returns:
        One row per word of A or B, columns ``word``, ``count_a``, ``count_b``, ``log_odds`` (``delta``) and
        ``z`` (positive: typical of A), sorted by ``z`` descending.

    Raises:
        ValueError: A corpus is empty or ``prior_size`` is not positive.
    """
    n_a, n_b = sum(counts_a.values()), sum(counts_b.values())
    if not n_a or not n_b:
        raise ValueError("log-odds need words on both sides; one corpus is empty")
    if prior_size <= 0:
        raise ValueError(f"prior_size must be positive, got {prior_size}")
    background = prior if prior is not None else counts_a + counts_b
    vocabulary = sorted(set(counts_a) | set(counts_b))
    background_total = sum(background.get(w, 0) for w in vocabulary)
    rows = []
    for w in vocabulary:
        # A word absent from the background still gets a small share, so its odds stay finite.
        alpha = prior_size * max(background.get(w, 0), 0.5) / max(background_total, 1)
        y_a, y_b = counts_a.get(w, 0), counts_b.get(w, 0)
        delta = math.log((y_a + alpha) / (n_a + prior_size - y_a - alpha)) - math.log(
            (y_b + alpha) / (n_b + prior_size - y_b - alpha)
        )
        z = delta / math.sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha))
        rows.append((w, y_a, y_b, delta, z))
    frame = pd.DataFrame(rows, columns=["word", "count_a", "count_b", "log_odds", "z"])
    return frame.sort_values(["z", "word"], ascending=[False, True], ignore_index=True)


def distinctive_by_class(documents: Sequence[Counter], labels: Sequence[str], top: int = 15, min_count: int = 1,
                         prior_size: float = 1000.0) -> pd.DataFrame:
    """The terms most typical of each class against all the other classes together, by :func:`log_odds_dirichlet`.

    The one pipeline behind the distinctive words of each side of a call (:func:`distinctive_words`) and of each
    label (:func:`callinsights.insights.distinctive_terms`).

    Args:
        documents: Term counts of each document (a call, or one side of it).
        labels: Class of each document.
        top: Terms kept per class.
        min_count: A term must occur this often in the class.
        prior_size: See :func:`log_odds_dirichlet`.

    Returns:
        Columns ``label``, ``term``, ``count_in`` (in the class), ``count_out`` (elsewhere), ``log_odds``, ``z`` and
        ``calls_in`` (documents of the class using it); only terms with ``z > 0``, classes in order of first
        appearance, most distinctive first. A class that is alone, or has no terms, has no row.
    """
    labels = list(labels)
    pooled = sum(documents, Counter())
    frames = []
    for label in dict.fromkeys(labels):
        inside = sum((c for c, l in zip(documents, labels) if l == label), Counter())
        outside = pooled - inside
        if not inside or not outside:
            continue
        scored = log_odds_dirichlet(inside, outside, prior_size=prior_size)
        scored = scored[(scored["count_a"] >= min_count) & (scored["z"] > 0)].head(top)
        calls = [sum(term in c for c, l in zip(documents, labels) if l == label) for term in scored["word"]]
        frames.append(pd.DataFrame({"label": label, "term": scored["word"], "count_in": scored["count_a"],
                                    "count_out": scored["count_b"], "log_odds": scored["log_odds"],
                                    "z": scored["z"], "calls_in": calls}))  # fmt: skip
    columns = ["label", "term", "count_in", "count_out", "log_odds", "z", "calls_in"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def distinctive_words(
    texts_a: Iterable[str],
    texts_b: Iterable[str],
    n: int = 15,
    names: tuple[str, str] = ("customer", "agent"),
    stop_words: Iterable[str] | None = STOP_WORDS,
    drop_proper_nouns: bool = True,
    prior_size: float = 1000.0,
) -> pd.DataFrame:
    """The words most typical of each of two sides, by :func:`distinctive_by_class`.

    Args:
        texts_a: Texts of side A (redacted here).
        texts_b: Texts of side B.
        n: Words per side.
        names: Names of the two sides, used in the ``side`` and count columns.
        stop_words: See :func:`tokens`.
        drop_proper_nouns: Leave out the :func:`proper_nouns` of both sides together.
        prior_size: See :func:`log_odds_dirichlet`.

    Returns:
        ``2 * n`` rows (fewer when a side has fewer words): ``side`` (whose word it is), ``word``,
        ``count_<a>``, ``count_<b>``, ``log_odds`` and ``z`` from that side's point of view (always positive for
        a distinctive word), A's words first.

    Raises:
        ValueError: A side has no words.
    """
    texts_a, texts_b = list(texts_a), list(texts_b)
    stop = frozenset(stop_words or ())
    if drop_proper_nouns:
        stop |= proper_nouns(texts_a + texts_b)
    documents = [Counter(tokens(text, stop)) for text in texts_a + texts_b]
    if not sum(documents[: len(texts_a)], Counter()) or not sum(documents[len(texts_a):], Counter()):
        raise ValueError("distinctive words need words on both sides; one side is empty")
    table = distinctive_by_class(documents, [names[0]] * len(texts_a) + [names[1]] * len(texts_b), top=n,
                                 min_count=0, prior_size=prior_size)
    own_a = table["label"] == names[0]
    table[f"count_{names[0]}"] = table["count_in"].where(own_a, table["count_out"])
    table[f"count_{names[1]}"] = table["count_out"].where(own_a, table["count_in"])
    table = table.rename(columns={"label": "side", "term": "word"})
    return table[["side", "word", f"count_{names[0]}", f"count_{names[1]}", "log_odds", "z"]]


def cloud_from_weights(weights: dict[str, float], width: int = 900, height: int = 450, max_words: int = 100,
          seed: int = 0) -> WordCloud:
    """The project's one word-cloud builder: words sized by ``weights`` (counts, or log-odds z), laid out by ``seed``
    so that a re-run draws the same picture (see :func:`word_cloud` for the other arguments)."""
    return WordCloud(
        width=width,
        height=height,
        max_words=max_words,
        background_color="white",
        colormap="Dark2",  # dark colours only: pale yellow words are unreadable on white
        random_state=seed,
        prefer_horizontal=0.95,
    ).generate_from_frequencies(weights)


def word_cloud(
    texts: Iterable[str],
    stop_words: Iterable[str] | None = STOP_WORDS,
    drop_proper_nouns: bool = True,
    width: int = 900,
    height: int = 450,
    max_words: int = 100,
    seed: int = 0,
) -> WordCloud:
    """A word cloud of redacted texts, placeholders, stop words and (by default) proper nouns left out.

    Words are sized by their counts from :func:`word_counts`, so the cloud shows exactly the words the
    frequency table counts (no bigrams, no second tokenizer).

    Args:
        texts: Call texts, as written (not redacted).
        stop_words: See :func:`tokens`.
        drop_proper_nouns: See :func:`word_counts`.
        width: Image width in pixels.
        height: Image height in pixels.
        max_words: Most words drawn.
        seed: Seed of the layout, so a re-run draws the same picture.

    Returns:
        The generated cloud (:func:`cloud_from_weights`); :func:`plot_word_cloud` draws it with a title.

    Raises:
        ValueError: No word is left after redaction and stop words.
    """
    counts = word_counts(texts, stop_words, drop_proper_nouns)
    if not counts:
        raise ValueError("no words left for a word cloud after redaction and stop words")
    return cloud_from_weights(dict(counts), width, height, max_words, seed)


def meta_lines(turns: Iterable[Turn]) -> pd.DataFrame:
    """Every line the parser set aside as not speech, redacted.

    Returns:
        Columns ``call``, ``kind`` (``timestamp``, ``duration``, ``note``, ``direction``, ``continuation``) and
        ``text``.
    """
    rows = [(call_id(t.file), t.kind, redact(t.text)) for t in turns if t.role == META]
    return pd.DataFrame(rows, columns=["call", "kind", "text"])


def data_quality(turns: Iterable[Turn], report: ParseReport) -> pd.DataFrame:
    """What a reader should know about the files before trusting an analysis of them.

    Args:
        turns: Turns from :func:`callinsights.transcripts.read_calls`.
        report: Its parse report.

    Returns:
        One row per finding with columns ``finding``, ``detail``, ``lines`` (lines concerned, where that means
        something), ``calls`` (how many calls) and ``example`` (a call and, redacted, a line): files read, each
        skipped file and why, each unknown speaker label, each kind of non-speech line, speech turns with no
        words, and calls with more than one agent label.
    """
    turns = list(turns)
    rows: list[dict] = [
        {"finding": "files read", "detail": "parsed into turns", "lines": pd.NA,
         "calls": report.files_read, "example": ""}
    ]
    for name, reason in report.skipped:
        rows.append({"finding": "file skipped", "detail": reason, "lines": pd.NA, "calls": 1, "example": name})
    by_label: dict[str, list[str]] = {}
    for name, label in report.unknown_speakers:
        by_label.setdefault(label, []).append(name)
    for label, names in sorted(by_label.items()):
        rows.append({"finding": "unknown speaker label", "detail": repr(label), "lines": pd.NA,
                     "calls": len(names), "example": names[0]})
    meta = meta_lines(turns)
    for kind, group in meta.groupby("kind", sort=True):
        first = group.iloc[0]
        rows.append({"finding": "non-speech line set aside", "detail": kind, "lines": len(group),
                     "calls": group["call"].nunique(), "example": f"{first['call']}: {first['text'][:80]}"})
    empty = [t for t in turns if t.role != META and not t.text.strip()]
    if empty:
        rows.append({"finding": "speech turn with no words", "detail": "a label with nothing after it",
                     "lines": len(empty), "calls": len({t.file for t in empty}),
                     "example": f"{call_id(empty[0].file)}: {empty[0].speaker}:"})
    stats = call_stats(turns)
    multi = [c for c, ts in group_calls(turns).items() if len({t.speaker for t in ts if t.role == AGENT}) > 1]
    if multi:
        example = f"{multi[0]}: {stats.loc[multi[0], 'speaker_labels']}"
        rows.append({"finding": "more than one agent label", "detail": "call handed to another team",
                     "lines": pd.NA, "calls": len(multi), "example": example})
    no_agent = stats.index[stats["agent_turns"] == 0].tolist()
    if no_agent:
        rows.append({"finding": "no agent turn", "detail": "no turn by a known agent label",
                     "lines": pd.NA, "calls": len(no_agent), "example": no_agent[0]})
    frame = pd.DataFrame(rows, columns=["finding", "detail", "lines", "calls", "example"])
    frame["lines"] = frame["lines"].astype("Int64")
    return frame


# Plots: one figure per idea, titled and with labelled axes, returned so a notebook can show or save it.


def plot_lengths(stats: pd.DataFrame):
    """Histograms of words and turns per call for each side.

    Args:
        stats: From :func:`call_stats`.

    Returns:
        A matplotlib Figure with two panels (words per call, turns per call), customer and agent overlaid.
    """
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
        ax.set_title(f"{unit.capitalize()} per call, by side")
        ax.set_xlabel(f"{unit} in the call")
        ax.set_ylabel("calls")
        ax.legend()
    fig.suptitle(f"Length of {len(stats)} calls", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_teams(stats: pd.DataFrame):
    """Calls per agent team, and the customer's share of the words per team.

    Args:
        stats: From :func:`call_stats`.

    Returns:
        A matplotlib Figure with two panels.
    """
    import matplotlib.pyplot as plt

    order = stats["agent_team"].value_counts().index.tolist()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    counts = stats["agent_team"].value_counts().reindex(order)
    axes[0].barh(order[::-1], counts.values[::-1], color="tab:blue")
    for y, value in enumerate(counts.values[::-1]):
        axes[0].text(value, y, f" {value}", va="center")
    axes[0].set_title("Calls per agent team (agent's speaker label)")
    axes[0].set_xlabel("calls")
    axes[0].set_xlim(0, counts.max() * 1.15)
    data = [stats.loc[stats["agent_team"] == team, "customer_share"].dropna() * 100 for team in order[::-1]]
    axes[1].boxplot(data, orientation="horizontal", tick_labels=order[::-1])
    axes[1].set_title("Customer's share of the words, per team")
    axes[1].set_xlabel("customer words as % of the call's words")
    fig.tight_layout()
    return fig


def plot_word_cloud(cloud: WordCloud, title: str):
    """Draw a word cloud with a title.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(cloud.width / 100, cloud.height / 100 + 0.5))
    ax.imshow(cloud.to_array(), interpolation="bilinear")
    ax.set_title(title, fontsize=14)
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_frequent(table: pd.DataFrame, title: str):
    """Horizontal bars of a :func:`most_frequent` table, most frequent on top.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.28 * len(table) + 1.2))
    ax.barh(table["word"][::-1], table["count"][::-1], color="tab:green")
    ax.set_title(title)
    ax.set_xlabel("occurrences (stop words left out)")
    fig.tight_layout()
    return fig


def plot_distinctive(table: pd.DataFrame, title: str = "Most distinctive words by side"):
    """The :func:`distinctive_words` of both sides as bars of their z-scores, on one shared scale.

    Returns:
        A matplotlib Figure with one panel per side.
    """
    import matplotlib.pyplot as plt

    sides = list(dict.fromkeys(table["side"]))
    # One x scale for both panels, so a bar's length compares across sides.
    fig, axes = plt.subplots(1, len(sides), figsize=(12, 0.3 * table["side"].value_counts().max() + 1.5),
                             sharex=True)
    axes = [axes] if len(sides) == 1 else list(axes)
    for ax, side, colour in zip(axes, sides, ("tab:orange", "tab:blue")):
        part = table[table["side"] == side]
        ax.barh(part["word"][::-1], part["z"][::-1], color=colour)
        ax.set_title(f"typical of the {side} side")
        ax.set_xlabel("z-score of the log-odds ratio")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig
