"""fit -> predict -> export: a classifier refitted on all labelled clips, labels of new files, and
one SavedModel from waveform to class scores.

Tiny data: 3 classes x 6 clips of about 1 s (conftest's ``music_like``), a 7x96 front-end with 8
filters and 40 frames, 3 folds; one feature store for the module. Held-out clips (other seeds and
lengths) are labelled by the FittedModel and by the exported SavedModel in ONE fresh process that
cannot import elmarc_tf or scikit-learn; labels must be equal and the scores equal to
scikit-learn's within 1e-4 of the largest score (float32 front-end, float64 classifier).
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import music_like
from elmarc_tf import Config
from elmarc_tf.cli import main
from elmarc_tf.errors import ElmarcError
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.store import load_store
from elmarc_tf.io.audio import load_audio
from elmarc_tf.studies.fit import FittedModel, class_scores, fit, refit
from elmarc_tf.studies.model_dir import load_model, save_model
from elmarc_tf.studies.study import run_experiment

CLASSES = ("a", "b", "c")
SEED = 1
QUIET = RunOptions(progress=False, jobs=1)

# name -> (model_type, best parameters to refit with, standardize, classes used)
CASES = {
    "svm_rbf": ("SVM", {"kernel": "rbf", "gamma": 1 / 2**5, "C": 2.0}, False, CLASSES),
    "svm_rbf_std": ("SVM", {"kernel": "rbf", "gamma": 1 / 2**7, "C": 8.0}, True, CLASSES),
    "svm_linear": ("SVM", {"kernel": "linear", "C": 0.1}, False, CLASSES),
    "svm_linear_std": ("SVM", {"kernel": "linear", "C": 2.0}, True, CLASSES),
    "svm_two_classes": ("SVM", {"kernel": "rbf", "gamma": "auto", "C": 2.0}, True, CLASSES[:2]),
    "elm": ("ELM", {"n_hidden": 40}, False, CLASSES),
    "elm_std": ("ELM", {"n_hidden": 40}, True, CLASSES),
    "elm_two_classes": ("ELM", {"n_hidden": 30}, True, CLASSES[:2]),
}

# In a fresh interpreter: neither elmarc_tf nor scikit-learn can be imported there.
RELOAD_SCRIPT = textwrap.dedent("""
    import json, sys

    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("elmarc_tf", "sklearn"):
                raise ImportError(name + " must not be needed to load an export")
            return None

    sys.meta_path.insert(0, _Blocked())
    import numpy as np
    import tensorflow as tf

    jobs = json.load(open(sys.argv[1]))
    report = {"classes": {}}
    for job in jobs:
        model = tf.saved_model.load(job["export"])
        serve = model.signatures["serving_default"]
        labels, scores, decision = [], [], []
        for clip in job["clips"]:
            out = serve(waveform=tf.constant(np.load(clip)[None, :]))
            labels.append(out["labels"].numpy()[0].decode())
            scores.append(out["scores"].numpy()[0])
            decision.append(out["decision"].numpy()[0])
        np.save(job["scores"], np.array(scores))
        np.save(job["decision"], np.array(decision))
        report[job["name"]] = labels
        report["classes"][job["name"]] = [c.decode() for c in model.class_names().numpy()]
    report["blocked_imported"] = sorted({m.split(".")[0] for m in sys.modules} & {"elmarc_tf", "sklearn"})
    json.dump(report, open(sys.argv[2], "w"))
