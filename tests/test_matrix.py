"""`elmarc reproduce --data`: the families' configurations on a CSV dataset, the `--families`
selection, and a tiny run that writes the comparison and resumes without computing anything."""

import json
import re

import pytest
import soundfile as sf
import yaml

from conftest import music_like
from test_run import count_work, file_times

from elmarc_tf.cli import main
from elmarc_tf.config import Config
from elmarc_tf.models.extractor import build_extractor
from elmarc_tf.studies.matrix import matrix_configs, matrix_dataset, parse_families

# The names the matrix must produce, written out here (the paper's Figures 6-7 front-ends,
# docs/samplecnn.md's aggregations and Table 3's 12 kHz model, docs/leaf.md's family).
PAPER = ["sample_level-23", "frame_level-40", "frame_level_many-20", "7x96-160", "7x86-160",
         "timbral-8", "temporal-8", "timbral+temporal-4", "vgg-32",
         "sample_level-512", "frame_level-896", "frame_level_many-448", "7x96-3585", "7x86-3585",
         "timbral-256", "temporal-256", "timbral+temporal-128", "vgg-717"]
SAMPLECNN_SMALL = {"samplecnn-5": 120, "samplecnn_last-15": 120, "samplecnn_scales-2": 144,
                   "samplecnn_12k-5": 120, "samplecnn_12k_last-15": 120}
SAMPLECNN = [*SAMPLECNN_SMALL, "samplecnn-146", "samplecnn_last-438", "samplecnn_scales-49",
             "samplecnn_12k-146", "samplecnn_12k_last-438", "samplecnn-3^9"]
LEAF_ALONE = ["leaf", "sincnet", "sincnet_plus", "tdfbanks", "mel_tf", "pcen_mel"]
LEAF = [*LEAF_ALONE, *(f"{m}{s}" for m in ("7x96-160", "vgg-32", "7x96-3585", "vgg-717")
                       for s in ("+leaf", "+leaf-random"))]


@pytest.fixture
def tiny_csv(tmp_path):
    """2 classes x 4 clips of 1 s at 22 050 Hz, two folds, listed in a CSV with a fold column."""
    rows = ["path,label,fold"]
    for c, label in enumerate(("calm", "loud")):
        (tmp_path / "audio" / label).mkdir(parents=True)
        for k in range(4):
            y = music_like(1.0, 22050, seed=10 * c + k) * (0.1 + 0.8 * c)
            sf.write(tmp_path / "audio" / label / f"{k}.wav", y, 22050)
            rows.append(f"audio/{label}/{k}.wav,{label},{1 + k % 2}")
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("family, names", [("paper", PAPER), ("samplecnn", SAMPLECNN),
                                           ("leaf", LEAF), ("mfcc", ["mfcc"])])
def test_each_family_on_a_csv_dataset(tiny_csv, family, names):
    dataset = matrix_dataset(tiny_csv)
    configs = matrix_configs(dataset, (family,), standardize=(False, True))
    assert list(configs) == [f"{n}_{clf}{z}" for n in names for z in ("", "_z")
                             for clf in ("SVM", "ELM")]
    for exp, fields in configs.items():
        cfg = Config.from_dict(fields)
        assert (cfg.dataset, cfg.audio_path, cfg.fix_length_by) == ("csv", str(tiny_csv),
                                                                    "repeat-pad")
        assert cfg.standardize == exp.endswith("_z") and cfg.experiment_name == f"tiny_{exp}"
        assert cfg.model_type == exp.split("_")[-2 if cfg.standardize else -1]
    if family == "leaf":
        random = Config.from_dict(configs["vgg-32+leaf-random_SVM"])
        assert (random.architecture, random.num_filters, random.input_representation,
                random.filterbank_init) == ("cnn_small_filters", 32, "leaf", "random")
        assert Config.from_dict(configs["7x96-3585+leaf_SVM"]).filterbank_init == "mel"
        assert Config.from_dict(configs["sincnet_plus_SVM"]).architecture == "sincnet_plus"


def test_samplecnn_variants_are_the_aggregations_at_about_120_features(tiny_csv):
    configs = matrix_configs(matrix_dataset(tiny_csv), ("samplecnn",), sizes=("small",),
                             classifiers=("SVM",))
    for name, length in SAMPLECNN_SMALL.items():
        cfg = Config.from_dict(configs[f"{name}_SVM"])
        assert int(build_extractor(cfg, 0).output.shape[-1]) == length, name
    by_name = {n: Config.from_dict(configs[f"{n}_SVM"]) for n in SAMPLECNN_SMALL}
    assert [by_name[n].levels for n in SAMPLECNN_SMALL] == [3, 1, 3, 3, 1]
    assert [len(scale) for scale in by_name["samplecnn_scales-2"].scales] == [6, 10, 7]
    assert (by_name["samplecnn_12k-5"].sampling_rate, by_name["samplecnn-5"].sampling_rate) == (
        12000, 22050)


