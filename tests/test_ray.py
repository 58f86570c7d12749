"""The ``ray`` engine: the same stores and results as the local engine, on a Ray kept on loopback.

One local Ray for the whole session (``ray_session``, started by elmarc itself with 2 logical
CPUs whatever the machine has, so 2 actors x 1 CPU); the multi-node cluster runs in a subprocess (one driver
process cannot hold two Ray clusters). The local engine is the reference throughout: its own
tests check it against NumPy and librosa.
"""

import importlib.util
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import music_like
from elmarc_tf import Config
from elmarc_tf.evaluation.classifiers import classifier_grid
from elmarc_tf.cli import main
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.studies.demo import make_demo_dataset
from elmarc_tf.errors import ConfigError
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.options import RunOptions
from elmarc_tf.evaluation.protocols import Protocol, evaluate
from elmarc_tf.extraction.ray_cluster import CLOSED_PROXY, LOOPBACK_ENV, NO_EGRESS_ENV, RayOptions, connect
from elmarc_tf.extraction.ray import TEST_EXIT_ONCE_ENV, passes_per_call
from elmarc_tf.evaluation.ray import RaySearch
from elmarc_tf.extraction.store import load_store

TWO_ACTORS = RayOptions(actors=2, cpus_per_actor=1)  # the session's 2 CPUs: actors x threads
WAVE = dict(architecture="sample_level", num_filters=4, n_samples=12000, fix_length_by="zero-pad",
            batch_size=3)
SPEC = dict(architecture="7x96", num_filters=8, n_frames=40, fix_length_by="repeat-pad", batch_size=3)
LOOPBACK_IPS = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


