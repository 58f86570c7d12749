"""Protocols, multi-seed runs, comparison statistics and the paper's config matrix."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.svm import SVC

from elmarc_tf import Config, ConfigError
from elmarc_tf.protocols import choose_protocol, evaluate
from elmarc_tf.report import compare, pairwise_ttests

GRID = [{"kernel": ["rbf"], "C": [0.1, 2.0], "gamma": [0.01, "auto"]}, {"kernel": ["linear"], "C": [0.1]}]


@pytest.fixture
def toy():
    X, y = make_classification(n_samples=120, n_features=12, n_informative=5, n_classes=3,
                               random_state=0)
    return X, np.array(["a", "b", "c"])[y]


def test_predefined_split_searches_on_val_refits_on_train_scores_test(toy):
    X, y = toy
    splits = np.array(["train"] * 60 + ["val"] * 30 + ["test"] * 30)
    result = evaluate(X, y, SVC(), GRID, splits=splits)
    assert result["protocol"] == "predefined_split"
    # by hand: best parameters on val among models fitted on train
    scores = {}
    for g in GRID:
        for params in __import__("sklearn.model_selection").model_selection.ParameterGrid(g):
            scores[json.dumps(params, sort_keys=True)] = SVC(**params).fit(X[:60], y[:60]).score(X[60:90], y[60:90])
    best = max(scores.values())
    assert result["val_accuracy"] == pytest.approx(best)
    model = SVC(**result["best_params"]).fit(X[:60], y[:60])
    assert result["accuracy"] == pytest.approx(model.score(X[90:], y[90:]))
    assert sum(map(sum, result["confusion_matrix"])) == 30 and result["n_test"] == 30


def test_kfold_and_predefined_folds_report_best_score(toy):
    X, y = toy
    result = evaluate(X, y, SVC(), GRID)
    assert result["protocol"] == "stratified_kfold" and result["n_folds"] == 10
    assert result["accuracy"] == pytest.approx(GridSearchCV(SVC(), GRID, cv=10).fit(X, y).best_score_)
    folds = np.arange(len(y)) % 4 + 1
    result = evaluate(X, y, SVC(), GRID, folds=folds)
    assert result["protocol"] == "predefined_folds" and len(result["fold_accuracies"]) == 4
    expected = GridSearchCV(SVC(), GRID, cv=PredefinedSplit(folds)).fit(X, y).best_score_
    assert result["accuracy"] == pytest.approx(expected)


def test_options_are_named_in_results_and_change_the_estimate(toy):
    X, y = toy
    X = X * np.linspace(1, 50, X.shape[1])  # badly scaled features
    rbf = GRID[:1]  # a linear SVM on unscaled features converges slowly
    plain = evaluate(X, y, SVC(), rbf, n_folds=5)
    scaled = evaluate(X, y, SVC(), rbf, n_folds=5, standardize=True)
    nested = evaluate(X, y, SVC(), rbf, n_folds=5, nested=True)
    assert (plain["standardize"], scaled["standardize"], nested["nested"]) == (False, True, True)
    assert scaled["accuracy"] != plain["accuracy"]
    assert len(nested["fold_accuracies"]) == 5 and nested["best_score_cv"] == pytest.approx(plain["accuracy"])
    assert nested["accuracy"] <= plain["accuracy"] + 0.1


def test_choose_protocol_and_errors():
    assert choose_protocol(["train", "val", "test"], [None] * 3) == "predefined_split"
    assert choose_protocol([None] * 2, [1, 2]) == "predefined_folds"
    assert choose_protocol([None], [None]) == "stratified_kfold"
    with pytest.raises(ConfigError, match="needs 'train', 'val' and 'test'"):
        evaluate(np.zeros((4, 2)), np.array([0, 1, 0, 1]), SVC(), GRID, protocol="predefined_split",
                 splits=np.array(["train", "train", "val", "val"]))


def test_welch_t_test_matches_a_hand_computation():
    a, b = [0.50, 0.60, 0.70], [0.80, 0.85, 0.95]
    [test] = pairwise_ttests([{"label": "A", "accuracies": a}, {"label": "B", "accuracies": b}])
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    t = (np.mean(a) - np.mean(b)) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch-Satterthwaite
    assert test["t"] == pytest.approx(t)
    assert test["p"] == pytest.approx(2 * stats.t.sf(abs(t), dof))
    assert test["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_compare_table_and_chart(tmp_path):
    summaries = [
        {"name": "x", "model": "VGG (160)", "classifier": "SVM", "feature_length": 160,
         "accuracies": [0.6, 0.62, 0.61], "mean": 0.61, "std": 0.008, "protocol": "stratified_kfold"},
        {"name": "y", "model": "MFCCs (120)", "classifier": "SVM", "feature_length": 120,
         "accuracies": [0.5, 0.52, 0.49], "mean": 0.503, "std": 0.012, "protocol": "stratified_kfold"},
    ]
    result = compare(summaries, chart=tmp_path / "c.png")
    lines = result["table"].splitlines()
    assert "VGG (160) SVM" in lines[2] and "61.00 ± 0.80" in lines[2] and "MFCCs" in lines[3]
    assert result["ttests"][0]["p"] < 0.05 and (tmp_path / "c.png").stat().st_size > 5000


def test_paper_configs_exist_as_files_and_match_the_matrix():
    import yaml

    from elmarc_tf.paper import DATASETS, paper_configs

    root = Path(__file__).resolve().parents[1] / "configs"
    for dataset in DATASETS:
        matrix = paper_configs(dataset)
        files = {p.stem: p for p in (root / dataset).glob("*.yaml")}
        assert set(files) == set(matrix)  # 9 front-ends x 2 sizes + MFCC, x SVM/ELM
        assert len(files) == 38
        for name, fields in matrix.items():
            on_disk = yaml.safe_load(files[name].read_text())
            assert on_disk == {k: v for k, v in fields.items() if k != "figure"}, name
            Config.from_dict(on_disk)
    us8k = paper_configs("urbansound8k")
    assert us8k["timbral+time-128_SVM"]["architecture"] == "cnn_audio"
    assert us8k["vgg-717_SVM"]["fix_length_by"] == "repeat-pad"


def test_original_config_file_is_parsed_not_executed(tmp_path):
    from elmarc_tf.study import read_original_config

    path = tmp_path / "config_file.py"
    path.write_text('import os\nos.system("touch pwned")\nconfig_main = {\n'
                    "    'experiment_name': 'v0', 'features_type': 'CNN', 'model_type': 'SVM',\n"
                    "    'dataset': 'GTZAN', 'audio_path': '/data/',\n"
                    "    'CNN': {'signal': 'spectrogram', 'n_mels': 96, 'n_frames': 1376,\n"
                    "            'architecture': 'cnn_small_filters', 'num_filters': 32,\n"
                    "            'selected_features_list': [0, 1, 2, 3, 4], 'batch_size': 5}}\n"
                    '"""\nDOCUMENTATION\n"""\n')
    cfg = Config.from_original(read_original_config(path))
    assert (cfg.architecture, cfg.num_filters, cfg.n_frames) == ("cnn_small_filters", 32, 1376)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    (tmp_path / "bad.py").write_text("config_main = dict(a=1)\n")
    with pytest.raises(ConfigError, match=r"bad.py:1: config_main must be a literal dict"):
        read_original_config(tmp_path / "bad.py")
