"""The `elmarc` command: extract, info, demo, and its error handling."""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import music_like
from elmarc_tf import Config
from elmarc_tf.cli import main
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.extraction.ray_cluster import RayOptions
from elmarc_tf.studies.random_vs_trained import Bootstrap
from elmarc_tf.studies.train import TrainingOptions
from elmarc_tf.extraction.store import load_store


@pytest.fixture
def gtzan_like(tmp_path):
    """A miniature GTZAN: genres/<genre>/<genre>.000NN.wav, plus the original's list files."""
    root = tmp_path / "genres"
    for g, genre in enumerate(("blues", "jazz")):
        (root / genre).mkdir(parents=True)
        for k in range(3):
            sf.write(root / genre / f"{genre}.{k:05d}.wav", music_like(2.0, 22050, 10 * g + k), 22050)
    (root / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # corrupt copy
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.txt").write_text("blues/blues.00000.wav\njazz/jazz.00000.wav\n")
    (lists / "valid.txt").write_text("blues/blues.00001.wav\njazz/jazz.00054.wav\n")
    (lists / "test.txt").write_text("blues/blues.00002.wav\njazz/jazz.00002.wav\n")
    return root, lists


def write_config(path, **fields):
    import yaml

    path.write_text(yaml.safe_dump(fields))
    return path


def test_extract_and_info(gtzan_like, tmp_path, capsys):
    root, lists = gtzan_like
    cfg = write_config(tmp_path / "exp.yaml", dataset="GTZAN", audio_path=str(root),
                       train_set_list=str(lists / "train.txt"), val_set_list=str(lists / "valid.txt"),
                       test_set_list=str(lists / "test.txt"), architecture="frame_level",
                       num_filters=8, n_samples=20000, batch_size=2)
    code = main(["extract", str(cfg), "--seed", "1", "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1  # one clip failed: exit non-zero, work kept
    assert "5 clips x 32 features" in out and "jazz.00054.wav: cannot decode audio" in out
    [store] = list((tmp_path / "out").rglob("manifest.json"))
    X, y, ids, manifest = load_store(store.parent)
    assert X.shape == (5, 32) and manifest["seed"] == 1 and manifest["config"]["dataset"] == "GTZAN"
    assert [json.loads((store.parent / "items.json").read_text())[i]["split"] for i in range(5)] == \
        ["train", "train", "val", "test", "test"]
    assert main(["info", str(store.parent)]) == 0
    info = capsys.readouterr().out
    assert "5 clips x 32" in info and "frame_level nf=8" in info and "failed:   1 of 6" in info
    assert "b1[8:9]+7 zeros" in info


@pytest.mark.parametrize("fields,message", [
    (dict(architecture="resnet50", n_frames=10), "unknown architecture 'resnet50'"),
    (dict(architecture="vgg", n_frames=100), "'n_frames'=100 is too short"),
    (dict(architecture="vgg", n_frames=1376, n_mel=96), "unknown config key 'n_mel'"),
    (dict(architecture="vgg", n_frames=1376, audios_list="nope.txt"), "nope.txt: file list not found"),
    (dict(architecture="vgg", n_frames=1376, train_set_list="t.txt"), "'val_set_list', 'test_set_list' missing"),
])
def test_config_errors_fail_before_any_work(tmp_path, capsys, fields, message):
    cfg = write_config(tmp_path / "bad.yaml", audio_path=str(tmp_path), **fields)
    assert main(["extract", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_listed_file_missing_names_the_list_line(gtzan_like, tmp_path, capsys):
    root, lists = gtzan_like
    (lists / "all.txt").write_text("blues/blues.00000.wav\nrock/rock.00001.wav\n")
    cfg = write_config(tmp_path / "c.yaml", audio_path=str(root), audios_list=str(lists / "all.txt"),
                       architecture="vgg", n_frames=1376)
    assert main(["extract", str(cfg)]) == 2
    assert "all.txt:2: listed file rock/rock.00001.wav not found" in capsys.readouterr().err


def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--clips-per-class", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    for name in ("sample_level-23", "samplecnn-5", "7x96-160", "7x86-160", "timbral+temporal-4",
                 "vgg-32", "mfcc"):
        assert name in out
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 10000
    results = json.loads((tmp_path / "demo" / "demo_results.json").read_text())
    assert len(results) == 7 and all(0.25 <= r["accuracy"] <= 1 for r in results)
    assert np.mean([r["accuracy"] for r in results]) > 0.5  # well above chance (0.25) on 4 classes


def test_export_and_info_of_an_export(tmp_path, capsys):
    cfg = write_config(tmp_path / "e.yaml", architecture="7x86", num_filters=8, n_frames=60)
    assert main(["export", str(cfg), "--seed", "2", "--out", str(tmp_path / "exp")]) == 0
    assert "features (batch, 8)" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "exp")]) == 0
    info = capsys.readouterr().out
    assert "cnn_single nf=8 taps=[1] seed 2" in info and "at least 15104 samples" in info
    assert (tmp_path / "exp" / "model.keras").is_file()


def test_random_vs_trained_help_lists_the_engine_flags(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["random-vs-trained", "--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    for flag in ("--engine", "--address", "--actors", "--cpus-per-actor", "--gpus-per-actor"):
        assert flag in shown


def test_random_vs_trained_takes_the_engine_to_the_study(tmp_path, monkeypatch):
    """``--engine ray`` and its flags arrive as the study's RunOptions, with the training flags
    as its TrainingOptions (the study itself is replaced: nothing runs)."""
    import elmarc_tf.cli as cli

    calls = []
    monkeypatch.setattr(cli, "run_demo_study", lambda **kwargs: calls.append(kwargs))
    assert main(["random-vs-trained", "--demo", "--out", str(tmp_path), "--quiet", "--seeds", "2",
                 "--engine", "ray", "--actors", "2", "--cpus-per-actor", "0.5",
                 "--nondeterministic", "--bootstrap", "7"]) == 0
    [kwargs] = calls
    assert kwargs["run"] == RunOptions(progress=False, engine="ray",
                                       ray=RayOptions(actors=2, cpus_per_actor=0.5))
    assert kwargs["training"] == TrainingOptions(deterministic=False)
    assert kwargs["bootstrap"] == Bootstrap(n_boot=7) and list(kwargs["seeds"]) == [0, 1]
    assert main(["random-vs-trained", "--demo", "--out", str(tmp_path), "--jobs", "3"]) == 0
    assert calls[1]["run"] == RunOptions(jobs=3)  # the local engine by default


def test_ray_flags_without_the_ray_engine_are_refused(tmp_path, capsys):
    assert main(["random-vs-trained", "--demo", "--out", str(tmp_path), "--actors", "2"]) == 2
    assert "need --engine ray" in capsys.readouterr().err


def test_trained_features_are_extracted_with_the_run_options(tmp_path, monkeypatch):
    """The trained weights' features go through ``extract`` with the study's engine."""
    import elmarc_tf.studies.random_vs_trained as study

    class Reached(Exception):
        pass

    def fake_extract(cfg, items, **kwargs):
        raise Reached(kwargs)

    monkeypatch.setattr(study, "extract", fake_extract)
    trained = {"protocol": "predefined_split",
               "per_seed": [{"seed": 3, "splits": [{"name": "split", "weights": "w.npz",
                                                     "weights_digest": "0" * 64}]}]}
    run = RunOptions(progress=False, engine="ray", ray=RayOptions(actors=2), jobs=2,
                     log=lambda line: None)
    with pytest.raises(Reached) as reached:
        study.trained_features_experiment(Config(n_frames=1376), trained, [], tmp_path, "t", tmp_path / "f",
                                          run=run)
    kwargs = reached.value.args[0]
    assert kwargs["weights"] == "w.npz" and kwargs["seed"] == 3
    assert kwargs["run"].engine == "ray" and kwargs["run"].ray == RayOptions(actors=2)
    assert kwargs["run"].progress is False
