"""`callinsights fit` and the saved probe: any folder labelled as in the full run, stale fits refitted, bad files
refused (issue 11).

The runs use the embedded model on the client's calls. The configured data folder is, for this module, a copy of
``data/`` with every labelled call and nine others (``conftest.small_client_data``): what is tested here does not
depend on how many calls the folder holds, and a cold store (a clean clone) reads ~50 calls once, not all 200. The
model outputs come from the session's store (a copy of ``results/runs.sqlite`` when it is there).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import pickle
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.metrics import f1_score

from callinsights import config
from callinsights.classify.probe import (ARTIFACT_FORMAT, ARTIFACT_KIND, FittedProbe, load_fitted, save_fitted,
                                           stale_reasons)
from callinsights.classify.probe import FEATURES_VERSION
from callinsights.classify.runner import label_calls
from callinsights.classify.settings import Settings, texts_for_model
from callinsights.data.outputs import READING_RECORD_SUFFIX, ArtifactError, file_sha256, load_artifact, save_artifact
from callinsights.data.labels import load_labels
from callinsights.data.store import Store
from callinsights.data.call import natural_key
from callinsights.data.transcripts import read_call, read_calls
from callinsights.llm import models
from callinsights.llm.models import resolve_model
from callinsights.pipelines import fit
from callinsights.pipelines.cli import EXIT_BAD_INPUT, EXIT_OK, main
from callinsights.schema import PROBA_COLUMNS, TASKS

from tests.conftest import speakers_alternate

EMBEDDED = "smollm2-135m"  # named, so that a Llama file on this machine does not change what is tested
MODEL_CALLS = Path(__file__).parent / "fixtures" / "model_calls"
PROBABILITIES = list(PROBA_COLUMNS.values())
ANSWERS = ["sentiment", "outcome", *PROBABILITIES, "evidence_sentiment", "evidence_outcome"]


def run(*args: str) -> tuple[int, str]:
    """``python -m callinsights ARGS`` in this process; returns the exit code and what it said on stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([*args, "--quiet"])
    return code, err.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fit")


@pytest.fixture(scope="module")
def store(client_store) -> Path:
    """The session's store of the client's calls (``conftest.client_store``)."""
    return client_store


@pytest.fixture(scope="module")
def client(small_client_data):
    """The configured calls folder: the small copy of the client's data folder, configured as ``data/`` would be
    (``CALLINSIGHTS_DATA_DIR``), so that analyze fits on it as it fits on ``data/``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DATA_DIR", small_client_data)
        patch.setattr(config, "TRANSCRIPTS_DIR", small_client_data / config.TRANSCRIPTS_DIR.name)
        if not config.training_labels_file().is_file():
            pytest.skip(f"no label file in {small_client_data}")
        yield config.TRANSCRIPTS_DIR


@pytest.fixture(scope="module")
def full_run(client, work, store):
    """``analyze`` of the client's folder with no saved probe yet: it fits one first, and labels with it."""
    artifact, out = work / "probe.skops", work / "full.csv"
    code, err = run("analyze", str(client), "--model", EMBEDDED, "--artifact", str(artifact), "--store", str(store),
                    "--out", str(out))
    assert code == EXIT_OK, err
    return artifact, pd.read_csv(out, keep_default_na=False).set_index("file"), err


@pytest.fixture(scope="module")
def gold(client) -> pd.DataFrame:
    return load_labels(config.training_labels_file())


@pytest.fixture(scope="module")
def new_folder(client, work, gold) -> Path:
    """Eight unlabelled calls under new names, one more as a WebVTT file, a renamed labelled call, a labelled call
    as it is, and a labelled call under its own name whose customer says one thing more."""
    folder = work / "new"
    folder.mkdir()
    others = sorted((p for p in client.glob("*.txt") if p.stem not in gold.index), key=natural_key)
    as_vtt = next(p for p in others if speakers_alternate(read_call(p)))
    unlabelled = [p for p in others if p != as_vtt][:8]
    assert len(unlabelled) == 8
    (folder / f"copy_of_{as_vtt.stem}.vtt").write_text(_webvtt(read_call(as_vtt)), encoding="utf-8")
    labelled = sorted(p for p in client.glob("*.txt") if p.stem in gold.index)[:3]
    for path in unlabelled:
        shutil.copyfile(path, folder / f"copy_of_{path.name}")
    shutil.copyfile(labelled[0], folder / f"copy_of_{labelled[0].name}")
    shutil.copyfile(labelled[1], folder / labelled[1].name)
    edited = labelled[2].read_text(encoding="utf-8").rstrip() + "\n\nMember: One more thing: I am still waiting.\n"
    (folder / labelled[2].name).write_text(edited, encoding="utf-8")
    return folder


