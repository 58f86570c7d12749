"""`elmarc run` with several seeds on generated data, then `elmarc compare`."""

import csv
import json

import pytest
import yaml

import elmarc_tf.studies.study
from elmarc_tf.cli import main
from elmarc_tf.studies.demo import make_demo_dataset


@pytest.fixture(scope="module")
def demo_audio(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "audio", clips_per_class=6, seconds=5.0)


def write_config(path, **fields):
    path.write_text(yaml.safe_dump(fields))
    return path


def test_run_three_seeds_then_compare(demo_audio, tmp_path, capsys, monkeypatch):
    common = dict(audio_path=str(demo_audio), dataset="demo", n_folds=3, fix_length_by="crop")
    spec = write_config(tmp_path / "single.yaml", architecture="7x86", num_filters=16, n_frames=200,
                        model_type="SVM", **common)
    wave = write_config(tmp_path / "wave.yaml", architecture="frame_level", num_filters=8,
                        n_samples=48000, model_type="ELM", **common)
    out = tmp_path / "results"
    for config in (spec, wave):
        assert main(["run", str(config), "--seeds", "3", "--out", str(out),
                     "--features-out", str(tmp_path / "features"), "--quiet"]) == 0
    summary = json.loads((out / "single" / "results.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and len(summary["accuracies"]) == 3
    assert summary["model"] == "7x86 (16)" and summary["protocol"] == "stratified_kfold"
    seed0 = summary["per_seed"][0]
    assert set(seed0["report"]) >= {"slow_beat", "fast_beat", "bright_tone", "dark_tone", "accuracy"}
    assert len(seed0["confusion_matrix"]) == 4 and sum(map(sum, seed0["confusion_matrix"])) == 24
    rows = list(csv.DictReader((out / "wave" / "results.csv").open()))
    assert [r["seed"] for r in rows] == ["0", "1", "2", "mean", "std"]
    assert json.loads(rows[0]["best_params"])["n_hidden"] in (100, 250, 500, 1200, 1800, 2500)
    # three different random networks: three stores
    assert len(list((tmp_path / "features").rglob("manifest.json"))) == 6
    capsys.readouterr()

    chart = tmp_path / "compare.png"
    assert main(["compare", str(out), "--chart", str(chart)]) == 0
    printed = capsys.readouterr().out
    assert "7x86 (16) SVM" in printed and "frame-level (32) ELM" in printed
    assert "Welch" in printed and chart.stat().st_size > 5000

    # rerunning: no seed is evaluated again, no store and no seed result is written again (the
    # summary is written again, the same)
    calls = count_work(monkeypatch)
    rerun = ["run", str(spec), "--seeds", "3", "--out", str(out), "--quiet",
             "--features-out", str(tmp_path / "features")]
    seeds, stores = file_times(out / "single", "seed*.json"), file_times(tmp_path / "features")
    assert len(seeds) == 3 and len(stores) > 6
    before = (out / "single" / "results.json").read_text()
    assert main(rerun) == 0
    assert calls == {"evaluated": 0, "computed": []}
    assert file_times(out / "single", "seed*.json") == seeds
    assert file_times(tmp_path / "features") == stores
    assert (out / "single" / "results.json").read_text() == before

    # a changed classifier setting: every seed evaluated again on the stores as they are
    write_config(spec, architecture="7x86", num_filters=16, n_frames=200, model_type="SVM",
                 **{**common, "n_folds": 2})
    assert main(rerun) == 0
    assert calls == {"evaluated": 3, "computed": [0, 0, 0]}
    assert file_times(tmp_path / "features") == stores
    assert [json.loads((out / "single" / f"seed{k}.json").read_text())["config"]["n_folds"]
            for k in range(3)] == [2, 2, 2]

    # a changed feature setting: new stores, every clip of every seed computed
    write_config(spec, architecture="7x86", num_filters=12, n_frames=200, model_type="SVM",
                 **{**common, "n_folds": 2})
    calls = count_work(monkeypatch)
    assert main(rerun) == 0
    assert calls == {"evaluated": 3, "computed": [24, 24, 24]}
    assert {k: v for k, v in file_times(tmp_path / "features").items() if k in stores} == stores
    assert len(list((tmp_path / "features").rglob("manifest.json"))) == 9
    assert json.loads((out / "single" / "results.json").read_text())["model"] == "7x86 (12)"


def file_times(folder, pattern="*"):
    """Every file under ``folder`` matching ``pattern``: its modification time (ns) and size
    (a store's lock file, ``.lock``, is taken by every run that opens the store: left out)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob(pattern)) if p.is_file() and p.name != ".lock"}


def count_work(monkeypatch) -> dict:
    """Count the seeds ``run`` evaluates and the clips each of their extractions computes."""
    calls = {"evaluated": 0, "computed": []}
    evaluate_seed, extract = elmarc_tf.studies.study._evaluate_seed, elmarc_tf.studies.study.extract

    def counting_evaluate(*args, **kwargs):
        calls["evaluated"] += 1
        return evaluate_seed(*args, **kwargs)

    def counting_extract(*args, **kwargs):
        result = extract(*args, **kwargs)
        calls["computed"].append(result.n_computed)
        return result

    monkeypatch.setattr(elmarc_tf.studies.study, "_evaluate_seed", counting_evaluate)
    monkeypatch.setattr(elmarc_tf.studies.study, "extract", counting_extract)
    return calls


def test_run_from_the_original_config_file(demo_audio, tmp_path, capsys):
    path = tmp_path / "config_file.py"
    path.write_text("config_main = {\n 'experiment_name': 'orig', 'features_type': 'MFCC',\n"
                    f" 'model_type': 'KNN', 'audio_path': {str(demo_audio)!r}, 'audios_list': False,\n"
                    " 'MFCC': {'number': 20, 'fixed_length': 2048},\n 'n_folds': 3}\n")
    assert main(["run", "--original-config", str(path), "--seeds", "1", "--out", str(tmp_path / "r"),
                 "--features-out", str(tmp_path / "f"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "orig" / "results.json").read_text())
    assert summary["model"] == "MFCCs (120)" and summary["classifier"] == "KNN"
    assert main(["run", "--original-config", str(tmp_path / "missing.py")]) == 2
    assert "missing.py: cannot read" in capsys.readouterr().err


def test_reproduce_a_figure_on_a_miniature_urbansound8k(tmp_path, capsys):
    import soundfile as sf

    from conftest import music_like

    root = tmp_path / "UrbanSound8K"
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for fold in (1, 2, 3):
        (root / "audio" / f"fold{fold}").mkdir(parents=True)
        for class_id, name in enumerate(("dog_bark", "siren", "drilling")):
            for k in range(2):
                fname = f"{100 + class_id}-{fold}-{k}-0.wav"
                y = music_like(1.0, 22050, seed=100 * class_id + 10 * fold + k)
                y = y * (0.2 + class_id)  # classes differ in level and content
                sf.write(root / "audio" / f"fold{fold}" / fname, y, 22050, subtype="PCM_24")
                rows.append(f"{fname},{100 + class_id},0,1,1,{fold},{class_id},{name}")
    (root / "metadata").mkdir()
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")

    assert main(["reproduce", "--dataset", "urbansound8k", "--audio-root", str(root), "--seeds", "2",
                 "--size", "small", "--classifier", "SVM", "--only", "7x86", "mfcc",
                 "--out", str(tmp_path / "paper"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Figure 10 (urbansound8k)" in printed
    assert "7x86 (160) SVM" in printed and "MFCCs (120) SVM" in printed
    assert (tmp_path / "paper" / "urbansound8k" / "figure10.png").is_file()
    result = json.loads((tmp_path / "paper" / "urbansound8k" / "results" / "7x86-160_SVM"
                         / "results.json").read_text())
    assert result["protocol"] == "predefined_folds" and result["per_seed"][0]["n_folds"] == 3
    assert result["config"]["fix_length_by"] == "repeat-pad"


def test_run_gtzan_layout_with_the_filtered_split_lists(tmp_path, capsys):
    """GTZAN as distributed (.au files) with split lists naming .wav files: predefined split."""
    import soundfile as sf

    from conftest import music_like

    root, lists = tmp_path / "genres", tmp_path / "splits"
    lists.mkdir()
    split_lines = {"train": [], "valid": [], "test": []}
    for g, genre in enumerate(("blues", "metal", "reggae")):
        (root / genre).mkdir(parents=True)
        for k in range(6):
            y = music_like(4.0, 22050, seed=10 * g + k) * (0.3 + 0.3 * g)
            sf.write(root / genre / f"{genre}.{k:05d}.au", y, 22050, format="AU")
            split = "train" if k < 3 else "valid" if k == 3 else "test"
            split_lines[split].append(f"{genre}/{genre}.{k:05d}.wav")
    for split, names in split_lines.items():
        (lists / f"{split}_filtered.txt").write_text("\n".join(names) + "\n")
    config = write_config(tmp_path / "g.yaml", dataset="GTZAN", audio_path=str(root),
                          train_set_list=str(lists / "train_filtered.txt"),
                          val_set_list=str(lists / "valid_filtered.txt"),
                          test_set_list=str(lists / "test_filtered.txt"),
                          architecture="7x86", num_filters=12, n_frames=150, model_type="SVM")
    assert main(["run", str(config), "--seeds", "1", "--out", str(tmp_path / "r"),
                 "--features-out", str(tmp_path / "f"), "--quiet"]) == 0
    result = json.loads((tmp_path / "r" / "g" / "results.json").read_text())["per_seed"][0]
    assert result["protocol"] == "predefined_split"
    assert (result["n_train"], result["n_val"], result["n_test"]) == (9, 3, 6)
    assert result["labels"] == ["blues", "metal", "reggae"]
