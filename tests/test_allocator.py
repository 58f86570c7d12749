"""Importing elmarc_tf selects TensorFlow's BFC CPU allocator unless the user chose otherwise.

With TensorFlow's default allocator every large tensor is returned to the operating system when
freed, and the next forward pass page-faults it in again; the BFC allocator reuses the memory.
Checked by counting the minor page faults of a repeated 64 MiB computation (Linux/macOS
``getrusage``), in fresh processes since TensorFlow reads the setting once.
"""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, resource
import elmarc_tf
import tensorflow as tf
x = tf.ones((4096, 4096))
fn = tf.function(lambda x: tf.reduce_sum(x * 2.0 + 1.0))
fn(x).numpy()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    fn(x).numpy()
print(json.dumps({"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3}))
"""


def _faults_per_call(**env) -> float:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**environ, **env}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["faults"]


@pytest.mark.skipif(sys.platform == "win32", reason="counts page faults with getrusage")
def test_import_selects_the_reusing_allocator_and_respects_an_explicit_choice():
    pages = 4096 * 4096 * 4 / 4096  # of the 64 MiB intermediate, per call
    assert _faults_per_call() < 0.05 * pages
    assert _faults_per_call(TF_CPU_ALLOCATOR_USE_BFC="false") > 0.5 * pages