def _webvtt(turns) -> str:
    """A call as a speech-to-text tool would export it: one cue per speech turn, the speaker as its voice."""
    cues = [f"00:{k // 60:02d}:{k % 60:02d}.000 --> 00:{k // 60:02d}:{k % 60:02d}.900\n<v {t.speaker}>{t.text}</v>\n"
            for k, t in enumerate(t for t in turns if t.kind == "speech")]
    return "WEBVTT\n\n" + "\n".join(cues)


@pytest.fixture(scope="module")
def new_run(full_run, new_folder, work, store):
    artifact, _, _ = full_run
    out = work / "new.csv"
    before = artifact.stat().st_mtime_ns
    code, err = run("analyze", str(new_folder), "--model", EMBEDDED, "--artifact", str(artifact), "--store",
                    str(store), "--out", str(out))
    assert code == EXIT_OK, err
    return pd.read_csv(out, keep_default_na=False).set_index("file"), err, artifact.stat().st_mtime_ns == before


# --- the saved probe labels any folder as the full run does -----------------------------------------------------


@pytest.mark.model
@pytest.mark.clientdata
def test_a_first_analyze_fits_the_probe_and_says_so(full_run, client):
    artifact, predictions, err = full_run
    assert f"fitting the probe: no fitted probe at {artifact} yet" in err
    assert f"fit reads {client}: " in err  # the configured folder, looked up when analyze runs
    assert "fitted the probe on" in err and artifact.is_file()
    assert len(predictions) == len(list(client.glob("*.txt")))


@pytest.mark.model
@pytest.mark.clientdata
def test_the_saved_probe_labels_the_folder_exactly_as_a_fit_inside_the_run(full_run, client, store):
    # What keeps results/predictions.csv unchanged: labelling with the saved fit gives, to the last bit, what
    # fitting on the run's own labelled calls gave before there was a saved fit.
    artifact, _, _ = full_run
    settings = Settings(model=EMBEDDED)
    texts = texts_for_model(read_calls(client)[0], settings)
    with Store(store) as opened:
        inside = label_calls(texts, settings, opened, progress=False).predictions.set_index("file")
        saved = label_calls(texts, settings, opened, progress=False, fitted=load_fitted(artifact)
                            ).predictions.set_index("file")
    columns = [*ANSWERS, "confidence_sentiment", "confidence_outcome", "held_out", "raw"]
    pd.testing.assert_frame_equal(inside[columns], saved[columns], check_exact=True)


@pytest.mark.model
@pytest.mark.clientdata
def test_renamed_copies_of_unlabelled_calls_get_the_full_runs_answers(full_run, new_run, new_folder):
    _, full, _ = full_run
    new, err, untouched = new_run
    copies = new[new.index.str.startswith("copy_of_transcript")]
    originals = copies.index.str.removeprefix("copy_of_")
    copies = copies[~originals.isin(full.index[full["held_out"] != "not labelled"])]
    assert len(copies) == 9 and next(new_folder.glob("*.vtt")).stem in copies.index  # eight .txt, one WebVTT
    expected = full.loc[copies.index.str.removeprefix("copy_of_"), ANSWERS].set_axis(copies.index)
    pd.testing.assert_frame_equal(copies[ANSWERS], expected)
    assert (copies["held_out"] == "not labelled").all()
    # A fresh saved probe is used as it is: not refitted, not rewritten.
    assert "fitting the probe" not in err and untouched


