"""Which calls to label next, and the analyst's labelling workflow (sampling, recording, checking, agreement).

A group's PPI rate has variance var(prediction, unlabelled) / N + var(label - prediction, labelled) / n, so labelling
one of its calls moves it from N to n: :func:`plan` labels where that most lowers the widest key interval.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import confusion_matrix

from callinsights import config
from callinsights.analysis.ppi import KEY_RATES, MIN_LABELLED, predictor
from callinsights.data.call import natural_key
from callinsights.data.labels import LabelFileError, check_labels, load_labels, read_label_table, write_labels
from callinsights.evaluation import metrics
from callinsights.schema import OUTCOMES, SENTIMENTS, TASKS
from callinsights.text.redact import redact


def variance_parts(frame: pd.DataFrame, by: str, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
                   min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """The two variance terms of the PPI rate of every group of column ``by`` of a PPI frame, as measured now.

    ``var_rect`` (label minus prediction) is pooled over all labelled calls for a group with fewer than
    ``min_labelled``, whose own variance would mean nothing.
    """
    rows = []
    labelled = frame["labelled"].to_numpy(bool)
    for task, value, short in rates:
        yhat, _ = predictor(frame, task, value)
        y = (frame[f"gold_{task}"] == value).to_numpy(float)
        rect = y - yhat
        pooled = float(np.var(rect[labelled], ddof=1)) if labelled.sum() > 1 else 0.25
        for name in sorted(frame[by].dropna().unique(), key=str):
            g = (frame[by] == name).to_numpy()
            n, big_n = int((g & labelled).sum()), int((g & ~labelled).sum())
            own = n >= min_labelled
            rows.append({"group": name, "rate": short, "labelled": n, "unlabelled": big_n,
                         "var_pred": float(np.var(yhat[g & ~labelled], ddof=1)) if big_n > 1 else 0.0,
                         "var_rect": float(np.var(rect[g & labelled], ddof=1)) if own else pooled,
                         "pooled": not own})  # fmt: skip
    return pd.DataFrame(rows)


def half_width(var_pred: float, var_rect: float, n: int, big_n: int, alpha: float = 0.05,
               min_labelled: int = MIN_LABELLED) -> float:  # fmt: skip
    """Expected half-width of a PPI rate's interval with ``n`` labelled and ``big_n`` unlabelled calls.

    Infinite when ``n`` is below ``min_labelled`` (not estimable); the prediction term is 0 when no unlabelled call
    is left.
    """
    if n < min_labelled:
        return math.inf
    pred_term = var_pred / big_n if big_n > 0 else 0.0
    return float(stats.norm.ppf(1 - alpha / 2) * math.sqrt(pred_term + var_rect / n))


def plan(frame: pd.DataFrame, by: str, n: int = 10, rates: Sequence[tuple[str, str, str]] = KEY_RATES,
         alpha: float = 0.05, seed: int = 0, min_labelled: int = MIN_LABELLED) -> pd.DataFrame:  # fmt: skip
    """The next ``n`` unlabelled calls of a PPI frame to label, in order, each in the group of column ``by`` where it
    most shrinks the widest key interval (ties: the largest total reduction).

    It uses only predictions, the existing labels and each call's group, never a person's reading. A group not yet
    estimable counts as infinitely wide, so it comes first. Within a group the call is drawn at random with ``seed``:
    its labelled calls must stay a random sample of it for its PPI rate to stay valid.
    """
    parts = variance_parts(frame, by, rates, min_labelled)
    labelled_now = parts.drop_duplicates("group").set_index("group")["labelled"]
    rng = random.Random(seed)
    pool = {}
    for g in labelled_now.index:
        pool[g] = sorted(frame.index[(frame[by] == g) & ~frame["labelled"]], key=natural_key)
        rng.shuffle(pool[g])
    added: Counter = Counter()
    rows = []

    def widths(extra: Mapping[str, int]) -> pd.Series:
        """Each key interval's half-width once ``extra`` more calls of each group are labelled."""
        return pd.Series([half_width(r.var_pred, r.var_rect, r.labelled + extra.get(r.group, 0),
                                     r.unlabelled - extra.get(r.group, 0), alpha, min_labelled)
                          for r in parts.itertuples()], index=parts.index)  # fmt: skip

    def deficit(extra: Mapping[str, int]) -> int:
        """Labels still missing before every group is estimable."""
        return int(sum(max(0, min_labelled - n - extra.get(g, 0)) for g, n in labelled_now.items()))

    def gain(now: pd.Series, after: pd.Series) -> float:
        """How much the intervals finite before and after narrow in all."""
        finite = np.isfinite(now) & np.isfinite(after)
        return float((now[finite] - after[finite]).sum())

    for step in range(1, min(n, sum(map(len, pool.values()))) + 1):
        now = widths(added)
        widest = parts.loc[now.idxmax()]
        trials = {g: {**added, g: added[g] + 1} for g, calls in pool.items() if added[g] < len(calls)}
        after = {g: widths(extra) for g, extra in trials.items()}
        # Lowest widest interval; while some group is not estimable, the fewest labels still missing; then the
        # largest total reduction.
        group = min(trials, key=lambda g: (after[g].max(), deficit(trials[g]), -gain(now, after[g]), str(g)))
        call = pool[group][added[group]]
        added[group] += 1
        before_max, after_max = float(now.max()), float(after[group].max())
        missing = max(0, min_labelled - int(labelled_now[group]) - added[group] + 1)
        note = (f"{group} is not estimable yet: {missing - 1} more label(s) needed after this one" if missing > 1
                else f"makes {group} estimable" if missing == 1 else "")
        rows.append({"step": step, "file": call, "group": group, "widest": f"{widest['group']}: {widest['rate']}",
                     "width_before": 2 * before_max, "width_after": 2 * after_max,
                     "gain": 2 * (before_max - after_max) if np.isfinite(after_max) else np.nan,
                     "total_gain": 2 * gain(now, after[group]), "note": note})  # fmt: skip
    return pd.DataFrame(rows, columns=["step", "file", "group", "widest", "width_before", "width_after", "gain",
                                       "total_gain", "note"])  # fmt: skip


