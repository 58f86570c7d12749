"""Timing primitives of ``elmarc bench``: figures that depend on the machine, measured, never assumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# A 64 MiB intermediate computed again and again: with an allocator that returns freed memory to
# the operating system, each call page-faults it in again (up to 16 384 minor faults of 4 KiB).
_FAULTS_PROBE = """
import json, resource
import elmarc_tf
import tensorflow as tf
x = tf.ones((4096, 4096))
fn = tf.function(lambda x: tf.reduce_sum(x * 2.0 + 1.0))
fn(x).numpy()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    fn(x).numpy()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5))
"""


def allocator_page_faults() -> dict:
    """Minor page faults per call of a computation with a 64 MiB intermediate, with TensorFlow's
    BFC CPU allocator (``TF_CPU_ALLOCATOR_USE_BFC=true``, what importing elmarc_tf selects) and with
    its default one (``false``), each in a fresh process (TensorFlow reads the setting once).

    Returns ``{"bfc": faults, "default": faults, "pages": 16384}``, or ``{}`` where ``getrusage``
    does not exist (Windows). How much the default allocator faults depends on the machine (its
    kernel, its C library, TensorFlow's build): from ~16 000 per call to none.
    """
    if sys.platform == "win32":
        return {}
    out = {"pages": 4096 * 4096 * 4 // 4096}
    for name, value in (("bfc", "true"), ("default", "false")):
        env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC=value, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run([sys.executable, "-c", _FAULTS_PROBE], capture_output=True,
                              text=True, env=env, check=True)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out