@pytest.mark.model
@pytest.mark.clientdata
def test_only_a_labelled_call_with_the_text_it_was_fitted_on_gets_its_held_out_answer(full_run, new_run, gold):
    _, full, _ = full_run
    new, _, _ = new_run
    labelled = new[new.index.isin(gold.index)]
    assert len(labelled) == 2
    same = [cid for cid in labelled.index if full.loc[cid, "held_out"].startswith("held out")
            and labelled.loc[cid, "held_out"].startswith("held out")]
    assert len(same) == 1  # the one copied as it is
    pd.testing.assert_frame_equal(labelled.loc[same, ANSWERS], full.loc[same, ANSWERS])
    edited = labelled.drop(index=same)
    assert edited["held_out"].iloc[0] == "not held out: labelled, but fitted on another text of this call"
    renamed = new[new.index.str.removeprefix("copy_of_").isin(gold.index)]
    assert renamed["held_out"].iloc[0] == f"not held out: same text as labelled call {renamed.index[0][8:]}"


# --- what fit writes ------------------------------------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.clientdata
def test_fit_writes_a_skops_artifact_with_its_metadata(client, work, store, gold, capsys):
    artifact = work / "fitted_by_fit.skops"
    assert main(["fit", str(client), "--model", EMBEDDED, "--artifact", str(artifact), "--store", str(store),
                 "--quiet"]) == EXIT_OK
    assert "fitted the probe on" in capsys.readouterr().out
    assert zipfile.is_zipfile(artifact)  # skops' zip format, not a pickle
    fitted = load_fitted(artifact)
    meta = fitted.metadata
    labels_file = config.training_labels_file()
    model = resolve_model(EMBEDDED)
    assert meta["model"] == {"name": model.name, "sha256": model.sha256}
    assert meta["features_version"] == FEATURES_VERSION
    assert meta["labels"]["sha256"] == file_sha256(labels_file) and meta["labels"]["file"] == str(labels_file)
    fitted_on = sorted(set(gold.index) & {p.stem for p in client.glob("*.txt")})
    assert sorted(meta["labels"]["calls"]) == fitted_on == sorted(fitted.fitted_texts)
    assert meta["scaled_on"]["calls"] == len(list(client.glob("*.txt")))
    assert datetime.fromisoformat(meta["created"])
    for package in ("callinsights", "scikit-learn", "numpy", "llama-cpp-python"):
        assert meta["versions"][package] == importlib.metadata.version(package)
    for task, labels in TASKS.items():
        held = fitted.tasks[task].held_out
        assert sorted(held.index) == fitted_on and list(held.columns) == list(labels)
        assert np.allclose(held.sum(axis=1), 1.0)
        # The recorded held-out macro-F1 is that of the held-out probabilities it carries.
        recomputed = f1_score(gold.loc[held.index, task], held.idxmax(axis=1), average="macro")
        assert meta["held_out_metrics"][task]["macro_f1"] == pytest.approx(recomputed)
        assert meta["held_out_metrics"][task]["scheme"] == fitted.tasks[task].scheme
    assert json.loads(fit.show(artifact))["labels"]["calls"] == meta["labels"]["calls"]


# --- stale fits are refitted, and the run says why -------------------------------------------------------------


@pytest.mark.model
@pytest.mark.clientdata
def test_an_edited_label_file_is_noticed_and_the_probe_refitted(client, work, store, gold, new_folder):
    labels, artifact = work / "edited_labels.csv", work / "edited.skops"
    shutil.copyfile(config.training_labels_file(), labels)
    assert run("fit", str(client), "--model", EMBEDDED, "--labels", str(labels), "--artifact", str(artifact),
               "--store", str(store))[0] == EXIT_OK
    before = file_sha256(labels)
    table = pd.read_csv(labels)
    table.loc[0, "Sentiment"] = "Negative" if table.loc[0, "Sentiment"] != "Negative" else "Positive"
    table.to_csv(labels, index=False)
    code, err = run("analyze", str(new_folder), "--model", EMBEDDED, "--labels", str(labels), "--artifact",
                    str(artifact), "--store", str(store), "--out", str(work / "after_edit.csv"))
    assert code == EXIT_OK, err
    assert f"label file: {labels} changed since the fit (sha256 {before[:12]} then" in err
    assert "fitting the probe" in err
    assert load_fitted(artifact).metadata["labels"]["sha256"] == file_sha256(labels)
    # The predictions say which reading of the hand labels their fit read: the edited file given with --labels.
    record = json.loads((work / f"after_edit{READING_RECORD_SUFFIX}").read_text(encoding="utf-8"))
    assert (record["labels_file"], record["labels_sha256"]) == (labels.name, file_sha256(labels))
    assert record["files_from_labels"] == ["after_edit.csv"]