STRATA = ("agent_team", "length_tercile")


def labels_file(data_dir: str | Path | None = None) -> Path:
    """The client's label file inside a data folder (``None``: :data:`config.LABELS_FILE`)."""
    return config.LABELS_FILE if data_dir is None else Path(data_dir) / config.LABELS_FILE.name


def known_calls(transcripts_dir: str | Path) -> set[str]:
    """Call identifiers of the ``.txt`` files in a transcripts folder (what a label file may name)."""
    return {p.stem for p in Path(transcripts_dir).glob("*.txt")}


def stratified_sample(calls_frame: pd.DataFrame, n: int, by: Iterable[str] = STRATA, seed: int = 0,
                      exclude: Iterable[str] = ()) -> pd.DataFrame:
    """``n`` calls of ``calls_frame`` (indexed by call) outside ``exclude``, each stratum of the ``by`` columns in
    proportion to its size (largest remainder, so exactly ``n``), drawn at random with ``seed``; in call order.
    """
    by = list(by)
    missing = [c for c in by if c not in calls_frame.columns]
    if missing:
        raise KeyError(f"stratify by {', '.join(missing)}: no such column (columns: {', '.join(calls_frame.columns)})")
    pool = calls_frame.drop(index=[c for c in set(exclude) if c in calls_frame.index])
    if n < 0 or n > len(pool):
        raise ValueError(f"cannot draw {n} calls: {len(pool)} are left after leaving out "
                         f"{len(calls_frame) - len(pool)} already-labelled calls")  # fmt: skip
    rng = random.Random(seed)
    strata = {key: sorted(group.index, key=natural_key) for key, group in pool.groupby(by, sort=True)}
    quotas = {key: n * len(members) / len(pool) for key, members in strata.items()}
    counts = {key: math.floor(q) for key, q in quotas.items()}
    # Largest remainder; ties broken at random (seeded) rather than by the strata's sort order.
    order = sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), rng.random()))
    for key in order[: n - sum(counts.values())]:
        counts[key] += 1
    drawn = [call for key, members in strata.items() for call in rng.sample(members, counts[key])]
    return pool.loc[sorted(drawn, key=natural_key)]


