"""The embedded demo: a small synthetic dataset, several front-ends, an SVM, a ranked table.

Four classes, two pairs that a random CNN should tell apart for different reasons:
``slow_beat`` / ``fast_beat`` differ in tempo (same drum sounds), ``bright_tone`` / ``dark_tone``
differ in timbre (same melodic process, different pitch range and spectral envelope). Clips are
30 s, 22.05 kHz stereo WAV files in a class-per-folder layout (so decoding, down-mixing and
resampling to 12 kHz are exercised), generated deterministically from a seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from ..evaluation.classifiers import SVM_PARAM_GRID
from ..config import DEFAULT_SVM_MAX_ITER, Config
from ..datasets import folder_per_class
from ..extraction.extract import extract
from ..extraction.options import RunOptions
from ..io.fileio import atomic_write_json
from .report import bar_chart, compare, format_table, load_results
from ..extraction.store import load_store
from ..evaluation.svm_grid import SVMGridSearch
from .study import run_experiment

DEMO_CLASSES = ("slow_beat", "fast_beat", "bright_tone", "dark_tone")
DEMO_SR = 22050

# (label, config fields): one waveform and four spectrogram front-ends at the paper's small
# sizes, Lee et al. 2018's 3⁹-SampleCNN over whole clips at the same size (120 features, 22 050 Hz),
# plus the MFCC baseline.
DEMO_MODELS = [
    ("sample_level-23", dict(architecture="sample_level", num_filters=23, n_samples=350000)),
    ("samplecnn-5", dict(architecture="samplecnn", num_filters=5)),
    ("7x96-160", dict(architecture="7x96", num_filters=160, n_frames=1376)),
    ("7x86-160", dict(architecture="7x86", num_filters=160, n_frames=1376)),
    ("timbral+temporal-4", dict(architecture="cnn_music", num_filters=4, n_frames=1376)),
    ("vgg-32", dict(architecture="vgg", num_filters=32, n_frames=1376)),
    ("mfcc", dict(features_type="MFCC")),
]


def _drums(rng, n, sr, bpm):
    """Kick + noise-snare pattern at ``bpm`` with a little timing jitter."""
    y = np.zeros(n)
    beat = 60.0 / bpm
    t_kick = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t_kick * 30)) * t_kick) * np.exp(-t_kick * 12)
    snare = rng.standard_normal(int(0.15 * sr)) * np.exp(-np.arange(int(0.15 * sr)) / (0.03 * sr))
    t, k = rng.uniform(0, beat), 0
    while t < n / sr - 0.3:
        start = int((t + rng.normal(0, 0.004)) * sr)
        sound = kick if k % 2 == 0 else 0.5 * snare
        y[max(start, 0): max(start, 0) + len(sound)] += sound[: n - max(start, 0)]
        t, k = t + beat, k + 1
    return y


def _melody(rng, n, sr, f0_range, n_harmonics, rolloff):
    """Notes of random pitch and length from a harmonic source with a given spectral envelope."""
    y = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.2, 0.8) * sr), n - pos)
        f0 = rng.uniform(*f0_range)
        t = np.arange(length) / sr
        note = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h**rolloff
                   for h in range(1, n_harmonics + 1) if h * f0 < 5500)
        env = np.minimum(1, t / 0.02) * np.exp(-t * rng.uniform(1, 4))
        y[pos: pos + length] += note * env
        pos += length
    return y


def synth_clip(label: str, seed: int, seconds: float = 30.0, sr: int = DEMO_SR) -> np.ndarray:
    """One deterministic stereo clip ``(n_samples, 2)`` float32 of class ``label``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    # Every clip has drums and a melody; the class fixes one of them, the other is random and
    # quieter, so each pair of classes differs in one aspect only.
    any_tempo = lambda: _drums(rng, n, sr, rng.uniform(70, 160))
    any_timbre = lambda: _melody(rng, n, sr, (120, 700), int(rng.integers(2, 10)), rng.uniform(0.8, 2.0))
    if label == "slow_beat":
        y = _drums(rng, n, sr, rng.uniform(70, 105)) + 0.3 * any_timbre()
    elif label == "fast_beat":
        y = _drums(rng, n, sr, rng.uniform(115, 160)) + 0.3 * any_timbre()
    elif label == "bright_tone":
        y = _melody(rng, n, sr, (300, 800), 10, 0.9) + 0.3 * any_tempo()
    elif label == "dark_tone":
        y = _melody(rng, n, sr, (100, 350), 4, 1.7) + 0.3 * any_tempo()
    else:
        raise ValueError(f"unknown demo class {label!r}")
    y = y / (np.abs(y).max() + 1e-9)
    y = y + 0.05 * rng.standard_normal(n)
    y = 0.5 * y / (np.abs(y).max() + 1e-9) * rng.uniform(0.5, 1.0)
    stereo = np.stack([y, y * rng.uniform(0.7, 1.0)], axis=1)
    return stereo.astype(np.float32)


def make_demo_dataset(root, clips_per_class: int = 8, seconds: float = 30.0, seed: int = 0) -> Path:
    """Write ``root/<class>/<class>.000NN.wav``; existing files are kept (deterministic anyway)."""
    root = Path(root)
    for c, label in enumerate(DEMO_CLASSES):
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_class):
            path = root / label / f"{label}.{k:05d}.wav"
            if not path.exists():
                tmp = path.with_suffix(".tmp.wav")
                sf.write(tmp, synth_clip(label, seed * 100000 + c * 1000 + k, seconds), DEMO_SR)
                tmp.replace(path)
    return root