@pytest.mark.model
@pytest.mark.clientdata
def test_a_fit_made_with_another_model_file_is_noticed_and_refitted(full_run, work, store, new_folder,
                                                                    monkeypatch):
    artifact = work / "other_model.skops"
    fitted = load_fitted(full_run[0])
    fitted.metadata["model"] = {"name": "SomeOther.gguf", "sha256": "0" * 64}
    save_fitted(fitted, artifact)
    # The longest path (a plan, a refit, the run) checks the settings and resolves the model once.
    checks, resolved = [], []
    check, check_gguf = Settings.check, models.check_gguf  # every resolve_model checks its file once
    monkeypatch.setattr(Settings, "check", lambda self: checks.append(self) or check(self))
    monkeypatch.setattr(models, "check_gguf", lambda path: resolved.append(path) or check_gguf(path))
    code, err = run("analyze", str(new_folder), "--model", EMBEDDED, "--artifact", str(artifact), "--store",
                    str(store), "--out", str(work / "other_model.csv"))
    assert code == EXIT_OK, err
    assert len(checks) == 1 and len(resolved) == 1
    assert "model: fitted with SomeOther.gguf (sha256 000000000000), this run uses" in err
    assert load_fitted(artifact).metadata["model"]["sha256"] == resolve_model(EMBEDDED).sha256


@pytest.mark.model
@pytest.mark.clientdata
def test_without_the_label_file_the_saved_fit_is_used_as_made(full_run, work, monkeypatch):
    artifact = full_run[0]
    monkeypatch.setattr(config, "training_labels_file", lambda data_dir=None: work / "nowhere" / "labels.csv")
    planned = fit.plan(Settings(model=EMBEDDED), artifact)
    assert planned.fitted is not None and not planned.reasons
    assert any("no label file at" in note and "as it was fitted" in note for note in planned.notes)
    # Named with --labels, a missing file is a mistake to report, not a reason to go on.
    with pytest.raises(FileNotFoundError, match="--labels"):
        fit.plan(Settings(model=EMBEDDED, labels_file=str(work / "typo.csv")), artifact)


def test_each_difference_from_the_fit_is_named():
    saved = {"model": {"name": "a.gguf", "sha256": "a" * 64}, "engine": "llama.cpp", "features_version": "turns-v1",
             "reads": "features-turns-v1", "labels": {"file": "/x/labels.csv", "sha256": "1" * 64}}
    same = json.loads(json.dumps(saved))
    assert stale_reasons(saved, same) == []
    now = {**same, "features_version": "turns-v2", "reads": "features-turns-v2/call",
           "labels": {"file": "/x/labels.csv", "sha256": "2" * 64}}
    reasons = stale_reasons(saved, now)
    assert len(reasons) == 3
    assert "FEATURES_VERSION 'turns-v1'" in reasons[0] and "'turns-v2'" in reasons[0]
    assert "what the model reads" in reasons[1] and "/x/labels.csv changed since the fit" in reasons[2]
    assert stale_reasons(saved, {**now, "labels": {"file": "/y/other.csv", "sha256": "2" * 64}})[-1] == (
        "label file: fitted on /x/labels.csv, this run fits on /y/other.csv (other content)")
    # Without a label file now, the labels give no reason to refit.
    assert stale_reasons(saved, {**same, "labels": {"file": "/x/labels.csv", "sha256": None}}) == []


# --- files that are not a usable probe ------------------------------------------------------------------------------


class NotAllowed:
    """A type no probe artifact holds."""


