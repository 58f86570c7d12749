import pytest

from conftest import SMALL
from elmarc_tf import Config, ConfigError, FRONTENDS
from elmarc_tf.config import shared_fields


def test_from_original_nested_dict_flattens_cnn_and_mfcc():
    original = {
        "experiment_name": "v0", "features_type": "CNN", "model_type": "SVM", "SVM_verbose": 1,
        "load_extracted_features": False, "sampling_rate": 12000, "dataset": "GTZAN",
        "audio_path": "/data/GTZAN/", "audios_list": False, "fix_length_by": "crop",
        "CNN": {"signal": "waveform", "n_samples": 350000, "architecture": "sample_level",
                "num_filters": 512, "selected_features_list": [0, 1, 2, 3, 4, 5, 6], "batch_size": 5},
        "MFCC": {"number": 20, "fixed_length": 2048},
    }
    cfg = Config.from_original(original)
    assert cfg.architecture == "sample_level" and cfg.num_filters == 512
    assert cfg.selected_features_list == (0, 1, 2, 3, 4, 5, 6)
    assert cfg.mfcc_number == 20 and cfg.dataset == "GTZAN"
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_is_an_error_naming_the_key_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'num_filter'.*'num_filters'"):
        Config.from_dict({"architecture": "vgg", "n_frames": 1376, "num_filter": 32})


@pytest.mark.parametrize("alias,canonical,filt,pool", [
    ("7x96", "cnn_single", (7, 96), (1, 1)),
    ("7x86", "cnn_single", (7, 86), (1, 11)),
    ("vgg", "cnn_small_filters", None, None),
    ("timbral_temporal", "cnn_music", None, None),
    ("timbral_time", "cnn_audio", None, None),
])
def test_aliases_resolve_to_original_names_and_presets(alias, canonical, filt, pool):
    cfg = Config(architecture=alias, n_frames=1376, num_filters=32)
    assert cfg.architecture == canonical
    assert cfg.filter_shape == filt and cfg.pool_shape == pool


def test_defaults_follow_the_paper():
    single = Config(architecture="7x96", n_frames=100, num_filters=160)
    assert single.selected_features_list == (1,)  # the paper uses the pool tap only
    assert Config(architecture="frame_level", n_samples=350000).selected_features_list == (0, 1, 2, 3)
    assert single.signal == "spectrogram"


@pytest.mark.parametrize("changes,key", [
    (dict(architecture="resnet"), "unknown architecture 'resnet'"),
    (dict(architecture="cnn_music", num_filters=6), "'num_filters'=6 must be divisible by 4"),
    (dict(architecture="cnn_single", filter_shape=[7, 120], pool_shape=[1, 1]), "'filter_shape'.*taller"),
    (dict(architecture="cnn_single"), "'filter_shape' is required"),
    (dict(architecture="cnn_small_filters", n_frames=1000), "'n_frames'=1000 is too short.*1280"),
    (dict(architecture="7x86", pool_shape=[1, 12]), "'pool_shape'.*larger"),
    (dict(architecture="vgg", selected_features_list=[0, 5]), "'selected_features_list' has \\[5\\]"),
    (dict(architecture="vgg", signal="waveform"), "'signal' is 'waveform'"),
    (dict(architecture="vgg", fix_length_by="trim"), "'fix_length_by' must be one of"),
    (dict(architecture="vgg", num_filters=0), "'num_filters' must be a positive integer"),
    (dict(architecture="vgg", n_frames=None), "'n_frames' is required"),
])
def test_impossible_values_fail_naming_the_key(changes, key):
    with pytest.raises(ConfigError, match=key):
        Config(**{"n_frames": 1376, **changes})


@pytest.mark.parametrize("arch,n,msg", [
    ("sample_level", 2186, "needs at least 2187 samples"),
    ("frame_level", 735, "needs at least 736 samples"),
    ("frame_level_many", 224, "needs at least 225 samples"),
])
def test_waveform_inputs_too_short_for_the_pooling_chain(arch, n, msg):
    with pytest.raises(ConfigError, match=msg):
        Config(architecture=arch, n_samples=n)
    Config(architecture=arch, n_samples=n + 1)  # one more sample is enough


def test_yaml_file_round_trip_and_errors_name_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("architecture: cnn_music\nnum_filters: 8\nn_frames: 188\n"
                    "selected_features_list: [1]\n")
    cfg = Config.from_file(path)
    assert (cfg.architecture, cfg.num_filters, cfg.selected_features_list) == ("cnn_music", 8, (1,))
    bad = tmp_path / "bad.yaml"
    bad.write_text("architecture: cnn_music\nn_frame: 188\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'n_frame'"):
        Config.from_file(bad)
    with pytest.raises(ConfigError, match=r"missing.yaml: cannot read"):
        Config.from_file(tmp_path / "missing.yaml")


