"""``elmarc bench``: how close extraction gets to this machine's limit.

All measured in one run, with the same TensorFlow build and thread settings:

- the machine's peak: GFLOP/s of a large float32 matmul;
- per front-end (paper's small and large configurations, full input length): analytic FLOPs of one
  clip (:mod:`elmarc_tf.flops`), forward-pass clips/s at the best batch size found, achieved
  GFLOP/s and its ratio to the peak, and the peak resident memory of that measurement (each
  front-end runs in its own worker process, so its peak is its own);
- end to end: ``extract`` clips/s on real-format files (WAV and MP3, 44.1 kHz stereo, so decoding
  and resampling are exercised) vs the forward-only rate;
- decode + resample clips/s per resampler (soxr_hq, the default, and kaiser_best, the authors').

Writes ``bench.json`` and ``bench.md`` (a Markdown table).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DATA_FIELDS = ("figure", "experiment_name", "dataset", "audio_path", "train_set_list",
                "val_set_list", "test_set_list", "model_type")


def paper_frontends() -> dict[str, dict]:
    """The paper's front-end configurations (Figures 6-7 matrix, without data and classifier):
    ``{"vgg-717": {config fields}, ...}``."""
    from .paper import paper_configs

    return {exp.removesuffix("_SVM"): {k: v for k, v in fields.items() if k not in _DATA_FIELDS}
            for exp, fields in paper_configs("gtzan").items()
            if exp.endswith("_SVM") and fields.get("features_type") != "MFCC"}


def paper_config(name: str):
    from .config import Config
    from .errors import ConfigError

    frontends = paper_frontends()
    if name not in frontends:
        raise ConfigError(f"unknown bench configuration {name!r}; valid: {', '.join(frontends)}")
    return Config.from_dict(frontends[name])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak(n: int = 4096, seconds: float = 3.0) -> dict:
    """GFLOP/s of a float32 ``n x n`` matmul: TensorFlow's kernel, the same under XLA, and NumPy's
    BLAS; ``peak`` is the best of them (TensorFlow's own MatMul kernel is not the fastest path on
    every CPU, and its convolutions can beat it)."""
    import numpy as np
    import tensorflow as tf

    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    b = np.random.default_rng(2).random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    candidates = {
        "tensorflow": tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(ta, tb))),
        "tensorflow_xla": tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(ta, tb)), jit_compile=True),
        "numpy": lambda: (a @ b).sum(),
    }
    out = {}
    for name, fn in candidates.items():
        np.asarray(fn())  # trace / warm up
        best, end = float("inf"), time.perf_counter() + seconds / len(candidates)
        while time.perf_counter() < end:
            start = time.perf_counter()
            np.asarray(fn())
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n**3 / best / 1e9
    out["peak"] = max(out.values())
    return out


def forward_rate(cfg, batch_sizes=(1, 2, 4, 8), seconds: float = 4.0, jit: bool = False) -> dict:
    """Forward-only clips/s of the extractor at each batch size; the best one is reported."""
    import numpy as np
    import tensorflow as tf

    from .extractor import build_extractor
    from .flops import model_flops
    from .pipeline import input_shape

    model = build_extractor(cfg, seed=0, inputs="logmel")
    flops = model_flops(model)
    shape = input_shape(cfg)
    fn = tf.function(lambda x: model(x, training=False), jit_compile=jit,
                     input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
    rates = {}
    for bs in batch_sizes:
        x = tf.constant(np.random.RandomState(0).uniform(-1, 0, (bs, *shape)).astype(np.float32))
        fn(x).numpy()  # trace + warm up
        n, start = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - start < seconds / len(batch_sizes):
            fn(x).numpy()
            n += bs
        rates[bs] = n / (time.perf_counter() - start)
    best = max(rates, key=rates.get)
    return {"flops": flops, "clips_per_s": rates[best], "batch_size": best,
            "gflops": flops * rates[best] / 1e9, "rates": rates, "jit": jit}


def make_audio_folder(folder: Path, n_clips: int, seconds: float = 30.0) -> list:
    """Real-format test files: half WAV, half MP3, 44.1 kHz stereo, in class folders."""
    import numpy as np
    import soundfile as sf

    from .datasets import folder_per_class

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
    """Steady-state clips/s of :func:`elmarc_tf.extract.extract` from files (a fresh store)."""
    from .extract import extract

    out = Path(tempfile.mkdtemp(dir=work))
    return extract(cfg, items, seed=0, out=out, batch_size=batch_size, progress=False).steady_rate()


def decode_rate(items, res_type: str) -> float:
    from .audio import load_audio

    load_audio(items[0].path, 12000, res_type)  # imports and JIT compilation are not timed
    start = time.perf_counter()
    for it in items:
        load_audio(it.path, 12000, res_type)
    return len(items) / (time.perf_counter() - start)


def study_rate(items, work: Path, seeds=(0, 1, 2), names=None) -> dict:
    """Steady-state clip-configurations/s of a whole figure's small matrix (every front-end at
    ~120 features, each seed) from files, decoding per configuration vs once (audio cache)."""
    from .audio_cache import AudioCache
    from .config import Config
    from .extract import extract
    from .paper import paper_configs

    configs = {}
    for exp, fields in paper_configs("gtzan").items():
        if fields.get("figure") != 6 or fields["model_type"] != "SVM":
            continue
        fields = {k: v for k, v in fields.items()
                  if k not in ("figure", "train_set_list", "val_set_list", "test_set_list")}
        if names is None or any(n in exp for n in names):
            # small batches: several per call, so the first (start-up) one can be left out
            configs[exp] = Config.from_dict({**fields, "audio_path": str(work),
                                             "batch_size": max(1, len(items) // 4)})
    result = {"configs": sorted(configs), "seeds": list(seeds), "clips": len(items)}
    for mode in ("per_configuration", "cached"):
        out = Path(tempfile.mkdtemp(dir=work))
        cache = AudioCache(out / "audio_cache") if mode == "cached" else None
        clips = seconds = 0.0
        for cfg in configs.values():
            for seed in seeds:
                timings = extract(cfg, items, seed=seed, out=out, progress=False,
                                  audio_cache=cache).batch_seconds[1:]
                clips += sum(n for n, _ in timings)
                seconds += sum(t for _, t in timings)
        result[mode] = clips / seconds
    result["speedup"] = result["cached"] / result["per_configuration"]
    return result


def _worker(name: str, quick: bool, e2e_folder: str | None) -> dict:
    """One front-end, measured in its own process (so its peak memory is its own)."""
    cfg = paper_config(name)
    sizes = (1, 4) if quick else (1, 2, 4, 8)
    result = {"name": name, **forward_rate(cfg, sizes, seconds=2.0 if quick else 6.0)}
    if e2e_folder:
        from .datasets import folder_per_class

        items = folder_per_class(e2e_folder)
        batch = max(1, min(result["batch_size"], len(items) // 3))  # >= 3 batches: 1 start-up
        result["e2e_clips_per_s"] = end_to_end_rate(cfg, items, Path(e2e_folder).parent, batch)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_bench(names=None, quick: bool = False, out="elmarc_out/bench", e2e: bool = True,
              log=print) -> dict:
    """Measure everything; write ``bench.json`` and ``bench.md`` in ``out``; return the results."""
    from .store import atomic_write_json, versions

    names = list(names or (["sample_level-23", "7x96-160", "vgg-32", "sample_level-512", "vgg-717"]
                           if quick else paper_frontends()))
    for name in names:
        paper_config(name)  # unknown names fail before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_files = 6 if quick else 16
    items = make_audio_folder(out / "audio", n_files, seconds=30.0) if e2e else []
    matmul = matmul_peak(seconds=3.0 if quick else 9.0)
    peak = matmul["peak"]
    log("float32 matmul: " + ", ".join(f"{k} {v:.1f}" for k, v in matmul.items()) + " GFLOP/s")
    rows = []
    for name in names:
        cmd = [sys.executable, "-m", "elmarc_tf.bench", "--worker", name]
        if quick:
            cmd.append("--quick")
        if e2e:
            cmd += ["--e2e-folder", str(out / "audio")]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"bench worker for {name} failed: {done.stderr.strip()[-500:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["ratio"] = row["gflops"] / peak
        if "e2e_clips_per_s" in row:
            row["e2e_over_forward"] = row["e2e_clips_per_s"] / row["clips_per_s"]
        rows.append(row)
        log(f"{name:22s} {row['flops'] / 1e9:8.2f} GFLOP/clip  {row['clips_per_s']:8.2f} clips/s "
            f"(batch {row['batch_size']})  {row['gflops']:7.1f} GFLOP/s = {100 * row['ratio']:5.1f} % "
            f"of peak  peak RSS {row['peak_rss_mib']:.0f} MiB"
            + (f"  e2e {row['e2e_clips_per_s']:.2f} clips/s" if "e2e_clips_per_s" in row else ""))
    decode = {r: decode_rate(items, r) for r in ("soxr_hq", "kaiser_best")} if items else {}
    for r, rate in decode.items():
        log(f"decode + resample 30 s 44.1 kHz stereo ({r}): {rate:.2f} clips/s")
    study = None
    if items:
        study = study_rate(items, out / "audio", seeds=(0,) if quick else (0, 1, 2),
                           names=["sample_level", "7x96", "vgg"] if quick else None)
        log(f"study (Figure 6 small matrix, {len(study['configs'])} configurations x "
            f"{len(study['seeds'])} seeds): {study['per_configuration']:.2f} clip-configurations/s "
            f"decoding per configuration, {study['cached']:.2f} with the audio cache "
            f"({study['speedup']:.1f}x)")
    result = {"peak_gflops": peak, "matmul_gflops": matmul, "rows": rows, "decode_clips_per_s": decode, "study": study,
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
             + ". Rates are steady-state (start-up excluded); end-to-end reads 30 s 44.1 kHz stereo "
               "WAV/MP3 files.",
             "", "| front-end | GFLOP/clip | batch | clips/s | GFLOP/s | % of peak | end-to-end clips/s "
             "| e2e / forward | peak RSS MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        e2e = f"{r['e2e_clips_per_s']:.2f}" if "e2e_clips_per_s" in r else "-"
        ratio = f"{100 * r['e2e_over_forward']:.0f} %" if "e2e_over_forward" in r else "-"
        lines.append(f"| {r['name']} | {r['flops'] / 1e9:.2f} | {r['batch_size']} | {r['clips_per_s']:.2f} "
                     f"| {r['gflops']:.1f} | {100 * r['ratio']:.1f} | {e2e} | {ratio} | "
                     f"{r['peak_rss_mib']:.0f} |")
    if result["decode_clips_per_s"]:
        lines += ["", "Decode + resample of a 30 s 44.1 kHz stereo file (WAV/MP3) to 12 kHz mono:", ""]
        lines += [f"- `{k}`: {v:.2f} clips/s" for k, v in result["decode_clips_per_s"].items()]
    study = result.get("study")
    if study:
        lines += ["", f"Study level (Figure 6's ~120-feature matrix: {len(study['configs'])} "
                      f"configurations x {len(study['seeds'])} seeds over {study['clips']} files): "
                      f"{study['per_configuration']:.2f} clip-configurations/s decoding per "
                      f"configuration, {study['cached']:.2f} decoding once (audio cache), "
                      f"**{study['speedup']:.1f}x**."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m elmarc_tf.bench")
    p.add_argument("--worker", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--e2e-folder")
    args = p.parse_args(argv)
    print(json.dumps(_worker(args.worker, args.quick, args.e2e_folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