def _skops(path: Path, content) -> Path:
    skops.io.dump(content, path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(pickle.dumps({"kind": ARTIFACT_KIND})), "not a readable skops artifact"),
        (lambda p: p.write_text("hello"), "not a readable skops artifact"),
        (lambda p: p.write_bytes(b""), "not a readable skops artifact"),
        (lambda p: _skops(p, {"kind": ARTIFACT_KIND, "format_version": ARTIFACT_FORMAT, "metadata": {},
                              "payload": {"x": NotAllowed()}}), "names type(s) this version does not load"),
        (lambda p: _skops(p, {"kind": "something else"}), "not a callinsights-probe artifact"),
        (lambda p: _skops(p, {"kind": ARTIFACT_KIND, "format_version": 99}), "artifact format 99"),
        (lambda p: _skops(p, {"kind": ARTIFACT_KIND, "format_version": ARTIFACT_FORMAT, "metadata": {},
                              "payload": {}}), "payload is incomplete"),
    ],
    ids=["pickle", "text", "empty", "untrusted-type", "other-kind", "other-format", "no-payload"],
)
def test_a_file_that_is_not_a_usable_probe_is_refused_and_kept(tmp_path, make, message):
    artifact = tmp_path / "probe.skops"
    make(artifact)
    content = artifact.read_bytes()
    with pytest.raises(ArtifactError, match="callinsights fit"):
        load_fitted(artifact)
    code, err = run("analyze", str(MODEL_CALLS), "--model", EMBEDDED, "--artifact", str(artifact), "--store",
                    str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "p.csv"))
    assert code == EXIT_BAD_INPUT
    assert f"error: {artifact}: " in err and message in err and "callinsights fit" in err
    assert "fitting the probe" not in err and "callinsights: " not in err  # before any model time
    assert artifact.read_bytes() == content and not (tmp_path / "p.csv").exists()


def test_a_damaged_artifact_is_refused(tmp_path):
    # A real artifact layout with one stored member's bytes overwritten: skops' zip check catches it.
    artifact = save_artifact(tmp_path / "probe.skops", ARTIFACT_KIND, ARTIFACT_FORMAT, {"note": "x" * 5000},
                             {"tasks": {}, "held": np.arange(20000.0)})
    data = bytearray(artifact.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 256] = b"A" * 256
    artifact.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"probe\.skops: .*(damaged|not a readable)"):
        load_fitted(artifact)


def test_an_artifact_written_over_keeps_its_permissions_and_a_new_one_is_readable_by_others(tmp_path):
    # save_artifact had its own copy of the atomic write, without the rule that a file written over keeps its mode.
    path = tmp_path / "probe.skops"
    save_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, {"n": 1}, {})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0o600
    path.chmod(0o640)  # shared with a group only
    save_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, {"n": 2}, {})
    assert path.stat().st_mode & 0o777 == 0o640
    assert load_artifact(path, ARTIFACT_KIND, ARTIFACT_FORMAT, [], "").metadata == {"n": 2}
    # No temporary file left beside it; only the record of its SHA-256.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.skops", "probe.skops.sha256"]


def test_a_fit_of_another_model_is_refused_by_the_run(tmp_path):
    fitted = FittedProbe({}, {}, {"model": {"name": "x", "sha256": "0" * 64}, "engine": "llama.cpp",
                                  "features_version": FEATURES_VERSION, "reads": "features-" + FEATURES_VERSION})
    with Store(tmp_path / "s.sqlite") as opened, pytest.raises(ValueError, match="does not match this run: model"):
        label_calls({"a": "hello"}, Settings(model=EMBEDDED), opened, progress=False, fitted=fitted)


# --- a tampered probe is refused, not believed (issue 23) -----------------------------------------------------------


