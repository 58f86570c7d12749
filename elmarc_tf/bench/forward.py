"""``elmarc bench``: how close extraction gets to this machine's limit.

All measured in one run, with the same TensorFlow build and thread settings:

- the machine's peak: GFLOP/s of a large float32 matmul (TensorFlow, TensorFlow+XLA, NumPy);
- per front-end (paper's small and large configurations, full input length; SampleCNN's on 30 s
  clips, :func:`elmarc_tf.studies.paper.bench_frontends`), each in its own
  worker process (so its memory is its own) that first re-measures the peak: analytic FLOPs of
  one clip (:mod:`elmarc_tf.models.flops`), forward-pass clips/s at the automatic batch size
  (:mod:`elmarc_tf.extraction.batching`) and at the best batch size found, achieved GFLOP/s and its ratio
  to the peak, the peak resident memory at the automatic batch size and over all sizes tried;
- end to end: ``extract`` clips/s on real-format files (WAV and MP3, 44.1 kHz stereo, so decoding
  and resampling are exercised) with the default resampler vs the forward-only rate timed the
  same way (a mean over as many clips, :func:`steady_forward_rate`) and vs the best forward call;
  and with the authors' resampler (kaiser_best);
- decode + resample clips/s per resampler (soxr_hq, the default, and kaiser_best, the authors',
  also as resampy's own loop computes it).

Writes ``bench.json`` and ``bench.md`` (a Markdown table).

``elmarc bench --representations`` (:func:`run_representation_bench`) measures instead the input
representations of the spectrogram front-ends (the authors' log-mel and the LEAF family) on one
30 s clip: FLOPs (as computed, and with time-domain convolutions), clips/s alone and under a CNN;
it writes ``representations.json`` and ``representations.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from ..io import audio
from ..io.audio_cache import AudioCache
from ..extraction.batching import choose_batch_size
from ..config import Config
from ..datasets import folder_per_class
from ..extraction.extract import extract
from ..extraction.options import RunOptions
from ..io.fileio import atomic_write_json, atomic_write_text, versions
from ..models.flops import representation_flops
from ..frontends.leaf import build_representation
from ..models.extractor import compile_extractor
from ..studies.paper import bench_frontends, paper_config, paper_configs
from .timing import (CLIP_SECONDS, allocator_page_faults, forward_rate, matmul_peak,
                     peak_rss_mib, representation_rate, steady_forward_rate)
from ..vocabulary import INPUT_REPRESENTATIONS


def make_audio_folder(folder: Path, n_clips: int, seconds: float = 30.0) -> list:
    """Real-format test files: half WAV, half MP3, 44.1 kHz stereo, in class folders."""
    for k in range(n_clips):
        path = folder / f"class{k % 2}" / f"clip{k:03d}.{'wav' if k % 2 == 0 else 'mp3'}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(k)
            t = np.arange(int(seconds * 44100)) / 44100
            y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal(t.size)
            sf.write(path, np.stack([y, 0.8 * y], axis=1).astype(np.float32), 44100)
    return folder_per_class(folder)


def end_to_end_rate(cfg, items, work: Path, batch_size: int) -> float:
    """Steady-state clips/s of :func:`elmarc_tf.extraction.extract.extract` from files (a fresh store)."""
    with tempfile.TemporaryDirectory(dir=work) as out:
        return extract(cfg, items, seed=0, out=out, batch_size=batch_size,
                       run=RunOptions(progress=False)).steady_rate()


RESAMPY_LOOP = "kaiser_best (resampy's loop)"


def decode_rate(items, res_type: str) -> float:
    """Decode + resample clips/s of ``load_audio`` on one core; ``RESAMPY_LOOP``: the same with
    resampy's own kaiser_best loop (what ``librosa.resample`` runs), for comparison."""

    def load(path):
        if res_type != RESAMPY_LOOP:
            return audio.load_audio(path, 12000, res_type)
        frames, sr = sf.read(path, dtype="float32", always_2d=True)
        return librosa.resample(audio.downmix(frames), orig_sr=sr, target_sr=12000,
                                res_type="kaiser_best")

    load(items[0].path)  # imports and JIT compilation are not timed
    start = time.perf_counter()
    for it in items:
        load(it.path)
    return len(items) / (time.perf_counter() - start)