@pytest.fixture(scope="session")
def ray_session():
    """elmarc's own local Ray (no address): loopback only, dashboard off, no usage statistics."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install elmarc_tf[ray])")
    ray = connect(RayOptions(local_cpus=2))  # 2 actors x 1 CPU on any machine
    yield ray
    ray.shutdown()


def write(path, y, sr, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kw)
    return path


@pytest.fixture(scope="module")
def mixed_audio(tmp_path_factory):
    """Good clips in several formats and rates, and a corrupt, an empty and a too-short file."""
    root = tmp_path_factory.mktemp("mixed") / "audio"
    write(root / "a" / "mono_12k.wav", music_like(1.5, 12000, 1), 12000)
    write(root / "a" / "stereo_44k.wav", np.stack([music_like(1.2, 44100, 2)] * 2, 1), 44100,
          subtype="PCM_24")
    write(root / "a" / "low_8k.wav", music_like(2.0, 8000, 3), 8000)
    write(root / "b" / "song.flac", music_like(1.0, 22050, 4), 22050)
    write(root / "b" / "very_short.wav", music_like(1.0, 12000, 7)[:120], 12000)  # 10 ms
    (root / "b" / "corrupt.wav").write_bytes(b"RIFF$\x00\x00\x00WAVEfmt " + bytes(range(200)))
    (root / "b" / "empty.wav").write_bytes(b"")
    for k in range(4):
        write(root / "c" / f"clip{k}.wav", music_like(1.5, 16000, 10 + k), 16000)
    return root


@pytest.fixture(scope="module")
def twelve_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("twelve") / "audio"
    for k in range(12):
        write(root / f"c{k % 2}" / f"clip{k:02d}.wav", music_like(1.5, 16000, 20 + k), 16000)
    return root


def assert_same_store(local, ray_store):
    """Same clips, labels, features (float32: max abs diff <= 1e-6) and failure records."""
    np.testing.assert_array_equal(ray_store.ids, local.ids)
    np.testing.assert_array_equal(ray_store.y, local.y)
    assert len(set(ray_store.ids)) == len(ray_store.ids)  # each clip stored once
    assert ray_store.X.shape == local.X.shape and ray_store.X.dtype == np.float32
    assert np.abs(ray_store.X - local.X).max() <= 1e-6
    assert ray_store.manifest["failures"] == local.manifest["failures"]
    for key in ("n_items", "n_ok", "n_failed", "feature_length", "layout", "config", "seed"):
        assert ray_store.manifest[key] == local.manifest[key], key


# --- the session's Ray stays on loopback -----------------------------------------------------

def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _socket_inodes(pids) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def _ip(hex_address: str) -> str:
    """``/proc/net/tcp{,6}`` address (host-order 32-bit words, hex) -> text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[k:k + 4][::-1] for k in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def _tcp_sockets(inodes) -> list[tuple[str, str, str]]:
    """(local ip, remote ip, state hex) of the TCP sockets with these inodes."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                out.append((_ip(cols[1].split(":")[0]), _ip(cols[2].split(":")[0]), cols[3]))
    return out


def test_the_local_ray_listens_and_talks_on_loopback_only(ray_session):
    ray = ray_session
    assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")

    @ray.remote
    def environment_of_a_worker():
        import requests  # Ray's own dependency: its metadata probe uses it

        return ({name: os.environ.get(name) for name in LOOPBACK_ENV},
                requests.utils.get_environ_proxies("http://169.254.169.254/latest/meta-data/"),
                requests.utils.get_environ_proxies("http://127.0.0.1:8265/"))

    env, metadata_proxies, loopback_proxies = ray.get(environment_of_a_worker.remote())
    assert env == {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    assert metadata_proxies["http"] == CLOSED_PROXY and not loopback_proxies
    assert CLOSED_PROXY not in os.environ.values()  # the driver's own environment was restored

    if not Path("/proc/net/tcp").is_file():
        pytest.skip("no /proc/net/tcp: cannot list the sockets of Ray's processes")
    sockets = _tcp_sockets(_socket_inodes(_descendants(os.getpid()) | {os.getpid()}))
    listening = [s for s in sockets if s[2] == "0A"]
    assert len(listening) >= 3  # at least the GCS, the raylet and a worker
    assert {local for local, _, _ in sockets} <= LOOPBACK_IPS
    assert {remote for _, remote, _ in sockets} <= LOOPBACK_IPS | {"0.0.0.0", "::"}


def test_usage_statistics_are_off(ray_session):
    ray = ray_session

    @ray.remote
    def enabled_in_a_worker():
        from ray._common.usage import usage_lib

        return usage_lib.usage_stats_enabled()

    if importlib.util.find_spec("ray._common.usage") is None:
        pytest.skip("this Ray keeps its usage library elsewhere")
    from ray._common.usage import usage_lib

    assert usage_lib.usage_stats_enabled() is False
    assert ray.get(enabled_in_a_worker.remote()) is False


# --- extraction --------------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [WAVE, SPEC, dict(architecture="vgg", num_filters=4, n_frames=1280,
                                                     fix_length_by="repeat-pad", batch_norm=True,
                                                     batch_size=3)],
                         ids=["waveform", "spectrogram", "vgg_batch_norm"])
def test_a_ray_store_equals_the_local_store(ray_session, mixed_audio, tmp_path, fields, monkeypatch):
    cfg = Config(**fields)
    monkeypatch.chdir(mixed_audio.parent)  # relative paths: actors resolve them as the driver does
    items = folder_per_class(Path(mixed_audio.name))
    assert items[0].path.startswith("audio/")
    local = extract(cfg, items, seed=1, out=tmp_path / "local", run=RunOptions(progress=False))
    on_ray = extract(cfg, items, seed=1, out=tmp_path / "ray", run=RunOptions(progress=False,
                     engine="ray", ray=TWO_ACTORS))
    assert on_ray.folder.relative_to(tmp_path / "ray") == local.folder.relative_to(tmp_path / "local")
    assert on_ray.n_computed == len(items) == 11
    failed = {Path(f["path"]).name for f in on_ray.manifest["failures"]}
    assert failed == {"corrupt.wav", "empty.wav"} | ({"very_short.wav"} if cfg.signal == "spectrogram"
                                                     else set())
    # with batch_norm, features depend on the other clips of a batch: the Ray engine makes the
    # local engine's batches (a failed clip is a zero input there too)
    assert_same_store(load_store(local.folder), load_store(on_ray.folder))


def test_a_call_holds_about_two_seconds_of_work_and_every_actor_gets_calls():
    vgg_717, temporal_256 = 168.64e9, 0.589e9  # FLOPs per 29 s clip (elmarc_tf.models.flops)
    # estimated seconds per clip on one core: FLOPs / 150e9 + 0.04 (decoding)
    assert passes_per_call(10_000, 1, 2, vgg_717) == 2  # 1.16 s: ceil(2 / 1.16)
    assert passes_per_call(10_000, 1, 2, vgg_717, cpus=8) == 14  # 0.146 s on 8
    assert passes_per_call(10_000, 3, 2, temporal_256) == 15  # 0.044 s: 46 clips, 15 passes of 3
    assert passes_per_call(10_000, 1, 2, 0.0) == 50  # decoding alone
    assert passes_per_call(100_000, 1, 2, 0.0, cpus=4) == 64  # at most MAX_CLIPS_PER_CALL clips
    assert passes_per_call(10_000, 1, 400, vgg_717) == 7  # 400 actors: 8 s calls (writer)
    assert passes_per_call(12, 1, 2, temporal_256) == 3  # 2 calls per actor, at least
    assert passes_per_call(12, 5, 2, temporal_256) == 1  # at least one pass


KILLED_DRIVER = """
import os, signal, sys
from elmarc_tf.evaluation.classifiers import classifier_grid
from elmarc_tf.cli import main
from elmarc_tf.extraction.store import StoreWriter
write_chunk = StoreWriter.write_chunk
def write_then_die(self, *args, **kwargs):  # SIGKILL this driver right after its 2nd chunk
    write_chunk(self, *args, **kwargs)
    if len(list(self.chunks.glob("*.npz"))) >= 2:
        os.kill(os.getpid(), signal.SIGKILL)
