"""The frequency responses of LEAF's Gabor filterbank as the study uses it: mel-initialised vs random.

The representation ``input_representation: leaf`` at the paper's geometry (12 kHz, 96 filters of
513 taps, :func:`elmarc_tf.frontends.leaf.build_representation`): the magnitude response of every
complex Gabor filter with ``filterbank_init: mel`` (centres on the Slaney mel scale from 0 to
6000 Hz, the authors' log-mel bands) and with ``filterbank_init: random`` (seed 0: centres
uniform on the mel scale, bandwidths log-uniform), and each filter's centre frequency and
bandwidth (full width at half maximum) for both. Writes ``docs/filterbanks.png``.

    python scripts/plot_filterbanks.py [--out docs/filterbanks.png] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from elmarc_tf.frontends.leaf import build_representation

N_FFT = 1 << 14  # frequency grid of the plotted responses: 0.73 Hz at 12 kHz
HALF_MAX = np.sqrt(2.0 * np.log(2.0))


def responses(filterbank_init: str, seed: int):
    """``(frequencies Hz, |H| (n_filters, bins), centres Hz, FWHM Hz)`` of the leaf
    representation's Gabor filters."""
    layer = build_representation("leaf", filterbank_init=filterbank_init, seed=seed)
    layer = layer.get_layer("filterbank")
    kernel = np.asarray(layer.filters())[:, 0]  # (513, 192): real / imaginary interleaved
    complex_filters = kernel[:, 0::2] + 1j * kernel[:, 1::2]
    magnitude = np.abs(np.fft.fft(complex_filters, N_FFT, axis=0))[: N_FFT // 2 + 1].T
    freqs = np.arange(N_FFT // 2 + 1) * layer.sample_rate / N_FFT
    sigma = np.asarray(layer.kernel)[:, 1]  # samples; FWHM of the response in Hz:
    fwhm = 2.0 * HALF_MAX * layer.sample_rate / (2.0 * np.pi * sigma)
    return freqs, magnitude, layer.centre_frequencies(), fwhm


def plot(out: Path, seed: int) -> Path:
    fig = Figure(figsize=(9.0, 7.6), dpi=100)
    grid = fig.add_gridspec(3, 1, height_ratios=[1.0, 1.0, 1.1], hspace=0.55)
    cmap = matplotlib.colormaps["viridis"]
    summary = {}
    for row, (init, title) in enumerate((("mel", "filterbank_init: mel (leaf-audio's, on the "
                                                  "authors' 96 mel bands)"),
                                         ("random", f"filterbank_init: random (seed {seed})"))):
        freqs, magnitude, centres, fwhm = responses(init, seed)
        summary[init] = (centres, fwhm)
        ax = fig.add_subplot(grid[row])
        for k, curve in enumerate(magnitude):
            ax.plot(freqs, curve, color=cmap(k / (len(magnitude) - 1)), lw=0.7)
        ax.set_xlim(0, 6000)
        ax.set_ylim(0, 1.08)
        ax.set_title(title, fontsize=11, loc="left")
        ax.set_ylabel("|H(f)|")
        ax.set_xlabel("frequency (Hz)")
        ax.grid(alpha=0.3)
    ax = fig.add_subplot(grid[2])
    index = np.arange(len(summary["mel"][0]))
    for init, colour, marker in (("mel", "#3b6fb6", "o"), ("random", "#d9822b", "s")):
        centres, fwhm = summary[init]
        ax.errorbar(index, centres, yerr=fwhm / 2, fmt=marker, ms=3, lw=0.8, color=colour,
                    label=f"{init}: centre ± half bandwidth (FWHM / 2)")
    ax.set_xlabel("filter (sorted by centre frequency)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_ylim(0, 6500)
    ax.set_xlim(-1, len(index))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title("centre frequencies and bandwidths", fontsize=11, loc="left")
    fig.suptitle("LEAF's Gabor filterbank at 12 kHz: 96 filters of 513 taps (colour: filter index)",
                 fontsize=12)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    # 192 anti-aliased curves in many colours: a 256-colour palette keeps the file small
    Image.open(buffer).convert("RGB").quantize(256).save(out, optimize=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "docs" / "filterbanks.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = plot(args.out, args.seed)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