def run_demo_experiments(models, out, clips_per_class: int = 8, classifiers=("SVM", "ELM"),
                         seeds=range(3), n_folds: int = 5, progress: bool = False,
                         log=print) -> list[Path]:
    """``elmarc run`` of each ``(name, config fields)`` of ``models`` with each classifier on the
    demo data (made in ``out/audio``), ``seeds`` random-weight seeds each, under ``n_folds``-fold
    stratified cross-validation (the demo's 8 clips per class are too few for the paper's 10).
    Results go to ``out/results/<name>_<classifier>`` (stores, decoded audio and finished seeds
    under ``out`` are reused: a rerun computes nothing); returns those folders, in order."""
    out = Path(out)
    audio = make_demo_dataset(out / "audio", clips_per_class)
    items = folder_per_class(audio)
    folders = []
    for name, fields in models:
        for clf in classifiers:
            cfg = Config(dataset="demo", audio_path=str(audio), model_type=clf, n_folds=n_folds,
                         **fields)
            run_experiment(cfg, seeds=seeds, out=out / "results", name=f"{name}_{clf}",
                           items=items, features_out=out / "features",
                           run=RunOptions(progress=progress, log=log,
                                          audio_cache=out / "audio_cache"))
            folders.append(out / "results" / f"{name}_{clf}")
    return folders


def demo_study_arguments(description: str, out: str, docs: Path, argv=None) -> argparse.Namespace:
    """The options every demo-study script takes: ``--out`` (audio, stores, finished seeds and
    results, kept so that a rerun only redraws; default ``elmarc_out/<out>``), ``--docs`` (where
    the chart and tables go; default ``docs``), ``--clips-per-class``, ``--progress``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path("elmarc_out") / out)
    parser.add_argument("--docs", type=Path, default=docs)
    parser.add_argument("--clips-per-class", type=int, default=8)
    parser.add_argument("--progress", action="store_true")
    return parser.parse_args(argv)


def demo_study(models, args: argparse.Namespace, stem: str, title: str,
               classifiers=("SVM", "ELM"), seeds=range(3), n_folds: int = 5):
    """:func:`run_demo_experiments` of ``models`` with the options of
    :func:`demo_study_arguments`, then :func:`~elmarc_tf.studies.report.compare` of their results into
    ``<docs>/<stem>.png`` and ``<docs>/<stem>.md`` under ``title`` (followed by the seeds, folds
    and clips per class). Returns ``(result folders, compare's result)``."""
    folders = run_demo_experiments(models, args.out, args.clips_per_class, classifiers=classifiers,
                                   seeds=seeds, n_folds=n_folds, progress=args.progress)
    result = compare(load_results(folders), chart=args.docs / f"{stem}.png",
                     table=args.docs / f"{stem}.md",
                     title=f"{title}: {len(seeds)} seeds, {n_folds}-fold CV, "
                           f"{args.clips_per_class} clips per class")
    return folders, result


def evaluate_cv(X, y, folds: int = 5, seed: int = 0, progress: bool = False) -> dict:
    """SVM grid search under stratified k-fold CV; the best grid point's mean accuracy.

    The numbers of ``GridSearchCV(SVC(max_iter=DEFAULT_SVM_MAX_ITER), SVM_PARAM_GRID, cv)``, fitted
    on precomputed kernels (:mod:`elmarc_tf.evaluation.svm_grid`).
    """
    cv = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y))
    search = SVMGridSearch(X, y, SVC(max_iter=DEFAULT_SVM_MAX_ITER), progress=progress,
                           desc="SVM grid")
    [found] = search.search_many(SVM_PARAM_GRID, [cv])
    scores = found.scores[found.best_index]
    std = np.sqrt(np.average((scores - found.best_score) ** 2))  # GridSearchCV's std_test_score
    return {"accuracy": found.best_score, "std": float(std), "best_params": found.best_params,
            "n_capped_fits": search.report()["n_capped_fits"]}


def run_demo(out="elmarc_out/demo", clips_per_class: int = 8, seed: int = 0,
             progress: bool = True, log=print) -> dict:
    """Generate the data, extract every demo model, classify, print and save the ranking."""
    out = Path(out)
    audio = make_demo_dataset(out / "audio", clips_per_class, seed=seed)
    items = folder_per_class(audio)
    log(f"demo data: {len(items)} clips of {len(DEMO_CLASSES)} classes in {audio}")
    rows = []
    for name, fields in DEMO_MODELS:
        cfg = Config(dataset="demo", audio_path=str(audio), **fields)
        result = extract(cfg, items, seed=seed, out=out / "features",
                         run=RunOptions(progress=progress))
        X, y, _, manifest = load_store(result.folder)
        scores = evaluate_cv(X, y, seed=seed)
        rows.append({"model": name, "features": X.shape[1], **scores})
    rows.sort(key=lambda r: -r["accuracy"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["acc"] = f"{row['accuracy']:.3f} ± {row['std']:.3f}"
    table = format_table(rows, [("rank", "#"), ("model", "model"), ("features", "dim"),
                                ("acc", "accuracy (5-fold CV)"), ("best_params", "best SVM")])
    log("\n" + table + "\n")
    for row in rows:
        if row["n_capped_fits"]:
            log(f"{row['model']}: {row['n_capped_fits']} SVM fits stopped at "
                f"{DEFAULT_SVM_MAX_ITER} iterations")
    chart = bar_chart([r["model"] for r in rows], [r["accuracy"] for r in rows], out / "demo.png",
                      stds=[r["std"] for r in rows], title="elmarc demo: random CNN features + SVM")
    results = out / "demo_results.json"
    atomic_write_json(results, [{k: v for k, v in r.items() if k != "acc"} for r in rows])
    log(f"results: {results}\nchart:   {chart}\nfeatures: {out / 'features'}")
    return {"rows": rows, "chart": chart, "results": results}