StoreWriter.write_chunk = write_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_driver_resumes_with_the_same_command(ray_session, twelve_clips, tmp_path, capsys):
    config = tmp_path / "wave.yaml"
    config.write_text(yaml.safe_dump(dict(WAVE, batch_size=1, audio_path=str(twelve_clips),
                                          dataset="twelve")))
    command = ["extract", str(config), "--seed", "2", "--out", str(tmp_path / "ray"), "--quiet",
               "--engine", "ray", "--address", ray_session.get_runtime_context().gcs_address,
               "--actors", "2", "--cpus-per-actor", "1"]
    killed = subprocess.run([sys.executable, "-c", KILLED_DRIVER, *command], capture_output=True,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    [chunks] = list((tmp_path / "ray").rglob("chunks"))
    stored = sum(len(np.load(path)["indices"]) for path in chunks.glob("*.npz"))
    assert 0 < stored < 12 and len(list(chunks.glob("*.npz"))) == 2

    assert main(command) == 0  # the same command, in a driver that lives
    assert f"({12 - stored} computed now, 0 failed)" in capsys.readouterr().out
    local = extract(Config.from_file(config), folder_per_class(twelve_clips), seed=2,
                    out=tmp_path / "local", run=RunOptions(progress=False))
    [manifest] = list((tmp_path / "ray").rglob("manifest.json"))
    assert_same_store(load_store(local.folder), load_store(manifest.parent))
    assert not chunks.exists()


CLUSTER_RUN = """
import json, sys
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from elmarc_tf import Config
from elmarc_tf.datasets import folder_per_class
from elmarc_tf.extraction.extract import extract
from elmarc_tf.extraction.ray_cluster import RayOptions
from elmarc_tf.extraction.store import StoreWriter
from elmarc_tf.extraction.options import RunOptions
audio, out, fields, report = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
workers = [cluster.add_node(num_cpus=1) for _ in range(2)]  # one actor on each
ray.init(address=cluster.address)
nodes = [n["NodeManagerAddress"] for n in ray.nodes()]
write_chunk, removed = StoreWriter.write_chunk, {}
def write_then_remove_a_node(self, *args, **kwargs):  # remove a worker node after the 1st chunk
    write_chunk(self, *args, **kwargs)
    if not removed:
        cluster.remove_node(workers[1])
        removed["after_chunks"] = len(list(self.chunks.glob("*.npz")))
StoreWriter.write_chunk = write_then_remove_a_node
result = extract(Config(**fields), folder_per_class(audio), seed=4, out=out,
                 run=RunOptions(progress=False, engine="ray",
                                ray=RayOptions(address=cluster.address, actors=2)))
Path(report).write_text(json.dumps(dict(nodes=nodes, removed=removed, folder=str(result.folder),
                                        alive=sum(n["Alive"] for n in ray.nodes()),
                                        n_computed=result.n_computed)))
ray.shutdown()
cluster.shutdown()
"""


def test_an_actor_dying_and_a_node_removed_mid_run_lose_no_clip(ray_session, twelve_clips, tmp_path):
    """Head (no CPUs) + two 1-CPU worker nodes on loopback; one actor exits on its first call, one
    worker node is removed after the first chunk is written."""
    fields = dict(WAVE, batch_size=1)
    marker = tmp_path / "an_actor_exited"
    env = dict(os.environ, **LOOPBACK_ENV, **NO_EGRESS_ENV, TF_CPP_MIN_LOG_LEVEL="3",
               **{TEST_EXIT_ONCE_ENV: str(marker)})
    run = subprocess.run([sys.executable, "-c", CLUSTER_RUN, str(twelve_clips), str(tmp_path / "ray"),
                          json.dumps(fields), str(tmp_path / "report.json")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["nodes"] == ["127.0.0.1"] * 3
    assert marker.exists()  # an actor did exit (once: the marker stops the next one)
    assert report["removed"] == {"after_chunks": 1} and report["alive"] == 2
    assert report["n_computed"] == 12  # 4 chunks of 3 clips (passes_per_call): removed mid-run
    local = extract(Config(**fields), folder_per_class(twelve_clips), seed=4,
                    out=tmp_path / "local", run=RunOptions(progress=False))
    assert_same_store(load_store(local.folder), load_store(report["folder"]))


# --- the classifier stage ----------------------------------------------------------------------

def test_a_shared_array_travels_as_a_reference(ray_session):
    X = np.random.default_rng(0).normal(size=(500, 400))  # 1.6 MB
    with RaySearch(TWO_ACTORS) as search:
        shared = search.share(X)
        assert len(pickle.dumps(shared)) < 1000  # a reference into the object store
        assert len(pickle.dumps(shared[:10])) > 10 * 400 * 8  # a view carries its own data
        total = ray_session.get(ray_session.remote(lambda a: (type(a), float(a.sum()))).remote(shared))
    assert total == (np.ndarray, float(X.sum()))
    np.testing.assert_array_equal(np.asarray(shared), X)


def test_elmarc_run_on_ray_gives_the_local_accuracies(ray_session, tmp_path):
    audio = make_demo_dataset(tmp_path / "demo", clips_per_class=5, seconds=4.0)
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(dict(audio_path=str(audio), dataset="demo", n_folds=3,
                                          architecture="7x86", num_filters=16, n_frames=150,
                                          fix_length_by="crop", model_type="SVM")))
    summaries = {}
    for engine, flags in (("local", []), ("ray", ["--engine", "ray", "--actors", "2"])):
        assert main(["run", str(config), "--seeds", "1", "--quiet", "--out", str(tmp_path / engine),
                     "--features-out", str(tmp_path / f"features_{engine}"), *flags]) == 0
        summaries[engine] = json.loads((tmp_path / engine / "spec" / "results.json").read_text())
    local, on_ray = summaries["local"], summaries["ray"]
    assert on_ray["accuracies"] == local["accuracies"] and len(local["accuracies"]) == 1
    for a, b in zip(local["per_seed"], on_ray["per_seed"]):
        for key in ("best_params", "fold_accuracies", "confusion_matrix", "report"):
            assert b[key] == a[key], key


def test_the_predefined_split_on_ray_gives_the_local_numbers(ray_session):
    """The GTZAN protocol (grid search on train / val, refit, test) with standardised features."""
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b", "c"], 12)
    X = rng.normal(size=(36, 8)) + (y == "a")[:, None] * 0.8
    splits = np.tile(["train", "train", "val", "test"], 9)
    estimator, grid = classifier_grid("SVM", seed=0)
    local = evaluate(X, y, estimator, grid, splits=splits, protocol=Protocol(standardize=True))
    on_ray = evaluate(X, y, estimator, grid, splits=splits, protocol=Protocol(standardize=True),
                      run=RunOptions(progress=False, engine="ray", ray=TWO_ACTORS))
    # the local SVM grid (precomputed kernels) also counts its fits against the iteration cap;
    # GridSearchCV's fits on Ray do not: every number they share is the same
    cap_report = {"svm_max_iter", "n_fits", "n_capped_fits", "capped_grid_points", "best_capped",
                  "max_n_iter", "svm_kernel"}
    assert set(local) - set(on_ray) == cap_report
    assert on_ray == {k: v for k, v in local.items() if k not in cap_report}
    assert local["protocol"] == "predefined_split"


# --- errors --------------------------------------------------------------------------------------

def test_engine_ray_without_ray_is_a_one_line_error_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    audio = tmp_path / "audio"
    write(audio / "a" / "x.wav", music_like(1.0, 12000, 0), 12000)
    config = tmp_path / "wave.yaml"
    config.write_text(yaml.safe_dump(dict(WAVE, audio_path=str(audio))))
    assert main(["extract", str(config), "--out", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == "elmarc: error: engine 'ray' needs Ray, which is not installed: " \
                  "pip install elmarc_tf[ray]\n"
    assert not (tmp_path / "out").exists()


def test_bad_engine_options_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="actors must be a positive integer, got 0"):
        RayOptions(actors=0)
    with pytest.raises(ConfigError, match="cpus_per_actor must be positive"):
        RayOptions(cpus_per_actor=0)
    with pytest.raises(ConfigError, match="unknown engine 'spark'; valid: local, ray"):
        extract(Config(**WAVE), [], run=RunOptions(engine="spark"))
    with pytest.raises(ConfigError, match="unknown engine 'spark'; valid: local, ray"):
        evaluate(np.zeros((4, 2)), ["a", "b"] * 2, None, [], run=RunOptions(progress=False,
                 engine="spark"))
    config = tmp_path / "wave.yaml"
    config.write_text(yaml.safe_dump(dict(WAVE, audio_path=str(tmp_path))))
    assert main(["extract", str(config), "--actors", "2"]) == 2
    assert "need --engine ray" in capsys.readouterr().err