def test_families_select_families_and_front_ends(tiny_csv, capsys):
    assert parse_families(" mfcc, 7x96,,samplecnn_last ") == ("mfcc", "7x96", "samplecnn_last")
    dataset = matrix_dataset(tiny_csv, kind="audio")
    picked = matrix_configs(dataset, ("7x96", "timbral+time", "samplecnn_last", "mfcc"),
                            classifiers=("SVM",))
    assert list(picked) == ["7x96-160_SVM", "timbral+time-4_SVM", "samplecnn_last-15_SVM",
                            "mfcc_SVM", "7x96-3585_SVM", "timbral+time-128_SVM",
                            "samplecnn_last-438_SVM"]
    assert picked["timbral+time-4_SVM"]["architecture"] == "cnn_audio"

    status = main(["reproduce", "--data", str(tiny_csv), "--families", "mfcc,nope", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert ("unknown family or front-end 'nope'; valid: families paper, samplecnn, leaf, mfcc;"
            in err)
    assert "7x96+leaf-random" in err and "samplecnn_12k_last" in err
    assert main(["reproduce", "--data", str(tiny_csv), "--audio-root", "x"]) == 2
    assert "--audio-root is for --dataset" in capsys.readouterr().err
    assert main(["reproduce", "--dataset", "gtzan", "--audio-root", "x", "--families", "mfcc"]) == 2
    assert "--families is for --data" in capsys.readouterr().err
    assert main(["reproduce", "--data", str(tiny_csv.parent / "missing.csv")]) == 2
    assert "missing.csv: no such dataset CSV or folder" in capsys.readouterr().err


def test_a_tiny_matrix_runs_compares_and_resumes(tiny_csv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "matrix"
    command = ["reproduce", "--data", str(tiny_csv), "--families", "mfcc,7x96", "--size", "small",
               "--classifier", "SVM", "--standardize", "both", "--seeds", "1", "--out", str(out),
               "--quiet"]
    calls = count_work(monkeypatch)
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "7x96 (160) SVM" in printed and "MFCCs (120) SVM" in printed
    assert "Pairwise t-tests" in printed
    root = out / "tiny"
    exps = ["7x96-160_SVM", "7x96-160_SVM_z", "mfcc_SVM", "mfcc_SVM_z"]
    assert sorted(p.name for p in (root / "results").iterdir()) == exps
    assert calls["evaluated"] == 4 and calls["computed"] == [8, 0, 8, 0]  # z reuses the raw store
    for exp in exps:
        result = json.loads((root / "results" / exp / "results.json").read_text())
        assert result["protocol"] == "predefined_folds" and result["per_seed"][0]["n_folds"] == 2
        assert result["config"]["standardize"] == exp.endswith("_z")
    table = (root / "matrix.md").read_text()
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|.* SVM \[", line)]
    assert len(rows) == 4 and sum("predefined_folds +std" in row for row in rows) == 2
    assert any("7x96 (160) SVM [7x96-160_SVM_z]" in row and "+std" in row for row in rows)
    assert (root / "matrix.png").stat().st_size > 5000

    # the matrix's MFCC experiment is `elmarc run` of the same config written by hand
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(dict(dataset="csv", audio_path=str(tiny_csv),
                                          features_type="MFCC", fix_length_by="repeat-pad")))
    assert main(["run", str(config), "--seeds", "1", "--out", str(tmp_path / "r"),
                 "--features-out", str(root / "features"), "--quiet"]) == 0
    mine = json.loads((tmp_path / "r" / "mine" / "results.json").read_text())
    theirs = json.loads((root / "results" / "mfcc_SVM" / "results.json").read_text())
    assert mine["per_seed"][0]["store"] == theirs["per_seed"][0]["store"]
    assert mine["accuracies"] == theirs["accuracies"]

    seeds_before = file_times(root / "results", "seed*.json")
    stores_before = file_times(root / "features")
    calls.update(evaluated=0, computed=[])
    capsys.readouterr()
    assert main(command) == 0  # a rerun: nothing computed, the same table
    assert calls == {"evaluated": 0, "computed": []}
    assert file_times(root / "results", "seed*.json") == seeds_before
    assert file_times(root / "features") == stores_before
    assert (root / "matrix.md").read_text() == table