LEAF_FAMILY = ["leaf", "sincnet", "sincnet_plus", "tdfbanks", "mel_tf", "pcen_mel"]


def test_registry_has_the_seven_architectures_and_the_mfcc_baseline():
    assert set(FRONTENDS) == {"cnn_small_filters", "cnn_single", "cnn_music", "cnn_audio",
                              "sample_level", "frame_level", "frame_level_many", "mfcc",
                              "samplecnn",  # + Lee et al. 2018's mⁿ-SampleCNN
                              *LEAF_FAMILY}  # the LEAF family alone (seeded only when random)
    assert [name for name, spec in FRONTENDS.items() if not spec.seeded] == ["mfcc", *LEAF_FAMILY]
    assert Config(features_type="MFCC").frontend == "mfcc"
    assert Config(architecture="7x96", num_filters=4, n_frames=10).frontend == "cnn_single"


# ------------------------------------------------------------------ keys that do nothing
# (config, the key that does nothing for it): each would only give identical features a new store
# (or, for the patch key, a training identical to one without it).
IGNORED_KEYS = [
    (dict(architecture="vgg", n_frames=1376, train_patch_samples=36000), "train_patch_samples"),
    (dict(architecture="7x96", n_frames=100, train_patch_samples=36000), "train_patch_samples"),
    (dict(architecture="leaf", num_filters=64), "num_filters"),
    (dict(architecture="leaf", n_frames=1376), "n_frames"),
    (dict(architecture="leaf", n_samples=350000), "n_samples"),
    (dict(architecture="pcen_mel", n_samples=350000), "n_samples"),
    (dict(architecture="samplecnn", n_frames=1376), "n_frames"),
]


@pytest.mark.parametrize("fields,key", IGNORED_KEYS, ids=[f"{f['architecture']}-{k}"
                                                          for f, k in IGNORED_KEYS])
def test_a_key_that_does_nothing_for_the_front_end_is_a_one_line_error_naming_it(fields, key):
    with pytest.raises(ConfigError, match=f"^'{key}' does not apply to architecture "
                                          f"'[a-z_0-9]+': [^\n]+$"):
        Config.from_dict(fields)
    Config.from_dict({k: v for k, v in fields.items() if k != key})  # the key alone is at fault


def test_the_same_keys_where_they_do_something_are_accepted():
    assert Config(architecture="sample_level", n_samples=4400, train_patch_samples=2200) \
        .train_patch_samples == 2200
    assert Config(architecture="vgg", n_frames=1376, train_patch_frames=140).train_patch_frames == 140
    assert Config(architecture="leaf", n_mels=40).n_mels == 40


def test_defaults_filled_in_by_the_front_end_are_not_refused():
    # A validated config carries the front-end's defaults (leaf: num_filters 32, the paper's
    # default that it does not read); its dict must load again, and copies must validate.
    configs = ([Config.from_dict(fields) for fields in SMALL.values()]
               + [Config(architecture=name) for name in [*LEAF_FAMILY, "samplecnn"]]
               + [Config(features_type="MFCC")])
    assert {cfg.frontend for cfg in configs} == set(FRONTENDS)
    for cfg in configs:
        assert Config.from_dict(cfg.to_dict()) == cfg, cfg.frontend
        assert cfg.replace(experiment_name="copy").experiment_name == "copy"
    assert Config(architecture="leaf").num_filters == 32  # filled in, and ...
    assert Config(architecture="leaf", num_filters=32) == Config(architecture="leaf")  # ... equal


def test_shared_fields_keep_only_the_keys_each_front_end_reads():
    shared = dict(n_frames=1376, n_samples=350000, train_patch_frames=140,
                  train_patch_samples=36000, epochs=3)
    spectrogram = shared_fields(shared, dict(architecture="7x96", num_filters=8))
    assert "train_patch_samples" not in spectrogram and spectrogram["train_patch_frames"] == 140
    waveform = shared_fields(shared, dict(architecture="sample_level", num_filters=4))
    assert waveform == {**shared, "architecture": "sample_level", "num_filters": 4}
    alone = shared_fields(shared, dict(architecture="leaf"))
    assert {"n_frames", "n_samples"}.isdisjoint(alone) and alone["epochs"] == 3
    Config.from_dict(spectrogram), Config.from_dict(alone)
    # A key the architecture itself sets is kept, and refused when it does nothing.
    with pytest.raises(ConfigError, match="'n_frames' does not apply"):
        Config.from_dict(shared_fields(shared, dict(architecture="leaf", n_frames=1376)))