def study_rate(items, work: Path, seeds=(0, 1, 2), names=None, res_type: str = "soxr_hq") -> dict:
    """Steady-state clip-configurations/s of a whole figure's small matrix (every front-end at
    ~120 features, each seed) from files, decoding per configuration vs once (audio cache), and
    the wall-clock seconds of each whole run (start-up included)."""
    configs = {}
    for exp, fields in paper_configs("gtzan").items():
        if fields.get("figure") != 6 or fields["model_type"] != "SVM":
            continue
        fields = {k: v for k, v in fields.items()
                  if k not in ("figure", "train_set_list", "val_set_list", "test_set_list")}
        if names is None or any(n in exp for n in names):
            # small batches: several per call, so the first (start-up) one can be left out
            configs[exp] = Config.from_dict({**fields, "audio_path": str(work), "res_type": res_type,
                                             "batch_size": max(1, len(items) // 4)})
    result = {"configs": sorted(configs), "seeds": list(seeds), "clips": len(items),
              "res_type": res_type}
    for mode in ("per_configuration", "cached"):
        clips = seconds = 0.0
        wall = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=work) as out:
            cache = AudioCache(Path(out) / "audio_cache") if mode == "cached" else None
            for cfg in configs.values():
                for seed in seeds:
                    timings = extract(cfg, items, seed=seed, out=out,
                                      run=RunOptions(progress=False, audio_cache=cache)
                                      ).batch_seconds[1:]
                    clips += sum(n for n, _ in timings)
                    seconds += sum(t for _, t in timings)
        result[mode] = clips / seconds
        result[f"{mode}_wall_s"] = time.perf_counter() - wall
    result["speedup"] = result["cached"] / result["per_configuration"]
    return result


LONG_JOB_CLIPS = 10**5  # clips of a long job: `batch_size: auto` searches, with its longest budget
# for the large configurations, and sets their store's features aside from the memory it may try


def _worker(name: str, quick: bool, e2e_folder: str | None) -> dict:
    """One front-end, measured in its own process (so its peak memory is its own).

    In order: the matmul peak (the ratios use the higher of it and the run's), the
    forward rate at the default (auto) batch size, the end-to-end rates (between two timings of
    the forward pass alone for the default resampler, then kaiser_best), the peak memory so far
    (the default batch size's), the timed batch-size search of a long job (its batches may be
    larger), then the other batch sizes for the best forward rate."""
    cfg = paper_config(name)
    seconds = 2.0 if quick else 6.0
    matmul = matmul_peak(seconds=1.5 if quick else 4.5)
    result = {"name": name, "peak_gflops": matmul["peak"], "tf_peak_gflops": matmul["tensorflow_peak"]}
    default = forward_rate(cfg, ("auto",), seconds=seconds / 2)
    result.update(flops=default["flops"], auto_batch_size=default["auto_batch_size"],
                  auto_clips_per_s=default["clips_per_s"], clip_samples=default["clip_samples"])
    sizes = [1, 4] if quick else [1, 2, 4, 8]
    if e2e_folder:
        items, work = folder_per_class(e2e_folder), Path(e2e_folder).parent
        batch = max(1, min(default["auto_batch_size"], len(items) // 3))  # >= 3 batches: 1 start-up
        result["e2e_batch_size"] = batch
        before = steady_forward_rate(cfg, batch, len(items))
        result["e2e_clips_per_s"] = end_to_end_rate(cfg, items, work, batch)
        after = steady_forward_rate(cfg, batch, len(items))
        result["steady_forward_clips_per_s"] = (before + after) / 2
        result["e2e_kaiser_best_clips_per_s"] = end_to_end_rate(
            cfg.replace(res_type="kaiser_best"), items, work, batch)
        sizes.append(batch)
    result["default_peak_rss_mib"] = peak_rss_mib()
    with tempfile.TemporaryDirectory() as cache:  # the search a first long extraction runs here
        searched = choose_batch_size(cfg, compile_extractor(cfg), LONG_JOB_CLIPS, folder=cache)
    result["searched_batch_size"] = searched.size
    sizes.append(searched.size)
    sweep = forward_rate(cfg, sizes, seconds=seconds)
    rates = {**sweep["rates"], **default["rates"]}
    best = max(rates, key=rates.get)
    result.update(rates=rates, batch_size=best, clips_per_s=rates[best],
                  gflops=result["flops"] * rates[best] / 1e9, peak_rss_mib=peak_rss_mib(),
                  searched_clips_per_s=rates[searched.size])
    if e2e_folder:
        result["e2e_over_forward"] = result["e2e_clips_per_s"] / result["steady_forward_clips_per_s"]
        result["e2e_over_best_forward"] = result["e2e_clips_per_s"] / rates[result["e2e_batch_size"]]
    return result


def _against_peak(row: dict, matmul: dict) -> dict:
    """Ratios against the higher of the two peak measurements (the run's, the worker's): on a
    shared machine one matmul measurement can come out low, and a low peak flatters."""
    row["peak_gflops"] = max(row["peak_gflops"], matmul["peak"])
    row["tf_peak_gflops"] = max(row["tf_peak_gflops"], matmul["tensorflow_peak"])
    row["ratio"] = row["gflops"] / row["peak_gflops"]
    row["tf_ratio"] = row["gflops"] / row["tf_peak_gflops"]
    return row


def run_bench(names=None, quick: bool = False, out="elmarc_out/bench", e2e: bool = True,
              log=print) -> dict:
    """Measure everything; write ``bench.json`` and ``bench.md`` in ``out``; return the results."""
    names = list(names or (["sample_level-23", "7x96-160", "vgg-32", "sample_level-512", "vgg-717"]
                           if quick else bench_frontends()))
    for name in names:
        paper_config(name)  # unknown names fail before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_files = 6 if quick else 16
    items = make_audio_folder(out / "audio", n_files, seconds=30.0) if e2e else []
    matmul = matmul_peak(seconds=3.0 if quick else 9.0)
    peak = matmul["peak"]
    log("float32 matmul: " + ", ".join(f"{k} {v:.1f}" for k, v in matmul.items()) + " GFLOP/s")
    faults = allocator_page_faults()
    if faults:
        log(f"page faults per call of a 64 MiB intermediate: {faults['bfc']:.0f} with the BFC "
            f"allocator, {faults['default']:.0f} with TensorFlow's default one")
    rows = []
    for name in names:
        cmd = [sys.executable, "-m", "elmarc_tf.bench.forward", "--worker", name]
        if quick:
            cmd.append("--quick")
        if e2e:
            cmd += ["--e2e-folder", str(out / "audio")]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"bench worker for {name} failed: {done.stderr.strip()[-500:]}")
        row = _against_peak(json.loads(done.stdout.strip().splitlines()[-1]), matmul)
        rows.append(row)
        log(f"{name:22s} {row['flops'] / 1e9:8.2f} GFLOP/clip  {row['clips_per_s']:8.2f} clips/s "
            f"(batch {row['batch_size']}; auto {row['auto_batch_size']}: {row['auto_clips_per_s']:.2f})"
            f"  {row['gflops']:7.1f} GFLOP/s = {100 * row['ratio']:5.1f} % of {row['peak_gflops']:.0f}"
            f"  RSS {row['default_peak_rss_mib']:.0f} MiB at the default batch size"
            + (f"  e2e {row['e2e_clips_per_s']:.2f} clips/s" if "e2e_clips_per_s" in row else ""))
    decode = ({r: decode_rate(items, r) for r in ("soxr_hq", "kaiser_best", RESAMPY_LOOP)}
              if items else {})
    for r, rate in decode.items():
        log(f"decode + resample 30 s 44.1 kHz stereo ({r}): {rate:.2f} clips/s")
    studies = []
    for res_type in ("soxr_hq", "kaiser_best") if items else ():
        study = study_rate(items, out / "audio", seeds=(0,) if quick else (0, 1, 2),
                           names=["sample_level", "7x96", "vgg"] if quick else None, res_type=res_type)
        studies.append(study)
        log(f"study (Figure 6 small matrix, {len(study['configs'])} configurations x "
            f"{len(study['seeds'])} seeds, {res_type}): {study['per_configuration']:.2f} "
            f"clip-configurations/s decoding per configuration, {study['cached']:.2f} with the "
            f"audio cache ({study['speedup']:.1f}x)")
    result = {"peak_gflops": peak, "matmul_gflops": matmul, "rows": rows, "decode_clips_per_s": decode,
              "studies": studies,
              "allocator_page_faults": faults,
              "quick": quick,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "versions": versions()}
    atomic_write_json(out / "bench.json", result)
    (out / "bench.md").write_text(markdown(result))
    log(f"\n{markdown(result)}\nwritten: {out / 'bench.json'}, {out / 'bench.md'}")
    return result


def markdown(result: dict) -> str:
    mm = result.get("matmul_gflops", {})
    lines = [f"Matmul peak (float32, best of TensorFlow / TensorFlow+XLA / NumPy): "
             f"**{result['peak_gflops']:.1f} GFLOP/s** on {result['machine']['cpus']} CPU cores, "
             f"TensorFlow {result['versions'].get('tensorflow')}"
             + (" (" + ", ".join(f"{k} {v:.1f}" for k, v in mm.items() if k != "peak") + ")" if mm else "")
             + ". Each front-end's worker measures the peaks again just before it; its ratios use "
               "the higher of its and the run's measurement: of the best of all three (*peak*, the "
               "stricter) and of the best TensorFlow path (*TF peak*, the same build and threads "
               "as extraction). Rates are the best of "
               ">= 3 calls; end-to-end rates are steady-state (start-up excluded) and read 30 s "
               "44.1 kHz stereo WAV/MP3 files with the default resampler (soxr_hq; the authors' "
               "kaiser_best in its own column). *e2e / forward* compares them with the forward pass "
               "alone timed the same way (a mean over the same number of clips, measured just "
               "before and after); *e2e / best* with the best call's rate.",
             " *auto batch*: the rule a short job uses; *searched*: the size a long extraction "
             "picks by its timed search on this machine (`batch_size: auto`), and its rate as a "
             "share of the best batch's.",
             "", "| front-end | GFLOP/clip | auto batch | clips/s at auto | searched batch "
             "(% of best) | best batch | clips/s | "
             "GFLOP/s | peak | % of peak | % of TF peak | end-to-end clips/s (batch) | forward clips/s, "
             "same timing | e2e / forward | e2e / best | end-to-end clips/s, kaiser_best | "
             "RSS MiB at auto batch | peak RSS MiB (all batches) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|"]
    for r in result["rows"]:
        e2e = f"{r['e2e_clips_per_s']:.2f} ({r['e2e_batch_size']})" if "e2e_clips_per_s" in r else "-"
        steady, kaiser = (f"{r[k]:.2f}" if k in r else "-"
                          for k in ("steady_forward_clips_per_s", "e2e_kaiser_best_clips_per_s"))
        ratio, best = (f"{100 * r[k]:.0f} %" if k in r else "-"
                       for k in ("e2e_over_forward", "e2e_over_best_forward"))
        searched = (f"{r['searched_batch_size']} ({100 * r['searched_clips_per_s'] / r['clips_per_s']:.0f} %)"
                    if "searched_batch_size" in r else "-")
        lines.append(f"| {r['name']} | {r['flops'] / 1e9:.2f} | {r['auto_batch_size']} | "
                     f"{r['auto_clips_per_s']:.2f} | {searched} | {r['batch_size']} | "
                     f"{r['clips_per_s']:.2f} "
                     f"| {r['gflops']:.1f} | {r['peak_gflops']:.0f} | {100 * r['ratio']:.1f} | "
                     f"{100 * r['tf_ratio']:.1f} | {e2e} | {steady} | "
                     f"{ratio} | {best} | {kaiser} | {r['default_peak_rss_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
    whole = [r["name"] for r in result["rows"] if r.get("clip_samples")]
    if whole:
        lines += ["", f"{', '.join(whole)} take whole clips: timed on one {CLIP_SECONDS:.0f} s clip "
                      f"per call, whose windows are the batch; GFLOP/clip = the clip's "
                      f"windows x one window's FLOPs."]
    faults = result.get("allocator_page_faults")
    if faults:
        lines += ["", f"CPU allocator: a computation with a 64 MiB intermediate ({faults['pages']} "
                      f"pages) page-faults {faults['bfc']:.0f} times per call with TensorFlow's BFC "
                      f"allocator (what importing elmarc_tf selects) and {faults['default']:.0f} "
                      f"times with its default one"
                      + (" (no difference on this machine)." if faults["default"] < 0.05 * faults["pages"]
                         else ".")]
    if result["decode_clips_per_s"]:
        lines += ["", "Decode + resample of a 30 s 44.1 kHz stereo file (WAV/MP3) to 12 kHz mono:", ""]
        lines += [f"- `{k}`: {v:.2f} clips/s" for k, v in result["decode_clips_per_s"].items()]
    for study in result.get("studies", []):
        lines += ["", f"Study level, `{study['res_type']}` (Figure 6's ~120-feature matrix: "
                      f"{len(study['configs'])} configurations x {len(study['seeds'])} seeds over "
                      f"{study['clips']} files): {study['per_configuration']:.2f} "
                      f"clip-configurations/s decoding per configuration, {study['cached']:.2f} "
                      f"decoding once (audio cache), **{study['speedup']:.1f}x** (whole runs, "
                      f"start-up included: {study['per_configuration_wall_s']:.0f} s vs "
                      f"{study['cached_wall_s']:.0f} s)."]
    return "\n".join(lines) + "\n"


REPRESENTATION_SECONDS = 30.0
REPRESENTATION_CNN = "vgg-32"


def run_representation_bench(names=None, cnn: str = REPRESENTATION_CNN, quick: bool = False,
                             out="elmarc_out/bench", log=print) -> dict:
    """Cost of each input representation (default: all of
    :data:`elmarc_tf.vocabulary.INPUT_REPRESENTATIONS`) on one 30 s clip at 12 kHz, alone and
    under the paper configuration ``cnn`` (e.g. ``vgg-32``); see
    :func:`elmarc_tf.bench.timing.representation_rate`. The LEAF family's filterbanks run by FFT; the
    FLOPs they would cost as time-domain convolutions (leaf-audio's) are given beside. Writes
    ``representations.json`` and ``representations.md`` in ``out``; returns the results."""
    base = paper_config(cnn)
    names = list(names or INPUT_REPRESENTATIONS)
    configs = {name: base.replace(input_representation=name) for name in names}  # errors first
    n = int(REPRESENTATION_SECONDS * base.sampling_rate)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, cfg in configs.items():
        row = representation_rate(cfg, n, seconds=2.0 if quick else 6.0)
        row["direct_flops"] = (row["flops"] if name == "logmel" else sum(representation_flops(
            build_representation(name, base.sampling_rate, base.n_mels, conv="direct"), n).values()))
        rows.append(row)
        log(f"{name:13s} {row['flops'] / 1e9:7.3f} GFLOP per {REPRESENTATION_SECONDS:.0f} s clip "
            f"({row['direct_flops'] / 1e9:.2f} as time-domain convolutions)  "
            f"{row['clips_per_s']:8.2f} clips/s alone ({1000 * row['cpu_s']:.0f} CPU ms)  "
            f"{row['with_cnn_clips_per_s']:7.2f} clips/s under {cnn} "
            f"({1000 * row['with_cnn_cpu_s']:.0f} CPU ms)")
    result = {"cnn": cnn, "seconds": REPRESENTATION_SECONDS, "n_samples": n, "rows": rows,
              "quick": quick, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "versions": versions()}
    atomic_write_json(out / "representations.json", result)
    atomic_write_text(out / "representations.md", representation_markdown(result))
    log(f"\n{representation_markdown(result)}\nwritten: {out / 'representations.json'}, "
        f"{out / 'representations.md'}")
    return result


def representation_markdown(result: dict) -> str:
    """The table of :func:`run_representation_bench`."""
    logmel = next((r for r in result["rows"] if r["representation"] == "logmel"), None)
    cnn = result["cnn"]
    lines = [f"One {result['seconds']:.0f} s clip at 12 kHz ({result['n_samples']} samples), "
             f"batch 1, on {result['machine']['cpus']} CPU cores, TensorFlow "
             f"{result['versions'].get('tensorflow')}; best of >= 3 calls, in wall-clock time "
             f"(clips/s) and in CPU time of all threads (CPU ms; on a shared machine the wall "
             f"clock also counts others' work). *Under {cnn}*: the whole exported graph, waveform "
             f"-> representation -> {cnn} -> features ({cnn} alone: "
             f"{result['rows'][0]['cnn_flops'] / 1e9:.2f} GFLOP per clip).", "",
             f"| representation | GFLOP per clip | as time-domain convolutions | x log-mel | "
             f"clips/s alone | CPU ms alone | clips/s under {cnn} | CPU ms under {cnn} |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        ratio = f"{r['flops'] / logmel['flops']:.1f}" if logmel else "-"
        lines.append(f"| {r['representation']} | {r['flops'] / 1e9:.3f} | "
                     f"{r['direct_flops'] / 1e9:.2f} | {ratio} | {r['clips_per_s']:.2f} | "
                     f"{1000 * r['cpu_s']:.0f} | {r['with_cnn_clips_per_s']:.2f} | "
                     f"{1000 * r['with_cnn_cpu_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m elmarc_tf.bench.forward")
    p.add_argument("--worker", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--e2e-folder")
    args = p.parse_args(argv)
    print(json.dumps(_worker(args.worker, args.quick, args.e2e_folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
