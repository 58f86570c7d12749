from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="elmarc_tf",
    version="0.1.0",
    description="Randomly weighted CNNs for (music) audio classification: Keras 3 / TensorFlow 2 "
                "reproduction of Pons & Serra (ICASSP 2019)",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["elmarc_tf", "elmarc_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "librosa>=0.10",
        "resampy>=0.4",
        "soundfile>=0.12",
        "numpy>=1.23",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "hpelm>=1.0.10",
        "matplotlib>=3.7",
        "PyYAML>=6.0",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7.0"],
        # the `ray` engine: extraction and grid searches on a Ray cluster (elmarc --engine ray)
        "ray": ["ray[data]>=2.40", "joblib>=1.3"],
    },
    entry_points={"console_scripts": ["elmarc = elmarc_tf.cli:main"]},
    license="MIT",
)
