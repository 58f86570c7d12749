"""Protocols, multi-seed runs, comparison statistics and the paper's config matrix."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, ParameterGrid, PredefinedSplit, StratifiedKFold
from sklearn.svm import SVC

from elmarc_tf import Config, ConfigError
from elmarc_tf.evaluation.protocols import Protocol, choose_protocol, evaluate
from elmarc_tf.studies.report import compare, pairwise_ttests

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


def badly_scaled(toy):
    """The toy data with features on scales from 1 to 50: unscaled, z-scored inside each
    training fold and z-scored on all the data give three different estimates (0.70, 0.79, 0.80)."""
    X, y = toy
    return X * np.linspace(1, 50, X.shape[1]), y


def mean_fold_accuracy(X, y, params, folds, standardize=False):
    """An SVC with ``params`` over ``folds`` ((train, test) index pairs): mean test accuracy; with
    ``standardize``, z-scored by the mean and (population) std of the training rows only."""
    scores = []
    for train, test in folds:
        Xtr, Xte = X[train], X[test]
        if standardize:
            mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
            sd[sd == 0] = 1.0
            Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        scores.append(SVC(**params).fit(Xtr, y[train]).score(Xte, y[test]))
    return float(np.mean(scores))


def best_by_hand(X, y, grid, folds, standardize=False):
    """The grid point with the best mean fold accuracy (the first one on ties), and that mean."""
    scored = [(mean_fold_accuracy(X, y, params, folds, standardize), k, params)
              for k, params in enumerate(ParameterGrid(grid))]
    best = max(scored, key=lambda s: (s[0], -s[1]))
    return best[2], best[0]


def test_standardize_fits_the_scaler_inside_each_training_fold_only(toy):
    X, y = badly_scaled(toy)
    rbf = GRID[:1]
    folds = list(StratifiedKFold(n_splits=5).split(X, y))
    params, accuracy = best_by_hand(X, y, rbf, folds, standardize=True)
    scaled = evaluate(X, y, SVC(), rbf, protocol=Protocol(n_folds=5, standardize=True))
    assert scaled["standardize"] is True and not scaled["nested"]
    assert scaled["accuracy"] == pytest.approx(accuracy) and scaled["best_params"] == params
    # the comparison can tell: a scaler fitted on all the data, or none, gives other estimates
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    assert best_by_hand(z, y, rbf, folds)[1] != pytest.approx(accuracy)
    plain = evaluate(X, y, SVC(), rbf, protocol=Protocol(n_folds=5))
    assert plain["accuracy"] == pytest.approx(best_by_hand(X, y, rbf, folds)[1]) != accuracy


def test_nested_cv_is_an_outer_loop_around_a_grid_search_on_its_training_part(toy):
    """Outer: 5 stratified shuffled folds (seed 0); inner: the grid searched by 5-fold CV on the
    outer training part only, the best refit on it, scored on the outer test fold."""
    X, y = badly_scaled(toy)
    rbf = GRID[:1]
    outer = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y)
    by_hand = []
    for train, test in outer:
        inner = list(StratifiedKFold(n_splits=5).split(X[train], y[train]))
        params, _ = best_by_hand(X[train], y[train], rbf, inner)
        by_hand.append(SVC(**params).fit(X[train], y[train]).score(X[test], y[test]))
    nested = evaluate(X, y, SVC(), rbf, protocol=Protocol(n_folds=5, nested=True, seed=0))
    plain = evaluate(X, y, SVC(), rbf, protocol=Protocol(n_folds=5))
    assert nested["nested"] is True
    np.testing.assert_allclose(nested["fold_accuracies"], by_hand, rtol=1e-12)
    assert nested["accuracy"] == pytest.approx(np.mean(by_hand))
    assert nested["best_score_cv"] == pytest.approx(plain["accuracy"])
    assert sum(map(sum, nested["confusion_matrix"])) == len(y)  # every clip predicted once


def test_choose_protocol_and_errors():
    assert choose_protocol(["train", "val", "test"], [None] * 3) == "predefined_split"
    assert choose_protocol([None] * 2, [1, 2]) == "predefined_folds"
    assert choose_protocol([None], [None]) == "stratified_kfold"
    with pytest.raises(ConfigError, match="needs 'train', 'val' and 'test'"):
        evaluate(np.zeros((4, 2)), np.array([0, 1, 0, 1]), SVC(), GRID,
                 splits=np.array(["train", "train", "val", "val"]),
                 protocol=Protocol(name="predefined_split"))


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

    from elmarc_tf.studies.paper import DATASETS, paper_configs

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


# The paper's matrix as facts (Section 3 and design.md's table), written out here, not taken from
# elmarc_tf.studies.paper: per experiment, the front-end, its taps and its feature length (~120 / ~3500).
PAPER_MATRIX = {  # name -> (architecture, filter shape or None, selected taps, feature length)
    "sample_level-23": ("sample_level", None, None, 161),
    "sample_level-512": ("sample_level", None, None, 3584),
    "frame_level-40": ("frame_level", None, None, 160),
    "frame_level-896": ("frame_level", None, None, 3584),
    "frame_level_many-20": ("frame_level_many", None, None, 160),
    "frame_level_many-448": ("frame_level_many", None, None, 3584),
    "7x96-160": ("cnn_single", (7, 96), (1,), 160),  # the pooled tap, as the paper
    "7x96-3585": ("cnn_single", (7, 96), (1,), 3585),
    "7x86-160": ("cnn_single", (7, 86), (1,), 160),
    "7x86-3585": ("cnn_single", (7, 86), (1,), 3585),
    "timbral-8": ("{music}", None, (0,), 112),
    "timbral-256": ("{music}", None, (0,), 3584),
    "{temporal}-8": ("{music}", None, (1,), 112),
    "{temporal}-256": ("{music}", None, (1,), 3584),
    "timbral+{temporal}-4": ("{music}", None, (0, 1), 112),
    "timbral+{temporal}-128": ("{music}", None, (0, 1), 3584),
    "vgg-32": ("cnn_small_filters", None, None, 160),
    "vgg-717": ("cnn_small_filters", None, None, 3585),
    "mfcc": ("mfcc", None, None, 120),  # 20 MFCCs, deltas, double deltas: mean and std
}
PAPER_DATASETS = {  # GTZAN: fault-filtered split lists; Extended Ballroom: 10 stratified folds;
    # UrbanSound8K: its own 10 folds, short clips repeated, timbral + *time* (cnn_audio)
    "gtzan": dict(dataset="GTZAN", lists=("train_filtered.txt", "valid_filtered.txt",
                                          "test_filtered.txt"), fix="crop", music="cnn_music",
                  temporal="temporal"),
    "extended_ballroom": dict(dataset="ExtendedBallroom", lists=None, fix="crop", music="cnn_music",
                              temporal="temporal"),
    "urbansound8k": dict(dataset="UrbanSound8K", lists=None, fix="repeat-pad", music="cnn_audio",
                         temporal="time"),
}


@pytest.mark.parametrize("dataset", sorted(PAPER_DATASETS))
def test_paper_configs_say_what_the_paper_says(dataset):
    import yaml

    from elmarc_tf import build_extractor
    from elmarc_tf.frontends import frontend_of

    facts = PAPER_DATASETS[dataset]
    files = {p.stem: p for p in (Path(__file__).resolve().parents[1] / "configs" / dataset).glob("*.yaml")}
    expected = {f"{name.format(temporal=facts['temporal'])}_{clf}": (name, clf)
                for name in PAPER_MATRIX for clf in ("SVM", "ELM")}
    assert set(files) == set(expected)
    lengths = {}
    for stem, (name, clf) in expected.items():
        cfg = Config.from_dict(yaml.safe_load(files[stem].read_text()))
        arch, filter_shape, taps, length = PAPER_MATRIX[name]
        assert cfg.model_type == clf and cfg.dataset == facts["dataset"], stem
        assert frontend_of(cfg).name == arch.format(music=facts["music"]), stem
        if filter_shape:
            assert tuple(cfg.filter_shape) == filter_shape, stem
        if taps:
            assert tuple(cfg.selected_features_list) == taps, stem
        lists = (cfg.train_set_list, cfg.val_set_list, cfg.test_set_list)
        if facts["lists"]:
            assert tuple(Path(p).name for p in lists) == facts["lists"], stem
        else:
            assert lists == (None, None, None) and not cfg.audios_list, stem
        assert cfg.fix_length_by == facts["fix"] and cfg.sampling_rate == 12000, stem
        if arch != "mfcc":  # ~29 s inputs: 1376 x 96 log-mel frames, 350 000 samples at 12 kHz
            assert (cfg.n_frames, cfg.n_mels) == (1376, 96) if cfg.signal == "spectrogram" \
                else cfg.n_samples == 350000, stem
        else:
            assert (cfg.mfcc_number, cfg.mfcc_fixed_length) == (20, 2048), stem
        built = cfg.replace(model_type="SVM", experiment_name="v0")  # built once per front-end
        if built not in lengths:
            lengths[built] = build_extractor(built).output.shape[-1]
        assert lengths[built] == length, stem


def test_original_config_file_is_parsed_not_executed(tmp_path):
    from elmarc_tf.studies.study import read_original_config

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