""")


def _write(path, seconds, seed, gain):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, music_like(seconds, seed=seed) * gain, 12000)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    for c, label in enumerate(CLASSES):
        for k in range(6):
            _write(root / "train" / label / f"{k}.wav", 1.0 + 0.1 * k, 10 * c + k, 0.3 + 0.3 * c)
        for k in range(2):  # held out: other seeds, other lengths
            _write(root / "new" / f"{label}{k}.wav", 0.7 + 1.3 * k, 100 + 10 * c + k, 0.3 + 0.3 * c)
    cfg = Config.from_dict(dict(architecture="7x96", num_filters=8, n_frames=40,
                                fix_length_by="zero-pad", audio_path=str(root / "train"),
                                n_folds=3, batch_size=4, svm_max_iter=-1))
    return root, cfg


@pytest.fixture(scope="module")
def fitted(data):
    root, cfg = data
    return fit(cfg, seed=SEED, features_out=root / "store", run=QUIET)


def _held_out(root):
    return sorted(str(p) for p in (root / "new").glob("*.wav"))


def test_fit_chooses_what_run_reports_and_refits_on_all_clips(data, fitted, tmp_path):
    root, cfg = data
    summary = run_experiment(cfg, seeds=[SEED], out=tmp_path, name="x",
                             features_out=root / "store", run=QUIET)
    result = summary["per_seed"][0]
    assert fitted.about["best_params"] == result["best_params"]
    assert fitted.about["cv_accuracy"] == result["accuracy"]
    X, y, _, _ = load_store(result["store"])
    assert fitted.about["n_clips"] == len(y) == 18
    # an independent refit: scikit-learn's SVC with the chosen point on every stored clip
    from sklearn.svm import SVC
    reference = SVC(**result["best_params"]).fit(np.asarray(X, np.float64), y)
    new = _held_out(root)
    X_new, errors = fitted.features(new)
    assert not any(errors)
    np.testing.assert_array_equal(fitted.predict(new), reference.predict(X_new.astype(np.float64)))
    np.testing.assert_allclose(fitted.decision_function(new),
                               reference.decision_function(X_new.astype(np.float64)), rtol=1e-10)


def _case_model(data, fitted, name) -> FittedModel:
    """``fitted``'s front-end and features with the case's classifier refitted on them."""
    root, cfg = data
    model_type, params, standardize, classes = CASES[name]
    cfg = cfg.replace(model_type=model_type, standardize=standardize)
    X, y, _, _ = load_store(next((root / "store").rglob("manifest.json")).parent)
    keep = np.isin(y, classes)
    scaler, estimator = refit(cfg, X[keep], y[keep], params, SEED)
    return FittedModel(cfg, fitted.feature_seed, scaler, estimator, dict(fitted.about))


@pytest.fixture(scope="module")
def exported(data, fitted, tmp_path_factory):
    """Every case exported; the exports run in one fresh process on the held-out clips."""
    root, _ = data
    work = tmp_path_factory.mktemp("exports")
    clips = []
    for k, path in enumerate(_held_out(root)):
        clips.append(str(work / f"clip{k}.npy"))
        np.save(clips[-1], load_audio(path, 12000))
    models, jobs = {}, []
    for name in CASES:
        models[name] = _case_model(data, fitted, name)
        models[name].export(work / name)
        jobs.append({"name": name, "export": str(work / name), "clips": clips,
                     "scores": str(work / f"{name}_scores.npy"),
                     "decision": str(work / f"{name}_decision.npy")})
    (work / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(work / "jobs.json"),
                    str(work / "report.json")], check=True, capture_output=True, timeout=600)
    return work, models, json.loads((work / "report.json").read_text())


def test_export_loads_without_elmarc_tf_or_sklearn(exported):
    assert exported[2]["blocked_imported"] == []


def _close(actual, expected):
    """Within 1e-4 relative to the largest reference value."""
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", sorted(CASES))
def test_exported_tagger_equals_the_fitted_model(name, data, exported):
    root, _ = data
    work, models, report = exported
    model = models[name]
    new = _held_out(root)
    assert report[name] == list(model.predict(new))
    assert report["classes"][name] == model.classes == list(CASES[name][3])
    X, _ = model.features(new)
    Xs = model._scaled(np.asarray(X, np.float64))
    decision = model.estimator.decision_function(Xs)
    _close(np.load(work / f"{name}_scores.npy"), class_scores(decision))
    ovo = copy.deepcopy(model.estimator)
    if hasattr(ovo, "decision_function_shape"):
        ovo.decision_function_shape = "ovo"  # libsvm's one value per class pair
    reference = np.asarray(ovo.decision_function(Xs)).reshape(len(new), -1)
    _close(np.load(work / f"{name}_decision.npy"), reference)


@pytest.fixture(scope="module")
def model_dir(fitted, tmp_path_factory):
    return save_model(fitted, tmp_path_factory.mktemp("model") / "m")


def test_predict_writes_every_good_file_and_names_the_bad_one(data, fitted, model_dir, tmp_path,
                                                              capsys):
    root, _ = data
    folder = tmp_path / "in"
    shutil.copytree(root / "new", folder)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    out = tmp_path / "predictions.csv"
    status = main(["predict", str(model_dir), str(folder), "--out", str(out), "--quiet"])
    assert status == 1
    assert "broken.wav" in capsys.readouterr().out
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["path", "label", *fitted.classes]
    good = sorted(str(p) for p in folder.glob("*.wav") if p.name != "broken.wav")
    assert [r[0] for r in rows[1:]] == good
    assert [r[1] for r in rows[1:]] == list(fitted.predict(good))
    np.testing.assert_allclose(np.array([r[2:] for r in rows[1:]], float),
                               class_scores(fitted.decision_function(good)), rtol=1e-12)


def test_changed_model_folder_is_refused_in_one_line(model_dir, data, tmp_path, capsys):
    root, _ = data
    changed = tmp_path / "changed"
    shutil.copytree(model_dir, changed)
    arrays = changed / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes() + b"\0")
    with pytest.raises(ElmarcError, match="arrays.npz: changed"):
        load_model(changed)
    status = main(["predict", str(changed), str(root / "new"), "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "arrays.npz" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()


def test_copied_model_folder_predicts_identically(model_dir, data, fitted, tmp_path):
    root, _ = data
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(model_dir, moved)
    new = _held_out(root)
    original = fitted.score_files(new, QUIET)
    copied = load_model(moved).score_files(new, QUIET)
    assert copied.labels == original.labels
    np.testing.assert_array_equal(copied.scores, original.scores)


def test_info_describes_a_model_folder(model_dir, fitted, capsys):
    assert main(["info", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert ", ".join(fitted.classes) in out and f"{fitted.about['cv_accuracy']:.4f}" in out


def test_a_waveform_front_end_fixes_the_length_inside_the_exported_graph(data, tmp_path):
    """sample_level at 0.5 s zero-pad: the held-out clips (0.7 s, cut; 2 s, cut) and a 0.3 s clip
    (padded) through the exported graph equal FittedModel on the same files."""
    root, cfg = data
    wave = Config.from_dict(dict(architecture="sample_level", num_filters=4, n_samples=6000,
                                 fix_length_by="zero-pad", audio_path=cfg.audio_path, n_folds=3,
                                 batch_size=4, model_type="ELM"))
    model = fit(wave, seed=SEED, features_out=tmp_path / "store", run=QUIET)
    new = _held_out(root)
    _write(tmp_path / "short.wav", 0.3, 7, 0.5)
    new.append(str(tmp_path / "short.wav"))
    clips = []
    for k, path in enumerate(new):
        clips.append(str(tmp_path / f"clip{k}.npy"))
        np.save(clips[-1], load_audio(path, 12000))
    model.export(tmp_path / "export")
    job = {"name": "wave", "export": str(tmp_path / "export"), "clips": clips,
           "scores": str(tmp_path / "scores.npy"), "decision": str(tmp_path / "decision.npy")}
    (tmp_path / "jobs.json").write_text(json.dumps([job]))
    subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(tmp_path / "jobs.json"),
                    str(tmp_path / "report.json")], check=True, capture_output=True, timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["wave"] == list(model.predict(new))
    X, errors = model.features(new)
    assert not any(errors)
    decision = model.estimator.decision_function(model._scaled(np.asarray(X, np.float64)))
    _close(np.load(tmp_path / "scores.npy"), class_scores(decision))


def test_fit_refuses_an_unusable_out_before_any_work(data, tmp_path, capsys, monkeypatch):
    root, cfg = data
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a model")
    import elmarc_tf.cli
    monkeypatch.setattr(elmarc_tf.cli, "fit", lambda *a, **k: pytest.fail("work was started"))
    assert main(["fit", str(config), "--out", str(tmp_path / "other")]) == 2
    assert "exists and is not an elmarc model folder" in capsys.readouterr().err


def test_saving_over_an_earlier_model_swaps_it_whole(fitted, tmp_path, monkeypatch):
    folder = save_model(fitted, tmp_path / "m")
    first = (folder / "model.json").read_bytes()
    import elmarc_tf.studies.model_dir as model_dir

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_dir.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted, folder)
    assert (folder / "model.json").read_bytes() == first  # the earlier model, untouched
    assert load_model(folder).classes == fitted.classes
    monkeypatch.undo()
    save_model(fitted, folder)  # again, over it: the staging leftovers do not get in the way
    assert load_model(folder).classes == fitted.classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_export_of_a_model_folder_refuses_the_configs_flags(model_dir, tmp_path, capsys):
    for flags in (["--seed", "3"], ["--input-samples", "12000"]):
        assert main(["export", str(model_dir), "--out", str(tmp_path / "x"), *flags]) == 2
        assert "is for a config; a model folder has its own" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