def _small_fit(path: Path) -> Path:
    """A real probe fitted and saved as `fit` saves one, on 24 synthetic calls whose states carry their labels."""
    from callinsights.classify.probe import fit_from_outputs
    from callinsights.schema import OUTCOMES, SENTIMENTS

    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(24)]
    sentiments, outcomes = [SENTIMENTS[i % 3] for i in range(24)], [OUTCOMES[i % 2] for i in range(24)]
    outputs = {cid: {"turns": np.hstack([rng.normal(size=(4, 5)) + [SENTIMENTS.index(s), OUTCOMES.index(o), 0, 0, 0],
                                         np.full((4, 1), 5.0)]).tolist()}
               for cid, s, o in zip(ids, sentiments, outcomes)}
    gold = pd.DataFrame({"sentiment": sentiments, "outcome": outcomes}, index=pd.Index(ids, name="file"))
    return save_fitted(fit_from_outputs(outputs, {cid: cid for cid in ids}, gold, "labels.csv"), path)


def _swap_positive_and_negative(content):
    model = content["payload"]["tasks"]["sentiment"]["model"]
    model.classes_ = model.classes_[::-1]  # sorted negative, neutral, positive -> positive, neutral, negative


def _unknown_outcome(content):
    content["payload"]["tasks"]["outcome"]["model"].classes_ = np.array(["follow-up action needed", "maybe"])


def _held_out_columns_reordered(content):
    content["payload"]["tasks"]["sentiment"]["labels"] = ["negative", "positive", "neutral"]


def _weights_cut(content):
    model = content["payload"]["tasks"]["outcome"]["model"]
    model.coef_ = model.coef_[:, :-2]


def _scaler_of_another_width(content):
    scaler = content["payload"]["tasks"]["sentiment"]["scaler"]
    scaler.mean_, scaler.scale_, scaler.n_features_in_ = scaler.mean_[:4], scaler.scale_[:4], 4


TAMPERED = {"swapped classes": (_swap_positive_and_negative, "sentiment probe answers"),
            "unknown class": (_unknown_outcome, "outcome probe answers"),
            "held-out columns": (_held_out_columns_reordered, "held-out probabilities"),
            "cut weights": (_weights_cut, "outcome probe"),
            "scaler width": (_scaler_of_another_width, "sentiment probe")}


def _tamper(path: Path, change) -> None:
    """Rewrite a valid artifact with ``change`` made to its content, as anyone with skops can."""
    content = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    change(content)
    skops.io.dump(content, path)


def test_a_saved_probe_records_its_sha256_beside_it_and_loads(tmp_path):
    path = _small_fit(tmp_path / "probe.skops")
    record = tmp_path / "probe.skops.sha256"
    assert record.read_text() == f"{file_sha256(path)}  probe.skops\n"  # `sha256sum -c` reads it
    assert set(load_fitted(path).tasks) == set(TASKS)


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_probe_changed_after_its_fit_is_refused_by_its_recorded_sha256(tmp_path, case):
    path = _small_fit(tmp_path / "probe.skops")
    _tamper(path, TAMPERED[case][0])
    with pytest.raises(ArtifactError, match=r"probe\.skops: changed since it was written.*probe\.skops\.sha256.*"
                                            r"`python -m callinsights fit --artifact .*probe\.skops`"):
        load_fitted(path)


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_probe_without_a_record_is_refused_by_what_it_holds(tmp_path, case):
    # The record gone (or never written): what can be checked without it still is.
    change, message = TAMPERED[case]
    path = _small_fit(tmp_path / "probe.skops")
    (tmp_path / "probe.skops.sha256").unlink()
    load_fitted(path)  # the untouched fit loads without its record
    _tamper(path, change)
    with pytest.raises(ArtifactError, match=message) as refused:
        load_fitted(path)
    assert str(path) in str(refused.value) and "callinsights fit --artifact" in str(refused.value)


def test_analyze_refuses_a_probe_whose_classes_were_swapped_before_any_model_time(tmp_path):
    artifact = _small_fit(tmp_path / "probe.skops")
    _tamper(artifact, _swap_positive_and_negative)
    content = artifact.read_bytes()
    code, err = run("analyze", str(MODEL_CALLS), "--model", EMBEDDED, "--artifact", str(artifact), "--store",
                    str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "p.csv"))
    assert code == EXIT_BAD_INPUT and f"error: {artifact}: changed since it was written" in err
    assert "fitting the probe" not in err and "callinsights: " not in err
    assert artifact.read_bytes() == content and not (tmp_path / "p.csv").exists()