def strata_table(calls_frame: pd.DataFrame, sample: pd.DataFrame, by: Iterable[str] = STRATA) -> pd.DataFrame:
    """Calls per stratum in the pool (``calls``, ``percent``) and in a sample (``sampled``, ``sampled_percent``)."""
    by = list(by)
    pool = calls_frame.groupby(by).size().rename("calls")
    drawn = sample.groupby(by).size().rename("sampled")
    table = pd.concat([pool, drawn], axis=1).fillna(0).astype(int)
    table["percent"] = 100 * table["calls"] / table["calls"].sum()
    table["sampled_percent"] = 100 * table["sampled"] / max(table["sampled"].sum(), 1)
    return table[["calls", "percent", "sampled", "sampled_percent"]]


def label_file_problems(path: str | Path, known: set[str] | None = None) -> list[str]:
    """Everything wrong with a label file in the client's format, one message per problem (naming file, row and
    value), labels for calls outside ``known`` included; empty when the file can be used."""
    try:
        frame = read_label_table(path)
    except (FileNotFoundError, LabelFileError) as err:
        return [str(err)]
    return check_labels(frame, known, str(path))


@dataclass
class TaskAgreement:
    """Agreement of two label files on one task over the ``n_calls`` both label: ``chance_agreement`` is the share
    expected had each file kept its label mix but placed it at random (kappa is agreement beyond it); ``confusion``
    counts calls by label in file A (rows) and B (columns)."""

    task: str
    n_calls: int
    share_agreeing: float
    chance_agreement: float
    kappa: float
    confusion: pd.DataFrame


def agreement(labels_a: pd.DataFrame, labels_b: pd.DataFrame,
              names: tuple[str, str] = ("A", "B")) -> dict[str, TaskAgreement]:  # fmt: skip
    """Per task, the agreement of two label tables on the calls they share, with chance agreement and the confusion
    matrix (axes named by ``names``)."""
    a, b = (labels.set_index("file") if "file" in labels.columns else labels for labels in (labels_a, labels_b))
    for frame, name in ((a, names[0]), (b, names[1])):
        problems = check_labels(frame.rename_axis("file").reset_index(), source=name)
        if problems:
            raise LabelFileError("\n".join(problems))
    shared = sorted(set(a.index) & set(b.index), key=natural_key)
    if not shared:
        raise LabelFileError(
            f"{names[0]} and {names[1]} label no call in common ({len(a)} and {len(b)} calls, e.g. "
            f"{', '.join(sorted(a.index, key=natural_key)[:2])} vs {', '.join(sorted(b.index, key=natural_key)[:2])}); "
            "agreement needs both to label the same calls")  # fmt: skip
    out = {}
    for task, values in TASKS.items():
        ya, yb = a.loc[shared, task], b.loc[shared, task]
        matrix = pd.DataFrame(confusion_matrix(ya, yb, labels=list(values)), index=pd.Index(values, name=names[0]),
                              columns=pd.Index(values, name=names[1]))  # fmt: skip
        agreed = metrics.agreement(ya, yb)
        chance = float((matrix.sum(axis=1).to_numpy() * matrix.sum(axis=0).to_numpy()).sum()) / len(shared) ** 2
        out[task] = TaskAgreement(task, len(shared), agreed["share_agree"], chance, agreed["kappa"], matrix)
    return out


def agreement_table(results: Mapping[str, TaskAgreement]) -> pd.DataFrame:
    """The :func:`agreement` results as one row per task: ``calls``, ``share_agreeing``, ``chance_agreement``,
    ``kappa``."""
    return pd.DataFrame([(r.task, r.n_calls, r.share_agreeing, r.chance_agreement, r.kappa) for r in results.values()],
                        columns=["task", "calls", "share_agreeing", "chance_agreement", "kappa"]).set_index("task")


