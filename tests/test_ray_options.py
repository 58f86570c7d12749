"""The Ray flags' failures: one line, the documented exit status, before any work and without
hanging; and a local Ray that no environment variable sends elsewhere. No cluster is started:
Ray's ``init`` / ``nodes`` are replaced where a cluster would be reached (addresses: loopback)."""

import importlib.util
import os
import subprocess
import sys

import pytest
import soundfile as sf
import yaml

from conftest import music_like
from elmarc_tf.cli import EXIT_BAD_INPUT, EXIT_IO, main
from elmarc_tf.errors import ConfigError
from elmarc_tf.extraction.ray_cluster import LOOPBACK_ENV, RayOptions, check_fits, connect

WAVE = dict(architecture="sample_level", num_filters=4, n_samples=12000, batch_size=3)
CLOSED = "127.0.0.1:1"  # tcpmux: nothing listens there


@pytest.fixture
def config(tmp_path):
    audio = tmp_path / "audio" / "a"
    audio.mkdir(parents=True)
    sf.write(audio / "clip.wav", music_like(1.0, 12000, 0), 12000)
    path = tmp_path / "wave.yaml"
    path.write_text(yaml.safe_dump(dict(WAVE, audio_path=str(audio.parent))))
    return path


@pytest.fixture
def fake_ray(monkeypatch):
    """The ``ray`` module with a one-node cluster of 2 CPUs that records ``ray.init``'s calls
    (with the RAY_ADDRESS they saw), and the loopback variables restored after the test."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install elmarc_tf[ray])")
    import ray

    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(
        dict(kw, RAY_ADDRESS=os.environ.get("RAY_ADDRESS"))))
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "Resources": {"CPU": 2.0}},
                                               {"Alive": False, "Resources": {"CPU": 64.0}}])
    return calls


def test_an_address_that_is_not_one_exits_2_naming_the_flag(config, capsys):
    assert main(["extract", str(config), "--engine", "ray", "--address", "not an address"]) == \
        EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("elmarc: error: --address 'not an address': must be 'auto', HOST:PORT")
    assert err.count("\n") == 1
    for address in ("auto", "127.0.0.1:6379", "ray://127.0.0.1:10001", "[::1]:6379",
                    "ray_head:6379"):  # a compose service name
        assert RayOptions(address=address).address == address
    for address in ("", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "http://127.0.0.1:1"):
        with pytest.raises(ConfigError, match="--address"):
            RayOptions(address=address)


def test_without_address_ray_address_in_the_environment_is_not_followed(fake_ray, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", CLOSED)
    lines = []
    connect(RayOptions(), log=lines.append)
    [call] = fake_ray
    # "local": a new Ray here (Ray itself would follow RAY_ADDRESS with address None or "auto")
    assert call["address"] == "local" and call["include_dashboard"] is False
    assert call["RAY_ADDRESS"] is None  # not seen by the Ray processes started here either
    assert os.environ["RAY_ADDRESS"] == CLOSED  # the caller's environment is restored
    assert len(lines) == 1 and "local Ray" in lines[0] and "loopback" in lines[0]


def test_address_auto_leaves_the_choice_to_ray_and_says_so(fake_ray, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    lines = []
    connect(RayOptions(address="auto"), log=lines.append)
    [call] = fake_ray
    assert call["address"] == "auto" and call["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert lines == ["ray: joining the cluster at auto (RAY_ADDRESS=127.0.0.1:6379)"]


def test_actors_larger_than_every_node_exit_2_with_the_clusters_resources(fake_ray, config,
                                                                          capsys):
    # Ray would wait forever for a 99-CPU actor on a 2-CPU cluster (the dead node does not count).
    assert main(["extract", str(config), "--engine", "ray", "--cpus-per-actor", "99",
                 "--quiet"]) == EXIT_BAD_INPUT
    said, error = capsys.readouterr().err.splitlines()
    assert said.startswith("ray: starting a local Ray")
    assert error == ("elmarc: error: --cpus-per-actor 99 --gpus-per-actor 0: no node of the Ray "
                     "cluster has that much (its nodes: 2 CPUs, 0 GPUs)")
    connect(RayOptions(cpus_per_actor=2), log=lambda line: None)  # a whole node is enough


def test_check_fits_asks_for_one_node_with_both_cpus_and_gpus():
    nodes = [{"CPU": 8.0}, {"CPU": 2.0, "GPU": 1.0}]
    check_fits(RayOptions(cpus_per_actor=8), nodes)
    check_fits(RayOptions(cpus_per_actor=2, gpus_per_actor=1), nodes)
    with pytest.raises(ConfigError, match=r"its nodes: 8 CPUs, 0 GPUs; 2 CPUs, 1 GPUs\)$"):
        check_fits(RayOptions(cpus_per_actor=4, gpus_per_actor=1), nodes)  # 12 CPUs, not on one
    with pytest.raises(ConfigError, match="its nodes: none"):
        check_fits(RayOptions(), [])


def test_an_address_where_nothing_listens_exits_3_in_one_line_without_hanging(config, tmp_path):
    # A real driver process: Ray's own connect would wait for this GCS without end.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-m", "elmarc_tf", "extract", str(config), "--engine",
                           "ray", "--address", CLOSED, "--out", str(tmp_path / "out"), "--quiet"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == EXIT_IO, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"elmarc: error: --address {CLOSED}: no Ray cluster reachable there "
                    f"(Connection refused; waited at most 10 s)")


def test_local_cpus_sets_what_the_local_ray_offers(fake_ray, config, capsys):
    connect(RayOptions(local_cpus=3), log=lambda line: None)
    connect(RayOptions(), log=lambda line: None)
    assert [call["num_cpus"] for call in fake_ray] == [3, None]  # None: Ray counts the machine's
    for bad in (0, -1, 1.5):
        with pytest.raises(ConfigError, match="local_cpus must be a positive integer"):
            RayOptions(local_cpus=bad)
    with pytest.raises(ConfigError, match="not with an address"):
        RayOptions(address="auto", local_cpus=2)
    assert main(["extract", str(config), "--local-cpus", "2"]) == EXIT_BAD_INPUT
    assert "need --engine ray" in capsys.readouterr().err
