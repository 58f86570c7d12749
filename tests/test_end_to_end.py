"""From an audio file to stored features, every spectrogram front-end and every fix_length_by,
against an independent chain: librosa's kaiser_best resampling and log-mel with the authors'
settings, the length fixed by hand, then the NumPy reference of the network."""

import librosa
import numpy as np
import pytest
import soundfile as sf
import yaml

import numpy_reference
from conftest import music_like
from elmarc_tf import Config, build_extractor
from elmarc_tf.cli import main
from elmarc_tf.extraction.store import load_store
from elmarc_tf.models.tf1_weights import original_variables

# Small filter counts; the fewest frames each front-end allows (VGG's pools need 1280).
ARCHITECTURES = {
    "cnn_small_filters": dict(architecture="cnn_small_filters", num_filters=4, n_frames=1280),
    "7x96": dict(architecture="7x96", num_filters=6, n_frames=60, selected_features_list=[0, 1]),
    "7x86": dict(architecture="7x86", num_filters=6, n_frames=60, selected_features_list=[0, 1]),
    "cnn_music": dict(architecture="cnn_music", num_filters=4, n_frames=60, selected_features_list=[0, 1]),
    "cnn_audio": dict(architecture="cnn_audio", num_filters=4, n_frames=60, selected_features_list=[0, 1]),
}
# Per frame count: a clip longer than n_frames (44.1 kHz stereo) and a shorter one (22.05 kHz).
CLIP_SECONDS = {1280: (27.5, 4.0), 60: (2.0, 0.6)}


def authors_logmel(path) -> np.ndarray:
    """The original compute_input: librosa.load at 12 kHz with the authors' resampler
    (kaiser_best), melspectrogram(n_fft 512, hop 256, 96 bands, fmax 6 kHz, power 2, reflect
    padding as librosa <= 0.5), logamplitude = power_to_db(ref 1, amin 1e-10, top_db 80) of the
    whole clip, transposed: (frames, 96)."""
    y, _ = librosa.load(path, sr=12000, mono=True, res_type="kaiser_best")
    mel = librosa.feature.melspectrogram(y=y, sr=12000, n_fft=512, hop_length=256, n_mels=96,
                                         fmin=0.0, fmax=6000.0, power=2, pad_mode="reflect")
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T


def fixed_by_hand(logmel: np.ndarray, n_frames: int, mode: str):
    """As the original: a longer input is cropped; a shorter one zero-padded (0 dB), repeated
    (whole copies, then cropped), or refused (crop: None)."""
    if len(logmel) >= n_frames:
        return logmel[:n_frames]
    if mode == "zero-pad":
        return np.concatenate([logmel, np.zeros((n_frames - len(logmel), logmel.shape[1]))])
    if mode == "repeat-pad":
        copies = [logmel] * (n_frames // len(logmel) + 1)
        return np.concatenate(copies)[:n_frames]
    return None


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """{n_frames: (audio folder, {file name: the authors' log-mel})}."""
    out = {}
    for n_frames, (long_s, short_s) in CLIP_SECONDS.items():
        root = tmp_path_factory.mktemp(f"audio{n_frames}")
        (root / "a").mkdir()
        (root / "b").mkdir()
        long = music_like(long_s, 44100, seed=n_frames)
        sf.write(root / "a" / "long.wav", np.stack([long, 0.5 * long[::-1]], axis=1), 44100)
        sf.write(root / "b" / "short.wav", music_like(short_s, 22050, seed=n_frames + 1), 22050)
        out[n_frames] = root, {p.name: authors_logmel(p) for p in root.rglob("*.wav")}
    return out


@pytest.mark.parametrize("mode", ["crop", "zero-pad", "repeat-pad"])
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_elmarc_extract_from_files_equals_the_authors_chain(clips, tmp_path, capsys, name, mode):
    """Tolerance: float32 decoding, log-mel and network against librosa and float64 NumPy;
    measured up to 1.3e-5 of the largest feature (VGG), 5e-7 for the single-layer models;
    rtol 1e-4 plus 1e-4 of the largest feature."""
    fields = {**ARCHITECTURES[name], "fix_length_by": mode, "res_type": "kaiser_best"}
    root, logmels = clips[fields["n_frames"]]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**fields, "audio_path": str(root), "dataset": "e2e"}))
    code = main(["extract", str(config), "--seed", "7", "--out", str(tmp_path / "out"), "--quiet"])
    expected_inputs = {f: fixed_by_hand(m, fields["n_frames"], mode) for f, m in logmels.items()}
    assert code == (1 if mode == "crop" else 0)  # crop refuses the short clip: recorded, exit 1
    [manifest] = list((tmp_path / "out").rglob("manifest.json"))
    X, _, ids, meta = load_store(manifest.parent)
    assert sorted(i.split("/")[-1] for i in ids) == sorted(f for f, x in expected_inputs.items()
                                                           if x is not None)
    assert [f["path"].endswith("short.wav") for f in meta["failures"]] == ([True] if mode == "crop" else [])

    cfg = Config(**fields)
    weights = original_variables(build_extractor(cfg, seed=7))
    for row, clip_id in zip(X, ids):
        x = expected_inputs[clip_id.split("/")[-1]][None]
        ref = numpy_reference.features(cfg.architecture, weights, x, cfg.to_dict())[0]
        np.testing.assert_allclose(row, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(), err_msg=clip_id)
        assert np.abs(ref).max() > 0
    capsys.readouterr()