def plot_agreement(results: Mapping[str, TaskAgreement], title: str = "Agreement between two label files"):
    """A figure of the :func:`agreement` results: one confusion matrix per task, with row shares."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, r in zip(axes.ravel(), results.values()):
        metrics.plot_counts(ax, r.confusion)
        kappa = "undefined" if math.isnan(r.kappa) else f"{r.kappa:.2f}"
        ax.set(title=f"{r.task}: kappa {kappa}, {r.share_agreeing:.0%} of {r.n_calls} calls agree",
               ylabel=f"label in {r.confusion.index.name}", xlabel=f"label in {r.confusion.columns.name}")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


class LabelSession:
    """Labels recorded by one analyst for ``calls``, saved to ``out_path`` (client's format) after every answer;
    labels already there are loaded, so a session can be resumed."""

    def __init__(self, calls: Iterable[str], out_path: str | Path = config.ANALYST_LABELS_FILE) -> None:
        self.calls = list(calls)
        self.out_path = Path(out_path)
        self.labels: dict[str, tuple[str, str]] = {}
        if self.out_path.is_file():
            saved = load_labels(self.out_path)
            self.labels = dict(zip(saved.index, zip(saved["sentiment"], saved["outcome"])))

    def record(self, call: str, sentiment: str, outcome: str) -> None:
        """Record (or correct) one call's labels and save the file; a value or call outside the session is refused."""
        if call not in self.calls:
            raise ValueError(f"{call} is not one of the calls of this session")
        for task, value in (("sentiment", sentiment), ("outcome", outcome)):
            if value not in TASKS[task]:
                raise ValueError(f"{task} {value!r} is not one of: {', '.join(TASKS[task])}")
        self.labels[call] = (sentiment, outcome)
        rows = [(c, s, o) for c, (s, o) in sorted(self.labels.items(), key=lambda kv: natural_key(kv[0]))]
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        write_labels(pd.DataFrame(rows, columns=["file", "sentiment", "outcome"]), self.out_path)

    def next_unlabelled(self, after: int = -1) -> int | None:
        """Position of the first call after ``after`` with no label yet, or None when all are labelled."""
        return next((i for i in range(after + 1, len(self.calls)) if self.calls[i] not in self.labels), None)


def label_widget(customer_sides: Mapping[str, str], out_path: str | Path = config.ANALYST_LABELS_FILE):
    """An ipywidgets form to label calls one at a time from the customer's side (call -> text, shown redacted); each
    answer is saved at once to ``out_path``, never the client's file, so closing the notebook loses nothing."""
    import html

    import ipywidgets as widgets

    if Path(out_path).resolve() == config.LABELS_FILE.resolve():
        raise ValueError(f"{out_path} is the client's label file; save new labels to another file")
    if not customer_sides:
        raise ValueError("no calls to label")
    session = LabelSession(customer_sides, out_path)
    position = {"i": session.next_unlabelled() or 0}

    header = widgets.HTML()
    text = widgets.HTML(layout=widgets.Layout(max_height="320px", overflow="auto", border="1px solid #ccc"))
    sentiment = widgets.ToggleButtons(options=[s.capitalize() for s in SENTIMENTS], value=None, description="Sentiment")
    outcome = widgets.ToggleButtons(options=[o.capitalize() for o in OUTCOMES], value=None, description="Outcome")
    save = widgets.Button(description="Save and next", button_style="primary")
    back = widgets.Button(description="Previous")
    status = widgets.HTML()

    def show(i: int) -> None:
        position["i"] = i
        call = session.calls[i]
        header.value = f"<b>{html.escape(call)}</b> ({i + 1} of {len(session.calls)}, {len(session.labels)} labelled)"
        lines = html.escape(redact(customer_sides[call])).replace("\n", "<br>")
        text.value = f"<div style='padding:6px;font-family:monospace'>{lines}</div>"
        # Nothing pre-selected for a new call: a default answer would nudge the analyst towards it.
        s, o = session.labels.get(call, (None, None))
        sentiment.value = s.capitalize() if s else None
        outcome.value = o.capitalize() if o else None

    def on_save(_button) -> None:
        call = session.calls[position["i"]]
        if sentiment.value is None or outcome.value is None:
            status.value = f"Choose a sentiment and an outcome for {html.escape(call)} first."
            return
        session.record(call, sentiment.value.lower(), outcome.value.lower())
        following = session.next_unlabelled(position["i"])
        following = session.next_unlabelled() if following is None else following
        if following is None:
            status.value = f"All {len(session.calls)} calls labelled; saved to {html.escape(str(session.out_path))}"
            show(position["i"])
        else:
            status.value = f"Saved {html.escape(call)}."
            show(following)

    save.on_click(on_save)
    back.on_click(lambda _button: show(max(position["i"] - 1, 0)))
    show(position["i"])
    form = widgets.VBox([header, text, sentiment, outcome, widgets.HBox([back, save]), status])
    form.session = session
    return form
